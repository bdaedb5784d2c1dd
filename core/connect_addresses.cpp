#include "core/connect_addresses.hpp"

namespace hdht::hyperdht {

bool is_private_ipv4(const Ipv4Address& a) noexcept {
  const auto& ip = a.ip;
  return ip[0] == 10 || (ip[0] == 100 && ip[1] >= 64 && ip[1] <= 127) || ip[0] == 127 ||
         (ip[0] == 169 && ip[1] == 254) || (ip[0] == 172 && ip[1] >= 16 && ip[1] <= 31) ||
         (ip[0] == 192 && ip[1] == 168);
}

bool is_reserved_ipv4(const Ipv4Address& a) noexcept {
  const auto& ip = a.ip;
  return ip[0] == 0 || (ip[0] == 192 && ip[1] == 0 && ip[2] == 0) ||
         (ip[0] == 192 && ip[1] == 0 && ip[2] == 2) ||
         (ip[0] == 198 && ip[1] >= 18 && ip[1] <= 19) ||
         (ip[0] == 198 && ip[1] == 51 && ip[2] == 100) ||
         (ip[0] == 203 && ip[1] == 0 && ip[2] == 113) || ip[0] >= 224;
}

Ipv4Address first_remote_address(const std::vector<Ipv4Address>& addresses,
                                 const Ipv4Address& server_address) {
  for (const auto& a : addresses)
    if (!is_bogon_ipv4(a)) return a;
  return server_address;
}

const msg::RelayInfo& pick_server_relay(const std::vector<msg::RelayInfo>& relays,
                                        const Ipv4Address& client_relay) {
  for (const auto& r : relays)
    if (!diff_address(r.relay_address, client_relay)) return r;
  return relays.front();
}

std::vector<Ipv4Address> non_reserved(const std::vector<Ipv4Address>& addresses) {
  std::vector<Ipv4Address> out;
  for (const auto& a : addresses)
    if (!is_reserved_ipv4(a)) out.push_back(a);
  return out;
}

}  // namespace hdht::hyperdht
