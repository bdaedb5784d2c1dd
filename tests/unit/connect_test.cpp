// Connect by public key (core/peer_connect.hpp, the reference's lib/connect.js) on a simulated
// network on virtual time: the errors of the handshake phase, the reply checks of the client
// side of lib/router.js, and a C++ client reaching a C++ server (core/hyperdht_server.hpp) with
// data both ways.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "connect_fixtures.hpp"
#include "core/blind_relay_service.hpp"
#include "core/connect_addresses.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/peer_connect.hpp"
#include "core/peer_messaging.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/router_messages.hpp"
#include "sim_nat_node.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

struct ConnectNet {
  HTestnet t{77, HyperDhtConfig{}};
  HMember* server = nullptr;
  HMember* client = nullptr;

  ConnectNet() {
    REQUIRE(t.grow(6));
    server = t.members[3].get();
    client = &t.spawn(t.node_config(false));
    REQUIRE(t.net.run_until([&] { return client->node->dht().bootstrapped(); }, 60s));
  }

  std::unique_ptr<PeerConnect> connect(const Bytes32& pk, std::shared_ptr<Connected> out,
                                       ConnectOptions o = {}) {
    return start_connect(*client->node, pk, std::move(out), std::move(o));
  }

  void announce(const crypto::KeyPair& kp) {
    auto ann = server->node->announce(HyperDhtNode::hash(kp.public_key), kp, {});
    bool done = false;
    ann->on_done([&](std::error_code) { done = true; });
    ann->start();
    REQUIRE(t.net.run_until([&] { return done; }, 60s));
  }
};

// Writes `msg` on the client stream and runs until the echo is back.
void check_echo(core::SimNetwork& net, core::SecretStream& s, EchoServer& server) {
  std::string back;
  core::SecretStream::Handlers h;
  h.on_data = [&](ByteView d) { back.append(d.begin(), d.end()); };
  s.set_handlers(std::move(h));
  const std::string msg = "hello through hyperdht";
  REQUIRE(s.write(ByteView(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())));
  REQUIRE(net.run_until([&] { return back == msg; }, 30s));
  CHECK(server.got == msg);
  REQUIRE(server.inbound.size() == 1);
  CHECK(server.inbound[0]->handshake_hash() == s.handshake_hash());
  s.set_handlers({});
}

dht::Reply reply_from(const Ipv4Address& from, const Ipv4Address& to, Bytes value) {
  dht::Reply r;
  r.from.addr = from;
  r.to = to;
  r.value = std::move(value);
  return r;
}

}  // namespace

TEST_CASE("connect: handshake and holepunch replies are checked as lib/router.js", "[connect]") {
  const Ipv4Address node{{10, 0, 0, 1}, 1000};
  const Ipv4Address other{{10, 0, 0, 2}, 1000};
  const Ipv4Address me{{10, 0, 0, 9}, 2000};
  const Ipv4Address srv{{10, 0, 0, 7}, 3000};
  namespace mode = msg::router_mode;

  // A relay's REPLY names the server: relayed.
  auto r = validate_handshake_reply(
      reply_from(node, me, msg::encode(msg::Handshake{mode::REPLY, Bytes{1, 2}, srv, {}})), node);
  REQUIRE(r);
  CHECK(r->relayed);
  CHECK(r->server_address == srv);
  CHECK(r->client_address == me);
  CHECK(r->noise == Bytes{1, 2});
  // The server itself answered: not relayed, the server is the node asked.
  r = validate_handshake_reply(
      reply_from(node, me, msg::encode(msg::Handshake{mode::REPLY, Bytes{1}, {}, {}})), node);
  REQUIRE(r);
  CHECK(!r->relayed);
  CHECK(r->server_address == node);
  // Wrong mode, another sender, no value, garbage.
  const auto bad = make_error_code(HyperDhtErrc::bad_handshake_reply);
  CHECK(validate_handshake_reply(
            reply_from(node, me, msg::encode(msg::Handshake{mode::FROM_SERVER, Bytes{1}, {}, {}})),
            node)
            .error() == bad);
  CHECK(validate_handshake_reply(
            reply_from(other, me, msg::encode(msg::Handshake{mode::REPLY, Bytes{1}, {}, {}})), node)
            .error() == bad);
  CHECK(validate_handshake_reply(dht::Reply{}, node).error() == bad);
  CHECK(validate_handshake_reply(reply_from(node, me, Bytes{0xff}), node).error() == bad);

  auto h = validate_holepunch_reply(
      reply_from(node, me, msg::encode(msg::Holepunch{mode::REPLY, 3, Bytes{9}, srv})), node);
  REQUIRE(h);
  CHECK(h->peer_address == srv);
  CHECK(h->payload == Bytes{9});
  h = validate_holepunch_reply(
      reply_from(node, me, msg::encode(msg::Holepunch{mode::REPLY, 3, Bytes{9}, {}})), node);
  REQUIRE(h);
  CHECK(h->peer_address == node);
  CHECK(validate_holepunch_reply(
            reply_from(other, me, msg::encode(msg::Holepunch{mode::REPLY, 3, Bytes{9}, {}})), node)
            .error() == make_error_code(HyperDhtErrc::bad_holepunch_reply));
}

