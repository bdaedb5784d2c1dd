#include "core/network_health.hpp"

namespace hdht::dht {

const NetworkHealth::Sample* NetworkHealth::newest() const noexcept {
  return length_ == 0 ? nullptr : &window_[head_];
}

const NetworkHealth::Sample* NetworkHealth::previous() const noexcept {
  // window[(head - 1) mod 4] exists once two slots were written (the JS reads undefined before).
  const std::size_t i = (head_ + kWindow - 1) % kWindow;
  return i < length_ ? &window_[i] : nullptr;
}

std::uint64_t NetworkHealth::responses() const noexcept {
  const Sample* n = newest();
  const Sample* p = previous();
  if (n == nullptr || p == nullptr) return 0;
  return n->responses - p->responses;
}

std::uint64_t NetworkHealth::timeouts() const noexcept {
  const Sample* n = newest();
  const Sample* p = previous();
  if (n == nullptr || p == nullptr) return 0;
  return n->timeouts - p->timeouts;
}

double NetworkHealth::timeouts_rate() const noexcept {
  const std::uint64_t t = timeouts();
  if (t == 0) return 0;
  return static_cast<double>(t) / static_cast<double>(responses() + t);
}

void NetworkHealth::reset() {
  window_ = {};
  length_ = 0;
  head_ = kWindow - 1;
  offline_ticks_ = degraded_ticks_ = healthy_ticks_ = 0;
  online_ = true;
  degraded_ = false;
}

NetworkHealth::Signal NetworkHealth::update(std::uint64_t responses_total,
                                            std::uint64_t timeouts_total) {
  // The slot about to be overwritten leaves the counters first.
  if (tail() < length_) {
    const Sample& oldest = window_[tail()];
    if (oldest.degraded == true) {
      --degraded_ticks_;
    } else if (oldest.degraded == false) {
      --healthy_ticks_;
    }
  }

  head_ = tail();
  window_[head_] = Sample{responses_total, timeouts_total, std::nullopt, std::nullopt};
  if (length_ < kWindow) ++length_;

  if (cold() || idle()) return Signal::none;

  Sample& n = window_[head_];
  n.offline = responses() == 0;
  n.degraded = !*n.offline && timeouts_rate() > kDegradedTimeoutRate;

  if (*n.offline) {
    ++offline_ticks_;
  } else {
    offline_ticks_ = 0;
    if (*n.degraded) {
      ++degraded_ticks_;
    } else {
      ++healthy_ticks_;
    }
  }

  if (!*n.offline) {
    online_ = true;
  } else if (offline_ticks_ >= kOfflineThreshold) {
    online_ = false;
  }

  if (!online_ || healthy_ticks_ == static_cast<int>(kWindow)) {
    degraded_ = false;
  } else if (degraded_ticks_ == static_cast<int>(kWindow)) {
    degraded_ = true;
  }

  if (online_ && !degraded_) return Signal::online;
  if (degraded_) return Signal::degraded;
  return Signal::offline;
}

}  // namespace hdht::dht
