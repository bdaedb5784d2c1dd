// RecordCache: the two-generation expiring map hyperdht stores its values in (the `xache`
// package). New and recently read entries live in the latest generation; a rotation makes the
// latest generation the oldest and drops the previous oldest. Rotations happen when the latest
// generation reaches max_size (as xache) or half of max_bytes (our cap: xache has none; the
// total never exceeds it), and on a timer every ceil(2/3 max_age) unless a rotation happened since
// the last tick, so an entry lives between 2/3 and 4/3 of max_age after its last write or read.
//
// Keys are 32-byte hashes (the reference keys its maps by their hex). The weight of an entry is
// its key plus record_weight(value) bytes.
//
// The stored mutable and immutable values use ValueCache (value_cache.hpp) instead: the same
// semantics without a map node and a heap buffer per entry.
//
// Threading and lifetime: not thread-safe; runs on the Runtime's executor. Owns its timer.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <optional>
#include <unordered_map>
#include <utility>

#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "protocol/bytes.hpp"

namespace hdht::hyperdht {

struct CacheLimits {
  std::size_t max_size = 0;          // entries per generation (xache maxSize)
  core::Duration max_age{};          // 0 = never expire by time
  std::size_t max_bytes = 64 << 20;  // both generations together
};

// Hashes a 32-byte key for the unordered maps. Topics are chosen by remote peers, so the hash is
// keyed with per-process random multipliers (multilinear hashing): without the key nobody can
// aim many topics at one bucket.
struct Key32Hash {
  std::size_t operator()(const Bytes32& k) const noexcept;
};

inline std::size_t record_weight(const Bytes& v) {
  return v.size();
}
inline std::size_t record_weight(std::uint64_t) {
  return sizeof(std::uint64_t);
}

// The periodic rotation of a two-generation cache: calls rotate() every ceil(2/3 max_age)
// unless a rotation happened since the previous tick (xache and record-cache _gcAuto).
class GenerationClock {
 public:
  GenerationClock(core::Runtime& runtime, core::Duration max_age, std::function<void()> rotate);
  void note_rotation() noexcept { rotated_ = true; }

 private:
  void arm();
  core::Timer timer_;
  core::Duration tick_{};
  std::function<void()> rotate_;
  bool rotated_ = false;
};

template <class V>
class RecordCache {
 public:
  RecordCache(core::Runtime& runtime, CacheLimits limits)
      : limits_(limits), clock_(runtime, limits.max_age, [this] { rotate(); }) {}
  RecordCache(const RecordCache&) = delete;
  RecordCache& operator=(const RecordCache&) = delete;

  void set(const Bytes32& key, V value) {
    const std::size_t w = weight(value);
    erase(key);
    latest_.insert_or_assign(key, std::move(value));
    latest_bytes_ += w;
    // Our byte cap works like xache's count: half of it per generation, and if one generation
    // grew past the whole cap (reads move entries into the latest one) drop until it fits.
    if (latest_.size() >= limits_.max_size || latest_bytes_ >= limits_.max_bytes / 2) rotate();
    while (bytes() > limits_.max_bytes && size() > 0)
      rotate();
  }

  // Reading an entry of the oldest generation moves it back to the latest one (xache get).
  const V* get(const Bytes32& key) {
    if (auto it = latest_.find(key); it != latest_.end()) return &it->second;
    auto it = oldest_.find(key);
    if (it == oldest_.end()) return nullptr;
    const std::size_t w = weight(it->second);
    oldest_bytes_ -= w;
    latest_bytes_ += w;
    auto node = oldest_.extract(it);
    auto res = latest_.insert(std::move(node));
    return &res.position->second;
  }

  bool erase(const Bytes32& key) {
    if (auto it = latest_.find(key); it != latest_.end()) {
      latest_bytes_ -= weight(it->second);
      latest_.erase(it);
      return true;
    }
    if (auto it = oldest_.find(key); it != oldest_.end()) {
      oldest_bytes_ -= weight(it->second);
      oldest_.erase(it);
      return true;
    }
    return false;
  }

  bool contains(const Bytes32& key) const { return latest_.contains(key) || oldest_.contains(key); }
  std::size_t size() const noexcept { return latest_.size() + oldest_.size(); }
  std::size_t bytes() const noexcept { return latest_bytes_ + oldest_bytes_; }
  const CacheLimits& limits() const noexcept { return limits_; }
  // Entries dropped by rotations (a cap or age), not by erase() or clear(): what a flood of
  // writes displaced.
  std::uint64_t evicted() const noexcept { return evicted_; }

  void clear() {
    latest_.clear();
    oldest_.clear();
    latest_bytes_ = oldest_bytes_ = 0;
    clock_.note_rotation();
  }

 private:
  static std::size_t weight(const V& v) { return sizeof(Bytes32) + record_weight(v); }

  void rotate() {
    clock_.note_rotation();
    evicted_ += oldest_.size();
    oldest_ = std::move(latest_);
    oldest_bytes_ = latest_bytes_;
    latest_ = {};
    latest_bytes_ = 0;
  }

  using Map = std::unordered_map<Bytes32, V, Key32Hash>;
  CacheLimits limits_;
  Map latest_, oldest_;
  std::size_t latest_bytes_ = 0, oldest_bytes_ = 0;
  std::uint64_t evicted_ = 0;
  GenerationClock clock_;
};

}  // namespace hdht::hyperdht
