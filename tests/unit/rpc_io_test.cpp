// RpcIo on the simulated network (virtual time, 10 ms one-way latency, no loss): every timing
// below is exact.
#include "core/rpc_io.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/routing_table.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "protocol/rpc_token.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace std::chrono_literals;
using core::SimNetwork;
using core::SimRuntime;

namespace {

constexpr SimNetwork::Ip kIpA{10, 0, 0, 1};
constexpr SimNetwork::Ip kIpB{10, 0, 0, 2};
constexpr SimNetwork::Ip kIpC{10, 0, 0, 3};

// A bare socket that records what it receives and can send hand-made datagrams.
struct RawPeer {
  struct Got {
    Bytes data;
    Ipv4Address from;
    TimePoint at;
  };
  RawPeer(SimRuntime& rt, std::uint16_t port) : rt_(rt) {
    auto s = rt.bind_udp({{0, 0, 0, 0}, port});
    REQUIRE(s.has_value());
    sock = std::move(*s);
    addr = {rt.host(), sock->local_address().port};
    sock->set_receive_handler([this](ByteView d, const Ipv4Address& from) {
      got.push_back({to_bytes(d), from, rt_.now()});
    });
  }
  void send(const Ipv4Address& to, const Bytes& data) { sock->send(to, data); }
  rpc::Request request(std::size_t i) const {
    auto r = rpc::decode_request(got.at(i).data);
    REQUIRE(r.has_value());
    return *r;
  }
  rpc::Response response(std::size_t i) const {
    auto r = rpc::decode_response(got.at(i).data);
    REQUIRE(r.has_value());
    return *r;
  }
  SimRuntime& rt_;
  std::unique_ptr<DatagramSocket> sock;
  Ipv4Address addr;
  std::vector<Got> got;
};

struct Outcome {
  std::vector<Reply> replies;
  std::vector<std::error_code> errors;
  int cycles = 0;
};

RequestCallbacks record(Outcome& o) {
  RequestCallbacks cb;
  cb.on_response = [&o](const Reply& r) { o.replies.push_back(r); };
  cb.on_error = [&o](std::error_code ec) { o.errors.push_back(ec); };
  cb.on_cycle = [&o] { ++o.cycles; };
  return cb;
}

RequestSpec ping_to(const Ipv4Address& to) {
  RequestSpec s;
  s.to = to;
  s.internal = true;
  s.command = rpc::command::kPing;
  return s;
}

Bytes32 filled(std::uint8_t v) {
  Bytes32 b{};
  b.fill(v);
  return b;
}

Ipv4Address server_addr(RpcIo& io, const SimNetwork::Ip& ip) {
  return {ip, io.server_socket()->local_address().port};
}
Ipv4Address client_addr(RpcIo& io, const SimNetwork::Ip& ip) {
  return {ip, io.client_socket()->local_address().port};
}

// A node that answers PING with an empty reply and echoes user commands (reply(value)).
RpcIo::Handlers echo_handlers(std::vector<IncomingRequest>* seen = nullptr) {
  RpcIo::Handlers h;
  h.on_request = [seen](const IncomingRequest& req) {
    if (seen) seen->push_back(req);
    if (req.message().internal) {
      req.send_reply(0, std::nullopt, false, false);
    } else {
      std::optional<ByteView> v;
      if (req.message().value) v = ByteView(*req.message().value);
      req.reply(v);
    }
  };
  return h;
}

bool add_hosts(SimNetwork& net) {
  net.add_host(kIpA);
  net.add_host(kIpB);
  net.add_host(kIpC);
  return true;
}

struct World {
  SimNetwork net{1};
  bool hosts = add_hosts(net);  // before the runtimes, which need their hosts
  SimRuntime a{net, kIpA};
  SimRuntime b{net, kIpB};
  SimRuntime c{net, kIpC};
};

}  // namespace

