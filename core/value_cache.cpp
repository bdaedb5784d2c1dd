#include "core/value_cache.hpp"

#include <algorithm>
#include <cstring>
#include <initializer_list>

namespace hdht::hyperdht {

namespace {

constexpr std::uint32_t kEmpty = 0xFFFFFFFF;
constexpr std::uint32_t kTomb = 0xFFFFFFFE;
// Block indexes 0..0xFFFE: the largest locator, 0xFFFEFFFF, stays below kTomb.
constexpr std::size_t kMaxBlocks = 0xFFFF;
constexpr std::size_t kFirstBlock = 4 << 10;  // small caches stay small
constexpr std::size_t kMaxBlock = 64 << 10;   // offsets fit in 16 bits
// Larger records get a block of their own, so a block's unusable tail stays under 1/8 of it.
constexpr std::size_t kLargeRecord = kMaxBlock / 8;
constexpr std::size_t kMaxValue = 0x7FFFFFFF;  // the 4-byte length form

std::size_t len_size(std::size_t n) {
  return n < 0x8000 ? 2 : 4;
}

Bytes32 key_at(const std::uint8_t* record) {
  Bytes32 k;
  std::memcpy(k.data(), record, k.size());
  return k;
}

}  // namespace

ValueCache::ValueCache(core::Runtime& runtime, CacheLimits limits)
    : limits_(limits), clock_(runtime, limits.max_age, [this] { rotate(); }) {}

ByteView ValueCache::value_of(const std::uint8_t* record) noexcept {
  const std::uint8_t* p = record + sizeof(Bytes32);
  if (p[0] & 0x80) {
    const std::size_t n = (std::size_t(p[0] & 0x7F) << 24) | (std::size_t(p[1]) << 16) |
                          (std::size_t(p[2]) << 8) | p[3];
    return {p + 4, n};
  }
  return {p + 2, (std::size_t(p[0]) << 8) | p[1]};
}

std::size_t ValueCache::Generation::find(const Bytes32& key) const noexcept {
  if (live == 0) return SIZE_MAX;
  const std::size_t mask = index.size() - 1;
  for (std::size_t i = Key32Hash{}(key)&mask;; i = (i + 1) & mask) {
    const std::uint32_t loc = index[i];
    if (loc == kEmpty) return SIZE_MAX;  // the load cap guarantees an empty slot
    if (loc != kTomb && std::memcmp(at(loc), key.data(), key.size()) == 0) return i;
  }
}

void ValueCache::Generation::grow_index() {
  // Rehash at the same size when tombstones filled it, else double: at most 35% live after.
  std::size_t n = index.empty() ? 16 : index.size();
  while ((live + 1) * 20 > n * 7)
    n *= 2;
  std::vector<std::uint32_t> old(n, kEmpty);
  old.swap(index);
  const std::size_t mask = n - 1;
  for (const std::uint32_t loc : old) {
    if (loc == kEmpty || loc == kTomb) continue;
    std::size_t i = Key32Hash{}(key_at(at(loc))) & mask;
    while (index[i] != kEmpty)
      i = (i + 1) & mask;
    index[i] = loc;
  }
  occupied = live;
}

bool ValueCache::Generation::insert(const Bytes32& key, ByteView value) {
  const std::size_t n = value.size();
  const std::size_t rec = sizeof(Bytes32) + len_size(n) + n;
  std::uint32_t loc = 0;
  if (rec > kLargeRecord) {
    if (blocks.size() >= kMaxBlocks) return false;
    loc = static_cast<std::uint32_t>(blocks.size()) << 16;
    blocks.push_back(std::make_unique_for_overwrite<std::uint8_t[]>(rec));
  } else {
    if (current == UINT32_MAX || block_used + rec > block_cap) {
      if (blocks.size() >= kMaxBlocks) return false;
      block_cap = block_cap == 0 ? kFirstBlock : std::min(block_cap * 2, kMaxBlock);
      block_cap = std::max(block_cap, rec);
      current = static_cast<std::uint32_t>(blocks.size());
      blocks.push_back(std::make_unique_for_overwrite<std::uint8_t[]>(block_cap));
      block_used = 0;
    }
    loc = (current << 16) | static_cast<std::uint32_t>(block_used);
    block_used += rec;
  }
  std::uint8_t* p = blocks[loc >> 16].get() + (loc & 0xFFFF);
  std::memcpy(p, key.data(), key.size());
  p += key.size();
  if (n < 0x8000) {
    *p++ = static_cast<std::uint8_t>(n >> 8);
    *p++ = static_cast<std::uint8_t>(n);
  } else {
    *p++ = static_cast<std::uint8_t>(0x80 | (n >> 24));
    *p++ = static_cast<std::uint8_t>(n >> 16);
    *p++ = static_cast<std::uint8_t>(n >> 8);
    *p++ = static_cast<std::uint8_t>(n);
  }
  if (n > 0) std::memcpy(p, value.data(), n);

  if ((occupied + 1) * 10 > index.size() * 7) grow_index();
  const std::size_t mask = index.size() - 1;
  std::size_t i = Key32Hash{}(key)&mask;
  while (index[i] != kEmpty && index[i] != kTomb)  // key is absent: the first free slot will do
    i = (i + 1) & mask;
  if (index[i] == kEmpty) ++occupied;
  index[i] = loc;
  ++live;
  bytes += sizeof(Bytes32) + n;
  return true;
}

void ValueCache::Generation::tombstone(std::size_t slot) noexcept {
  // Before an empty slot no probe sequence continues, so the slot can go back to empty.
  const std::size_t next = (slot + 1) & (index.size() - 1);
  if (index[next] == kEmpty) {
    index[slot] = kEmpty;
    --occupied;
  } else {
    index[slot] = kTomb;
  }
  --live;
}

void ValueCache::set(const Bytes32& key, ByteView value) {
  erase(key);
  if (value.size() > kMaxValue) return;  // larger than any cap could hold anyway
  if (!latest_.insert(key, value)) {
    rotate();
    latest_.insert(key, value);
  }
  // As RecordCache: half the byte cap per generation, then whole generations dropped until the
  // total fits (dead records count: they are still held).
  if (latest_.live >= limits_.max_size || latest_.bytes >= limits_.max_bytes / 2) rotate();
  while (bytes() > limits_.max_bytes)
    rotate();
}

std::optional<ByteView> ValueCache::view(const Bytes32& key) {
  if (const std::size_t s = latest_.find(key); s != SIZE_MAX)
    return value_of(latest_.at(latest_.index[s]));
  const std::size_t s = oldest_.find(key);
  if (s == SIZE_MAX) return std::nullopt;
  const ByteView v = value_of(oldest_.at(oldest_.index[s]));
  oldest_.tombstone(s);  // its record stays in the oldest arena, which v points into
  if (!latest_.insert(key, v)) {
    const Bytes copy(v.begin(), v.end());  // the rotation frees the arena v points into
    rotate();
    latest_.insert(key, copy);
  }
  // The dead copy in the oldest generation may take the total over the cap: one rotation
  // suffices (the oldest held at least this record's weight), and keeps the moved record.
  while (bytes() > limits_.max_bytes)
    rotate();
  for (const Generation* g : {&latest_, &oldest_}) {
    if (const std::size_t slot = g->find(key); slot != SIZE_MAX)
      return value_of(g->at(g->index[slot]));
  }
  return std::nullopt;
}

const Bytes* ValueCache::get(const Bytes32& key) {
  const auto v = view(key);
  if (!v) return nullptr;
  scratch_.assign(v->begin(), v->end());
  return &scratch_;
}

bool ValueCache::erase(const Bytes32& key) {
  if (const std::size_t s = latest_.find(key); s != SIZE_MAX) {
    latest_.tombstone(s);
    return true;
  }
  if (const std::size_t s = oldest_.find(key); s != SIZE_MAX) {
    oldest_.tombstone(s);
    return true;
  }
  return false;
}

bool ValueCache::contains(const Bytes32& key) const {
  return latest_.find(key) != SIZE_MAX || oldest_.find(key) != SIZE_MAX;
}

void ValueCache::clear() {
  latest_ = Generation{};
  oldest_ = Generation{};
  scratch_ = Bytes{};
  clock_.note_rotation();
}

void ValueCache::rotate() {
  clock_.note_rotation();
  evicted_ += oldest_.live;
  oldest_ = std::move(latest_);
  latest_ = Generation{};
}

}  // namespace hdht::hyperdht
