#include "core/hyperdht_errors.hpp"

#include <string>

namespace hdht::hyperdht {

namespace {

class HyperDhtCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hyperdht"; }
  std::string message(int ev) const override {
    const auto e = static_cast<HyperDhtErrc>(ev);
    return std::string(hyperdht_error_name(e)) + ": " + hyperdht_error_text(e);
  }
};

}  // namespace

const std::error_category& hyperdht_category() noexcept {
  static const HyperDhtCategory category;
  return category;
}

std::error_code make_error_code(HyperDhtErrc e) noexcept {
  return {static_cast<int>(e), hyperdht_category()};
}

const char* hyperdht_error_name(HyperDhtErrc e) noexcept {
  switch (e) {
    case HyperDhtErrc::bad_handshake_reply:
      return "BAD_HANDSHAKE_REPLY";
    case HyperDhtErrc::bad_holepunch_reply:
      return "BAD_HOLEPUNCH_REPLY";
    case HyperDhtErrc::holepunch_aborted:
      return "HOLEPUNCH_ABORTED";
    case HyperDhtErrc::holepunch_invalid:
      return "HOLEPUNCH_INVALID";
    case HyperDhtErrc::holepunch_probe_timeout:
      return "HOLEPUNCH_PROBE_TIMEOUT";
    case HyperDhtErrc::holepunch_double_randomized_nats:
      return "HOLEPUNCH_DOUBLE_RANDOMIZED_NATS";
    case HyperDhtErrc::cannot_holepunch:
      return "CANNOT_HOLEPUNCH";
    case HyperDhtErrc::remote_not_holepunching:
      return "REMOTE_NOT_HOLEPUNCHING";
    case HyperDhtErrc::remote_not_holepunchable:
      return "REMOTE_NOT_HOLEPUNCHABLE";
    case HyperDhtErrc::remote_aborted:
      return "REMOTE_ABORTED";
    case HyperDhtErrc::handshake_unfinished:
      return "HANDSHAKE_UNFINISHED";
    case HyperDhtErrc::handshake_invalid:
      return "HANDSHAKE_INVALID";
    case HyperDhtErrc::already_listening:
      return "ALREADY_LISTENING";
    case HyperDhtErrc::keypair_already_used:
      return "KEYPAIR_ALREADY_USED";
    case HyperDhtErrc::node_destroyed:
      return "NODE_DESTROYED";
    case HyperDhtErrc::peer_connection_failed:
      return "PEER_CONNECTION_FAILED";
    case HyperDhtErrc::peer_not_found:
      return "PEER_NOT_FOUND";
    case HyperDhtErrc::stream_not_connected:
      return "STREAM_NOT_CONNECTED";
    case HyperDhtErrc::server_incompatible:
      return "SERVER_INCOMPATIBLE";
    case HyperDhtErrc::server_error:
      return "SERVER_ERROR";
    case HyperDhtErrc::duplicate_connection:
      return "DUPLICATE_CONNECTION";
    case HyperDhtErrc::relay_aborted:
      return "RELAY_ABORTED";
    case HyperDhtErrc::suspended:
      return "SUSPENDED";
  }
  return "UNKNOWN";
}

const char* hyperdht_error_text(HyperDhtErrc e) noexcept {
  switch (e) {
    case HyperDhtErrc::bad_handshake_reply:
      return "Bad handshake reply";
    case HyperDhtErrc::bad_holepunch_reply:
      return "Bad holepunch reply";
    case HyperDhtErrc::holepunch_aborted:
      return "Holepunch aborted";
    case HyperDhtErrc::holepunch_invalid:
      return "Invalid holepunch payload";
    case HyperDhtErrc::holepunch_probe_timeout:
      return "Holepunching probe did not finish in time";
    case HyperDhtErrc::holepunch_double_randomized_nats:
      return "Both remote and local NATs are randomized";
    case HyperDhtErrc::cannot_holepunch:
      return "Cannot holepunch to remote";
    case HyperDhtErrc::remote_not_holepunching:
      return "Remote is not holepunching";
    case HyperDhtErrc::remote_not_holepunchable:
      return "Remote is not holepunchable";
    case HyperDhtErrc::remote_aborted:
      return "Remote aborted";
    case HyperDhtErrc::handshake_unfinished:
      return "Handshake did not finish";
    case HyperDhtErrc::handshake_invalid:
      return "Received invalid handshake";
    case HyperDhtErrc::already_listening:
      return "Already listening";
    case HyperDhtErrc::keypair_already_used:
      return "Keypair already used";
    case HyperDhtErrc::node_destroyed:
      return "Node destroyed";
    case HyperDhtErrc::peer_connection_failed:
      return "Could not connect to peer";
    case HyperDhtErrc::peer_not_found:
      return "Peer not found";
    case HyperDhtErrc::stream_not_connected:
      return "Stream is not connected";
    case HyperDhtErrc::server_incompatible:
      return "Server is using an incompatible version";
    case HyperDhtErrc::server_error:
      return "Server returned an error";
    case HyperDhtErrc::duplicate_connection:
      return "Duplicate connection";
    case HyperDhtErrc::relay_aborted:
      return "Relay aborted";
    case HyperDhtErrc::suspended:
      return "Suspended";
  }
  return "Unknown error";
}

}  // namespace hdht::hyperdht