TEST_CASE("rpc_io: request/response round trip", "[unit][io]") {
  World w;
  RpcIo::Handlers ha;
  int node_hook = 0;
  bool hook_external = true;
  ha.on_response = [&](const Reply&, bool external) {
    ++node_hook;
    hook_external = external;
  };
  RpcIo a(w.a, {}, ha);
  RpcIo b(w.b, {}, echo_handlers());
  REQUIRE(a.bind());
  REQUIRE(b.bind());

  Outcome o;
  const TimePoint t0 = w.a.now();
  RequestHandle h = a.request(ping_to(server_addr(b, kIpB)), record(o));
  CHECK(h.active());
  CHECK(a.inflight() == 1);
  REQUIRE(w.net.run_until([&] { return !o.replies.empty(); }, 5s));
  REQUIRE(o.replies.size() == 1);
  const Reply& r = o.replies[0];
  CHECK(r.tid == h.tid());
  CHECK(r.rtt == 20ms);
  CHECK(w.a.now() - t0 == 20ms);
  CHECK(r.from.addr == server_addr(b, kIpB));
  CHECK_FALSE(r.from.id);               // b is ephemeral
  CHECK(r.to == client_addr(a, kIpA));  // firewalled: requests leave on the client socket
  CHECK_FALSE(r.token);
  CHECK_FALSE(r.has_closer_nodes);
  CHECK(r.error == 0);
  CHECK_FALSE(r.value);
  CHECK(node_hook == 1);
  CHECK_FALSE(hook_external);
  CHECK_FALSE(h.active());
  CHECK(a.inflight() == 0);
  CHECK(a.stats().requests_total == 1);
  CHECK(a.stats().responses == 1);
  CHECK(a.stats().active == 0);
  CHECK(a.stats().commands[0].tx == 1);
  CHECK(a.stats().commands[0].rx == 1);

  // A user command with a value comes back echoed, with a token for our host.
  Outcome o2;
  RequestSpec spec;
  spec.to = server_addr(b, kIpB);
  spec.command = 7;
  spec.value = Bytes{1, 2, 3};
  RequestHandle h2 = a.request(spec, record(o2));
  REQUIRE(w.net.run_until([&] { return !o2.replies.empty(); }, 5s));
  CHECK(o2.replies[0].value == Bytes{1, 2, 3});
  REQUIRE(o2.replies[0].token);
  CHECK(*o2.replies[0].token == b.token({kIpA, 0}, 1));
  CHECK(a.stats().commands[0].tx == 1);  // user commands are not in the internal counters
  CHECK(o.errors.empty());
  CHECK(o2.errors.empty());
}

TEST_CASE("rpc_io: retries then REQUEST_TIMEOUT after retries+1 transmissions", "[unit][io]") {
  World w;
  std::vector<RequestSpec> timed_out;
  RpcIo::Handlers ha;
  ha.on_timeout = [&](const RequestSpec& s) { timed_out.push_back(s); };
  RpcIo a(w.a, {}, ha);
  REQUIRE(a.bind());
  RawPeer silent(w.b, 7000);

  Outcome o;
  const TimePoint t0 = w.a.now();
  RequestSpec spec = ping_to(silent.addr);
  spec.to_id = filled(9);
  RequestHandle h = a.request(spec, record(o));
  REQUIRE(w.net.run_until([&] { return !o.errors.empty(); }, 60s));
  CHECK(w.a.now() - t0 == 4s);
  REQUIRE(silent.got.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(silent.got[i].at - t0 == 10ms + i * 1s);
    CHECK(silent.got[i].data == silent.got[0].data);  // the identical buffer, same tid
  }
  CHECK(o.errors[0] == RpcErrc::request_timeout);
  CHECK(o.cycles == 4);
  CHECK(o.replies.empty());
  REQUIRE(timed_out.size() == 1);
  CHECK(timed_out[0].to_id == filled(9));
  CHECK(a.stats().timeouts == 1);
  CHECK(a.stats().retries == 3);
  CHECK(a.stats().active == 0);

  SECTION("retries = 0 and a custom timeout: one transmission") {
    Outcome o2;
    RequestSpec s2 = ping_to(silent.addr);
    s2.retries = 0;
    s2.timeout = 2500ms;
    const TimePoint t1 = w.a.now();
    RequestHandle h2 = a.request(s2, record(o2));
    REQUIRE(w.net.run_until([&] { return !o2.errors.empty(); }, 60s));
    CHECK(w.a.now() - t1 == 2500ms);
    CHECK(silent.got.size() == 5);
    CHECK(o2.cycles == 1);
  }
}

