// UDX relaying (UdxStream::relay_to, libudx udx_stream_relay_to) on the simulated network: two
// peers whose streams connect to a relay host's pair of streams, each relaying to the other, as
// blind-relay sets them up. Data both ways, the id rewrite, END passing through, DESTROY
// propagation and the relay-side teardown libudx does.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "tests/unit/sim_udx_host.hpp"

using namespace hdht;
using namespace hdht::core;
using namespace std::chrono_literals;

namespace {

constexpr SimNetwork::Ip kIpA{10, 0, 0, 1};
constexpr SimNetwork::Ip kIpB{10, 0, 0, 2};
constexpr SimNetwork::Ip kIpRelay{10, 0, 0, 9};
constexpr std::uint16_t kPort = test::kSimUdxPort;
constexpr std::uint32_t kIdA = 0x11, kIdB = 0x22, kIdRelayA = 0x33, kIdRelayB = 0x44;

Bytes numbered(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(i * 31 + salt + (i >> 10));
  return b;
}

using Host = test::SimUdxHost;

// What one stream saw.
struct Seen {
  void watch(UdxStream& s) {
    auto& h = s.handlers();
    h.on_data = [this](ByteView d) { data.insert(data.end(), d.begin(), d.end()); };
    h.on_end = [this] { ended = true; };
    h.on_close = [this](std::error_code ec) { closed = ec; };
  }
  Bytes data;
  bool ended = false;
  std::optional<std::error_code> closed;
};

// A and B talk through the relay host's two streams, wired as blind-relay's activate() does:
// each relay-side stream connects to whoever sends it the first packet.
struct Relayed {
  Relayed() : net(5, link()) {
    for (const auto& ip : {kIpA, kIpB, kIpRelay})
      net.add_host(ip);
    a = std::make_unique<Host>(net, kIpA);
    b = std::make_unique<Host>(net, kIpB);
    r = std::make_unique<Host>(net, kIpRelay);
    sa = a->stream(kIdA);
    sb = b->stream(kIdB);
    ra = r->stream(kIdRelayA);
    rb = r->stream(kIdRelayB);
    accept_first(*ra, kIdA);
    accept_first(*rb, kIdB);
    REQUIRE(ra->relay_to(*rb).has_value());
    REQUIRE(rb->relay_to(*ra).has_value());
    seen_a.watch(*sa);
    seen_b.watch(*sb);
    ra->handlers().on_close = [this](std::error_code ec) { ra_closed = ec; };
    rb->handlers().on_close = [this](std::error_code ec) { rb_closed = ec; };
    REQUIRE(sa->connect(kIdRelayA, {kIpRelay, kPort}).has_value());
    REQUIRE(sb->connect(kIdRelayB, {kIpRelay, kPort}).has_value());
  }
  static SimLink link() {
    SimLink l;
    l.latency = 5ms;
    return l;
  }
  static void accept_first(UdxStream& s, std::uint32_t remote_id) {
    s.handlers().on_firewall = [&s, remote_id](UdxSocket& socket, const Ipv4Address& from) {
      REQUIRE(s.connect(socket, remote_id, from).has_value());
      return false;
    };
  }

  SimNetwork net;
  std::unique_ptr<Host> a, b, r;
  std::unique_ptr<UdxStream> sa, sb, ra, rb;
  Seen seen_a, seen_b;
  std::optional<std::error_code> ra_closed, rb_closed;
};

}  // namespace

TEST_CASE("udx relay: data both ways through a relaying pair, END/END", "[unit][udx][relay]") {
  Relayed t;
  const Bytes ab = numbered(1 << 20, 1), ba = numbered(300000, 2);
  // B's first packet may reach rb before A's reached ra: ra is unconnected then and the packet
  // is dropped, as in libudx; retransmission covers it.
  REQUIRE(t.sb->write(ba).has_value());
  REQUIRE(t.sa->write(ab).has_value());
  REQUIRE(t.sa->end().has_value());
  REQUIRE(t.sb->end().has_value());
  CHECK(t.net.run_until([&] { return t.seen_a.closed && t.seen_b.closed; }, 60s));
  CHECK((t.seen_b.data == ab));
  CHECK((t.seen_a.data == ba));
  REQUIRE(t.seen_a.closed);
  CHECK_FALSE(*t.seen_a.closed);
  CHECK_FALSE(*t.seen_b.closed);
  // The relay forwarded, it did not terminate: END passes through and its streams stay up.
  CHECK(t.ra->state() == UdxStreamState::connected);
  CHECK(t.ra->remote() == Ipv4Address{kIpA, kPort});
  CHECK(t.rb->remote_id() == kIdB);
  CHECK(t.ra->counters().packets_relayed > (1u << 20) / 1500);
  CHECK(t.rb->counters().packets_relayed > 0);
  CHECK(t.ra->counters().bytes_delivered == 0);
  CHECK(t.ra->counters().acks_sent == 0);
  CHECK_FALSE(t.ra_closed);
}

