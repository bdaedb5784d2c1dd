#include "protocol/address_arrays.hpp"

namespace hdht::cenc {

void ipv4_array(Writer& w, const std::vector<Ipv4Address>& list) {
  w.uint(list.size());
  for (const auto& a : list)
    w.ipv4_address(a);
}

std::vector<Ipv4Address> ipv4_array(Reader& r) {
  std::vector<Ipv4Address> out;
  const std::size_t n = r.array_count(6);
  out.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    out.push_back(r.ipv4_address());
  if (!r.ok()) out.clear();
  return out;
}

void ipv6_address(Writer& w, const Ipv6Address& a) {
  w.raw(a.ip);
  w.u16(a.port);
}

Ipv6Address ipv6_address(Reader& r) {
  Ipv6Address a;
  const ByteView ip = r.raw(16);
  if (r.ok()) std::copy(ip.begin(), ip.end(), a.ip.begin());
  a.port = r.u16();
  return r.ok() ? a : Ipv6Address{};
}

void ipv6_array(Writer& w, const std::vector<Ipv6Address>& list) {
  w.uint(list.size());
  for (const auto& a : list)
    ipv6_address(w, a);
}

std::vector<Ipv6Address> ipv6_array(Reader& r) {
  std::vector<Ipv6Address> out;
  const std::size_t n = r.array_count(18);
  out.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    out.push_back(ipv6_address(r));
  if (!r.ok()) out.clear();
  return out;
}

}  // namespace hdht::cenc