TEST_CASE("rpc_io: responses match by tid only; duplicates and strays are dropped", "[unit][io]") {
  World w;
  RpcIo a(w.a, {}, {});
  REQUIRE(a.bind());
  RawPeer target(w.b, 7000);
  RawPeer other(w.c, 7001);

  Outcome o;
  RequestHandle h = a.request(ping_to(target.addr), record(o));
  w.net.run_for(15ms);
  REQUIRE(target.got.size() == 1);
  const rpc::Request sent = target.request(0);
  CHECK(sent.tid == h.tid());

  rpc::Response res;
  res.tid = sent.tid;
  res.to = target.got[0].from;
  res.value = Bytes{42};
  other.send(client_addr(a, kIpA), rpc::encode(res));  // from a node we never asked
  other.send(client_addr(a, kIpA), rpc::encode(res));  // duplicate
  w.net.run_for(15ms);
  REQUIRE(o.replies.size() == 1);
  CHECK(o.replies[0].from.addr == other.addr);
  CHECK(o.replies[0].value == Bytes{42});
  CHECK(a.stats().dropped_unmatched == 1);

  res.tid = static_cast<std::uint16_t>(sent.tid + 1);  // nothing in flight with this tid
  other.send(server_addr(a, kIpA), rpc::encode(res));
  w.net.run_for(15ms);
  CHECK(a.stats().dropped_unmatched == 2);
  CHECK(o.replies.size() == 1);
  w.net.run_for(10s);
  CHECK(o.errors.empty());
  CHECK(target.got.size() == 1);  // no retransmission after the response
}

TEST_CASE("rpc_io: tids count up from a random start and wrap", "[unit][io]") {
  World w;
  RpcIo a(w.a, {}, {});
  REQUIRE(a.bind());
  RawPeer silent(w.b, 7000);
  std::vector<RequestHandle> hs;
  for (int i = 0; i < 70000; ++i) {
    RequestSpec s = ping_to(silent.addr);
    s.force = true;
    hs.push_back(a.request(s, {}));
    if (hs.size() > 100) hs.erase(hs.begin());  // withdraws the oldest
  }
  CHECK(a.inflight() == 100);
  for (std::size_t i = 1; i < hs.size(); ++i) {
    CHECK(hs[i].tid() == static_cast<std::uint16_t>(hs[i - 1].tid() + 1));
  }
}

TEST_CASE("rpc_io: congestion window queues and drains; force bypasses", "[unit][io]") {
  World w;
  RpcIoConfig cfg;
  cfg.max_window = 2;
  RpcIo a(w.a, cfg, {});
  REQUIRE(a.bind());
  RawPeer silent(w.b, 7000);
  const TimePoint t0 = w.a.now();  // the drain timer started at bind

  std::vector<RequestHandle> hs;
  for (int i = 0; i < 5; ++i) {
    RequestSpec s = ping_to(silent.addr);
    s.timeout = 60s;  // keep retransmissions out of the picture
    s.value = Bytes{static_cast<std::uint8_t>(i)};
    hs.push_back(a.request(s, {}));
  }
  CHECK(a.congestion().is_full());
  w.net.run_for(100ms);
  CHECK(silent.got.size() == 2);

  RequestSpec forced = ping_to(silent.addr);
  forced.force = true;
  forced.value = Bytes{99};
  hs.push_back(a.request(forced, {}));
  w.net.run_for(100ms);
  REQUIRE(silent.got.size() == 3);
  CHECK(silent.request(2).value == Bytes{99});

  w.net.run_until([&] { return silent.got.size() > 3; }, 2s);
  // The forced send counted too: slot 0 holds 3, the total 3. The first drain (750 ms) opens
  // an empty slot; one more send makes the total 4 = 2 * max_window: full again.
  REQUIRE(silent.got.size() == 4);
  CHECK(silent.got[3].at - t0 == 760ms);
  CHECK(silent.request(3).value == Bytes{2});
  // Drains at 1.5 s and 2.25 s forget empty slots; the one at 3 s forgets slot 0 (3 sends).
  w.net.run_for(2200ms);
  CHECK(silent.got.size() == 4);
  w.net.run_for(100ms);
  REQUIRE(silent.got.size() == 6);
  CHECK(silent.got[4].at - t0 == 3010ms);
  CHECK(silent.request(4).value == Bytes{3});
  CHECK(silent.request(5).value == Bytes{4});
  CHECK(a.congestion().total() == 3);
}

