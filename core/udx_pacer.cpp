#include "core/udx_pacer.hpp"

namespace hdht::core {

bool UdxPacer::may_send(std::int64_t now_ms, std::uint64_t bytes_per_ms) noexcept {
  if (now_ms > last_refill_ms_) {
    budget_ = static_cast<std::uint64_t>(now_ms - last_refill_ms_) * bytes_per_ms;
    last_refill_ms_ = now_ms;
  }
  return budget_ > 0;
}

bool UdxPacer::charge(std::uint64_t bytes) noexcept {
  budget_ = bytes >= budget_ ? 0 : budget_ - bytes;
  return budget_ == 0;
}

}  // namespace hdht::core
