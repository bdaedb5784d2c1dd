#include "core/routing_table.hpp"

#include <catch2/catch.hpp>

using hdht::Bytes32;
using hdht::Ipv4Address;
using hdht::dht::Node;
using hdht::dht::RoutingTable;

namespace {

// An id whose common prefix with base is exactly `bits` long (256: base itself); `tag` goes into
// the last byte so ids in one bucket differ and sort by tag (only for bits < 248).
Bytes32 near(const Bytes32& base, std::size_t bits, std::uint8_t tag = 0) {
  Bytes32 id = base;
  if (bits >= 256) return id;
  id[bits / 8] ^= static_cast<std::uint8_t>(0x80 >> (bits % 8));
  if (bits < 248) id[31] = tag;
  return id;
}

Node node(const Bytes32& id, std::uint16_t port = 1) {
  Node n;
  n.id = id;
  n.addr = Ipv4Address{{10, 0, 0, 1}, port};
  return n;
}

std::vector<Bytes32> ids(const std::vector<const Node*>& nodes) {
  std::vector<Bytes32> out;
  for (const auto* n : nodes)
    out.push_back(n->id);
  return out;
}

Bytes32 base_id() {
  Bytes32 b{};
  for (std::size_t i = 0; i < b.size(); ++i)
    b[i] = static_cast<std::uint8_t>(0x5a ^ (i * 7));
  return b;
}

}  // namespace

TEST_CASE("routing table: bucket index is the common prefix length", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me);
  CHECK(t.bucket_index(me) == 255);  // identical ids share the last bucket
  for (std::size_t bits : {0u, 1u, 7u, 8u, 9u, 63u, 64u, 65u, 127u, 128u, 200u, 254u, 255u})
    CHECK(t.bucket_index(near(me, bits, 1)) == bits);
  Bytes32 flipped_first = me;
  flipped_first[0] ^= 0xff;
  CHECK(t.bucket_index(flipped_first) == 0);
  CHECK(RoutingTable(me, 0).k() == 20);  // the JS `opts.k || 20`
}

TEST_CASE("routing table: buckets stay sorted and refuse the k+1-th node", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me, 3);
  CHECK(t.add(node(near(me, 4, 30))) == RoutingTable::AddResult::added);
  CHECK(t.add(node(near(me, 4, 10))) == RoutingTable::AddResult::added);
  CHECK(t.add(node(near(me, 4, 20))) == RoutingTable::AddResult::added);
  CHECK(t.add(node(near(me, 4, 15))) == RoutingTable::AddResult::full);
  CHECK(t.size() == 3);
  CHECK_FALSE(t.has(near(me, 4, 15)));
  const auto b = t.bucket(4);
  REQUIRE(b.size() == 3);
  CHECK(b[0].id[31] == 10);
  CHECK(b[1].id[31] == 20);
  CHECK(b[2].id[31] == 30);

  // Another bucket is unaffected by the full one.
  CHECK(t.add(node(near(me, 5, 1))) == RoutingTable::AddResult::added);

  // Removing makes room again; removing twice or an unknown id is a no-op.
  CHECK(t.remove(near(me, 4, 20)));
  CHECK_FALSE(t.remove(near(me, 4, 20)));
  CHECK_FALSE(t.remove(near(me, 4, 99)));
  CHECK(t.size() == 3);
  CHECK(t.add(node(near(me, 4, 15))) == RoutingTable::AddResult::added);
  CHECK(t.bucket(4)[1].id[31] == 15);
  CHECK(t.size() == 4);
}

TEST_CASE("routing table: an existing id is replaced, even in a full bucket", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me, 2);
  REQUIRE(t.add(node(near(me, 0, 1), 100)) == RoutingTable::AddResult::added);
  REQUIRE(t.add(node(near(me, 0, 2), 200)) == RoutingTable::AddResult::added);
  Node replacement = node(near(me, 0, 2), 999);
  replacement.pinged = 42;
  CHECK(t.add(replacement) == RoutingTable::AddResult::updated);
  CHECK(t.size() == 2);
  const Node* got = t.get(near(me, 0, 2));
  REQUIRE(got != nullptr);
  CHECK(got->addr.port == 999);
  CHECK(got->pinged == 42);
  // get() hands out the stored record so the dht node can update its ticks in place.
  t.get(near(me, 0, 2))->seen = 7;
  CHECK(t.get(near(me, 0, 2))->seen == 7);
}

