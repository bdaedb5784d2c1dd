// The eviction counters of the storing node's caches (RecordCache, ValueCache, AnnounceStore):
// every entry a rotation drops, by the entry cap, the byte cap or age, is counted once; erases
// are not. bench/records_server reports them so a record flood can be seen tripping the caps.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <memory>

#include "core/announce_store.hpp"
#include "core/record_cache.hpp"
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
  k[31] = 0x3c;
  return k;
}

struct Clocked {
  core::SimNetwork net{11};
  std::unique_ptr<core::SimRuntime> rt;
  Clocked() {
    net.add_host({10, 9, 9, 7});
    rt = std::make_unique<core::SimRuntime>(net, core::SimNetwork::Ip{10, 9, 9, 7});
  }
};

// Writes n distinct entries of `size` bytes; with no erase or overwrite, each is either still
// held or was evicted.
template <class Cache>
void fill(Cache& cache, std::uint32_t n, std::size_t size) {
  for (std::uint32_t i = 0; i < n; ++i) {
    cache.set(key_of(i), Bytes(size, 1));
    REQUIRE(cache.size() + cache.evicted() == i + 1);
  }
}

}  // namespace

TEST_CASE("record caches count the entries their rotations drop", "[records][evicted]") {
  Clocked c;
  SECTION("RecordCache: entry cap, byte cap, erase") {
    RecordCache<Bytes> by_count(*c.rt, CacheLimits{4, 0s, 1 << 20});
    fill(by_count, 50, 10);
    CHECK(by_count.size() <= 8);
    CHECK(by_count.evicted() >= 42);
    const std::uint64_t before = by_count.evicted();
    REQUIRE(by_count.erase(key_of(49)));
    CHECK(by_count.evicted() == before);

    RecordCache<Bytes> by_bytes(*c.rt, CacheLimits{1'000'000, 0s, 2'000});
    fill(by_bytes, 100, 100);
    CHECK(by_bytes.bytes() <= 2'000);
    CHECK(by_bytes.evicted() >= 100 - 2'000 / 132);
  }
  SECTION("ValueCache: entry cap, byte cap, erase") {
    ValueCache by_count(*c.rt, CacheLimits{4, 0s, 1 << 20});
    fill(by_count, 50, 10);
    CHECK(by_count.size() <= 8);
    CHECK(by_count.evicted() >= 42);
    const std::uint64_t before = by_count.evicted();
    REQUIRE(by_count.erase(key_of(49)));
    CHECK(by_count.evicted() == before);

    ValueCache by_bytes(*c.rt, CacheLimits{1'000'000, 0s, 2'000});
    fill(by_bytes, 100, 100);
    CHECK(by_bytes.bytes() <= 2'000);
    CHECK(by_bytes.evicted() >= 100 - 2'000 / 132);
  }
  SECTION("AnnounceStore: entry cap, byte cap, remove") {
    AnnounceStore store(*c.rt, CacheLimits{4, 0s, 1 << 20});
    for (std::uint32_t i = 0; i < 50; ++i) {
      store.add(key_of(i % 3), key_of(1'000 + i), Bytes(10, 1));
      REQUIRE(store.size() + store.evicted() == i + 1);
    }
    CHECK(store.size() <= 2 * 4 + 1);
    const std::uint64_t before = store.evicted();
    store.remove(key_of(49 % 3), key_of(1'049));
    CHECK(store.evicted() == before);

    AnnounceStore by_bytes(*c.rt, CacheLimits{1'000'000, 0s, 2'000});
    for (std::uint32_t i = 0; i < 100; ++i)
      by_bytes.add(key_of(i), key_of(1'000 + i), Bytes(100, 1));
    CHECK(by_bytes.bytes() <= 2'000);
    CHECK(by_bytes.size() + by_bytes.evicted() == 100);
  }
  SECTION("age: timer rotations count too") {
    RecordCache<Bytes> records(*c.rt, CacheLimits{100, 30s, 1 << 20});
    ValueCache values(*c.rt, CacheLimits{100, 30s, 1 << 20});
    AnnounceStore store(*c.rt, CacheLimits{100, 30s, 1 << 20});
    for (std::uint32_t i = 0; i < 3; ++i) {
      records.set(key_of(i), Bytes{1});
      values.set(key_of(i), Bytes{1});
      store.add(key_of(i), key_of(100 + i), Bytes{1});
    }
    c.net.run_for(61s);  // two ticks of 20 s with no write between: all expired
    CHECK(records.size() == 0);
    CHECK(values.size() == 0);
    CHECK(store.size() == 0);
    CHECK(records.evicted() == 3);
    CHECK(values.evicted() == 3);
    CHECK(store.evicted() == 3);
  }
}
