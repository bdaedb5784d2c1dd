// array(ipv4Address) and array(ipv6Address), the address lists every hyperdht message carries.
#pragma once

#include <vector>

#include "protocol/compact.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/ipv6.hpp"

namespace hdht::cenc {

void ipv4_array(Writer& w, const std::vector<Ipv4Address>& list);
std::vector<Ipv4Address> ipv4_array(Reader& r);

void ipv6_address(Writer& w, const Ipv6Address& a);
Ipv6Address ipv6_address(Reader& r);
void ipv6_array(Writer& w, const std::vector<Ipv6Address>& list);
std::vector<Ipv6Address> ipv6_array(Reader& r);

}  // namespace hdht::cenc
