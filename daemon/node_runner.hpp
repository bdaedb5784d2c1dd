// The set of HyperDhtNodes one hyperdhtd process runs, and what it logs about them. Nodes start one
// after another, each once the previous one is bootstrapped, as the reference CLI and testnet
// do: a testnet's later nodes then find a populated network instead of racing each other.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dht_config.hpp"
#include "core/dht_node.hpp"
#include "core/hyperdht_node.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "daemon/options.hpp"

namespace hdht::daemon {

// One DhtConfig per node the options ask for, in start order.
// `known`: addresses from the last run's routing-table snapshot, added to each ordinary node's
// table at start so that a restart rejoins without waiting for the bootstrap nodes.
std::vector<dht::DhtConfig> plan_nodes(const DaemonOptions& options,
                                       const std::vector<Ipv4Address>& known = {});

class NodeRunner {
 public:
  // on_fatal runs (on the executor) when a node after the first cannot bind; the first node's
  // bind error is start()'s result.
  NodeRunner(core::Runtime& runtime, std::vector<dht::DhtConfig> configs,
             std::chrono::seconds status_interval, std::function<void(std::string)> on_fatal);
  ~NodeRunner();
  NodeRunner(const NodeRunner&) = delete;
  NodeRunner& operator=(const NodeRunner&) = delete;

  Result<void> start();
  // Destroys every node (withdrawing their requests and timers); idempotent.
  void destroy();

  std::size_t size() const noexcept { return nodes_.size(); }
  // The nodes started so far (nodes start one after another), in start order: their dht-rpc
  // layer, and the whole HyperDHT node (node 0 serves the control socket's record methods).
  const std::vector<dht::DhtNode*>& nodes() const noexcept { return nodes_; }
  dht::DhtNode* node(std::size_t i) const { return i < nodes_.size() ? nodes_[i] : nullptr; }
  hyperdht::HyperDhtNode* hyper(std::size_t i) const {
    return i < hyper_.size() && !destroyed_ ? hyper_[i].get() : nullptr;
  }
  bool destroyed() const noexcept { return destroyed_; }

  struct Summary {
    std::size_t planned = 0, nodes = 0, bootstrapped = 0, persistent = 0, firewalled = 0;
    std::size_t min_table = 0, max_table = 0;
  };
  Summary summary() const;

  // Runs after a node bootstraps, turns persistent, changes network state, and at each status
  // tick: the daemon refreshes its systemd STATUS line from it.
  void set_on_change(std::function<void()> fn) { on_change_ = std::move(fn); }
  void set_status_interval(std::chrono::seconds interval);

 private:
  Result<void> start_node(std::size_t i);
  void on_ready(std::size_t i);
  void log_status() const;
  void arm_status();
  void arm_rejoin();

  core::Runtime& runtime_;
  std::vector<dht::DhtConfig> configs_;
  std::vector<std::unique_ptr<hyperdht::HyperDhtNode>> hyper_;
  std::vector<dht::DhtNode*> nodes_;  // hyper_[i]->dht(), for readers of the dht-rpc layer
  std::chrono::seconds status_interval_;
  std::function<void(std::string)> on_fatal_;
  std::function<void()> on_change_;
  core::Timer status_timer_;
  // Nodes that bootstrapped without reaching any other node: asked to refresh every few
  // seconds until one answers (see kRejoinInterval).
  core::Timer rejoin_timer_;
  std::vector<bool> alone_;
  std::uint64_t rejoin_checks_ = 0;
  std::size_t ready_ = 0;
  bool destroyed_ = false;
};

}  // namespace hdht::daemon
