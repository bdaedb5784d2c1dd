// HyperDHT constants (hyperdht/lib/constants.js, lib/router.js) and the hypercore-crypto namespaces
// that prefix every signed or hashed hyperdht structure and the secret-stream handshake.
#pragma once

#include <cstdint>

#include "protocol/bytes.hpp"

namespace hdht::msg {

// dht-rpc command numbers of the hyperdht request kinds.
namespace command {
inline constexpr std::uint32_t PEER_HANDSHAKE = 0;
inline constexpr std::uint32_t PEER_HOLEPUNCH = 1;
inline constexpr std::uint32_t FIND_PEER = 2;
inline constexpr std::uint32_t LOOKUP = 3;
inline constexpr std::uint32_t ANNOUNCE = 4;
inline constexpr std::uint32_t UNANNOUNCE = 5;
inline constexpr std::uint32_t MUTABLE_PUT = 6;
inline constexpr std::uint32_t MUTABLE_GET = 7;
inline constexpr std::uint32_t IMMUTABLE_PUT = 8;
inline constexpr std::uint32_t IMMUTABLE_GET = 9;
inline constexpr std::uint32_t PLUGIN = 10;
}  // namespace command

// The `mode` field of handshake and holepunch router messages.
namespace router_mode {
inline constexpr std::uint32_t FROM_CLIENT = 0;
inline constexpr std::uint32_t FROM_SERVER = 1;
inline constexpr std::uint32_t FROM_RELAY = 2;
inline constexpr std::uint32_t FROM_SECOND_RELAY = 3;
inline constexpr std::uint32_t REPLY = 4;
}  // namespace router_mode

namespace firewall {
inline constexpr std::uint32_t UNKNOWN = 0;
inline constexpr std::uint32_t OPEN = 1;
inline constexpr std::uint32_t CONSISTENT = 2;
inline constexpr std::uint32_t RANDOM = 3;
}  // namespace firewall

// The `error` field of noise and holepunch payloads.
namespace payload_error {
inline constexpr std::uint32_t NONE = 0;
inline constexpr std::uint32_t ABORTED = 1;
inline constexpr std::uint32_t VERSION_MISMATCH = 2;
inline constexpr std::uint32_t TRY_LATER = 3;
inline constexpr std::uint32_t SEQ_REUSED = 16;
inline constexpr std::uint32_t SEQ_TOO_LOW = 17;
}  // namespace payload_error

// namespace("hyperswarm/dht", [command]) — computed once on first use (needs crypto::init()).
const Bytes32& ns_announce();
const Bytes32& ns_unannounce();
const Bytes32& ns_mutable_put();
const Bytes32& ns_peer_handshake();
const Bytes32& ns_peer_holepunch();
const Bytes32& ns_plugin();

// namespace("hyperswarm/secret-stream", 3) in @hyperswarm/secret-stream.
const Bytes32& ns_secret_stream_initiator();
const Bytes32& ns_secret_stream_responder();
const Bytes32& ns_secret_stream_send();

}  // namespace hdht::msg