TEST_CASE("rpc_io: a withdrawn queued request is never sent", "[unit][io]") {
  World w;
  RpcIoConfig cfg;
  cfg.max_window = 1;
  RpcIo a(w.a, cfg, {});
  REQUIRE(a.bind());
  RawPeer silent(w.b, 7000);
  Outcome o;
  RequestHandle first = a.request(ping_to(silent.addr), record(o));
  RequestHandle queued = a.request(ping_to(silent.addr), record(o));
  CHECK(queued.active());
  queued.cancel();
  CHECK_FALSE(queued.active());
  first.cancel();
  w.net.run_for(5s);
  CHECK(silent.got.size() == 1);
  CHECK(o.errors.empty());
  CHECK(o.cycles == 0);
  CHECK(a.stats().active == 0);
}

TEST_CASE("rpc_io: tokens issued, accepted, rejected with an automatic INVALID_TOKEN",
          "[unit][io]") {
  World w;
  std::vector<IncomingRequest> seen;
  RpcIo a(w.a, {}, {});
  RpcIo b(w.b, {}, echo_handlers(&seen));
  RoutingTable table(filled(1));
  for (std::uint16_t p = 1; p <= 3; ++p) {
    Node n;
    n.addr = {{10, 9, 9, 9}, p};
    n.id = rpc::node_id(n.addr);
    table.add(n);
  }
  b.set_table(&table);
  REQUIRE(a.bind());
  REQUIRE(b.bind());

  auto user_request = [&](std::optional<Bytes32> token, std::optional<Bytes32> target) {
    Outcome o;
    RequestSpec s;
    s.to = server_addr(b, kIpB);
    s.command = 4;
    s.token = token;
    s.target = target;
    RequestHandle h = a.request(s, record(o));
    REQUIRE(w.net.run_until([&] { return !o.replies.empty() || !o.errors.empty(); }, 10s));
    REQUIRE(o.replies.size() == 1);
    return o.replies[0];
  };

  const Reply first = user_request(std::nullopt, std::nullopt);
  REQUIRE(first.token);
  REQUIRE(seen.size() == 1);
  CHECK_FALSE(seen[0].token());

  const Reply second = user_request(first.token, std::nullopt);
  CHECK(second.error == 0);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].token() == first.token);

  const Reply bad = user_request(filled(0xee), filled(0x77));
  CHECK(seen.size() == 2);  // never reaches the node
  CHECK(bad.error == rpc::error_code::kInvalidToken);
  CHECK(bad.token == b.token({kIpA, 0}, 1));  // a fresh token to retry with
  CHECK(bad.has_closer_nodes);                // the request had a target
  CHECK(bad.closer_nodes.size() == 3);
  CHECK_FALSE(bad.value);
  CHECK(b.stats().invalid_tokens == 1);

  SECTION("rotation: valid for one more 7.5 s window, then rejected") {
    // b minted first.token at ~20 ms; its secrets rotate on every 10th 750 ms drain.
    w.net.run_for(7400ms - (w.b.now() - core::SimNetwork::kStart));
    CHECK(b.token({kIpA, 0}, 1) == *first.token);
    w.net.run_for(200ms);  // the 10th drain (7.5 s after bind) has rotated
    CHECK(b.token({kIpA, 0}, 0) == *first.token);
    CHECK(b.token({kIpA, 0}, 1) != *first.token);
    CHECK(user_request(first.token, std::nullopt).error == 0);
    w.net.run_for(7500ms);  // second rotation
    CHECK(b.token({kIpA, 0}, 0) != *first.token);
    CHECK(b.token({kIpA, 0}, 1) != *first.token);
    CHECK(user_request(first.token, std::nullopt).error == rpc::error_code::kInvalidToken);
  }
}

