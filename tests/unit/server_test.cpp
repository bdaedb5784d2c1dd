// The hyperdht Server (issue 6): listen/announce, the listen errors, msg1 deduplication, the
// firewall and the rate limit, and close, on a simulated network (deterministic, virtual time).
// Connections end to end are covered by tests/interop/server-interop.js against the JS client;
// here only across a NAT rebinding, which the announcer must notice (ours, not the reference's).
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/peer_connect.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/noise_payload.hpp"
#include "protocol/router_messages.hpp"
#include "sim_nat_node.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

struct Outcome {
  bool settled = false;
  std::optional<dht::Reply> reply;
  std::error_code error;
};

struct ServerNet {
  HTestnet t{77, HyperDhtConfig{}};
  HMember* server_node = nullptr;
  HMember* client = nullptr;
  std::vector<dht::RequestHandle> keep;

  ServerNet() {
    REQUIRE(t.grow(6));
    // Firewalled for good (no quick firewall test): the holepunch fields of msg2 are present.
    dht::DhtConfig sc = t.node_config(false);
    sc.quick_firewall = false;
    server_node = &t.spawn(sc);
    client = &t.spawn(t.node_config(false));
    REQUIRE(t.net.run_until(
        [&] {
          return server_node->node->dht().bootstrapped() && client->node->dht().bootstrapped();
        },
        60s));
  }

  HyperDhtNode& snode() { return *server_node->node; }

  std::error_code listen(Server& s, const crypto::KeyPair& kp) {
    bool done = false;
    std::error_code result;
    s.listen(kp, [&](std::error_code ec) {
      done = true;
      result = ec;
    });
    REQUIRE(t.net.run_until([&] { return done; }, 60s));
    return result;
  }

  // Every record for the key a FIND_PEER query from the client finds.
  std::vector<msg::Peer> find(const Bytes32& public_key) {
    auto q = client->node->find_peer(public_key);
    std::vector<msg::Peer> out;
    bool done = false;
    q->on_reply([&](const FindPeerResult& r) { out.push_back(r.peer); });
    q->on_done([&](std::error_code) { done = true; });
    q->start();
    REQUIRE(t.net.run_until([&] { return done; }, 60s));
    return out;
  }

  // A PEER_HANDSHAKE FROM_CLIENT straight to the server's node (the "direct" path).
  std::shared_ptr<Outcome> handshake(const Bytes32& public_key, const Bytes& noise) {
    auto o = std::make_shared<Outcome>();
    dht::RequestCallbacks cb;
    cb.on_response = [o](const dht::Reply& r) {
      o->settled = true;
      o->reply = r;
    };
    cb.on_error = [o](std::error_code ec) {
      o->settled = true;
      o->error = ec;
    };
    msg::Handshake hs{msg::router_mode::FROM_CLIENT, noise, std::nullopt, std::nullopt};
    keep.push_back(client->node->dht().request(server_node->addr, msg::command::PEER_HANDSHAKE,
                                               crypto::hash32(public_key), msg::encode(hs),
                                               std::nullopt, std::move(cb), 0));
    return o;
  }

  void settle(const std::shared_ptr<Outcome>& o) {
    REQUIRE(t.net.run_until([&] { return o->settled; }, 30s));
  }
};

// A client's msg1 as connect.js writes it.
Bytes make_msg1(const Bytes32& server_key, noise::IkHandshake* keep_ik = nullptr) {
  auto ik = noise::IkHandshake::initiator(crypto::random_key_pair(), server_key,
                                          msg::ns_peer_handshake());
  msg::NoisePayload p;
  p.firewall = msg::firewall::UNKNOWN;
  p.udx = msg::UdxInfo{1, false, 7, 0};
  p.secret_stream = msg::SecretStreamInfo{};
  auto m = ik.write_message(msg::encode(p));
  REQUIRE(m);
  if (keep_ik) *keep_ik = std::move(ik);
  return *m;
}

}  // namespace

TEST_CASE("server: listen announces to relays, a find_peer finds the record", "[server]") {
  ServerNet n;
  Server s(n.snode());
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  REQUIRE(!n.listen(s, kp));
  CHECK(s.listening());
  CHECK(s.public_key() == kp.public_key);
  // The server's node is firewalled: its relay addresses are the nodes it announced to.
  CHECK(!s.relay_addresses().empty());
  CHECK(s.relay_addresses().size() <= 3);
  REQUIRE(s.announcer());
  CHECK(s.announcer()->relays().size() == s.relay_addresses().size());
  for (const auto& a : s.relay_addresses())
    CHECK(s.announcer()->is_relay(a));

  auto found = n.find(kp.public_key);
  REQUIRE(!found.empty());
  for (const auto& p : found) {
    CHECK(p.public_key == kp.public_key);
    CHECK(p.relay_addresses.empty());  // the reference announces relayAddresses: []
  }

  // The announcer keeps pinging its relays in the background.
  const auto pings = s.announcer()->stats().pings_sent;
  n.t.net.run_for(10s);
  CHECK(s.announcer()->stats().pings_sent > pings);
}

