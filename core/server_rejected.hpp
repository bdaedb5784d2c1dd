// RejectedHandshakes: the msg1s a Server rejected (undecryptable, refused by the firewall) during
// the last handshake_clear_wait, so that a copy of one (a dht-rpc retransmission, or a replay) is
// dropped without a second Noise attempt or firewall call. The reference keeps the whole
// handshake in `_connects` for that and answers a duplicate with null (no reply); a tombstone is
// all that answer needs, so a rejected msg1 holds ~60 bytes here instead of a handshake slot.
//
// An entry is 64 bits of a BLAKE2b keyed with a per-server random secret (nobody can aim a msg1
// at another's entry, or all of theirs at one hash bucket) and its expiry; all entries live the
// same time, so the oldest is first to expire. At most `capacity` are kept: beyond that the oldest
// is forgotten early, which only means a late copy of it is decrypted and rejected again (the
// reply is the same silence).
//
// Not thread-safe; runs on the node's executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_set>

#include "core/runtime.hpp"
#include "protocol/bytes.hpp"

namespace hdht::hyperdht {

class RejectedHandshakes {
 public:
  explicit RejectedHandshakes(std::size_t capacity);

  // The key of a msg1 in this set (keyed: only this set's keys are comparable).
  std::uint64_t key_of(ByteView msg1) const;
  // True while `key` is remembered and has not expired at `now`.
  bool contains(std::uint64_t key, core::TimePoint now);
  // Remembers `key` until `expires` (a key already there keeps its first expiry).
  void add(std::uint64_t key, core::TimePoint expires);
  void clear();

  std::size_t size() const noexcept { return keys_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  // Entries forgotten before their expiry because the set was full.
  std::uint64_t evicted() const noexcept { return evicted_; }

 private:
  struct Entry {
    std::uint64_t key;
    core::TimePoint expires;
  };
  void expire(core::TimePoint now);

  Bytes32 secret_{};
  std::size_t capacity_;
  std::deque<Entry> order_;  // oldest (first to expire) first
  std::unordered_set<std::uint64_t> keys_;
  std::uint64_t evicted_ = 0;
};

}  // namespace hdht::hyperdht
