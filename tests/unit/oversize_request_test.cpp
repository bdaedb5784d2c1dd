// Oversized messages (issue 8): a datagram longer than a receive buffer (2048 bytes, libudx's
// and ours) reaches every peer cut short and is dropped as malformed. A request like that used to
// be sent anyway, time out, and evict the healthy nodes it went to from the sender's table (a
// 60000-byte put emptied a testnet node's table: TOO_FEW_NODES); a stored value whose reply
// carried 20 closer nodes as well grew past the buffer and made its holders look dead to every
// getter. Both must now leave routing tables alone.
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/datagram_socket.hpp"
#include "core/hyperdht_node.hpp"
#include "core/rpc_errors.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/compact.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kBuffer = core::DatagramSocket::kReceiveBufferSize;

Bytes32 seed_of(std::uint8_t b) {
  Bytes32 s{};
  s.fill(b);
  return s;
}

template <class R>
R run_op(HTestnet& t, std::unique_ptr<ValueOperation>& op, std::optional<R>& out) {
  REQUIRE(t.net.run_until([&] { return out.has_value(); }, 120s));
  op.reset();
  return std::move(*out);
}

Result<MutablePutResult> mput(HTestnet& t, HyperDhtNode& n, const crypto::KeyPair& kp,
                              const Bytes& v, std::uint64_t seq) {
  std::optional<Result<MutablePutResult>> out;
  auto op = n.mutable_put(kp, v, MutablePutOptions{{}, seq},
                          [&](Result<MutablePutResult> r) { out = std::move(r); });
  return run_op(t, op, out);
}

Result<std::optional<MutableGetResult>> mget(HTestnet& t, HyperDhtNode& n, const Bytes32& pk) {
  std::optional<Result<std::optional<MutableGetResult>>> out;
  auto op = n.mutable_get(pk, {}, [&](auto r) { out = std::move(r); });
  return run_op(t, op, out);
}

std::size_t table_size(HyperDhtNode& n) {
  return n.dht().table().size();
}

}  // namespace

TEST_CASE("oversize: a put too large for a datagram fails without emptying the table",
          "[oversize]") {
  crypto::init();
  HTestnet t(81, HyperDhtConfig{});
  REQUIRE(t.grow(20));
  HyperDhtNode& a = *t.members[3]->node;
  const std::size_t before = table_size(a);
  REQUIRE(before >= 15);
  const auto requests_before = a.dht().io().stats().requests_total;
  const auto timeouts_before = a.dht().io().stats().timeouts;

  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(9));
  const auto t0 = t.net.now();
  auto big = mput(t, a, kp, Bytes(60000, 'x'), 0);
  CHECK_FALSE(big);
  if (!big) CHECK(big.error() == dht::RpcErrc::datagram_too_large);
  // Refused at once rather than after four transmissions and their timeouts to each node.
  CHECK(t.net.now() - t0 < 20s);
  CHECK(a.dht().io().stats().timeouts == timeouts_before);
  CHECK(a.dht().io().stats().oversized_requests > 0);
  CHECK(a.dht().io().stats().requests_total > requests_before);  // the query itself ran
  // Nobody stored anything, and nobody was evicted for failing to read what could not arrive.
  for (auto& m : t.members)
    if (m->node->storage()) CHECK(m->node->storage()->mutables().size() == 0);
  CHECK(table_size(a) >= before);

  // The node is as usable as before: an ordinary put and get go through.
  auto small = mput(t, a, kp, Bytes{'o', 'k'}, 1);
  REQUIRE(small);
  CHECK(small->closest_nodes.size() >= 10);
  auto got = mget(t, *t.members[11]->node, kp.public_key);
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == Bytes{'o', 'k'});
}

TEST_CASE("oversize: a hostile peer's oversized datagrams are dropped, other requests answered",
          "[oversize]") {
  crypto::init();
  HTestnet t(82, HyperDhtConfig{});
  REQUIRE(t.grow(12));
  HyperDhtNode& x = *t.members[5]->node;
  HyperDhtNode& attacker = *t.members[8]->node;
  const std::size_t before = table_size(x);
  const auto malformed_before = x.dht().io().stats().dropped_malformed;

  // 50 requests with 60000-byte values, written by hand (our RpcIo refuses to send them).
  rpc::Request req;
  req.to = t.members[5]->addr;
  req.command = msg::command::MUTABLE_PUT;
  req.target = crypto::hash32(Bytes{'t'});
  req.value = Bytes(60000, 0xab);
  for (std::uint16_t i = 0; i < 50; ++i) {
    req.tid = i;
    attacker.dht().io().socket()->send(req.to, rpc::encode(req));
  }
  // Interleaved with them, an ordinary ping is answered.
  bool pong = false;
  dht::RequestCallbacks cb;
  cb.on_response = [&](const dht::Reply&) { pong = true; };
  auto h = attacker.dht().ping(t.members[5]->addr, std::move(cb));
  REQUIRE(t.net.run_until([&] { return pong; }, 10s));
  CHECK(x.dht().io().stats().dropped_malformed - malformed_before == 50);
  CHECK(x.dht().io().server_socket()->counters().received_truncated >= 50);
  CHECK(table_size(x) >= before);
  if (x.storage()) CHECK(x.storage()->mutables().size() == 0);
}