// The reference's onfindpeer / onlookup read the router, where a listening server is a retained
// entry: its own persistent node answers with the server's record, as any relay would.
TEST_CASE("server: its persistent node answers FIND_PEER and LOOKUP with the record", "[server]") {
  ServerNet n;
  HMember& host = *n.t.members[1];  // persistent, from grow()
  REQUIRE(host.node->dht().id());
  Server s(*host.node);
  const auto kp = HyperDhtNode::key_pair(Bytes32{9});
  REQUIRE(!n.listen(s, kp));
  const Bytes32 target = crypto::hash32(kp.public_key);
  for (const std::uint64_t command : {msg::command::FIND_PEER, msg::command::LOOKUP}) {
    auto o = std::make_shared<Outcome>();
    dht::RequestCallbacks cb;
    cb.on_response = [o](const dht::Reply& r) {
      o->settled = true;
      o->reply = r;
    };
    cb.on_error = [o](std::error_code ec) {
      o->settled = true;
      o->error = ec;
    };
    n.keep.push_back(n.client->node->dht().request(host.addr, command, target, std::nullopt,
                                                   std::nullopt, std::move(cb), 0));
    n.settle(o);
    REQUIRE(o->reply);
    REQUIRE(o->reply->value);
    const msg::Peer record{kp.public_key, {}};
    if (command == msg::command::FIND_PEER) {
      CHECK(*o->reply->value == msg::encode(record));
    } else {
      auto lookup = msg::decode_lookup_reply(ByteView(*o->reply->value));
      REQUIRE(lookup);
      REQUIRE(lookup->peers.size() == 1);
      CHECK(lookup->peers[0] == record);
    }
  }
}

TEST_CASE("server: listen errors", "[server]") {
  ServerNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  Server a(n.snode());
  REQUIRE(!n.listen(a, kp));
  CHECK(n.listen(a, kp) == make_error_code(HyperDhtErrc::already_listening));

  Server b(n.snode());
  CHECK(n.listen(b, kp) == make_error_code(HyperDhtErrc::keypair_already_used));
  CHECK(!b.listening());
  // b left no trace: a still owns the key, and b may listen on another one.
  CHECK(n.snode().listening().size() == 1);
  Bytes32 other{};
  other[0] = 1;
  CHECK(!n.listen(b, HyperDhtNode::key_pair(other)));
  CHECK(n.snode().listening().size() == 2);
}

TEST_CASE("server: the same msg1 gets the same reply; the firewall and rate limit stay silent",
          "[server]") {
  ServerNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  std::size_t connections = 0;
  Server s(n.snode(), {},
           {nullptr, [&](std::unique_ptr<core::SecretStream>) { ++connections; }, nullptr});
  REQUIRE(!n.listen(s, kp));

  noise::IkHandshake ik = noise::IkHandshake::initiator(crypto::random_key_pair(), kp.public_key,
                                                        msg::ns_peer_handshake());
  const Bytes msg1 = make_msg1(kp.public_key, &ik);
  auto first = n.handshake(kp.public_key, msg1);
  n.settle(first);
  auto second = n.handshake(kp.public_key, msg1);
  n.settle(second);
  REQUIRE(first->reply);
  REQUIRE(second->reply);
  REQUIRE(first->reply->value);
  CHECK(first->reply->value == second->reply->value);
  CHECK(s.stats().handshakes == 2);
  CHECK(s.stats().deduped == 1);
  // A direct handshake connects at once: one stream, not two.
  CHECK(connections == 1);
  CHECK(s.stats().connections == 1);

  // msg2 opens with the initiator's handshake and carries what server.js puts in it.
  auto reply = msg::decode_handshake(*first->reply->value);
  REQUIRE(reply);
  auto plain = ik.read_message(reply->noise);
  REQUIRE(plain);
  auto payload = msg::decode_noise_payload(*plain);
  REQUIRE(payload);
  CHECK(payload->error == 0);
  CHECK(payload->firewall == msg::firewall::UNKNOWN);  // the server node is firewalled
  REQUIRE(payload->holepunch);
  CHECK(payload->holepunch->relays.size() == s.announcer()->relays().size());
  REQUIRE(payload->udx);
  CHECK(payload->udx->id != 0);
  CHECK(payload->secret_stream);
  CHECK(payload->relay_addresses == std::optional(s.relay_addresses()));

  // Forgotten after the clear wait: the same msg1 is a new handshake then.
  n.t.net.run_for(25s);
  CHECK(s.handshakes_held() == 0);

  SECTION("firewall rejection: no reply at all") {
    int asked = 0;
    ServerOptions o;
    o.firewall = [&](const Bytes32&, const msg::NoisePayload&, const Ipv4Address&) {
      ++asked;
      return true;
    };
    Server r(n.snode(), o);
    Bytes32 other{};
    other[0] = 2;
    const auto kp2 = HyperDhtNode::key_pair(other);
    REQUIRE(!n.listen(r, kp2));
    auto o1 = n.handshake(kp2.public_key, make_msg1(kp2.public_key));
    n.settle(o1);
    CHECK(!o1->reply);
    CHECK(o1->error);
    CHECK(asked == 1);
    CHECK(r.stats().firewall_rejected == 1);
    CHECK(r.stats().connections == 0);
  }

  SECTION("rate limit per client host") {
    ServerOptions o;
    o.rate_limit = HandshakeRateLimit{2, 0.01};
    Server r(n.snode(), o);
    Bytes32 other{};
    other[0] = 3;
    const auto kp3 = HyperDhtNode::key_pair(other);
    REQUIRE(!n.listen(r, kp3));
    std::vector<std::shared_ptr<Outcome>> outs;
    for (int i = 0; i < 3; ++i)
      outs.push_back(n.handshake(kp3.public_key, make_msg1(kp3.public_key)));
    for (auto& o1 : outs)
      n.settle(o1);
    CHECK(outs[0]->reply);
    CHECK(outs[1]->reply);
    CHECK(!outs[2]->reply);
    CHECK(r.stats().rate_limited == 1);
  }
}

