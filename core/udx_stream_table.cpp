#include "core/udx_stream_table.hpp"

namespace hdht::core {

UdxStream* UdxStreamTable::find(std::uint32_t id) const noexcept {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second;
}

std::uint32_t UdxStreamTable::random_free_id(Runtime& runtime) const {
  // At most 2^32 - 1 ids can be taken, and far fewer ever are, so this ends.
  for (;;) {
    const std::uint32_t id = runtime.random_u32();
    if (!streams_.contains(id)) return id;
  }
}

}  // namespace hdht::core
