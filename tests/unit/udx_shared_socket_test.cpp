// UDX streams on a DHT node's own sockets (spec ../shared/spec/udx.md §1.6, §2.1, §6.1): one UDP
// socket carries dht-rpc and streams at once, stream ids are unique across the node's sockets,
// and whatever is neither goes to the raw handler.
#include <catch2/catch.hpp>

#include <array>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/udx_socket.hpp"
#include "core/udx_stream.hpp"
#include "core/udx_stream_table.hpp"
#include "protocol/udx_packet.hpp"
#include "tests/unit/dht_testnet.hpp"

using namespace hdht;
using namespace hdht::dht;
using namespace std::chrono_literals;

namespace {

Bytes pattern(std::size_t n, std::uint8_t salt) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i)
    b[i] = static_cast<std::uint8_t>((i * 31 + salt) ^ (i >> 9));
  return b;
}

// A stream on a node's UDX socket that collects what it reads.
struct Pipe {
  std::unique_ptr<core::UdxStream> stream;
  Bytes received;
  bool ended = false;
  std::optional<std::error_code> closed;

  Pipe(core::UdxSocket& socket, std::uint32_t id) {
    auto s = core::UdxStream::create(socket, id);
    REQUIRE(s.has_value());
    stream = std::move(*s);
    auto& h = stream->handlers();
    h.on_data = [this](ByteView d) { received.insert(received.end(), d.begin(), d.end()); };
    h.on_end = [this] { ended = true; };
    h.on_close = [this](std::error_code ec) { closed = ec; };
  }
};

struct Net {
  testnet::Testnet t{42};
  testnet::Member* a;
  testnet::Member* b;
  Net() {
    a = &t.spawn(t.node_config(true));
    b = &t.spawn(t.node_config(true));
    REQUIRE(t.net.run_until([&] { return t.all_ready(); }, 60s));
  }
};

}  // namespace

TEST_CASE("streams and dht-rpc share a node's socket", "[udx][udx-shared]") {
  Net n;
  DhtNode& a = *n.a->node;
  DhtNode& b = *n.b->node;
  core::UdxSocket* ua = a.udx_socket();
  core::UdxSocket* ub = b.udx_socket();
  REQUIRE(ua != nullptr);
  REQUIRE(ub != nullptr);
  // Persistent, unfirewalled nodes send from their server socket: the port the DHT knows.
  CHECK(&ua->socket() == a.io().server_socket());

  const std::uint32_t ida = a.udx_streams().random_free_id(*n.a->rt);
  const std::uint32_t idb = b.udx_streams().random_free_id(*n.b->rt);
  Pipe pa(*ua, ida), pb(*ub, idb);
  REQUIRE(pa.stream->connect(idb, n.b->addr).has_value());
  REQUIRE(pb.stream->connect(ida, n.a->addr).has_value());

  const Bytes ab = pattern(300'000, 1), ba = pattern(200'000, 2);
  // The stream buffers what it is given; back-pressure only asks the writer to wait.
  REQUIRE(pa.stream->write(ab).has_value());
  REQUIRE(pa.stream->end().has_value());
  REQUIRE(pb.stream->write(ba).has_value());
  REQUIRE(pb.stream->end().has_value());

  // RPC on the same sockets while the streams run.
  int pongs = 0, ping_errors = 0;
  std::vector<RequestHandle> pings;
  RequestCallbacks cb;
  cb.on_response = [&](const Reply&) { ++pongs; };
  cb.on_error = [&](std::error_code) { ++ping_errors; };
  for (int i = 0; i < 5; ++i)
    pings.push_back(b.ping(n.a->addr, cb));

  REQUIRE(n.t.net.run_until([&] { return pa.closed && pb.closed && pongs == 5; }, 30s));
  CHECK(ping_errors == 0);
  CHECK(pb.received == ab);
  CHECK(pa.received == ba);
  CHECK(pa.ended);
  CHECK(pb.ended);
  CHECK_FALSE(*pa.closed);
  CHECK(ua->counters().udx_datagrams > 200);
  // The node kept answering: its table still holds the other node and queries complete.
  bool done = false;
  auto q = a.find_node(b.table().id());
  q->on_done([&](std::error_code) { done = true; });
  q->start();
  REQUIRE(n.t.net.run_until([&] { return done; }, 20s));
  CHECK(q->closest_replies().size() >= 2);
}

TEST_CASE("stream ids are unique across a node's sockets", "[udx][udx-shared]") {
  Net n;
  DhtNode& a = *n.a->node;
  core::UdxSocket& server = a.udx_socket(*a.io().server_socket());
  core::UdxSocket& client = a.udx_socket(*a.io().client_socket());
  CHECK(&server.table() == &client.table());
  CHECK(&a.udx_socket(*a.io().server_socket()) == &server);  // made once per socket

  Pipe on_server(server, 7);
  auto dup = core::UdxStream::create(client, 7);
  REQUIRE_FALSE(dup.has_value());
  CHECK(dup.error() == std::errc::address_in_use);
  CHECK(a.udx_streams().size() == 1);
  CHECK(server.stream_count() == 1);
  CHECK(client.stream_count() == 0);

  // A packet for the stream is taken on whichever of the node's sockets it arrives (libudx
  // looks ids up in the instance): b's stream talks to a's client port, a answers from server.
  DhtNode& b = *n.b->node;
  const std::uint32_t idb = b.udx_streams().random_free_id(*n.b->rt);
  Pipe pb(*b.udx_socket(), idb);
  REQUIRE(pb.stream->connect(7, Ipv4Address{n.a->addr.ip, client.socket().local_address().port})
              .has_value());
  REQUIRE(on_server.stream->connect(idb, n.b->addr).has_value());
  const Bytes msg = pattern(5000, 9);
  REQUIRE(pb.stream->write(msg).has_value());
  REQUIRE(n.t.net.run_until([&] { return on_server.received.size() == msg.size(); }, 10s));
  CHECK(on_server.received == msg);
  CHECK(client.counters().udx_datagrams > 0);

  // Gone streams free their id in the shared table.
  on_server.stream.reset();
  CHECK(a.udx_streams().size() == 0);
  auto again = core::UdxStream::create(client, 7);
  CHECK(again.has_value());
}

TEST_CASE("non-rpc datagrams no stream takes reach the raw handler", "[udx][udx-shared]") {
  Net n;
  DhtNode& a = *n.a->node;
  std::vector<Bytes> raw;
  a.set_raw_handler([&](core::DatagramSocket&, ByteView d, const Ipv4Address&) {
    raw.emplace_back(d.begin(), d.end());
  });
  core::DatagramSocket& bs = *n.b->node->io().server_socket();

  // A holepunch probe before any stream exists.
  const std::uint8_t probe[1] = {0};
  bs.send(n.a->addr, ByteView(probe, 1));
  REQUIRE(n.t.net.run_until([&] { return raw.size() == 1; }, 5s));
  CHECK(raw[0] == Bytes{0});

  // Once a stream exists, a well-formed UDX packet for another id is still raw (§1.6 rule 4).
  Pipe p(*a.udx_socket(), 1);
  std::array<std::uint8_t, 64> out{};
  udx::Header h;
  h.type = 0;
  h.id = 2;
  const std::size_t len = udx::encode_header(out, h);
  bs.send(n.a->addr, ByteView(out.data(), len));
  REQUIRE(n.t.net.run_until([&] { return raw.size() == 2; }, 5s));
  CHECK(raw[1].size() == len);
  CHECK(a.udx_socket()->counters().raw_datagrams >= 1);
}
