// The router (issue 6, first slice): PEER_HANDSHAKE and PEER_HOLEPUNCH relayed by HyperDhtNodes
// on a simulated network, checked byte for byte where lib/router.js fixes the bytes: the modes and
// addresses of every hop, the client's tid kept end to end, no token, closer nodes only on the
// "help route" answer, and silence for what the reference leaves unanswered.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/router.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/router_messages.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace mode = msg::router_mode;

namespace {

// compact ipv4Address: 4 address bytes, port little-endian.
void put_addr(Bytes& out, const Ipv4Address& a) {
  out.insert(out.end(), a.ip.begin(), a.ip.end());
  out.push_back(static_cast<std::uint8_t>(a.port & 0xff));
  out.push_back(static_cast<std::uint8_t>(a.port >> 8));
}

// The wire bytes of a handshake message, written out by hand (not with our encoder).
Bytes hs_bytes(std::uint8_t m, const Bytes& noise, std::optional<Ipv4Address> peer,
               std::optional<Ipv4Address> relay) {
  Bytes out{static_cast<std::uint8_t>((peer ? 1 : 0) | (relay ? 2 : 0)), m,
            static_cast<std::uint8_t>(noise.size())};
  out.insert(out.end(), noise.begin(), noise.end());
  if (peer) put_addr(out, *peer);
  if (relay) put_addr(out, *relay);
  return out;
}

Bytes hp_bytes(std::uint8_t m, std::uint8_t id, const Bytes& payload,
               std::optional<Ipv4Address> peer) {
  Bytes out{static_cast<std::uint8_t>(peer ? 1 : 0), m, id,
            static_cast<std::uint8_t>(payload.size())};
  out.insert(out.end(), payload.begin(), payload.end());
  if (peer) put_addr(out, *peer);
  return out;
}

struct Outcome {
  bool settled = false;
  std::optional<dht::Reply> reply;
  std::error_code error;
};

// What a local server saw: each request as it arrived, and the answer function of the last one.
struct ServerLog {
  std::vector<dht::IncomingRequest> handshakes, holepunches;
  std::vector<std::optional<Ipv4Address>> handshake_peers;
  std::vector<Ipv4Address> holepunch_peers;
  std::vector<std::uint64_t> holepunch_ids;
  Respond<ServerHandshakeReply> pending_handshake;
  bool answer = true;  // answer at once, else keep pending_handshake
};

const Bytes kNoise1{0x11, 0x12, 0x13, 0x14, 0x15};
const Bytes kNoise2{0x21, 0x22, 0x23};
const Bytes kPayload1{0x31, 0x32, 0x33, 0x34};
const Bytes kPayload2{0x41, 0x42};

struct RouterNet {
  HTestnet t{41, HyperDhtConfig{}};
  HMember* relay = nullptr;
  HMember* relay2 = nullptr;
  HMember* server = nullptr;
  HMember* client = nullptr;
  Bytes32 target = crypto::hash32(Bytes(32, 0x5a));
  std::shared_ptr<ServerLog> log = std::make_shared<ServerLog>();
  std::vector<dht::RequestHandle> keep;

  RouterNet() {
    REQUIRE(t.grow(6));
    relay = t.members[1].get();
    relay2 = t.members[2].get();
    server = t.members[3].get();
    client = &t.spawn(t.node_config(false));
    REQUIRE(t.net.run_until([&] { return client->node->dht().bootstrapped(); }, 60s));
  }

  HyperDhtNode& node(HMember* m) { return *m->node; }

