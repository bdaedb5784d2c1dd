#include "protocol/ipv4.hpp"

#include <charconv>

namespace hdht {

std::string Ipv4Address::host_string() const {
  std::string s;
  s.reserve(15);
  for (int i = 0; i < 4; ++i) {
    if (i) s.push_back('.');
    s += std::to_string(ip[i]);
  }
  return s;
}

std::string Ipv4Address::to_string() const { return host_string() + ":" + std::to_string(port); }

std::optional<std::array<std::uint8_t, 4>> Ipv4Address::parse_host(std::string_view host) {
  std::array<std::uint8_t, 4> out{};
  const char* p = host.data();
  const char* end = host.data() + host.size();
  for (int i = 0; i < 4; ++i) {
    if (i) {
      if (p == end || *p != '.') return std::nullopt;
      ++p;
    }
    if (p == end || *p < '0' || *p > '9') return std::nullopt;
    unsigned v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc{} || v > 255 || next - p > 3) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(v);
    p = next;
  }
  if (p != end) return std::nullopt;
  return out;
}

std::optional<Ipv4Address> Ipv4Address::parse(std::string_view host_port) {
  const auto colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto ip = parse_host(host_port.substr(0, colon));
  if (!ip) return std::nullopt;
  const auto port_str = host_port.substr(colon + 1);
  unsigned port = 0;
  auto [next, ec] = std::from_chars(port_str.data(), port_str.data() + port_str.size(), port);
  if (port_str.empty() || ec != std::errc{} || next != port_str.data() + port_str.size() ||
      port > 65535)
    return std::nullopt;
  return Ipv4Address{*ip, static_cast<std::uint16_t>(port)};
}

}  // namespace hdht
