#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "core/dht_node.hpp"
#include "core/network_health.hpp"
#include "dht_testnet.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace hdht::dht::testnet;
using namespace std::chrono_literals;

namespace {

// A bare socket on its own host that sends hand-made requests and records what comes back.
struct RawPeer {
  RawPeer(core::SimNetwork& net, std::uint32_t host_index, std::uint16_t port)
      : rt(std::make_unique<core::SimRuntime>(
            net, (net.add_host(host_ip(host_index)), host_ip(host_index)))) {
    auto s = rt->bind_udp({{0, 0, 0, 0}, port});
    REQUIRE(s.has_value());
    sock = std::move(*s);
    addr = {rt->host(), sock->local_address().port};
    sock->set_receive_handler([this](ByteView d, const Ipv4Address& from) {
      auto r = rpc::decode_response(d);
      if (r) got.push_back({*r, from, rt->now()});
    });
  }
  void send(const Ipv4Address& to, const rpc::Request& req) { sock->send(to, rpc::encode(req)); }

  struct Got {
    rpc::Response res;
    Ipv4Address from;
    core::TimePoint at;
  };
  std::unique_ptr<core::SimRuntime> rt;
  std::unique_ptr<core::DatagramSocket> sock;
  Ipv4Address addr;
  std::vector<Got> got;
};

rpc::Request internal_request(std::uint16_t tid, std::uint64_t command,
                              std::optional<Bytes> value = std::nullopt,
                              std::optional<Bytes32> target = std::nullopt) {
  rpc::Request r;
  r.tid = tid;
  r.internal = true;
  r.command = command;
  r.value = std::move(value);
  r.target = target;
  return r;
}

bool in_any_table(const Testnet& t, const Bytes32& id) {
  for (const auto& m : t.members)
    if (m->node && m->node->table().has(id)) return true;
  return false;
}

bool addr_in_any_table(const Testnet& t, const Ipv4Address& addr) {
  for (const auto& m : t.members) {
    if (!m->node) continue;
    for (const Node* n : m->node->table().to_array())
      if (n->addr == addr) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("node: config parsing and bootstrapper defaults", "[unit][node]") {
  auto e = BootstrapEntry::parse("1.2.3.4@node1.hyperdht.org:49737");
  REQUIRE(e);
  CHECK(e->suggested == "1.2.3.4");
  CHECK(e->host == "node1.hyperdht.org");
  CHECK(e->port == 49737);
  CHECK(e->to_string() == "1.2.3.4@node1.hyperdht.org:49737");
  CHECK(BootstrapEntry::parse("10")->host == "127.0.0.1");
  CHECK_FALSE(BootstrapEntry::parse("host:"));
  CHECK_FALSE(BootstrapEntry::parse("host:70000"));
  CHECK_FALSE(BootstrapEntry::parse("x@host:1"));
  auto list = BootstrapEntry::parse_list("a:1, b:2\n c:3");
  REQUIRE(list);
  CHECK(list->size() == 3);
  CHECK_FALSE(BootstrapEntry::parse_list("a:1,b"));

  const DhtConfig c = DhtConfig::bootstrapper(5000, Ipv4Address{{1, 2, 3, 4}, 0});
  CHECK(c.ephemeral == false);
  CHECK_FALSE(c.io.firewalled);
  CHECK_FALSE(c.io.any_port);
  CHECK(c.bootstrap.empty());
  CHECK(c.bootstrapper_address == Ipv4Address{{1, 2, 3, 4}, 5000});
}

TEST_CASE("node: network health follows the reference's window", "[unit][node]") {
  NetworkHealth h;
  using S = NetworkHealth::Signal;
  std::uint64_t res = 0, to = 0;
  // Cold for the first 3 updates.
  for (int i = 0; i < 3; ++i)
    CHECK(h.update(res += 10, to) == S::none);
  CHECK(h.update(res += 10, to) == S::online);
  // Offline needs two offline ticks (no responses, but traffic: timeouts).
  CHECK(h.update(res, to += 10) == S::online);
  CHECK(h.update(res, to += 10) == S::offline);
  CHECK_FALSE(h.online());
  // Degraded needs 4 degraded ticks in the window.
  for (int i = 0; i < 3; ++i)
    h.update(res += 2, to += 8);
  CHECK_FALSE(h.degraded());
  CHECK(h.update(res += 2, to += 8) == S::degraded);
  h.reset();
  CHECK(h.online());
  CHECK(h.cold());
}

TEST_CASE("node: 30 nodes bootstrap; persistent ids; adaptive nodes turn persistent later",
          "[unit][node]") {
  Testnet t(42);
  std::vector<Member*> forced, adaptive;
  for (int i = 0; i < 30; ++i) {
    const bool persistent = i % 3 != 2;
    Member& m = t.spawn(t.node_config(persistent));
    (persistent ? forced : adaptive).push_back(&m);
  }
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 60s));

  for (Member* m : forced) {
    CHECK(m->ready == 1);
    REQUIRE(m->node->id());
    CHECK(*m->node->id() == rpc::node_id(m->addr));
    CHECK_FALSE(m->node->firewalled());
    CHECK(m->node->remote_address() == m->addr);
  }
  // Firewalled by config and adaptive: the quick firewall check opened the firewall, but they
  // stay ephemeral until the stable countdown, and nobody lists them.
  for (Member* m : adaptive) {
    CHECK(m->ready == 1);
    CHECK(m->node->ephemeral());
    CHECK_FALSE(m->node->id());
    CHECK_FALSE(addr_in_any_table(t, m->addr));
  }
  CHECK(t.members[0]->node->table().size() >= forced.size() - 1);

  // stable_ticks = 10 at 1 s ticks: persistent within ~12 s.
  REQUIRE(t.net.run_until(
      [&] {
        return std::all_of(adaptive.begin(), adaptive.end(),
                           [](Member* m) { return !m->node->ephemeral(); });
      },
      60s));
  for (Member* m : adaptive) {
    CHECK(m->persistent == 1);
    CHECK_FALSE(m->node->firewalled());
    REQUIRE(m->node->id());
    CHECK(*m->node->id() == rpc::node_id(m->addr));
  }
  // After a refresh round they are known to others.
  t.net.run_for(20s);
  for (Member* m : adaptive)
    CHECK(in_any_table(t, rpc::node_id(m->addr)));
}

TEST_CASE("node: internal commands answer as the reference", "[unit][node]") {
  Testnet t(7);
  for (int i = 0; i < 8; ++i)
    t.spawn(t.node_config(true));
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 60s));
  t.net.run_for(5s);
  DhtNode& node = *t.members[1]->node;
  const Ipv4Address to = t.members[1]->addr;
  RawPeer raw(t.net, 500, 6000);
  RawPeer other(t.net, 501, 0);  // a second socket on another host (never addressed)

  SECTION("PING and PING_NAT (port redirect; bad values get no reply)") {
    raw.send(to, internal_request(1, rpc::command::kPing));
    // Ask for the reply on port 7000 of our host.
    auto sock7000 = raw.rt->bind_udp({{0, 0, 0, 0}, 7000});
    REQUIRE(sock7000.has_value());
    std::vector<rpc::Response> at7000;
    (*sock7000)->set_receive_handler([&](ByteView d, const Ipv4Address&) {
      if (auto r = rpc::decode_response(d)) at7000.push_back(*r);
    });
    raw.send(to, internal_request(2, rpc::command::kPingNat, Bytes{0x58, 0x1b}));  // 7000 LE
    raw.send(to, internal_request(3, rpc::command::kPingNat, Bytes{0, 0}));        // port 0
    raw.send(to, internal_request(4, rpc::command::kPingNat, Bytes{1}));           // short
    raw.send(to, internal_request(5, rpc::command::kPingNat));                     // no value
    t.net.run_for(2s);
    REQUIRE(raw.got.size() == 1);
    CHECK(raw.got[0].res.tid == 1);
    CHECK(raw.got[0].res.error == 0);
    CHECK(raw.got[0].res.to == raw.addr);
    CHECK_FALSE(raw.got[0].res.token);
    REQUIRE(at7000.size() == 1);
    CHECK(at7000[0].tid == 2);
    CHECK(at7000[0].to == Ipv4Address{raw.rt->host(), 7000});
    CHECK(at7000[0].id == node.id());  // sent from the server socket of a persistent node
  }

  SECTION("FIND_NODE lists closer nodes; no target, no reply; unknown internal command") {
    Bytes32 target{};
    target[0] = 0x55;
    raw.send(to, internal_request(1, rpc::command::kFindNode, std::nullopt, target));
    raw.send(to, internal_request(2, rpc::command::kFindNode));
    raw.send(to, internal_request(3, 99, std::nullopt, target));
    raw.send(to, internal_request(4, 99));
    rpc::Request user = internal_request(5, 42);
    user.internal = false;
    raw.send(to, user);
    t.net.run_for(2s);
    REQUIRE(raw.got.size() == 4);
    CHECK(raw.got[0].res.tid == 1);
    CHECK(raw.got[0].res.error == 0);
    CHECK(raw.got[0].res.closer_nodes.size() == std::min<std::size_t>(20, node.table().size()));
    CHECK_FALSE(raw.got[0].res.token);
    CHECK(raw.got[1].res.tid == 3);
    CHECK(raw.got[1].res.error == rpc::error_code::kUnknownCommand);
    CHECK_FALSE(raw.got[1].res.closer_nodes.empty());
    CHECK(raw.got[2].res.tid == 4);
    CHECK(raw.got[2].res.closer_nodes.empty());
    CHECK(raw.got[3].res.tid == 5);
    CHECK(raw.got[3].res.error == rpc::error_code::kUnknownCommand);
  }

  SECTION("the request handler claims user commands") {
    int seen = 0;
    node.set_request_handler([&](const IncomingRequest& req) {
      ++seen;
      req.reply(ByteView(req.message().value.value()));
      return true;
    });
    rpc::Request user = internal_request(9, 42, Bytes{1, 2, 3});
    user.internal = false;
    raw.send(to, user);
    t.net.run_for(1s);
    CHECK(seen == 1);
    REQUIRE(raw.got.size() == 1);
    CHECK(raw.got[0].res.value == Bytes{1, 2, 3});
  }

  SECTION("DELAYED_PING replies after the delay; above the maximum, never") {
    raw.send(to, internal_request(1, rpc::command::kDelayedPing, Bytes{0xf4, 0x01, 0, 0}));  // 500
    raw.send(to,
             internal_request(2, rpc::command::kDelayedPing, Bytes{0x11, 0x27, 0, 0}));  // 10001
    raw.send(to, internal_request(3, rpc::command::kDelayedPing, Bytes{1, 0}));          // short
    const auto sent = t.net.now();
    t.net.run_for(15s);
    REQUIRE(raw.got.size() == 1);
    CHECK(raw.got[0].res.tid == 1);
    CHECK(raw.got[0].at - sent >= 500ms);
    CHECK(raw.got[0].at - sent < 600ms);
  }

  SECTION("DOWN_HINT makes the node check the hinted node, which is removed if dead") {
    Member& victim = *t.members[2];
    const Bytes32 victim_id = rpc::node_id(victim.addr);
    REQUIRE(node.table().has(victim_id));
    victim.node.reset();  // gone without a word
    Bytes hint(6);
    for (int i = 0; i < 4; ++i)
      hint[static_cast<std::size_t>(i)] = victim.addr.ip[static_cast<std::size_t>(i)];
    hint[4] = static_cast<std::uint8_t>(victim.addr.port);
    hint[5] = static_cast<std::uint8_t>(victim.addr.port >> 8);
    raw.send(to, internal_request(1, rpc::command::kDownHint, hint));
    raw.send(to, internal_request(2, rpc::command::kDownHint, Bytes{1, 2, 3}));  // short
    t.net.run_for(500ms);
    REQUIRE(raw.got.size() == 1);
    CHECK(raw.got[0].res.tid == 1);
    // The check (PING with 3 retries at 1 s) fails within ~4 s, before ping-some would get there.
    REQUIRE(t.net.run_until([&] { return !node.table().has(victim_id); }, 6s));
  }
  (void)other;
}

