#include "core/nat_sampler.hpp"

#include <catch2/catch.hpp>

using hdht::Ipv4Address;
using hdht::dht::Ipv4Host;
using hdht::dht::NatSampler;

namespace {
const Ipv4Host kA{1, 1, 1, 1};
const Ipv4Host kB{2, 2, 2, 2};
Ipv4Address at(const Ipv4Host& h, std::uint16_t port) {
  return Ipv4Address{h, port};
}
}  // namespace

TEST_CASE("nat sampler: threshold follows the size table and saturates at 13", "[unit][table]") {
  NatSampler s;
  CHECK_FALSE(s.host().has_value());
  CHECK(s.port() == 0);
  const int expected[] = {1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9, 9, 10, 11, 12, 13, 13, 13, 13, 13};
  int i = 0;
  for (int want : expected) {
    const int hits = s.add(at(kA, 5000));
    CHECK(s.threshold() == want);
    CHECK(hits == std::min(i + 1, 16));  // 16 full-address slots in a ring of 32
    CHECK(s.size() == std::min(i + 1, 16));
    REQUIRE(s.host() == kA);
    CHECK(s.port() == 5000);
    CHECK_FALSE(s.randomized());
    ++i;
  }
}

TEST_CASE("nat sampler: a port-randomising NAT gives the host with port 0", "[unit][table]") {
  NatSampler s;
  s.add(at(kA, 5000));
  CHECK(s.port() == 5000);  // a single sample is believed
  for (std::uint16_t p = 5001; p < 5040; ++p) {
    CHECK(s.add(at(kA, p)) == 1);
    REQUIRE(s.host() == kA);
    CHECK(s.port() == 0);
    CHECK(s.randomized());
  }
}

TEST_CASE("nat sampler: disagreeing hosts give no answer", "[unit][table]") {
  NatSampler s;
  s.add(at(kA, 5000));
  s.add(at(kB, 6000));
  CHECK_FALSE(s.host().has_value());  // threshold 2, every entry has 1 hit
  CHECK(s.port() == 0);
  CHECK_FALSE(s.randomized());
  s.add(at(kA, 5000));
  CHECK_FALSE(s.host().has_value());  // threshold 3, best has 2
  s.add(at(kA, 5000));
  CHECK(s.host() == kA);  // threshold 3 at size 4, A has 3
  CHECK(s.port() == 5000);
}

TEST_CASE("nat sampler: only the last four samples of a kind are matched", "[unit][table]") {
  NatSampler s;
  s.add(at(kA, 1));
  for (std::uint16_t p = 2; p <= 5; ++p)
    s.add(at(kB, p));
  // (A,1) is now five full-address samples back: a fresh entry, not a bump.
  CHECK(s.add(at(kA, 1)) == 1);
}

TEST_CASE("nat sampler: a moved address takes over once it fills the ring", "[unit][table]") {
  NatSampler s;
  for (int i = 0; i < 16; ++i)
    s.add(at(kA, 5000));
  for (int m = 1; m <= 20; ++m) {
    s.add(at(kB, 6000));
    INFO("samples of the new address: " << m);
    if (m <= 3) {  // A keeps 16 - m >= 13 of 16 slots
      CHECK(s.host() == kA);
      CHECK(s.port() == 5000);
    } else if (m <= 12) {  // neither reaches the threshold of 13
      CHECK_FALSE(s.host().has_value());
    } else {
      CHECK(s.host() == kB);
      CHECK(s.port() == 6000);
    }
  }
}
