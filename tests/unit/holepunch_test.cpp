// The holepunch layer in the sim: NatAnalyzer's classification behind the NAT models of
// sim_nat.hpp, and two Holepunchers (initiator and responder, on two NATed nodes, told each
// other's NAT state as the PEER_HOLEPUNCH rounds would) punching through: consistent/consistent,
// consistent/random and random/consistent connect; random/random refuses; random punches are
// rationed; destroy() aborts once.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/holepuncher.hpp"
#include "core/nat_analyzer.hpp"
#include "core/socket_pool.hpp"
#include "hyperdht_testnet.hpp"
#include "sim_nat.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace std::chrono_literals;
using sim_nat::Mapping;

namespace {

core::SimNetwork::Ip private_ip(std::uint8_t i) {
  return {192, 168, i, 2};
}
core::SimNetwork::Ip public_ip(std::uint8_t i) {
  return {100, 64, i, 1};
}

struct PunchNet {
  explicit PunchNet(std::uint64_t seed = 0x401e) : t(seed, HyperDhtConfig{}) {
    REQUIRE(t.grow(10));
  }

  // An ephemeral (firewalled) node behind a new NAT, bootstrapped.
  testnet::HMember& behind(Mapping mapping, std::uint8_t i) {
    gateways.push_back(
        sim_nat::add_host_behind_nat(t.net, private_ip(i), public_ip(i), mapping, 1000 + i));
    testnet::HMember& m = t.spawn_on(private_ip(i), t.node_config(false));
    REQUIRE(t.net.run_until([&] { return m.node->dht().bootstrapped(); }, 60s));
    CHECK(m.node->dht().firewalled());
    return m;
  }

  testnet::HTestnet t;
  std::vector<std::shared_ptr<sim_nat::NatGateway>> gateways;
};

// Samples NAT behaviour from a fresh pooled socket of `m`.
struct Analysis {
  std::shared_ptr<PooledSocket> socket;
  std::unique_ptr<NatAnalyzer> nat;
  bool done = false;

  Analysis(PunchNet& n, testnet::HMember& m) {
    socket = m.node->socket_pool().acquire();
    REQUIRE(socket);
    nat = std::make_unique<NatAnalyzer>(m.node->dht(), socket->socket());
    nat->auto_sample();
    nat->on_analyzed([this] { done = true; });
    REQUIRE(n.t.net.run_until([&] { return done; }, 30s));
  }
};

struct Side {
  testnet::HMember* member = nullptr;
  std::unique_ptr<Holepuncher> hp;
  std::optional<bool> stable;
  int connects = 0;
  int aborts = 0;
  std::optional<Ipv4Address> connected_from;
  std::shared_ptr<PooledSocket> connected_socket;

  void start(bool initiator) {
    Holepuncher::Handlers h;
    h.on_connect = [this](std::shared_ptr<PooledSocket> ref, const Ipv4Address& from) {
      ++connects;
      connected_from = from;
      connected_socket = std::move(ref);
    };
    h.on_abort = [this] { ++aborts; };
    hp = Holepuncher::create(member->node->punch_context(), initiator, Firewall::unknown,
                             std::move(h));
    REQUIRE(hp);
    hp->analyze(false, [this](bool s) { stable = s; });
  }

  // What the other side learns from our holepunch payload (the relaying node verified our host).
  void tell(Side& other) const {
    const auto& addrs = hp->nat().addresses();
    REQUIRE(addrs);
    REQUIRE_FALSE(addrs->empty());
    other.hp->update_remote(true, hp->nat().firewall(), addrs, addrs->front());
  }
};

struct Pair {
  PunchNet net;
  Side a;  // initiator
  Side b;  // responder

  Pair(Mapping ma, Mapping mb, std::uint64_t seed = 0x401e) : net(seed) {
    a.member = &net.behind(ma, 1);
    b.member = &net.behind(mb, 2);
    a.start(true);
    b.start(false);
    REQUIRE(net.t.net.run_until([&] { return a.stable && b.stable; }, 30s));
    a.tell(b);
    b.tell(a);
  }
  // Starts both; returns their answers.
  std::pair<bool, bool> punch() {
    std::optional<bool> ra, rb;
    a.hp->punch([&](bool s) { ra = s; });
    b.hp->punch([&](bool s) { rb = s; });
    REQUIRE(ra);
    REQUIRE(rb);
    return {*ra, *rb};
  }
  core::TimePoint now() const { return net.t.net.now(); }
};

}  // namespace

