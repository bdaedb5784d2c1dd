#include "core/server_rate_limit.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

namespace hdht::hyperdht {

namespace {

std::uint32_t host_key(const Ipv4Address& a) {
  return (std::uint32_t{a.ip[0]} << 24) | (std::uint32_t{a.ip[1]} << 16) |
         (std::uint32_t{a.ip[2]} << 8) | std::uint32_t{a.ip[3]};
}

}  // namespace

double HandshakeRateLimiter::refill(Bucket& b, core::TimePoint now) const {
  const double secs = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(limit_.burst, b.tokens + std::max(0.0, secs) * limit_.per_second);
  b.last = now;
  return b.tokens;
}

bool HandshakeRateLimiter::allow(const Ipv4Address& from, core::TimePoint now) {
  if (limit_.burst <= 0) return true;
  auto [it, fresh] = buckets_.try_emplace(host_key(from), Bucket{limit_.burst, now});
  if (!fresh) refill(it->second, now);
  if (it->second.tokens < 1) return false;
  it->second.tokens -= 1;
  if (fresh && buckets_.size() > kMaxHosts) prune(now);
  return true;
}

void HandshakeRateLimiter::prune(core::TimePoint now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = refill(it->second, now) >= limit_.burst ? buckets_.erase(it) : std::next(it);
  }
  // Still too many senders at once: forget arbitrary ones (they start again with a full bucket,
  // which bounds memory at the cost of a weaker limit under a very wide flood).
  while (buckets_.size() > kMaxHosts)
    buckets_.erase(buckets_.begin());
}

}  // namespace hdht::hyperdht
