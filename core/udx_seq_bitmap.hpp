// Which sequence numbers ahead of the cumulative ack are held out of order: one bit per seq in
// a window of 65536 (the receiver drops anything further ahead), so building SACK blocks is a
// scan over machine words instead of one hash lookup per sequence number — it runs for every
// ack while a gap is open.
#pragma once

#include <array>
#include <cstdint>

namespace hdht::core {

class UdxSeqBitmap {
 public:
  static constexpr std::uint32_t kSize = 65536;

  void set(std::uint32_t seq) noexcept { words_[word(seq)] |= bit(seq); }
  void clear(std::uint32_t seq) noexcept { words_[word(seq)] &= ~bit(seq); }
  bool test(std::uint32_t seq) const noexcept { return (words_[word(seq)] & bit(seq)) != 0; }
  // The distance from `from` to the first seq in [from, from + limit) whose bit equals
  // `value`; `limit` if there is none. limit <= kSize.
  std::uint32_t find(std::uint32_t from, std::uint32_t limit, bool value) const noexcept;

 private:
  static std::uint32_t word(std::uint32_t seq) noexcept { return (seq & (kSize - 1)) >> 6; }
  static std::uint64_t bit(std::uint32_t seq) noexcept { return std::uint64_t{1} << (seq & 63); }

  std::array<std::uint64_t, kSize / 64> words_{};
};

}  // namespace hdht::core
