#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "core/datagram_socket.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/timer.hpp"
#include "runtime_ping_pong.hpp"

using namespace hdht;
using namespace hdht::core;
using namespace std::chrono_literals;

namespace {

using WallClock = std::chrono::steady_clock;

double wall_ms_since(WallClock::time_point t) {
  return std::chrono::duration<double, std::milli>(WallClock::now() - t).count();
}

SimNetwork::Ip host_ip(std::uint32_t i) {  // 10.x.y.z, distinct for i < 2^24
  return {10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
          static_cast<std::uint8_t>(i)};
}

std::unique_ptr<DatagramSocket> bind_or_fail(Runtime& rt, Ipv4Address local = {}) {
  auto s = rt.bind_udp(local);
  REQUIRE(s.has_value());
  return std::move(*s);
}

Bytes numbered(std::uint32_t n, std::size_t size = 8) {
  Bytes b(size, 0);
  for (int i = 0; i < 4; ++i)
    b[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return b;
}

std::uint32_t number_of(ByteView d) {
  std::uint32_t n = 0;
  for (int i = 0; i < 4; ++i)
    n |= std::uint32_t{d[static_cast<std::size_t>(i)]} << (8 * i);
  return n;
}

}  // namespace

TEST_CASE("sim: virtual time jumps to the next event instead of passing", "[unit][runtime]") {
  SimNetwork net(1);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  Timer timer(rt);
  std::optional<TimePoint> fired_at;
  const TimePoint start = rt.now();
  timer.expires_after(1h, [&] { fired_at = rt.now(); });
  CHECK(timer.pending());

  const auto wall_start = WallClock::now();
  CHECK(net.run_until([&] { return fired_at.has_value(); }, 2h));
  const double wall_ms = wall_ms_since(wall_start);
  REQUIRE(fired_at);
  CHECK(*fired_at - start == 1h);
  CHECK_FALSE(timer.pending());
  CHECK(wall_ms < 1000);
  std::printf("[runtime] 1-hour timer: virtual %.0f s, wall %.3f ms\n",
              std::chrono::duration<double>(*fired_at - start).count(), wall_ms);

  // run_for lands exactly on its deadline, with or without events on the way.
  const TimePoint before = rt.now();
  net.run_for(90min);
  CHECK(rt.now() - before == 90min);
}

TEST_CASE("sim: timers fire in deadline order, ties in arming order", "[unit][runtime]") {
  SimNetwork net(2);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  std::vector<int> order;
  Timer a(rt), b(rt), c(rt), d(rt);
  c.expires_after(30ms, [&] { order.push_back(3); });
  a.expires_after(10ms, [&] { order.push_back(1); });
  b.expires_after(20ms, [&] { order.push_back(2); });
  d.expires_after(20ms, [&] { order.push_back(22); });
  net.run_for(1s);
  CHECK(order == std::vector<int>{1, 2, 22, 3});
}

TEST_CASE("sim: a cancelled or destroyed timer never runs its handler", "[unit][runtime]") {
  SimNetwork net(3);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  int ran = 0;

  SECTION("destroyed by another handler due in the same tick") {
    auto victim = std::make_unique<Timer>(rt);
    Timer killer(rt);
    const TimePoint t = rt.now() + 5s;
    killer.expires_at(t, [&] { victim.reset(); });
    victim->expires_at(t, [&] { ++ran; });
    net.run_for(10s);
    CHECK(victim == nullptr);
  }
  SECTION("cancelled by another handler due in the same tick") {
    Timer victim(rt), killer(rt);
    const TimePoint t = rt.now() + 5s;
    killer.expires_at(t, [&] { CHECK(victim.cancel() == 1); });
    victim.expires_at(t, [&] { ++ran; });
    net.run_for(10s);
    CHECK_FALSE(victim.pending());
  }
  SECTION("cancelled directly, and re-armed expiries replace the old handler") {
    Timer t(rt);
    t.expires_after(1s, [&] { ++ran; });
    CHECK(t.cancel() == 1);
    CHECK(t.cancel() == 0);
    t.expires_after(1s, [&] { ran += 100; });
    t.expires_after(2s, [&] { ran += 10; });  // replaces the +100
    net.run_for(5s);
    CHECK(ran == 10);
    ran = 0;
  }
  SECTION("a handler may destroy its own timer, or re-arm it") {
    auto self = std::make_unique<Timer>(rt);
    self->expires_after(1s, [&] { self.reset(); });
    Timer periodic(rt);
    int ticks = 0;
    std::function<void()> tick = [&] {
      if (++ticks < 5) periodic.expires_after(1s, tick);
    };
    periodic.expires_after(1s, tick);
    net.run_for(10s);
    CHECK(self == nullptr);
    CHECK(ticks == 5);
  }
  CHECK(ran == 0);
}

TEST_CASE("sim: a moved timer keeps its expiry; assigning over one drops its handler",
          "[unit][runtime]") {
  SimNetwork net(11);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  int a = 0, b = 0;
  Timer first(rt);
  first.expires_after(1s, [&] { ++a; });
  Timer moved(std::move(first));
  CHECK(moved.pending());
  Timer other(rt);
  other.expires_after(1s, [&] { ++b; });
  other = std::move(moved);  // other's own handler is dropped; it now carries a's
  net.run_for(2s);
  CHECK(a == 1);
  CHECK(b == 0);
}

TEST_CASE("sim: cancelled timer events do not accumulate", "[unit][runtime]") {
  SimNetwork net(4);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  Timer t(rt);
  int ran = 0;
  for (int i = 0; i < 100'000; ++i)
    t.expires_after(1h, [&] { ++ran; });  // each re-arm cancels
  CHECK(net.pending_events() == 1);
  net.run_for(2h);
  CHECK(ran == 1);
  CHECK(net.pending_events() == 0);
}

TEST_CASE("sim: coroutines co_await Timer::async_wait on virtual time", "[unit][runtime]") {
  SimNetwork net(5);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));