  void register_server() {
    LocalServer s;
    s.record = Bytes(32, 0x5a);
    auto lg = log;
    s.on_handshake = [lg](const ServerHandshake& in, const dht::IncomingRequest& req,
                          Respond<ServerHandshakeReply> respond) {
      CHECK(in.noise == kNoise1);
      lg->handshakes.push_back(req);
      lg->handshake_peers.push_back(in.peer_address);
      if (lg->answer) {
        respond(ServerHandshakeReply{kNoise2, nullptr});
      } else {
        lg->pending_handshake = std::move(respond);
      }
    };
    s.on_holepunch = [lg](const ServerHolepunch& in, const dht::IncomingRequest& req,
                          Respond<ServerHolepunchReply> respond) {
      CHECK(in.payload == kPayload1);
      lg->holepunches.push_back(req);
      lg->holepunch_peers.push_back(in.peer_address);
      lg->holepunch_ids.push_back(in.id);
      respond(ServerHolepunchReply{kPayload2, nullptr});
    };
    node(server).router().set(target, std::move(s));
  }

  void forward(HMember* at, const Ipv4Address& to) {
    node(at).forwards().set(target, Forward{to, Bytes(32, 0x5a)});
  }

  std::shared_ptr<Outcome> send(HMember* to, std::uint64_t command, std::optional<Bytes> value,
                                std::optional<Bytes32> tgt, std::uint16_t* tid = nullptr) {
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
    keep.push_back(node(client).dht().request(to->addr, command, tgt, std::move(value),
                                              std::nullopt, std::move(cb), 0));
    if (tid) *tid = keep.back().tid();
    return o;
  }

  std::shared_ptr<Outcome> handshake(HMember* to, const msg::Handshake& hs,
                                     std::uint16_t* tid = nullptr) {
    return send(to, msg::command::PEER_HANDSHAKE, msg::encode(hs), target, tid);
  }
  std::shared_ptr<Outcome> holepunch(HMember* to, const msg::Holepunch& hp,
                                     std::uint16_t* tid = nullptr) {
    return send(to, msg::command::PEER_HOLEPUNCH, msg::encode(hp), target, tid);
  }

  void settle(const std::shared_ptr<Outcome>& o) {
    REQUIRE(t.net.run_until([&] { return o->settled; }, 30s));
  }
};

// A bare router answer: no token, no closer nodes, no error.
void check_bare(const dht::Reply& r) {
  CHECK(!r.token);
  CHECK(!r.has_closer_nodes);
  CHECK(r.error == 0);
}

}  // namespace

TEST_CASE("router: handshake client -> relay -> server -> relay -> client", "[router]") {
  RouterNet n;
  n.register_server();
  n.forward(n.relay, n.server->addr);

  std::uint16_t tid = 0;
  auto o = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt}, &tid);
  n.settle(o);
  REQUIRE(o->reply);
  const dht::Reply& r = *o->reply;
  const Ipv4Address client_seen = r.to;  // the client as the relay saw it

  // The relay's FROM_RELAY, as the server got it: the client's tid, no token, the target, and
  // the client's address as peerAddress.
  REQUIRE(n.log->handshakes.size() == 1);
  const dht::IncomingRequest& at_server = n.log->handshakes[0];
  CHECK(at_server.from().addr == n.relay->addr);
  CHECK(at_server.message().tid == tid);
  CHECK(!at_server.message().token);
  CHECK(!at_server.message().internal);
  CHECK(at_server.message().command == msg::command::PEER_HANDSHAKE);
  CHECK(at_server.message().target == n.target);
  CHECK(at_server.message().to == n.server->addr);
  CHECK(at_server.message().value ==
        hs_bytes(mode::FROM_RELAY, kNoise1, client_seen, std::nullopt));
  CHECK(n.log->handshake_peers[0] == client_seen);

  // The REPLY, from the relay, on the client's tid, with the server's address as peerAddress.
  CHECK(r.from.addr == n.relay->addr);
  CHECK(r.tid == tid);
  CHECK(r.value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
  check_bare(r);

  const RouterStats& rs = n.node(n.relay).router().stats();
  CHECK(rs.handshake_from_client == 1);
  CHECK(rs.handshake_from_server == 1);
  CHECK(rs.dropped == 0);
  const RouterStats& ss = n.node(n.server).router().stats();
  CHECK(ss.handshake_to_server == 1);
  CHECK(ss.server_replies == 1);
}