TEST_CASE("connect: the address rules of connect.js", "[connect]") {
  const Ipv4Address lan{{192, 168, 1, 5}, 1};
  const Ipv4Address lo{{127, 0, 0, 1}, 2};
  const Ipv4Address pub{{8, 8, 8, 8}, 3};
  const Ipv4Address zero{{0, 1, 2, 3}, 4};
  CHECK(is_bogon_ipv4(lan));
  CHECK(is_bogon_ipv4(lo));
  CHECK(!is_bogon_ipv4(pub));
  CHECK(is_reserved_ipv4(zero));
  CHECK(is_reserved_ipv4(Ipv4Address{{255, 255, 255, 255}, 0}));
  CHECK(!is_reserved_ipv4(lo));  // loopback is private, not reserved: the LAN shortcut keeps it
  CHECK(first_remote_address({lan, pub}, lo) == pub);
  CHECK(first_remote_address({lan}, lo) == lo);
  CHECK(non_reserved({zero, lo, lan}) == std::vector<Ipv4Address>{lo, lan});
  const std::vector<msg::RelayInfo> relays{{pub, lan}, {lo, zero}};
  CHECK(pick_server_relay(relays, lo).peer_address == zero);
  CHECK(pick_server_relay(relays, lan).relay_address == pub);
}

TEST_CASE("connect: a key nobody announced is PEER_NOT_FOUND", "[connect]") {
  ConnectNet n;
  auto out = std::make_shared<Connected>();
  auto c = n.connect(HyperDhtNode::key_pair(Bytes32{}).public_key, out);
  CHECK(c->state() == ConnectState::finding);
  REQUIRE(n.t.net.run_until([&] { return out->settled; }, 120s));
  CHECK(out->error == make_error_code(HyperDhtErrc::peer_not_found));
  CHECK(c->state() == ConnectState::failed);
  CHECK(c->stats().attempts == 0);
}

TEST_CASE("connect: a server that never answers is PEER_CONNECTION_FAILED", "[connect]") {
  ConnectNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  int asked = 0;
  LocalServer s;
  s.on_handshake = [&](const ServerHandshake&, const dht::IncomingRequest&,
                       Respond<ServerHandshakeReply>) { ++asked; };
  n.server->node->router().set(HyperDhtNode::hash(kp.public_key), std::move(s));
  n.announce(kp);

  auto out = std::make_shared<Connected>();
  auto c = n.connect(kp.public_key, out);
  REQUIRE(n.t.net.run_until([&] { return out->settled; }, 120s));
  CHECK(out->error == make_error_code(HyperDhtErrc::peer_connection_failed));
  CHECK(c->stats().attempts > 0);
  CHECK(asked > 0);
}

TEST_CASE("connect: destroying a connect aborts it silently", "[connect]") {
  ConnectNet n;
  auto out = std::make_shared<Connected>();
  auto c = n.connect(HyperDhtNode::key_pair(Bytes32{}).public_key, out);
  n.t.net.run_for(1ms);  // the handshake phase is under way, nothing answered yet
  REQUIRE(c->state() == ConnectState::finding);
  c.reset();
  n.t.net.run_for(30s);
  CHECK(!out->settled);
}

