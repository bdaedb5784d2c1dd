// The recency list of table nodes (the reference's `nodes`, a time-ordered-set): oldest first,
// latest last; touching a node moves it to the latest end. Keyed by id, so it never holds
// pointers into the routing table.
#pragma once

#include <cstddef>
#include <list>
#include <optional>
#include <unordered_map>
#include <vector>

#include "protocol/bytes.hpp"

namespace hdht::dht {

class NodeList {
 public:
  bool has(const Bytes32& id) const;
  void touch(const Bytes32& id);  // add, or move to the latest end
  void remove(const Bytes32& id);
  std::size_t size() const noexcept { return order_.size(); }
  std::optional<Bytes32> oldest() const;
  std::optional<Bytes32> latest() const;
  // Ids from oldest to latest (reverse = latest first), at most `limit` (0 = all).
  std::vector<Bytes32> ids(std::size_t limit = 0, bool reverse = false) const;
  // The id after `id` towards the latest end, if any.
  std::optional<Bytes32> next(const Bytes32& id) const;
  std::optional<Bytes32> prev(const Bytes32& id) const;

 private:
  struct Hash {
    std::size_t operator()(const Bytes32& b) const noexcept;
  };
  std::list<Bytes32> order_;
  std::unordered_map<Bytes32, std::list<Bytes32>::iterator, Hash> index_;
};

}  // namespace hdht::dht