TEST_CASE("oversize: a stored value whose reply would overflow is served without closer nodes",
          "[oversize]") {
  crypto::init();
  HTestnet t(83, HyperDhtConfig{});
  REQUIRE(t.grow(24));
  HyperDhtNode& putter = *t.members[4]->node;
  HyperDhtNode& getter = *t.members[19]->node;
  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(3));

  // The largest value whose MUTABLE_PUT still fits in a datagram: 1830 bytes gives a 2040-byte
  // request. The MUTABLE_GET reply around it (id, token, seq, signature) is 1975 bytes, but 20
  // closer nodes add 121 more: 2096, over the buffer.
  const Bytes value(1830, 'v');
  auto put = mput(t, putter, kp, value, 0);
  REQUIRE(put);
  REQUIRE(put->closest_nodes.size() >= 10);
  // The holders the getter knows now must still be known after the get.
  std::vector<Bytes32> holders;
  for (const auto& p : put->closest_nodes)
    if (p.id && getter.dht().table().has(*p.id)) holders.push_back(*p.id);
  REQUIRE(!holders.empty());

  auto got = mget(t, getter, kp.public_key);
  REQUIRE(got);
  REQUIRE(got->has_value());
  CHECK((*got)->value == value);
  CHECK((*got)->seq == 0);
  // The getter heard every holder answer: none was dropped from its table as unresponsive.
  CHECK(getter.dht().io().stats().timeouts == 0);
  std::size_t oversized = 0;
  for (auto& m : t.members)
    oversized += m->node->dht().io().stats().oversized_replies;
  CHECK(oversized == 0);  // shortened, not dropped
  for (const auto& id : holders)
    CHECK(getter.dht().table().has(id));
}

TEST_CASE("oversize: RpcIo refuses a request no peer could read, asynchronously and unsent",
          "[oversize]") {
  crypto::init();
  HTestnet t(84, HyperDhtConfig{});
  REQUIRE(t.grow(4));
  HyperDhtNode& a = *t.members[2]->node;
  const Ipv4Address to = t.members[3]->addr;
  const auto sent_before = a.dht().io().socket()->counters().sent_datagrams;
  const std::size_t inflight_before = a.dht().io().inflight();

  // 2048 bytes encoded is the most a peer reads; this request is a few bytes over.
  std::optional<std::error_code> failed;
  dht::RequestCallbacks cb;
  cb.on_response = [&](const dht::Reply&) { failed = std::error_code(); };
  cb.on_error = [&](std::error_code ec) { failed = ec; };
  auto h = a.dht().request(to, msg::command::IMMUTABLE_PUT, crypto::hash32(Bytes{'x'}),
                           Bytes(kBuffer, 'x'), std::nullopt, std::move(cb));
  CHECK_FALSE(failed);  // never from inside request()
  CHECK(a.dht().io().inflight() == inflight_before);
  REQUIRE(t.net.run_until([&] { return failed.has_value(); }, 1s));
  CHECK(*failed == dht::RpcErrc::datagram_too_large);
  CHECK(a.dht().io().stats().oversized_requests == 1);
  CHECK(a.dht().io().socket()->counters().sent_datagrams == sent_before);

  // One that fits (a PING padded to 1900 bytes) goes out and is answered.
  std::optional<std::error_code> small;
  dht::RequestCallbacks cb2;
  cb2.on_response = [&](const dht::Reply&) { small = std::error_code(); };
  cb2.on_error = [&](std::error_code ec) { small = ec; };
  auto h2 = a.dht().ping(to, std::move(cb2), 3, nullptr, 0, 1900);
  REQUIRE(t.net.run_until([&] { return small.has_value(); }, 10s));
  CHECK_FALSE(*small);
  CHECK(a.dht().io().stats().oversized_requests == 1);
}
