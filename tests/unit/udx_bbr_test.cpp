// UDX congestion control against the reference's numbers (libudx src/udx_bbr.c, udx_rate.c,
// update_pacing_time, UDX_MTU_*; spec ../shared/spec/udx.md §3.7, §4): the BBR state machine
// driven through a millisecond model of a bottleneck link, delivery-rate sampling, the pacing
// token bucket and the MTU prober's steps and fallback.
#include <catch2/catch.hpp>

#include <cstdint>
#include <deque>
#include <vector>

#include "core/udx_bbr.hpp"
#include "core/udx_mtu.hpp"
#include "core/udx_pacer.hpp"
#include "core/udx_rate.hpp"

using namespace hdht::core;

namespace {

constexpr std::uint32_t kPayload = 1152;      // at the 1200-byte base MTU over IPv4
constexpr std::uint32_t kPacketBytes = 1172;  // what pacing charges: UDX header + payload
constexpr std::int64_t kT0 = 1'000'000'000;   // a clock that is well past 0, as a real one

// A sender with BBR, rate sampling and pacing, in 1 ms steps, over a link with a bottleneck of
// `bw` packets/ms and `rtt` ms of propagation delay (plus whatever queue the sender builds).
// Always has data to send; every packet gets its own ack, as UDX receivers do.
struct Model {
  struct InFlight {
    std::uint32_t seq;
    std::int64_t sent_ms;
    UdxRatePacket stamp;
  };
  struct Ack {
    std::int64_t at;
    InFlight pkt;
  };

  Model(std::uint32_t bw_, std::int64_t rtt_) : bw(bw_), rtt(rtt_) {}

  UdxBbrContext ctx() const {
    UdxBbrContext c;
    c.now_ms = now;
    c.inflight = inflight;
    c.max_payload = kPayload;
    c.srtt_ms = srtt;
    return c;
  }

  void step() {
    ++now;
    // Acks due now, one at a time.
    while (!acks.empty() && acks.front().at <= now) {
      const InFlight p = acks.front().pkt;
      acks.pop_front();
      --inflight;
      UdxRateSample rs;
      rate.on_delivered(p.stamp, p.sent_ms, p.seq, false, rs);
      rs.rtt_ms = now - p.sent_ms;
      if (min_rtt < 0 || rs.rtt_ms < min_rtt) min_rtt = rs.rtt_ms;
      srtt = static_cast<std::uint32_t>(rs.rtt_ms);
      rate.generate(1, 0, now, min_rtt, rs);
      bbr.on_ack(rs, ctx(), rate);
      min_cwnd_seen = std::min(min_cwnd_seen, bbr.cwnd());
    }
    // Send what cwnd and pacing allow.
    while (inflight < bbr.cwnd() && pacer.may_send(now, bbr.pacing_bytes_per_ms())) {
      rate.check_app_limited(1 << 30, kPayload, inflight, bbr.cwnd(), false);
      const bool idle = inflight == 0;
      InFlight p{seq++, now, rate.on_sent(idle, now)};
      queue.push_back(p);
      ++inflight;
      pacer.charge(kPacketBytes);
      if (idle) bbr.on_transmit_start(ctx(), rate);
    }
    // The bottleneck forwards `bw` packets per ms; each one's ack returns after `rtt`.
    for (std::uint32_t i = 0; i < bw && !queue.empty(); ++i) {
      acks.push_back({now + rtt, queue.front()});
      queue.pop_front();
    }
  }

  std::uint32_t bw;
  std::int64_t rtt;
  std::int64_t now = kT0;
  UdxRateSampler rate;
  UdxBbr bbr{kT0, kPayload};
  UdxPacer pacer{kT0};
  std::deque<InFlight> queue;
  std::deque<Ack> acks;
  std::uint32_t inflight = 0;
  std::uint32_t seq = 0;
  std::uint32_t srtt = 0;
  std::int64_t min_rtt = -1;
  std::uint32_t min_cwnd_seen = 0xFFFFFFFF;
};

}  // namespace