TEST_CASE("node: a node that goes away leaves every table", "[unit][node]") {
  Testnet t(11);
  for (int i = 0; i < 15; ++i)
    t.spawn(t.node_config(true));
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 60s));
  t.net.run_for(10s);
  Member& victim = *t.members[5];
  const Bytes32 id = rpc::node_id(victim.addr);
  REQUIRE(in_any_table(t, id));
  victim.node.reset();
  // Ping-some runs every 8 ticks and checks the oldest nodes first.
  CHECK(t.net.run_until([&] { return !in_any_table(t, id); }, 300s));
}

TEST_CASE("node: wakeup after a tick gap, and after resume", "[unit][node]") {
  Testnet t(3);
  DhtConfig c = t.node_config(true);
  c.tick_interval = 2000ms;  // every tick arrives later than the sleeping interval
  c.sleeping_interval = 1500ms;
  Member& m = t.spawn(c);
  int ephemeral_events = 0;
  m.node->events().ephemeral = [&] { ++ephemeral_events; };
  const std::int64_t before = m.node->tick();
  t.net.run_for(2100ms);
  CHECK(m.wakeups == 1);
  // tick + 720, then rounded to 6 mod 8 (which may step back by one, as in the JS).
  CHECK(m.node->tick() >= before + 2 * 360 - 1);
  CHECK((m.node->tick() & 7) == 6);  // a round of pings in two ticks
  CHECK(ephemeral_events == 0);      // forced persistent: not adaptive

  Member& a = t.spawn(t.node_config(false));
  REQUIRE(t.net.run_until([&] { return !a.node->ephemeral(); }, 60s));
  a.node->suspend();
  t.net.run_for(30s);
  CHECK(a.wakeups == 0);
  REQUIRE(a.node->resume());
  CHECK(a.wakeups == 1);
  CHECK(a.node->ephemeral());  // adaptive nodes go back to ephemeral on wakeup
}

