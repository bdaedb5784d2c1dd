// PeerConnect: one connect to a server by its public key (the reference's lib/connect.js), the
// client side of a HyperDHT connection. A state machine over two phases, each in its own file:
//
//   finding      ConnectHandshake (connect_handshake.hpp): FIND_PEER and PEER_HANDSHAKE
//                through the nodes that hold the server's route, Noise IK message 1 -> 2;
//   holepunching ConnectHolepunch (connect_holepunch.hpp): choose a path (open, passive, LAN
//                shortcut, holepunch rounds) to the server;
//   connected    the raw UDX stream connected to the path, the initiator SecretStream started
//                from the handshake and handed to `done`;
//   failed       `done` got the error (hyperdht_errors.hpp codes, as the reference raises them).
//
// The raw stream exists from the start (its id goes into message 1) and its firewall hook
// catches the server's first packet on any of the node's sockets: before the handshake reply it
// remembers the socket and address, afterwards it connects there (the server reached us first).
//
// relayThrough (relay_connection.hpp): when we or the server name a blind relay, a
// RelayConnection pairs our raw stream through it alongside the holepunch; the first path wins
// (ConnectPath::relay for the relay). A path found after the relay won upgrades the stream
// (change_remote, an empty UDX message) and the relay connection ends on the next data that
// arrives. While the relay is pending a failed holepunch waits for it, and RELAY_ABORTED waits
// for a holepunch still running, as the reference's maybeDestroyEncryptedSocket.
//
// reusable_socket: a route to the server kept by an earlier connection (socket_routes.hpp) is
// tried first, straight to the server's address from that socket (retryRoute); this connection
// leaves one when both sides advertise udx.reusableSocket.
//
// Not done (docs/connect.md): the reference's connection pool.
//
// Lifetime: `done` runs once, never inline in start(), and never after the PeerConnect is
// destroyed; destroying it earlier aborts the connect silently (its requests and timers go with
// it). It may be destroyed from inside `done`, and any time after: a relayed stream owns what it
// still needs (the relay connection, the holepunch that may upgrade it), which ends when the
// stream closes and is freed with the stream object. The PeerConnect (and a relayed stream) must
// not outlive the node. Not thread-safe: the node's executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/connect_handshake.hpp"
#include "core/connect_holepunch.hpp"
#include "core/hyperdht_node.hpp"
#include "core/relay_connection.hpp"
#include "core/secret_stream.hpp"
#include "core/udx_stream.hpp"
#include "protocol/crypto.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::hyperdht {

struct ConnectOptions {
  // opts.relayAddresses (or the nodes of a hyperdht-address): handshakes go there first.
  std::vector<Ipv4Address> relay_addresses;
  std::optional<crypto::KeyPair> key_pair;  // default: the node's default key pair
  // A low-TTL probe towards the server's address before the first holepunch round.
  bool fast_open = true;
  // Send our local addresses and try the LAN shortcut.
  bool local_connection = true;
  // opts.reusableSocket: tell the server our socket may be reused; when it says the same, keep
  // a route to it (node.socket_pool().routes()), and try a route kept earlier first.
  bool reusable_socket = false;
  // Asked before the punch round; false aborts with HOLEPUNCH_ABORTED.
  HolepunchVeto holepunch;
  // opts.relayThrough: a blind relay's public key (asked once per connect; nullopt: none).
  RelayThrough relay_through;
  // opts.relayKeepAlive: the keep-alive of the connection to the relay.
  core::Duration relay_keep_alive = std::chrono::milliseconds(5000);
};

enum class ConnectState { finding, holepunching, connected, failed };
const char* connect_state_name(ConnectState s) noexcept;

struct ConnectStats {
  std::size_t attempts = 0;         // handshakes sent for FIND_PEER replies
  std::size_t handshakes_sent = 0;  // every PEER_HANDSHAKE request, pre-connect ones included
  std::size_t pre_connects = 0;     // of those, to given or cached relay addresses
  bool relayed = false;             // the handshake reply came through a relay
  ConnectPath path = ConnectPath::none;
  std::uint64_t punch_rounds = 0;   // holepunch payloads sent
  std::error_code holepunch_cause;  // what a round raised before HOLEPUNCH_ABORTED ended it
  core::Duration handshake_time{};  // start -> handshake reply
  core::Duration open_time{};       // start -> stream handed over
  bool relay_attempted = false;     // a blind relay pairing was started
  bool upgraded = false;            // relayed first, then moved to a direct path
  bool route_retried = false;       // a reusable-socket route was tried first (retryRoute)
  bool route_used = false;          // and its handshake won: no FIND_PEER was needed
  bool route_added = false;         // this connection left a route for the next one
};

class ConnectSession;

class PeerConnect {
 public:
  using Done = std::function<void(Result<std::unique_ptr<core::SecretStream>>)>;

