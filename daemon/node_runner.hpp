// The set of DhtNodes one hyperdhtd process runs, and what it logs about them. Nodes start one
// after another, each once the previous one is bootstrapped, as the reference CLI and testnet
// do: a testnet's later nodes then find a populated network instead of racing each other.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dht_config.hpp"
#include "core/dht_node.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "daemon/options.hpp"

namespace hdht::daemon {

// One DhtConfig per node the options ask for, in start order.
std::vector<dht::DhtConfig> plan_nodes(const DaemonOptions& options);

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

 private:
  Result<void> start_node(std::size_t i);
  void on_ready(std::size_t i);
  void log_status() const;
  void arm_status();

  core::Runtime& runtime_;
  std::vector<dht::DhtConfig> configs_;
  std::vector<std::unique_ptr<dht::DhtNode>> nodes_;
  std::chrono::seconds status_interval_;
  std::function<void(std::string)> on_fatal_;
  core::Timer status_timer_;
  std::size_t ready_ = 0;
  bool destroyed_ = false;
};

}  // namespace hdht::daemon
