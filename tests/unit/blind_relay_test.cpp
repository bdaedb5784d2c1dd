// The blind relay on the simulated network: BlindRelayClients on two hosts, each with a secret
// stream to a relay host running BlindRelayServer, pair raw UDX streams by token and then talk
// through the relay's two relaying streams (spec ../shared/spec/hyperdht.md §6). Also the edge
// cases of blind-relay's own tests (unpair, a session closing mid-pairing, the same token twice
// from one side), the server's caps, and ProtomuxSession against garbage frames.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <vector>

#include "core/blind_relay_client.hpp"
#include "core/blind_relay_server.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/protomux_session.hpp"
#include "protocol/protomux.hpp"
#include "tests/unit/sim_udx_host.hpp"

using namespace hdht;
using namespace hdht::core;
using namespace hdht::hyperdht;
using namespace std::chrono_literals;
using test::SimUdxHost;

namespace {

constexpr SimNetwork::Ip kIpRelay{10, 0, 0, 9};
constexpr SimNetwork::Ip kIpClient[3] = {{10, 0, 0, 1}, {10, 0, 0, 2}, {10, 0, 0, 3}};

Bytes numbered(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>(i * 7 + salt + (i >> 12));
  return b;
}

// One pairing request's outcome.
struct PairResult {
  std::optional<Result<std::uint32_t>> result;
  bool done() const { return result.has_value(); }
  bool ok() const { return result && result->has_value(); }
};

// A relay host with a BlindRelayServer and up to three client hosts, each with a
// BlindRelayClient on its own secret stream to the relay.
struct RelayNet {
  explicit RelayNet(int clients = 2, BlindRelayLimits limits = {}) : net(3, link()) {
    net.add_host(kIpRelay);
    relay_host = std::make_unique<SimUdxHost>(net, kIpRelay);
    server = std::make_unique<BlindRelayServer>(
        relay_host->rt,
        [this](UdxStream::Handlers h) -> Result<std::unique_ptr<UdxStream>> {
          return UdxStream::create(*relay_host->udx,
                                   relay_host->udx->table().random_free_id(relay_host->rt),
                                   std::move(h));
        },
        limits);
    for (int i = 0; i < clients; ++i) {
      net.add_host(kIpClient[i]);
      hosts.push_back(std::make_unique<SimUdxHost>(net, kIpClient[i]));
      auto [c, r] =
          test::secret_pair(*hosts[i], *relay_host, static_cast<std::uint8_t>(10 + i), 99);
      client.push_back(std::make_unique<BlindRelayClient>(std::move(c)));
      server->accept(std::move(r));
    }
  }
  static SimLink link() {
    SimLink l;
    l.latency = 3ms;
    return l;
  }
  void pair(int i, bool initiator, const Bytes32& token, std::uint32_t stream_id, PairResult& out) {
    client[i]->pair(initiator, token, stream_id,
                    [&out](Result<std::uint32_t> r) { out.result = std::move(r); });
  }

  SimNetwork net;
  std::unique_ptr<SimUdxHost> relay_host;
  std::unique_ptr<BlindRelayServer> server;
  std::vector<std::unique_ptr<SimUdxHost>> hosts;
  std::vector<std::unique_ptr<BlindRelayClient>> client;
};

// A raw stream on a client host that records what it receives.
struct Peer {
  Peer(SimUdxHost& host, std::uint32_t id) {
    stream = host.stream(id);
    stream->handlers().on_data = [this](ByteView d) {
      received.insert(received.end(), d.begin(), d.end());
    };
    stream->handlers().on_close = [this](std::error_code ec) { closed = ec; };
  }
  // Step 5 of the spec: the relayed stream shares the relay connection's socket and address.
  void connect_via(BlindRelayClient& c, std::uint32_t relay_id) {
    UdxStream& relay_raw = c.stream().raw();
    REQUIRE(relay_raw.socket() != nullptr);
    REQUIRE(stream->connect(*relay_raw.socket(), relay_id, relay_raw.remote()).has_value());
  }
  std::unique_ptr<UdxStream> stream;
  Bytes received;
  std::optional<std::error_code> closed;
};

}  // namespace

