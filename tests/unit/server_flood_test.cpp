// A hyperdht Server under a PEER_HANDSHAKE flood (issue 8): rejected msg1s hold no handshake
// slot, only a bounded tombstone that keeps a copy unanswered without a second decryption; at
// most max_handshakes slots are held, a msg1 beyond that is dropped before any crypto; and a
// legitimate client still connects. The flood comes as FROM_RELAY messages from one node naming
// many fake client addresses (what any node may send: the server trusts the relay's
// peerAddress), so the per-host rate limit never trips. Simulated network, virtual time.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "connect_fixtures.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/noise_payload.hpp"
#include "protocol/router_messages.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

// A persistent, unfirewalled server host (a valid relayed msg1 waits there 10 s for the client,
// then is kept 10 s more), a flooding node and a legitimate client.
struct FloodNet {
  HTestnet t{131, HyperDhtConfig{}};
  HMember* host = nullptr;
  HMember* flooder = nullptr;
  HMember* client = nullptr;
  const crypto::KeyPair kp = HyperDhtNode::key_pair(Bytes32{7});
  std::unique_ptr<EchoServer> echo;
  std::vector<dht::RequestHandle> keep;
  std::size_t settled = 0;
  std::size_t max_held = 0;

  explicit FloodNet(ServerOptions o) {
    REQUIRE(t.grow(6));
    host = t.members[3].get();
    flooder = &t.spawn(t.node_config(false));
    client = &t.spawn(t.node_config(false));
    REQUIRE(t.net.run_until(
        [&] { return flooder->node->dht().bootstrapped() && client->node->dht().bootstrapped(); },
        60s));
    echo = std::make_unique<EchoServer>(*host->node, kp, std::move(o));
    REQUIRE(t.net.run_until([&] { return echo->listening; }, 60s));
  }

  Server& server() { return *echo->server; }

  // Replies that reached the flooder: the server answers a FROM_RELAY by relaying FROM_SERVER
  // back to its sender.
  std::uint64_t replies() const { return flooder->node->router().stats().handshake_from_server; }

  // One msg1 from the fake client `i` (172.16.x.y, never a host of the testnet); `retries`
  // copies follow if unanswered (a FROM_RELAY is never answered directly).
  void send(const Bytes& noise, std::uint32_t i, int retries = 0) {
    const Ipv4Address fake{
        {172, 16, static_cast<std::uint8_t>(i >> 8), static_cast<std::uint8_t>(i)},
        static_cast<std::uint16_t>(1000 + i % 50000)};
    dht::RequestCallbacks cb;
    cb.on_response = [this](const dht::Reply&) { ++settled; };
    cb.on_error = [this](std::error_code) { ++settled; };
    const msg::Handshake hs{msg::router_mode::FROM_RELAY, noise, fake, std::nullopt};
    keep.push_back(flooder->node->dht().request(host->addr, msg::command::PEER_HANDSHAKE,
                                                crypto::hash32(kp.public_key), msg::encode(hs),
                                                std::nullopt, std::move(cb), retries));
  }

  // Runs until every request sent so far has settled (or `done`), noting the most slots held.
  bool run(const std::function<bool()>& done, core::Duration max) {
    return t.net.run_until(
        [&] {
          max_held = std::max(max_held, server().handshakes_held());
          return settled == keep.size() && (!done || done());
        },
        max);
  }
};

Bytes random_msg1() {
  Bytes b(144);
  crypto::random_bytes(b);
  return b;
}

// A client's msg1 as connect.js writes it (firewall UNKNOWN: the server waits for it).
Bytes valid_msg1(const Bytes32& server_key) {
  auto ik = noise::IkHandshake::initiator(crypto::random_key_pair(), server_key,
                                          msg::ns_peer_handshake());
  msg::NoisePayload p;
  p.firewall = msg::firewall::UNKNOWN;
  p.udx = msg::UdxInfo{1, false, 7, 0};
  p.secret_stream = msg::SecretStreamInfo{};
  auto m = ik.write_message(msg::encode(p));
  REQUIRE(m);
  return *m;
}

}  // namespace