TEST_CASE("connect: C++ client to a C++ server, data both ways", "[connect]") {
  ConnectNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  EchoServer server(*n.server->node, kp);
  REQUIRE(n.t.net.run_until([&] { return server.listening; }, 60s));

  auto out = std::make_shared<Connected>();
  auto c = n.connect(kp.public_key, out);
  REQUIRE(n.t.net.run_until([&] { return out->settled; }, 60s));
  INFO(out->error.message());
  REQUIRE(out->stream);
  CHECK(c->state() == ConnectState::connected);
  // A persistent, unfirewalled server says OPEN: its address from our socket, unless its first
  // packet beat the handshake reply.
  CHECK((c->stats().path == ConnectPath::open || c->stats().path == ConnectPath::server_first));
  CHECK(out->stream->remote_public_key() == kp.public_key);
  check_echo(n.t.net, *out->stream, server);
  CHECK(server.inbound[0]->remote_public_key() == n.client->node->default_key_pair().public_key);
}

TEST_CASE("connect: holepunch between two consistent NATs", "[connect]") {
  HTestnet t{91, HyperDhtConfig{}};
  REQUIRE(t.grow(8));
  using sim_nat::Mapping;
  HMember& srv = sim_nat::spawn_behind_nat(t, 1, Mapping::consistent, 501).member;
  HMember& cli = sim_nat::spawn_behind_nat(t, 2, Mapping::consistent, 502).member;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  EchoServer server(*srv.node, kp);
  REQUIRE(t.net.run_until([&] { return server.listening; }, 60s));

  auto out = std::make_shared<Connected>();
  auto c = start_connect(*cli.node, kp.public_key, out);
  REQUIRE(t.net.run_until([&] { return out->settled; }, 90s));
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  CHECK(c->stats().relayed);
  CHECK(c->stats().path == ConnectPath::holepunch);
  CHECK(c->stats().punch_rounds >= 1);
  check_echo(t.net, *out->stream, server);
}

TEST_CASE("connect: a second connect starts at the server's cached relay addresses", "[connect]") {
  ConnectNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  EchoServer server(*n.server->node, kp);
  REQUIRE(n.t.net.run_until([&] { return server.listening; }, 60s));
  HyperDhtNode& node = *n.client->node;
  CHECK(!node.relay_addresses_cache().get(kp.public_key));

  auto first = std::make_shared<Connected>();
  auto c1 = n.connect(kp.public_key, first);
  REQUIRE(n.t.net.run_until([&] { return first->settled; }, 60s));
  REQUIRE(first->stream);
  CHECK(c1->stats().pre_connects == 0);  // nothing known yet: FIND_PEER first
  const RelayAddressList* cached = node.relay_addresses_cache().get(kp.public_key);
  REQUIRE(cached);
  // The server sent its announcer's relays: those are kept (the reference prefers them).
  CHECK(cached->addresses == server.server->relay_addresses());

  auto second = std::make_shared<Connected>();
  auto c2 = n.connect(kp.public_key, second);
  REQUIRE(n.t.net.run_until([&] { return second->settled; }, 60s));
  REQUIRE(second->stream);
  // Its first handshake went to a cached relay, before any FIND_PEER reply.
  CHECK(c2->stats().pre_connects >= 1);
}

namespace {

// A connect between two NATed nodes with relayThrough on the client.
struct RelayCase {
  HTestnet t;
  HMember* srv = nullptr;
  HMember* cli = nullptr;
  std::unique_ptr<EchoServer> server;
  crypto::KeyPair kp = HyperDhtNode::key_pair(Bytes32{});

  RelayCase(std::uint64_t seed, sim_nat::Mapping client_nat, sim_nat::Mapping server_nat)
      : t{seed, HyperDhtConfig{}} {
    REQUIRE(t.grow(8));
    srv = &sim_nat::spawn_behind_nat(t, 1, server_nat, seed + 1).member;
    cli = &sim_nat::spawn_behind_nat(t, 2, client_nat, seed + 2).member;
    server = std::make_unique<EchoServer>(*srv->node, kp);
    REQUIRE(t.net.run_until([&] { return server->listening; }, 60s));
  }

  // One connect from the client, run until it settled.
  std::pair<std::unique_ptr<PeerConnect>, std::shared_ptr<Connected>> run(ConnectOptions o) {
    auto out = std::make_shared<Connected>();
    auto c = start_connect(*cli->node, kp.public_key, out, std::move(o));
    REQUIRE(t.net.run_until([&] { return out->settled; }, 90s));
    return {std::move(c), out};
  }
};

// A C++ blind relay on `node` (BlindRelayService), listening.
struct RelayNode {
  crypto::KeyPair kp = HyperDhtNode::key_pair(Bytes32{9});
  BlindRelayService service;