TEST_CASE("NatAnalyzer classifies open, consistent and random NATs", "[holepunch]") {
  PunchNet n;
  SECTION("open") {
    testnet::HMember& m = *n.t.members.at(3);
    REQUIRE_FALSE(m.node->dht().firewalled());
    Analysis an(n, m);
    CHECK(an.nat->firewall() == Firewall::open);
    CHECK(std::string(firewall_name(an.nat->firewall())) == "OPEN");
  }
  SECTION("consistent") {
    testnet::HMember& m = n.behind(Mapping::consistent, 1);
    Analysis an(n, m);
    CHECK(an.nat->firewall() == Firewall::consistent);
    CHECK(an.nat->sampled() >= 3);
    REQUIRE(an.nat->addresses());
    REQUIRE(an.nat->addresses()->size() == 1);
    // Port-preserving: the pooled socket's own port on the public address.
    CHECK(an.nat->addresses()->front() ==
          Ipv4Address{public_ip(1), an.socket->local_address().port});
  }
  SECTION("random") {
    testnet::HMember& m = n.behind(Mapping::random, 1);
    Analysis an(n, m);
    CHECK(an.nat->firewall() == Firewall::random);
    CHECK(std::string(firewall_name(an.nat->firewall())) == "RANDOM");
    REQUIRE(an.nat->addresses());
    CHECK(*an.nat->addresses() == std::vector<Ipv4Address>{Ipv4Address{public_ip(1), 0}});
  }
}

TEST_CASE("NatAnalyzer freezes its verdict", "[holepunch]") {
  PunchNet n;
  testnet::HMember& m = n.behind(Mapping::consistent, 1);
  auto s = m.node->socket_pool().acquire();
  NatAnalyzer nat(m.node->dht(), s->socket());
  nat.freeze();
  const Ipv4Address from1{{10, 0, 0, 2}, 1}, from2{{10, 0, 0, 3}, 1}, from3{{10, 0, 0, 4}, 1};
  const Ipv4Address seen{public_ip(1), 4000};
  nat.add(seen, from1);
  nat.add(seen, from1);  // a `from` counts once
  nat.add(seen, from2);
  nat.add(seen, from3);
  CHECK(nat.sampled() == 3);
  CHECK(nat.firewall() == Firewall::unknown);
  CHECK_FALSE(nat.addresses());
  nat.unfreeze();
  CHECK(nat.firewall() == Firewall::consistent);
  REQUIRE(nat.addresses());
  CHECK(nat.addresses()->front() == seen);
}

TEST_CASE("holepunch between two consistent NATs", "[holepunch]") {
  Pair p(Mapping::consistent, Mapping::consistent);
  CHECK(p.a.hp->nat().firewall() == Firewall::consistent);
  const auto started = p.punch();
  CHECK(started.first);
  CHECK(started.second);
  CHECK(p.a.member->node->punch_state().stats.consistent == 1);
  const core::TimePoint t0 = p.now();
  REQUIRE(p.net.t.net.run_until([&] { return p.a.connects > 0; }, 5s));
  CHECK(p.now() - t0 < 3s);  // the responder's first probe, 1 s in, opens the way
  CHECK(p.a.connects == 1);
  CHECK(p.a.hp->connected());
  CHECK(*p.a.connected_from == Ipv4Address{public_ip(2), p.b.hp->socket().local_address().port});
  CHECK(p.a.connected_socket.get() == &p.a.hp->socket());
  p.net.t.net.run_for(12s);  // the responder's probing runs out
  CHECK(p.a.connects == 1);
  CHECK(p.a.aborts == 0);
  CHECK(p.b.hp->destroyed());
  CHECK(p.b.aborts == 1);  // the responder never "connects"; its loop ends in destroy()
}