TEST_CASE("server: invalid msg1 from many sources hold no slot; a copy is not decrypted again",
          "[server]") {
  ServerOptions o;
  o.max_rejected_remembered = 64;
  FloodNet n(std::move(o));
  Server& s = n.server();

  // 300 invalid msg1 from 300 fake hosts, and meanwhile a legitimate connect.
  std::vector<Bytes> flood;
  for (std::uint32_t i = 0; i < 300; ++i) {
    flood.push_back(random_msg1());
    n.send(flood.back(), i);
  }
  auto out = std::make_shared<Connected>();
  auto c = start_connect(*n.client->node, n.kp.public_key, out);
  REQUIRE(n.run([&] { return out->settled && !n.echo->inbound.empty(); }, 60s));
  INFO(out->error.message());
  CHECK(out->stream);
  CHECK(n.echo->inbound.size() == 1);
  // Only the legitimate handshake took a slot (at most: it may be forgotten already).
  CHECK(n.max_held <= 1);
  CHECK(s.stats().invalid == 300);
  CHECK(s.stats().rate_limited == 0);
  CHECK(s.stats().handshake_slots_full == 0);
  CHECK(n.replies() == 0);
  // Tombstones are bounded: the last 64 are remembered.
  CHECK(s.rejected_remembered() == 64);

  // A remembered msg1 again, with two retransmissions: silence, and no second Noise attempt.
  const auto deduped = s.stats().deduped;
  n.send(flood.back(), 299, 2);
  REQUIRE(n.run(nullptr, 30s));
  CHECK(s.stats().invalid == 300);
  CHECK(s.stats().deduped == deduped + 3);
  CHECK(n.replies() == 0);
  // One forgotten early (the set was full): decrypted again, still silence.
  n.send(flood.front(), 0);
  REQUIRE(n.run(nullptr, 30s));
  CHECK(s.stats().invalid == 301);
  CHECK(n.replies() == 0);

  // After the clear wait every tombstone has expired: the next msg1 finds only itself.
  n.t.net.run_for(11s);
  n.send(random_msg1(), 1);
  REQUIRE(n.run(nullptr, 30s));
  CHECK(s.rejected_remembered() == 1);
  CHECK(s.handshakes_held() <= 1);
}

TEST_CASE("server: at most max_handshakes are held; a msg1 beyond them is dropped before crypto",
          "[server]") {
  ServerOptions o;
  o.max_handshakes = 8;
  FloodNet n(std::move(o));
  Server& s = n.server();

  // 20 valid msg1 (each held ~20 s: waiting for its client, then kept to replay msg2), then 50
  // invalid ones, all from different hosts.
  for (std::uint32_t i = 0; i < 20; ++i)
    n.send(valid_msg1(n.kp.public_key), i);
  REQUIRE(n.run(nullptr, 30s));
  for (std::uint32_t i = 20; i < 70; ++i)
    n.send(random_msg1(), i);
  REQUIRE(n.run(nullptr, 30s));
  CHECK(n.max_held == 8);
  CHECK(s.stats().handshake_slots_full == 12 + 50);
  CHECK(s.stats().invalid == 0);  // dropped before the Noise step
  CHECK(s.stats().rate_limited == 0);
  CHECK(n.replies() == 8);  // one msg2 per slot taken

  // The slots empty after the wait and the clear wait; a legitimate client connects then.
  REQUIRE(n.run([&] { return s.handshakes_held() == 0; }, 30s));
  CHECK(n.max_held == 8);
  auto out = std::make_shared<Connected>();
  auto c = start_connect(*n.client->node, n.kp.public_key, out);
  REQUIRE(n.run([&] { return out->settled && !n.echo->inbound.empty(); }, 60s));
  INFO(out->error.message());
  CHECK(out->stream);
  CHECK(n.echo->inbound.size() == 1);
  CHECK(s.stats().handshake_slots_full == 62);
}
