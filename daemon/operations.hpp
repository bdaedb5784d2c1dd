// The record layer's in-flight operations started by control clients (a lookup, a put, ...).
// The registry owns their handles, so that they stop (withdrawing their queries and requests,
// with no callback afterwards) when the client that asked goes away, when the operation ends,
// or when the daemon shuts down: whatever comes first.
//
// Not thread-safe; runs on the daemon's executor. Must be destroyed (or cleared) before the
// nodes the operations run on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/hyperdht_operations.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "daemon/dispatcher.hpp"

namespace hdht::daemon {

class OperationRegistry {
 public:
  using Id = std::uint64_t;

  explicit OperationRegistry(core::Runtime& runtime);
  ~OperationRegistry();
  OperationRegistry(const OperationRegistry&) = delete;
  OperationRegistry& operator=(const OperationRegistry&) = delete;

  // An id for an operation about to be made: its callbacks capture it to release() it.
  Id reserve() noexcept { return next_id_++; }
  // Keeps `op` under `id` while `client` is connected (replacing what `id` held: a chained
  // operation's next step). The handle is dropped on release(id), when the client disconnects
  // (checked every kSweepInterval) or on clear().
  void hold(Id id, std::unique_ptr<hyperdht::OperationBase> op, Responder client);
  // Drops the operation. The handle is destroyed on a later turn of the executor (so a callback
  // of the operation may release it), and never after clear().
  void release(Id id);
  void clear();
  std::size_t size() const noexcept { return ops_.size(); }

 private:
  struct Entry {
    std::unique_ptr<hyperdht::OperationBase> op;
    Responder client;
  };
  void arm_sweep();
  void sweep();
  // Destroys `op` soon, outside whatever callback of it is running now.
  void retire(std::unique_ptr<hyperdht::OperationBase> op);

  core::Timer sweep_timer_;
  std::map<Id, Entry> ops_;
  std::vector<std::unique_ptr<hyperdht::OperationBase>> retired_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // guards the posted cleanup
  Id next_id_ = 1;
  boost::asio::any_io_executor executor_;
};

}  // namespace hdht::daemon
