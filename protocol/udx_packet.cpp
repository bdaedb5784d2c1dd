#include "protocol/udx_packet.hpp"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "protocol/errors.hpp"

namespace hdht::udx {

namespace {

std::uint32_t load_le32(const std::uint8_t* p) noexcept {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}

void store_le32(std::uint8_t* p, std::uint32_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v);
  p[1] = static_cast<std::uint8_t>(v >> 8);
  p[2] = static_cast<std::uint8_t>(v >> 16);
  p[3] = static_cast<std::uint8_t>(v >> 24);
}

Header with_type(Header h, std::uint8_t type, std::uint8_t data_offset) noexcept {
  h.type = type;
  h.data_offset = data_offset;
  return h;
}

}  // namespace

SackBlock SackView::operator[](std::size_t i) const noexcept {
  const std::uint8_t* p = area_.data() + i * kSackBlockSize;
  return {load_le32(p), load_le32(p + 4)};
}

bool is_udx_packet(ByteView d) noexcept {
  return d.size() >= kHeaderSize && d[0] == kMagic && d[1] == kVersion;
}

Result<Header> decode_header(ByteView d) noexcept {
  if (d.size() < kHeaderSize) return WireErrc::out_of_bounds;
  if (d[0] != kMagic || d[1] != kVersion) return WireErrc::bad_type;
  Header h;
  h.type = d[2];
  h.data_offset = d[3];
  h.id = load_le32(d.data() + 4);
  h.rwnd = load_le32(d.data() + 8);
  h.seq = load_le32(d.data() + 12);
  h.ack = load_le32(d.data() + 16);
  return h;
}

Result<Packet> decode_packet(ByteView d) noexcept {
  auto h = decode_header(d);
  if (!h) return h.error();
  const ByteView rest = d.subspan(kHeaderSize);
  const std::size_t off = h->data_offset;
  if (off > rest.size()) return WireErrc::out_of_bounds;
  Packet p;
  p.header = *h;
  if (h->has(kSack)) {
    // The SACK area only shrinks to the data offset when a payload follows it.
    const std::size_t area = (off > 0 && off < rest.size()) ? off : rest.size();
    p.sacks = SackView(rest.first(area));
  }
  p.padding = rest.first(off);
  p.payload = rest.subspan(off);
  return p;
}

std::size_t encode_header(std::span<std::uint8_t> out, const Header& h) noexcept {
  if (out.size() < kHeaderSize) return 0;
  out[0] = kMagic;
  out[1] = kVersion;
  out[2] = h.type;
  out[3] = h.data_offset;
  store_le32(out.data() + 4, h.id);
  store_le32(out.data() + 8, h.rwnd);
  store_le32(out.data() + 12, h.seq);
  store_le32(out.data() + 16, h.ack);
  return kHeaderSize;
}

std::size_t encode_packet(std::span<std::uint8_t> out, const Header& h, ByteView padding,
                          ByteView payload) noexcept {
  const std::size_t off = h.data_offset;
  const std::size_t total = kHeaderSize + off + payload.size();
  if (out.size() < total) return 0;
  encode_header(out, h);
  const std::size_t copied = std::min(off, padding.size());
  if (copied > 0) std::memcpy(out.data() + kHeaderSize, padding.data(), copied);
  if (off > copied) std::memset(out.data() + kHeaderSize + copied, 0, off - copied);
  if (!payload.empty()) std::memcpy(out.data() + kHeaderSize + off, payload.data(), payload.size());
  return total;
}

std::size_t encode_state(std::span<std::uint8_t> out, const Header& h,
                         std::span<const SackBlock> blocks) noexcept {
  assert(blocks.size() <= kMaxSackBlocks);
  const std::size_t total = kHeaderSize + blocks.size() * kSackBlockSize;
  if (out.size() < total || blocks.size() > kMaxSackBlocks) return 0;
  encode_header(out, with_type(h, blocks.empty() ? kState : kSack, 0));
  std::uint8_t* p = out.data() + kHeaderSize;
  for (const SackBlock& b : blocks) {
    store_le32(p, b.start);
    store_le32(p + 4, b.end);
    p += kSackBlockSize;
  }
  return total;
}

std::size_t encode_data(std::span<std::uint8_t> out, const Header& h, bool data, bool end,
                        ByteView payload) noexcept {
  const auto type = static_cast<std::uint8_t>((data ? kData : 0) | (end ? kEnd : 0));
  return encode_packet(out, with_type(h, type, 0), {}, payload);
}

std::size_t encode_probe(std::span<std::uint8_t> out, const Header& h, std::uint8_t padding,
                         ByteView payload) noexcept {
  return encode_packet(out, with_type(h, kData, padding), {}, payload);
}

std::size_t encode_message(std::span<std::uint8_t> out, const Header& h,
                           ByteView payload) noexcept {
  return encode_packet(out, with_type(h, kMessage, 0), {}, payload);
}

std::size_t encode_destroy(std::span<std::uint8_t> out, const Header& h) noexcept {
  return encode_header(out, with_type(h, kDestroy, 0));
}

std::size_t encode_heartbeat(std::span<std::uint8_t> out, const Header& h) noexcept {
  return encode_header(out, with_type(h, kHeartbeat, 0));
}

}  // namespace hdht::udx
