// Delivery-rate sampling for UDX congestion control (libudx src/udx_rate.c; spec
// ../shared/spec/udx.md §4.1), after the Linux "delivery rate estimation" design: every packet
// remembers how much had been delivered, and when, at the time it was sent; the ack that
// delivers it turns the difference into a rate over max(send interval, ack interval). Counts
// are packets, times are milliseconds of the runtime clock (libudx uses libuv's 1 ms loop time,
// and BBR's constants assume that resolution).
#pragma once

#include <cstdint>
#include <limits>

namespace hdht::core {

// The delivery state stamped on a packet each time it is (re)transmitted.
struct UdxRatePacket {
  bool valid = false;
  std::int64_t first_sent_ms = 0;  // start of the send interval this packet belongs to
  std::int64_t delivered_ms = 0;   // when `delivered` was reached
  std::uint32_t delivered = 0;     // packets delivered when this one was sent
  bool app_limited = false;
};

// One ack's worth of evidence, filled packet by packet and completed by generate().
struct UdxRateSample {
  bool has_prior = false;  // at least one delivered packet carried a valid stamp
  std::uint32_t prior_delivered = 0;
  std::int64_t prior_ms = 0;
  std::uint32_t seq = 0;          // of the packet the sample was taken from
  std::int64_t delivered = -1;    // packets delivered over the interval; -1: no sample
  std::int64_t interval_ms = -1;  // -1: no usable interval
  std::int64_t snd_interval_ms = 0;
  std::int64_t rcv_interval_ms = 0;
  std::int64_t rtt_ms = -1;        // of the last packet with a trustworthy RTT; -1: none
  std::uint32_t acked_sacked = 0;  // packets newly delivered by this ack
  std::uint32_t losses = 0;        // packets newly marked lost while processing this ack
  bool app_limited = false;
  bool retransmitted = false;
};

inline constexpr std::int64_t kUdxNoMinRtt = std::numeric_limits<std::int64_t>::max();

class UdxRateSampler {
 public:
  // Before every transmission: the sender is app-limited when almost nothing is left to send
  // (less than one payload written and unacked), the window is not full and nothing waits for
  // retransmission. The mark lasts until everything then in flight is delivered.
  void check_app_limited(std::uint64_t unacked_bytes, std::uint32_t max_payload,
                         std::uint32_t inflight, std::uint32_t cwnd, bool retransmits_queued);
  // Marks the sender app-limited now (BBR's PROBE_RTT: its deliberately small window must not
  // read as a lower bandwidth).
  void mark_app_limited(std::uint32_t inflight);
  // The stamp for a packet being sent now. `idle`: nothing was unacked, so a new flight starts.
  UdxRatePacket on_sent(bool idle, std::int64_t now_ms);
  // One packet delivered (acked or SACKed) for the first time, while processing one ack.
  void on_delivered(const UdxRatePacket& stamp, std::int64_t sent_ms, std::uint32_t seq,
                    bool retransmitted, UdxRateSample& rs);
  // Completes rs after an ack. Samples over an interval shorter than `min_rtt_ms` (the stream's
  // minimum RTT, kUdxNoMinRtt before the first) are discarded: they would overstate the rate.
  void generate(std::uint32_t acked, std::uint32_t lost, std::int64_t now_ms,
                std::int64_t min_rtt_ms, UdxRateSample& rs);

  std::uint32_t delivered() const noexcept { return delivered_; }
  std::int64_t delivered_ms() const noexcept { return delivered_ms_; }
  // 0: not app-limited; else app-limited until delivered() passes this count.
  std::uint32_t app_limited() const noexcept { return app_limited_; }

 private:
  std::uint32_t delivered_ = 0;
  std::int64_t delivered_ms_ = 0;
  std::int64_t first_sent_ms_ = 0;  // send time of the most recently sent packet yet delivered
  // libudx starts app-limited (~0); the first generate() clears it.
  std::uint32_t app_limited_ = std::numeric_limits<std::uint32_t>::max();
};

}  // namespace hdht::core
