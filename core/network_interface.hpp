// The host's network interfaces as udx-native reports them: {name, host, family, internal}.
#pragma once

#include <string>
#include <vector>

namespace hdht::core {

struct NetworkInterface {
  std::string name;
  std::string host;  // textual address
  int family = 4;    // 4 or 6
  bool internal = false;
  bool operator==(const NetworkInterface&) const = default;
};

// The system's IPv4/IPv6 interface addresses (getifaddrs), in the OS's order. Empty on failure.
std::vector<NetworkInterface> list_system_interfaces();

}  // namespace hdht::core
