// The values of PEER_HANDSHAKE and PEER_HOLEPUNCH requests and replies (hyperdht/lib/messages.js
// `handshake` and `holepunch`), routed by every node. `mode` is one of msg::router_mode.
#pragma once

#include <cstdint>
#include <optional>

#include "protocol/bytes.hpp"
#include "protocol/compact.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::msg {

// flags: 1 peerAddress, 2 relayAddress.
struct Handshake {
  std::uint64_t mode = 0;
  Bytes noise;
  std::optional<Ipv4Address> peer_address;
  std::optional<Ipv4Address> relay_address;
  friend bool operator==(const Handshake&, const Handshake&) = default;
};
void encode(cenc::Writer& w, const Handshake& m);
Handshake decode_handshake(cenc::Reader& r);
Bytes encode(const Handshake& m);
Result<Handshake> decode_handshake(ByteView in);

// flags: 1 peerAddress. `payload` is the encrypted holepunchPayload.
struct Holepunch {
  std::uint64_t mode = 0;
  std::uint64_t id = 0;
  Bytes payload;
  std::optional<Ipv4Address> peer_address;
  friend bool operator==(const Holepunch&, const Holepunch&) = default;
};
void encode(cenc::Writer& w, const Holepunch& m);
Holepunch decode_holepunch(cenc::Reader& r);
Bytes encode(const Holepunch& m);
Result<Holepunch> decode_holepunch(ByteView in);

}  // namespace hdht::msg