TEST_CASE("udx bbr: initial window, ssthresh and pacing rate", "[unit][udx]") {
  const UdxBbr b(kT0, 1152);
  CHECK(b.state() == UdxBbrState::startup);
  CHECK(b.cwnd() == 10);
  CHECK(b.ssthresh() == 0xFFFF);
  CHECK(b.pacing_gain() == Approx(2.88539));
  CHECK(b.cwnd_gain() == Approx(2.88539));
  // 10 packets per (assumed) 1 ms × 1152 × 2.88539 × 0.99 = 32907.3 bytes/ms.
  CHECK(b.pacing_bytes_per_ms() == 32907);
  CHECK(UdxBbr(kT0, 1452).pacing_bytes_per_ms() == 41476);  // the same at a 1500-byte MTU
  CHECK(b.bdp(1.0) == 10);                                  // no min RTT yet: the initial window
}

TEST_CASE("udx bbr: STARTUP, DRAIN and PROBE_BW over a bottleneck, with libudx's gains",
          "[unit][udx]") {
  // 10 packets/ms (11.5 MB/s of payload) with 20 ms RTT: a BDP of 200 packets.
  Model m(10, 20);
  struct Round {
    std::uint32_t n;
    double max_bw;
    UdxBbrState state;
  };
  std::vector<Round> rounds;
  std::int64_t drain_at = -1, probe_bw_at = -1;
  std::uint32_t ssthresh_at_drain = 0;
  std::vector<std::uint32_t> cycle;  // PROBE_BW phase indexes in the order entered
  while (m.now < kT0 + 3000) {
    const UdxBbrState before = m.bbr.state();
    const std::uint32_t round_before = m.bbr.round_count();
    m.step();
    if (m.bbr.round_count() != round_before)
      rounds.push_back({m.bbr.round_count(), m.bbr.max_bw(), m.bbr.state()});
    if (before == UdxBbrState::startup && m.bbr.state() == UdxBbrState::drain) {
      drain_at = m.now;
      ssthresh_at_drain = m.bbr.ssthresh();
      CHECK(m.bbr.pacing_gain() == Approx(1 / 2.88539));
      CHECK(m.bbr.cwnd_gain() == Approx(2.88539));
    }
    if (m.bbr.state() == UdxBbrState::probe_bw) {
      if (probe_bw_at < 0) probe_bw_at = m.now;
      if (cycle.empty() || cycle.back() != m.bbr.cycle_index()) {
        cycle.push_back(m.bbr.cycle_index());
        const double gains[] = {1.25, 0.75, 1, 1, 1, 1, 1, 1};
        CHECK(m.bbr.pacing_gain() == Approx(gains[m.bbr.cycle_index()]));
        CHECK(m.bbr.cwnd_gain() == Approx(2.0));
      }
    }
  }
  REQUIRE(drain_at > 0);
  REQUIRE(probe_bw_at >= drain_at);
  INFO("DRAIN at " << drain_at - kT0 << " ms, PROBE_BW at " << probe_bw_at - kT0 << " ms");

  // Full bandwidth: DRAIN is entered at the third round start in a row whose windowed max
  // bandwidth is below 1.25 × the value of the last round that grew by 25 %.
  std::size_t k = 0;
  while (k < rounds.size() && rounds[k].state == UdxBbrState::startup)
    ++k;
  REQUIRE(k >= 4);
  REQUIRE(k < rounds.size());
  CHECK(rounds[k].state != UdxBbrState::startup);
  const double full_bw = rounds[k - 3].max_bw;
  CHECK(rounds[k - 3].max_bw >= 1.25 * rounds[k - 4].max_bw);
  for (std::size_t i = k - 2; i <= k; ++i)
    CHECK(rounds[i].max_bw < 1.25 * full_bw);

  // The model: bandwidth ≈ the bottleneck, min RTT = the propagation delay, ssthresh = BDP.
  CHECK(m.bbr.max_bw() == Approx(10).epsilon(0.1));
  CHECK(m.bbr.min_rtt_ms() == 20);
  CHECK(ssthresh_at_drain == Approx(200).epsilon(0.1));
  CHECK(m.bbr.full_bw_reached());

  // PROBE_BW starts at phase 4 (libudx enters at 3 and advances at once), then runs 5, 6, 7,
  // 0 (gain 1.25), 1 (0.75), 2, ... one min-RTT (or more) each.
  REQUIRE(cycle.size() >= 10);
  for (std::size_t i = 0; i < cycle.size(); ++i)
    CHECK(cycle[i] == (4 + i) % 8);

  // Pacing = bw × payload × gain × 0.99, set on every ack once the pipe is full.
  const auto expected =
      static_cast<std::uint64_t>(m.bbr.max_bw() * 1152 * m.bbr.pacing_gain() * 0.99);
  CHECK(m.bbr.pacing_bytes_per_ms() == std::max<std::uint64_t>(expected, 1));
  // cwnd in PROBE_BW: 2 × BDP plus at most the aggregation allowance (here small).
  CHECK(m.bbr.cwnd() >= 380);
  CHECK(m.bbr.cwnd() <= 2 * 200 + 100 * 10);
  CHECK(m.min_cwnd_seen >= 4);
}

