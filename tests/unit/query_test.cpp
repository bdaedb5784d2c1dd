// dht::Query against the scripted network of tests/interop/query_sim.hpp (virtual clock, no
// sockets). The step-by-step equivalence with the JS Query is the differential op "queryTrace";
// these tests pin the behaviours one by one and the convergence on large networks.
#include "core/query.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <set>

#include "core/rpc_errors.hpp"
#include "core/sim_random.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "tests/interop/query_sim.hpp"

using hdht::Bytes;
using hdht::Bytes32;
using hdht::Ipv4Address;
using hdht::core::SimRandom;
using hdht::dht::NodeRef;
using hdht::dht::Query;
using hdht::dht::QueryOptions;
using hdht::dht::Reply;
using hdht::dht::RpcErrc;
using hdht::querysim::QuerySim;
using hdht::querysim::SimNode;
using hdht::rpc::node_id;
using hdht::rpc::xor_compare;

namespace {

constexpr std::uint64_t kFindNode = hdht::rpc::command::kFindNode;

Ipv4Address addr(std::uint32_t i) {
  return Ipv4Address{{10, static_cast<std::uint8_t>(i >> 16), static_cast<std::uint8_t>(i >> 8),
                      static_cast<std::uint8_t>(i)},
                     static_cast<std::uint16_t>(1000 + i)};
}

Bytes32 random_id(SimRandom& rng) {
  Bytes32 id{};
  for (auto& b : id)
    b = static_cast<std::uint8_t>(rng.next_u32());
  return id;
}

// node_id is a BLAKE2b hash; the big networks sort by it a lot.
const Bytes32& id_of(const Ipv4Address& a) {
  static std::unordered_map<Ipv4Address, Bytes32> cache;
  auto it = cache.find(a);
  if (it == cache.end()) it = cache.emplace(a, node_id(a)).first;
  return it->second;
}

void sort_by_distance(const Bytes32& target, std::vector<Ipv4Address>& v) {
  std::sort(v.begin(), v.end(), [&](const Ipv4Address& a, const Ipv4Address& b) {
    return xor_compare(target, id_of(a), id_of(b)) < 0;
  });
}

std::vector<Ipv4Address> closest(const Bytes32& target, std::vector<Ipv4Address> v, std::size_t n) {
  sort_by_distance(target, v);
  if (v.size() > n) v.resize(n);
  return v;
}

std::vector<Ipv4Address> addrs_of(const std::vector<Reply>& replies) {
  std::vector<Ipv4Address> out;
  for (const auto& r : replies)
    out.push_back(r.from.addr);
  return out;
}

std::vector<Ipv4Address> sent(const QuerySim& sim, char kind) {
  std::vector<Ipv4Address> out;
  for (const auto& r : sim.requests)
    if (r.kind == kind) out.push_back(r.spec.to);
  return out;
}

// Runs a query to completion on the sim; returns its result (nullopt if it never finished).
struct Outcome {
  std::optional<std::error_code> result;
  std::int64_t at = -1;
  std::vector<Ipv4Address> data;
};

Outcome run(QuerySim& sim, Query& q) {
  Outcome out;
  q.on_reply([&](const Reply& r) { out.data.push_back(r.from.addr); });
  q.on_done([&](std::error_code ec) {
    out.result = ec;
    out.at = sim.now();
  });
  q.start();
  sim.run_until([&] { return out.result.has_value(); });
  return out;
}

// A network of n nodes; each answers FIND_NODE with the 20 closest to the target that it knows:
// everyone (full view) or its 20 own neighbours plus `random_known` random others.
struct Network {
  std::vector<Ipv4Address> all;
  std::vector<Ipv4Address> responders;
  std::unordered_map<Ipv4Address, std::vector<Ipv4Address>> known;
};

// `net` must outlive the sim's use of it (the sim's closer_fn refers to it).
void make_network(Network& net, QuerySim& sim, SimRandom& rng, std::size_t n, double silent,
                  double slow, std::size_t random_known) {
  for (std::uint32_t i = 0; i < n; ++i)
    net.all.push_back(addr(i + 1));
  for (const auto& a : net.all) {
    SimNode node;
    node.responds = !rng.chance(silent);
    node.latency = rng.chance(slow) ? 1000 + static_cast<std::int64_t>(rng.below(3000))
                                    : 5 + static_cast<std::int64_t>(rng.below(300));
    if (node.responds) net.responders.push_back(a);
    sim.nodes[a] = node;
    if (random_known > 0) {
      std::vector<Ipv4Address> others;
      for (const auto& b : net.all)
        if (b != a) others.push_back(b);
      auto k = closest(id_of(a), others, 20);
      for (std::size_t j = 0; j < random_known; ++j)
        k.push_back(net.all[rng.below(net.all.size())]);
      net.known[a] = std::move(k);
    }
  }
  sim.closer_fn = [&net](const Ipv4Address& self, const Bytes32& target) {
    auto it = net.known.find(self);
    std::vector<Ipv4Address> view;
    for (const auto& b : it == net.known.end() ? net.all : it->second)
      if (b != self) view.push_back(b);
    return closest(target, std::move(view), 20);
  };
}

}  // namespace

