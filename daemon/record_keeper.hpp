// Kept records (`immutable.put` / `mutable.put` with `keep`): values the daemon keeps on the DHT
// for as long as the user wants them, by putting them again every interval (the same
// --reannounce-interval as standing announces). A mutable record is put again with the same
// value and seq: the signature is deterministic, the storing nodes accept the identical record
// and it refreshes their copy (and seeds nodes that joined since). An immutable one is just
// put again. Listed by `records`, dropped by `forget`; persisted by daemon/intents.hpp.
//
// Not thread-safe; runs on the daemon's executor. stop() (or destruction) must come before the
// nodes go away.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

struct KeptRecord {
  bool is_mutable = false;
  // What `forget` names: the value's hash (immutable) or the signer's public key (mutable).
  Bytes32 target{};
  Bytes value;
  std::string key_name;   // mutable only
  crypto::KeyPair key;    // mutable only; from the key store, never persisted
  std::uint64_t seq = 0;  // mutable only
  core::TimePoint since{};
  std::optional<core::TimePoint> last_ok;  // the last put that reached its closest nodes
  std::uint64_t runs = 0;                  // re-puts started (the client's own put not counted)
  std::uint64_t failures = 0;
  std::string last_error;
};

class RecordKeeper {
 public:
  // `node` gives the node to put on (null while none is ready: the run is skipped).
  RecordKeeper(core::Runtime& runtime, std::function<hyperdht::HyperDhtNode*()> node,
               core::Duration interval);
  ~RecordKeeper();
  RecordKeeper(const RecordKeeper&) = delete;
  RecordKeeper& operator=(const RecordKeeper&) = delete;

  // Adds or replaces the record kept under r.target. The caller has just put it; the next run
  // is one interval later.
  void keep(KeptRecord r);
  // Adds a record from the last run's intents: not on the network yet as far as we know
  // (no last_ok); run_now() puts it once the node is ready.
  void restore(KeptRecord r);
  // True if it was kept.
  bool forget(const Bytes32& target);
  const KeptRecord* find(const Bytes32& target) const;
  std::vector<KeptRecord> list() const;  // by target
  std::size_t size() const noexcept { return entries_.size(); }
  core::Duration interval() const noexcept { return interval_; }
  // Puts every record now and restarts the interval from here.
  void run_now();
  // Withdraws every running put and stops the timer; keep() after stop() is ignored.
  void stop();

 private:
  struct Entry {
    KeptRecord info;
    std::unique_ptr<hyperdht::ValueOperation> running;
  };
  void arm();
  void run_all();

  core::Runtime& runtime_;
  std::function<hyperdht::HyperDhtNode*()> node_;
  core::Duration interval_;
  core::Timer timer_;
  std::map<Bytes32, Entry> entries_;
  bool stopped_ = false;
};

}  // namespace hdht::daemon