TEST_CASE("rpc_io: ids only from persistent nodes on their server socket", "[unit][io]") {
  World w;
  RawPeer peer(w.c, 7000);
  std::vector<IncomingRequest> seen;
  RpcIo b(w.b, {}, echo_handlers(&seen));
  REQUIRE(b.bind());
  RoutingTable table(rpc::node_id(server_addr(b, kIpB)));
  b.set_table(&table);

  auto ping_and_decode = [&](RpcIo& io) {
    const std::size_t n = peer.got.size();
    io.request(ping_to(peer.addr), {});
    w.net.run_for(15ms);
    REQUIRE(peer.got.size() == n + 1);
    return peer.request(n);
  };

  CHECK_FALSE(ping_and_decode(b).id);  // ephemeral, firewalled
  b.set_ephemeral(false);
  CHECK_FALSE(ping_and_decode(b).id);  // persistent but on the client socket
  b.set_firewalled(false);
  auto r = ping_and_decode(b);
  REQUIRE(r.id);
  CHECK(*r.id == table.id());
  CHECK(peer.got.back().from == server_addr(b, kIpB));
  b.set_ephemeral(true);
  CHECK_FALSE(ping_and_decode(b).id);  // ephemeral on the server socket
  b.set_ephemeral(false);

  // Replies: id on the server socket only, and a receiver verifies it against the source.
  rpc::Request q;
  q.tid = 77;
  q.to = server_addr(b, kIpB);
  q.internal = true;
  q.command = rpc::command::kPing;
  peer.send(server_addr(b, kIpB), rpc::encode(q));
  q.to = client_addr(b, kIpB);
  peer.send(client_addr(b, kIpB), rpc::encode(q));
  w.net.run_for(30ms);
  REQUIRE(peer.got.size() == 6);
  const auto on_server = peer.response(4);
  const auto on_client = peer.response(5);
  REQUIRE(on_server.id);
  CHECK(*on_server.id == table.id());
  CHECK(rpc::verified_id(on_server.id, peer.got[4].from) == table.id());
  CHECK_FALSE(on_client.id);
  REQUIRE(seen.size() == 2);
  CHECK_FALSE(seen[0].external());  // not firewalled: the server socket is the expected one
  CHECK(seen[1].external());
  CHECK(seen[0].socket() == b.server_socket());

  // A claimed id that does not match the source address is dropped to nullopt.
  q.id = filled(5);
  peer.send(server_addr(b, kIpB), rpc::encode(q));
  q.id = rpc::node_id(peer.addr);
  peer.send(server_addr(b, kIpB), rpc::encode(q));
  w.net.run_for(30ms);
  REQUIRE(seen.size() == 4);
  CHECK_FALSE(seen[2].from().id);
  CHECK(seen[3].from().id == rpc::node_id(peer.addr));
}

