// The per-source limit on incoming dht-rpc requests (RpcIoConfig::request_rate_limit, issue 8):
// a host over it gets no reply and its requests reach no handler, other hosts are answered as
// usual, a disabled limit answers everything, and the table of hosts stays capped. On the
// simulated network (10 ms one way, no loss), so every count below is exact.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/dht_node.hpp"
#include "core/rpc_io.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/source_rate_limiter.hpp"
#include "dht_testnet.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace std::chrono_literals;
using core::SimNetwork;
using core::SimRuntime;

namespace {

constexpr SimNetwork::Ip kNode{10, 0, 0, 1};
constexpr SimNetwork::Ip kFlooder{10, 0, 0, 2};
constexpr SimNetwork::Ip kOther{10, 0, 0, 3};

// A bare socket that sends hand-made requests and counts the replies it gets.
struct RawSource {
  RawSource(SimRuntime& rt, std::uint16_t port) {
    auto s = rt.bind_udp({{0, 0, 0, 0}, port});
    REQUIRE(s.has_value());
    sock = std::move(*s);
    sock->set_receive_handler([this](ByteView d, const Ipv4Address&) {
      if (rpc::decode_response(d)) ++replies;
    });
  }
  // A firewalled client's request, as a flood sends it: internal PING, or a user command (a
  // hyperdht one) when `user` is set.
  void send(const Ipv4Address& to, bool user = false) {
    rpc::Request q;
    q.tid = tid++;
    q.to = to;
    q.internal = !user;
    q.command = user ? 4 : rpc::command::kPing;  // 4: hyperdht LOOKUP
    sock->send(to, rpc::encode(q));
  }
  std::unique_ptr<core::DatagramSocket> sock;
  std::uint16_t tid = 1;
  int replies = 0;
};

struct World {
  SimNetwork net{7};
  bool hosts = [this] {
    for (const auto& ip : {kNode, kFlooder, kOther})
      net.add_host(ip);
    return true;
  }();
  SimRuntime node_rt{net, kNode};
  SimRuntime flooder_rt{net, kFlooder};
  SimRuntime other_rt{net, kOther};
};

// An RpcIo that answers every request (internal or not) and counts what reached it per host.
struct Responder {
  Responder(SimRuntime& rt, core::SourceRateLimit limit) {
    RpcIoConfig c;
    c.request_rate_limit = limit;
    RpcIo::Handlers h;
    h.on_request = [this](const IncomingRequest& req) {
      ++handled[req.from().addr.host_string()];
      req.send_reply(0, std::nullopt, false, false);
    };
    io = std::make_unique<RpcIo>(rt, c, h);
    REQUIRE(io->bind());
    addr = {rt.host(), io->server_socket()->local_address().port};
  }
  std::unique_ptr<RpcIo> io;
  Ipv4Address addr;
  std::map<std::string, int> handled;
};

}  // namespace

TEST_CASE(
    "request limit: a flooding host gets the burst, then the refill rate; others are "
    "answered",
    "[unit][ratelimit]") {
  World w;
  Responder node(w.node_rt, {.burst = 10, .per_second = 5});
  RawSource flooder(w.flooder_rt, 7000);
  RawSource other(w.other_rt, 7000);

  // 30 at once, PINGs and hyperdht commands alike: the burst of 10 is answered, 20 dropped.
  for (int i = 0; i < 30; ++i)
    flooder.send(node.addr, i % 2 == 1);
  w.net.run_for(50ms);
  CHECK(flooder.replies == 10);
  CHECK(node.handled["10.0.0.2"] == 10);  // dropped ones never reach a handler
  CHECK(node.io->stats().rate_limited_requests == 20);

  // Then 100/s for 2 s against a refill of 5/s: about 10 more answered, the rest dropped. A
  // well-behaved host meanwhile (2/s) is answered every time.
  for (int ms = 0; ms < 2000; ms += 10) {
    flooder.send(node.addr, ms % 20 == 0);
    if (ms % 500 == 0) other.send(node.addr, ms % 1000 == 0);
    w.net.run_for(10ms);
  }
  w.net.run_for(50ms);
  CHECK(flooder.replies >= 10 + 9);
  CHECK(flooder.replies <= 10 + 11);
  CHECK(node.io->stats().rate_limited_requests == 230u - static_cast<unsigned>(flooder.replies));
  CHECK(other.replies == 4);
  CHECK(node.handled["10.0.0.3"] == 4);
  CHECK(node.io->rate_limited_hosts() == 2);

  // Quiet for a while, the flooder has its burst again.
  w.net.run_for(3s);
  const int before = flooder.replies;
  for (int i = 0; i < 12; ++i)
    flooder.send(node.addr);
  w.net.run_for(50ms);
  CHECK(flooder.replies - before == 10);
}

