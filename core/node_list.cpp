#include "core/node_list.hpp"

#include <cstring>

namespace hdht::dht {

std::size_t NodeList::Hash::operator()(const Bytes32& b) const noexcept {
  // Ids are hashes already: any 8 bytes are uniform.
  std::size_t h = 0;
  std::memcpy(&h, b.data(), sizeof h);
  return h;
}

bool NodeList::has(const Bytes32& id) const {
  return index_.contains(id);
}

void NodeList::touch(const Bytes32& id) {
  auto it = index_.find(id);
  if (it != index_.end()) {
    order_.splice(order_.end(), order_, it->second);
    return;
  }
  order_.push_back(id);
  index_.emplace(id, std::prev(order_.end()));
}

void NodeList::remove(const Bytes32& id) {
  auto it = index_.find(id);
  if (it == index_.end()) return;
  order_.erase(it->second);
  index_.erase(it);
}

std::optional<Bytes32> NodeList::oldest() const {
  if (order_.empty()) return std::nullopt;
  return order_.front();
}

std::optional<Bytes32> NodeList::latest() const {
  if (order_.empty()) return std::nullopt;
  return order_.back();
}

std::vector<Bytes32> NodeList::ids(std::size_t limit, bool reverse) const {
  std::vector<Bytes32> out;
  const std::size_t n = limit == 0 ? order_.size() : std::min(limit, order_.size());
  out.reserve(n);
  if (reverse) {
    for (auto it = order_.rbegin(); it != order_.rend() && out.size() < n; ++it)
      out.push_back(*it);
  } else {
    for (auto it = order_.begin(); it != order_.end() && out.size() < n; ++it)
      out.push_back(*it);
  }
  return out;
}

std::optional<Bytes32> NodeList::next(const Bytes32& id) const {
  auto it = index_.find(id);
  if (it == index_.end()) return std::nullopt;
  auto n = std::next(it->second);
  if (n == order_.end()) return std::nullopt;
  return *n;
}

std::optional<Bytes32> NodeList::prev(const Bytes32& id) const {
  auto it = index_.find(id);
  if (it == index_.end() || it->second == order_.begin()) return std::nullopt;
  return *std::prev(it->second);
}

}  // namespace hdht::dht
