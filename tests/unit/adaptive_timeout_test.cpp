#include "core/adaptive_timeout.hpp"

#include <catch2/catch.hpp>

using hdht::Ipv4Address;
using hdht::dht::AdaptiveTimeout;
using hdht::dht::AdaptiveTimeoutOptions;

namespace {
const Ipv4Address kA{{10, 0, 0, 1}, 1000};
const Ipv4Address kB{{10, 0, 0, 2}, 1000};
const Ipv4Address kC{{10, 0, 0, 3}, 1000};
const Ipv4Address kD{{10, 0, 0, 4}, 1000};

AdaptiveTimeout::Random constant(double u) {
  return [u] { return u; };
}
}  // namespace

TEST_CASE("adaptive timeout: unknown destinations use the fallback table", "[unit][table]") {
  AdaptiveTimeout t({}, constant(0.5));  // jitter floor(0.5 * 256) = 128
  CHECK(t.get(kA, 1) == 250 + 128);
  CHECK(t.get(kA, 2) == 500 + 128);
  CHECK(t.get(kA, 5) == 4000 + 128);
  CHECK(t.get(kA, 9) == 4000 + 128);  // the last entry repeats
  CHECK_FALSE(t.has(kA));             // get() does not create an entry

  AdaptiveTimeoutOptions aggressive;
  aggressive.fallback = AdaptiveTimeoutOptions::kAggressive;
  aggressive.jitter_ms = 0;
  AdaptiveTimeout t2(aggressive, constant(0.99));
  CHECK(t2.get(kA, 1) == 500);
  CHECK(t2.get(kA, 4) == 1500);
}

TEST_CASE("adaptive timeout: integer EWMA of rtt and deviation", "[unit][table]") {
  AdaptiveTimeout t({}, constant(0.0));
  CHECK(t.put(kA, 101) == AdaptiveTimeout::Stats{101, 50});
  // variance += (|101 - 200| - 50) >> 2 = 12; avg += (200 - 101) >> 3 = 12
  CHECK(t.put(kA, 200) == AdaptiveTimeout::Stats{113, 62});
  // Negative steps shift arithmetically: (|113 - 9| - 62) >> 2 = 10; (9 - 113) >> 3 = -13
  CHECK(t.put(kA, 9) == AdaptiveTimeout::Stats{100, 72});
  CHECK(t.value(kA) == AdaptiveTimeout::Stats{100, 72});
  CHECK(t.get(kA, 1) == 300);    // 100 + 144 = 244, raised to the 300 floor
  CHECK(t.get(kA, 2) == 488);    // 244 * 2
  CHECK(t.get(kA, 20) == 4000);  // capped
  CHECK_FALSE(t.value(kB).has_value());
}

TEST_CASE("adaptive timeout: jitter comes from the injected source", "[unit][table]") {
  std::vector<double> draws{0.0, 0.999, 0.25};
  std::size_t i = 0;
  AdaptiveTimeout t({}, [&] { return draws[i++]; });
  t.put(kA, 1000);  // avg 1000, variance 500: base 2000
  CHECK(t.get(kA) == 2000);
  CHECK(t.get(kA) == 2255);
  CHECK(t.get(kA) == 2064);
  CHECK(i == 3);
}

TEST_CASE("adaptive timeout: shifts wrap like JS int32 operations", "[unit][table]") {
  AdaptiveTimeout t({}, constant(0.0));
  const std::int64_t big = (std::int64_t{1} << 32) + 10;
  // ToInt32(2^32 + 10) >> 1 == 5
  CHECK(t.put(kA, big) == AdaptiveTimeout::Stats{big, 5});
  // (2^31 + 2) as int32 is negative: the variance wraps to a negative value.
  AdaptiveTimeout t2({}, constant(0.0));
  CHECK(t2.put(kA, (std::int64_t{1} << 31) + 2).variance == -((std::int64_t{1} << 30) - 1));
}

TEST_CASE("adaptive timeout: a full generation rotates out the older one", "[unit][table]") {
  AdaptiveTimeoutOptions o;
  o.max_size = 2;
  AdaptiveTimeout t(o, constant(0.0));
  t.put(kA, 100);
  t.put(kB, 100);  // young generation reaches 2: A and B become the old generation
  CHECK(t.has(kA));
  t.put(kC, 100);
  CHECK(t.value(kA).has_value());  // a lookup promotes A into the young generation with C
  t.put(kD, 100);                  // young holds A, C, D >= 2: rotate, B is dropped
  CHECK_FALSE(t.has(kB));
  CHECK(t.has(kA));
  CHECK(t.has(kC));
  CHECK(t.erase(kC));
  CHECK_FALSE(t.erase(kC));
  t.clear();
  CHECK_FALSE(t.has(kA));
}

TEST_CASE("adaptive timeout: entries expire after two gc ticks", "[unit][table]") {
  AdaptiveTimeoutOptions o;
  o.max_age_ms = 3000;  // gc every ceil(2000) ms
  AdaptiveTimeout t(o, constant(0.0), 1000);
  t.put(kA, 100);
  t.advance(2999);
  CHECK(t.has(kA));
  t.advance(3000);  // first tick: A moves to the old generation
  CHECK(t.has(kA));
  t.put(kB, 100);
  t.advance(5000);  // second tick: A is dropped, B ages
  CHECK_FALSE(t.has(kA));
  CHECK(t.has(kB));
  CHECK(t.value(kB).has_value());  // used: back into the young generation
  t.advance(7000);
  CHECK(t.has(kB));
  t.advance(11000);  // two more ticks at once
  CHECK_FALSE(t.has(kB));
}

TEST_CASE("adaptive timeout: a size rotation skips the next age tick", "[unit][table]") {
  AdaptiveTimeoutOptions o;
  o.max_size = 1;
  o.max_age_ms = 3000;
  AdaptiveTimeout t(o, constant(0.0), 0);
  t.put(kA, 100);   // rotates immediately: A is old
  t.advance(2000);  // the tick sees a recent rotation and keeps A
  CHECK(t.has(kA));
  t.advance(4000);
  CHECK_FALSE(t.has(kA));
}