TEST_CASE("blind relay: two clients pair through the relay and exchange data", "[unit][relay]") {
  RelayNet t;
  const Bytes32 token = test::filled<32>(0x42);
  Peer x(*t.hosts[0], 0x7001), y(*t.hosts[1], 0x7002);
  PairResult px, py;
  t.pair(0, true, token, x.stream->id(), px);
  t.pair(1, false, token, y.stream->id(), py);
  REQUIRE(t.net.run_until([&] { return px.done() && py.done(); }, 5s));
  REQUIRE(px.ok());
  REQUIRE(py.ok());
  CHECK(**px.result != **py.result);  // two relay-side streams
  const BlindRelayStats mid = t.server->stats();
  CHECK(mid.pairings_matched == 1);
  CHECK(mid.pairings_pending == 0);
  CHECK(mid.pairings_active == 1);
  CHECK(mid.streams_opened == 2);
  CHECK(mid.sessions_opened == 2);

  x.connect_via(*t.client[0], **px.result);
  y.connect_via(*t.client[1], **py.result);
  const Bytes xy = numbered(400000, 1), yx = numbered(100000, 2);
  REQUIRE(x.stream->write(xy).has_value());
  REQUIRE(y.stream->write(yx).has_value());
  CHECK(t.net.run_until(
      [&] { return y.received.size() == xy.size() && x.received.size() == yx.size(); }, 30s));
  CHECK((y.received == xy));
  CHECK((x.received == yx));
  const BlindRelayStats s = t.server->stats();
  CHECK(s.packets_relayed > 400000 / 1500);
  CHECK(s.bytes_relayed > 500000);

  // A peer's DESTROY reaches the other peer through the relay and frees the link.
  x.stream->destroy();
  CHECK(t.net.run_until([&] { return y.closed.has_value(); }, 5s));
  REQUIRE(y.closed);
  CHECK(*y.closed == std::errc::connection_reset);
  t.net.run_for(10ms);
  CHECK(t.server->link_count() == 0);
  CHECK(t.server->stats().streams_closed == 2);
}

TEST_CASE("blind relay: unpair cancels a pending pairing and an active link", "[unit][relay]") {
  RelayNet t;
  const Bytes32 token = test::filled<32>(1);
  PairResult p0, p1;
  t.pair(0, true, token, 0x10, p0);
  t.net.run_for(100ms);
  CHECK(t.server->pending_count() == 1);
  t.client[0]->unpair(token);
  t.net.run_for(100ms);
  CHECK(t.server->pending_count() == 0);
  CHECK(t.server->stats().pairings_cancelled == 1);
  // The other side arriving later finds nothing to pair with: it waits.
  t.pair(1, false, token, 0x11, p1);
  t.net.run_for(1s);
  CHECK_FALSE(p0.done());  // unpair drops the callback
  CHECK_FALSE(p1.done());
  CHECK(t.server->pending_count() == 1);

  // unpair of an active link tears it down.
  const Bytes32 token2 = test::filled<32>(2);
  PairResult q0, q1;
  t.pair(0, true, token2, 0x12, q0);
  t.pair(1, false, token2, 0x13, q1);
  REQUIRE(t.net.run_until([&] { return q0.ok() && q1.ok(); }, 5s));
  CHECK(t.server->link_count() == 1);
  t.client[1]->unpair(token2);
  t.net.run_for(100ms);
  CHECK(t.server->link_count() == 0);
  CHECK(t.server->stats().pairings_cancelled == 2);
}

TEST_CASE("blind relay: a session closing mid-pairing cancels it; its client fails pending pairs",
          "[unit][relay]") {
  RelayNet t;
  const Bytes32 token = test::filled<32>(3);
  PairResult p0, p1;
  t.pair(0, true, token, 0x20, p0);
  t.net.run_for(100ms);
  REQUIRE(t.server->pending_count() == 1);
  // The client's relay connection dies: the relay cancels the pairing, the client fails it.
  t.client[0]->stream().destroy();
  REQUIRE(t.net.run_until([&] { return p0.done(); }, 5s));
  CHECK_FALSE(p0.ok());
  CHECK(p0.result->error() == HyperDhtErrc::relay_aborted);
  CHECK(t.client[0]->closed());
  CHECK(t.net.run_until([&] { return t.server->pending_count() == 0; }, 5s));
  CHECK(t.server->session_count() == 1);
  const BlindRelayStats s = t.server->stats();
  CHECK(s.pairings_cancelled == 1);
  CHECK(s.sessions_closed == 1);
  t.pair(1, false, token, 0x21, p1);
  t.net.run_for(1s);
  CHECK_FALSE(p1.done());
  // Pairing on a closed client fails at once (posted).
  PairResult late;
  t.pair(0, true, test::filled<32>(4), 0x22, late);
  t.net.run_for(1ms);
  REQUIRE(late.done());
  CHECK(late.result->error() == HyperDhtErrc::relay_aborted);
}