  SECTION("waits complete with success after the virtual delay") {
    std::optional<Duration> took;
    asio::co_spawn(
        rt.executor(),
        [&]() -> asio::awaitable<void> {
          Timer t(rt);
          const TimePoint start = rt.now();
          for (int i = 0; i < 3; ++i) {
            t.expires_after(5s);
            const std::error_code ec = co_await t.async_wait(asio::use_awaitable);
            CHECK_FALSE(ec);
          }
          took = rt.now() - start;
        },
        asio::detached);
    CHECK(net.run_until([&] { return took.has_value(); }, 1min));
    CHECK(took == 15s);
  }
  SECTION("cancel() completes the wait with operation_canceled") {
    Timer t(rt);
    std::optional<std::error_code> result;
    t.expires_after(1h);
    asio::co_spawn(
        rt.executor(),
        [&]() -> asio::awaitable<void> { result = co_await t.async_wait(asio::use_awaitable); },
        asio::detached);
    Timer canceller(rt);
    canceller.expires_after(1s, [&] { CHECK(t.cancel() == 1); });
    CHECK(net.run_until([&] { return result.has_value(); }, 2h));
    CHECK(*result == std::errc::operation_canceled);
    CHECK(rt.now() - SimNetwork::kStart == 1s);
  }
  SECTION("destroying the timer unwinds the waiting coroutine without resuming it") {
    auto t = std::make_unique<Timer>(rt);
    bool resumed = false;
    bool unwound = false;
    struct Guard {
      bool* flag;
      ~Guard() { *flag = true; }
    };
    t->expires_after(1h);
    asio::co_spawn(
        rt.executor(),
        [&, timer = t.get()]() -> asio::awaitable<void> {
          Guard g{&unwound};
          (void)co_await timer->async_wait(asio::use_awaitable);
          resumed = true;
        },
        asio::detached);
    Timer killer(rt);
    killer.expires_after(1s, [&] { t.reset(); });
    net.run_for(2h);
    CHECK(t == nullptr);
    CHECK_FALSE(resumed);
    CHECK(unwound);
  }
  SECTION("an expiry in the past completes at once, never inline") {
    Timer t(rt);
    t.expires_at(rt.now() - 1s);
    bool done = false;
    t.async_wait([&](std::error_code ec) {
      CHECK_FALSE(ec);
      done = true;
    });
    CHECK_FALSE(done);
    net.run_for(0s);
    CHECK(done);
  }
}