TEST_CASE("router: handshake through a second relay", "[router]") {
  RouterNet n;
  n.register_server();
  // relay knows the target through relay2, which holds the server's forward.
  n.forward(n.relay, n.relay2->addr);
  n.forward(n.relay2, n.server->addr);

  std::uint16_t tid = 0;
  auto o = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt}, &tid);
  n.settle(o);
  REQUIRE(o->reply);
  const Ipv4Address client_seen = o->reply->to;

  REQUIRE(n.log->handshakes.size() == 1);
  const dht::IncomingRequest& at_server = n.log->handshakes[0];
  CHECK(at_server.from().addr == n.relay2->addr);
  CHECK(at_server.message().tid == tid);
  CHECK(at_server.message().value ==
        hs_bytes(mode::FROM_SECOND_RELAY, kNoise1, client_seen, n.relay->addr));

  // The server answers the first relay directly, which replies to the client.
  CHECK(o->reply->from.addr == n.relay->addr);
  CHECK(o->reply->tid == tid);
  CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
  check_bare(*o->reply);
  CHECK(n.node(n.relay).router().stats().handshake_from_client == 1);
  CHECK(n.node(n.relay).router().stats().handshake_from_server == 1);
  CHECK(n.node(n.relay2).router().stats().handshake_from_relay == 1);
}

TEST_CASE("router: handshake straight to the server and through a given relayAddress", "[router]") {
  RouterNet n;
  n.register_server();

  SECTION("FROM_CLIENT at the server: REPLY without peerAddress") {
    std::uint16_t tid = 0;
    auto o = n.handshake(n.server, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt}, &tid);
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->from.addr == n.server->addr);
    CHECK(o->reply->tid == tid);
    CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, std::nullopt, std::nullopt));
    check_bare(*o->reply);
    REQUIRE(n.log->handshake_peers.size() == 1);
    CHECK(!n.log->handshake_peers[0]);
  }

  SECTION("FROM_CLIENT with relayAddress at a node without a forward goes there") {
    auto o = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, n.server->addr});
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->from.addr == n.relay->addr);
    CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
    REQUIRE(n.log->handshakes.size() == 1);
    CHECK(n.log->handshakes[0].message().value ==
          hs_bytes(mode::FROM_RELAY, kNoise1, o->reply->to, std::nullopt));
  }
}

TEST_CASE("router: holepunch client -> relay -> server -> relay -> client", "[router]") {
  RouterNet n;
  n.register_server();
  n.forward(n.relay, n.server->addr);

  SECTION("to the relay's forward") {
    std::uint16_t tid = 0;
    auto o = n.holepunch(n.relay, {mode::FROM_CLIENT, 7, kPayload1, std::nullopt}, &tid);
    n.settle(o);
    REQUIRE(o->reply);
    const Ipv4Address client_seen = o->reply->to;
    REQUIRE(n.log->holepunches.size() == 1);
    const dht::IncomingRequest& at_server = n.log->holepunches[0];
    CHECK(at_server.from().addr == n.relay->addr);
    CHECK(at_server.message().tid == tid);
    CHECK(!at_server.message().token);
    CHECK(at_server.message().command == msg::command::PEER_HOLEPUNCH);
    CHECK(at_server.message().value == hp_bytes(mode::FROM_RELAY, 7, kPayload1, client_seen));
    CHECK(n.log->holepunch_ids[0] == 7);
    CHECK(n.log->holepunch_peers[0] == client_seen);

    // The server's FROM_SERVER carries id 0; the relay's REPLY keeps it.
    CHECK(o->reply->from.addr == n.relay->addr);
    CHECK(o->reply->tid == tid);
    CHECK(o->reply->value == hp_bytes(mode::REPLY, 0, kPayload2, n.server->addr));
    check_bare(*o->reply);
    CHECK(n.node(n.relay).router().stats().holepunch_from_client == 1);
    CHECK(n.node(n.relay).router().stats().holepunch_from_server == 1);
    CHECK(n.node(n.server).router().stats().holepunch_to_server == 1);
  }

  SECTION("peerAddress wins over the forward (the client's punch route)") {
    // relay2 has no forward: the client names the server itself.
    auto o = n.holepunch(n.relay2, {mode::FROM_CLIENT, 3, kPayload1, n.server->addr});
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->from.addr == n.relay2->addr);
    CHECK(o->reply->value == hp_bytes(mode::REPLY, 0, kPayload2, n.server->addr));
  }

  SECTION("FROM_SERVER without peerAddress is answered to its sender") {
    auto o = n.holepunch(n.relay2, {mode::FROM_SERVER, 9, kPayload2, std::nullopt});
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->value == hp_bytes(mode::REPLY, 9, kPayload2, o->reply->to));
    check_bare(*o->reply);
  }
}