TEST_CASE("udx bbr: PROBE_RTT after 10 s without a lower RTT: cwnd 4 for at least 200 ms",
          "[unit][udx]") {
  Model m(10, 20);
  std::int64_t entered = -1, left = -1;
  std::uint32_t max_cwnd_inside = 0, cwnd_before = 0, cwnd_after = 0;
  while (m.now < kT0 + 12'000 && left < 0) {
    const UdxBbrState before = m.bbr.state();
    const std::uint32_t cwnd = m.bbr.cwnd();
    m.step();
    if (before != UdxBbrState::probe_rtt && m.bbr.state() == UdxBbrState::probe_rtt) {
      entered = m.now;
      cwnd_before = cwnd;
      CHECK(m.bbr.pacing_gain() == Approx(1.0));
      CHECK(m.bbr.cwnd_gain() == Approx(1.0));
    }
    if (m.bbr.state() == UdxBbrState::probe_rtt)
      max_cwnd_inside = std::max(max_cwnd_inside, m.bbr.cwnd());
    if (before == UdxBbrState::probe_rtt && m.bbr.state() != UdxBbrState::probe_rtt) {
      left = m.now;
      cwnd_after = m.bbr.cwnd();
      CHECK(m.bbr.state() == UdxBbrState::probe_bw);  // full bw was reached before
    }
  }
  REQUIRE(entered > 0);
  REQUIRE(left > 0);
  INFO("PROBE_RTT " << entered - kT0 << " .. " << left - kT0 << " ms");
  // The min RTT (20 ms) was taken in the first round trip: 10 s later (+ the ack that notices).
  CHECK(entered - kT0 > 10'000);
  CHECK(entered - kT0 <= 10'000 + 40);
  CHECK(max_cwnd_inside == 4);
  // ≥ 200 ms once in flight has drained to 4, and at least one round trip.
  CHECK(left - entered > 200);
  CHECK(left - entered < 200 + 200);
  // The saved window comes back (then clamped to 2 × BDP + aggregation as usual), not 4.
  CHECK(cwnd_after >= 380);
  CHECK(cwnd_before >= 380);
  CHECK(m.min_cwnd_seen == 4);
}

TEST_CASE("udx bbr: recovery conserves packets and restores the saved window", "[unit][udx]") {
  UdxRateSampler rate;
  UdxBbr b(kT0, kPayload);
  UdxBbrContext ctx;
  ctx.now_ms = kT0 + 100;
  ctx.max_payload = kPayload;
  ctx.srtt_ms = 20;
  // Grow the window a little in STARTUP: 12 acks of one packet.
  for (int i = 0; i < 12; ++i) {
    UdxRateSample rs;
    rs.acked_sacked = 1;
    ctx.inflight = 10;
    b.on_ack(rs, ctx, rate);
  }
  REQUIRE(b.cwnd() == 22);
  b.on_enter_recovery();
  CHECK(b.prior_cwnd() == 22);
  // First ack in recovery: 3 lost, 2 delivered, 5 still in flight → cwnd = in flight + acked.
  ctx.ca_state = UdxCaState::recovery;
  ctx.inflight = 5;
  UdxRateSample rs;
  rs.acked_sacked = 2;
  rs.losses = 3;
  b.on_ack(rs, ctx, rate);
  CHECK(b.cwnd() == 7);
  // Heavy loss cannot take it below 4.
  ctx.inflight = 0;
  rs.acked_sacked = 1;
  rs.losses = 20;
  b.on_ack(rs, ctx, rate);
  CHECK(b.cwnd() == 4);
  // Back to open: the window before recovery returns (libudx's cwnd = ssthresh on leaving
  // fast recovery is not copied; ssthresh is still 0xFFFF here).
  ctx.ca_state = UdxCaState::open;
  rs.losses = 0;
  b.on_ack(rs, ctx, rate);
  CHECK(b.cwnd() >= 22);
  CHECK(b.cwnd() < 0xFFFF);
}

TEST_CASE("udx bbr: an RTO restarts full-bandwidth detection", "[unit][udx]") {
  Model m(10, 20);
  // Run into STARTUP's third round, then RTO.
  while (m.bbr.round_count() < 3)
    m.step();
  REQUIRE(m.bbr.state() == UdxBbrState::startup);
  m.bbr.on_rto();
  // Recovery from the loss state restores the window on the next open ack, and the link's
  // rounds must again show 3 rounds without growth before DRAIN.
  const std::uint32_t round_at_rto = m.bbr.round_count();
  while (m.bbr.state() == UdxBbrState::startup && m.now < kT0 + 5000)
    m.step();
  CHECK(m.bbr.state() != UdxBbrState::startup);
  CHECK(m.bbr.round_count() >= round_at_rto + 3);
  CHECK(m.min_cwnd_seen >= 4);
}

TEST_CASE("udx rate: delivery rate over the longer interval; short samples dropped",
          "[unit][udx]") {
  UdxRateSampler rate;
  // First flight of 4 packets at t=0 ms (nothing in flight: the interval starts now).
  rate.check_app_limited(100000, kPayload, 0, 10, false);
  std::vector<UdxRatePacket> stamps;
  for (int i = 0; i < 4; ++i)
    stamps.push_back(rate.on_sent(i == 0, 1000));
  CHECK(rate.app_limited() != 0);  // libudx starts app-limited until the first ack
  // Acked together at t=1020: 4 packets over max(send 0 ms, ack 20 ms) = 0.2 packets/ms.
  UdxRateSample rs;
  for (std::uint32_t i = 0; i < 4; ++i)
    rate.on_delivered(stamps[i], 1000, i, false, rs);
  rate.generate(4, 0, 1020, 20, rs);
  CHECK(rs.delivered == 4);
  CHECK(rs.interval_ms == 20);
  CHECK(rs.acked_sacked == 4);
  CHECK(rate.delivered() == 4);
  CHECK(rate.app_limited() == 0);  // the bubble is over
  // A new flight at 1030 acked at 1035: 5 ms both ways, under the 20 ms min RTT: discarded.
  const UdxRatePacket p = rate.on_sent(true, 1030);
  UdxRateSample short_rs;
  rate.on_delivered(p, 1030, 4, false, short_rs);
  rate.generate(1, 0, 1035, 20, short_rs);
  CHECK(short_rs.delivered == 1);
  CHECK(short_rs.interval_ms == -1);
  // App-limited: less than a payload queued, window not full, nothing to retransmit.
  rate.check_app_limited(100, kPayload, 3, 10, false);
  CHECK(rate.app_limited() == 5 + 3);
  rate.check_app_limited(100000, kPayload, 3, 10, false);  // not limited: leaves the mark
  CHECK(rate.app_limited() == 8);
  const UdxRatePacket limited = rate.on_sent(false, 1040);
  CHECK(limited.app_limited);
  // No stamp, no sample.
  UdxRateSample none;
  rate.generate(0, 0, 1050, 20, none);
  CHECK(none.delivered == -1);
  CHECK(none.interval_ms == -1);
}

TEST_CASE("udx pacer: budget set once per ms to elapsed × rate, initial 25000 bytes",
          "[unit][udx]") {
  UdxPacer p(kT0);
  CHECK(p.budget() == 25000);
  // 21 full packets fit in the initial budget (21 × 1172 = 24612), the 22nd empties it.
  int sent = 0;
  while (p.may_send(kT0, 32907)) {
    ++sent;
    if (p.charge(kPacketBytes)) break;
  }
  CHECK(sent == 22);
  CHECK(p.budget() == 0);
  CHECK_FALSE(p.may_send(kT0, 32907));  // same ms: no refill
  // Next ms: *set* to 1 × rate.
  CHECK(p.may_send(kT0 + 1, 32907));
  CHECK(p.budget() == 32907);
  p.charge(1000);
  CHECK(p.may_send(kT0 + 1, 32907));
  CHECK(p.budget() == 31907);  // still the same ms: untouched
  // After 3 idle ms: 3 × rate, not added to what was left.
  CHECK(p.may_send(kT0 + 4, 32907));
  CHECK(p.budget() == 3 * 32907);
}

TEST_CASE("udx mtu: probe sizes, padding, fallback after 3 losses, OS limit", "[unit][udx]") {
  UdxMtuProber m;
  CHECK(m.mtu() == 1200);
  CHECK(m.max_payload() == 1152);
  CHECK(m.state() == UdxMtuState::base);
  CHECK_FALSE(m.probe_padding(1152));  // nothing acked yet
  m.on_acked(false);
  REQUIRE(m.state() == UdxMtuState::search);
  // The first "probe" is at 1200 itself: a full packet, no padding.
  REQUIRE(m.probe_padding(1152));
  CHECK(*m.probe_padding(1152) == 0);
  CHECK(*m.probe_padding(1000) == 152);
  CHECK(*m.probe_padding(904) == 248);
  CHECK_FALSE(m.probe_padding(800));  // 352 bytes of padding: more than the offset can say
  std::vector<std::uint32_t> sizes;
  for (int i = 0; i < 20 && m.state() == UdxMtuState::search; ++i) {
    const std::uint32_t payload = m.max_payload();
    const auto pad = m.probe_padding(payload);
    REQUIRE(pad);
    CHECK(*pad == m.probe_size() - (payload + 48));
    sizes.push_back(payload + 48 + *pad);
    m.on_probe_sent();
    CHECK_FALSE(m.probe_padding(payload));  // one probe at a time
    m.on_acked(true);
  }
  const std::vector<std::uint32_t> expected{1200, 1232, 1264, 1296, 1328, 1360,
                                            1392, 1424, 1456, 1488, 1500};
  CHECK(sizes == expected);
  CHECK(m.mtu() == 1500);
  CHECK(m.max_payload() == 1452);
  CHECK(m.state() == UdxMtuState::complete);

  // A path that drops everything over 1400: 3 lost probes at 1424 end the search at 1392.
  UdxMtuProber f;
  f.on_acked(false);
  while (f.probe_size() <= 1400) {
    f.on_probe_sent();
    f.on_acked(true);
  }
  REQUIRE(f.mtu() == 1392);
  for (int i = 0; i < 3; ++i) {
    REQUIRE(f.probe_padding(f.max_payload()));
    f.on_probe_sent();
    f.on_probe_lost();
  }
  CHECK(f.state() == UdxMtuState::complete);
  CHECK(f.mtu() == 1392);
  CHECK_FALSE(f.probe_padding(f.max_payload()));

  // The OS caps the search, or disables it at 1200 or less.
  UdxMtuProber os;
  os.set_path_limit(1280);
  os.on_acked(false);
  while (os.state() == UdxMtuState::search) {
    os.on_probe_sent();
    os.on_acked(true);
  }
  CHECK(os.mtu() == 1280);
  UdxMtuProber tiny;
  tiny.set_path_limit(1200);
  tiny.on_acked(false);
  CHECK(tiny.state() == UdxMtuState::complete);
  CHECK(tiny.mtu() == 1200);
}