  RelayNode(core::SimNetwork& net, HyperDhtNode& node) : service(node) {
    bool listening = false;
    service.listen(kp, [&](std::error_code ec) {
      CHECK(!ec);
      listening = true;
    });
    REQUIRE(net.run_until([&] { return listening; }, 60s));
  }

  RelayThrough through() const {
    return [k = kp.public_key] { return std::optional<Bytes32>(k); };
  }
};

// A relay key nobody announced: the relay connect ends with PEER_NOT_FOUND inside.
ConnectOptions unreachable_relay() {
  ConnectOptions o;
  const Bytes32 nobody = HyperDhtNode::key_pair(Bytes32{7}).public_key;
  o.relay_through = [nobody] { return std::optional<Bytes32>(nobody); };
  return o;
}

}  // namespace

TEST_CASE("connect: an unreachable relay does not end a connect the holepunch wins",
          "[connect][relay]") {
  RelayCase rc(101, sim_nat::Mapping::consistent, sim_nat::Mapping::consistent);
  auto [c, out] = rc.run(unreachable_relay());
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  CHECK(c->stats().relay_attempted);
  CHECK(c->stats().path == ConnectPath::holepunch);
  // The server saw the client's relayThrough and tried to pair as the follower.
  CHECK(rc.server->server->stats().relay_attempts == 1);
  check_echo(rc.t.net, *out->stream, *rc.server);
}

TEST_CASE("connect: random NATs with an unreachable relay fail once both paths failed",
          "[connect][relay]") {
  RelayCase rc(103, sim_nat::Mapping::random, sim_nat::Mapping::random);
  auto [c, out] = rc.run(unreachable_relay());
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  CHECK(!out->stream);
  CHECK(c->stats().relay_attempted);
  // Both paths are gone: the relay (its connect found nobody) and the punch (two random NATs).
  REQUIRE(c->relay());
  CHECK(c->relay()->state() == RelayState::aborted);
  CHECK(c->stats().holepunch_cause ==
        make_error_code(HyperDhtErrc::holepunch_double_randomized_nats));
  CHECK((out->error == make_error_code(HyperDhtErrc::relay_aborted) ||
         out->error == make_error_code(HyperDhtErrc::holepunch_aborted)));
}

TEST_CASE("connect: random NATs without a relay stay HOLEPUNCH_ABORTED", "[connect][relay]") {
  RelayCase rc(103, sim_nat::Mapping::random, sim_nat::Mapping::random);
  auto [c, out] = rc.run({});
  CHECK(out->error == make_error_code(HyperDhtErrc::holepunch_aborted));
  CHECK(!c->stats().relay_attempted);
  CHECK(!c->relay());
}

TEST_CASE("connect: random NATs connect through a C++ blind relay", "[connect][relay]") {
  for (const char* who : {"client", "server", "both"}) {
    DYNAMIC_SECTION("relayThrough on " << who) {
      const std::string w = who;
      RelayCase rc(105, sim_nat::Mapping::random, sim_nat::Mapping::random);
      RelayNode relay(rc.t.net, *rc.t.members[2]->node);  // a public, persistent node
      if (w != "client") {
        // The server's relay wins: it is the only one that works when both are set.
        rc.server = nullptr;
        ServerOptions so;
        so.relay_through = relay.through();
        auto es = std::make_unique<EchoServer>(*rc.srv->node, rc.kp, so);
        rc.server = std::move(es);
        REQUIRE(rc.t.net.run_until([&] { return rc.server->listening; }, 60s));
      }
      ConnectOptions o = w == "client" ? ConnectOptions{} : unreachable_relay();
      if (w == "client") o.relay_through = relay.through();
      if (w == "server") o.relay_through = nullptr;
      auto [c, out] = rc.run(o);
      INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
      REQUIRE(out->stream);
      CHECK(c->stats().path == ConnectPath::relay);
      CHECK(rc.server->server->stats().relay_successes == 1);
      CHECK(relay.service.stats().pairings_matched == 1);
      check_echo(rc.t.net, *out->stream, *rc.server);
      // The relayed stream closing ends the relay connection.
      out->stream->destroy();
      CHECK(rc.t.net.run_until([&] { return c->relay()->state() == RelayState::ended; }, 10s));
    }
  }
}