TEST_CASE("server: close unannounces and calls on_close", "[server]") {
  ServerNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  bool on_close = false;
  Server s(n.snode(), {}, {nullptr, nullptr, [&] { on_close = true; }});
  REQUIRE(!n.listen(s, kp));
  REQUIRE(!n.find(kp.public_key).empty());

  bool closed = false;
  s.close([&] { closed = true; });
  REQUIRE(n.t.net.run_until([&] { return closed; }, 60s));
  CHECK(on_close);
  CHECK(s.closed());
  CHECK(!s.listening());
  CHECK(n.snode().listening().empty());
  CHECK(!n.snode().router().get(crypto::hash32(kp.public_key)).server);
  CHECK(n.find(kp.public_key).empty());

  // A handshake for the closed server finds no route there: closer nodes only, no msg2.
  auto o = n.handshake(kp.public_key, make_msg1(kp.public_key));
  n.settle(o);
  CHECK((!o->reply || !o->reply->value));
}

TEST_CASE("server: a NAT rebinding is seen by the relay pings and re-announced at once",
          "[server]") {
  HTestnet t{93, HyperDhtConfig{}};
  REQUIRE(t.grow(8));
  using sim_nat::Mapping;
  auto srv_nat = sim_nat::spawn_behind_nat(t, 1, Mapping::consistent, 701);
  HMember& srv = srv_nat.member;
  HMember& cli = sim_nat::spawn_behind_nat(t, 2, Mapping::consistent, 702).member;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  std::vector<std::unique_ptr<core::SecretStream>> inbound;
  Server server(
      *srv.node, {},
      {nullptr, [&](std::unique_ptr<core::SecretStream> s) { inbound.push_back(std::move(s)); },
       nullptr});
  bool listening = false;
  server.listen(kp, [&](std::error_code ec) {
    CHECK(!ec);
    listening = true;
  });
  REQUIRE(t.net.run_until([&] { return listening; }, 60s));

  // One connect from the client behind its own NAT: relayed handshake, then the punch. The
  // stream is kept until the server's side of it arrived.
  std::vector<std::unique_ptr<core::SecretStream>> outbound;
  auto connect = [&]() -> std::error_code {
    bool settled = false;
    std::error_code error;
    std::unique_ptr<core::SecretStream> stream;
    auto c = PeerConnect::start(*cli.node, kp.public_key, {},
                                [&](Result<std::unique_ptr<core::SecretStream>> r) {
                                  settled = true;
                                  if (r)
                                    stream = std::move(*r);
                                  else
                                    error = r.error();
                                });
    REQUIRE(t.net.run_until([&] { return settled; }, 90s));
    c.reset();
    if (!stream) return error;
    outbound.push_back(std::move(stream));
    const auto arrived = inbound.size() + 1;
    CHECK(t.net.run_until([&] { return inbound.size() == arrived; }, 10s));
    return {};
  };
  REQUIRE(!connect());

  const ServerAnnouncer& ann = *server.announcer();
  const auto before = ann.relays();
  REQUIRE(!before.empty());
  const std::uint16_t old_port = before[0].peer_address.port;
  for (const auto& r : before)
    REQUIRE(r.peer_address.port == old_port);  // a consistent NAT: one mapping for all relays
  CHECK(ann.stats().rebinds_detected == 0);

  srv_nat.gateway->rebind();
  // Without the detection the relays would keep the dead mapping until the next update (100
  // ping rounds, ~5 min); one ping round and one update are a few seconds.
  auto reannounced = [&] {
    if (ann.relays().empty()) return false;
    for (const auto& r : ann.relays())
      if (r.peer_address.port == old_port) return false;
    return true;
  };
  REQUIRE(t.net.run_until(reannounced, 15s));
  CHECK(ann.stats().rebinds_detected == 1);
  const std::uint64_t updates = ann.stats().updates;

  const std::error_code after = connect();
  INFO(after.message());
  CHECK(!after);

  // One update per change: the pings agree with the new forwards, so no update follows.
  t.net.run_for(30s);
  CHECK(ann.stats().rebinds_detected == 1);
  CHECK(ann.stats().updates == updates);
}
