// The hyperdht record layer (issue 4): the caches on their own, then put/get, announce/lookup and
// the storing nodes' validation on a simulated network of HyperDhtNodes.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "core/announce_store.hpp"
#include "core/hyperdht_node.hpp"
#include "core/record_cache.hpp"
#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "hyperdht_testnet.hpp"
#include "protocol/compact.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/records.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace hdht::hyperdht::testnet;
using namespace std::chrono_literals;

namespace {

Bytes32 key_of(std::uint32_t i) {
  Bytes32 k{};
  k[0] = static_cast<std::uint8_t>(i);
  k[1] = static_cast<std::uint8_t>(i >> 8);
  k[2] = static_cast<std::uint8_t>(i >> 16);
  return k;
}

Bytes32 seed_of(std::uint8_t b) {
  Bytes32 s{};
  s.fill(b);
  return s;
}

// One host running nothing but the clock, for the cache tests.
struct Clocked {
  core::SimNetwork net{7};
  std::unique_ptr<core::SimRuntime> rt;
  Clocked() {
    net.add_host({10, 9, 9, 9});
    rt = std::make_unique<core::SimRuntime>(net, core::SimNetwork::Ip{10, 9, 9, 9});
  }
};

// A direct request's outcome: the reply, or the error (timeout) it ended with.
struct Direct {
  bool settled = false;
  std::optional<dht::Reply> reply;
  std::error_code error;
};

std::shared_ptr<Direct> send_direct(HyperDhtNode& from, const Ipv4Address& to,
                                    std::uint64_t command, const Bytes32& target,
                                    std::optional<Bytes> value, std::optional<Bytes32> token,
                                    std::vector<dht::RequestHandle>& keep) {
  auto d = std::make_shared<Direct>();
  dht::RequestCallbacks cb;
  cb.on_response = [d](const dht::Reply& r) {
    d->settled = true;
    d->reply = r;
  };
  cb.on_error = [d](std::error_code ec) {
    d->settled = true;
    d->error = ec;
  };
  keep.push_back(from.dht().request(to, command, target, std::move(value), token, std::move(cb)));
  return d;
}

// The closest replies (with their tokens) of a plain query.
std::vector<dht::Reply> closest(HTestnet& t, HyperDhtNode& from, const Bytes32& target,
                                std::uint64_t command, std::optional<Bytes> value) {
  auto q = from.dht().query(target, command, std::move(value));
  bool done = false;
  q->on_done([&](std::error_code) { done = true; });
  q->start();
  REQUIRE(t.net.run_until([&] { return done; }, 60s));
  return q->closest_replies();
}

HyperDhtNode* node_at(HTestnet& t, const Ipv4Address& addr) {
  for (auto& m : t.members)
    if (m->addr == addr) return m->node.get();
  return nullptr;
}

Bytes uint_bytes(std::uint64_t v) {
  Bytes out;
  cenc::Writer w(out);
  w.uint(v);
  return out;
}

template <class R>
R run_op(HTestnet& t, std::unique_ptr<ValueOperation>& op, std::optional<R>& out) {
  REQUIRE(t.net.run_until([&] { return out.has_value(); }, 60s));
  op.reset();
  return std::move(*out);
}

}  // namespace

