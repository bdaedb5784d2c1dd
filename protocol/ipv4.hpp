// IPv4 endpoints as the protocol carries them: 4 address bytes in network order and a port.
// HyperDHT is IPv4-only on the wire; hosts are compared and hashed as dotted-quad strings by the
// reference, which host_string() reproduces.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace hdht {

struct Ipv4Address {
  std::array<std::uint8_t, 4> ip{};
  std::uint16_t port = 0;

  // "a.b.c.d", exactly as the JS decoder yields it (tokens hash this string).
  std::string host_string() const;
  // "a.b.c.d:port".
  std::string to_string() const;
  std::uint32_t ip_u32() const {  // host-order integer, for maps and comparisons
    return std::uint32_t{ip[0]} << 24 | std::uint32_t{ip[1]} << 16 | std::uint32_t{ip[2]} << 8 |
           ip[3];
  }

  // Strict dotted-quad ("1.2.3.4"), no hostnames. nullopt on anything else.
  static std::optional<std::array<std::uint8_t, 4>> parse_host(std::string_view host);
  // "a.b.c.d:port" with port 0..65535.
  static std::optional<Ipv4Address> parse(std::string_view host_port);

  friend bool operator==(const Ipv4Address&, const Ipv4Address&) = default;
  friend auto operator<=>(const Ipv4Address&, const Ipv4Address&) = default;
};

}  // namespace hdht

template <>
struct std::hash<hdht::Ipv4Address> {
  std::size_t operator()(const hdht::Ipv4Address& a) const noexcept {
    return std::hash<std::uint64_t>{}(std::uint64_t{a.ip_u32()} << 16 | a.port);
  }
};