TEST_CASE("sim: sockets bind, send, receive, truncate and count", "[unit][runtime]") {
  SimNetwork net(6, SimLink{.latency = 7ms});
  net.add_host(host_ip(1));
  net.add_host(host_ip(2));
  SimRuntime ra(net, host_ip(1)), rb(net, host_ip(2));
  auto a = bind_or_fail(ra, Ipv4Address{{0, 0, 0, 0}, 49737});
  auto b = bind_or_fail(rb);
  CHECK(a->local_address() == Ipv4Address{{0, 0, 0, 0}, 49737});
  CHECK(b->local_address().port >= 49152);

  // Binding errors are values.
  auto busy = ra.bind_udp(Ipv4Address{{0, 0, 0, 0}, 49737});
  REQUIRE_FALSE(busy.has_value());
  CHECK(busy.error() == std::errc::address_in_use);
  auto foreign = ra.bind_udp(Ipv4Address{host_ip(2), 0});
  REQUIRE_FALSE(foreign.has_value());
  CHECK(foreign.error() == std::errc::address_not_available);

  std::vector<std::pair<Bytes, Ipv4Address>> got;
  std::vector<TimePoint> at;
  b->set_receive_handler([&](ByteView d, const Ipv4Address& from) {
    got.emplace_back(to_bytes(d), from);
    at.push_back(rb.now());
  });
  const Ipv4Address to_b{host_ip(2), b->local_address().port};
  const TimePoint sent_at = ra.now();
  a->send(to_b, Bytes{0x00}, SendOptions{.ttl = 5});
  a->send(to_b, Bytes(2048, 0xab));
  a->send(to_b, Bytes(3000, 0xcd));
  a->send(to_b, Bytes(DatagramSocket::kMaxDatagramSize + 1, 0));  // refused
  a->send(to_b, Bytes{1, 2}, SendOptions{.ttl = 256});            // refused
  net.run_for(1s);

  REQUIRE(got.size() == 3);
  CHECK(got[0].first == Bytes{0x00});
  CHECK(got[0].second == Ipv4Address{host_ip(1), 49737});
  CHECK(got[1].first == Bytes(2048, 0xab));
  CHECK(got[2].first == Bytes(2048, 0xcd));  // cut to the receive buffer, as libudx does
  CHECK(at[0] - sent_at == 7ms);
  CHECK(a->counters().sent_datagrams == 3);
  CHECK(a->counters().send_errors == 2);
  CHECK(b->counters().received_datagrams == 3);
  CHECK(b->counters().received_truncated == 1);
  CHECK(b->counters().received_bytes == 1 + 2048 + 2048);

  // No handler: counted as dropped. Closed socket: the network counts it unbound.
  b->set_receive_handler(nullptr);
  a->send(to_b, Bytes{1, 2, 3});
  net.run_for(1s);
  CHECK(b->counters().received_dropped == 1);
  b->close();
  a->send(to_b, Bytes{1, 2, 3});
  b->send(Ipv4Address{host_ip(1), 49737}, Bytes{1});
  net.run_for(1s);
  CHECK(net.stats().packets_unbound == 1);
  CHECK(b->counters().send_errors == 1);

  // Loopback reaches the same host, from 127.0.0.1; unknown addresses are unroutable.
  auto c = bind_or_fail(ra);
  std::optional<Ipv4Address> from;
  c->set_receive_handler([&](ByteView, const Ipv4Address& f) { from = f; });
  a->send(Ipv4Address{{127, 0, 0, 1}, c->local_address().port}, Bytes{9, 9});
  a->send(Ipv4Address{{192, 0, 2, 1}, 1}, Bytes{9, 9});
  net.run_for(1s);
  CHECK(from == Ipv4Address{{127, 0, 0, 1}, 49737});
  CHECK(net.stats().packets_unroutable == 1);
}

