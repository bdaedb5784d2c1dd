#include "core/udx_rtt.hpp"

#include <algorithm>

namespace hdht::core {

void UdxRtt::sample(std::uint32_t rtt_ms) noexcept {
  ++samples_;
  // libudx treats srtt == 0 as "no estimate yet", so after a 0 ms sample (loopback) the next
  // sample starts the estimate afresh. Reproduced so both sides compute the same rto.
  if (srtt_ == 0) {
    const std::uint32_t r = std::min(rtt_ms, kUdxRtoMaxMs);
    srtt_ = r;
    rttvar_ = r / 2;
  } else {
    std::uint32_t r = rtt_ms;
    const std::uint64_t bound = std::uint64_t{srtt_} + 5ULL * rttvar_;
    // A sample far above the estimate is most likely a suspended process, not the path.
    if (r > kUdxRttOutlierMs && r > bound)
      r = static_cast<std::uint32_t>(std::min<std::uint64_t>(bound, kUdxRtoMaxMs));
    const std::uint32_t delta = srtt_ > r ? srtt_ - r : r - srtt_;
    rttvar_ = static_cast<std::uint32_t>((3ULL * rttvar_ + delta) / 4);
    srtt_ = static_cast<std::uint32_t>((7ULL * srtt_ + r) / 8);
  }
  const std::uint64_t rto = std::uint64_t{srtt_} + 4ULL * rttvar_;
  rto_ = static_cast<std::uint32_t>(
      std::min<std::uint64_t>(std::max<std::uint64_t>(rto, kUdxRtoMinMs), kUdxRtoMaxMs));
}

}  // namespace hdht::core
