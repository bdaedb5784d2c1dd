// The handshake phase of a connect (the reference's findAndConnect and connectThroughNode in
// lib/connect.js): find nodes that hold the server's route and send each the same Noise IK
// message 1 in a PEER_HANDSHAKE, until one reply carries a valid message 2.
//
//   * Relay addresses given (opts.relayAddresses), or our own router's forward for the target
//     when this node is persistent: "pre-connect" sends the handshake to them one after another
//     first, 3 attempts may run at once, and FIND_PEER runs up to twice (seeded with them, then
//     from the table).
//   * Otherwise: 2 attempts at once, one FIND_PEER pass.
//   * Every FIND_PEER reply with the server's record (and not pre-contacted) gets an attempt.
//   * Nothing: PEER_CONNECTION_FAILED if an attempt was made from a FIND_PEER reply, else
//     PEER_NOT_FOUND (pre-connect attempts do not count, as in the reference).
//   * The server's payload: version != 1 -> SERVER_INCOMPATIBLE; error != 0 or no udx ->
//     SERVER_ERROR, ending the connect at once whatever else is in flight.
// Bad replies (BAD_HANDSHAKE_REPLY, request errors, undecryptable message 2) only end their own
// attempt. Without relay addresses given, the node's cache of the server's relay addresses
// (HyperDhtNode::relay_addresses_cache, filled by a previous connect) is the pre-connect list;
// FIND_PEER still runs, as in the reference.
//
// A route (retry_route, the reference's retryRoute): before all of that, one handshake goes
// straight to the server's address on the socket an earlier connection to it used; its errors
// are ignored and the search above follows if it did not give message 2.
//
// Lifetime: the owner may destroy it at any time, also from inside its handlers; nothing runs
// afterwards. Not thread-safe: the node's executor.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/peer_messaging.hpp"
#include "core/rpc_io.hpp"
#include "core/socket_routes.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/noise_payload.hpp"

namespace hdht::hyperdht {

// What the first good handshake reply gave (the reference's c.connect and final()).
struct HandshakeOutcome {
  bool relayed = false;
  Ipv4Address relay_address;   // the node we sent the handshake to
  Ipv4Address client_address;  // our address as that node saw it
  Ipv4Address server_address;  // the server as the relay saw it (or the node, if not relayed)
  dht::DatagramSocket* socket = nullptr;  // the socket it went out on (null: the default one)
  msg::NoisePayload payload;              // the server's
  noise::Session session;
  std::vector<Ipv4Address> tried_relays;  // c.remoteRelayAddresses
  bool via_route = false;                 // message 2 came back on a reusable-socket route
};

class ConnectHandshake {
 public:
  struct Handlers {
    // Message 1's payload, asked for once, just before the first handshake goes out.
    std::function<msg::NoisePayload()> make_payload;
    std::function<void(HandshakeOutcome)> on_connected;
    std::function<void(std::error_code)> on_failed;
  };

  ConnectHandshake(HyperDhtNode& node, const Bytes32& remote_public_key,
                   const crypto::KeyPair& key_pair, std::vector<Ipv4Address> relay_addresses,
                   Handlers handlers);
  ~ConnectHandshake();
  ConnectHandshake(const ConnectHandshake&) = delete;
  ConnectHandshake& operator=(const ConnectHandshake&) = delete;

  // Before start(): try `route` first (connect.js retryRoute).
  void retry_route(const SocketRoute& route) { route_ = route; }
  void start();
  // A route was tried (its handshake sent).
  bool route_retried() const noexcept { return route_retried_; }

  // Attempts made for FIND_PEER replies (what decides PEER_CONNECTION_FAILED).
  std::size_t attempts() const noexcept { return attempts_; }
  // Every handshake request sent, pre-connect ones included.
  std::size_t requests() const noexcept { return requests_.size(); }
  // Handshakes sent to the given or cached relay addresses before any FIND_PEER reply.
  std::size_t pre_connects() const noexcept { return pre_connects_; }

 private:
  void connect_through_nodes(std::vector<Ipv4Address> addresses, std::size_t i);
  void start_search();
  void connect_through_node(const Ipv4Address& address, std::function<void()> done,
                            dht::DatagramSocket* socket = nullptr, bool via_route = false);
  void on_reply(const Ipv4Address& address, Result<PeerHandshakeReply> reply,
                dht::DatagramSocket* socket, bool via_route);
  void next_pass();
  void pump();
  void take(const Ipv4Address& from);
  void end_pass();
  void signal();
  void flush(std::function<void()> then);
  void finish_search();
  void fail(std::error_code ec);

  HyperDhtNode& node_;
  Bytes32 remote_public_key_;
  Bytes32 target_;
  noise::IkHandshake ik_;
  std::optional<Bytes> msg1_;
  Handlers handlers_;

  std::optional<SocketRoute> route_;
  std::shared_ptr<PooledSocket> route_ref_;  // the route's pooled socket, held while tried
  bool route_retried_ = false;
  std::optional<std::vector<Ipv4Address>> given_;  // the reference's relayAddresses
  std::optional<std::vector<Ipv4Address>> relay_addresses_;
  bool pre_connect_ = false;
  int tries_ = 1;
  int pass_ = 0;

  // The reference's Semaphore: `limit` attempts at once; FIND_PEER replies wait for a slot in
  // order, and a flush waits until none is held.
  std::size_t limit_ = 2;
  std::size_t active_ = 0;
  std::function<void()> flushed_;

  std::unique_ptr<FindPeerStream> query_;
  std::deque<Ipv4Address> queue_;  // FIND_PEER replies waiting for a slot
  bool query_done_ = false;
  bool pumping_ = false;
  bool repump_ = false;

  std::vector<dht::RequestHandle> requests_;
  std::vector<Ipv4Address> tried_;
  std::size_t attempts_ = 0;
  std::size_t pre_connects_ = 0;
  bool finished_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
