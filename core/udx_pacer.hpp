// The pacing token bucket of a UDX stream (libudx update_pacing_time, stream_may_send,
// _send_packet; spec ../shared/spec/udx.md §4.2). Pure bookkeeping: the stream owns the 1 ms
// resume timer. The budget is *set*, not topped up, at most once per millisecond of the clock to
// elapsed_ms × rate, so an idle sender gets one burst's worth back, not an unbounded credit
// beyond that; a packet may leave while the budget is above zero and costs its UDX size.
#pragma once

#include <cstdint>

namespace hdht::core {

inline constexpr std::uint64_t kUdxInitialPacingBudget = 25000;  // UDX_INIT_PACING_RATE, bytes
inline constexpr std::int64_t kUdxPacingResumeMs = 1;

class UdxPacer {
 public:
  explicit UdxPacer(std::int64_t now_ms) noexcept : last_refill_ms_(now_ms) {}

  // Refreshes the budget from `bytes_per_ms` if the clock has moved to a new millisecond, and
  // says whether a packet may be sent now.
  bool may_send(std::int64_t now_ms, std::uint64_t bytes_per_ms) noexcept;
  // Charges a sent packet (header + payload). True when that emptied the budget: sending must
  // wait for the resume timer.
  bool charge(std::uint64_t bytes) noexcept;

  std::uint64_t budget() const noexcept { return budget_; }

 private:
  std::uint64_t budget_ = kUdxInitialPacingBudget;
  std::int64_t last_refill_ms_;
};

}  // namespace hdht::core
