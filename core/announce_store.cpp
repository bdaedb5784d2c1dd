#include "core/announce_store.hpp"

#include <utility>

namespace hdht::hyperdht {

AnnounceStore::AnnounceStore(core::Runtime& runtime, CacheLimits limits)
    : runtime_(runtime), limits_(limits), clock_(runtime, limits.max_age, [this] { rotate(); }) {}

bool AnnounceStore::Generation::add(const Bytes32& topic, const Bytes32& public_key,
                                    Bytes& record) {
  Topic& t = topics[topic];
  if (t.index.contains(public_key)) return false;
  t.index.emplace(public_key, t.list.size());
  bytes += weight(record);
  t.list.push_back(Entry{public_key, std::move(record)});
  ++size;
  return true;
}

bool AnnounceStore::Generation::remove(const Bytes32& topic, const Bytes32& public_key) {
  auto tit = topics.find(topic);
  if (tit == topics.end()) return false;
  Topic& t = tit->second;
  auto it = t.index.find(public_key);
  if (it == t.index.end()) return false;
  const std::size_t i = it->second;
  bytes -= weight(t.list[i].record);
  if (i + 1 != t.list.size()) {
    t.list[i] = std::move(t.list.back());
    t.index[t.list[i].public_key] = i;
  }
  t.list.pop_back();
  t.index.erase(public_key);
  --size;
  if (t.list.empty()) topics.erase(tit);
  return true;
}

std::vector<AnnounceStore::Entry>* AnnounceStore::Generation::list(const Bytes32& topic) {
  auto it = topics.find(topic);
  return it == topics.end() ? nullptr : &it->second.list;
}

void AnnounceStore::add(const Bytes32& topic, const Bytes32& public_key, Bytes record) {
  stale_.remove(topic, public_key);
  if (fresh_.add(topic, public_key, record) &&
      (fresh_.size > limits_.max_size || fresh_.bytes >= limits_.max_bytes / 2)) {
    rotate();
  }
  while (bytes() > limits_.max_bytes && size() > 0)
    rotate();
}

void AnnounceStore::remove(const Bytes32& topic, const Bytes32& public_key) {
  fresh_.remove(topic, public_key);
  stale_.remove(topic, public_key);
}

std::vector<Bytes> AnnounceStore::get(const Bytes32& topic, std::size_t n) {
  std::vector<Entry>* a = fresh_.list(topic);
  std::vector<Entry>* b = stale_.list(topic);
  std::size_t a_len = a ? a->size() : 0;
  std::size_t b_len = b ? b->size() : 0;
  const std::size_t len = a_len + b_len;
  if (n == 0 || n > len) n = len;

  // record-cache's sampling without replacement: pick one of the remaining, swap it to the end.
  // The swaps reorder the stored lists, so the indexes are kept in step.
  auto take = [](std::vector<Entry>& list, std::size_t j, std::size_t last,
                 std::unordered_map<Bytes32, std::size_t, Key32Hash>& index) {
    if (j != last) {
      std::swap(list[j], list[last]);
      index[list[j].public_key] = j;
      index[list[last].public_key] = last;
    }
    return list[last].record;
  };
  std::vector<Bytes> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t j = runtime_.random_u32() % (a_len + b_len);
    if (j < a_len) {
      --a_len;
      out.push_back(take(*a, j, a_len, fresh_.topics[topic].index));
    } else {
      j -= a_len;
      --b_len;
      out.push_back(take(*b, j, b_len, stale_.topics[topic].index));
    }
  }
  return out;
}

void AnnounceStore::rotate() {
  clock_.note_rotation();
  evicted_ += stale_.size;
  stale_ = std::move(fresh_);
  fresh_ = Generation{};
}

}  // namespace hdht::hyperdht
