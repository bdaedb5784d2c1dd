#include "core/dht_config.hpp"

#include <cctype>
#include <charconv>

namespace hdht::dht {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

}  // namespace

std::optional<BootstrapEntry> BootstrapEntry::parse(const std::string& text) {
  BootstrapEntry e;
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) {
    // The reference maps a bare number to 127.0.0.1:N.
    auto port = parse_port(text);
    if (!port) return std::nullopt;
    e.host = "127.0.0.1";
    e.port = *port;
    return e;
  }
  auto port = parse_port(std::string_view(text).substr(colon + 1));
  if (!port) return std::nullopt;
  std::string host = text.substr(0, colon);
  const auto at = host.find('@');
  if (at != std::string::npos) {
    std::string suggested = host.substr(0, at);
    if (!Ipv4Address::parse_host(suggested)) return std::nullopt;
    e.suggested = std::move(suggested);
    host = host.substr(at + 1);
  }
  if (host.empty() || host.find_first_of("@: \t") != std::string::npos) return std::nullopt;
  e.host = std::move(host);
  e.port = *port;
  return e;
}

std::optional<std::vector<BootstrapEntry>> BootstrapEntry::parse_list(const std::string& text) {
  std::vector<BootstrapEntry> out;
  std::string cur;
  auto flush = [&]() -> bool {
    if (cur.empty()) return true;
    auto e = parse(cur);
    cur.clear();
    if (!e) return false;
    out.push_back(std::move(*e));
    return true;
  };
  for (char c : text) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c))) {
      if (!flush()) return std::nullopt;
    } else {
      cur.push_back(c);
    }
  }
  if (!flush()) return std::nullopt;
  return out;
}

std::string BootstrapEntry::to_string() const {
  std::string s = suggested ? *suggested + "@" + host : host;
  return s + ":" + std::to_string(port);
}

DhtConfig DhtConfig::bootstrapper(std::uint16_t port, const Ipv4Address& public_host) {
  DhtConfig c;
  c.io.port = port;
  c.io.firewalled = false;
  c.io.any_port = false;
  c.ephemeral = false;
  c.bootstrap.clear();
  c.bootstrapper_address = Ipv4Address{public_host.ip, port};
  return c;
}

}  // namespace hdht::dht
