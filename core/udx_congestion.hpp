// The congestion controller of a UDX stream: delivery-rate sampling (UdxRateSampler) feeding
// BBR v1 (UdxBbr), as libudx wires them in udx.c (spec ../shared/spec/udx.md §4). The stream
// reports transmissions, deliveries and loss events; this answers with cwnd (packets) and the
// pacing rate (bytes/ms) that UdxPacer spends. All times are milliseconds of the runtime clock.
#pragma once

#include <cstdint>

#include "core/udx_bbr.hpp"
#include "core/udx_rate.hpp"

namespace hdht::core {

class UdxCongestion {
 public:
  UdxCongestion(std::int64_t now_ms, std::uint32_t max_payload) : bbr_(now_ms, max_payload) {}

  // Before a packet is (re)transmitted: libudx's app-limited test, on the state before it.
  void before_send(std::uint64_t unacked_bytes, std::uint32_t max_payload, std::uint32_t inflight,
                   bool retransmits_queued) {
    rate_.check_app_limited(unacked_bytes, max_payload, inflight, bbr_.cwnd(), retransmits_queued);
  }
  // The stamp for the packet going out now; `idle` when nothing was unacked.
  UdxRatePacket on_sent(bool idle, std::int64_t now_ms) { return rate_.on_sent(idle, now_ms); }
  // After sending with nothing in flight before.
  void on_transmit_start(const UdxBbrContext& ctx) { bbr_.on_transmit_start(ctx, rate_); }

  // One packet delivered for the first time while processing an ack. `rtt_ms` is its RTT if it
  // can be trusted (never retransmitted, or not faster than the minimum RTT), else -1.
  void on_delivered(const UdxRatePacket& stamp, std::int64_t sent_ms, std::uint32_t seq,
                    bool retransmitted, std::int64_t rtt_ms);
  // After an ack that found data in flight: completes the rate sample and runs BBR.
  // `min_rtt_ms`: the stream's minimum RTT (kUdxNoMinRtt before the first sample).
  void on_ack(std::uint32_t acked, std::uint32_t lost, std::int64_t min_rtt_ms,
              const UdxBbrContext& ctx);
  void on_enter_recovery() noexcept { bbr_.on_enter_recovery(); }
  void on_rto() noexcept { bbr_.on_rto(); }

  std::uint32_t cwnd() const noexcept { return bbr_.cwnd(); }
  std::uint32_t ssthresh() const noexcept { return bbr_.ssthresh(); }
  std::uint64_t pacing_bytes_per_ms() const noexcept { return bbr_.pacing_bytes_per_ms(); }
  const UdxBbr& bbr() const noexcept { return bbr_; }
  const UdxRateSampler& rate() const noexcept { return rate_; }
  const UdxRateSample& last_sample() const noexcept { return last_; }

 private:
  UdxRateSampler rate_;
  UdxBbr bbr_;
  UdxRateSample sample_;  // being filled by the current ack
  UdxRateSample last_;    // the last completed one, for tests and metrics
};

}  // namespace hdht::core
