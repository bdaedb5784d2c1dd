// BlindRelayClient: the client side of a blind relay (blind-relay 1.6.1 Client) over one secret
// stream connected to a relay server. It opens the protomux channel "blind-relay" with id = the
// stream's own public key (the server opens with the remote public key, so the ids match) and
// pairs raw UDX streams by token: both ends of a connection send pair{isInitiator, token, id} and
// the relay answers each with the id of the relay-side stream to connect to (spec §6).
//
// Lifetime: owns the relay stream. Destroying the client destroys the stream and drops pending
// pairs without callbacks. Callbacks are posted, never run inline, and never after destruction.
// Not thread-safe: the node's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/secret_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/result.hpp"

namespace hdht::hyperdht {

class BlindRelayClient {
 public:
  using PairDone = std::function<void(Result<std::uint32_t>)>;  // the relay-side stream id

  // Takes the stream (the connection to the relay) and its data/close handlers.
  explicit BlindRelayClient(std::unique_ptr<core::SecretStream> relay_stream);
  ~BlindRelayClient();
  BlindRelayClient(const BlindRelayClient&) = delete;
  BlindRelayClient& operator=(const BlindRelayClient&) = delete;

  // Sends pair{isInitiator, token, id: local_stream_id, seq 0}. `done` runs once: the relay's
  // stream id from its pair reply, or an error (HyperDhtErrc::relay_aborted when the channel or
  // the stream closes first). Several pairs may be pending (different tokens).
  void pair(bool is_initiator, const Bytes32& token, std::uint32_t local_stream_id, PairDone done);
  // Cancels a pending pair (its `done` is dropped) and tells the relay.
  void unpair(const Bytes32& token);
  // Graceful end of the relay connection (the reference ends the relay socket after a direct
  // upgrade).
  void end();

  // The relay connection: raw() has the UDX socket and the relay's address, where a relayed
  // stream connects (under the relay-side stream id).
  core::SecretStream& stream() noexcept;
  bool closed() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hdht::hyperdht
