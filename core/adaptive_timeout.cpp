#include "core/adaptive_timeout.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstdlib>
#include <utility>

namespace hdht::dht {

namespace {

// The reference does its arithmetic on doubles and its shifts on ToInt32 of them; these mirror
// that for integral values.
std::int32_t to_int32(std::int64_t v) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(static_cast<std::uint64_t>(v)));
}
std::int64_t shr(std::int64_t v, int bits) {
  return to_int32(v) >> bits;
}
std::int64_t shl(std::int64_t v, int bits) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(to_int32(v)) << bits);
}

}  // namespace

const std::vector<std::int64_t> AdaptiveTimeoutOptions::kExponential{250, 500, 1000, 2000, 4000};
const std::vector<std::int64_t> AdaptiveTimeoutOptions::kAggressive{500, 750, 1000, 1500, 2000};

AdaptiveTimeout::AdaptiveTimeout(AdaptiveTimeoutOptions opts, Random random, std::int64_t now_ms)
    : opts_(std::move(opts)), random_(std::move(random)) {
  assert(!opts_.fallback.empty());
  if (opts_.max_age_ms > 0) {
    gc_interval_ms_ = (2 * opts_.max_age_ms + 2) / 3;  // Math.ceil(2/3 * maxAge)
    next_gc_ms_ = now_ms + gc_interval_ms_;
  }
}

AdaptiveTimeout::Stats AdaptiveTimeout::put(const Ipv4Address& to, std::int64_t rtt_ms) {
  Stats s;
  if (const Stats* old = lookup(to)) {
    s = *old;
    // 75% old + 25% new deviation, then 87.5% old + 12.5% new sample.
    s.variance += shr(std::abs(s.avg - rtt_ms) - s.variance, 2);
    s.avg += shr(rtt_ms - s.avg, 3);
  } else {
    s = Stats{rtt_ms, shr(rtt_ms, 1)};
  }
  set(to, s);
  return s;
}

std::int64_t AdaptiveTimeout::get(const Ipv4Address& to, int attempt) {
  assert(attempt >= 1);
  const Stats* s = lookup(to);
  const auto jitter =
      static_cast<std::int64_t>(std::trunc(random_() * static_cast<double>(opts_.jitter_ms)));
  if (s) {
    const std::int64_t base = s->avg + shl(s->variance, 1);
    return std::min(std::max(base * attempt + jitter, opts_.min_ms), opts_.max_ms);
  }
  const auto idx = std::min(static_cast<std::size_t>(attempt - 1), opts_.fallback.size() - 1);
  return opts_.fallback[idx] + jitter;
}

std::optional<AdaptiveTimeout::Stats> AdaptiveTimeout::value(const Ipv4Address& to) {
  if (const Stats* s = lookup(to)) return *s;
  return std::nullopt;
}

bool AdaptiveTimeout::has(const Ipv4Address& to) const {
  return latest_.contains(to) || oldest_.contains(to);
}

bool AdaptiveTimeout::erase(const Ipv4Address& to) {
  return latest_.erase(to) > 0 || oldest_.erase(to) > 0;
}

void AdaptiveTimeout::clear() {
  rotated_since_tick_ = true;
  latest_.clear();
  oldest_.clear();
}

void AdaptiveTimeout::advance(std::int64_t now_ms) {
  if (gc_interval_ms_ == 0) return;
  while (now_ms >= next_gc_ms_) {
    // A generation that just rotated because it was full gets one more interval to live.
    if (!rotated_since_tick_) rotate();
    rotated_since_tick_ = false;
    next_gc_ms_ += gc_interval_ms_;
  }
}

AdaptiveTimeout::Stats* AdaptiveTimeout::lookup(const Ipv4Address& to) {
  if (auto it = latest_.find(to); it != latest_.end()) return &it->second;
  auto old = oldest_.find(to);
  if (old == oldest_.end()) return nullptr;
  // Promotion does not check the size bound; the reference only checks it in set().
  const auto it = latest_.insert_or_assign(to, old->second).first;
  oldest_.erase(old);
  return &it->second;
}

void AdaptiveTimeout::set(const Ipv4Address& to, const Stats& s) {
  latest_.insert_or_assign(to, s);
  oldest_.erase(to);
  if (latest_.size() >= opts_.max_size) rotate();
}

void AdaptiveTimeout::rotate() {
  rotated_since_tick_ = true;
  oldest_ = std::move(latest_);
  latest_ = Map{};
}

}  // namespace hdht::dht