TEST_CASE("query converges to the true k closest on a 500-node network", "[unit][query]") {
  SimRandom rng(42);
  for (int round = 0; round < 10; ++round) {
    QuerySim sim(random_id(rng), 20);
    Network net;
    make_network(net, sim, rng, 500, 0.0, 0.0, 0);
    for (int i = 0; i < 30; ++i)
      sim.add_to_table(net.all[rng.below(net.all.size())]);
    const Bytes32 target = random_id(rng);
    Query q(sim, target, true, kFindNode, std::nullopt);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(!*out.result);
    CHECK(addrs_of(q.closest_replies()) == closest(target, net.all, 20));
    CHECK(q.inflight() == 0);
    // A lookup asks a few dozen nodes, not the network.
    CHECK(sim.count('v') < 150);
    CHECK(out.data.size() == q.successes());
  }
}

TEST_CASE("query converges with partial views, silent and slow nodes", "[unit][query]") {
  SimRandom rng(7);
  std::size_t found = 0, wanted = 0;
  for (int round = 0; round < 10; ++round) {
    QuerySim sim(random_id(rng), 20);
    Network net;
    make_network(net, sim, rng, 500, 0.1, 0.1, 40);
    for (int i = 0; i < 20; ++i)
      sim.add_to_table(net.all[rng.below(net.all.size())]);
    const Bytes32 target = random_id(rng);
    Query q(sim, target, true, kFindNode, std::nullopt);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(!*out.result);
    const auto truth = closest(target, net.responders, 20);
    const auto got = addrs_of(q.closest_replies());
    CHECK(std::is_sorted(got.begin(), got.end(), [&](const auto& a, const auto& b) {
      return xor_compare(target, id_of(a), id_of(b)) < 0;
    }));
    for (const auto& a : truth)
      found += std::count(got.begin(), got.end(), a);
    wanted += truth.size();
    // Silent nodes were visited and marked down, never kept.
    for (const auto& a : got)
      CHECK(sim.nodes[a].responds);
  }
  // Not all: the query stops waiting for slow nodes once it holds k replies, as the reference.
  CHECK(found * 100 >= wanted * 90);
}

TEST_CASE("query visits the pending stack last-in first-out", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  const Ipv4Address a = addr(1), b = addr(2), c = addr(3), x = addr(4), y = addr(5);
  for (auto n : {a, b, c, x, y})
    sim.nodes[n] = SimNode{};
  sim.nodes[a].closer = {x, y};  // as listed: x then y, so y is popped first
  QueryOptions opts;
  opts.concurrency = 1;
  opts.nodes = {NodeRef{std::nullopt, a}, NodeRef{std::nullopt, b}, NodeRef{std::nullopt, c}};
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(sent(sim, 'v') == std::vector<Ipv4Address>{a, y, x, b, c});
  // Seeds are given ids (node_id) when they have none, so the table can drop them on timeout.
  REQUIRE(sim.requests.size() == 5);
  CHECK(sim.requests[0].spec.to_id == node_id(a));
  CHECK(sim.requests[0].spec.target == node_id(addr(99)));
  CHECK(sim.requests[0].spec.retries == 5);
  CHECK(sim.requests[0].spec.internal);
}

