// BBR v1 as libudx runs it (src/udx_bbr.c, a port of Linux tcp_bbr.c; spec
// ../shared/spec/udx.md §4.1). From one rate sample per ack it keeps two estimates,
//   bw      = windowed max of the delivery rate over 10 round trips (packets/ms)
//   min_rtt = windowed min of the RTT over 10 s (ms)
// and derives the two outputs: pacing rate = pacing_gain · bw · payload · 0.99 (bytes/ms) and
// cwnd ≈ cwnd_gain · bw · min_rtt (+ an ack-aggregation allowance), never below 4 packets.
// Windows count packets. Congestion control is local: nothing of it is on the wire.
#pragma once

#include <array>
#include <cstdint>

#include "core/udx_rate.hpp"

namespace hdht::core {

inline constexpr std::uint32_t kUdxInitialCwnd = 10;  // packets
inline constexpr std::uint32_t kUdxMinCwnd = 4;       // bbr_cwnd_min_target
inline constexpr std::uint32_t kUdxInitialSsthresh = 0xFFFF;

inline constexpr double kUdxBbrHighGain = 2.88539;  // 2/ln 2: doubles the rate per round
inline constexpr double kUdxBbrDrainGain = 1 / 2.88539;
inline constexpr double kUdxBbrCwndGain = 2.0;
inline constexpr double kUdxBbrPacingMargin = 0.99;
inline constexpr std::array<double, 8> kUdxBbrPacingGains{1.25, 0.75, 1, 1, 1, 1, 1, 1};
inline constexpr std::uint32_t kUdxBbrCycleLen = 8;
inline constexpr std::uint32_t kUdxBbrBwFilterRounds = kUdxBbrCycleLen + 2;
inline constexpr double kUdxBbrFullBwThresh = 1.25;
inline constexpr std::uint32_t kUdxBbrFullBwCount = 3;
inline constexpr std::int64_t kUdxBbrMinRttWindowMs = 10000;
inline constexpr std::int64_t kUdxBbrProbeRttMs = 200;
inline constexpr std::uint32_t kUdxBbrExtraAckedRounds = 5;
inline constexpr double kUdxBbrExtraAckedMaxMs = 100;
inline constexpr std::uint32_t kUdxBbrNoMinRtt = 0xFFFFFFFF;

enum class UdxBbrState {
  startup,    // double the rate each round until bw stops growing
  drain,      // empty the queue STARTUP built
  probe_bw,   // cruise at bw, cycling the pacing gain to probe for more
  probe_rtt,  // cwnd 4 for >= 200 ms and a round, to re-measure the unloaded RTT
};

// The sender's loss-recovery state, as BBR sees it (libudx UDX_CA_*).
enum class UdxCaState { open, recovery, loss };

const char* to_string(UdxBbrState s) noexcept;

// What BBR reads from the stream at an ack or a transmission.
struct UdxBbrContext {
  std::int64_t now_ms = 0;
  std::uint32_t inflight = 0;     // packets in flight (not lost, not SACKed)
  std::uint32_t max_payload = 0;  // bytes per packet now (moves with the MTU)
  std::uint32_t srtt_ms = 0;      // 0: no RTT sample yet
  UdxCaState ca_state = UdxCaState::open;
};

class UdxBbr {
 public:
  UdxBbr(std::int64_t now_ms, std::uint32_t max_payload);

  // bbr_main: one rate sample per ack that found data in flight. `rate` is written in
  // PROBE_RTT (marks the sender app-limited).
  void on_ack(const UdxRateSample& rs, const UdxBbrContext& ctx, UdxRateSampler& rate);
  // Sending after nothing was in flight (libudx calls it when the in-flight queue was empty).
  void on_transmit_start(const UdxBbrContext& ctx, const UdxRateSampler& rate);
  // Fast recovery starts: remember cwnd, to restore it when recovery ends.
  void on_enter_recovery() noexcept;
  // The retransmission timer fired: a loss state, and full-bandwidth detection starts over.
  void on_rto() noexcept;

