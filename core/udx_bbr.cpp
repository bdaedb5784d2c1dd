#include "core/udx_bbr.hpp"

#include <algorithm>
#include <limits>

#include "protocol/udx_packet.hpp"

namespace hdht::core {

namespace {

bool in_recovery_or_loss(UdxCaState s) {
  return s != UdxCaState::open;
}

}  // namespace

const char* to_string(UdxBbrState s) noexcept {
  switch (s) {
    case UdxBbrState::startup:
      return "startup";
    case UdxBbrState::drain:
      return "drain";
    case UdxBbrState::probe_bw:
      return "probe_bw";
    case UdxBbrState::probe_rtt:
      return "probe_rtt";
  }
  return "?";
}

// ---- windowed max filter --------------------------------------------------------------------

void UdxBbr::MaxFilter::reset(std::uint32_t t, double v) noexcept {
  s_.fill({t, v});
}

void UdxBbr::MaxFilter::apply(std::uint32_t window, std::uint32_t t, double v) noexcept {
  // A new best, or the whole window has gone stale: start over from this sample.
  if (v >= s_[0].v || t - s_[2].t > window) {
    reset(t, v);
    return;
  }
  const Entry e{t, v};
  if (v >= s_[1].v)
    s_[2] = s_[1] = e;
  else if (v >= s_[2].v)
    s_[2] = e;
  // Age the candidates: the best expires after `window`; the 2nd and 3rd best are refreshed at a
  // quarter and half window so a decaying rate is followed without a cliff.
  const std::uint32_t dt = t - s_[0].t;
  if (dt > window) {
    s_[0] = s_[1];
    s_[1] = s_[2];
    s_[2] = e;
    if (t - s_[0].t > window) {
      s_[0] = s_[1];
      s_[1] = s_[2];
      s_[2] = e;
    }
  } else if (s_[1].t == s_[0].t && dt > window / 4) {
    s_[2] = s_[1] = e;
  } else if (s_[2].t == s_[1].t && dt > window / 2) {
    s_[2] = e;
  }
}

// ---- BBR ------------------------------------------------------------------------------------

UdxBbr::UdxBbr(std::int64_t now_ms, std::uint32_t max_payload)
    : min_rtt_stamp_ms_(now_ms), ack_epoch_start_ms_(now_ms) {
  bw_.reset(0, 0);
  UdxBbrContext ctx;
  ctx.now_ms = now_ms;
  ctx.max_payload = max_payload;
  init_pacing_from_rtt(ctx);
}

std::uint32_t UdxBbr::bdp(double gain) const noexcept {
  // No RTT yet: the initial window.
  if (min_rtt_ms_ == kUdxBbrNoMinRtt) return kUdxInitialCwnd;
  return static_cast<std::uint32_t>(bw_.get() * min_rtt_ms_ * gain);
}

std::uint64_t UdxBbr::to_pacing_rate(double bw, double gain,
                                     std::uint32_t max_payload) const noexcept {
  const auto rate = static_cast<std::uint64_t>(bw * max_payload * gain * kUdxBbrPacingMargin);
  return std::max<std::uint64_t>(rate, 1);
}

void UdxBbr::init_pacing_from_rtt(const UdxBbrContext& ctx) noexcept {
  // Before any RTT sample assume 1 ms: the initial window per ms, at STARTUP's gain.
  std::uint32_t srtt = 1;
  if (ctx.srtt_ms > 0) {
    srtt = ctx.srtt_ms;
    has_seen_rtt_ = true;
  }
  const double bw = static_cast<double>(cwnd_) / srtt;
  pacing_bytes_per_ms_ = to_pacing_rate(bw, kUdxBbrHighGain, ctx.max_payload);
}

void UdxBbr::set_pacing_rate(double bw, double gain, const UdxBbrContext& ctx) noexcept {
  const std::uint64_t rate = to_pacing_rate(bw, gain, ctx.max_payload);
  if (!has_seen_rtt_ && ctx.srtt_ms > 0) init_pacing_from_rtt(ctx);
  // Until the pipe is known to be full the rate only rises: early samples undershoot.
  if (full_bw_reached_ || rate > pacing_bytes_per_ms_) pacing_bytes_per_ms_ = rate;
}

void UdxBbr::save_cwnd() noexcept {
  if (!in_recovery_or_loss(prev_ca_state_) && state_ != UdxBbrState::probe_rtt)
    prior_cwnd_ = cwnd_;
  else
    prior_cwnd_ = std::max(prior_cwnd_, cwnd_);
}

void UdxBbr::on_transmit_start(const UdxBbrContext& ctx, const UdxRateSampler& rate) {
  if (rate.app_limited() == 0) return;
  // Restarting from idle: the ack clock is gone, so measure aggregation afresh and cruise at
  // the estimated rate instead of a probing gain.
  idle_restart_ = true;
  ack_epoch_start_ms_ = ctx.now_ms;
  ack_epoch_acked_ = 0;
  if (state_ == UdxBbrState::probe_bw)
    set_pacing_rate(bw_.get(), 1.0, ctx);
  else if (state_ == UdxBbrState::probe_rtt)
    check_probe_rtt_done(ctx.now_ms, rate.delivered_ms());
}

void UdxBbr::on_enter_recovery() noexcept {
  save_cwnd();
}

void UdxBbr::on_rto() noexcept {
  prev_ca_state_ = UdxCaState::loss;
  full_bw_ = 0;
  round_start_ = true;
}

std::uint32_t UdxBbr::aggregation_cwnd() const noexcept {
  if (!full_bw_reached_) return 0;
  // At most 100 ms worth of packets at the current bandwidth.
  const auto cap = static_cast<std::uint32_t>(bw_.get() * kUdxBbrExtraAckedMaxMs);
  return std::min(std::max(extra_acked_[0], extra_acked_[1]), cap);
}

bool UdxBbr::recover_or_restore(const UdxRateSample& rs, const UdxBbrContext& ctx,
                                const UdxRateSampler& rate, std::uint32_t& cwnd) noexcept {
  const UdxCaState prev = prev_ca_state_;
  const UdxCaState now = ctx.ca_state;
  const std::uint32_t acked = rs.acked_sacked;
  // An ack for p packets releases at most 2p: lost packets come off first.
  if (rs.losses > 0)
    cwnd = static_cast<std::uint32_t>(
        std::max<std::int64_t>(std::int64_t{cwnd} - std::int64_t{rs.losses}, 1));
  if (now == UdxCaState::recovery && prev != UdxCaState::recovery) {
    // Packet conservation for the first round of recovery.
    packet_conservation_ = true;
    next_round_delivered_ = rate.delivered();
    cwnd = ctx.inflight + acked;
  } else if (in_recovery_or_loss(prev) && now == UdxCaState::open) {
    cwnd = std::max(cwnd, prior_cwnd_);
    packet_conservation_ = false;
  }
  prev_ca_state_ = now;
  if (packet_conservation_) {
    cwnd = std::max(cwnd, ctx.inflight + acked);
    return true;
  }
  return false;
}

void UdxBbr::set_cwnd(const UdxRateSample& rs, const UdxBbrContext& ctx,
                      const UdxRateSampler& rate) noexcept {
  std::uint32_t cwnd = cwnd_;
  const std::uint32_t acked = rs.acked_sacked;
  if (acked > 0 && !recover_or_restore(rs, ctx, rate, cwnd)) {
    const std::uint32_t target = bdp(cwnd_gain_) + aggregation_cwnd();
    if (full_bw_reached_)
      cwnd = std::min(cwnd + acked, target);
    else if (cwnd < target || rate.delivered() < kUdxInitialCwnd)
      cwnd += acked;
  }
  // Deviation: libudx skips the floor while conserving packets in recovery; we keep it always.
  cwnd_ = std::max(cwnd, kUdxMinCwnd);
  if (state_ == UdxBbrState::probe_rtt) cwnd_ = std::min(cwnd_, kUdxMinCwnd);
}

bool UdxBbr::is_next_cycle_phase(const UdxRateSample& rs, const UdxBbrContext& ctx,
                                 std::int64_t delivered_ms) const noexcept {
  const bool full_length =
      std::max<std::int64_t>(delivered_ms - cycle_start_ms_, 0) > std::int64_t{min_rtt_ms_};
  if (pacing_gain_ == 1.0) return full_length;
  // Probing up lasts until the pipe shows it is full (loss or a queue); draining ends early
  // once the queue is gone.
  if (pacing_gain_ > 1.0) return full_length && (rs.losses > 0 || ctx.inflight > bdp(pacing_gain_));
  return full_length || ctx.inflight <= bdp(1.0);
}

void UdxBbr::advance_cycle_phase(std::int64_t delivered_ms) noexcept {
  cycle_index_ = (cycle_index_ + 1) % kUdxBbrCycleLen;
  cycle_start_ms_ = delivered_ms;
}

void UdxBbr::enter_probe_bw(std::int64_t delivered_ms) noexcept {
  state_ = UdxBbrState::probe_bw;
  // libudx's fixed choice (Linux randomises it): the first phase is index 4, gain 1.
  cycle_index_ = 3;
  advance_cycle_phase(delivered_ms);
}

void UdxBbr::update_bw(const UdxRateSample& rs, const UdxRateSampler& rate) noexcept {
  round_start_ = false;
  if (rs.delivered < 0 || rs.interval_ms <= 0) return;
  // A round trip ends when a packet sent after the previous round's end is delivered.
  if (udx::seq_diff(rs.prior_delivered, next_round_delivered_) >= 0) {
    next_round_delivered_ = rate.delivered();
    ++round_count_;
    round_start_ = true;
    packet_conservation_ = false;
  }
  const double bw = static_cast<double>(rs.delivered) / static_cast<double>(rs.interval_ms);
  // An app-limited sample says only "at least this much"; it may raise, never lower, the max.
  if (!rs.app_limited || bw >= bw_.get()) bw_.apply(kUdxBbrBwFilterRounds, round_count_, bw);
}

void UdxBbr::update_ack_aggregation(const UdxRateSample& rs, std::int64_t delivered_ms) noexcept {
  if (rs.acked_sacked == 0 || rs.delivered < 0 || rs.interval_ms <= 0) return;
  if (round_start_) {
    extra_acked_rounds_ = std::min<std::uint32_t>(0xff, extra_acked_rounds_ + 1);
    if (extra_acked_rounds_ >= kUdxBbrExtraAckedRounds) {
      extra_acked_rounds_ = 0;
      extra_acked_index_ ^= 1;
      extra_acked_[extra_acked_index_] = 0;
    }
  }
  const std::int64_t epoch_ms = std::max<std::int64_t>(delivered_ms - ack_epoch_start_ms_, 0);
  auto expected = static_cast<std::uint32_t>(bw_.get() * static_cast<double>(epoch_ms));
  // Acks at or below the expected rate end the epoch (as would a counter about to overflow).
  if (ack_epoch_acked_ <= expected || std::uint64_t{ack_epoch_acked_} + rs.acked_sacked >=
                                          std::numeric_limits<std::uint32_t>::max()) {
    ack_epoch_acked_ = 0;
    ack_epoch_start_ms_ = delivered_ms;
    expected = 0;
  }
  ack_epoch_acked_ += rs.acked_sacked;
  const std::uint32_t extra = std::min(ack_epoch_acked_ - expected, cwnd_);
  extra_acked_[extra_acked_index_] = std::max(extra_acked_[extra_acked_index_], extra);
}

void UdxBbr::check_full_bw_reached(const UdxRateSample& rs) noexcept {
  if (full_bw_reached_ || !round_start_ || rs.app_limited) return;
  if (bw_.get() >= full_bw_ * kUdxBbrFullBwThresh) {
    full_bw_ = bw_.get();
    full_bw_count_ = 0;
    return;
  }
  ++full_bw_count_;
  full_bw_reached_ = full_bw_count_ >= kUdxBbrFullBwCount;
}

void UdxBbr::check_drain(const UdxBbrContext& ctx, std::int64_t delivered_ms) noexcept {
  if (state_ == UdxBbrState::startup && full_bw_reached_) {
    state_ = UdxBbrState::drain;
    ssthresh_ = bdp(1.0);
  }
  if (state_ == UdxBbrState::drain && ctx.inflight <= bdp(1.0)) enter_probe_bw(delivered_ms);
}

void UdxBbr::check_probe_rtt_done(std::int64_t now_ms, std::int64_t delivered_ms) noexcept {
  if (probe_rtt_done_ms_ == 0 || now_ms <= probe_rtt_done_ms_) return;
  min_rtt_stamp_ms_ = now_ms;
  cwnd_ = std::max(cwnd_, prior_cwnd_);
  if (full_bw_reached_)
    enter_probe_bw(delivered_ms);
  else
    state_ = UdxBbrState::startup;
}

void UdxBbr::update_min_rtt(const UdxRateSample& rs, const UdxBbrContext& ctx,
                            UdxRateSampler& rate) noexcept {
  const std::int64_t now = ctx.now_ms;
  const bool expired = now - (min_rtt_stamp_ms_ + kUdxBbrMinRttWindowMs) > 0;
  if (rs.rtt_ms >= 0 && (rs.rtt_ms < std::int64_t{min_rtt_ms_} || expired)) {
    // The clock has 1 ms resolution: a 0 ms RTT is "under a millisecond".
    min_rtt_ms_ = rs.rtt_ms > 0 ? static_cast<std::uint32_t>(rs.rtt_ms) : 1;
    min_rtt_stamp_ms_ = now;
  }
  if (expired && !idle_restart_ && state_ != UdxBbrState::probe_rtt) {
    state_ = UdxBbrState::probe_rtt;
    save_cwnd();
    probe_rtt_done_ms_ = 0;
  }
  if (state_ == UdxBbrState::probe_rtt) {
    // The small window is deliberate: its samples must not drag the bandwidth estimate down.
    rate.mark_app_limited(ctx.inflight);
    if (probe_rtt_done_ms_ == 0 && ctx.inflight <= kUdxMinCwnd) {
      probe_rtt_done_ms_ = now + kUdxBbrProbeRttMs;
      probe_rtt_round_done_ = false;
      next_round_delivered_ = rate.delivered();
    } else if (probe_rtt_done_ms_ != 0) {
      if (round_start_) probe_rtt_round_done_ = true;
      if (probe_rtt_round_done_) check_probe_rtt_done(now, rate.delivered_ms());
    }
  }
  if (rs.delivered > 0) idle_restart_ = false;
}

void UdxBbr::update_gains() noexcept {
  switch (state_) {
    case UdxBbrState::startup:
      pacing_gain_ = kUdxBbrHighGain;
      cwnd_gain_ = kUdxBbrHighGain;
      break;
    case UdxBbrState::drain:
      pacing_gain_ = kUdxBbrDrainGain;
      cwnd_gain_ = kUdxBbrHighGain;
      break;
    case UdxBbrState::probe_bw:
      pacing_gain_ = kUdxBbrPacingGains[cycle_index_];
      cwnd_gain_ = kUdxBbrCwndGain;
      break;
    case UdxBbrState::probe_rtt:
      pacing_gain_ = 1.0;
      cwnd_gain_ = 1.0;
      break;
  }
}

void UdxBbr::on_ack(const UdxRateSample& rs, const UdxBbrContext& ctx, UdxRateSampler& rate) {
  const std::int64_t delivered_ms = rate.delivered_ms();
  update_bw(rs, rate);
  update_ack_aggregation(rs, delivered_ms);
  if (state_ == UdxBbrState::probe_bw && is_next_cycle_phase(rs, ctx, delivered_ms))
    advance_cycle_phase(delivered_ms);
  check_full_bw_reached(rs);
  check_drain(ctx, delivered_ms);
  update_min_rtt(rs, ctx, rate);
  update_gains();
  set_pacing_rate(bw_.get(), pacing_gain_, ctx);
  set_cwnd(rs, ctx, rate);
}

}  // namespace hdht::core
