#include "core/server_rejected.hpp"

#include <cstring>

#include "protocol/crypto.hpp"

namespace hdht::hyperdht {

RejectedHandshakes::RejectedHandshakes(std::size_t capacity) : capacity_(capacity) {
  crypto::random_bytes(secret_);
}

std::uint64_t RejectedHandshakes::key_of(ByteView msg1) const {
  const Bytes32 h = crypto::hash32_keyed(msg1, secret_);
  std::uint64_t k = 0;
  std::memcpy(&k, h.data(), sizeof k);
  return k;
}

void RejectedHandshakes::expire(core::TimePoint now) {
  while (!order_.empty() && order_.front().expires <= now) {
    keys_.erase(order_.front().key);
    order_.pop_front();
  }
}

bool RejectedHandshakes::contains(std::uint64_t key, core::TimePoint now) {
  expire(now);
  return keys_.contains(key);
}

void RejectedHandshakes::add(std::uint64_t key, core::TimePoint expires) {
  if (capacity_ == 0 || keys_.contains(key)) return;
  while (order_.size() >= capacity_) {
    keys_.erase(order_.front().key);
    order_.pop_front();
    ++evicted_;
  }
  keys_.insert(key);
  order_.push_back(Entry{key, expires});
}

void RejectedHandshakes::clear() {
  order_.clear();
  keys_.clear();
}

}  // namespace hdht::hyperdht