TEST_CASE("router: no route", "[router]") {
  RouterNet n;

  SECTION("handshake FROM_CLIENT: no value, no token, closer nodes") {
    std::uint16_t tid = 0;
    auto o = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt}, &tid);
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->tid == tid);
    CHECK(!o->reply->value);
    CHECK(!o->reply->token);
    CHECK(o->reply->error == 0);
    CHECK(o->reply->has_closer_nodes);
    CHECK(!o->reply->closer_nodes.empty());
    CHECK(n.node(n.relay).router().stats().handshake_no_route == 1);
  }

  SECTION("silence for the rest") {
    auto a = n.handshake(n.relay, {mode::FROM_RELAY, kNoise1, n.client->addr, std::nullopt});
    auto b = n.holepunch(n.relay, {mode::FROM_CLIENT, 1, kPayload1, std::nullopt});
    auto c = n.holepunch(n.relay, {mode::FROM_RELAY, 1, kPayload1, n.client->addr});
    auto d = n.handshake(n.relay, {mode::FROM_SERVER, kNoise2, std::nullopt, std::nullopt});
    for (const auto& o : {a, b, c, d}) {
      n.settle(o);
      CHECK(!o->reply);
      CHECK(o->error == dht::RpcErrc::request_timeout);
    }
    CHECK(n.node(n.relay).router().stats().dropped == 4);
  }
}

TEST_CASE("router: malformed and unknown messages are dropped", "[router]") {
  RouterNet n;
  n.register_server();
  n.forward(n.relay, n.server->addr);

  std::vector<std::shared_ptr<Outcome>> all;
  for (auto command : {msg::command::PEER_HANDSHAKE, msg::command::PEER_HOLEPUNCH}) {
    all.push_back(n.send(n.relay, command, std::nullopt, n.target));  // no value
    all.push_back(n.send(n.relay, command, Bytes{}, n.target));       // empty value
    all.push_back(n.send(n.relay, command, Bytes{0x00, 0x00, 0x09, 0x01}, n.target));  // short
    all.push_back(n.send(n.relay, command, Bytes{0x01, 0x00, 0x00, 0x7f}, n.target));  // no addr
  }
  // Decodable, but a mode the reference has no case for.
  all.push_back(n.handshake(n.relay, {mode::REPLY, kNoise1, std::nullopt, std::nullopt}));
  all.push_back(n.handshake(n.relay, {99, kNoise1, std::nullopt, std::nullopt}));
  all.push_back(n.holepunch(n.relay, {mode::REPLY, 1, kPayload1, std::nullopt}));
  for (const auto& o : all) {
    n.settle(o);
    CHECK(!o->reply);
  }
  CHECK(n.node(n.relay).router().stats().dropped == all.size());
  CHECK(n.log->handshakes.empty());
  CHECK(n.log->holepunches.empty());
}

