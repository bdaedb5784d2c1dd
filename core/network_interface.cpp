#include "core/network_interface.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <cstring>

namespace hdht::core {

std::vector<NetworkInterface> list_system_interfaces() {
  std::vector<NetworkInterface> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (const ifaddrs* it = list; it != nullptr; it = it->ifa_next) {
    if (it->ifa_addr == nullptr) continue;
    const int af = it->ifa_addr->sa_family;
    if (af != AF_INET && af != AF_INET6) continue;
    char text[INET6_ADDRSTRLEN] = {};
    // sockaddr_in/in6 are the layouts getifaddrs promises for these families; memcpy avoids
    // the alignment cast.
    if (af == AF_INET) {
      sockaddr_in sin{};
      std::memcpy(&sin, it->ifa_addr, sizeof sin);
      inet_ntop(AF_INET, &sin.sin_addr, text, sizeof text);
    } else {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, it->ifa_addr, sizeof sin6);
      inet_ntop(AF_INET6, &sin6.sin6_addr, text, sizeof text);
    }
    out.push_back({it->ifa_name, text, af == AF_INET ? 4 : 6, (it->ifa_flags & IFF_LOOPBACK) != 0});
  }
  freeifaddrs(list);
  return out;
}

}  // namespace hdht::core