TEST_CASE("blind relay: the same token twice from one side pairs only the first", "[unit][relay]") {
  RelayNet t(3);
  const Bytes32 token = test::filled<32>(5);
  PairResult first, second, other;
  t.pair(0, true, token, 0x30, first);
  t.net.run_for(50ms);
  t.pair(2, true, token, 0x31, second);  // another session, same side: ignored
  t.net.run_for(50ms);
  t.pair(1, false, token, 0x32, other);
  REQUIRE(t.net.run_until([&] { return first.done() && other.done(); }, 5s));
  CHECK(first.ok());
  CHECK(other.ok());
  t.net.run_for(1s);
  CHECK_FALSE(second.done());
  CHECK(t.server->stats().pairings_requested == 2);
  // From one client the API refuses a second pair with a pending token.
  PairResult dup1, dup2;
  const Bytes32 token2 = test::filled<32>(6);
  t.pair(0, true, token2, 0x33, dup1);
  t.pair(0, false, token2, 0x34, dup2);
  t.net.run_for(1ms);
  REQUIRE(dup2.done());
  CHECK(dup2.result->error() == std::errc::operation_in_progress);
}

TEST_CASE("blind relay: pending caps and the pairing timeout", "[unit][relay]") {
  BlindRelayLimits limits;
  limits.max_pending_per_session = 2;
  limits.pairing_timeout = 2s;
  RelayNet t(1, limits);
  PairResult r[3];
  for (int i = 0; i < 3; ++i)
    t.pair(0, true, test::filled<32>(static_cast<std::uint8_t>(20 + i)), 0x40u + i, r[i]);
  t.net.run_for(100ms);
  CHECK(t.server->pending_count() == 2);
  CHECK(t.server->stats().pairings_refused == 1);
  t.net.run_for(2s);
  CHECK(t.server->pending_count() == 0);
  CHECK(t.server->stats().pairings_timed_out == 2);
}

TEST_CASE("protomux session: garbage frames are rejected cleanly", "[unit][relay][protomux]") {
  // A raw peer writes arbitrary messages into the secret stream; the session must destroy the
  // stream on what protomux throws on, ignore the rest, and never crash (run under ASan too).
  std::mt19937 rng(12345);
  int destroyed = 0, survived = 0;
  for (int round = 0; round < 300; ++round) {
    SimNetwork net(static_cast<std::uint64_t>(round) + 1);
    net.add_host(kIpClient[0]);
    net.add_host(kIpRelay);
    SimUdxHost a(net, kIpClient[0]), b(net, kIpRelay);
    auto [sa, sb] = test::secret_pair(a, b, 1, 2);
    std::optional<SecretStreamError> closed;
    int opens = 0, messages = 0;
    ProtomuxSession::Handlers h;
    h.on_close = [&](const SecretStreamError& e) { closed = e; };
    ProtomuxSession mux(std::move(sb), std::move(h));
    ProtomuxSession::ChannelHandlers ch;
    ch.on_open = [&](ByteView) { ++opens; };
    ch.on_message = [&](std::uint64_t, ByteView) -> std::error_code {
      ++messages;
      return {};
    };
    REQUIRE(mux.open_channel("blind-relay", std::nullopt, ch).has_value());
    for (int i = 0; i < 20; ++i) {
      Bytes frame(rng() % 40);
      for (auto& v : frame)
        v = static_cast<std::uint8_t>(rng() % 4 == 0 ? rng() % 4 : rng());
      if (i == 0 && round % 2 == 0) {  // sometimes a well-formed open first, to pair
        frame.clear();
        protomux::Open o;
        o.local_id = 1;
        o.protocol = "blind-relay";
        protomux::encode_open(frame, o);
      }
      if (!sa->write(frame)) break;
    }
    net.run_for(500ms);
    if (closed)
      ++destroyed;
    else
      ++survived;
  }
  // Both outcomes happen: the decoder is neither too strict nor too lax to be tested.
  CHECK(destroyed > 0);
  CHECK(survived > 0);
}

