// SourceRateLimiter: a token bucket per source IPv4 host, for traffic a peer can send without
// proving anything (inbound handshakes, dht-rpc requests). Hosts whose bucket is full again are
// forgotten, so the table only holds hosts that sent recently; it is also capped at kMaxHosts.
//
// Not thread-safe; runs on the owner's executor.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "core/runtime.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::core {

struct SourceRateLimit {
  double burst = 0;       // tokens a new (or long quiet) host starts with
  double per_second = 0;  // refill rate; the limit is off unless both are positive
};

class SourceRateLimiter {
 public:
  static constexpr std::size_t kMaxHosts = 4096;

  explicit SourceRateLimiter(SourceRateLimit limit) : limit_(limit) {}

  // Takes one token from the host's bucket; false when it is empty. Always true when disabled.
  bool allow(const Ipv4Address& from, TimePoint now);
  bool enabled() const noexcept { return limit_.burst > 0 && limit_.per_second > 0; }
  std::size_t hosts() const noexcept { return buckets_.size(); }
  const SourceRateLimit& limit() const noexcept { return limit_; }

 private:
  struct Bucket {
    double tokens = 0;
    TimePoint last{};
  };
  double refill(Bucket& b, TimePoint now) const;
  void prune(TimePoint now);

  SourceRateLimit limit_;
  std::unordered_map<std::uint32_t, Bucket> buckets_;
};

}  // namespace hdht::core