  static std::unique_ptr<PeerConnect> start(HyperDhtNode& node, const Bytes32& remote_public_key,
                                            ConnectOptions options, Done done);
  ~PeerConnect();
  PeerConnect(const PeerConnect&) = delete;
  PeerConnect& operator=(const PeerConnect&) = delete;

  ConnectState state() const noexcept;
  const ConnectStats& stats() const noexcept;
  const Bytes32& remote_public_key() const noexcept;
  // The raw stream's id (sent to the server in message 1).
  std::uint32_t stream_id() const noexcept;
  // Where the stream was connected (null / unset until connected).
  core::UdxSocket* path_socket() const noexcept;
  const Ipv4Address& path_address() const noexcept;
  const RelayConnection* relay() const noexcept;

 private:
  explicit PeerConnect(std::shared_ptr<ConnectSession> session);
  std::shared_ptr<ConnectSession> session_;
};

// The connect itself, behind the PeerConnect handle (internal). Shared: a relayed stream's close
// hook holds it too, so the relay connection and the upgrade live as long as that stream.
class ConnectSession : public std::enable_shared_from_this<ConnectSession> {
 public:
  using Done = std::function<void(Result<std::unique_ptr<core::SecretStream>>)>;

  ~ConnectSession();
  ConnectSession(const ConnectSession&) = delete;
  ConnectSession& operator=(const ConnectSession&) = delete;

  ConnectState state() const noexcept { return state_; }
  const ConnectStats& stats() const noexcept { return stats_; }
  const Bytes32& remote_public_key() const noexcept { return remote_public_key_; }
  // The raw stream's id (sent to the server in message 1).
  std::uint32_t stream_id() const noexcept { return stream_id_; }
  // Where the stream was connected (null / unset until connected).
  core::UdxSocket* path_socket() const noexcept { return path_socket_; }
  const Ipv4Address& path_address() const noexcept { return path_address_; }
  const RelayConnection* relay() const noexcept { return relay_.get(); }

 private:
  friend class PeerConnect;
  ConnectSession(HyperDhtNode& node, const Bytes32& remote_public_key, ConnectOptions options,
                 Done done);
  void keep_with(core::UdxStream& relayed);
  void on_relayed_close();
  void run();
  msg::NoisePayload handshake_payload();
  bool on_raw_firewall(core::UdxSocket& socket, const Ipv4Address& from);
  void on_handshake(HandshakeOutcome outcome);
  void on_socket(core::UdxSocket& socket, const Ipv4Address& address, ConnectPath path);
  void connect_stream(core::UdxSocket& socket, std::uint32_t remote_id, const Ipv4Address& address,
                      ConnectPath path);
  void add_route(core::UdxStream& connected);
  void start_relay(const RelayPairing& pairing);
  void on_relay_aborted(std::error_code ec);
  void on_holepunch_failed(std::error_code ec);
  void upgrade(core::UdxSocket& socket, const Ipv4Address& address);
  void watch_upgrade(core::UdxStream& raw);
  bool relayed_stream_alive() const;
  void fail(std::error_code ec);
  void retire_phases();
  void sync_stats();

  HyperDhtNode& node_;
  Bytes32 remote_public_key_;
  ConnectOptions options_;
  crypto::KeyPair key_pair_;
  Done done_;
  ConnectState state_ = ConnectState::finding;
  ConnectStats stats_;
  core::TimePoint started_;

  std::unique_ptr<core::UdxStream> raw_;
  std::uint32_t stream_id_ = 0;
  Firewall firewall_ = Firewall::unknown;  // what message 1 told the server about us
  // The server's first packet, when it beat the handshake reply (serverSocket/serverAddress).
  core::UdxSocket* server_socket_ = nullptr;
  Ipv4Address server_address_;
  std::optional<HandshakeOutcome> outcome_;

  core::UdxSocket* path_socket_ = nullptr;
  Ipv4Address path_address_;

  std::optional<msg::RelayThroughInfo> relay_through_;  // ours, in message 1
  std::unique_ptr<RelayConnection> relay_;
  bool punching_ = false;  // the holepunch phase has not ended yet
  // The relayed stream's raw UDX stream (owned by the caller's SecretStream; checked against the
  // node's stream table before use) and whether the relay may end on the next data.
  core::UdxStream* relayed_raw_ = nullptr;
  bool upgrade_pending_ = false;
  bool valid_upgrade_ = true;  // the last packet the hook saw was not the relay's

  std::unique_ptr<ConnectHandshake> handshake_;
  std::unique_ptr<ConnectHolepunch> holepunch_;
  // Finished phases, dropped on the next turn of the executor rather than inside their own
  // callbacks.
  std::unique_ptr<ConnectHandshake> old_handshake_;
  std::unique_ptr<ConnectHolepunch> old_holepunch_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