TEST_CASE("node: a full bucket re-pings its oldest node and swaps a dead one", "[unit][node]") {
  Testnet t(5);
  Member& x = t.spawn(t.node_config(true));
  REQUIRE(t.net.run_until([&] { return x.node->bootstrapped() && !x.node->ephemeral(); }, 60s));
  const Bytes32 xid = x.node->table().id();

  // Fill bucket 0 of x with addresses nobody answers on.
  std::set<Bytes32> fakes;
  for (std::uint32_t i = 0; x.node->table().bucket(0).size() < 20; ++i) {
    const Ipv4Address a{{10, 200, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)},
                        1};
    if (x.node->table().bucket_index(rpc::node_id(a)) != 0) continue;
    x.node->add_node(a);
    fakes.insert(rpc::node_id(a));
  }
  t.net.run_for(2s);  // pinged at an older tick than the current one

  // A newcomer (a bare socket sending a PING with its valid id) whose id lands in the same bucket.
  std::uint32_t idx = 3000;
  while (x.node->table().bucket_index(rpc::node_id({host_ip(idx), kPort})) != 0)
    ++idx;
  RawPeer y(t.net, idx, kPort);
  const Bytes32 yid = rpc::node_id(y.addr);
  std::vector<std::pair<bool, Bytes32>> events;  // (added?, id)
  x.node->events().add_node = [&](const Node& n) { events.push_back({true, n.id}); };
  x.node->events().remove_node = [&](const Node& n) { events.push_back({false, n.id}); };
  rpc::Request ping = internal_request(1, rpc::command::kPing);
  ping.id = yid;
  y.send(x.addr, ping);
  // The re-ping of the oldest fake times out after 4 transmissions at 1 s.
  REQUIRE(t.net.run_until([&] { return x.node->table().has(yid); }, 10s));
  REQUIRE(events.size() >= 2);
  CHECK(events[events.size() - 1] == std::make_pair(true, yid));
  CHECK_FALSE(events[events.size() - 2].first);
  CHECK(fakes.contains(events[events.size() - 2].second));
  CHECK(x.node->table().bucket(0).size() == 20);
  (void)xid;
}

