// dht-rpc node ids and the XOR metric built on them.
#pragma once

#include <cstddef>
#include <optional>

#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::rpc {

// A node's id is BLAKE2b-256 of its 6-byte compact ipv4Address (4 address bytes, port LE), so a
// node cannot choose where it lives in the keyspace: the id is checked against the source address.
Bytes32 node_id(const Ipv4Address& addr);

// What a receiver believes about a packet's claimed id: node_id(source) when the claim matches the
// UDP source address, else nullopt (the packet is still processed, as from an id-less sender).
std::optional<Bytes32> verified_id(const std::optional<Bytes32>& claimed,
                                   const Ipv4Address& source);

// The query's ordering of two ids by XOR distance to target. Like the reference, it returns the
// signed difference (t^a[i]) - (t^b[i]) at the first byte where a and b differ: negative means a
// is closer, 0 means a == b. Callers must only rely on the sign.
int xor_compare(const Bytes32& target, const Bytes32& a, const Bytes32& b);

// Number of leading bits a and b share (0..256); 256 iff a == b. The routing table's bucket for
// id b relative to its own id a is derived from this.
std::size_t common_prefix_bits(const Bytes32& a, const Bytes32& b);

}  // namespace hdht::rpc
