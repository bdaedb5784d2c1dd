// Errors of servers and connects, named as the reference names them (hyperdht lib/errors.js), so
// logs, the JSON-RPC socket and tests speak the same language as JS users: message() is
// "CODE: text" as a JS error's toString(), hyperdht_error_name() the bare `code`.
#pragma once

#include <system_error>

namespace hdht::hyperdht {

enum class HyperDhtErrc {
  bad_handshake_reply = 1,           // BAD_HANDSHAKE_REPLY (internal: the attempt is skipped)
  bad_holepunch_reply,               // BAD_HOLEPUNCH_REPLY (internal)
  holepunch_aborted,                 // HOLEPUNCH_ABORTED
  holepunch_invalid,                 // HOLEPUNCH_INVALID: a holepunch payload did not decrypt
  holepunch_probe_timeout,           // HOLEPUNCH_PROBE_TIMEOUT: a NAT still UNKNOWN
  holepunch_double_randomized_nats,  // HOLEPUNCH_DOUBLE_RANDOMIZED_NATS
  cannot_holepunch,                  // CANNOT_HOLEPUNCH: no relays from the server, no LAN path
  remote_not_holepunching,           // REMOTE_NOT_HOLEPUNCHING
  remote_not_holepunchable,          // REMOTE_NOT_HOLEPUNCHABLE
  remote_aborted,                    // REMOTE_ABORTED: the server's payload had error != 0
  handshake_unfinished,              // HANDSHAKE_UNFINISHED (internal)
  handshake_invalid,                 // HANDSHAKE_INVALID
  already_listening,                 // ALREADY_LISTENING: server.listen twice
  keypair_already_used,              // KEYPAIR_ALREADY_USED: another server of the node has it
  node_destroyed,                    // NODE_DESTROYED
  peer_connection_failed,            // PEER_CONNECTION_FAILED: found, but no handshake reply
  peer_not_found,                    // PEER_NOT_FOUND: no node had the server's record
  stream_not_connected,              // STREAM_NOT_CONNECTED
  server_incompatible,               // SERVER_INCOMPATIBLE: msg2 payload version != 1
  server_error,                      // SERVER_ERROR: msg2 error != 0 or no udx info
  duplicate_connection,              // DUPLICATE_CONNECTION
  relay_aborted,                     // RELAY_ABORTED: blind-relay pairing failed or took > 15 s
  suspended,                         // SUSPENDED: connect while suspended
};

const std::error_category& hyperdht_category() noexcept;
std::error_code make_error_code(HyperDhtErrc e) noexcept;
// "PEER_NOT_FOUND", ...: the reference's error code string.
const char* hyperdht_error_name(HyperDhtErrc e) noexcept;
// The reference's default message ("Peer not found", ...).
const char* hyperdht_error_text(HyperDhtErrc e) noexcept;

}  // namespace hdht::hyperdht

template <>
struct std::is_error_code_enum<hdht::hyperdht::HyperDhtErrc> : std::true_type {};
