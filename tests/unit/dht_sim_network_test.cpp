#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <vector>

#include "core/dht_node.hpp"
#include "dht_testnet.hpp"
#include "protocol/node_id.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace hdht::dht::testnet;
using namespace std::chrono_literals;

namespace {

// HDHT_SIM_NODES overrides the network size (the sanitizer builds run it with fewer nodes).
std::size_t sim_nodes() {
  if (const char* v = std::getenv("HDHT_SIM_NODES")) {
    const long n = std::strtol(v, nullptr, 10);
    if (n >= 30) return static_cast<std::size_t>(n);
  }
  return 1000;
}

Bytes32 random_target(core::SimNetwork& net) {
  Bytes32 t{};
  for (auto& b : t)
    b = static_cast<std::uint8_t>(net.random().next_u32());
  return t;
}

struct Result {
  int exact = 0;    // the k closest, exactly
  int nearest = 0;  // at least the single closest id
  int queries = 0;
  std::size_t found = 0, wanted = 0;  // recall of the true k closest
};

// Every FIND_NODE from a random node to a random target must return the true k closest
// persistent ids (the querying node itself excluded: nobody answers for it).
Result check_lookups(Testnet& t, int count) {
  std::vector<Bytes32> ids;
  for (const auto& m : t.members)
    if (m->node && m->node->id()) ids.push_back(*m->node->id());
  Result r;
  for (int i = 0; i < count; ++i) {
    Member& from = *t.members[1 + t.net.random().next_u32() % (t.members.size() - 1)];
    const Bytes32 target = random_target(t.net);
    auto q = from.node->find_node(target);
    bool done = false;
    q->on_done([&](std::error_code) { done = true; });
    q->start();
    REQUIRE(t.net.run_until([&] { return done; }, 120s));

    std::vector<Bytes32> expect;
    for (const Bytes32& id : ids)
      if (id != *from.node->id()) expect.push_back(id);
    const std::size_t k = std::min<std::size_t>(20, expect.size());
    std::partial_sort(
        expect.begin(), expect.begin() + static_cast<std::ptrdiff_t>(k), expect.end(),
        [&](const Bytes32& a, const Bytes32& b) { return rpc::xor_compare(target, a, b) < 0; });
    expect.resize(k);
    std::vector<Bytes32> got;
    for (const Reply& rep : q->closest_replies())
      if (rep.from.id) got.push_back(*rep.from.id);
    ++r.queries;
    r.wanted += expect.size();
    for (const Bytes32& id : expect)
      if (std::find(got.begin(), got.end(), id) != got.end()) ++r.found;
    if (!expect.empty() && !got.empty() && got[0] == expect[0]) ++r.nearest;
    if (got == expect) {
      ++r.exact;
    } else if (std::getenv("HDHT_SIM_DEBUG")) {
      int missing = 0;
      for (std::size_t j = 0; j < expect.size(); ++j) {
        if (std::find(got.begin(), got.end(), expect[j]) != got.end()) continue;
        ++missing;
        int tables = 0;
        for (const auto& m : t.members)
          if (m->node && m->node->table().has(expect[j])) ++tables;
        int listed = 0;
        for (const Reply& rep : q->closest_replies())
          for (const Ipv4Address& a : rep.closer_nodes)
            if (rpc::node_id(a) == expect[j]) ++listed;
        std::printf("  missing rank %zu, in %d tables, listed by %d of the closest replies\n", j,
                    tables, listed);
      }
      std::printf("  query %d: got %zu, missing %d, successes %zu errors %zu\n", i, got.size(),
                  missing, q->successes(), q->errors());
    }
  }
  return r;
}

void run_network(std::uint64_t seed, double loss, double min_recall, int min_nearest) {
  const auto wall0 = std::chrono::steady_clock::now();
  core::SimLink link;
  link.latency = 20ms;
  link.jitter = 20ms;
  link.loss = loss;
  Testnet t(seed, link);
  const std::size_t n = sim_nodes();
  const auto v0 = t.net.now();
  // Join in waves of 50 per virtual second.
  for (std::size_t i = 0; i < n; ++i) {
    t.spawn(t.node_config(true));
    if (i % 50 == 49) t.net.run_for(1s);
  }
  REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 600s));
  const auto v_ready = t.net.now();
  std::size_t persistent = 0;
  for (const auto& m : t.members)
    if (m->node->id() && *m->node->id() == rpc::node_id(m->addr)) ++persistent;
  CHECK(persistent == n + 1);
  t.net.run_for(30s);

  const Result r = check_lookups(t, 20);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  const double vready = std::chrono::duration<double>(v_ready - v0).count();
  const double vtotal = std::chrono::duration<double>(t.net.now() - v0).count();
  std::printf(
      "[sim] %zu nodes, loss %.0f%%: all ready after %.1f s virtual; lookups: %d/%d exact, "
      "%d/%d found the closest, recall %zu/%zu; %.1f s virtual total, %.2f s wall, %llu "
      "events, %llu packets\n",
      n, loss * 100, vready, r.exact, r.queries, r.nearest, r.queries, r.found, r.wanted, vtotal,
      wall, static_cast<unsigned long long>(t.net.stats().events),
      static_cast<unsigned long long>(t.net.stats().packets_sent));
  // The reference's FIND_NODE replies list the responder's table in bucket order, not XOR order
  // (kademlia-routing-table closest(), spec §5.1), so a lookup can miss a node at ranks ~10-20
  // that no close responder lists; the JS has the same property. What must hold: every lookup
  // reaches the closest node, and nearly all of the k closest. Under loss the reference's query
  // also ends as soon as it holds k replies and every request still out has had one timeout
  // (query.js _readMore, `_slow === inflight`), abandoning close nodes whose first datagram was
  // lost, so the thresholds are lower there.
  CHECK(r.nearest >= min_nearest);
  CHECK(static_cast<double>(r.found) >= min_recall * static_cast<double>(r.wanted));
}

}  // namespace

TEST_CASE("sim: 1,000 nodes bootstrap and FIND_NODE returns the true k closest", "[unit][sim]") {
  run_network(1000, 0.0, 0.97, 20);
}

TEST_CASE("sim: the same with 5% packet loss converges", "[unit][sim]") {
  run_network(1001, 0.05, 0.9, 18);
}