TEST_CASE("query skips popped nodes that are no longer closer and stops at a far closer node",
          "[unit][query]") {
  // Rank 200 candidates by distance to the target; k = 2.
  std::vector<Ipv4Address> all;
  for (std::uint32_t i = 1; i <= 200; ++i)
    all.push_back(addr(i));
  const Bytes32 target = node_id(addr(1000));
  sort_by_distance(target, all);
  QuerySim sim(Bytes32{}, 2);
  for (const auto& n : all)
    sim.nodes[n] = SimNode{};
  // Seeds, visited in this order with concurrency 1: all[0] and all[5] fill the k = 2 closest,
  // so the far seeds left on the stack are skipped without being asked.
  QueryOptions opts;
  opts.concurrency = 1;
  opts.nodes = {NodeRef{std::nullopt, all[0]}, NodeRef{std::nullopt, all[5]},
                NodeRef{std::nullopt, all[50]}, NodeRef{std::nullopt, all[60]}};
  // all[5] lists all[0] (done: only reported closer), then all[100] (not closer than the k-th:
  // the walk stops there), then all[1] (closer, but never looked at).
  sim.nodes[all[5]].closer = {all[0], all[100], all[1]};
  Query q(sim, target, true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(sent(sim, 'v') == std::vector<Ipv4Address>{all[0], all[5]});
  CHECK(addrs_of(q.closest_replies()) == std::vector<Ipv4Address>{all[0], all[5]});
}

TEST_CASE("query sends down hints to the referrers of timed-out nodes", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  const Ipv4Address a = addr(1), b = addr(2), dead = addr(3);
  sim.nodes[a] = SimNode{};
  sim.nodes[b] = SimNode{};
  sim.nodes[b].latency = 9000;  // answers after `dead` was declared down
  sim.nodes[dead] = SimNode{};
  sim.nodes[dead].responds = false;
  sim.nodes[a].closer = {dead};
  sim.nodes[b].closer = {dead};
  sim.add_to_table(a);
  sim.add_to_table(b);

  SECTION("to every referrer of the down node") {
    QueryOptions opts;
    opts.retries = 9;  // b must not time out before it answers
    Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    const auto hints = sent(sim, 'h');
    REQUIRE(hints == std::vector<Ipv4Address>{a, b});
    for (const auto& r : sim.requests) {
      if (r.kind != 'h') continue;
      CHECK(r.spec.internal);
      CHECK(r.spec.command == hdht::rpc::command::kDownHint);
      CHECK(r.spec.value == Bytes{10, 0, 0, 3, 0xeb, 0x03});  // 10.0.0.3:1003 as ipv4Address
      CHECK(!r.spec.target);
      CHECK(r.spec.retries == 3);
      CHECK(r.spec.to_id == node_id(r.spec.to));
    }
    CHECK(sim.requests[3].time == 10100);  // a's hint when dead's 10th transmission timed out
    CHECK(sim.requests[4].time == 10100);  // b named it while it was in flight: hinted too
    REQUIRE(sim.requests.size() == 5);
    CHECK(sim.count('v') == 3);  // the down node is not asked again
  }
  SECTION("rate limited by the node's budget") {
    sim.down_hint_limit = 1;
    QueryOptions opts;
    opts.retries = 9;
    Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
    REQUIRE(run(sim, q).result);
    CHECK(sent(sim, 'h').size() == 1);
    CHECK(sim.down_hints_taken == 1);
  }
  SECTION("disabled, still charging the budget as the reference does") {
    sim.hints_enabled = false;
    QueryOptions opts;
    opts.retries = 9;
    Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
    REQUIRE(run(sim, q).result);
    CHECK(sent(sim, 'h').empty());
    CHECK(sim.down_hints_taken == 2);
  }
}

TEST_CASE("query slows down when seeded with k known nodes", "[unit][query]") {
  QuerySim sim(Bytes32{}, 3);
  QueryOptions opts;
  opts.concurrency = 2;
  for (std::uint32_t i = 1; i <= 8; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].latency = i == 2 ? 500 : 100;
    opts.nodes.push_back(NodeRef{std::nullopt, addr(i)});
  }
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  std::size_t at0 = 0, at100 = 0;
  for (const auto& r : sim.requests) {
    at0 += r.time == 0;
    at100 += r.time == 100;
  }
  CHECK(at0 == 2);
  // One answer in: the slowdown limit of 3 (above the concurrency of 2) applies until
  // successes + errors reach the concurrency.
  CHECK(at100 == 2);
}

