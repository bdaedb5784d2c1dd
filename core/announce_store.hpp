// AnnounceStore: the announce records of a storing node, per topic and keyed by the announcer's
// public key (the `record-cache` package as hyperdht uses it). Two generations: adds go to the
// fresh one (an add of a key already fresh keeps the old record, as the reference does); the
// fresh one becomes stale when it holds more than max_size records or half of max_bytes (our
// byte cap; the total never exceeds it), or on the timer every ceil(2/3 max_age) unless that
// happened since the previous tick. get() samples up to n records of a topic at random from both
// generations.
//
// Threading and lifetime: not thread-safe; runs on the Runtime's executor. Owns its timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "core/record_cache.hpp"
#include "core/runtime.hpp"
#include "protocol/bytes.hpp"

namespace hdht::hyperdht {

class AnnounceStore {
 public:
  AnnounceStore(core::Runtime& runtime, CacheLimits limits);
  AnnounceStore(const AnnounceStore&) = delete;
  AnnounceStore& operator=(const AnnounceStore&) = delete;

  void add(const Bytes32& topic, const Bytes32& public_key, Bytes record);
  void remove(const Bytes32& topic, const Bytes32& public_key);
  // Up to n records of the topic (0 = all), in random order.
  std::vector<Bytes> get(const Bytes32& topic, std::size_t n);

  std::size_t size() const noexcept { return fresh_.size + stale_.size; }
  std::size_t bytes() const noexcept { return fresh_.bytes + stale_.bytes; }
  std::size_t topics() const noexcept { return fresh_.topics.size() + stale_.topics.size(); }
  const CacheLimits& limits() const noexcept { return limits_; }
  // Records dropped by rotations (a cap or age), as RecordCache::evicted().
  std::uint64_t evicted() const noexcept { return evicted_; }

 private:
  struct Entry {
    Bytes32 public_key;
    Bytes record;
  };
  struct Topic {
    std::vector<Entry> list;
    std::unordered_map<Bytes32, std::size_t, Key32Hash> index;  // public key -> list position
  };
  struct Generation {
    std::unordered_map<Bytes32, Topic, Key32Hash> topics;
    std::size_t size = 0, bytes = 0;
    bool add(const Bytes32& topic, const Bytes32& public_key, Bytes& record);
    bool remove(const Bytes32& topic, const Bytes32& public_key);
    std::vector<Entry>* list(const Bytes32& topic);
  };
  static std::size_t weight(const Bytes& record) { return 2 * sizeof(Bytes32) + record.size(); }
  void rotate();

  core::Runtime& runtime_;
  CacheLimits limits_;
  Generation fresh_, stale_;
  std::uint64_t evicted_ = 0;
  GenerationClock clock_;
};

}  // namespace hdht::hyperdht