TEST_CASE("sim: a receive handler may destroy its own socket", "[unit][runtime]") {
  SimNetwork net(7);
  net.add_host(host_ip(1));
  SimRuntime rt(net, host_ip(1));
  auto a = bind_or_fail(rt);
  auto b = bind_or_fail(rt);
  int calls = 0;
  b->set_receive_handler([&](ByteView, const Ipv4Address&) {
    ++calls;
    b.reset();
  });
  for (int i = 0; i < 3; ++i)
    a->send(Ipv4Address{host_ip(1), b->local_address().port}, Bytes{1, 2});
  net.run_for(1s);
  CHECK(calls == 1);
  CHECK(net.stats().packets_unbound == 2);
}

TEST_CASE("sim: loss, duplication and reordering match the link model", "[unit][runtime]") {
  const SimLink link{.latency = 10ms,
                     .jitter = 0ms,
                     .loss = 0.2,
                     .duplicate = 0.1,
                     .reorder = 0.1,
                     .reorder_delay = 20ms};
  SimNetwork net(8, link);
  net.add_host(host_ip(1));
  net.add_host(host_ip(2));
  SimRuntime ra(net, host_ip(1)), rb(net, host_ip(2));
  auto a = bind_or_fail(ra);
  auto b = bind_or_fail(rb);
  constexpr std::uint32_t kPackets = 20'000;
  std::uint32_t received = 0, out_of_order = 0, max_seen = 0;
  std::set<std::uint32_t> unique;
  b->set_receive_handler([&](ByteView d, const Ipv4Address&) {
    const std::uint32_t n = number_of(d);
    ++received;
    if (n < max_seen) ++out_of_order;
    max_seen = std::max(max_seen, n);
    unique.insert(n);
  });
  // One datagram per virtual millisecond, paced by a timer.
  Timer pace(ra);
  std::uint32_t next = 1;
  std::function<void()> send_one = [&] {
    a->send(Ipv4Address{host_ip(2), b->local_address().port}, numbered(next));
    if (++next <= kPackets) pace.expires_after(1ms, send_one);
  };
  pace.expires_after(1ms, send_one);
  net.run_for(kPackets * 1ms + 1s);

  const auto& s = net.stats();
  std::printf(
      "[runtime] link model over %u datagrams: lost %llu (exp 4000), duplicated %llu (exp "
      "1600), held back %llu (exp ~1760), arrived out of order %u\n",
      kPackets, static_cast<unsigned long long>(s.packets_lost),
      static_cast<unsigned long long>(s.packets_duplicated),
      static_cast<unsigned long long>(s.packets_reordered), out_of_order);
  CHECK(s.packets_sent == kPackets);
  // Binomial bounds at about 5 standard deviations.
  CHECK(s.packets_lost > 3700);
  CHECK(s.packets_lost < 4300);
  CHECK(s.packets_duplicated > 1400);
  CHECK(s.packets_duplicated < 1800);
  CHECK(s.packets_reordered > 1550);
  CHECK(s.packets_reordered < 1970);
  CHECK(received == kPackets - s.packets_lost + s.packets_duplicated);
  CHECK(unique.size() == kPackets - s.packets_lost);
  // A held-back copy lands behind ~20 later datagrams; only held-back copies can.
  CHECK(out_of_order <= s.packets_reordered);
  CHECK(out_of_order > s.packets_reordered * 9 / 10);
}

