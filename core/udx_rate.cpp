#include "core/udx_rate.hpp"

#include <algorithm>

#include "protocol/udx_packet.hpp"

namespace hdht::core {

namespace {

// Sent later, ties broken by sequence (RACK's ordering).
bool sent_after(std::int64_t t1, std::uint32_t seq1, std::int64_t t2, std::uint32_t seq2) {
  return t1 > t2 || (t1 == t2 && udx::seq_compare(seq1, seq2) > 0);
}

}  // namespace

void UdxRateSampler::check_app_limited(std::uint64_t unacked_bytes, std::uint32_t max_payload,
                                       std::uint32_t inflight, std::uint32_t cwnd,
                                       bool retransmits_queued) {
  if (unacked_bytes < max_payload && inflight < cwnd && !retransmits_queued)
    mark_app_limited(inflight);
}

void UdxRateSampler::mark_app_limited(std::uint32_t inflight) {
  // 0 means "not limited", so a bubble ending at count 0 is stored as 1.
  const std::uint32_t until = delivered_ + inflight;
  app_limited_ = until != 0 ? until : 1;
}

UdxRatePacket UdxRateSampler::on_sent(bool idle, std::int64_t now_ms) {
  if (idle) {
    // Nothing in flight: the intervals of this flight start now, not at the last ack.
    first_sent_ms_ = now_ms;
    delivered_ms_ = now_ms;
  }
  return {true, first_sent_ms_, delivered_ms_, delivered_, app_limited_ != 0};
}

void UdxRateSampler::on_delivered(const UdxRatePacket& stamp, std::int64_t sent_ms,
                                  std::uint32_t seq, bool retransmitted, UdxRateSample& rs) {
  if (stamp.valid && (!rs.has_prior || sent_after(sent_ms, seq, first_sent_ms_, rs.seq))) {
    // The sample follows the most recently sent of the packets this ack delivers.
    rs.has_prior = true;
    rs.prior_delivered = stamp.delivered;
    rs.prior_ms = stamp.delivered_ms;
    rs.app_limited = stamp.app_limited;
    rs.retransmitted = retransmitted;
    rs.seq = seq;
    first_sent_ms_ = sent_ms;
    rs.interval_ms = std::max<std::int64_t>(first_sent_ms_ - stamp.first_sent_ms, 0);
  }
  ++delivered_;
}

void UdxRateSampler::generate(std::uint32_t acked, std::uint32_t lost, std::int64_t now_ms,
                              std::int64_t min_rtt_ms, UdxRateSample& rs) {
  // The app-limited bubble is over once everything sent during it is delivered.
  if (app_limited_ != 0 && udx::seq_compare(delivered_, app_limited_) > 0) app_limited_ = 0;
  if (acked > 0) delivered_ms_ = now_ms;
  rs.acked_sacked = acked;
  rs.losses = lost;
  if (!rs.has_prior) {
    rs.delivered = -1;
    rs.interval_ms = -1;
    return;
  }
  rs.delivered = static_cast<std::uint32_t>(delivered_ - rs.prior_delivered);
  rs.snd_interval_ms = rs.interval_ms;
  rs.rcv_interval_ms = std::max<std::int64_t>(now_ms - rs.prior_ms, 0);
  // The slower of the two rates: acks compressed in time must not inflate the estimate.
  rs.interval_ms = std::max(rs.snd_interval_ms, rs.rcv_interval_ms);
  if (rs.interval_ms < min_rtt_ms) rs.interval_ms = -1;
}

}  // namespace hdht::core
