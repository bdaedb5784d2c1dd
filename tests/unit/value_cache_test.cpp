// ValueCache, the compact two-generation cache of the storing node's values: RecordCache's
// semantics (xache plus our byte cap) checked directly and against a simple model.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>

#include "core/sim_network.hpp"
#include "core/sim_runtime.hpp"
#include "core/value_cache.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using namespace std::chrono_literals;

namespace {

Bytes32 key_of(std::uint32_t i) {
  Bytes32 k{};
  k[0] = static_cast<std::uint8_t>(i);
  k[1] = static_cast<std::uint8_t>(i >> 8);
  k[2] = static_cast<std::uint8_t>(i >> 16);
  k[31] = 0x5a;
  return k;
}

Bytes value_of(std::uint32_t i, std::size_t n) {
  Bytes v(n);
  for (std::size_t j = 0; j < n; ++j)
    v[j] = static_cast<std::uint8_t>(i * 31 + j);
  return v;
}

bool same(std::optional<ByteView> got, const Bytes& want) {
  return got && Bytes(got->begin(), got->end()) == want;
}

struct Clocked {
  core::SimNetwork net{7};
  std::unique_ptr<core::SimRuntime> rt;
  Clocked() {
    net.add_host({10, 9, 9, 8});
    rt = std::make_unique<core::SimRuntime>(net, core::SimNetwork::Ip{10, 9, 9, 8});
  }
};

// The cache as the specification reads: two maps, and the weight of every record a generation
// received (dead ones included, as the arenas hold them).
struct Model {
  explicit Model(CacheLimits l) : limits(l) {}
  CacheLimits limits;
  std::map<Bytes32, Bytes> latest, oldest;
  std::size_t latest_bytes = 0, oldest_bytes = 0;

  static std::size_t weight(const Bytes& v) { return 32 + v.size(); }
  std::size_t bytes() const { return latest_bytes + oldest_bytes; }
  std::size_t size() const { return latest.size() + oldest.size(); }
  void rotate() {
    oldest = std::move(latest);
    oldest_bytes = latest_bytes;
    latest = {};
    latest_bytes = 0;
  }
  bool erase(const Bytes32& k) { return latest.erase(k) > 0 || oldest.erase(k) > 0; }
  void set(const Bytes32& k, const Bytes& v) {
    erase(k);
    latest[k] = v;
    latest_bytes += weight(v);
    if (latest.size() >= limits.max_size || latest_bytes >= limits.max_bytes / 2) rotate();
    while (bytes() > limits.max_bytes)
      rotate();
  }
  std::optional<Bytes> get(const Bytes32& k) {
    if (auto it = latest.find(k); it != latest.end()) return it->second;
    auto it = oldest.find(k);
    if (it == oldest.end()) return std::nullopt;
    Bytes v = it->second;
    oldest.erase(it);
    latest[k] = v;
    latest_bytes += weight(v);
    while (bytes() > limits.max_bytes)
      rotate();
    return v;
  }
  bool contains(const Bytes32& k) const { return latest.contains(k) || oldest.contains(k); }
};

}  // namespace

