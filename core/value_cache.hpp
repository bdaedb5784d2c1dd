// ValueCache: RecordCache<Bytes> with a compact layout, for the mutable and immutable values a
// storing node holds (tens of thousands of ~200-byte values: per-entry overhead dominates).
//
// Same observable semantics as RecordCache (xache plus our byte cap: two generations, rotation
// when the latest one reaches max_size live entries or half of max_bytes, timer rotation through
// GenerationClock, reads move entries of the oldest generation to the latest) except for bytes()
// (see below) and that a read whose moved copy takes the total over the byte cap rotates.
//
// Layout. Each generation is an append-only arena of blocks (4 KiB doubling to 64 KiB; a value
// over 8 KiB gets a block of its own) holding records [key 32][len: 2 bytes, or 4 when the
// first bit is set, big-endian][value], plus an open-addressing index of 32-bit locators
// (block << 16 | offset; linear probing, load <= 0.7 counting tombstones, keyed hash of the key
// read back from the arena). A record costs its weight + 2 bytes + ~6 bytes of index, where a
// node-based map costs ~100 bytes more. Overwrites, erases and reads that move an entry leave
// the old record dead in its arena: its weight still counts in bytes() until its generation is
// dropped, so bytes() is what the arenas really hold and the byte cap bounds memory. (So unlike
// RecordCache, bytes() does not drop on erase.) A rotation frees the oldest arena wholesale.
//
// Threading and lifetime: not thread-safe; runs on the Runtime's executor. Owns its timer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/record_cache.hpp"
#include "core/runtime.hpp"
#include "protocol/bytes.hpp"

namespace hdht::hyperdht {

class ValueCache {
 public:
  ValueCache(core::Runtime& runtime, CacheLimits limits);
  ValueCache(const ValueCache&) = delete;
  ValueCache& operator=(const ValueCache&) = delete;

  void set(const Bytes32& key, ByteView value);

  // The value, moved to the latest generation if it was in the oldest one (xache get). The view
  // points into the arena: valid until the next set/get/erase/clear or rotation (timer ticks
  // run on the same executor, so it is valid for the rest of the caller's handler).
  std::optional<ByteView> view(const Bytes32& key);
  // As view(), copied into a buffer the cache owns (valid until the next call): the
  // RecordCache<Bytes> interface, for tools and tests.
  const Bytes* get(const Bytes32& key);

  bool erase(const Bytes32& key);
  bool contains(const Bytes32& key) const;
  std::size_t size() const noexcept { return latest_.live + oldest_.live; }
  std::size_t bytes() const noexcept { return latest_.bytes + oldest_.bytes; }
  const CacheLimits& limits() const noexcept { return limits_; }
  // Live entries dropped by rotations (a cap or age), as RecordCache::evicted().
  std::uint64_t evicted() const noexcept { return evicted_; }
  void clear();

 private:
  struct Generation {
    std::vector<std::unique_ptr<std::uint8_t[]>> blocks;
    std::size_t block_cap = 0;           // size of blocks[current]
    std::size_t block_used = 0;          // bytes appended to blocks[current]
    std::uint32_t current = UINT32_MAX;  // the block small records are appended to
    std::vector<std::uint32_t> index;    // locators, kEmpty or kTomb; size a power of two
    std::size_t live = 0;                // entries in the index
    std::size_t occupied = 0;            // live + tombstones
    std::size_t bytes = 0;               // weight of every record appended, live or dead

    const std::uint8_t* at(std::uint32_t loc) const noexcept {
      return blocks[loc >> 16].get() + (loc & 0xFFFF);
    }
    // The index slot holding key, or SIZE_MAX.
    std::size_t find(const Bytes32& key) const noexcept;
    // Appends a record and indexes it (key must be absent); false if the generation cannot
    // take another block (65,535 of them).
    bool insert(const Bytes32& key, ByteView value);
    void tombstone(std::size_t slot) noexcept;
    void grow_index();
  };

  static ByteView value_of(const std::uint8_t* record) noexcept;
  static std::size_t weight(std::size_t value_size) noexcept {
    return sizeof(Bytes32) + value_size;
  }

  void rotate();

  CacheLimits limits_;
  Generation latest_, oldest_;
  Bytes scratch_;
  std::uint64_t evicted_ = 0;
  GenerationClock clock_;
};

}  // namespace hdht::hyperdht
