#include "core/record_cache.hpp"

#include <array>
#include <cstring>

#include "protocol/crypto.hpp"

namespace hdht::hyperdht {

namespace {

std::array<std::uint64_t, 5> make_hash_key() {
  std::array<std::uint8_t, 5 * sizeof(std::uint64_t)> raw{};
  crypto::random_bytes(raw);
  std::array<std::uint64_t, 5> key{};
  std::memcpy(key.data(), raw.data(), raw.size());
  for (std::size_t i = 1; i < key.size(); ++i)
    key[i] |= 1;  // odd multipliers
  return key;
}

}  // namespace

std::size_t Key32Hash::operator()(const Bytes32& k) const noexcept {
  static const std::array<std::uint64_t, 5> key = make_hash_key();
  std::uint64_t h = key[0];
  for (std::size_t i = 0; i < 4; ++i) {
    std::uint64_t w = 0;
    std::memcpy(&w, k.data() + 8 * i, sizeof(w));
    h += w * key[i + 1];
  }
  return static_cast<std::size_t>(h ^ (h >> 29));
}

GenerationClock::GenerationClock(core::Runtime& runtime, core::Duration max_age,
                                 std::function<void()> rotate)
    : timer_(runtime), rotate_(std::move(rotate)) {
  if (max_age <= core::Duration::zero()) return;
  // ceil(2/3 * maxAge) in milliseconds, as the reference's setInterval.
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(max_age * 2 / 3);
  tick_ = ms;
  arm();
}

void GenerationClock::arm() {
  timer_.expires_after(tick_, [this] {
    if (!rotated_) rotate_();
    rotated_ = false;
    arm();
  });
}

}  // namespace hdht::hyperdht