TEST_CASE("value cache: set, get, overwrite, erase", "[records][value_cache]") {
  Clocked c;
  ValueCache cache(*c.rt, CacheLimits{100, 0s, 1 << 20});
  CHECK_FALSE(cache.view(key_of(1)));
  CHECK(cache.get(key_of(1)) == nullptr);
  cache.set(key_of(1), value_of(1, 194));
  cache.set(key_of(2), Bytes{});
  CHECK(cache.size() == 2);
  CHECK(cache.bytes() == 32 + 194 + 32);
  CHECK(same(cache.view(key_of(1)), value_of(1, 194)));
  REQUIRE(cache.view(key_of(2)));
  CHECK(cache.view(key_of(2))->empty());
  REQUIRE(cache.get(key_of(1)) != nullptr);
  CHECK(*cache.get(key_of(1)) == value_of(1, 194));

  cache.set(key_of(1), value_of(9, 10));  // overwrite: the old record stays counted
  CHECK(cache.size() == 2);
  CHECK(same(cache.view(key_of(1)), value_of(9, 10)));
  CHECK(cache.bytes() == 32 + 194 + 32 + 32 + 10);

  CHECK(cache.erase(key_of(1)));
  CHECK_FALSE(cache.erase(key_of(1)));
  CHECK_FALSE(cache.contains(key_of(1)));
  CHECK(cache.contains(key_of(2)));
  CHECK(cache.size() == 1);

  // Both length forms and records larger than a block.
  for (const std::size_t n : {0x7FFFu, 0x8000u, 100'000u, 8'000u, 9'000u}) {
    cache.set(key_of(n), value_of(n, n));
    CHECK(same(cache.view(key_of(n)), value_of(n, n)));
  }
  CHECK(same(cache.view(key_of(0x7FFF)), value_of(0x7FFF, 0x7FFF)));
  cache.clear();
  CHECK(cache.size() == 0);
  CHECK(cache.bytes() == 0);
  CHECK_FALSE(cache.contains(key_of(2)));
}

TEST_CASE("value cache: generations, expiry window and caps", "[records][value_cache]") {
  Clocked c;
  SECTION("rotation at max_size and the 2x bound") {
    ValueCache cache(*c.rt, CacheLimits{4, 0s, 1 << 20});
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
  SECTION("a read moves an entry of the oldest generation to the latest") {
    ValueCache cache(*c.rt, CacheLimits{3, 0s, 1 << 20});
    cache.set(key_of(1), value_of(1, 50));
    cache.set(key_of(2), value_of(2, 50));
    cache.set(key_of(3), value_of(3, 50));                // rotates: 1..3 are the oldest generation
    CHECK(same(cache.view(key_of(1)), value_of(1, 50)));  // now in the latest
    cache.set(key_of(4), value_of(4, 50));
    cache.set(key_of(5), value_of(5, 50));  // latest {1, 4, 5} rotates, dropping 2 and 3
    CHECK(cache.contains(key_of(1)));
    CHECK_FALSE(cache.contains(key_of(2)));
    CHECK_FALSE(cache.contains(key_of(3)));
    CHECK(cache.size() == 3);
  }
  SECTION("entries live between 2/3 and 4/3 of max_age; reads refresh them") {
    ValueCache cache(*c.rt, CacheLimits{100, 30s, 1 << 20});
    cache.set(key_of(1), Bytes{1});
    cache.set(key_of(2), Bytes{2});
    c.net.run_for(19s);
    CHECK(cache.contains(key_of(1)));
    c.net.run_for(2s);  // 21 s: one rotation (tick = 20 s), still held in the oldest generation
    CHECK(cache.contains(key_of(1)));
    REQUIRE(cache.view(key_of(2)));  // promoted back to the latest generation
    c.net.run_for(20s);              // 41 s: second rotation drops key 1
    CHECK_FALSE(cache.contains(key_of(1)));
    CHECK(cache.contains(key_of(2)));
    CHECK(same(cache.view(key_of(2)), Bytes{2}));
    c.net.run_for(40s);
    CHECK(cache.size() == 0);
    CHECK(cache.bytes() == 0);
  }
  SECTION("byte cap under floods of new keys, overwrites and reads") {
    ValueCache cache(*c.rt, CacheLimits{1'000'000, 0s, 10'000});
    for (std::uint32_t i = 0; i < 5'000; ++i) {
      cache.set(key_of(i), Bytes(1'000, 7));
      REQUIRE(cache.bytes() <= 10'000);
    }
    CHECK(cache.size() > 0);
    CHECK(cache.contains(key_of(4'999)));
    for (std::uint32_t i = 0; i < 5'000; ++i) {
      cache.set(key_of(i % 3), value_of(i, 300 + i % 700));
      REQUIRE(cache.bytes() <= 10'000);
      REQUIRE(same(cache.view(key_of(i % 3)), value_of(i, 300 + i % 700)));
      (void)cache.view(key_of((i + 1) % 3));
      REQUIRE(cache.bytes() <= 10'000);
    }
    cache.set(key_of(1), Bytes(20'000, 1));  // heavier than the cap: not kept
    CHECK(cache.bytes() <= 10'000);
    CHECK_FALSE(cache.contains(key_of(1)));
  }
}

TEST_CASE("value cache: index growth and tombstone reuse", "[records][value_cache]") {
  Clocked c;
  ValueCache cache(*c.rt, CacheLimits{1'000'000, 0s, 1 << 30});
  constexpr std::uint32_t n = 20'000;
  for (std::uint32_t i = 0; i < n; ++i)
    cache.set(key_of(i), value_of(i, i % 300));
  CHECK(cache.size() == n);
  for (std::uint32_t i = 0; i < n; i += 2)
    REQUIRE(cache.erase(key_of(i)));
  CHECK(cache.size() == n / 2);
  // Churn: every insert takes a tombstone or an empty slot; lookups must still see all keys.
  for (std::uint32_t round = 0; round < 5; ++round) {
    for (std::uint32_t i = 0; i < n; i += 2)
      cache.set(key_of(n * (round + 1) + i), value_of(i, 20));
    for (std::uint32_t i = 0; i < n; i += 2)
      REQUIRE(cache.erase(key_of(n * (round + 1) + i)));
  }
  CHECK(cache.size() == n / 2);
  for (std::uint32_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      REQUIRE_FALSE(cache.contains(key_of(i)));
    } else {
      REQUIRE(same(cache.view(key_of(i)), value_of(i, i % 300)));
    }
  }
}

TEST_CASE("value cache: random operations against a model", "[records][value_cache]") {
  Clocked c;
  for (const std::uint32_t seed : {1u, 2u, 3u, 4u}) {
    const CacheLimits limits{seed == 4 ? 1'000'000u : 17u, 0s, seed == 3 ? 2'000u : 9'000u};
    ValueCache cache(*c.rt, limits);
    Model model(limits);
    std::mt19937 rng(seed);
    for (std::uint32_t step = 0; step < 40'000; ++step) {
      const Bytes32 k = key_of(rng() % 64);
      switch (rng() % 5) {
        case 0:
        case 1: {
          const Bytes v = value_of(step, rng() % 400);
          cache.set(k, v);
          model.set(k, v);
          break;
        }
        case 2: {
          const auto got = cache.view(k);
          const auto want = model.get(k);
          REQUIRE(got.has_value() == want.has_value());
          if (want) REQUIRE(same(got, *want));
          break;
        }
        case 3:
          REQUIRE(cache.erase(k) == model.erase(k));
          break;
        default:
          REQUIRE(cache.contains(k) == model.contains(k));
      }
      REQUIRE(cache.size() == model.size());
      REQUIRE(cache.bytes() == model.bytes());
      REQUIRE(cache.bytes() <= limits.max_bytes);
    }
  }
}