TEST_CASE("query falls back to the table when cached seeds mostly fail", "[unit][query]") {
  QuerySim sim(Bytes32{}, 4);
  QueryOptions opts;
  opts.retries = 0;
  for (std::uint32_t i = 1; i <= 4; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].responds = false;
    opts.nodes.push_back(NodeRef{std::nullopt, addr(i)});
  }
  for (std::uint32_t i = 10; i < 15; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.add_to_table(addr(i));
  }
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(!*out.result);
  CHECK(sim.count('v') == 8);  // 4 seeds, then 4 (k) from the table
  CHECK(q.successes() == 4);
  CHECK(q.errors() == 4);
  CHECK(sim.bootstrap_calls == 0);
}

TEST_CASE("query asks the bootstrap nodes when the table is short", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.bootstrap.push_back(NodeRef{std::nullopt, addr(i)});
  }
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(sim.bootstrap_calls == 1);
  // Pushed in order, so the last entry is visited first.
  CHECK(sent(sim, 'v') == std::vector<Ipv4Address>{addr(3), addr(2), addr(1)});
}

TEST_CASE("query finishes when only slow requests remain and it holds k replies", "[unit][query]") {
  QuerySim sim(Bytes32{}, 2);
  for (std::uint32_t i = 1; i <= 3; ++i)
    sim.nodes[addr(i)] = SimNode{};
  sim.add_to_table(addr(1));
  sim.add_to_table(addr(2));
  sim.nodes[addr(1)].closer = {addr(3)};  // asked at 100, while fewer than k replied
  sim.nodes[addr(2)].latency = 200;
  sim.nodes[addr(3)].latency = 5000;
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(sim.count('v') == 3);
  CHECK(out.at == 1100);  // the slow one's first cycle, not its answer
  CHECK(q.successes() == 2);
  CHECK(q.errors() == 1);  // withdrawn, counted as the reference's REQUEST_DESTROYED
  CHECK(q.inflight() == 0);
}

TEST_CASE("query skips filtered nodes and its own id", "[unit][query]") {
  const Ipv4Address self = addr(50);
  QuerySim sim(node_id(self), 20);
  const Ipv4Address a = addr(1), blocked = addr(2), c = addr(3);
  for (auto n : {a, blocked, c, self})
    sim.nodes[n] = SimNode{};
  sim.nodes[a].closer = {blocked, self, c};
  sim.filtered.insert(blocked);
  sim.add_to_table(a);
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt);
  REQUIRE(run(sim, q).result);
  CHECK(sent(sim, 'v') == std::vector<Ipv4Address>{a, c});
}

TEST_CASE("query force and retries options", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  sim.nodes[addr(1)] = SimNode{};
  sim.add_to_table(addr(1));
  SECTION("force: no retries, bypass flag") {
    QueryOptions opts;
    opts.force = true;
    opts.retries = 4;
    Query q(sim, node_id(addr(99)), false, 9, Bytes{1, 2}, opts);
    REQUIRE(run(sim, q).result);
    REQUIRE(sim.requests.size() == 1);
    CHECK(sim.requests[0].spec.retries == 0);
    CHECK(sim.requests[0].spec.force);
    CHECK(!sim.requests[0].spec.internal);
    CHECK(sim.requests[0].spec.value == Bytes{1, 2});
    CHECK(!sim.requests[0].spec.token);
  }
  SECTION("DOWN_HINT queries default to 3") {
    Query q(sim, node_id(addr(99)), true, hdht::rpc::command::kDownHint, std::nullopt);
    REQUIRE(run(sim, q).result);
    CHECK(sim.requests.at(0).spec.retries == 3);
  }
}