TEST_CASE("routing table: closest walks d, d-1..0, then d+1..255", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me);
  // Inserted out of order on purpose.
  for (std::uint8_t tag : {3, 1, 2})
    t.add(node(near(me, 0, tag)));
  for (std::uint8_t tag : {5, 4})
    t.add(node(near(me, 1, tag)));
  t.add(node(near(me, 3, 6)));
  for (std::uint8_t tag : {8, 7})
    t.add(node(near(me, 5, tag)));
  t.add(node(me));  // our own id lives in bucket 255
  REQUIRE(t.size() == 9);

  const Bytes32 target = near(me, 3, 200);  // bucket 3
  const std::vector<Bytes32> all_from_3{near(me, 3, 6), near(me, 1, 4), near(me, 1, 5),
                                        near(me, 0, 1), near(me, 0, 2), near(me, 0, 3),
                                        near(me, 5, 7), near(me, 5, 8), me};
  CHECK(ids(t.closest(target, 100)) == all_from_3);
  // A limit cuts inside a bucket, keeping its id order.
  CHECK(ids(t.closest(target, 2)) ==
        std::vector<Bytes32>(all_from_3.begin(), all_from_3.begin() + 2));
  CHECK(ids(t.closest(target, 5)) ==
        std::vector<Bytes32>(all_from_3.begin(), all_from_3.begin() + 5));
  // n == 0 means k, like the JS `if (!k) k = this.k`.
  CHECK(ids(t.closest(target, 0)) == all_from_3);

  // Target in an empty bucket between occupied ones: 2 is empty, so 1, 0, then 3, 5, 255.
  CHECK(ids(t.closest(near(me, 2, 0), 3)) ==
        std::vector<Bytes32>{near(me, 1, 4), near(me, 1, 5), near(me, 0, 1)});
  const auto from2 = ids(t.closest(near(me, 2, 0), 100));
  REQUIRE(from2.size() == 9);
  CHECK(from2[5] == near(me, 3, 6));
  CHECK(from2[8] == me);

  // to_array() is closest(own id, infinity): 255 down to 0.
  CHECK(ids(t.to_array()) == std::vector<Bytes32>{me, near(me, 5, 7), near(me, 5, 8),
                                                  near(me, 3, 6), near(me, 1, 4), near(me, 1, 5),
                                                  near(me, 0, 1), near(me, 0, 2), near(me, 0, 3)});

  // The scratch-vector form clears and refills.
  std::vector<const Node*> out{nullptr, nullptr};
  t.closest(target, 1, out);
  CHECK(ids(out) == std::vector<Bytes32>{near(me, 3, 6)});
}

TEST_CASE("routing table: nth and random count buckets upward", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me);
  CHECK(t.random(0.5) == nullptr);
  t.add(node(near(me, 9, 1)));
  t.add(node(near(me, 2, 2)));
  t.add(node(near(me, 2, 1)));
  REQUIRE(t.nth(0) != nullptr);
  CHECK(t.nth(0)->id == near(me, 2, 1));
  CHECK(t.nth(1)->id == near(me, 2, 2));
  CHECK(t.nth(2)->id == near(me, 9, 1));
  CHECK(t.nth(3) == nullptr);
  CHECK(t.random(0.0)->id == near(me, 2, 1));
  CHECK(t.random(0.7)->id == near(me, 9, 1));  // floor(0.7 * 3) = 2
  CHECK(t.random(0.9999)->id == near(me, 9, 1));
}

TEST_CASE("routing table: empty buckets across word boundaries are skipped", "[unit][table]") {
  const Bytes32 me = base_id();
  RoutingTable t(me);
  for (std::size_t bits : {0u, 63u, 64u, 127u, 128u, 191u, 192u, 255u})
    t.add(node(near(me, bits, 1)));
  const auto got = ids(t.closest(near(me, 100, 0), 100));
  CHECK(got == std::vector<Bytes32>{near(me, 64, 1), near(me, 63, 1), near(me, 0, 1),
                                    near(me, 127, 1), near(me, 128, 1), near(me, 191, 1),
                                    near(me, 192, 1), near(me, 255, 1)});
  t.remove(near(me, 64, 1));
  t.remove(near(me, 63, 1));
  CHECK(ids(t.closest(near(me, 100, 0), 2)) ==
        std::vector<Bytes32>{near(me, 0, 1), near(me, 127, 1)});
}
