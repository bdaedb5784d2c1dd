// --blind-relay: node 0 also serves as a blind relay for other peers (core::BlindRelayService,
// what a JS user writes as `new BlindRelayServer(...)` + `dht.createServer(relay.accept)`).
// Peers pass the relay key pair's public key as their relayThrough. It starts once node 0 has
// bootstrapped (its server must be announced) and warns when the node cannot be a useful relay:
// an ephemeral node is not stored in others' routing tables for long, a firewalled one cannot be
// reached by peers that need the relay precisely because they cannot punch.
//
// Lifetime: stop() (or destruction) before the nodes go. Not thread-safe: the node's executor.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/blind_relay_service.hpp"
#include "core/hyperdht_node.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

class BlindRelayRole {
 public:
  enum class State { off, waiting_for_node, starting, listening, failed, closed };

  // `key_pair` nullopt: the role is off. max_handshakes: its server's (ServerOptions).
  BlindRelayRole(std::optional<crypto::KeyPair> key_pair, std::string key_name,
                 std::function<hyperdht::HyperDhtNode*()> node,
                 std::size_t max_handshakes = hyperdht::ServerOptions{}.max_handshakes);
  ~BlindRelayRole();
  BlindRelayRole(const BlindRelayRole&) = delete;
  BlindRelayRole& operator=(const BlindRelayRole&) = delete;

  bool enabled() const noexcept { return key_pair_.has_value(); }
  // Listens on node 0 (once it has bootstrapped; later calls do nothing).
  void start();
  // Graceful stop: drops the sessions and unannounces the relay's server.
  void close();
  // Destroys the service now.
  void stop();

  State state() const noexcept { return state_; }
  const std::string& key_name() const noexcept { return key_name_; }
  std::optional<Bytes32> public_key() const;
  // Zero until it has started.
  hyperdht::BlindRelayStats stats() const;

 private:
  std::optional<crypto::KeyPair> key_pair_;
  std::string key_name_;
  std::function<hyperdht::HyperDhtNode*()> node_;
  std::size_t max_handshakes_;
  State state_ = State::off;
  std::unique_ptr<hyperdht::BlindRelayService> service_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

const char* blind_relay_state_name(BlindRelayRole::State s) noexcept;

}  // namespace hdht::daemon