TEST_CASE("relay: the server's relay wins and its owner leads the pairing (spec §6)",
          "[connect][relay]") {
  msg::RelayThroughInfo srv{1, Bytes32{1}, Bytes32{2}};
  msg::RelayThroughInfo cli{1, Bytes32{3}, Bytes32{4}};
  // Server only: the server leads, the client follows with the server's key and token.
  auto s = relay_pairing(true, srv, std::nullopt);
  auto c = relay_pairing(false, std::nullopt, srv);
  REQUIRE((s && c));
  CHECK((s->is_initiator && !c->is_initiator));
  CHECK((s->relay_public_key == srv.public_key && c->relay_public_key == srv.public_key));
  CHECK((s->token == srv.token && c->token == srv.token));
  // Client only: the client leads.
  s = relay_pairing(true, std::nullopt, cli);
  c = relay_pairing(false, cli, std::nullopt);
  REQUIRE((s && c));
  CHECK((!s->is_initiator && c->is_initiator));
  CHECK((s->token == cli.token && c->relay_public_key == cli.public_key));
  // Both: the server's relay.
  s = relay_pairing(true, srv, cli);
  c = relay_pairing(false, cli, srv);
  REQUIRE((s && c));
  CHECK((s->is_initiator && !c->is_initiator));
  CHECK((c->relay_public_key == srv.public_key && c->token == srv.token));
  CHECK(!relay_pairing(false, std::nullopt, std::nullopt));
  // make_relay_through: a fresh random token per call, none without a key.
  const RelayThrough none = [] { return std::optional<Bytes32>(); };
  CHECK(!make_relay_through(none));
  CHECK(!make_relay_through(nullptr));
  const RelayThrough some = [] { return std::optional<Bytes32>(Bytes32{5}); };
  const auto a = make_relay_through(some), b = make_relay_through(some);
  REQUIRE((a && b));
  CHECK((a->public_key == Bytes32{5} && a->token != b->token));
}

TEST_CASE("connect: a relay that never pairs is RELAY_ABORTED after 15 s, the punch failed first",
          "[connect][relay]") {
  RelayCase rc(103, sim_nat::Mapping::random, sim_nat::Mapping::random);
  // A server that takes the relay connection and never answers a pair.
  HyperDhtNode& relay_node = *rc.t.members[2]->node;
  std::vector<std::unique_ptr<core::SecretStream>> held;
  Server silent(
      relay_node, {},
      {nullptr, [&](std::unique_ptr<core::SecretStream> s) { held.push_back(std::move(s)); },
       nullptr});
  const auto relay_kp = HyperDhtNode::key_pair(Bytes32{11});
  bool listening = false;
  silent.listen(relay_kp, [&](std::error_code) { listening = true; });
  REQUIRE(rc.t.net.run_until([&] { return listening; }, 60s));

  ConnectOptions o;
  o.relay_through = [k = relay_kp.public_key] { return std::optional<Bytes32>(k); };
  const auto t0 = rc.t.net.now();
  auto [c, out] = rc.run(o);
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  CHECK(out->error == make_error_code(HyperDhtErrc::relay_aborted));
  CHECK(c->stats().holepunch_cause ==
        make_error_code(HyperDhtErrc::holepunch_double_randomized_nats));
  // Both ends reached the relay (the server follows the client's); only the pairing never came.
  CHECK(held.size() == 2);
  CHECK(rc.t.net.now() - t0 >= RelayConnection::kPairTimeout);
}

TEST_CASE("connect: relayed first, a later punch upgrades the stream and ends the relay",
          "[connect][relay]") {
  // A random client over its node's random punch budget: with a relay alongside it waits the
  // budget out (TRY_LATER, 10-20 s) instead of aborting, so the relay wins first and the punch
  // that follows moves the stream.
  RelayCase rc(107, sim_nat::Mapping::random, sim_nat::Mapping::consistent);
  RelayNode relay(rc.t.net, *rc.t.members[2]->node);
  rc.cli->node->punch_state().last_random_punch = rc.t.net.now();
  ConnectOptions o;
  o.relay_through = relay.through();
  auto [c, out] = rc.run(o);
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  CHECK(c->stats().path == ConnectPath::relay);
  CHECK(!c->stats().upgraded);
  check_echo(rc.t.net, *out->stream, *rc.server);

  const bool upgraded = rc.t.net.run_until([&] { return c->stats().upgraded; }, 90s);
  INFO("punch rounds " << c->stats().punch_rounds << " cause "
                       << c->stats().holepunch_cause.message());
  REQUIRE(upgraded);
  CHECK(c->stats().punch_rounds >= 2);
  // The data after the change ends the relay connection on both sides.
  core::SecretStream::Handlers h;
  std::string back;
  h.on_data = [&](ByteView d) { back.append(d.begin(), d.end()); };
  out->stream->set_handlers(std::move(h));
  const std::string msg = "after the upgrade";
  REQUIRE(
      out->stream->write(ByteView(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())));
  REQUIRE(rc.t.net.run_until([&] { return back == msg; }, 30s));
  CHECK(rc.t.net.run_until([&] { return c->relay()->state() == RelayState::ended; }, 30s));
  CHECK(rc.server->server->stats().upgrades == 1);
}