TEST_CASE("node: destroy with requests in flight runs no callbacks", "[unit][node]") {
  Testnet t(9);
  Member& m = t.spawn(t.node_config(true));
  REQUIRE(t.net.run_until([&] { return m.node->bootstrapped(); }, 60s));
  int responses = 0, errors = 0, closes = 0;
  RequestCallbacks cb;
  cb.on_response = [&](const Reply&) { ++responses; };
  cb.on_error = [&](std::error_code) { ++errors; };
  const Ipv4Address nowhere{{10, 250, 0, 1}, 1};

  SECTION("destroy(): the caller's request fails once, the node's own work stops") {
    m.node->events().close = [&] { ++closes; };
    auto h = m.node->ping(nowhere, cb);
    auto q = m.node->find_node(Bytes32{});
    int query_done = 0;
    q->on_done([&](std::error_code) { ++query_done; });
    q->start();
    m.node->refresh();
    m.node->destroy();
    m.node->destroy();
    CHECK(closes == 1);
    CHECK(errors == 1);
    t.net.run_for(30s);
    CHECK(errors == 1);
    CHECK(responses == 0);
    CHECK(query_done == 1);
    CHECK(m.node->destroyed());
    CHECK(m.node->io().inflight() == 0);
  }
  SECTION("~DhtNode: nothing runs afterwards") {
    auto h = m.node->ping(nowhere, cb);
    auto h2 = m.node->ping(t.bootstrap_addr, cb);
    m.node->refresh();
    m.node.reset();
    t.net.run_for(30s);
    CHECK(responses == 0);
    CHECK(errors == 0);
  }
}

