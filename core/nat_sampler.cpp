#include "core/nat_sampler.hpp"

#include <cassert>

namespace hdht::dht {

int NatSampler::add(const Ipv4Address& observed) {
  const int a = bump(observed.ip, observed.port, 2);
  const int b = bump(observed.ip, 0, 1);

  if (length_ < kRing) {
    ++size_;
    threshold_ = size_ - (size_ < 4 ? 0 : size_ < 8 ? 1 : size_ < 12 ? 2 : 3);
    slots_[static_cast<std::size_t>(length_++)] = a;
    slots_[static_cast<std::size_t>(length_++)] = b;
    top_ += 2;
  } else {
    if (top_ == kRing) top_ = 0;
    for (const int fresh : {a, b}) {
      int& slot = slots_[static_cast<std::size_t>(top_++)];
      --pool_[static_cast<std::size_t>(slot)].hits;
      slot = fresh;
    }
  }

  const auto hits = [this](int e) { return pool_[static_cast<std::size_t>(e)].hits; };
  if (best_a_ == kNone || hits(best_a_) < hits(a)) best_a_ = a;
  if (best_b_ == kNone || hits(best_b_) < hits(b)) best_b_ = b;

  const Entry& best_a = pool_[static_cast<std::size_t>(best_a_)];
  const Entry& best_b = pool_[static_cast<std::size_t>(best_b_)];
  if (best_a.hits >= threshold_) {
    host_ = best_a.host;
    port_ = best_a.port;
  } else if (best_b.hits >= threshold_) {
    host_ = best_b.host;
    port_ = 0;
  } else {
    host_.reset();
    port_ = 0;
  }
  return hits(a);
}

// Only the last four samples of the same kind are looked at: a full address sits in even slots,
// a host-only one in odd slots, hence the stride of 2 and the offsets 2 and 1.
int NatSampler::bump(const Ipv4Host& host, std::uint16_t port, int inc) {
  for (int i = 0; i < 4; ++i) {
    const int j = (top_ - inc - 2 * i) & (kRing - 1);
    if (j >= length_) break;
    const int s = slots_[static_cast<std::size_t>(j)];
    Entry& e = pool_[static_cast<std::size_t>(s)];
    if (e.port == port && e.host == host) {
      ++e.hits;
      return s;
    }
  }
  return make_entry(host, port);
}

int NatSampler::make_entry(const Ipv4Host& host, std::uint16_t port) {
  // hits is exactly the number of ring slots holding an entry, so a zero-hit entry that is not
  // one of the best references is unreachable and can be reused.
  for (int i = 0; i < kPool; ++i) {
    Entry& e = pool_[static_cast<std::size_t>(i)];
    if (e.hits != 0 || i == best_a_ || i == best_b_) continue;
    e = Entry{host, port, 1};
    return i;
  }
  assert(false && "nat sampler pool exhausted");
  return 0;
}

}  // namespace hdht::dht
