// The Kademlia routing table of dht-rpc (a port of kademlia-routing-table 1.0.6). It decides which
// nodes a FIND_NODE reply lists and in what order, so its quirks are kept on purpose: closest()
// is bucket order, not an XOR sort (spec dht-rpc.md §5.1).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {

// One table entry. The tick fields are owned by the dht node (dht-rpc index.js) and only stored
// here so that the full-bucket and liveness logic can read them from the bucket.
struct Node {
  Bytes32 id{};
  Ipv4Address addr{};
  std::optional<Ipv4Address> to;  // the last NAT sample this node gave us
  std::int64_t added = 0;
  std::int64_t pinged = 0;
  std::int64_t seen = 0;
  std::int64_t sampled = 0;
  std::uint32_t down_hints = 0;
};

class RoutingTable {
 public:
  static constexpr std::size_t kBuckets = 256;

  enum class AddResult {
    added,    // a new entry
    updated,  // an entry with the same id was replaced by the new record
    full,     // the bucket holds k others: run the full-bucket hook on bucket(node.id)
  };

  // k == 0 means the default 20, as in the JS.
  explicit RoutingTable(const Bytes32& id, std::size_t k = 20);

  const Bytes32& id() const { return id_; }
  std::size_t k() const { return k_; }
  std::size_t size() const { return size_; }

  // Common prefix length with our id; identical ids land in the last bucket, as in the JS.
  std::size_t bucket_index(const Bytes32& id) const;

  AddResult add(const Node& node);
  bool remove(const Bytes32& id);
  // Pointers are invalidated by the next add/remove in the same bucket.
  Node* get(const Bytes32& id);
  const Node* get(const Bytes32& id) const;
  bool has(const Bytes32& id) const { return get(id) != nullptr; }

  // Appends up to n nodes (n == 0 means k, like the JS) to out: bucket d = bucket_index(target),
  // then d-1 .. 0, then d+1 .. 255, each bucket in ascending id order. out is cleared first so a
  // caller can reuse its capacity.
  void closest(const Bytes32& target, std::size_t n, std::vector<const Node*>& out) const;
  std::vector<const Node*> closest(const Bytes32& target, std::size_t n = 0) const;
  // Every node, in closest(id, infinity) order: what the node re-adds when its id changes.
  std::vector<const Node*> to_array() const;

  // The i-th node counting buckets 0..255 in id order; nullptr when i >= size().
  const Node* nth(std::size_t i) const;
  // Math.random() style: u in [0, 1) picks nth(floor(u * size)).
  const Node* random(double u) const;

  std::span<Node> bucket(std::size_t i) { return buckets_[i]; }
  std::span<const Node> bucket(std::size_t i) const { return buckets_[i]; }

 private:
  // Highest non-empty bucket <= i, or -1.
  int prev_nonempty(int i) const;
  // Lowest non-empty bucket >= i, or kBuckets.
  int next_nonempty(int i) const;
  void set_nonempty(std::size_t i, bool on);

  Bytes32 id_;
  std::size_t k_;
  std::size_t size_ = 0;
  std::array<std::vector<Node>, kBuckets> buckets_;
  // One bit per bucket so closest() skips empty buckets without touching them.
  std::array<std::uint64_t, kBuckets / 64> nonempty_{};
};

}  // namespace hdht::dht
