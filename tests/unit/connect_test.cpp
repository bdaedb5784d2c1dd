// Connect by public key (core/peer_connect.hpp, the reference's lib/connect.js) on a simulated
// network on virtual time: the errors of the handshake phase, the reply checks of the client
// side of lib/router.js, and a C++ client reaching a C++ server (core/hyperdht_server.hpp) with
// data both ways.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
#include "sim_nat.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

struct Connected {
  bool settled = false;
  std::error_code error;
  std::unique_ptr<core::SecretStream> stream;
};

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
    return PeerConnect::start(*client->node, pk, std::move(o),
                              [out](Result<std::unique_ptr<core::SecretStream>> r) {
                                out->settled = true;
                                if (r)
                                  out->stream = std::move(*r);
                                else
                                  out->error = r.error();
                              });
  }

  void announce(const crypto::KeyPair& kp) {
    auto ann = server->node->announce(HyperDhtNode::hash(kp.public_key), kp, {});
    bool done = false;
    ann->on_done([&](std::error_code) { done = true; });
    ann->start();
    REQUIRE(t.net.run_until([&] { return done; }, 60s));
  }
};

// An echo server on `node` listening on `kp`; keeps its inbound streams.
struct EchoServer {
  std::unique_ptr<Server> server;
  std::vector<std::unique_ptr<core::SecretStream>> inbound;
  std::string got;
  bool listening = false;

  EchoServer(HyperDhtNode& node, const crypto::KeyPair& kp) {
    server = std::make_unique<Server>(node);
    Server::Handlers sh;
    sh.on_connection = [this](std::unique_ptr<core::SecretStream> s) {
      core::SecretStream* raw = s.get();
      core::SecretStream::Handlers h;
      h.on_data = [this, raw](ByteView d) {
        got.append(d.begin(), d.end());
        (void)raw->write(d);
      };
      s->set_handlers(std::move(h));
      inbound.push_back(std::move(s));
    };
    server->set_handlers(std::move(sh));
    server->listen(kp, [this](std::error_code ec) {
      CHECK(!ec);
      listening = true;
    });
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
  std::vector<std::shared_ptr<sim_nat::NatGateway>> gateways;
  auto behind = [&](std::uint8_t i) -> HMember& {
    const core::SimNetwork::Ip priv{192, 168, i, 2};
    gateways.push_back(
        sim_nat::add_host_behind_nat(t.net, priv, {100, 64, i, 1}, Mapping::consistent, 500 + i));
    HMember& m = t.spawn_on(priv, t.node_config(false));
    REQUIRE(t.net.run_until([&] { return m.node->dht().bootstrapped(); }, 60s));
    CHECK(m.node->dht().firewalled());
    return m;
  };
  HMember& srv = behind(1);
  HMember& cli = behind(2);
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  EchoServer server(*srv.node, kp);
  REQUIRE(t.net.run_until([&] { return server.listening; }, 60s));

  auto out = std::make_shared<Connected>();
  auto c = PeerConnect::start(*cli.node, kp.public_key, {},
                              [out](Result<std::unique_ptr<core::SecretStream>> r) {
                                out->settled = true;
                                if (r)
                                  out->stream = std::move(*r);
                                else
                                  out->error = r.error();
                              });
  REQUIRE(t.net.run_until([&] { return out->settled; }, 90s));
  INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
  REQUIRE(out->stream);
  CHECK(c->stats().relayed);
  CHECK(c->stats().path == ConnectPath::holepunch);
  CHECK(c->stats().punch_rounds >= 1);
  check_echo(t.net, *out->stream, server);
}
