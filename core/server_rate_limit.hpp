// HandshakeRateLimiter: a token bucket per client IPv4 host for new inbound handshakes (beyond
// the reference, which has none: every new msg1 costs a Noise DH, a UDX stream and possibly a
// holepunch socket). Hosts whose bucket is full again are forgotten, so the table only holds
// hosts that sent recently; it is also capped, dropping the fullest entries first.
//
// Not thread-safe; runs on the node's executor.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "core/runtime.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::hyperdht {

// Generous by default: one public IP may be a whole office behind a NAT, and a client host may
// open many connections at once (bench/run connect opens 100 in a row, then 16 at a time). A
// Noise responder step costs ~0.1 ms of CPU, so 128/s from one host is ~1% of a core: the limit
// bounds a flood without touching ordinary use. (It was 32 / 16 per second, which capped the
// connect benchmark's C++ server at exactly 16 connects per second.)
struct HandshakeRateLimit {
  double burst = 256;       // 0 disables the limit
  double per_second = 128;  // refill rate
};

class HandshakeRateLimiter {
 public:
  static constexpr std::size_t kMaxHosts = 4096;

  explicit HandshakeRateLimiter(HandshakeRateLimit limit) : limit_(limit) {}
  // Takes one token from the host's bucket; false when it is empty.
  bool allow(const Ipv4Address& from, core::TimePoint now);
  std::size_t hosts() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    core::TimePoint last{};
  };
  double refill(Bucket& b, core::TimePoint now) const;
  void prune(core::TimePoint now);

  HandshakeRateLimit limit_;
  std::unordered_map<std::uint32_t, Bucket> buckets_;
};

}  // namespace hdht::hyperdht
