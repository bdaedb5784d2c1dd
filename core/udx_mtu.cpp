#include "core/udx_mtu.hpp"

#include <algorithm>

namespace hdht::core {

void UdxMtuProber::reset() noexcept {
  *this = UdxMtuProber{};
}

void UdxMtuProber::set_path_limit(std::uint32_t os_mtu) noexcept {
  if (os_mtu == 0 || os_mtu > kUdxMtuMax) {
    limit_ = kUdxMtuMax;
    return;
  }
  limit_ = os_mtu;
  if (os_mtu <= kUdxMtuBase) {
    state_ = UdxMtuState::complete;
    probe_wanted_ = false;
  }
}

std::optional<std::uint8_t> UdxMtuProber::probe_padding(std::uint32_t payload) const noexcept {
  if (!probe_wanted_ || state_ != UdxMtuState::search || payload == 0) return std::nullopt;
  const std::uint32_t size = payload + kUdxIpv4Overhead;
  // Only padding, never splitting: a packet already at or above the size, or one that would
  // need more than the one-byte data offset can say, is sent as it is. (libudx a9af5de has this
  // comparison reversed and never probes; udx-native 1.21.3 probes as here.)
  if (size > probe_size_ || probe_size_ - size > 255) return std::nullopt;
  return static_cast<std::uint8_t>(probe_size_ - size);
}

void UdxMtuProber::on_probe_sent() noexcept {
  ++probe_count_;
  probe_wanted_ = false;
}

void UdxMtuProber::on_acked(bool was_probe) noexcept {
  if (state_ == UdxMtuState::search && probe_count_ > 0 && was_probe) {
    probe_count_ = 0;
    mtu_ = probe_size_;
    if (probe_size_ >= limit_) {
      state_ = UdxMtuState::complete;
    } else {
      probe_size_ = std::min(probe_size_ + kUdxMtuStep, limit_);
      probe_wanted_ = true;
    }
  }
  // Anything acked proves the path carries the base size: start searching.
  if (state_ == UdxMtuState::base) {
    state_ = UdxMtuState::search;
    probe_wanted_ = true;
  }
}

void UdxMtuProber::on_probe_lost() noexcept {
  if (state_ != UdxMtuState::search) return;
  if (probe_count_ >= kUdxMtuMaxProbes)
    state_ = UdxMtuState::complete;
  else
    probe_wanted_ = true;
}

}  // namespace hdht::core
