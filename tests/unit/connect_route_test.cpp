// Reusable-socket routes (core/socket_routes.hpp, the reference's SocketRoutes and connect.js
// retryRoute) on a simulated network: a client and a server each behind a consistent NAT, both
// with reusable_socket. The first connect punches a pooled socket and leaves a route on both
// sides; the second goes straight to the server's address on it (no FIND_PEER); a stale route
// falls back to the normal path; a route goes with its socket, which lingers 3 s once idle.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "connect_fixtures.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/peer_connect.hpp"
#include "core/socket_pool.hpp"
#include "hyperdht_testnet.hpp"
#include "sim_nat_node.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

struct RouteNet {
  HTestnet t{91, HyperDhtConfig{}};
  HMember* srv = nullptr;
  HMember* cli = nullptr;
  crypto::KeyPair kp = HyperDhtNode::key_pair(Bytes32{});
  std::unique_ptr<EchoServer> echo;

  RouteNet() {
    REQUIRE(t.grow(8));
    srv = &sim_nat::spawn_behind_nat(t, 1, sim_nat::Mapping::consistent, 501).member;
    cli = &sim_nat::spawn_behind_nat(t, 2, sim_nat::Mapping::consistent, 502).member;
    listen(*srv->node);
  }

  void listen(HyperDhtNode& node) {
    ServerOptions so;
    so.reusable_socket = true;
    echo = std::make_unique<EchoServer>(node, kp, so);
    REQUIRE(t.net.run_until([&] { return echo->listening; }, 60s));
  }

  std::pair<std::unique_ptr<PeerConnect>, std::shared_ptr<Connected>> connect(
      bool reusable = true) {
    auto out = std::make_shared<Connected>();
    ConnectOptions o;
    o.reusable_socket = reusable;
    auto c = start_connect(*cli->node, kp.public_key, out, std::move(o));
    REQUIRE(t.net.run_until([&] { return out->settled; }, 90s));
    INFO(out->error.message() << " cause " << c->stats().holepunch_cause.message());
    REQUIRE(out->stream);
    return {std::move(c), out};
  }

  // Data both ways on a client stream.
  void echo_once(core::SecretStream& s) {
    std::string back;
    core::SecretStream::Handlers h;
    h.on_data = [&](ByteView d) { back.append(d.begin(), d.end()); };
    s.set_handlers(std::move(h));
    const std::string msg = "through the route";
    REQUIRE(s.write(ByteView(reinterpret_cast<const std::uint8_t*>(msg.data()), msg.size())));
    REQUIRE(t.net.run_until([&] { return back == msg; }, 30s));
    s.set_handlers({});
  }

  SocketRoutes& client_routes() { return cli->node->socket_pool().routes(); }
  SocketRoutes& server_routes() { return srv->node->socket_pool().routes(); }
};

}  // namespace

TEST_CASE("route: a second reusable connect goes straight through the route", "[route]") {
  RouteNet n;
  auto [c1, first] = n.connect();
  CHECK(c1->stats().path == ConnectPath::holepunch);
  CHECK(!c1->stats().route_retried);
  CHECK(c1->stats().route_added);
  // Both sides keep a route on the punched pooled sockets.
  const auto route = n.client_routes().get(n.kp.public_key);
  REQUIRE(route);
  CHECK(route->socket == c1->path_socket());
  CHECK(route->address == c1->path_address());
  n.echo_once(*first->stream);  // the server's side connects on the client's first packet
  CHECK(n.echo->server->stats().routes_added == 1);
  CHECK(n.server_routes().get(n.cli->node->default_key_pair().public_key));

  auto [c2, second] = n.connect();
  CHECK(c2->stats().route_retried);
  CHECK(c2->stats().route_used);
  CHECK(c2->stats().path == ConnectPath::direct);
  // One handshake, straight to the server: no FIND_PEER reply was needed.
  CHECK(c2->stats().attempts == 0);
  CHECK(c2->stats().handshakes_sent == 1);
  CHECK(n.echo->server->stats().direct_handshakes == 1);
  CHECK(c2->path_socket() == route->socket);
  n.echo_once(*second->stream);
  CHECK(n.echo->inbound.size() == 2);

  // Without reusable_socket the route is not looked at.
  auto [c3, third] = n.connect(false);
  CHECK(!c3->stats().route_retried);
  CHECK(c3->stats().path == ConnectPath::holepunch);
}

TEST_CASE("route: the socket lingers 3 s after its last stream, then the route goes", "[route]") {
  RouteNet n;
  auto [c1, first] = n.connect();
  REQUIRE(n.client_routes().get(n.kp.public_key));
  SocketPool& pool = n.cli->node->socket_pool();
  const auto closed_before = n.client_routes().counters().removed_socket_closed;
  n.echo_once(*first->stream);
  // A clean close on both ends: the socket is idle and lingers instead of closing.
  REQUIRE(first->stream->end());
  REQUIRE(n.echo->inbound.size() == 1);
  REQUIRE(n.echo->inbound[0]->end());
  REQUIRE(n.t.net.run_until(
      [&] { return first->stream->raw().state() == core::UdxStreamState::closed; }, 30s));
  CHECK(pool.lingering() == 1);
  CHECK(n.client_routes().get(n.kp.public_key));

  // Within the linger a connect still takes the route (and keeps the socket).
  auto [c2, second] = n.connect();
  CHECK(c2->stats().route_used);
  n.echo_once(*second->stream);

  // Its stream destroyed: the server's stream errors (its route goes at once), ours lingers
  // 3 s and then closes with the route.
  second->stream->destroy();
  n.t.net.run_for(100ms);
  CHECK(!n.server_routes().get(n.cli->node->default_key_pair().public_key));
  CHECK(n.client_routes().get(n.kp.public_key));
  n.t.net.run_for(SocketPool::kLingerTime + 500ms);
  CHECK(!n.client_routes().get(n.kp.public_key));
  CHECK(n.client_routes().counters().removed_socket_closed == closed_before + 1);
  CHECK(pool.lingering() == 0);
}

TEST_CASE("route: a stale route falls back to the normal connect", "[route]") {
  RouteNet n;
  auto [c1, first] = n.connect();
  REQUIRE(n.client_routes().get(n.kp.public_key));
  // The server moves to another node: the route points at a node that no longer serves the key.
  n.echo.reset();
  HMember& other = sim_nat::spawn_behind_nat(n.t, 3, sim_nat::Mapping::consistent, 503).member;
  n.listen(*other.node);

  auto [c2, second] = n.connect();
  CHECK(c2->stats().route_retried);
  CHECK(!c2->stats().route_used);
  // The normal path after the route: the cached relays (the new server announced to the same
  // closest nodes) or FIND_PEER found the new server.
  CHECK(c2->stats().handshakes_sent >= 2);
  n.echo_once(*second->stream);
  CHECK(n.echo->server->stats().direct_handshakes == 0);
}
