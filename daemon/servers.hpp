// The daemon's HyperDHT servers (`listen`), one per key pair (the core refuses a second one with
// KEYPAIR_ALREADY_USED). A server either forwards every inbound stream to a local TCP/Unix
// address (a standing intent, like a hypertele server), or offers it to its listeners: control
// connections that get a `connection` notification and take the stream with `accept` on a new
// connection. A server without a forward closes with its last listener unless it is kept
// (`keep`). Kept and forwarding servers are saved with the intents and listen again after a
// restart. An optional allow-list of client public keys is enforced by the server's firewall
// (others never get a handshake reply: PEER_CONNECTION_FAILED on their side).
//
// Lifetime: the Servers object outlives nothing it refers to: it must be stopped (or destroyed)
// before its Connections and before the nodes go. Not thread-safe: the node's executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "daemon/connections.hpp"
#include "daemon/dispatcher.hpp"
#include "daemon/local_address.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

struct ServerSpec {
  std::string key_name;
  crypto::KeyPair key;
  std::vector<Bytes32> allow;           // empty: any client
  std::optional<LocalAddress> forward;  // none: offered to listeners
  bool keep = false;                    // standing (always true with a forward)
  // relayThrough asked for in the request; none: the daemon's --relay-through, if any.
  std::optional<Bytes32> relay_through{};
};

class Servers {
 public:
  // error, or none and whether the listener joined a server that was already there.
  using Done = std::function<void(std::optional<rpc::Error> error, bool attached)>;
  enum class State { waiting_for_node, starting, listening };
  struct Listed {
    ServerSpec spec;
    State state = State::starting;
    SteadyTime since{};
    std::size_t listeners = 0;
    std::uint64_t connections = 0;  // inbound streams so far
    std::uint64_t rejected = 0;     // handshakes refused by the allow-list or the cap
    std::optional<hyperdht::ServerAddress> address;  // server.address(), once listening
    std::vector<Ipv4Address> relay_addresses;        // the relays it is announced with
  };

  // default_relay_through: the relayThrough of servers whose spec names none; max_handshakes:
  // each server's (hyperdht::ServerOptions).
  Servers(boost::asio::any_io_executor executor, std::function<hyperdht::HyperDhtNode*()> node,
          Connections& connections, std::size_t max,
          std::optional<Bytes32> default_relay_through = std::nullopt,
          std::size_t max_handshakes = hyperdht::ServerOptions{}.max_handshakes);
  ~Servers();
  Servers(const Servers&) = delete;
  Servers& operator=(const Servers&) = delete;

  // Starts a server for spec.key, or adds `listener` to the one there (which must have no
  // forward, nor may spec have one, nor name another relayThrough). done runs once the server
  // listens (or failed).
  void listen(ServerSpec spec, std::weak_ptr<LineSink> listener, Done done);
  // Closes (and unannounces) the server of `public_key`; false if there is none.
  bool unlisten(const Bytes32& public_key);
  // server.refresh(): re-announce at the next opportunity; false if no server of `public_key`
  // is listening.
  bool refresh(const Bytes32& public_key);
  // A kept server from the last run: listens at start_restored().
  void restore(ServerSpec spec);
  void start_restored();
  bool contains(const Bytes32& public_key) const { return entries_.contains(public_key); }
  // What a server of `spec` relays through: its own relayThrough, else the daemon's default.
  std::optional<Bytes32> relay_through(const ServerSpec& spec) const {
    return spec.relay_through ? spec.relay_through : default_relay_through_;
  }
  std::vector<Listed> list() const;
  // Inbound handshakes of all servers; the counters include servers closed since.
  struct HandshakeTotals {
    std::uint64_t held = 0;          // slots held now (in progress or just finished)
    std::uint64_t slots_full = 0;    // msg1 dropped: the server held max_handshakes
    std::uint64_t rate_limited = 0;  // msg1 dropped by the per-host limit
    std::uint64_t invalid = 0;       // msg1 that failed the Noise step
  };
  HandshakeTotals handshake_totals() const;
  std::vector<ServerSpec> standing() const;
  // The servers listening on the named key.
  std::size_t uses_key(const std::string& key_name) const;
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t max() const noexcept { return max_; }
  // Graceful stop: unannounces every server (they stay listed: they are intents).
  void close_all();
  // Destroys every server now; listen() afterwards fails.
  void stop();

 private:
  struct Entry {
    ServerSpec spec;
    State state = State::waiting_for_node;
    std::unique_ptr<hyperdht::Server> server;
    std::vector<std::weak_ptr<LineSink>> listeners;
    std::vector<Done> waiting;
    SteadyTime since{};
    std::uint64_t connections = 0;
    std::uint64_t rejected_full = 0;
  };
  void start(const Bytes32& pk, Entry& e);
  void on_listening(const Bytes32& pk, std::error_code ec);
  void on_connection(const Bytes32& pk, std::unique_ptr<core::SecretStream> stream);
  void forward(std::uint64_t id, const LocalAddress& to);
  void add_listener(const Bytes32& pk, Entry& e, const std::weak_ptr<LineSink>& listener);
  void on_listener_gone(const Bytes32& pk);

  boost::asio::any_io_executor executor_;
  std::function<hyperdht::HyperDhtNode*()> node_;
  Connections& connections_;
  std::size_t max_;
  std::optional<Bytes32> default_relay_through_;
  std::size_t max_handshakes_;
  HandshakeTotals retired_;  // the counters of servers gone
  std::map<Bytes32, Entry> entries_;
  std::vector<std::unique_ptr<hyperdht::Server>> closing_;
  bool stopped_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

const char* server_state_name(Servers::State s) noexcept;

}  // namespace hdht::daemon