TEST_CASE("queries_active counts user and background queries until they end", "[unit][dht-node]") {
  Testnet t(99);
  for (int i = 0; i < 8; ++i)
    t.spawn(t.node_config(true));
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 60s));
  t.net.run_for(2s);
  DhtNode& node = *t.members[3]->node;
  const auto idle = node.stats().queries_active;
  const auto total = node.stats().queries_total;

  Bytes32 target{};
  auto next_target = [&] {
    target[0] = static_cast<std::uint8_t>(target[0] + 0x35);
    return target;
  };
  auto unstarted = node.find_node(next_target());
  CHECK(node.stats().queries_active == idle);  // counted from start()
  CHECK(node.stats().queries_total == total + 1);

  auto q = node.find_node(next_target());
  bool done = false;
  q->on_done([&](std::error_code) { done = true; });
  q->start();
  CHECK(node.stats().queries_active == idle + 1);
  REQUIRE(t.net.run_until([&] { return done; }, 30s));
  CHECK(node.stats().queries_active <= idle);  // background queries may have ended meanwhile

  const auto before = node.stats().queries_active;
  auto abandoned = node.find_node(next_target());
  abandoned->start();
  CHECK(node.stats().queries_active == before + 1);
  abandoned.reset();  // destroyed before it completed
  CHECK(node.stats().queries_active == before);
}