TEST_CASE("router: trailing bytes are ignored, as the reference's decoder does", "[router]") {
  RouterNet n;
  n.register_server();
  n.forward(n.relay, n.server->addr);
  Bytes v = msg::encode(msg::Handshake{mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt});
  v.push_back(0xee);
  auto o = n.send(n.relay, msg::command::PEER_HANDSHAKE, v, n.target);
  n.settle(o);
  REQUIRE(o->reply);
  CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
}

TEST_CASE("router: local servers: retained, shadowing, once, after the node", "[router]") {
  RouterNet n;
  HyperDhtNode& s = n.node(n.server);

  SECTION("set replaces a forward, remove drops both") {
    s.forwards().set(n.target, Forward{n.relay->addr, Bytes{1}});
    n.register_server();
    CHECK(!s.forwards().contains(n.target));
    Route r = s.router().get(n.target);
    CHECK(r.server != nullptr);
    CHECK(!r.relay);
    // An announce arriving while registered does not take the route over.
    s.forwards().set(n.target, Forward{n.relay->addr, Bytes{1}});
    CHECK(s.router().get(n.target).server != nullptr);
    s.router().remove(n.target);
    r = s.router().get(n.target);
    CHECK(r.server == nullptr);
    CHECK(!r.relay);
  }

  SECTION("a late answer is sent once; none after the node is gone") {
    n.log->answer = false;
    n.register_server();
    n.forward(n.relay, n.server->addr);
    auto o = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt});
    REQUIRE(n.t.net.run_until([&] { return n.log->pending_handshake != nullptr; }, 10s));
    n.t.net.run_for(300ms);
    CHECK(!o->settled);
    auto respond = n.log->pending_handshake;
    respond(ServerHandshakeReply{kNoise2, nullptr});
    respond(ServerHandshakeReply{kNoise2, nullptr});
    n.settle(o);
    REQUIRE(o->reply);
    CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
    CHECK(s.router().stats().server_replies == 1);

    // A second handshake left pending, then the server's node destroyed: answering is a no-op.
    n.log->pending_handshake = nullptr;
    auto o2 = n.handshake(n.relay, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt});
    REQUIRE(n.t.net.run_until([&] { return n.log->pending_handshake != nullptr; }, 10s));
    auto late = n.log->pending_handshake;
    n.server->node.reset();
    late(ServerHandshakeReply{kNoise2, nullptr});
    n.settle(o2);
    CHECK(!o2->reply);
  }
}

TEST_CASE("router: an announced server is reached through the storing nodes", "[router]") {
  RouterNet n;
  const auto kp = HyperDhtNode::key_pair(Bytes32{});
  n.target = crypto::hash32(kp.public_key);
  n.register_server();

  // The server announces itself: the closest storing nodes keep a forward to it.
  auto ann = n.node(n.server).announce(n.target, kp, {});
  bool done = false;
  ann->on_done([&](std::error_code) { done = true; });
  ann->start();
  REQUIRE(n.t.net.run_until([&] { return done; }, 60s));

  HMember* holder = nullptr;
  for (auto& m : n.t.members) {
    if (m.get() == n.server || m.get() == n.client) continue;
    if (m->node->forwards().contains(n.target)) {
      holder = m.get();
      break;
    }
  }
  REQUIRE(holder != nullptr);
  CHECK(holder->node->forwards().get(n.target)->relay == n.server->addr);

  auto o = n.handshake(holder, {mode::FROM_CLIENT, kNoise1, std::nullopt, std::nullopt});
  n.settle(o);
  REQUIRE(o->reply);
  CHECK(o->reply->from.addr == holder->addr);
  CHECK(o->reply->value == hs_bytes(mode::REPLY, kNoise2, n.server->addr, std::nullopt));
  CHECK(holder->node->router().stats().handshake_from_client == 1);
}
