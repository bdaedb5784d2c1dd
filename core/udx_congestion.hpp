// The congestion window of a UDX stream, in packets. THIS IS NOT YET libudx's BBR (spec §4): it
// is a plain NewReno-style window (slow start, +1 packet per window in avoidance, halve on fast
// recovery, back to the minimum on RTO) with libudx's initial and minimum windows, so transfers
// work and back off under loss while BBR is being written. It is no more aggressive than BBR's
// STARTUP (which doubles per round as this does) and less aggressive after loss.
#pragma once

#include <cstdint>

namespace hdht::core {

inline constexpr std::uint32_t kUdxInitialCwnd = 10;  // packets
inline constexpr std::uint32_t kUdxMinCwnd = 4;       // BBR's floor
inline constexpr std::uint32_t kUdxInitialSsthresh = 0xFFFF;
inline constexpr std::uint32_t kUdxMaxCwnd = 8192;  // beyond any receive window we meet

class UdxCongestion {
 public:
  // `acked` packets newly delivered (cumulatively or by SACK) while not in recovery.
  void on_ack(std::uint32_t acked) noexcept;
  // Entering fast recovery (first loss detected by RACK while open).
  void on_fast_recovery() noexcept;
  // The retransmission timer fired.
  void on_rto() noexcept;

  std::uint32_t cwnd() const noexcept { return cwnd_; }
  std::uint32_t ssthresh() const noexcept { return ssthresh_; }

 private:
  std::uint32_t cwnd_ = kUdxInitialCwnd;
  std::uint32_t ssthresh_ = kUdxInitialSsthresh;
  std::uint32_t acc_ = 0;  // packets acked toward the next +1 in congestion avoidance
};

}  // namespace hdht::core