TEST_CASE("holepunch consistent initiator to random responder", "[holepunch]") {
  Pair p(Mapping::consistent, Mapping::random);
  CHECK(p.b.hp->nat().firewall() == Firewall::random);
  PunchState& sa = p.a.member->node->punch_state();
  CHECK(sa.random_punch_allowed(p.now()));
  const auto started = p.punch();
  CHECK(started.first);
  CHECK(started.second);
  CHECK(sa.stats.random == 1);
  CHECK(sa.random_punches == 1);
  CHECK_FALSE(sa.random_punch_allowed(p.now()));  // the limit is one at a time
  CHECK(p.b.hp->socket().local_address().port != 0);
  REQUIRE(p.net.t.net.run_until([&] { return p.a.connects > 0; }, 40s));
  CHECK(p.a.connected_from->ip == public_ip(2));
  // Connected: the punch no longer counts, but the next random one must wait 20 s.
  CHECK(sa.random_punches == 0);
  REQUIRE(sa.last_random_punch);
  CHECK(*sa.last_random_punch == p.now());
  CHECK_FALSE(sa.random_punch_allowed(p.now() + 19s));
  CHECK(sa.random_punch_allowed(p.now() + 20s));
}

TEST_CASE("holepunch random initiator to consistent responder", "[holepunch]") {
  Pair p(Mapping::random, Mapping::consistent);
  const auto started = p.punch();
  CHECK(started.first);
  CHECK(started.second);
  // The birthday strategy: 256 sockets on the initiator.
  CHECK(p.a.member->node->socket_pool().open_sockets() == 256);
  REQUIRE(p.net.t.net.run_until([&] { return p.a.connects > 0; }, 40s));
  CHECK(*p.a.connected_from == Ipv4Address{public_ip(2), p.b.hp->socket().local_address().port});
  // Every other birthday socket was released and closed.
  CHECK(p.a.member->node->socket_pool().open_sockets() == 1);
  CHECK(p.a.member->node->punch_state().random_punches == 0);
}

TEST_CASE("holepunch refuses two random NATs", "[holepunch]") {
  Pair p(Mapping::random, Mapping::random);
  // Both random: unstable, and no strategy exists.
  std::optional<bool> stable;
  p.a.hp->analyze(false, [&](bool s) { stable = s; });
  REQUIRE(stable);
  CHECK_FALSE(*stable);
  const auto started = p.punch();
  CHECK_FALSE(started.first);
  CHECK_FALSE(started.second);
  CHECK(p.a.member->node->punch_state().random_punches == 0);
}

TEST_CASE("holepuncher destroy aborts once", "[holepunch]") {
  Pair p(Mapping::consistent, Mapping::consistent);
  SocketPool& pool = p.a.member->node->socket_pool();
  const std::size_t before = pool.open_sockets();
  p.a.hp->destroy();
  CHECK(p.a.aborts == 1);
  CHECK(pool.open_sockets() == before - 1);  // its socket was released
  p.a.hp->destroy();
  CHECK(p.a.aborts == 1);
  std::optional<bool> started;
  p.a.hp->punch([&](bool s) { started = s; });
  CHECK(started == false);
  p.a.hp.reset();
  CHECK(p.a.aborts == 1);
  // Destroying the object is not an abort.
  p.b.hp.reset();
  CHECK(p.b.aborts == 0);
}

TEST_CASE("holepuncher: no abort after connecting", "[holepunch]") {
  Pair p(Mapping::consistent, Mapping::consistent);
  p.punch();
  REQUIRE(p.net.t.net.run_until([&] { return p.a.connects > 0; }, 5s));
  p.a.hp->destroy();
  CHECK(p.a.aborts == 0);
  // The caller's reference keeps the connected socket open.
  CHECK(p.a.member->node->socket_pool().open_sockets() == 1);
  p.a.connected_socket.reset();
  CHECK(p.a.member->node->socket_pool().open_sockets() == 0);
}

