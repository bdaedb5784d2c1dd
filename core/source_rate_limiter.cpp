#include "core/source_rate_limiter.hpp"

#include <algorithm>
#include <chrono>
#include <iterator>

namespace hdht::core {

namespace {

std::uint32_t host_key(const Ipv4Address& a) {
  return (std::uint32_t{a.ip[0]} << 24) | (std::uint32_t{a.ip[1]} << 16) |
         (std::uint32_t{a.ip[2]} << 8) | std::uint32_t{a.ip[3]};
}

}  // namespace

double SourceRateLimiter::refill(Bucket& b, TimePoint now) const {
  const double secs = std::chrono::duration<double>(now - b.last).count();
  b.tokens = std::min(limit_.burst, b.tokens + std::max(0.0, secs) * limit_.per_second);
  b.last = now;
  return b.tokens;
}

bool SourceRateLimiter::allow(const Ipv4Address& from, TimePoint now) {
  if (!enabled()) return true;
  auto [it, fresh] = buckets_.try_emplace(host_key(from), Bucket{limit_.burst, now});
  if (!fresh) refill(it->second, now);
  if (it->second.tokens < 1) return false;
  it->second.tokens -= 1;
  if (fresh && buckets_.size() > kMaxHosts) prune(now);
  return true;
}

void SourceRateLimiter::prune(TimePoint now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it = refill(it->second, now) >= limit_.burst ? buckets_.erase(it) : std::next(it);
  }
  // Too many senders still busy: forget arbitrary ones (they start again with a full bucket,
  // which bounds memory at the cost of a weaker limit under a very wide flood), down to 3/4 of
  // the cap, so that the next scan is at least kMaxHosts / 4 new hosts away: a flood from ever
  // new sources whose buckets are not full yet must not cost a scan of the table per datagram.
  while (buckets_.size() > kMaxHosts - kMaxHosts / 4)
    buckets_.erase(buckets_.begin());
}

}  // namespace hdht::core