TEST_CASE("rpc_io: reply, error, send_reply and relay are byte-exact", "[unit][io]") {
  World w;
  RawPeer peer(w.a, 7000);
  RawPeer third(w.c, 7002);
  std::vector<IncomingRequest> seen;
  RpcIo::Handlers hb;
  hb.on_request = [&](const IncomingRequest& req) { seen.push_back(req); };
  RpcIo b(w.b, {}, hb);
  REQUIRE(b.bind());
  RoutingTable table(rpc::node_id(server_addr(b, kIpB)));
  for (std::uint16_t p = 1; p <= 25; ++p) {
    Node n;
    n.addr = {{10, 8, static_cast<std::uint8_t>(p), 1}, static_cast<std::uint16_t>(1000 + p)};
    n.id = rpc::node_id(n.addr);
    table.add(n);
  }
  b.set_table(&table);
  b.set_ephemeral(false);
  b.set_firewalled(false);

  rpc::Request q;
  q.tid = 0xbeef;
  q.to = server_addr(b, kIpB);
  q.command = 5;
  q.target = filled(0x42);
  q.value = Bytes{9, 9};
  peer.send(server_addr(b, kIpB), rpc::encode(q));
  w.net.run_for(15ms);
  REQUIRE(seen.size() == 1);
  const IncomingRequest& req = seen[0];
  CHECK(req.message() == q);
  CHECK(req.from().addr == peer.addr);

  std::vector<Ipv4Address> closest;
  for (const Node* n : table.closest(*q.target))
    closest.push_back(n->addr);
  REQUIRE(closest.size() == 20);

  rpc::Response base;
  base.tid = 0xbeef;
  base.to = peer.addr;
  base.id = table.id();

  const Bytes v{1, 2, 3};
  req.reply(ByteView(v));  // defaults: token, closer nodes
  rpc::Response e1 = base;
  e1.token = b.token(peer.addr, 1);
  e1.closer_nodes = closest;
  e1.value = v;

  req.error(16);  // defaults: no token, closer nodes, no value
  rpc::Response e2 = base;
  e2.closer_nodes = closest;
  e2.error = 16;

  ReplyOptions no_extras;
  no_extras.token = false;
  no_extras.closer_nodes = false;
  req.reply(ByteView(Bytes{}), no_extras);  // present-but-empty value
  rpc::Response e3 = base;
  e3.value = Bytes{};

  req.send_reply(1, std::nullopt, false, true);
  rpc::Response e4 = base;
  e4.closer_nodes = closest;
  e4.error = 1;

  w.net.run_for(15ms);
  REQUIRE(peer.got.size() == 4);
  CHECK(peer.got[0].data == rpc::encode(e1));
  CHECK(peer.got[1].data == rpc::encode(e2));
  CHECK(peer.got[2].data == rpc::encode(e3));
  CHECK(peer.got[3].data == rpc::encode(e4));
  CHECK(peer.got[0].from == server_addr(b, kIpB));

  // `to` override: sent to the third party, `to` and token are for it; the client socket
  // override drops the id.
  ReplyOptions redirect;
  redirect.to = third.addr;
  redirect.socket = b.client_socket();
  req.reply(std::nullopt, redirect);
  rpc::Response e5;
  e5.tid = 0xbeef;
  e5.to = third.addr;
  e5.token = b.token(third.addr, 1);
  e5.closer_nodes = closest;

  // relay: same tid, command, internal bit and target; no token; new value; `to` = dest.
  const Bytes rv{7};
  req.relay(ByteView(rv), third.addr);
  rpc::Request e6;
  e6.tid = 0xbeef;
  e6.to = third.addr;
  e6.id = table.id();
  e6.command = 5;
  e6.target = q.target;
  e6.value = rv;
  w.net.run_for(15ms);
  REQUIRE(third.got.size() == 2);
  CHECK(third.got[0].data == rpc::encode(e5));
  CHECK(third.got[0].from == client_addr(b, kIpB));
  CHECK(third.got[1].data == rpc::encode(e6));
  CHECK(third.got[1].from == server_addr(b, kIpB));

  // No target: no closer nodes even when asked for.
  rpc::Request q2 = q;
  q2.target.reset();
  q2.tid = 1;
  peer.send(server_addr(b, kIpB), rpc::encode(q2));
  w.net.run_for(15ms);
  REQUIRE(seen.size() == 2);
  seen[1].reply(std::nullopt);
  w.net.run_for(15ms);
  REQUIRE(peer.got.size() == 5);
  rpc::Response e7 = base;
  e7.tid = 1;
  e7.token = b.token(peer.addr, 1);
  CHECK(peer.got[4].data == rpc::encode(e7));
}

