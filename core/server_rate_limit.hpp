// HandshakeRateLimiter: a token bucket per client IPv4 host for new inbound handshakes (beyond
// the reference, which has none: every new msg1 costs a Noise DH, a UDX stream and possibly a
// holepunch socket). The bucket table is core::SourceRateLimiter's (the dht-rpc request limit of
// RpcIo uses the same): hosts whose bucket is full again are forgotten, at most 4096 are kept.
//
// Not thread-safe; runs on the node's executor.
#pragma once

#include "core/source_rate_limiter.hpp"

namespace hdht::hyperdht {

// Generous by default: one public IP may be a whole office behind a NAT, and a client host may
// open many connections at once (bench/run connect opens 100 in a row, then 16 at a time). A
// Noise responder step costs ~0.1 ms of CPU, so 128/s from one host is ~1% of a core: the limit
// bounds a flood without touching ordinary use. (It was 32 / 16 per second, which capped the
// connect benchmark's C++ server at exactly 16 connects per second.)
struct HandshakeRateLimit {
  double burst = 256;       // 0 disables the limit (so does per_second 0)
  double per_second = 128;  // refill rate
};

class HandshakeRateLimiter : public core::SourceRateLimiter {
 public:
  explicit HandshakeRateLimiter(HandshakeRateLimit limit)
      : SourceRateLimiter({limit.burst, limit.per_second}) {}
};

}  // namespace hdht::hyperdht
