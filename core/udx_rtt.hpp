// The RTT estimator and retransmission timeout of libudx (ack_packet, clamp_rtt; spec
// ../shared/spec/udx.md §3.4): integer milliseconds, RFC 6298 gains, 1 s floor, 30 s cap, and
// libudx's outlier clamp for samples taken across a suspend.
#pragma once

#include <cstdint>

namespace hdht::core {

inline constexpr std::uint32_t kUdxRtoMinMs = 1000;
inline constexpr std::uint32_t kUdxRtoMaxMs = 30000;  // UDX_RTO_MAX_MS
inline constexpr std::uint32_t kUdxRttOutlierMs = 5000;
inline constexpr std::uint32_t kUdxInitialRtoMs = 1000;

class UdxRtt {
 public:
  // One sample in ms from a packet that was never retransmitted (Karn).
  void sample(std::uint32_t rtt_ms) noexcept;

  std::uint32_t srtt() const noexcept { return srtt_; }
  std::uint32_t rttvar() const noexcept { return rttvar_; }
  std::uint32_t rto() const noexcept { return rto_; }
  bool has_sample() const noexcept { return samples_ > 0; }
  std::uint64_t samples() const noexcept { return samples_; }

 private:
  std::uint32_t srtt_ = 0;
  std::uint32_t rttvar_ = 0;
  std::uint32_t rto_ = kUdxInitialRtoMs;
  std::uint64_t samples_ = 0;
};

}  // namespace hdht::core
