// Standing announces (`announce --keep`): topics the daemon keeps announcing, as
// the reference's server announcer does (lib/announcer.js refreshes about every 5 minutes:
// 100 pings 3 s apart). Records on the storing nodes expire after 20 minutes, so a re-announce
// every 5 minutes (--reannounce-interval) keeps them alive with margin for a failed run. Listed by
// the `announces` method, removed by `unannounce`. Persisted by daemon/intents.hpp, so a restart
// announces them again; a graceful stop unannounces them (withdraw_all) but keeps the intent.
//
// Not thread-safe; runs on the daemon's executor. stop() (or destruction) must come before the
// nodes go away.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

inline constexpr core::Duration kReannounceInterval = std::chrono::minutes(5);

struct StandingAnnounce {
  Bytes32 topic{};
  std::string key_name;
  crypto::KeyPair key;
  std::vector<Ipv4Address> relays;
  core::TimePoint since{};
  std::optional<core::TimePoint> last_ok;  // the last announce that reached its closest nodes
  std::uint64_t runs = 0;                  // re-announces started (the first one not counted)
  std::uint64_t failures = 0;
  std::string last_error;
};

class Announcer {
 public:
  // `node` gives the node to announce on (null while none is running: the run is skipped).
  Announcer(core::Runtime& runtime, std::function<hyperdht::HyperDhtNode*()> node,
            core::Duration interval = kReannounceInterval);
  ~Announcer();
  Announcer(const Announcer&) = delete;
  Announcer& operator=(const Announcer&) = delete;

  // Adds (or replaces: new relays) the standing announce of a.key on a.topic. The caller has
  // just announced once; the next run is one interval later.
  void keep(StandingAnnounce a);
  // Adds an announce from the last run's intents: not on the network as far as we know (no
  // last_ok); run_now() announces it once the node is ready.
  void restore(StandingAnnounce a);
  // True if there was one.
  bool remove(const Bytes32& topic, const Bytes32& public_key);
  bool contains(const Bytes32& topic, const Bytes32& public_key) const {
    return entries_.contains(Key{topic, public_key});
  }
  std::vector<StandingAnnounce> list() const;
  std::size_t size() const noexcept { return entries_.size(); }
  core::Duration interval() const noexcept { return interval_; }
  // Announces every entry now and restarts the interval from here.
  void run_now();
  // Graceful stop: stops re-announcing and unannounces every entry (DHT.unannounce), then
  // calls done(total, unfinished) (total: the unannounces started, none without a ready node)
  // once all settled or `deadline` passed, whichever is first,
  // on a later turn of the executor (never inside the caller). `unfinished` names the topics
  // whose unannounce failed or did not settle in time. The entries stay listed (they are the
  // user's intents); keep() afterwards is ignored.
  void withdraw_all(
      core::Duration deadline,
      std::function<void(std::size_t total, std::vector<std::string> unfinished)> done);
  // Withdraws every running announce and stops the timer; keep() after stop() is ignored.
  void stop();

 private:
  using Key = std::pair<Bytes32, Bytes32>;  // topic, public key
  struct Entry {
    StandingAnnounce info;
    std::unique_ptr<hyperdht::LookupStream> running;
    bool withdrawn = false;  // withdraw_all: its unannounce settled
  };
  void finish_withdraw();
  void arm();
  void run_all();

  core::Runtime& runtime_;
  std::function<hyperdht::HyperDhtNode*()> node_;
  core::Duration interval_;
  core::Timer timer_;
  std::map<Key, Entry> entries_;
  bool stopped_ = false;
  std::function<void(std::size_t, std::vector<std::string>)> withdraw_done_;
  std::size_t withdraw_pending_ = 0;
  std::size_t withdraw_total_ = 0;
};

}  // namespace hdht::daemon