TEST_CASE("rpc_io: cancelled or destroyed handles never call back", "[unit][io]") {
  World w;
  RpcIo a(w.a, {}, {});
  REQUIRE(a.bind());
  RawPeer peer(w.b, 7000);
  Outcome o;
  RequestHandle h = a.request(ping_to(peer.addr), record(o));
  { RequestHandle scoped = a.request(ping_to(peer.addr), record(o)); }
  RequestHandle moved_from = a.request(ping_to(peer.addr), record(o));
  RequestHandle moved_to = std::move(moved_from);
  CHECK_FALSE(moved_from.active());
  CHECK(moved_to.active());
  CHECK(a.inflight() == 2);
  w.net.run_for(15ms);
  REQUIRE(peer.got.size() == 3);  // sent at once; withdrawn before any retransmission
  h.cancel();
  moved_to = RequestHandle{};
  CHECK(a.inflight() == 0);
  // A response for a withdrawn request is a stray.
  rpc::Response res;
  res.tid = peer.request(0).tid;
  peer.send(peer.got[0].from, rpc::encode(res));
  w.net.run_for(10s);
  CHECK(o.replies.empty());
  CHECK(o.errors.empty());
  CHECK(o.cycles == 0);
  CHECK(peer.got.size() == 3);
  CHECK(a.stats().dropped_unmatched == 1);
  CHECK(a.stats().active == 0);
}

TEST_CASE("rpc_io: destroy and suspend fail requests with their codes", "[unit][io]") {
  World w;
  auto a = std::make_unique<RpcIo>(w.a, RpcIoConfig{}, RpcIo::Handlers{});
  REQUIRE(a->bind());
  RawPeer peer(w.b, 7000);
  const std::uint16_t server_port = a->server_socket()->local_address().port;
  const std::uint16_t client_port = a->client_socket()->local_address().port;

  Outcome o1;
  RequestHandle h1 = a->request(ping_to(peer.addr), record(o1));
  RequestHandle h2 = a->request(ping_to(peer.addr), record(o1));
  a->suspend();
  REQUIRE(o1.errors.size() == 2);
  CHECK(o1.errors[0] == RpcErrc::io_suspended);
  CHECK(o1.errors[1] == RpcErrc::io_suspended);
  CHECK_FALSE(h1.active());
  CHECK(a->inflight() == 0);
  CHECK(a->stats().active == 0);

  // Made while suspended: held until resume, then sent on the new sockets.
  Outcome o2;
  RequestHandle h4 = a->request(ping_to(peer.addr), record(o2));
  w.net.run_for(2s);
  CHECK(peer.got.size() == 2);
  REQUIRE(a->resume());
  CHECK(a->server_socket()->local_address().port == server_port);  // previous ports first
  CHECK(a->client_socket()->local_address().port == client_port);
  w.net.run_for(15ms);
  CHECK(peer.got.size() == 3);

  a->destroy();
  REQUIRE(o2.errors.size() == 1);
  CHECK(o2.errors[0] == RpcErrc::request_destroyed);
  CHECK_FALSE(a->request(ping_to(peer.addr), record(o2)).active());
  CHECK(o2.errors.size() == 1);

  // The destructor is silent.
  auto b = std::make_unique<RpcIo>(w.b, RpcIoConfig{}, RpcIo::Handlers{});
  REQUIRE(b->bind());
  Outcome o3;
  RequestHandle h3 = b->request(ping_to({kIpA, 9}), record(o3));
  b.reset();
  CHECK_FALSE(h3.active());
  h3.cancel();
  w.net.run_for(10s);
  CHECK(o3.errors.empty());
  CHECK(o3.cycles == 0);
}

TEST_CASE("rpc_io: a callback may destroy the RpcIo", "[unit][io]") {
  World w;
  std::unique_ptr<RpcIo> a = std::make_unique<RpcIo>(w.a, RpcIoConfig{}, RpcIo::Handlers{});
  REQUIRE(a->bind());
  int errors = 0;
  RequestCallbacks cb;
  cb.on_error = [&](std::error_code) {
    ++errors;
    a.reset();
  };
  RequestSpec s = ping_to({kIpB, 9});
  s.retries = 0;
  RequestHandle h1 = a->request(s, cb);
  RequestHandle h2 = a->request(s, cb);  // same deadline: must not run after the first
  // destroyed the RpcIo
  w.net.run_for(5s);
  CHECK(errors == 1);
  CHECK_FALSE(a);
}