TEST_CASE("request limit: the default (1000, 500/s) is what a DhtNode applies",
          "[unit][ratelimit]") {
  testnet::Testnet t(8);
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 10s));
  const SimNetwork::Ip ip{10, 9, 0, 1};
  t.net.add_host(ip);
  SimRuntime rt(t.net, ip);
  RawSource flooder(rt, 7000);
  DhtNode& node = *t.members[0]->node;
  const auto limited_before = node.io().stats().rate_limited_requests;

  for (int i = 0; i < 1200; ++i)
    flooder.send(t.bootstrap_addr);
  t.net.run_for(50ms);
  CHECK(flooder.replies == 1000);
  CHECK(node.io().stats().rate_limited_requests - limited_before == 200);

  // One second later the bucket holds 500 again.
  t.net.run_for(1s - 50ms);
  for (int i = 0; i < 600; ++i)
    flooder.send(t.bootstrap_addr);
  t.net.run_for(50ms);
  CHECK(flooder.replies == 1500);
  CHECK(node.io().stats().rate_limited_requests - limited_before == 300);
}

TEST_CASE("request limit: disabled, every request is answered", "[unit][ratelimit]") {
  World w;
  Responder node(w.node_rt, {.burst = 0, .per_second = 0});
  RawSource flooder(w.flooder_rt, 7000);
  for (int i = 0; i < 3000; ++i)
    flooder.send(node.addr, i % 2 == 1);
  w.net.run_for(50ms);
  CHECK(flooder.replies == 3000);
  CHECK(node.io->stats().rate_limited_requests == 0);
  CHECK(node.io->rate_limited_hosts() == 0);

  // A rate of 0 disables it too: a bucket that never refills is not a rate limit.
  Responder node2(w.node_rt, {.burst = 5, .per_second = 0});
  for (int i = 0; i < 20; ++i)
    flooder.send(node2.addr);
  w.net.run_for(50ms);
  CHECK(flooder.replies == 3020);
  CHECK(node2.io->stats().rate_limited_requests == 0);
}

TEST_CASE("request limit: the table of hosts stays capped under requests from many sources",
          "[unit][ratelimit]") {
  World w;
  Responder node(w.node_rt, {.burst = 1000, .per_second = 500});
  rpc::Request q;
  q.to = node.addr;
  q.internal = true;
  q.command = rpc::command::kPing;
  const Bytes ping = rpc::encode(q);

  // 20 000 source hosts in the same instant (injected as if received: none of them exists),
  // so no bucket is full again when the table overflows and hosts must be forgotten unrefilled.
  constexpr std::uint32_t kSources = 20000;
  std::size_t most = 0;
  for (std::uint32_t i = 0; i < kSources; ++i) {
    const Ipv4Address from{{172, static_cast<std::uint8_t>(16 + (i >> 16)),
                            static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)},
                           4000};
    node.io->on_message(*node.io->server_socket(), ping, from);
    most = std::max(most, node.io->rate_limited_hosts());
  }
  CHECK(most == core::SourceRateLimiter::kMaxHosts);  // filled up to the cap, never beyond
  CHECK(node.io->rate_limited_hosts() <= core::SourceRateLimiter::kMaxHosts);
  // Each had a fresh bucket: every request was handled.
  int handled = 0;
  for (const auto& [host, n] : node.handled)
    handled += n;
  CHECK(handled == static_cast<int>(kSources));
  CHECK(node.io->stats().rate_limited_requests == 0);

  // Hosts whose bucket is full again are forgotten first at the next overflow: after as many
  // new hosts as the cap, only the new ones are left (forgetting arbitrary ones would have
  // dropped some new ones too).
  w.net.run_for(3s);
  for (std::uint32_t i = 0; i < core::SourceRateLimiter::kMaxHosts; ++i) {
    const Ipv4Address from{
        {192, 168, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)}, 4000};
    node.io->on_message(*node.io->server_socket(), ping, from);
  }
  CHECK(node.io->rate_limited_hosts() == core::SourceRateLimiter::kMaxHosts);
  CHECK(node.io->stats().rate_limited_requests == 0);
}
