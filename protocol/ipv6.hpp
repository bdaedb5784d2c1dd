// IPv6 endpoints as compact-encoding's ipv6Address carries them: 16 address bytes in network
// order and a u16le port. HyperDHT defines an addresses6 field but 6.34.0 never fills it; the
// type exists so that such payloads decode and re-encode exactly.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace hdht {

struct Ipv6Address {
  std::array<std::uint8_t, 16> ip{};
  std::uint16_t port = 0;

  // Eight lowercase hex groups without leading zeros or "::" compression ("0:0:0:0:0:0:0:1"),
  // exactly the string compact-encoding's decoder yields.
  std::string host_string() const;
  // Accepts the eight-group form and "::" compression; nullopt on anything else.
  static std::optional<std::array<std::uint8_t, 16>> parse_host(std::string_view host);

  friend bool operator==(const Ipv6Address&, const Ipv6Address&) = default;
};

}  // namespace hdht
