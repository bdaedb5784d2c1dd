#include "daemon/blind_relay_role.hpp"

#include <spdlog/spdlog.h>

namespace hdht::daemon {

BlindRelayRole::BlindRelayRole(std::optional<crypto::KeyPair> key_pair, std::string key_name,
                               std::function<hyperdht::HyperDhtNode*()> node,
                               std::size_t max_handshakes)
    : key_pair_(std::move(key_pair)),
      key_name_(std::move(key_name)),
      node_(std::move(node)),
      max_handshakes_(max_handshakes) {
  if (key_pair_) state_ = State::waiting_for_node;
}

BlindRelayRole::~BlindRelayRole() {
  stop();
}

void BlindRelayRole::start() {
  if (state_ != State::waiting_for_node) return;
  auto* node = node_();
  if (!node) return;
  const auto& dht = node->dht();
  // Checked once: a node that turns persistent later (after ~20 minutes, or never with
  // --ephemeral) is still a working relay meanwhile, only a less reachable one.
  if (dht.firewalled())
    spdlog::warn("blind relay: the node is firewalled: peers that cannot punch cannot reach it");
  else if (dht.ephemeral())
    spdlog::warn(
        "blind relay: the node is ephemeral (for now, or for good with --ephemeral): a relay is "
        "best on a persistent, unfirewalled node (--persistent)");
  state_ = State::starting;
  hyperdht::ServerOptions o;
  o.max_handshakes = max_handshakes_;
  service_ = std::make_unique<hyperdht::BlindRelayService>(*node, hyperdht::BlindRelayLimits{},
                                                           std::move(o));
  service_->listen(*key_pair_, [this, alive = std::weak_ptr(alive_)](std::error_code ec) {
    if (alive.expired()) return;
    if (ec) {
      state_ = State::failed;
      spdlog::error("blind relay: cannot listen on key '{}': {}", key_name_, ec.message());
      return;
    }
    state_ = State::listening;
    spdlog::info("blind relay: listening; peers pass relayThrough {}",
                 to_hex(key_pair_->public_key));
  });
}

void BlindRelayRole::close() {
  if (!service_ || state_ == State::closed) return;
  state_ = State::closed;
  service_->close();
}

void BlindRelayRole::stop() {
  if (service_ && state_ != State::failed) state_ = State::closed;
  service_.reset();
}

std::optional<Bytes32> BlindRelayRole::public_key() const {
  if (!key_pair_) return std::nullopt;
  return key_pair_->public_key;
}

hyperdht::BlindRelayStats BlindRelayRole::stats() const {
  return service_ ? service_->stats() : hyperdht::BlindRelayStats{};
}

const char* blind_relay_state_name(BlindRelayRole::State s) noexcept {
  switch (s) {
    case BlindRelayRole::State::off:
      return "off";
    case BlindRelayRole::State::waiting_for_node:
      return "waiting-for-node";
    case BlindRelayRole::State::starting:
      return "starting";
    case BlindRelayRole::State::listening:
      return "listening";
    case BlindRelayRole::State::failed:
      return "failed";
    case BlindRelayRole::State::closed:
      return "closed";
  }
  return "?";
}

}  // namespace hdht::daemon
