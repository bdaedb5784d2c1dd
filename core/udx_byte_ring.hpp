// A growable ring of bytes addressed by absolute stream offsets: the UDX send buffer (bytes
// written but not yet acked, which retransmissions re-read) and the paused-reader buffer. It
// reallocates only when it has to grow, so a steady transfer does not allocate per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "protocol/bytes.hpp"

namespace hdht::core {

class UdxByteRing {
 public:
  // Offsets of the first held byte and one past the last (they only grow).
  std::uint64_t begin_offset() const noexcept { return begin_; }
  std::uint64_t end_offset() const noexcept { return end_; }
  std::size_t size() const noexcept { return static_cast<std::size_t>(end_ - begin_); }
  bool empty() const noexcept { return begin_ == end_; }

  void append(ByteView data);
  // Copies [offset, offset + out.size()) into out; the range must be held.
  void copy_out(std::uint64_t offset, std::span<std::uint8_t> out) const noexcept;
  // Drops every byte before offset (clamped to what is held).
  void release_until(std::uint64_t offset) noexcept;
  // The longest contiguous view starting at begin_offset() (for zero-copy delivery).
  ByteView front_contiguous() const noexcept;

 private:
  void grow(std::size_t needed);
  std::size_t index(std::uint64_t offset) const noexcept {
    return static_cast<std::size_t>(offset & (buf_.size() - 1));
  }

  std::vector<std::uint8_t> buf_;  // power-of-two size
  std::uint64_t begin_ = 0;
  std::uint64_t end_ = 0;
};

}  // namespace hdht::core
