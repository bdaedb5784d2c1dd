#include "core/udx_congestion.hpp"

#include <algorithm>

namespace hdht::core {

void UdxCongestion::on_ack(std::uint32_t acked) noexcept {
  if (cwnd_ < ssthresh_) {
    cwnd_ = std::min(cwnd_ + acked, kUdxMaxCwnd);
    return;
  }
  acc_ += acked;
  while (acc_ >= cwnd_) {
    acc_ -= cwnd_;
    cwnd_ = std::min(cwnd_ + 1, kUdxMaxCwnd);
  }
}

void UdxCongestion::on_fast_recovery() noexcept {
  ssthresh_ = std::max(cwnd_ / 2, kUdxMinCwnd);
  cwnd_ = ssthresh_;
  acc_ = 0;
}

void UdxCongestion::on_rto() noexcept {
  ssthresh_ = std::max(cwnd_ / 2, kUdxMinCwnd);
  cwnd_ = kUdxMinCwnd;
  acc_ = 0;
}

}  // namespace hdht::core
