#include "daemon/operations.hpp"

#include <chrono>
#include <vector>

#include <boost/asio/post.hpp>

namespace hdht::daemon {

namespace {
// How soon a disconnected client's lookup stops. A poll, because a session only learns of the
// disconnect when it next reads or writes; one second costs nothing and bounds the waste.
constexpr auto kSweepInterval = std::chrono::seconds(1);
}  // namespace

OperationRegistry::OperationRegistry(core::Runtime& runtime)
    : sweep_timer_(runtime), executor_(runtime.executor()) {}

OperationRegistry::~OperationRegistry() {
  clear();
}

void OperationRegistry::hold(Id id, std::unique_ptr<hyperdht::OperationBase> op, Responder client) {
  // Moved out first: the old handle's destructor must not run while the map is being changed.
  if (auto it = ops_.find(id); it != ops_.end()) retire(std::move(it->second.op));
  ops_.insert_or_assign(id, Entry{std::move(op), std::move(client)});
  if (ops_.size() == 1) arm_sweep();
}

void OperationRegistry::release(Id id) {
  auto it = ops_.find(id);
  if (it == ops_.end()) return;
  auto op = std::move(it->second.op);
  ops_.erase(it);
  if (ops_.empty()) sweep_timer_.cancel();
  retire(std::move(op));
}

void OperationRegistry::retire(std::unique_ptr<hyperdht::OperationBase> op) {
  if (!op) return;
  retired_.push_back(std::move(op));
  if (retired_.size() > 1) return;  // a cleanup is already posted
  boost::asio::post(executor_, [this, alive = std::weak_ptr<int>(alive_)] {
    if (alive.lock()) retired_.clear();
  });
}

void OperationRegistry::clear() {
  sweep_timer_.cancel();
  auto all = std::move(ops_);
  ops_.clear();
  all.clear();
  retired_.clear();
}

void OperationRegistry::arm_sweep() {
  sweep_timer_.expires_after(kSweepInterval, [this] {
    sweep();
    if (!ops_.empty()) arm_sweep();
  });
}

void OperationRegistry::sweep() {
  std::vector<Id> gone;
  for (const auto& [id, e] : ops_)
    if (!e.client.connected()) gone.push_back(id);
  for (auto id : gone)
    release(id);
}

}  // namespace hdht::daemon