TEST_CASE("random punch rationing", "[holepunch]") {
  PunchState s;
  const core::TimePoint t0 = core::SimNetwork::kStart;
  CHECK(s.random_punch_allowed(t0));
  s.random_punches = 1;
  CHECK_FALSE(s.random_punch_allowed(t0));
  s.random_punches = 0;
  s.last_random_punch = t0;
  CHECK_FALSE(s.random_punch_allowed(t0 + 19999ms));
  CHECK(s.random_punch_allowed(t0 + 20s));
}

TEST_CASE("holepuncher address helpers", "[holepunch]") {
  const auto a = [](std::uint8_t x, std::uint8_t y, std::uint8_t z, std::uint8_t w) {
    return Ipv4Address{{x, y, z, w}, 1000};
  };
  CHECK_FALSE(Holepuncher::match_address({a(192, 168, 1, 2)}, {}));
  CHECK(Holepuncher::match_address({a(192, 168, 1, 2)}, {a(10, 0, 0, 1), a(192, 168, 1, 9)}) ==
        a(192, 168, 1, 9));
  CHECK(Holepuncher::match_address({a(192, 168, 1, 2)}, {a(192, 1, 0, 1), a(192, 168, 7, 9)}) ==
        a(192, 168, 7, 9));
  CHECK(Holepuncher::match_address({a(192, 168, 1, 2)}, {a(192, 1, 0, 1), a(10, 168, 7, 9)}) ==
        a(192, 1, 0, 1));
  CHECK_FALSE(Holepuncher::match_address({a(192, 168, 1, 2)}, {a(10, 168, 1, 2)}));

  core::SimNetwork net(1);
  net.add_host({10, 0, 0, 9});
  core::SimRuntime rt(net, {10, 0, 0, 9});
  auto sock = rt.bind_udp(Ipv4Address{{0, 0, 0, 0}, 5000});
  REQUIRE(sock);
  CHECK(Holepuncher::local_addresses(rt, **sock) ==
        std::vector<Ipv4Address>{Ipv4Address{{10, 0, 0, 9}, 5000}});
  auto loop = rt.bind_udp(Ipv4Address{{127, 0, 0, 1}, 5001});
  REQUIRE(loop);
  CHECK(Holepuncher::local_addresses(rt, **loop) ==
        std::vector<Ipv4Address>{Ipv4Address{{127, 0, 0, 1}, 5001}});
}

TEST_CASE("holepunch responder answers every probe", "[holepunch]") {
  Pair p(Mapping::consistent, Mapping::consistent);
  testnet::HMember& open = *p.net.t.members.at(3);
  auto s = open.node->socket_pool().acquire();
  REQUIRE(s);
  int probes = 0;
  s->set_on_probe([&](PooledSocket&, const Ipv4Address&) { ++probes; });
  const Ipv4Address s_at{open.addr.ip, s->local_address().port};
  // The responder's own probe reaches the open host and opens its NAT towards it.
  p.b.hp->ping(s_at);
  REQUIRE(p.net.t.net.run_until([&] { return probes == 1; }, 2s));
  // A probe back through that NAT session is answered by the responder.
  s->send_probe(Ipv4Address{public_ip(2), p.b.hp->socket().local_address().port}, false);
  REQUIRE(p.net.t.net.run_until([&] { return probes == 2; }, 2s));
  // The initiator does not answer: its first probe connects it instead.
  CHECK_FALSE(p.a.hp->connected());
}

TEST_CASE("holepuncher reopens an unstable NAT up to 3 times", "[holepunch]") {
  Pair p(Mapping::random, Mapping::random);
  SocketPool& pool = p.a.member->node->socket_pool();
  const std::uint64_t added = pool.counters().sockets_added;
  std::optional<bool> consistent;
  p.a.hp->analyze(true, [&](bool c) { consistent = c; });
  int second_calls = 0;
  p.a.hp->analyze(true, [&](bool) { ++second_calls; });  // shares the same reopening
  REQUIRE(p.net.t.net.run_until([&] { return consistent.has_value(); }, 60s));
  CHECK_FALSE(*consistent);  // still random on every fresh socket
  CHECK(second_calls == 1);
  CHECK(pool.counters().sockets_added == added + 3);
  CHECK(pool.open_sockets() == 1);  // each reset released the previous socket
  CHECK(p.a.hp->nat().firewall() == Firewall::random);
}