TEST_CASE("udx relay: a peer's DESTROY resets the other peer and closes both relay streams",
          "[unit][udx][relay]") {
  Relayed t;
  REQUIRE(t.sa->write(numbered(5000, 3)).has_value());
  REQUIRE(t.sb->write(numbered(5000, 4)).has_value());
  CHECK(t.net.run_until(
      [&] { return t.seen_a.data.size() == 5000 && t.seen_b.data.size() == 5000; }, 10s));
  t.sa->destroy();
  CHECK(t.net.run_until([&] { return t.seen_b.closed.has_value(); }, 5s));
  REQUIRE(t.seen_b.closed);
  CHECK(*t.seen_b.closed == std::errc::connection_reset);
  // ra saw the DESTROY (ECONNRESET) and took rb down with it, silently.
  REQUIRE(t.ra_closed);
  CHECK(*t.ra_closed == std::errc::connection_reset);
  REQUIRE(t.rb_closed);
  CHECK_FALSE(*t.rb_closed);
  CHECK_FALSE(t.r->udx->has_stream(kIdRelayA));
  CHECK_FALSE(t.r->udx->has_stream(kIdRelayB));
}

TEST_CASE("udx relay: destroying a relay stream closes its relayer without a DESTROY",
          "[unit][udx][relay]") {
  Relayed t;
  REQUIRE(t.sa->write(numbered(2000, 5)).has_value());
  REQUIRE(t.sb->write(numbered(2000, 6)).has_value());
  CHECK(t.net.run_until(
      [&] { return t.seen_a.data.size() == 2000 && t.seen_b.data.size() == 2000; }, 10s));
  t.net.run_for(1s);  // the last acks settle
  const auto a_in = t.sa->counters().packets_received, b_in = t.sb->counters().packets_received;
  t.rb.reset();  // the relay drops one side (blind-relay's link.destroy)
  REQUIRE(t.ra_closed);
  CHECK_FALSE(*t.ra_closed);
  CHECK(t.r->udx->stream_count() == 0);
  // Neither peer was told (no DESTROY from either relay stream): they time out on their own, as
  // with libudx.
  t.net.run_for(2s);
  CHECK(t.sa->counters().packets_received == a_in);
  CHECK(t.sb->counters().packets_received == b_in);
  CHECK_FALSE(t.seen_a.closed);
  CHECK_FALSE(t.seen_b.closed);
}

TEST_CASE("udx relay: relay_to argument errors", "[unit][udx][relay]") {
  SimNetwork net(1);
  net.add_host(kIpRelay);
  Host r(net, kIpRelay);
  auto s1 = r.stream(1), s2 = r.stream(2), s3 = r.stream(3);
  CHECK(s1->relay_to(*s1).error() == std::errc::invalid_argument);
  REQUIRE(s1->relay_to(*s2).has_value());
  CHECK(s1->relay_to(*s3).error() == std::errc::invalid_argument);  // relays once
  CHECK(s1->relaying());
  s3->destroy();
  CHECK(s2->relay_to(*s3).error() == std::errc::invalid_argument);  // closed destination
  // Destroying the destination first leaves no dangling link behind.
  s2.reset();
  CHECK(s1->state() == UdxStreamState::closed);
  CHECK_FALSE(s1->relaying());
}

TEST_CASE("udx stream: the firewall hook sees a connected stream's packets on another socket",
          "[unit][udx][relay]") {
  // libudx runs the hook whenever a packet arrives on a socket of the instance other than the
  // stream's own: hyperdht's relay -> direct upgrade learns the punched path that way.
  SimNetwork net(2);
  net.add_host(kIpA);
  net.add_host(kIpB);
  Host a(net, kIpA), b(net, kIpB);
  auto second_sock = a.rt.bind_udp({kIpA, kPort + 1});
  REQUIRE(second_sock.has_value());
  UdxSocket second(a.rt, **second_sock, &a.udx->table());  // same instance as a.udx
  second.attach({});
  auto sa = a.stream(kIdA), sb = b.stream(kIdB);
  Seen seen;
  seen.watch(*sa);
  std::vector<std::uint16_t> hook_ports;
  bool reject = true;
  sa->handlers().on_firewall = [&](UdxSocket& via, const Ipv4Address& from) {
    hook_ports.push_back(via.socket().local_address().port);
    CHECK(from == Ipv4Address{kIpB, kPort});
    return reject;
  };
  REQUIRE(sa->connect(kIdB, {kIpB, kPort}).has_value());
  REQUIRE(sb->connect(kIdA, {kIpA, kPort}).has_value());
  REQUIRE(sb->write(numbered(100, 1)).has_value());
  net.run_for(200ms);
  CHECK(hook_ports.empty());  // on its own socket: no hook
  CHECK(seen.data.size() == 100);
  // B now sends to A's other socket: the hook runs; rejected packets are dropped.
  REQUIRE(sb->change_remote(*b.udx, kIdA, {kIpA, kPort + 1}).has_value());
  REQUIRE(sb->write(numbered(100, 2)).has_value());
  net.run_for(200ms);
  REQUIRE_FALSE(hook_ports.empty());
  CHECK(hook_ports.front() == kPort + 1);
  CHECK(seen.data.size() == 100);
  reject = false;  // accepted: processed as usual
  net.run_for(3s);
  CHECK(seen.data.size() == 200);
  // Without a hook a connected stream processes packets from any socket of the instance.
  sa->handlers().on_firewall = nullptr;
  REQUIRE(sb->write(numbered(50, 3)).has_value());
  net.run_for(3s);
  CHECK(seen.data.size() == 250);
}
