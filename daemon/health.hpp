// Health that proves the DHT works, not only that the process lives: node 0 must be
// bootstrapped, have good nodes in its table (heard from within old_node_ticks ticks), and a
// recent lookup (a FIND_NODE query to a random target, run every `interval` and on demand) must
// have reached at least one node.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/query.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "daemon/node_runner.hpp"

namespace hdht::daemon {

struct ProbeResult {
  bool ok = false;
  std::size_t replies = 0;
  std::chrono::milliseconds took{0};
  std::string error;  // reference-style name when !ok (NOT_BOOTSTRAPPED, REQUEST_TIMEOUT, ...)
};

class HealthMonitor {
 public:
  // A lookup counts as recent for 2 * interval.
  HealthMonitor(core::Runtime& runtime, NodeRunner& runner, std::chrono::seconds interval);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  void start();
  // Withdraws every lookup (their callbacks never run); call before the nodes are destroyed.
  void stop();
  // Runs a lookup now; `done` runs once, on the executor, unless stop() comes first.
  void probe(std::function<void(const ProbeResult&)> done);
  // Runs after every finished lookup (the daemon refreshes its systemd STATUS from it).
  void set_on_probe(std::function<void()> fn) { on_probe_ = std::move(fn); }

  std::size_t good_nodes() const;
  bool healthy() const;
  // {"healthy": bool, "checks": {...}, "lastProbe": {...}}
  nlohmann::json report() const;

 private:
  void arm();

  core::Runtime& runtime_;
  NodeRunner& runner_;
  std::chrono::seconds interval_;
  core::Timer timer_;
  std::uint64_t next_id_ = 0;
  std::map<std::uint64_t, std::unique_ptr<dht::Query>> queries_;
  std::optional<core::TimePoint> last_success_;
  std::optional<ProbeResult> last_;
  std::optional<core::TimePoint> last_at_;
  bool stopped_ = false;
  std::function<void()> on_probe_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // guards posted answers
};

}  // namespace hdht::daemon