TEST_CASE("rpc_io: an IncomingRequest answered after the RpcIo is gone is a no-op", "[unit][io]") {
  World w;
  RawPeer peer(w.a, 7000);
  std::vector<IncomingRequest> seen;
  RpcIo::Handlers hb;
  hb.on_request = [&](const IncomingRequest& req) { seen.push_back(req); };
  auto b = std::make_unique<RpcIo>(w.b, RpcIoConfig{}, hb);
  REQUIRE(b->bind());
  rpc::Request q;
  q.internal = true;
  q.to = server_addr(*b, kIpB);
  peer.send(q.to, rpc::encode(q));
  w.net.run_for(15ms);
  REQUIRE(seen.size() == 1);
  b.reset();
  seen[0].reply(std::nullopt);
  seen[0].error(1);
  seen[0].relay(std::nullopt, peer.addr);
  seen[0].send_reply(0, std::nullopt, true, true);
  w.net.run_for(1s);
  CHECK(peer.got.empty());
}

TEST_CASE("rpc_io: requests made before bind go out at bind", "[unit][io]") {
  World w;
  RpcIo a(w.a, {}, {});
  RawPeer peer(w.b, 7000);
  Outcome o;
  RequestHandle h = a.request(ping_to(peer.addr), record(o));
  CHECK(h.active());
  w.net.run_for(5s);
  CHECK(peer.got.empty());
  CHECK(o.errors.empty());  // no timer runs before the first transmission
  REQUIRE(a.bind());
  w.net.run_for(15ms);
  CHECK(peer.got.size() == 1);
}

TEST_CASE("rpc_io: bind walks the port range", "[unit][io]") {
  World w;
  auto taken = w.a.bind_udp({{0, 0, 0, 0}, 6000});
  REQUIRE(taken.has_value());
  RpcIoConfig cfg;
  cfg.port = 6000;
  RpcIo a(w.a, cfg, {});
  REQUIRE(a.bind());
  CHECK(a.server_socket()->local_address().port == 6001);

  cfg.any_port = false;
  RpcIo strict(w.a, cfg, {});
  auto r = strict.bind();
  CHECK(r.error() == RpcErrc::bind_failed);

  RpcIoConfig range;
  range.port_range = std::pair<std::uint16_t, std::uint16_t>{6000, 6002};  // both taken
  RpcIo fallback(w.a, range, {});
  REQUIRE(fallback.bind());
  const auto p = fallback.server_socket()->local_address().port;
  CHECK(p != 6000);
  CHECK(p != 6001);
}

TEST_CASE("rpc_io: malformed datagrams are counted and never crash", "[unit][io]") {
  World w;
  std::vector<Bytes> other;
  int requests = 0;
  RpcIo::Handlers hb;
  hb.on_request = [&](const IncomingRequest&) { ++requests; };
  hb.on_other = [&](DatagramSocket&, ByteView d, const Ipv4Address&) {
    other.push_back(to_bytes(d));
    return true;
  };
  RpcIo b(w.b, {}, hb);
  REQUIRE(b.bind());
  RawPeer peer(w.a, 7000);
  const Ipv4Address to = server_addr(b, kIpB);

  peer.send(to, Bytes{0x03, 0x00, 0x01});        // truncated request
  peer.send(to, Bytes{0x13, 0x00, 0x01, 0x00});  // truncated response
  peer.send(to, Bytes{0x03});                    // too short
  peer.send(to, Bytes{0xff, 0x01, 0x00, 0x00});  // UDX
  peer.send(to, Bytes{0x42});                    // 1-byte probe
  w.net.run_for(15ms);
  CHECK(b.stats().dropped_malformed == 2);
  CHECK(other.size() == 2);
  CHECK(requests == 0);

  // Random junk with valid type bytes.
  std::uint32_t x = 12345;
  for (int i = 0; i < 3000; ++i) {
    Bytes d(1 + (i % 60));
    for (auto& byte : d) {
      x = x * 1103515245 + 12345;
      byte = static_cast<std::uint8_t>(x >> 16);
    }
    d[0] = (i & 1) ? 0x03 : 0x13;
    peer.send(to, d);
  }
  w.net.run_for(15ms);
  CHECK(b.stats().dropped_malformed > 2);
  CHECK(b.inflight() == 0);
}