  std::uint32_t cwnd() const noexcept { return cwnd_; }
  std::uint32_t ssthresh() const noexcept { return ssthresh_; }
  std::uint64_t pacing_bytes_per_ms() const noexcept { return pacing_bytes_per_ms_; }
  UdxBbrState state() const noexcept { return state_; }
  double pacing_gain() const noexcept { return pacing_gain_; }
  double cwnd_gain() const noexcept { return cwnd_gain_; }
  double max_bw() const noexcept { return bw_.get(); }  // packets/ms
  std::uint32_t min_rtt_ms() const noexcept { return min_rtt_ms_; }
  bool full_bw_reached() const noexcept { return full_bw_reached_; }
  std::uint32_t round_count() const noexcept { return round_count_; }
  std::uint32_t cycle_index() const noexcept { return cycle_index_; }
  std::uint32_t prior_cwnd() const noexcept { return prior_cwnd_; }
  // BDP in packets at `gain` (10, the initial window, before any min-RTT sample).
  std::uint32_t bdp(double gain) const noexcept;

 private:
  // Kathleen Nichols' windowed max over round counts (best, 2nd best, 3rd best in the window).
  class MaxFilter {
   public:
    void reset(std::uint32_t t, double v) noexcept;
    void apply(std::uint32_t window, std::uint32_t t, double v) noexcept;
    double get() const noexcept { return s_[0].v; }

   private:
    struct Entry {
      std::uint32_t t = 0;
      double v = 0;
    };
    std::array<Entry, 3> s_{};
  };

  std::uint64_t to_pacing_rate(double bw, double gain, std::uint32_t max_payload) const noexcept;
  void init_pacing_from_rtt(const UdxBbrContext& ctx) noexcept;
  void set_pacing_rate(double bw, double gain, const UdxBbrContext& ctx) noexcept;
  void save_cwnd() noexcept;
  std::uint32_t aggregation_cwnd() const noexcept;
  bool recover_or_restore(const UdxRateSample& rs, const UdxBbrContext& ctx,
                          const UdxRateSampler& rate, std::uint32_t& cwnd) noexcept;
  void set_cwnd(const UdxRateSample& rs, const UdxBbrContext& ctx,
                const UdxRateSampler& rate) noexcept;
  bool is_next_cycle_phase(const UdxRateSample& rs, const UdxBbrContext& ctx,
                           std::int64_t delivered_ms) const noexcept;
  void advance_cycle_phase(std::int64_t delivered_ms) noexcept;
  void enter_probe_bw(std::int64_t delivered_ms) noexcept;
  void update_bw(const UdxRateSample& rs, const UdxRateSampler& rate) noexcept;
  void update_ack_aggregation(const UdxRateSample& rs, std::int64_t delivered_ms) noexcept;
  void check_full_bw_reached(const UdxRateSample& rs) noexcept;
  void check_drain(const UdxBbrContext& ctx, std::int64_t delivered_ms) noexcept;
  void check_probe_rtt_done(std::int64_t now_ms, std::int64_t delivered_ms) noexcept;
  void update_min_rtt(const UdxRateSample& rs, const UdxBbrContext& ctx,
                      UdxRateSampler& rate) noexcept;
  void update_gains() noexcept;

  std::uint32_t cwnd_ = kUdxInitialCwnd;
  std::uint32_t ssthresh_ = kUdxInitialSsthresh;
  std::uint64_t pacing_bytes_per_ms_ = 1;
  UdxBbrState state_ = UdxBbrState::startup;
  UdxCaState prev_ca_state_ = UdxCaState::open;
  double pacing_gain_ = kUdxBbrHighGain;
  double cwnd_gain_ = kUdxBbrHighGain;

  MaxFilter bw_;
  std::uint32_t min_rtt_ms_ = kUdxBbrNoMinRtt;
  std::int64_t min_rtt_stamp_ms_ = 0;
  std::int64_t probe_rtt_done_ms_ = 0;  // 0: not yet timed
  bool probe_rtt_round_done_ = false;
  std::uint32_t round_count_ = 0;
  std::uint32_t next_round_delivered_ = 0;
  bool round_start_ = false;
  bool idle_restart_ = false;
  bool packet_conservation_ = false;
  bool has_seen_rtt_ = false;
  std::uint32_t prior_cwnd_ = 0;

  bool full_bw_reached_ = false;
  double full_bw_ = 0;
  std::uint32_t full_bw_count_ = 0;

  std::uint32_t cycle_index_ = 0;
  std::int64_t cycle_start_ms_ = 0;

  std::int64_t ack_epoch_start_ms_ = 0;
  std::uint32_t ack_epoch_acked_ = 0;
  std::array<std::uint32_t, 2> extra_acked_{};
  std::uint32_t extra_acked_rounds_ = 0;
  std::uint32_t extra_acked_index_ = 0;
};

}  // namespace hdht::core
