#include "protocol/node_id.hpp"

#include <bit>

#include "protocol/crypto.hpp"

namespace hdht::rpc {

Bytes32 node_id(const Ipv4Address& addr) {
  std::array<std::uint8_t, 6> raw{addr.ip[0],
                                  addr.ip[1],
                                  addr.ip[2],
                                  addr.ip[3],
                                  static_cast<std::uint8_t>(addr.port & 0xff),
                                  static_cast<std::uint8_t>(addr.port >> 8)};
  return crypto::hash32(ByteView(raw));
}

std::optional<Bytes32> verified_id(const std::optional<Bytes32>& claimed,
                                   const Ipv4Address& source) {
  if (!claimed) return std::nullopt;
  Bytes32 expected = node_id(source);
  if (expected != *claimed) return std::nullopt;
  return expected;
}

int xor_compare(const Bytes32& target, const Bytes32& a, const Bytes32& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] == b[i]) continue;
    return static_cast<int>(target[i] ^ a[i]) - static_cast<int>(target[i] ^ b[i]);
  }
  return 0;
}

std::size_t common_prefix_bits(const Bytes32& a, const Bytes32& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto x = static_cast<std::uint8_t>(a[i] ^ b[i]);
    if (x != 0) return i * 8 + static_cast<std::size_t>(std::countl_zero(x));
  }
  return a.size() * 8;
}

}  // namespace hdht::rpc