namespace {

struct ScenarioResult {
  std::uint64_t trace = 0;
  std::uint64_t received = 0;
  std::uint64_t events = 0;
};

// Nodes chatting at random intervals to random peers over a lossy, jittery link; everything
// random comes from the seed (the link and each SimRuntime's random_u32).
ScenarioResult run_scenario(std::uint64_t seed, int nodes, Duration how_long) {
  SimNetwork net(seed, SimLink{.latency = 20ms,
                               .jitter = 15ms,
                               .loss = 0.05,
                               .duplicate = 0.02,
                               .reorder = 0.05,
                               .reorder_delay = 30ms});
  struct Node {
    std::unique_ptr<SimRuntime> rt;
    std::unique_ptr<DatagramSocket> socket;
    std::unique_ptr<Timer> timer;
    std::function<void()> tick;
  };
  std::vector<Node> ns(static_cast<std::size_t>(nodes));
  std::uint64_t received = 0;
  for (int i = 0; i < nodes; ++i) {
    net.add_host(host_ip(static_cast<std::uint32_t>(i + 1)));
    Node& n = ns[static_cast<std::size_t>(i)];
    n.rt = std::make_unique<SimRuntime>(net, host_ip(static_cast<std::uint32_t>(i + 1)));
    n.socket = std::move(*n.rt->bind_udp(Ipv4Address{{0, 0, 0, 0}, 10000}));
    n.timer = std::make_unique<Timer>(*n.rt);
  }
  for (auto& n : ns) {
    n.socket->set_receive_handler([&received, &n](ByteView d, const Ipv4Address& from) {
      ++received;
      if (d.size() > 1 && d[0] == 'q') n.socket->send(from, Bytes{'r', d[1]});
    });
    n.tick = [&n, &ns] {
      const auto peer = 1 + n.rt->random_u32() % ns.size();
      n.socket->send(Ipv4Address{host_ip(static_cast<std::uint32_t>(peer)), 10000},
                     Bytes{'q', static_cast<std::uint8_t>(n.rt->random_u32())});
      n.timer->expires_after(std::chrono::milliseconds(50 + n.rt->random_u32() % 200), n.tick);
    };
    n.timer->expires_after(std::chrono::milliseconds(n.rt->random_u32() % 100), n.tick);
  }
  net.run_for(how_long);
  return {net.trace_hash(), received, net.stats().events};
}

}  // namespace

TEST_CASE("sim: a seed replays the same run; another seed does not", "[unit][runtime]") {
  const auto a = run_scenario(42, 50, 20s);
  const auto b = run_scenario(42, 50, 20s);
  const auto c = run_scenario(43, 50, 20s);
  CHECK(a.received > 5000);
  CHECK(a.trace == b.trace);
  CHECK(a.received == b.received);
  CHECK(a.events == b.events);
  CHECK(a.trace != c.trace);
}

namespace {

// `nodes` sockets, each pinging kFanout random others per virtual second for `rounds` seconds;
// every ping is answered.
void many_sockets(std::uint32_t nodes, int rounds) {
  const auto wall_start = WallClock::now();
  const std::clock_t cpu_start = std::clock();
  SimNetwork net(9, SimLink{.latency = 30ms, .jitter = 20ms});
  std::vector<std::unique_ptr<SimRuntime>> rts;
  std::vector<std::unique_ptr<DatagramSocket>> sockets;
  std::uint64_t requests = 0, replies = 0;
  for (std::uint32_t i = 0; i < nodes; ++i) {
    net.add_host(host_ip(i + 1));
    rts.push_back(std::make_unique<SimRuntime>(net, host_ip(i + 1)));
    sockets.push_back(bind_or_fail(*rts.back()));
  }
  for (auto& s : sockets) {
    s->set_receive_handler([&, sock = s.get()](ByteView d, const Ipv4Address& from) {
      if (d[0] == 'q') {
        ++requests;
        sock->send(from, Bytes{'r'});
      } else {
        ++replies;
      }
    });
  }
  constexpr int kFanout = 5;
  Timer round_timer(*rts[0]);
  int round = 0;
  std::function<void()> next_round = [&] {
    for (std::uint32_t i = 0; i < nodes; ++i) {
      for (int k = 0; k < kFanout; ++k) {
        const std::uint32_t peer = rts[i]->random_u32() % nodes;
        sockets[i]->send(Ipv4Address{host_ip(peer + 1), sockets[peer]->local_address().port},
                         Bytes{'q', 0, 0, 0});
      }
    }
    if (++round < rounds) round_timer.expires_after(1s, next_round);
  };
  round_timer.expires_after(1s, next_round);
  const TimePoint start = net.now();
  net.run_for(rounds * 1s + 10s);
  const double wall_ms = wall_ms_since(wall_start);
  const double cpu_ms = 1000.0 * static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  const std::uint64_t expected = std::uint64_t{nodes} * rounds * kFanout;
  std::printf(
      "[runtime] %u sockets: %llu datagrams, %llu events in %.0f s virtual, %.0f ms wall, "
      "%.0f ms cpu (%.2f M events per cpu second)\n",
      nodes, static_cast<unsigned long long>(net.stats().packets_delivered),
      static_cast<unsigned long long>(net.stats().events),
      std::chrono::duration<double>(net.now() - start).count(), wall_ms, cpu_ms,
      static_cast<double>(net.stats().events) / cpu_ms / 1000.0);
  CHECK(requests == expected);
  CHECK(replies == expected);
  CHECK(net.stats().packets_delivered == 2 * expected);
}

}  // namespace

