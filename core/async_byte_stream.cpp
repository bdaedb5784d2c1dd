#include "core/async_byte_stream.hpp"

#include <algorithm>
#include <cstdint>
#include <span>

namespace hdht::core {

std::size_t buffers_size(const std::vector<asio::mutable_buffer>& buffers) noexcept {
  std::size_t n = 0;
  for (const auto& b : buffers)
    n += b.size();
  return n;
}

std::size_t copy_from_ring(UdxByteRing& ring, const std::vector<asio::mutable_buffer>& buffers) {
  std::size_t n = 0;
  for (const auto& b : buffers) {
    const std::size_t take = std::min(b.size(), ring.size());
    if (take == 0) break;
    ring.copy_out(ring.begin_offset(),
                  std::span<std::uint8_t>(static_cast<std::uint8_t*>(b.data()), take));
    ring.release_until(ring.begin_offset() + take);
    n += take;
  }
  return n;
}

}  // namespace hdht::core
