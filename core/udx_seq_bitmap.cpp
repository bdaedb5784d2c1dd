#include "core/udx_seq_bitmap.hpp"

#include <algorithm>
#include <bit>

namespace hdht::core {

std::uint32_t UdxSeqBitmap::find(std::uint32_t from, std::uint32_t limit,
                                 bool value) const noexcept {
  std::uint32_t i = 0;
  while (i < limit) {
    const std::uint32_t pos = from + i;
    const std::uint32_t shift = pos & 63;
    std::uint64_t w = words_[word(pos)];
    if (!value) w = ~w;
    w >>= shift;
    const std::uint32_t avail = 64 - shift;
    if (w != 0) {
      const auto d = static_cast<std::uint32_t>(std::countr_zero(w));
      if (d < avail) return std::min(i + d, limit);
    }
    i += avail;
  }
  return limit;
}

}  // namespace hdht::core
