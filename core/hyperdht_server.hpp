// Server: a hyperdht server listening on a key pair (the reference's lib/server.js). listen()
// registers the server with the node's router under H(publicKey) and announces it
// (ServerAnnouncer); each PEER_HANDSHAKE for it becomes an InboundHandshake (deduplicated by its
// msg1 bytes, as the reference's _connects map, so a retransmitted msg1 gets the same msg2), and
// each PEER_HOLEPUNCH goes to the handshake its id names. Connections arrive as responder
// SecretStreams on on_connection.
//
// Unlike the reference, a rejected msg1 (undecryptable, or refused by the firewall) gives its slot
// back at once and leaves only a tombstone (RejectedHandshakes) so a copy of it stays unanswered
// without a second decryption; and at most ServerOptions::max_handshakes slots are held: a new
// msg1 beyond that is dropped before any crypto (ServerStats::handshake_slots_full).
//
// relayThrough (ServerOptions::relay_through) pairs streams through a blind relay
// (server_handshake.hpp); a relayed stream owns its relay connection (it ends when the stream
// closes and goes with the stream object, also after the server closed). reusable_socket keeps
// a route to each client that said the same (socket_routes.hpp). Not done: suspend/resume,
// server pools (see docs/server.md).
//
// Threading and lifetime: not thread-safe; runs on the node's executor. The Server must not
// outlive its node. Destroying it removes it from the router and the node's listening list and
// drops every handshake without callbacks (no unannounce: call close() for that). on_listening,
// on_close and the listen/close completions are posted, so they may destroy the Server;
// on_connection runs inline (the stream's first packet is in flight) and may call close() but
// must not destroy the Server itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/router.hpp"
#include "core/secret_stream.hpp"
#include "core/server_announcer.hpp"
#include "core/server_handshake.hpp"
#include "core/server_options.hpp"
#include "core/server_rate_limit.hpp"
#include "core/server_rejected.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

namespace hdht::hyperdht {

class HyperDhtNode;

class Server {
 public:
  struct Handlers {
    std::function<void()> on_listening;
    std::function<void(std::unique_ptr<core::SecretStream>)> on_connection;
    std::function<void()> on_close;
  };

  Server(HyperDhtNode& node, ServerOptions options = {}, Handlers handlers = {});
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void set_handlers(Handlers handlers) { handlers_ = std::move(handlers); }

  // Registers and announces; done({}) once the first announce round settled (or the server was
  // closed meanwhile). Errors: ALREADY_LISTENING (listening, or listen in progress, or closed),
  // NODE_DESTROYED, KEYPAIR_ALREADY_USED (another server of the node listens on that key).
  void listen(const crypto::KeyPair& key_pair, std::function<void(std::error_code)> done = {});
  // Re-announce at the next opportunity.
  void refresh();
  // Unannounces, leaves the router and the node's listening list, drops pending handshakes and
  // punchers, then on_close and done. Calling it again waits for the same close.
  void close(std::function<void()> done = {});

  std::optional<ServerAddress> address() const;
  std::vector<Ipv4Address> relay_addresses() const;
  std::optional<Bytes32> public_key() const;
  bool listening() const noexcept { return state_ == State::listening; }
  bool closed() const noexcept { return state_ == State::closed; }
  const ServerStats& stats() const noexcept { return stats_; }
  // Handshakes held now (pending, or finished and waiting to be forgotten); at most
  // ServerOptions::max_handshakes (when not 0). Rejected msg1s hold none.
  std::size_t handshakes_held() const noexcept { return connects_.size(); }
  // Rejected msg1s remembered now (at most ServerOptions::max_rejected_remembered).
  std::size_t rejected_remembered() const noexcept { return rejected_.size(); }
  const ServerAnnouncer* announcer() const noexcept { return announcer_.get(); }

 private:
  enum class State { idle, starting, listening, closing, closed };

  void on_handshake(const ServerHandshake& in, const dht::IncomingRequest& req,
                    Respond<ServerHandshakeReply> respond);
  void on_holepunch(const ServerHolepunch& in, const dht::IncomingRequest& req,
                    Respond<ServerHolepunchReply> respond);
  void clear(std::uint64_t id, const Bytes& key);
  void clear_all();
  void leave_node();  // the reference's _gc
  void post(std::function<void()> fn);
  void finish_close();

  HyperDhtNode& node_;
  ServerOptions options_;
  Handlers handlers_;
  State state_ = State::idle;
  std::optional<crypto::KeyPair> key_pair_;
  Bytes32 target_{};
  std::unique_ptr<ServerAnnouncer> announcer_;
  std::function<void(std::error_code)> listen_done_;
  std::vector<std::function<void()>> close_waiters_;

  // One slot per handshake, indexed by its holepunch id (the reference's _holepunches), and the
  // map from msg1 bytes to the slot (_connects).
  struct Slot {
    std::unique_ptr<InboundHandshake> hs;
    Bytes key;
    std::unique_ptr<core::Timer> clearing;
  };
  std::vector<std::optional<Slot>> slots_;
  std::unordered_map<std::string, std::uint64_t> connects_;
  HandshakeRateLimiter rate_limiter_;
  RejectedHandshakes rejected_;
  ServerStats stats_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace hdht::hyperdht
