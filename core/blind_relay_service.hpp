// BlindRelayService: the node acting as a blind relay for others. A Server (hyperdht_server.hpp)
// listens on a key pair and hands every connection to a BlindRelayServer whose relay streams are
// made on the node's UDX socket, what a JS user writes as
//   const relay = new BlindRelayServer({ createStream: (o) => dht.createRawStream(o) })
//   dht.createServer((s) => relay.accept(s, { id: s.remotePublicKey })).listen(keyPair)
// Peers name the key pair's public key as their relayThrough.
//
// Lifetime: owns the Server and the BlindRelayServer; must not outlive the node. Destroying it
// drops every session and relay link at once (no unannounce: close() first for that). Not
// thread-safe: the node's executor.
#pragma once

#include <functional>
#include <memory>
#include <system_error>

#include "core/blind_relay_server.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/server_options.hpp"
#include "protocol/crypto.hpp"

namespace hdht::hyperdht {

class BlindRelayService {
 public:
  explicit BlindRelayService(HyperDhtNode& node, BlindRelayLimits limits = {},
                             ServerOptions server_options = {});
  ~BlindRelayService();
  BlindRelayService(const BlindRelayService&) = delete;
  BlindRelayService& operator=(const BlindRelayService&) = delete;

  // Server::listen: done({}) once announced, or its error.
  void listen(const crypto::KeyPair& key_pair, std::function<void(std::error_code)> done = {});
  // Drops every relay session and link, then closes (unannounces) the server.
  void close(std::function<void()> done = {});

  BlindRelayStats stats() const { return relay_.stats(); }
  BlindRelayServer& relay() noexcept { return relay_; }
  Server& server() noexcept { return *server_; }

 private:
  BlindRelayServer relay_;
  std::unique_ptr<Server> server_;  // after relay_: its connections go there
};

}  // namespace hdht::hyperdht
