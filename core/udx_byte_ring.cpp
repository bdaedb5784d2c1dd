#include "core/udx_byte_ring.hpp"

#include <algorithm>
#include <cstring>

namespace hdht::core {

void UdxByteRing::append(ByteView data) {
  if (data.empty()) return;
  if (size() + data.size() > buf_.size()) grow(size() + data.size());
  std::size_t done = 0;
  while (done < data.size()) {
    const std::size_t at = index(end_);
    const std::size_t n = std::min(data.size() - done, buf_.size() - at);
    std::memcpy(buf_.data() + at, data.data() + done, n);
    done += n;
    end_ += n;
  }
}

void UdxByteRing::copy_out(std::uint64_t offset, std::span<std::uint8_t> out) const noexcept {
  std::size_t done = 0;
  while (done < out.size()) {
    const std::size_t at = index(offset + done);
    const std::size_t n = std::min(out.size() - done, buf_.size() - at);
    std::memcpy(out.data() + done, buf_.data() + at, n);
    done += n;
  }
}

void UdxByteRing::release_until(std::uint64_t offset) noexcept {
  begin_ = std::clamp(offset, begin_, end_);
}

ByteView UdxByteRing::front_contiguous() const noexcept {
  if (empty()) return {};
  const std::size_t at = index(begin_);
  return ByteView(buf_.data() + at, std::min(size(), buf_.size() - at));
}

void UdxByteRing::grow(std::size_t needed) {
  std::size_t cap = std::max<std::size_t>(buf_.size(), 64 * 1024);
  while (cap < needed)
    cap *= 2;
  std::vector<std::uint8_t> next(cap);
  // Each held byte keeps its offset, so it moves to offset & (cap - 1) in the larger ring.
  std::uint64_t o = begin_;
  while (o < end_) {
    const std::size_t from = index(o);
    const std::size_t to = static_cast<std::size_t>(o & (cap - 1));
    const std::size_t n =
        std::min({static_cast<std::size_t>(end_ - o), buf_.size() - from, cap - to});
    std::memcpy(next.data() + to, buf_.data() + from, n);
    o += n;
  }
  buf_ = std::move(next);
}

}  // namespace hdht::core