namespace {

// Data both ways on a stream the EchoServer echoes: `msg` goes out, comes back.
bool echo_round(core::SimNetwork& net, core::SecretStream& s, const std::string& msg) {
  std::string back;
  core::SecretStream::Handlers h;
  h.on_data = [&](ByteView d) { back.append(d.begin(), d.end()); };
  s.set_handlers(std::move(h));
  if (!s.write(ByteView(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())))
    return false;
  const bool ok = net.run_until([&] { return back == msg; }, 30s);
  s.set_handlers({});
  return ok;
}

}  // namespace

TEST_CASE("connect: a relayed stream owns its relay connection once the PeerConnect is gone",
          "[connect][relay]") {
  RelayCase rc(105, sim_nat::Mapping::random, sim_nat::Mapping::random);
  RelayNode relay(rc.t.net, *rc.t.members[2]->node);
  ConnectOptions o;
  o.relay_through = relay.through();
  auto [c, out] = rc.run(o);
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  REQUIRE(c->stats().path == ConnectPath::relay);
  c.reset();  // as the daemon does after `done`

  CHECK(echo_round(rc.t.net, *out->stream, "relayed, no PeerConnect"));
  rc.t.net.run_for(20s);  // keep-alives over the relay, no holepunch left to run out
  CHECK(echo_round(rc.t.net, *out->stream, "still relayed"));
  auto st = [&] { return relay.service.stats(); };  // a snapshot per call
  CHECK(st().pairings_active == 1);
  CHECK(st().sessions_accepted - st().sessions_closed == 2);

  // The client's stream closing ends both relay connections (the DESTROY goes through the link
  // and closes the server's stream, whose relay connection ends too).
  out->stream->destroy();
  CHECK(rc.t.net.run_until(
      [&] { return st().pairings_active == 0 && st().sessions_closed == st().sessions_accepted; },
      30s));
  out->stream.reset();
}

TEST_CASE("server: a relayed stream the user destroys frees its relay connection",
          "[server][relay]") {
  RelayCase rc(105, sim_nat::Mapping::random, sim_nat::Mapping::random);
  RelayNode relay(rc.t.net, *rc.t.members[2]->node);
  // The handshake stays around the whole test: only the stream can free the relay connection.
  rc.server = nullptr;
  ServerOptions so;
  so.handshake_clear_wait = 300s;
  rc.server = std::make_unique<EchoServer>(*rc.srv->node, rc.kp, so);
  REQUIRE(rc.t.net.run_until([&] { return rc.server->listening; }, 60s));
  ConnectOptions o;
  o.relay_through = relay.through();
  auto [c, out] = rc.run(o);
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  REQUIRE(c->stats().path == ConnectPath::relay);
  CHECK(echo_round(rc.t.net, *out->stream, "relayed"));
  auto st = [&] { return relay.service.stats(); };  // a snapshot per call
  REQUIRE(st().sessions_accepted == 2);
  REQUIRE(rc.server->inbound.size() == 1);
  CHECK(rc.server->server->handshakes_held() >= 1);

  // The server's user drops its stream object (no close callback): its relay connection goes
  // with it at once, long before the handshake is forgotten or the server closes. The relay
  // sees both sessions end: ours, and the client's once our DESTROY reached its stream through
  // the link and its close ended its relay connection.
  rc.server->inbound.clear();
  CHECK(rc.t.net.run_until([&] { return st().sessions_closed == 2 && st().pairings_active == 0; },
                           5s));
  CHECK(rc.server->server->listening());
  CHECK(rc.server->server->handshakes_held() >= 1);
}
