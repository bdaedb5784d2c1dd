// Address rules of the reference's lib/connect.js, and the `bogon` package's IPv4 tests it uses
// to tell local addresses from public ones.
#pragma once

#include <optional>
#include <vector>

#include "protocol/ipv4.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

// bogon isPrivate: 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16.
bool is_private_ipv4(const Ipv4Address& a) noexcept;
// bogon isReserved: 0/8, 192.0.0/24, 192.0.2/24, 198.18/15, 198.51.100/24, 203.0.113/24, 224/4,
// 240/4 (which holds 255.255.255.255).
bool is_reserved_ipv4(const Ipv4Address& a) noexcept;
inline bool is_bogon_ipv4(const Ipv4Address& a) noexcept {
  return is_private_ipv4(a) || is_reserved_ipv4(a);
}

// The hosts or ports differ (the reference's diffAddress).
inline bool diff_address(const Ipv4Address& a, const Ipv4Address& b) noexcept {
  return a != b;
}

// getFirstRemoteAddress: the first non-bogon address the server sent, else the server's
// address as the handshake showed it.
Ipv4Address first_remote_address(const std::vector<Ipv4Address>& addresses,
                                 const Ipv4Address& server_address);

// pickServerRelay: the server's relay that is our handshake relay, else its first one. `relays`
// must not be empty.
const msg::RelayInfo& pick_server_relay(const std::vector<msg::RelayInfo>& relays,
                                        const Ipv4Address& client_relay);

// The server's addresses usable for the LAN shortcut (onlyNonReserved).
std::vector<Ipv4Address> non_reserved(const std::vector<Ipv4Address>& addresses);

}  // namespace hdht::hyperdht
