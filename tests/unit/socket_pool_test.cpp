// SocketPool (hyperdht lib/socket-pool.js) in the sim: pooled sockets' lifetime (close on
// release, stay while a UDX stream lives on them), their demultiplexing (probes, dht-rpc
// replies, UDX packets), and UdxStream::connect onto a pooled socket.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/socket_pool.hpp"
#include "core/udx_stream.hpp"
#include "hyperdht_testnet.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace std::chrono_literals;

namespace {

struct PoolNet {
  testnet::HTestnet t{0x5eed, HyperDhtConfig{}};
  PoolNet() { REQUIRE(t.grow(3)); }
  testnet::HMember& member(std::size_t i) { return *t.members.at(i); }
  // A pooled socket's address as others reach it (it is bound to 0.0.0.0).
  static Ipv4Address where(const testnet::HMember& m, const PooledSocket& s) {
    return {m.addr.ip, s.local_address().port};
  }
};

}  // namespace

TEST_CASE("pooled socket closes when released", "[socket-pool]") {
  PoolNet n;
  SocketPool& pool = n.member(1).node->socket_pool();
  auto a = pool.acquire();
  auto b = pool.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->local_address().port != b->local_address().port);
  CHECK(pool.open_sockets() == 2);
  CHECK(pool.counters().sockets_added == 2);

  auto copy = a;
  a.reset();
  CHECK(pool.open_sockets() == 2);  // still referenced
  copy.reset();
  CHECK(pool.open_sockets() == 1);
  CHECK(pool.counters().sockets_removed == 1);
  n.t.net.run_for(10ms);  // the posted sweep frees it
  CHECK(pool.open_sockets() == 1);

  pool.destroy();
  CHECK(pool.open_sockets() == 0);
  CHECK(pool.counters().sockets_removed == 2);
  CHECK_FALSE(pool.acquire());
  b.reset();  // a reference outliving the pool's sockets is harmless
}

TEST_CASE("pooled socket takes probes and dht-rpc replies", "[socket-pool]") {
  PoolNet n;
  auto& m1 = n.member(1);
  auto& m2 = n.member(2);
  auto s1 = m1.node->socket_pool().acquire();
  auto s2 = m2.node->socket_pool().acquire();
  REQUIRE(s1);
  REQUIRE(s2);

  int probes = 0;
  std::optional<Ipv4Address> probe_from;
  s1->set_on_probe([&](PooledSocket& self, const Ipv4Address& from) {
    CHECK(&self == s1.get());
    ++probes;
    probe_from = from;
  });
  s2->send_probe(PoolNet::where(m1, *s1), false);
  REQUIRE(n.t.net.run_until([&] { return probes == 1; }, 2s));
  CHECK(*probe_from == PoolNet::where(m2, *s2));
  CHECK(m1.node->socket_pool().counters().probes_received == 1);

  // A ping sent from the pooled socket: the reply comes back to it and completes the request.
  std::optional<dht::Reply> reply;
  bool failed = false;
  dht::RequestCallbacks cb;
  cb.on_response = [&](const dht::Reply& r) { reply = r; };
  cb.on_error = [&](std::error_code) { failed = true; };
  auto handle = m1.node->dht().ping(m2.addr, std::move(cb), 0, &s1->socket());
  REQUIRE(n.t.net.run_until([&] { return reply || failed; }, 5s));
  REQUIRE(reply);
  CHECK(reply->to == PoolNet::where(m1, *s1));  // seen coming from the pooled socket
  CHECK(reply->from.addr == m2.addr);

  // A probe after release reaches no handler.
  const Ipv4Address s1_at = PoolNet::where(m1, *s1);
  s1.reset();
  s2->send_probe(s1_at, false);
  n.t.net.run_for(1s);
  CHECK(probes == 1);
}

TEST_CASE("a UDX stream keeps its pooled socket open", "[socket-pool]") {
  PoolNet n;
  auto& m1 = n.member(1);
  auto& m2 = n.member(2);
  SocketPool& pool1 = m1.node->socket_pool();
  auto s1 = pool1.acquire();
  auto s2 = m2.node->socket_pool().acquire();
  REQUIRE(s1);
  REQUIRE(s2);

  // Streams made on the nodes' own sockets, then connected through the pooled ones (as connect
  // does after a punch).
  core::UdxSocket* home1 = m1.node->dht().udx_socket();
  core::UdxSocket* home2 = m2.node->dht().udx_socket();
  REQUIRE(home1);
  REQUIRE(home2);
  std::string got;
  bool closed1 = false;
  core::UdxStream::Handlers h1;
  h1.on_close = [&](std::error_code) { closed1 = true; };
  auto a = core::UdxStream::create(*home1, 101, std::move(h1));
  core::UdxStream::Handlers h2;
  h2.on_data = [&](ByteView d) { got.append(d.begin(), d.end()); };
  auto b = core::UdxStream::create(*home2, 202, std::move(h2));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(home1->stream_count() == 1);

  // Another instance's socket is refused.
  core::UdxSocket foreign(*m1.rt, s1->socket());
  CHECK((*a)->connect(foreign, 202, PoolNet::where(m2, *s2)).error() ==
        std::make_error_code(std::errc::invalid_argument));

  REQUIRE((*a)->connect(s1->udx(), 202, PoolNet::where(m2, *s2)).has_value());
  REQUIRE((*b)->connect(s2->udx(), 101, PoolNet::where(m1, *s1)).has_value());
  CHECK(home1->stream_count() == 0);
  CHECK(s1->udx().stream_count() == 1);

  const std::string hello = "through the pooled socket";
  REQUIRE((*a)->write(ByteView(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()))
              .has_value());
  REQUIRE(n.t.net.run_until([&] { return got == hello; }, 5s));
  CHECK(s2->udx().counters().udx_datagrams > 0);

  s1.reset();
  CHECK(pool1.open_sockets() == 1);  // released, but the stream lives on it
  n.t.net.run_for(1s);
  CHECK(pool1.open_sockets() == 1);
  (*a)->destroy();
  CHECK(closed1);
  CHECK(pool1.open_sockets() == 0);  // idle and released: closed
  CHECK(pool1.counters().sockets_removed == 1);
  a->reset();
  n.t.net.run_for(10ms);
}
