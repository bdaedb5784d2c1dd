// InboundHandshake: one client's handshake on a listening Server (the reference's `hs` object in
// lib/server.js _addHandshake, its onsocket and the server side of _onpeerholepunch).
//
// receive() runs the Noise IK responder on msg1, asks the firewall, creates the UDX stream the
// client will reach (before replying, so the reply can name its id), builds msg2 as server.js
// does and then picks the path:
//   direct (no relay) or client OPEN -> connect the stream at once (state connected);
//   same host as the client and a matching private address -> a LAN prepunch: a holepuncher
//     ready for probes, abort after 10 s (prepunching);
//   we are OPEN, or never_punch -> wait 10 s for the client to reach us, then abort (waiting);
//   otherwise -> a responder Holepuncher; msg2 goes out from its socket (punching).
// The first UDX packet for the stream, on whichever socket of the node, connects it there and
// makes the responder SecretStream (on_connection). on_holepunch() answers one PEER_HOLEPUNCH
// round (decrypt, NAT heuristics, punch, encrypted reply).
//
// relayThrough: when our options or the client's payload name a blind relay, a RelayConnection
// pairs the stream through it (our relay leads); once paired the stream goes to on_connection
// while the puncher keeps going, and a later direct packet moves the stream (change_remote).
// While a relay is pending an abort does not destroy the stream; the relay's own abort does.
// Once paired, the relayed stream owns the relay connection: it ends when the stream closes and
// is freed with the stream object, whether or not this handshake is still around.
//
// Lifetime: owned by its Server, which destroys it after clear_wait once it is finished (or at
// close). Destroying it withdraws its timers, puncher and stream; no callback runs afterwards.
// on_connection is called last in any call chain, so the owner may destroy the handshake (or the
// whole server) from inside it. Not thread-safe; runs on the node's executor.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/holepuncher.hpp"
#include "core/relay_connection.hpp"
#include "core/router.hpp"
#include "core/secret_stream.hpp"
#include "core/server_options.hpp"
#include "core/timer.hpp"
#include "core/udx_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

class HyperDhtNode;

enum class InboundState {
  received,     // msg1 being processed
  rejected,     // no reply: msg1 invalid, firewall, or the server closing
  refused,      // replied with an error (version, no udx): no stream
  prepunching,  // LAN: a puncher ready, waiting for the client
  waiting,      // we are reachable (or never punch): waiting for the client
  punching,     // a responder holepuncher, answering PEER_HOLEPUNCH rounds
  connected,    // the stream was handed to on_connection
  aborted,      // given up
};
const char* inbound_state_name(InboundState s) noexcept;

// What a handshake needs from its server.
struct InboundEnv {
  HyperDhtNode& node;
  const ServerOptions& options;
  ServerStats& stats;
  std::function<void(std::unique_ptr<core::SecretStream>)> on_connection;
  // Called once the handshake is finished: the server forgets it after clear_wait.
  std::function<void()> clear_later;
};

// The server's part of msg2 that does not depend on the handshake.
struct InboundReplyInfo {
  std::vector<msg::RelayInfo> relays;        // the announcer's relays (holepunch info)
  std::vector<Ipv4Address> relay_addresses;  // the announcer's relayAddresses
};

class InboundHandshake {
 public:
  // The reference's HANDSHAKE_INITIAL_TIMEOUT.
  static constexpr core::Duration kInitialTimeout = std::chrono::milliseconds(10000);

  InboundHandshake(InboundEnv env, std::uint64_t id);
  ~InboundHandshake();
  InboundHandshake(const InboundHandshake&) = delete;
  InboundHandshake& operator=(const InboundHandshake&) = delete;

  // Processes msg1. `client` is the client as seen (peerAddress, or the requester if direct),
  // `server` our address as the requester saw it (req.to), `req_socket` the socket it came in
  // on. May call on_connection (direct paths) as its last step.
  void receive(const crypto::KeyPair& key_pair, const Bytes& noise, const Ipv4Address& client,
               const Ipv4Address& server, core::DatagramSocket* req_socket, bool direct,
               const InboundReplyInfo& info);

  // One PEER_HOLEPUNCH round; answers through respond now or later (or never: silence).
  void on_holepunch(const ServerHolepunch& in, const dht::IncomingRequest& req,
                    bool is_server_relay, Respond<ServerHolepunchReply> respond);

  InboundState state() const noexcept { return state_; }
  std::uint64_t id() const noexcept { return id_; }
  // msg2; nullopt when rejected.
  const std::optional<Bytes>& reply() const noexcept { return reply_; }
  // Where msg2 goes out from: the puncher's socket when holepunching, else null (the default).
  core::DatagramSocket* reply_socket() noexcept;

 private:
  struct Session;
  void setup_puncher(Firewall remote_firewall);
  void arm_prepunch_abort();
  void on_socket(core::UdxSocket& socket, const Ipv4Address& from);
  void add_route(core::UdxStream& connected);
  void start_relay(const RelayPairing& pairing);
  void on_relay_paired(core::UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& at);
  void on_relay_aborted();
  void upgrade(core::UdxSocket& socket, const Ipv4Address& from);
  bool relay_pending() const noexcept;
  void on_abort();
  void on_raw_close();
  void destroy_puncher_quietly();
  // The reference's _abort: an encrypted error payload (or nothing without a holepunch secret).
  std::optional<ServerHolepunchReply> abort_reply(std::uint64_t error);
  ServerHolepunchReply punch_reply(const msg::HolepunchPayload& remote, bool is_server_relay,
                                   const Bytes32& token, std::uint64_t error = 0);
  void continue_holepunch(std::shared_ptr<const msg::HolepunchPayload> remote,
                          Ipv4Address peer_address, bool is_server_relay, Bytes32 token,
                          Respond<ServerHolepunchReply> respond);
  void after_analysis(std::shared_ptr<const msg::HolepunchPayload> remote, Ipv4Address peer_address,
                      bool is_server_relay, Bytes32 token, Respond<ServerHolepunchReply> respond);
  void finish();

  InboundEnv env_;
  std::uint64_t id_;
  InboundState state_ = InboundState::received;
  std::optional<Bytes> reply_;
  std::unique_ptr<Session> session_;  // the Noise result, once msg2 is written
  std::unique_ptr<core::UdxStream> raw_;
  std::unique_ptr<Holepuncher> puncher_;
  bool quiet_puncher_ = false;  // its on_abort is a no-op (the reference's onabort = noop)
  bool reply_from_puncher_ = false;
  bool finished_ = false;
  std::uint64_t round_ = 0;
  core::Timer prepunching_;
  // Ours until paired; then the relayed stream's close hook owns it (the stream may outlive this
  // handshake) and we only look at it.
  std::shared_ptr<RelayConnection> relay_;
  std::weak_ptr<RelayConnection> paired_relay_;
  core::UdxStream* relayed_raw_ = nullptr;  // owned by the handed-out SecretStream
  std::uint32_t relayed_id_ = 0;
  bool upgraded_ = false;
  bool try_later_counted_ = false;  // tryLaterRelayedHandshakesAtLeastOnce, once per handshake
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
