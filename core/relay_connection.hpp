// The blind-relay path of a connection, shared by the client (lib/connect.js relayConnection)
// and the server (lib/server.js _relayConnection), spec §6:
//
//   connecting  a PeerConnect to the relay's public key (the node's default key pair, no relay
//               of its own), keep-alive relay_keep_alive;
//   pairing     a BlindRelayClient on that stream sends pair{is_initiator, token, our raw stream
//               id} and waits for the relay-side stream id;
//   paired      on_paired(socket, relay-side id, relay address): the caller connects its raw
//               stream there and starts the secret stream with the end-to-end handshake;
//   aborted     15 s without a pairing, the relay connect failing or the pairing failing:
//               on_aborted(RELAY_ABORTED) once (never after on_paired);
//   ended       end() after a direct upgrade (graceful), or the owner's raw stream closed.
//
// Who leads is decided before (relay_pairing, the table in §6: the server's relay wins when
// both set one).
//
// Lifetime: owns the connect, the relay stream and the timer; destroying it destroys the relay
// connection silently. Once paired, the relayed stream owns it (the client's ConnectSession or
// the server's close hook holds it), so it lives exactly as long as that stream object; its
// handlers are never called after on_paired, so it may outlive the object that set them. Callbacks
// never run inline in start() and never after destruction; the owner may destroy it from inside
// them. Not thread-safe: the node's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>

#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::core {
class SecretStream;
class UdxStream;
}  // namespace hdht::core

namespace hdht::hyperdht {

class HyperDhtNode;
class PeerConnect;
class BlindRelayClient;

// opts.relayThrough: a relay's public key, or a function asked once per connection (null: no
// relay for this one).
using RelayThrough = std::function<std::optional<Bytes32>()>;

// The payload's relayThrough for our own relay: its key and a fresh random 32-byte token.
std::optional<msg::RelayThroughInfo> make_relay_through(const RelayThrough& relay_through);

struct RelayPairing {
  Bytes32 relay_public_key{};
  Bytes32 token{};
  bool is_initiator = false;
};
// Who pairs through which relay (spec §6): the server's relayThrough wins and then the server
// leads (is_initiator); with only the client's, the client leads. `ours` is this side's
// relayThrough, `theirs` the one from the peer's payload.
std::optional<RelayPairing> relay_pairing(bool server_side,
                                          const std::optional<msg::RelayThroughInfo>& ours,
                                          const std::optional<msg::RelayThroughInfo>& theirs);

enum class RelayState { connecting, pairing, paired, aborted, ended };
const char* relay_state_name(RelayState s) noexcept;

class RelayConnection {
 public:
  static constexpr core::Duration kPairTimeout = std::chrono::seconds(15);

  struct Handlers {
    // Connect the raw stream through `socket` to the relay-side stream `remote_id` at `relay`.
    std::function<void(core::UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& relay)>
        on_paired;
    std::function<void(std::error_code)> on_aborted;
  };

  RelayConnection(HyperDhtNode& node, RelayPairing pairing, std::uint32_t local_stream_id,
                  core::Duration keep_alive, Handlers handlers);
  ~RelayConnection();
  RelayConnection(const RelayConnection&) = delete;
  RelayConnection& operator=(const RelayConnection&) = delete;

  void start();
  // Graceful end of the relay connection (after a direct upgrade, or the relayed stream closed).
  void end();
  // Ends the relay connection when `relayed` (the raw stream paired through it) closes, as the
  // reference's rawStream.on('close', destroyRelayConnection). Safe if either goes first.
  void end_with(core::UdxStream& relayed);
  // The packet came through the relay connection (its socket and the relay's address): the
  // reference's isRelay(), which marks it "not a direct upgrade".
  bool is_relay(const core::UdxSocket& socket, const Ipv4Address& from) const noexcept;

  RelayState state() const noexcept { return state_; }
  const RelayPairing& pairing() const noexcept { return pairing_; }

 private:
  void on_relay_stream(std::unique_ptr<core::SecretStream> stream);
  void on_pair(std::uint32_t remote_id);
  void abort();

  HyperDhtNode& node_;
  RelayPairing pairing_;
  std::uint32_t local_stream_id_;
  core::Duration keep_alive_;
  Handlers handlers_;
  RelayState state_ = RelayState::connecting;
  std::unique_ptr<PeerConnect> connect_;
  std::unique_ptr<BlindRelayClient> client_;
  // Where the relay connection's UDX stream lives (what a relayed stream connects through).
  core::UdxSocket* socket_ = nullptr;
  Ipv4Address relay_address_;
  core::Timer timeout_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