TEST_CASE("protomux session: pairing, reject and close against a scripted peer",
          "[unit][relay][protomux]") {
  SimNetwork net(9);
  net.add_host(kIpClient[0]);
  net.add_host(kIpRelay);
  SimUdxHost a(net, kIpClient[0]), b(net, kIpRelay);
  auto [sa, sb] = test::secret_pair(a, b, 1, 2);
  std::vector<Bytes> from_mux;
  sa->handlers().on_data = [&](ByteView d) { from_mux.emplace_back(d.begin(), d.end()); };
  int opens = 0, closes = 0;
  std::vector<std::string> remote_opens;
  ProtomuxSession::Handlers h;
  ProtomuxSession* self = nullptr;
  h.on_remote_open = [&](const std::string& protocol, const std::optional<Bytes>&) {
    remote_opens.push_back(protocol);
    ProtomuxSession::ChannelHandlers ch;
    ch.on_open = [&](ByteView) { ++opens; };
    if (protocol == "accepted") REQUIRE(self->open_channel(protocol, std::nullopt, ch).has_value());
  };
  ProtomuxSession mux(std::move(sb), std::move(h));
  self = &mux;
  ProtomuxSession::ChannelHandlers ch;
  ch.on_open = [&](ByteView) { ++opens; };
  ch.on_close = [&] { ++closes; };
  auto local = mux.open_channel("x", Bytes{1, 2}, ch);
  REQUIRE(local.has_value());
  CHECK(*local == 1);
  CHECK(mux.open_channel("x", Bytes{1, 2}, ch).error() == std::errc::already_connected);
  net.run_for(50ms);
  REQUIRE(from_mux.size() == 1);
  Bytes expect;
  protomux::Open o;
  o.local_id = 1;
  o.protocol = "x";
  const Bytes id{1, 2};
  o.id = ByteView(id);
  protomux::encode_open(expect, o);
  CHECK(from_mux[0] == expect);

  auto send = [&](auto encode) {
    Bytes f;
    encode(f);
    REQUIRE(sa->write(f).has_value());
    net.run_for(50ms);
  };
  // The peer opens "x" too (its id 5 is not next: protomux throws; use 1), then an unknown
  // protocol (rejected), then "accepted" (paired in on_remote_open).
  send([&](Bytes& f) { protomux::encode_open(f, o); });
  CHECK(opens == 1);
  CHECK(mux.channel_paired(1));
  send([&](Bytes& f) {
    protomux::Open u;
    u.local_id = 2;
    u.protocol = "unknown";
    protomux::encode_open(f, u);
  });
  Bytes reject;
  protomux::encode_reject(reject, 2);
  CHECK(from_mux.back() == reject);
  CHECK(mux.counters().opens_rejected == 1);
  send([&](Bytes& f) {
    protomux::Open u;
    u.local_id = 2;  // the rejected id is free again
    u.protocol = "accepted";
    protomux::encode_open(f, u);
  });
  CHECK(opens == 2);
  CHECK(remote_opens.size() == 2);
  // A remote close closes our channel without a reply.
  const std::size_t sent_before = from_mux.size();
  send([&](Bytes& f) { protomux::encode_close(f, 1); });
  CHECK(closes == 1);
  CHECK_FALSE(mux.channel_open(1));
  CHECK(from_mux.size() == sent_before);
  // A reopen of remote id 1 skipping ahead (id 9) is a protocol error: the stream goes.
  send([&](Bytes& f) {
    protomux::Open u;
    u.local_id = 9;
    u.protocol = "x";
    protomux::encode_open(f, u);
  });
  CHECK(mux.closed());
  CHECK(mux.counters().frames_rejected == 1);
}
