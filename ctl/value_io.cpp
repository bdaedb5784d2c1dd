#include "ctl/value_io.hpp"

#include <array>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>

namespace hdht::ctl {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads at most max_bytes + 1 bytes, so an oversized input is refused without reading it all.
std::optional<std::string> read_stream(std::istream& in, std::size_t max_bytes,
                                       const std::string& what, std::string& error) {
  std::string out;
  std::array<char, 65536> buf{};
  while (in && out.size() <= max_bytes) {
    in.read(buf.data(), buf.size());
    out.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) {
    error = "cannot read " + what;
    return std::nullopt;
  }
  if (out.size() > max_bytes) {
    error = what + " is larger than " + std::to_string(max_bytes) + " bytes";
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<std::string> read_value_arg(const std::string& arg, std::size_t max_bytes,
                                          std::string& error) {
  if (arg == "-") return read_stream(std::cin, max_bytes, "stdin", error);
  if (arg.starts_with("@@")) return arg.substr(1);
  if (arg.starts_with("@")) {
    const auto path = arg.substr(1);
    std::ifstream f(path, std::ios::binary);
    if (!f) {
      error = "cannot open " + path;
      return std::nullopt;
    }
    return read_stream(f, max_bytes, path, error);
  }
  if (arg.size() > max_bytes) {
    error = "the value is larger than " + std::to_string(max_bytes) + " bytes";
    return std::nullopt;
  }
  return arg;
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const auto n = std::uint32_t(std::uint8_t(bytes[i])) << 16 |
                   std::uint32_t(std::uint8_t(bytes[i + 1])) << 8 | std::uint8_t(bytes[i + 2]);
    for (int s = 18; s >= 0; s -= 6)
      out += kAlphabet[(n >> s) & 63];
  }
  if (const auto rest = bytes.size() - i; rest > 0) {
    std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
    if (rest == 2) n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  std::size_t pad = 0;
  for (char c : text) {
    if (c == '=') {
      ++pad;
      continue;
    }
    const int d = base64_digit(c);
    if (d < 0 || pad) return std::nullopt;
    acc = acc << 6 | static_cast<std::uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (pad > 2) return std::nullopt;
  return out;
}

nlohmann::json value_param(const std::string& bytes) {
  return {{"encoding", "base64"}, {"data", base64_encode(bytes)}};
}

std::optional<std::string> value_bytes(const nlohmann::json& value) {
  if (!value.is_object() || !value.contains("data") || !value["data"].is_string())
    return std::nullopt;
  const auto& data = value["data"].get_ref<const std::string&>();
  const auto enc = value.value("encoding", std::string());
  if (enc == "utf8") return data;
  if (enc == "base64") return base64_decode(data);
  if (enc == "hex") {
    if (data.size() % 2) return std::nullopt;
    std::string out;
    for (std::size_t i = 0; i < data.size(); i += 2) {
      const int hi = hex_digit(data[i]), lo = hex_digit(data[i + 1]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi << 4 | lo);
    }
    return out;
  }
  return std::nullopt;
}

}  // namespace hdht::ctl
