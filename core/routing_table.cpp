#include "core/routing_table.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>

#include "protocol/node_id.hpp"

namespace hdht::dht {

namespace {

// Ids in bucket i share their first i bits with the table id, hence their first i/8 bytes: the
// reference starts comparing there, and so do we (same order as a full comparison).
struct IdLess {
  std::size_t offset;
  bool operator()(const Node& n, const Bytes32& id) const {
    return std::memcmp(n.id.data() + offset, id.data() + offset, id.size() - offset) < 0;
  }
};

std::vector<Node>::iterator find_slot(std::vector<Node>& b, std::size_t index, const Bytes32& id) {
  return std::lower_bound(b.begin(), b.end(), id, IdLess{index / 8});
}

}  // namespace

RoutingTable::RoutingTable(const Bytes32& id, std::size_t k) : id_(id), k_(k == 0 ? 20 : k) {}

std::size_t RoutingTable::bucket_index(const Bytes32& id) const {
  return std::min(rpc::common_prefix_bits(id_, id), kBuckets - 1);
}

RoutingTable::AddResult RoutingTable::add(const Node& node) {
  const std::size_t i = bucket_index(node.id);
  auto& b = buckets_[i];
  auto it = find_slot(b, i, node.id);
  if (it != b.end() && it->id == node.id) {
    *it = node;
    return AddResult::updated;
  }
  if (b.size() >= k_) return AddResult::full;
  // Buckets never hold more than k, so reserving k up front means one allocation per bucket.
  if (b.capacity() == 0) {
    b.reserve(k_);
    it = b.begin();
  }
  b.insert(it, node);
  set_nonempty(i, true);
  ++size_;
  return AddResult::added;
}

bool RoutingTable::remove(const Bytes32& id) {
  const std::size_t i = bucket_index(id);
  auto& b = buckets_[i];
  auto it = find_slot(b, i, id);
  if (it == b.end() || it->id != id) return false;
  b.erase(it);
  if (b.empty()) set_nonempty(i, false);
  --size_;
  return true;
}

Node* RoutingTable::get(const Bytes32& id) {
  const std::size_t i = bucket_index(id);
  auto& b = buckets_[i];
  auto it = find_slot(b, i, id);
  return it != b.end() && it->id == id ? &*it : nullptr;
}

const Node* RoutingTable::get(const Bytes32& id) const {
  return const_cast<RoutingTable*>(this)->get(id);
}

void RoutingTable::closest(const Bytes32& target, std::size_t n,
                           std::vector<const Node*>& out) const {
  const std::size_t want = n == 0 ? k_ : n;
  out.clear();
  out.reserve(std::min(want, size_));
  const auto push = [&](int i) {
    const auto& b = buckets_[static_cast<std::size_t>(i)];
    const std::size_t take = std::min(want - out.size(), b.size());
    for (std::size_t j = 0; j < take; ++j)
      out.push_back(&b[j]);
  };
  const int d = static_cast<int>(bucket_index(target));
  for (int i = prev_nonempty(d); i >= 0 && out.size() < want; i = prev_nonempty(i - 1))
    push(i);
  for (int i = next_nonempty(d + 1); i < static_cast<int>(kBuckets) && out.size() < want;
       i = next_nonempty(i + 1))
    push(i);
}

std::vector<const Node*> RoutingTable::closest(const Bytes32& target, std::size_t n) const {
  std::vector<const Node*> out;
  closest(target, n, out);
  return out;
}

std::vector<const Node*> RoutingTable::to_array() const {
  return closest(id_, std::numeric_limits<std::size_t>::max());
}

const Node* RoutingTable::nth(std::size_t i) const {
  for (int b = next_nonempty(0); b < static_cast<int>(kBuckets); b = next_nonempty(b + 1)) {
    const auto& nodes = buckets_[static_cast<std::size_t>(b)];
    if (i < nodes.size()) return &nodes[i];
    i -= nodes.size();
  }
  return nullptr;
}

const Node* RoutingTable::random(double u) const {
  return nth(static_cast<std::size_t>(u * static_cast<double>(size_)));
}

int RoutingTable::prev_nonempty(int i) const {
  if (i < 0) return -1;
  int w = i >> 6;
  const unsigned bit = static_cast<unsigned>(i & 63);
  std::uint64_t m = nonempty_[static_cast<std::size_t>(w)] &
                    (bit == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (bit + 1)) - 1);
  while (true) {
    if (m != 0) return w * 64 + 63 - std::countl_zero(m);
    if (--w < 0) return -1;
    m = nonempty_[static_cast<std::size_t>(w)];
  }
}

int RoutingTable::next_nonempty(int i) const {
  constexpr int kEnd = static_cast<int>(kBuckets);
  if (i >= kEnd) return kEnd;
  int w = i >> 6;
  std::uint64_t m = nonempty_[static_cast<std::size_t>(w)] & (~std::uint64_t{0} << (i & 63));
  while (true) {
    if (m != 0) return w * 64 + std::countr_zero(m);
    if (++w >= kEnd / 64) return kEnd;
    m = nonempty_[static_cast<std::size_t>(w)];
  }
}

void RoutingTable::set_nonempty(std::size_t i, bool on) {
  const std::uint64_t bit = std::uint64_t{1} << (i & 63);
  if (on)
    nonempty_[i >> 6] |= bit;
  else
    nonempty_[i >> 6] &= ~bit;
}

}  // namespace hdht::dht