TEST_CASE("sim: 2,000 sockets exchange datagrams", "[unit][runtime]") {
  many_sockets(2000, 20);  // 400,000 datagrams
}

// Hidden (run with "[bench]"): the same at 2,000,000 datagrams and 2,000,000 events.
TEST_CASE("sim: 2,000 sockets, 2 million datagrams", "[.][bench][sim]") {
  many_sockets(2000, 100);
}

TEST_CASE("sim: ping-pong retries through loss until answered", "[unit][runtime]") {
  SimNetwork net(10, SimLink{.latency = 10ms});
  net.add_host(host_ip(1));
  net.add_host(host_ip(2));
  SimRuntime client_rt(net, host_ip(1)), server_rt(net, host_ip(2));
  auto client = bind_or_fail(client_rt);
  auto server = bind_or_fail(server_rt, Ipv4Address{{0, 0, 0, 0}, 5000});
  const Ipv4Address server_addr{host_ip(2), 5000};

  auto run_ping = [&](int attempts) {
    std::optional<testing::PingOutcome> out;
    asio::co_spawn(client_rt.executor(),
                   testing::ping_pong(client_rt, *client, server_addr, attempts, 1s),
                   [&](std::exception_ptr e, testing::PingOutcome o) {
                     if (e) std::rethrow_exception(e);
                     out = o;
                   });
    REQUIRE(net.run_until([&] { return out.has_value(); }, 1min));
    return *out;
  };

  SECTION("server ignores the first two pings: answered on the third, timing exact") {
    testing::serve_pongs(*server, 2);
    const auto out = run_ping(5);
    CHECK(out.answered);
    CHECK(out.attempts == 3);
    CHECK(out.elapsed == 2s + 20ms);  // two timeouts, then one round trip
  }
  SECTION("nobody answers: gives up after max attempts") {
    const auto out = run_ping(4);
    CHECK_FALSE(out.answered);
    CHECK(out.attempts == 4);
    CHECK(out.elapsed == 4s);
    CHECK(client->counters().sent_datagrams == 4);
  }
  SECTION("30% loss each way: 200 pings, all answered within 20 attempts") {
    net.set_default_link(SimLink{.latency = 10ms, .jitter = 5ms, .loss = 0.3});
    testing::serve_pongs(*server);
    int answered = 0, retried = 0;
    for (int i = 0; i < 200; ++i) {
      const auto out = run_ping(20);  // P(20 failures) = 0.51^20 ~ 1.4e-6
      answered += out.answered ? 1 : 0;
      retried += out.attempts > 1 ? 1 : 0;
    }
    CHECK(answered == 200);
    CHECK(retried > 70);  // P(first try fails) = 1 - 0.7^2 = 0.51
  }
}