TEST_CASE("record cache: generations, expiry window and caps", "[records]") {
  Clocked c;
  SECTION("rotation at max_size and the 2x bound") {
    RecordCache<Bytes> cache(*c.rt, CacheLimits{4, 0s, 1 << 20});
    for (std::uint32_t i = 0; i < 3; ++i)
      cache.set(key_of(i), Bytes{1});
    CHECK(cache.size() == 3);
    cache.set(key_of(3), Bytes{1});  // latest reaches 4: rotates
    CHECK(cache.size() == 4);
    for (std::uint32_t i = 4; i < 8; ++i)
      cache.set(key_of(i), Bytes{1});
    CHECK(cache.size() == 4);  // the first generation was dropped
    CHECK_FALSE(cache.contains(key_of(0)));
    CHECK(cache.contains(key_of(7)));
    for (std::uint32_t i = 0; i < 10'000; ++i) {
      cache.set(key_of(100 + i), Bytes(8, 1));
      REQUIRE(cache.size() <= 2 * 4);
    }
  }
  SECTION("entries live between 2/3 and 4/3 of max_age; reads refresh them") {
    RecordCache<Bytes> cache(*c.rt, CacheLimits{100, 30s, 1 << 20});
    cache.set(key_of(1), Bytes{1});
    cache.set(key_of(2), Bytes{2});
    c.net.run_for(19s);
    CHECK(cache.contains(key_of(1)));
    c.net.run_for(2s);  // 21 s: one rotation (tick = 20 s), still held in the oldest generation
    CHECK(cache.contains(key_of(1)));
    REQUIRE(cache.get(key_of(2)) != nullptr);  // promoted back to the latest generation
    c.net.run_for(20s);                        // 41 s: second rotation drops key 1
    CHECK_FALSE(cache.contains(key_of(1)));
    CHECK(cache.contains(key_of(2)));
    c.net.run_for(40s);
    CHECK(cache.size() == 0);
    CHECK(cache.bytes() == 0);
  }
  SECTION("byte cap") {
    RecordCache<Bytes> cache(*c.rt, CacheLimits{1'000'000, 0s, 10'000});
    for (std::uint32_t i = 0; i < 5'000; ++i) {
      cache.set(key_of(i), Bytes(1'000, 7));
      REQUIRE(cache.bytes() <= 10'000);
    }
    CHECK(cache.size() > 0);
    CHECK(cache.contains(key_of(4'999)));
  }
}

TEST_CASE("announce store: record-cache semantics and caps", "[records]") {
  Clocked c;
  AnnounceStore store(*c.rt, CacheLimits{10, 60s, 1 << 20});
  const Bytes32 topic = key_of(1);
  store.add(topic, key_of(10), Bytes{1});
  store.add(topic, key_of(10), Bytes{2});  // already fresh: the first record stays
  auto got = store.get(topic, 20);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == Bytes{1});
  for (std::uint8_t i = 0; i < 5; ++i)
    store.add(topic, key_of(20 + i), Bytes{i});
  CHECK(store.get(topic, 3).size() == 3);
  CHECK(store.get(topic, 0).size() == 6);
  store.remove(topic, key_of(10));
  CHECK(store.get(topic, 20).size() == 5);
  CHECK(store.get(key_of(2), 20).empty());

  // Expiry: gone after two timer rotations without adds (tick 40 s).
  c.net.run_for(81s);
  CHECK(store.size() == 0);
  CHECK(store.topics() == 0);

  for (std::uint32_t i = 0; i < 10'000; ++i) {
    store.add(key_of(i % 37), key_of(1'000 + i), Bytes(50, 1));
    REQUIRE(store.size() <= 2 * 10 + 1);
  }
  AnnounceStore small(*c.rt, CacheLimits{1'000'000, 0s, 5'000});
  for (std::uint32_t i = 0; i < 2'000; ++i) {
    small.add(key_of(i % 5), key_of(i), Bytes(200, 1));
    REQUIRE(small.bytes() <= 5'000);
  }
}

TEST_CASE("immutable and mutable records on a simulated network", "[records]") {
  crypto::init();
  HTestnet t(41, HyperDhtConfig{});
  REQUIRE(t.grow(30));
  HyperDhtNode& a = *t.members[3]->node;
  HyperDhtNode& b = *t.members[17]->node;

  // --- immutable ---
  const Bytes value = {'h', 'e', 'l', 'l', 'o'};
  std::optional<Result<ImmutablePutResult>> put;
  auto op = a.immutable_put(value, [&](Result<ImmutablePutResult> r) { put = std::move(r); });
  auto put_r = run_op(t, op, put);
  REQUIRE(put_r);
  CHECK(put_r->hash == crypto::hash32(value));
  REQUIRE(put_r->closest_nodes.size() >= 10);
  for (const auto& p : put_r->closest_nodes) {
    HyperDhtNode* n = node_at(t, p.addr);
    REQUIRE(n);
    REQUIRE(n->storage());
    CHECK(n->storage()->immutables().contains(put_r->hash));
  }

  std::optional<Result<std::optional<ImmutableGetResult>>> iget;
  op = b.immutable_get(put_r->hash, [&](auto r) { iget = std::move(r); });
  auto iget_r = run_op(t, op, iget);
  REQUIRE(iget_r);
  REQUIRE(iget_r->has_value());
  CHECK((*iget_r)->value == value);

  std::optional<Result<std::optional<ImmutableGetResult>>> miss;
  op = b.immutable_get(key_of(99), [&](auto r) { miss = std::move(r); });
  auto miss_r = run_op(t, op, miss);
  REQUIRE(miss_r);
  CHECK_FALSE(miss_r->has_value());

  // --- mutable: put, get, seq increase ---
  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(5));
  CHECK(kp.public_key == crypto::key_pair_from_seed(seed_of(5)).public_key);
  auto mput = [&](HyperDhtNode& n, const Bytes& v, std::uint64_t seq) {
    std::optional<Result<MutablePutResult>> out;
    auto o = n.mutable_put(kp, v, MutablePutOptions{{}, seq},
                           [&](Result<MutablePutResult> r) { out = std::move(r); });
    return run_op(t, o, out);
  };
  auto mget = [&](HyperDhtNode& n, MutableGetOptions opts) {
    std::optional<Result<std::optional<MutableGetResult>>> out;
    auto o = n.mutable_get(kp.public_key, opts, [&](auto r) { out = std::move(r); });
    return run_op(t, o, out);
  };
  auto p0 = mput(a, Bytes{'v', '0'}, 0);
  REQUIRE(p0);
  CHECK(p0->seq == 0);
  CHECK(msg::verify_mutable(p0->signature, 0, Bytes{'v', '0'}, kp.public_key));
  auto g0 = mget(b, {});
  REQUIRE(g0);
  REQUIRE(g0->has_value());
  CHECK((*g0)->seq == 0);
  CHECK((*g0)->value == Bytes{'v', '0'});

  auto p1 = mput(a, Bytes{'v', '1'}, 1);
  REQUIRE(p1);
  auto g1 = mget(b, {});
  REQUIRE(g1);
  REQUIRE(g1->has_value());
  CHECK((*g1)->seq == 1);
  CHECK((*g1)->value == Bytes{'v', '1'});

  // --- the storing nodes' seq rules, seen on the wire ---
  const Bytes32 target = crypto::hash32(kp.public_key);
  auto replies = closest(t, b, target, msg::command::MUTABLE_GET, uint_bytes(0));
  REQUIRE(!replies.empty());
  std::vector<dht::RequestHandle> keep;
  auto put_req = [&](std::uint64_t seq, const Bytes& v) {
    return msg::encode(
        msg::MutablePutRequest{kp.public_key, seq, v, msg::sign_mutable(seq, v, kp)});
  };
  const dht::Reply& r0 = replies[0];
  auto stale = send_direct(b, r0.from.addr, msg::command::MUTABLE_PUT, target,
                           put_req(0, Bytes{'v', '0'}), r0.token, keep);
  auto reused = send_direct(b, r0.from.addr, msg::command::MUTABLE_PUT, target,
                            put_req(1, Bytes{'x'}), r0.token, keep);
  REQUIRE(t.net.run_until([&] { return stale->settled && reused->settled; }, 30s));
  REQUIRE(stale->reply);
  CHECK(stale->reply->error == msg::payload_error::SEQ_TOO_LOW);
  REQUIRE(reused->reply);
  CHECK(reused->reply->error == msg::payload_error::SEQ_REUSED);

  // --- latest: one node holds seq 7; latest finds it, seq filters, latest=false returns early
  auto only = send_direct(b, r0.from.addr, msg::command::MUTABLE_PUT, target,
                          put_req(7, Bytes{'v', '7'}), r0.token, keep);
  REQUIRE(t.net.run_until([&] { return only->settled; }, 30s));
  REQUIRE(only->reply);
  CHECK(only->reply->error == 0);
  auto gl = mget(a, {});
  REQUIRE(gl);
  REQUIRE(gl->has_value());
  CHECK((*gl)->seq == 7);
  CHECK((*gl)->from.addr == r0.from.addr);
  // refresh: the best record found is re-put to the closest nodes.
  MutableGetOptions refresh;
  int asked = 0;
  refresh.refresh = [&](const MutableGetResult& r) {
    ++asked;
    return r.seq == 7;
  };
  auto gr = mget(a, refresh);
  REQUIRE(gr);
  REQUIRE(gr->has_value());
  CHECK((*gr)->seq == 7);
  CHECK(asked == 1);
  std::size_t holders7 = 0;
  for (auto& m : t.members) {
    if (!m->node->storage()) continue;
    if (const auto v = m->node->storage()->mutables().view(target)) {
      auto r = msg::decode_mutable_get_response(*v);
      if (r && r->seq == 7) ++holders7;
    }
  }
  CHECK(holders7 >= 10);

  MutableGetOptions first;
  first.latest = false;
  auto gf = mget(a, first);
  REQUIRE(gf);
  REQUIRE(gf->has_value());
  CHECK(((*gf)->seq == 1 || (*gf)->seq == 7));
  MutableGetOptions high;
  high.seq = 8;
  auto gh = mget(a, high);
  REQUIRE(gh);
  CHECK_FALSE(gh->has_value());
}

TEST_CASE("announce, lookup, find_peer and unannounce on a simulated network", "[records]") {
  crypto::init();
  HTestnet t(42, HyperDhtConfig{});
  REQUIRE(t.grow(30));
  HyperDhtNode& a = *t.members[5]->node;
  HyperDhtNode& b = *t.members[21]->node;

  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(9));
  const Bytes32 topic = crypto::hash32(as_bytes("a topic"));
  const std::vector<Ipv4Address> relays = {
      {{1, 2, 3, 4}, 1}, {{1, 2, 3, 4}, 2}, {{1, 2, 3, 4}, 3}, {{1, 2, 3, 4}, 4}};

  auto run_stream = [&](std::unique_ptr<LookupStream> s) {
    std::vector<LookupResult> got;
    std::optional<std::error_code> done;
    s->on_reply([&](const LookupResult& r) { got.push_back(r); });
    s->on_done([&](std::error_code ec) { done = ec; });
    s->start();
    REQUIRE(t.net.run_until([&] { return done.has_value(); }, 60s));
    CHECK_FALSE(*done);
    return got;
  };
  auto holders = [&](const std::vector<LookupResult>& got) {
    std::size_t n = 0;
    for (const auto& r : got)
      for (const auto& p : r.peers)
        if (p.public_key == kp.public_key) {
          ++n;
          CHECK(p.relay_addresses == std::vector<Ipv4Address>(relays.begin(), relays.begin() + 3));
        }
    return n;
  };

  CHECK(holders(run_stream(b.lookup(topic))) == 0);
  run_stream(a.announce(topic, kp, relays));
  const std::size_t found = holders(run_stream(b.lookup(topic)));
  CHECK(found >= 10);

  // Unannounce: every node that showed the record drops it.
  run_stream(a.unannounce(topic, kp));
  CHECK(holders(run_stream(b.lookup(topic))) == 0);
  for (auto& m : t.members)
    if (m->node->storage()) CHECK(m->node->storage()->records().get(topic, 0).empty());

  // A re-announce keeps the stored record (record-cache keeps a fresh key's first record);
  // with `clear` the old record is unannounced first, so the new relays replace it.
  run_stream(a.announce(topic, kp, relays));
  run_stream(a.announce(topic, kp, {relays[3]}));
  auto relays_seen = [&] {
    std::vector<std::vector<Ipv4Address>> seen;
    for (const auto& r : run_stream(b.lookup(topic)))
      for (const auto& p : r.peers)
        if (p.public_key == kp.public_key) seen.push_back(p.relay_addresses);
    return seen;
  };
  auto seen = relays_seen();
  REQUIRE(seen.size() >= 10);
  for (const auto& rs : seen)
    CHECK(rs.size() == 3);
  AnnounceOptions clear;
  clear.clear = true;
  run_stream(a.announce(topic, kp, {relays[3]}, clear));
  seen = relays_seen();
  REQUIRE(seen.size() >= 10);
  for (const auto& rs : seen)
    CHECK(rs == std::vector<Ipv4Address>{relays[3]});
  run_stream(a.unannounce(topic, kp));

  // Announcing on H(publicKey) makes a forward: found by find_peer (and by lookup).
  const Bytes32 self = crypto::hash32(kp.public_key);
  run_stream(a.announce(self, kp, {relays[0]}));
  std::vector<FindPeerResult> peers;
  std::optional<std::error_code> done;
  auto fp = b.find_peer(kp.public_key);
  fp->on_reply([&](const FindPeerResult& r) { peers.push_back(r); });
  fp->on_done([&](std::error_code ec) { done = ec; });
  fp->start();
  REQUIRE(t.net.run_until([&] { return done.has_value(); }, 60s));
  REQUIRE(peers.size() >= 10);
  for (const auto& p : peers) {
    CHECK(p.peer.public_key == kp.public_key);
    CHECK(p.peer.relay_addresses == std::vector<Ipv4Address>{relays[0]});
  }
  std::size_t forwards = 0;
  for (auto& m : t.members)
    if (m->node->forwards().contains(self)) ++forwards;
  CHECK(forwards >= 10);
}

TEST_CASE("storing nodes refuse tampered records", "[records]") {
  crypto::init();
  HTestnet t(43, HyperDhtConfig{});
  REQUIRE(t.grow(30));
  HyperDhtNode& c = *t.members[8]->node;
  std::vector<dht::RequestHandle> keep;
  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(3));
  const Bytes32 topic = crypto::hash32(as_bytes("tamper"));

  auto replies = closest(t, c, topic, msg::command::LOOKUP, std::nullopt);
  REQUIRE(replies.size() >= 2);
  const dht::Reply& n1 = replies[0];
  const dht::Reply& n2 = replies[1];
  HyperDhtNode* s1 = node_at(t, n1.from.addr);
  HyperDhtNode* s2 = node_at(t, n2.from.addr);
  REQUIRE((s1 && s2 && s1->storage() && s2->storage()));

  auto announce_value = [&](const Bytes32& node_id, const Bytes32& token, bool forge) {
    msg::Announce ann;
    ann.peer = msg::Peer{kp.public_key, {}};
    ann.signature = msg::sign_announce(topic, node_id, token, *ann.peer, std::nullopt, kp);
    if (forge) (*ann.signature)[0] ^= 1;
    return msg::encode(ann);
  };

  // Forged signature: silence (the request times out), nothing stored.
  auto forged = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic,
                            announce_value(*n1.from.id, *n1.token, true), n1.token, keep);
  // Signed for node 1 (its id and token) but sent to node 2 with node 2's own token: silence.
  auto other_sig = send_direct(c, n2.from.addr, msg::command::ANNOUNCE, topic,
                               announce_value(*n1.from.id, *n1.token, false), n2.token, keep);
  // Replayed with node 1's token to node 2: the token is not node 2's, INVALID_TOKEN.
  auto replay = send_direct(c, n2.from.addr, msg::command::ANNOUNCE, topic,
                            announce_value(*n1.from.id, *n1.token, false), n1.token, keep);
  // Immutable value that does not hash to the target: silence.
  auto bad_hash = send_direct(c, n1.from.addr, msg::command::IMMUTABLE_PUT, topic, Bytes{1, 2, 3},
                              n1.token, keep);
  // Mutable record under the wrong target: silence.
  const Bytes v = {'m'};
  auto bad_target = send_direct(
      c, n1.from.addr, msg::command::MUTABLE_PUT, topic,
      msg::encode(msg::MutablePutRequest{kp.public_key, 0, v, msg::sign_mutable(0, v, kp)}),
      n1.token, keep);
  // A valid one to compare: answered.
  auto good = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic,
                          announce_value(*n1.from.id, *n1.token, false), n1.token, keep);
  REQUIRE(t.net.run_until(
      [&] {
        return forged->settled && other_sig->settled && replay->settled && bad_hash->settled &&
               bad_target->settled && good->settled;
      },
      60s));
  CHECK(forged->error == make_error_code(dht::RpcErrc::request_timeout));
  CHECK(other_sig->error == make_error_code(dht::RpcErrc::request_timeout));
  REQUIRE(replay->reply);
  CHECK(replay->reply->error == 2);  // dht-rpc INVALID_TOKEN
  CHECK(bad_hash->error == make_error_code(dht::RpcErrc::request_timeout));
  CHECK(bad_target->error == make_error_code(dht::RpcErrc::request_timeout));
  REQUIRE(good->reply);
  CHECK(good->reply->error == 0);
  CHECK_FALSE(good->reply->token);  // accepted announces are answered without token
  CHECK(s1->storage()->records().get(topic, 0).size() == 1);
  CHECK(s2->storage()->records().get(topic, 0).empty());
  CHECK(s1->storage()->immutables().size() == 0);
  CHECK(s1->storage()->mutables().size() == 0);

  // Refresh chain: an announce registering H(r1) lets a later peer-less announce carrying r1
  // restore the record without a signature; an unknown refresh is ignored.
  Bytes32 r1{};
  r1.fill(0x5a);
  const crypto::KeyPair kp2 = HyperDhtNode::key_pair(seed_of(4));
  msg::Announce with_refresh;
  with_refresh.peer = msg::Peer{kp2.public_key, {}};
  with_refresh.refresh = crypto::hash32(r1);
  with_refresh.bump = t.unix_ms() + 1'000;
  with_refresh.signature = msg::sign_announce(topic, *n1.from.id, *n1.token, *with_refresh.peer,
                                              with_refresh.refresh, kp2);
  auto first = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic,
                           msg::encode(with_refresh), n1.token, keep);
  REQUIRE(t.net.run_until([&] { return first->settled; }, 30s));
  REQUIRE(first->reply);
  CHECK(s1->storage()->records().get(topic, 0).size() == 2);
  const std::uint64_t* bump = s1->storage()->bumps().get(topic);
  REQUIRE(bump);
  CHECK(*bump == with_refresh.bump);
  s1->storage()->records().remove(topic, kp2.public_key);
  CHECK(s1->storage()->records().get(topic, 0).size() == 1);

  msg::Announce refresh_only;
  refresh_only.refresh = r1;
  msg::Announce unknown;
  unknown.refresh = key_of(77);
  msg::Announce far_bump = with_refresh;  // a bump beyond the 60 s drift is not taken
  far_bump.refresh.reset();
  far_bump.bump = t.unix_ms() + 120'000;
  far_bump.signature =
      msg::sign_announce(topic, *n1.from.id, *n1.token, *far_bump.peer, std::nullopt, kp2);
  auto refreshed = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic,
                               msg::encode(refresh_only), n1.token, keep);
  auto ignored = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic, msg::encode(unknown),
                             n1.token, keep);
  auto far = send_direct(c, n1.from.addr, msg::command::ANNOUNCE, topic, msg::encode(far_bump),
                         n1.token, keep);
  REQUIRE(
      t.net.run_until([&] { return refreshed->settled && ignored->settled && far->settled; }, 30s));
  REQUIRE(refreshed->reply);
  CHECK(refreshed->reply->error == 0);
  CHECK(ignored->error == make_error_code(dht::RpcErrc::request_timeout));
  REQUIRE(far->reply);
  CHECK(s1->storage()->records().get(topic, 0).size() == 2);
  CHECK(*s1->storage()->bumps().get(topic) == with_refresh.bump);

  // An ephemeral node stores nothing: the record commands get UNKNOWN_COMMAND (dht-rpc error 1).
  dht::DhtConfig eph = t.node_config(false);
  eph.ephemeral = true;
  HMember& e = t.spawn(std::move(eph));
  REQUIRE(t.net.run_until([&] { return e.node->dht().bootstrapped(); }, 60s));
  REQUIRE_FALSE(e.node->dht().id());
  auto declined =
      send_direct(c, e.addr, msg::command::LOOKUP, topic, std::nullopt, std::nullopt, keep);
  REQUIRE(t.net.run_until([&] { return declined->settled; }, 30s));
  REQUIRE(declined->reply);
  CHECK(declined->reply->error == 1);
  CHECK(e.node->storage() == nullptr);
}

TEST_CASE("stored records expire and floods stay under the caps", "[records]") {
  crypto::init();
  HyperDhtConfig base;
  base.max_size = 64;  // 64 records, 32 values per generation
  base.max_age = 60s;  // tick 40 s: gone after at most 80 s
  base.max_value_bytes = 16 * 1024;
  HTestnet t(44, base);
  REQUIRE(t.grow(30));
  HyperDhtNode& a = *t.members[4]->node;
  HyperDhtNode& b = *t.members[12]->node;

  const Bytes value(100, 'e');
  std::optional<Result<ImmutablePutResult>> put;
  auto op = a.immutable_put(value, [&](Result<ImmutablePutResult> r) { put = std::move(r); });
  auto put_r = run_op(t, op, put);
  REQUIRE(put_r);
  auto get = [&] {
    std::optional<Result<std::optional<ImmutableGetResult>>> out;
    auto o = b.immutable_get(put_r->hash, [&](auto r) { out = std::move(r); });
    auto r = run_op(t, o, out);
    REQUIRE(r);
    return r->has_value();
  };
  CHECK(get());
  t.net.run_for(85s);
  CHECK_FALSE(get());

  // Flood one storing node directly with valid puts: counts and bytes stay under the caps.
  HyperDhtNode& target_node = *t.members[20]->node;
  const Ipv4Address to = t.members[20]->addr;
  auto replies =
      closest(t, b, crypto::hash32(as_bytes("x")), msg::command::IMMUTABLE_GET, std::nullopt);
  std::optional<Bytes32> token;
  for (const auto& r : replies)
    if (r.from.addr == to) token = r.token;
  if (!token) {
    // Not among the closest: ask it directly for a token.
    std::vector<dht::RequestHandle> k;
    auto d =
        send_direct(b, to, msg::command::IMMUTABLE_GET, key_of(1), std::nullopt, std::nullopt, k);
    REQUIRE(t.net.run_until([&] { return d->settled; }, 30s));
    REQUIRE(d->reply);
    token = d->reply->token;
  }
  REQUIRE(token);
  std::vector<dht::RequestHandle> keep;
  const crypto::KeyPair kp = HyperDhtNode::key_pair(seed_of(1));
  std::size_t max_imm = 0, max_ann = 0, max_bytes = 0;
  for (std::uint32_t i = 0; i < 400; ++i) {
    Bytes v(300, static_cast<std::uint8_t>(i));
    v[0] = static_cast<std::uint8_t>(i >> 8);
    send_direct(b, to, msg::command::IMMUTABLE_PUT, crypto::hash32(v), v, token, keep);
    const Bytes32 topic = key_of(5'000 + i);
    msg::Announce ann;
    ann.peer = msg::Peer{kp.public_key, {}};
    ann.signature =
        msg::sign_announce(topic, *target_node.dht().id(), *token, *ann.peer, std::nullopt, kp);
    send_direct(b, to, msg::command::ANNOUNCE, topic, msg::encode(ann), token, keep);
    if (i % 20 == 19) {
      t.net.run_for(200ms);
      keep.clear();
      auto* s = target_node.storage();
      REQUIRE(s);
      max_imm = std::max(max_imm, s->immutables().size());
      max_ann = std::max(max_ann, s->records().size());
      max_bytes = std::max(max_bytes, s->immutables().bytes());
    }
  }
  auto* s = target_node.storage();
  CHECK(s->immutables().size() > 0);
  CHECK(s->records().size() > 0);
  CHECK(max_imm <= 2 * 32);
  CHECK(max_ann <= 2 * 64 + 1);
  CHECK(max_bytes <= 16 * 1024);
}