TEST_CASE("query concurrency change applies on the next readMore", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 20; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].latency = 10 * i;
    sim.add_to_table(addr(i));
  }
  QueryOptions opts;
  opts.concurrency = 2;
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
  bool done = false;
  q.on_reply([&](const Reply&) { q.set_concurrency(5); });
  q.on_done([&](std::error_code) { done = true; });
  q.start();
  CHECK(q.inflight() == 2);
  REQUIRE(sim.step());  // the first reply
  CHECK(q.inflight() == 5);
  sim.run_until([&] { return done; });
  CHECK(done);
}

TEST_CASE("query commit", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 4; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].commit_latency = 10 * i;
    sim.add_to_table(addr(i));
  }
  QueryOptions opts;
  opts.commit = sim.scripted_commit();

  SECTION("all succeed") {
    Query q(sim, node_id(addr(99)), false, 9, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(!*out.result);
    CHECK(sim.count('C') == 4);
    CHECK(out.at == sim.requests.back().time + 40);  // after the last commit settled
  }
  SECTION("partial failure still succeeds") {
    sim.nodes[addr(2)].commit_ok = false;
    sim.nodes[addr(4)].commit_ok = false;  // the last to settle
    Query q(sim, node_id(addr(99)), false, 9, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(!*out.result);
  }
  SECTION("all fail: the last error") {
    for (std::uint32_t i = 1; i <= 4; ++i)
      sim.nodes[addr(i)].commit_ok = false;
    Query q(sim, node_id(addr(99)), false, 9, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    REQUIRE(*out.result);
    CHECK(out.result->category() == hdht::querysim::sim_commit_category());
    REQUIRE(sim.commit_failures.size() == 4);
    CHECK(sim.commit_failures.at(static_cast<std::size_t>(out.result->value()) - 1) == addr(4));
  }
  SECTION("no replies: too few nodes") {
    for (std::uint32_t i = 1; i <= 4; ++i)
      sim.nodes[addr(i)].responds = false;
    opts.retries = 0;
    Query q(sim, node_id(addr(99)), false, 9, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(*out.result == RpcErrc::too_few_nodes);
    CHECK(sim.count('C') == 0);
  }
}

TEST_CASE("query ignores replies that arrive while committing", "[unit][query]") {
  QuerySim sim(Bytes32{}, 4);
  for (std::uint32_t i = 1; i <= 5; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].commit_latency = 2000;
    if (i < 5) sim.add_to_table(addr(i));
  }
  sim.nodes[addr(5)].latency = 1500;
  sim.nodes[addr(1)].closer = {addr(5)};
  QueryOptions opts;
  opts.commit = sim.scripted_commit();
  Query q(sim, node_id(addr(99)), false, 9, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(!*out.result);
  CHECK(sim.count('v') == 5);
  CHECK(sim.count('C') == 4);
  CHECK(out.at == 1100 + 2000);  // commits started when addr(5) turned slow
  CHECK(q.successes() == 4);     // its reply at 1600 came in while committing
  CHECK(out.data.size() == 4);
  CHECK(q.errors() == 0);
}

TEST_CASE("query automatic commit", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].token = Bytes32{static_cast<std::uint8_t>(i)};
    sim.add_to_table(addr(i));
  }
  const Bytes32 target = node_id(addr(99));
  SECTION("sends the command with each closest node's token") {
    QueryOptions opts;
    opts.commit = Query::commit_auto(sim, target, 9, Bytes{7});
    Query q(sim, target, false, 9, Bytes{7}, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(!*out.result);
    REQUIRE(sim.count('c') == 3);
    for (const auto& r : sim.requests) {
      if (r.kind != 'c') continue;
      CHECK(!r.spec.internal);
      CHECK(r.spec.command == 9);
      CHECK(r.spec.target == target);
      CHECK(r.spec.value == Bytes{7});
      CHECK(r.spec.token == sim.nodes[r.spec.to].token);
      CHECK(r.spec.retries == 3);
    }
  }
  SECTION("no token: fails with NO_TOKEN") {
    for (std::uint32_t i = 1; i <= 3; ++i)
      sim.nodes[addr(i)].token.reset();
    QueryOptions opts;
    opts.commit = Query::commit_auto(sim, target, 9, std::nullopt);
    Query q(sim, target, false, 9, std::nullopt, opts);
    const Outcome out = run(sim, q);
    REQUIRE(out.result);
    CHECK(*out.result == RpcErrc::no_token);
    CHECK(sim.count('c') == 0);
  }
}

TEST_CASE("query destroyed mid-flight runs no callback", "[unit][query]") {
  SimRandom rng(3);
  QuerySim sim(random_id(rng), 20);
  Network net;
  make_network(net, sim, rng, 200, 0.2, 0.2, 0);
  for (int i = 0; i < 20; ++i)
    sim.add_to_table(net.all[rng.below(net.all.size())]);
  QueryOptions opts;
  opts.commit = sim.scripted_commit();
  auto q = std::make_unique<Query>(sim, random_id(rng), true, kFindNode, std::nullopt, opts);
  int calls = 0;
  q->on_reply([&](const Reply&) { ++calls; });
  q->on_done([&](std::error_code) { ++calls; });
  q->start();
  for (int i = 0; i < 5; ++i)
    REQUIRE(sim.step());
  const int before = calls;
  const std::size_t callbacks_before = sim.callbacks_run;
  q.reset();
  // The fake host cannot be told about cancellation, so it keeps delivering: all ignored.
  while (sim.step()) {
  }
  CHECK(calls == before);
  CHECK(sim.callbacks_run > callbacks_before);
}

TEST_CASE("query may be destroyed from its own callbacks", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 5; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.nodes[addr(i)].latency = 10 * i;
    sim.nodes[addr(i)].closer = {addr(i + 10)};  // silent referrals: timeouts and hints later
    sim.add_to_table(addr(i));
  }
  auto q = std::make_unique<Query>(sim, node_id(addr(99)), true, kFindNode, std::nullopt);
  SECTION("from on_done") {
    int done = 0;
    q->on_done([&](std::error_code) {
      ++done;
      q.reset();
    });
    q->start();
    sim.run_until([&] { return done > 0; });
    CHECK(done == 1);
    CHECK(!q);
    while (sim.step()) {
    }
    CHECK(done == 1);
  }
  SECTION("from on_reply") {
    int replies = 0;
    q->on_reply([&](const Reply&) {
      ++replies;
      q.reset();
    });
    q->start();
    while (sim.step()) {
    }
    CHECK(replies == 1);
    CHECK(!q);
  }
}

TEST_CASE("query fails when the node is destroyed", "[unit][query]") {
  QuerySim sim(Bytes32{}, 20);
  for (std::uint32_t i = 1; i <= 5; ++i) {
    sim.nodes[addr(i)] = SimNode{};
    sim.add_to_table(addr(i));
  }
  sim.destroy_after = 2;
  QueryOptions opts;
  opts.concurrency = 1;
  Query q(sim, node_id(addr(99)), true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(*out.result == RpcErrc::node_destroyed);
  CHECK(sim.count('v') == 2);
}

TEST_CASE("query handles the timeout that follows a finishing cycle", "[unit][query]") {
  // retries 0: the first cycle is also the last. It makes the query finish (all in flight are
  // slow, k replies held); the reference still processes the REQUEST_TIMEOUT that follows, so
  // the down node's referrer gets its hint before the query completes.
  QuerySim sim(Bytes32{}, 1);
  const Ipv4Address a = addr(1), dead = addr(2);
  sim.nodes[a] = SimNode{};
  sim.nodes[dead] = SimNode{};
  sim.nodes[dead].responds = false;
  sim.nodes[a].closer = {dead};
  sim.add_to_table(a);
  QueryOptions opts;
  opts.retries = 0;
  // Make `dead` closer than `a` so it is queued after a's reply.
  const Bytes32 target = node_id(dead);
  Query q(sim, target, true, kFindNode, std::nullopt, opts);
  const Outcome out = run(sim, q);
  REQUIRE(out.result);
  CHECK(sent(sim, 'h') == std::vector<Ipv4Address>{a});
  CHECK(q.errors() == 1);
  CHECK(q.inflight() == 0);
}
