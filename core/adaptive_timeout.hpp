// Per-destination request timeouts from observed round trips: a port of adaptive-timeout 1.0.1
// and the two-generation cache (xache 1.3.0) it keeps its stats in (spec dht-rpc.md §6). dht-rpc
// uses it only when constructed with `adaptiveTimeout` (hyperdht does not), otherwise 1000 ms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/ipv4.hpp"

namespace hdht::dht {

struct AdaptiveTimeoutOptions {
  // Fallback timeouts (ms) by attempt while a destination has no samples; the last one repeats.
  static const std::vector<std::int64_t> kExponential;  // the default: 250 .. 4000
  static const std::vector<std::int64_t> kAggressive;   // 500 .. 2000

  std::size_t max_size = 65536;                       // entries per cache generation
  std::int64_t max_age_ms = 600'000;                  // <= 0: entries never expire by age
  std::vector<std::int64_t> fallback = kExponential;  // must not be empty
  std::int64_t min_ms = 300;
  std::int64_t max_ms = 4000;
  std::int64_t jitter_ms = 256;  // a random integer in [0, jitter_ms) is added to every timeout
};

class AdaptiveTimeout {
 public:
  // Uniform in [0, 1), like Math.random(); injected so tests and simulations are deterministic.
  using Random = std::function<double()>;

  struct Stats {
    std::int64_t avg = 0;
    std::int64_t variance = 0;
    friend bool operator==(const Stats&, const Stats&) = default;
  };

  AdaptiveTimeout(AdaptiveTimeoutOptions opts, Random random, std::int64_t now_ms = 0);

  // Records a round trip (ms) to `to` and returns the updated stats.
  Stats put(const Ipv4Address& to, std::int64_t rtt_ms);
  // The timeout for transmission number `attempt` (>= 1) to `to`, jitter included.
  std::int64_t get(const Ipv4Address& to, int attempt = 1);
  // Like the JS getValue(), a lookup refreshes an entry into the young generation.
  std::optional<Stats> value(const Ipv4Address& to);
  bool has(const Ipv4Address& to) const;
  bool erase(const Ipv4Address& to);
  void clear();

  // Age-based expiry: the JS runs a timer every ceil(2/3 max_age); we run the ticks that fell due
  // up to now_ms, so the owner's clock (real or simulated) drives it.
  void advance(std::int64_t now_ms);

 private:
  using Map = std::unordered_map<Ipv4Address, Stats>;

  Stats* lookup(const Ipv4Address& to);
  void set(const Ipv4Address& to, const Stats& s);
  void rotate();

  AdaptiveTimeoutOptions opts_;
  Random random_;
  Map latest_;
  Map oldest_;
  bool rotated_since_tick_ = false;
  std::int64_t gc_interval_ms_ = 0;  // 0: no age-based expiry
  std::int64_t next_gc_ms_ = 0;
};

}  // namespace hdht::dht
