// UDX packets (libudx, as shipped in udx-native 1.21.3): the 20-byte header, SACK blocks, the
// data offset and the payload, plus the demultiplexing test that separates UDX from dht-rpc
// traffic on a shared socket. Spec: ../shared/spec/udx.md §1.
//
// Decoding is the hot path (one call per datagram), so a decoded Packet does not own anything:
// its SACK view, padding and payload point into the datagram passed to decode_packet(), and are
// valid only while that buffer is alive and unchanged. Encoders write into a caller-provided
// buffer and never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "protocol/bytes.hpp"
#include "protocol/result.hpp"

namespace hdht::udx {

inline constexpr std::uint8_t kMagic = 0xFF;
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 20;
inline constexpr std::size_t kSackBlockSize = 8;
// libudx never sends more SACK blocks than this (UDX_MAX_SACKS); receivers accept any number.
inline constexpr std::size_t kMaxSackBlocks = 50;
// libudx reads datagrams into a buffer this large and silently truncates longer ones, so nothing
// we send to a udx-native peer may be longer (UDX_SOCKET_PACKET_BUFFER_SIZE).
inline constexpr std::size_t kReceiveBufferSize = 2048;
// The data offset is one byte, so MTU-probe padding is at most this long.
inline constexpr std::size_t kMaxPadding = 255;

// Type bits (UDX_HEADER_*). libudx tests each bit on its own and ignores unknown bits; 0 is a
// pure state (ack / window update) packet.
inline constexpr std::uint8_t kData = 0x01;
inline constexpr std::uint8_t kEnd = 0x02;
inline constexpr std::uint8_t kSack = 0x04;
inline constexpr std::uint8_t kMessage = 0x08;
inline constexpr std::uint8_t kDestroy = 0x10;
inline constexpr std::uint8_t kHeartbeat = 0x20;
inline constexpr std::uint8_t kState = 0x00;

struct Header {
  std::uint8_t type = 0;
  std::uint8_t data_offset = 0;
  std::uint32_t id = 0;  // the *receiving* stream's id
  std::uint32_t rwnd = 0;
  std::uint32_t seq = 0;
  std::uint32_t ack = 0;

  bool has(std::uint8_t bit) const noexcept { return (type & bit) != 0; }
  friend bool operator==(const Header&, const Header&) = default;
};

struct SackBlock {
  std::uint32_t start = 0;  // inclusive
  std::uint32_t end = 0;    // exclusive
  friend bool operator==(const SackBlock&, const SackBlock&) = default;
};

// The SACK blocks of a decoded packet, read in place (little-endian pairs).
class SackView {
 public:
  SackView() = default;
  explicit SackView(ByteView area)
      : area_(area.first(area.size() / kSackBlockSize * kSackBlockSize)) {}
  std::size_t size() const noexcept { return area_.size() / kSackBlockSize; }
  bool empty() const noexcept { return area_.empty(); }
  SackBlock operator[](std::size_t i) const noexcept;  // precondition: i < size()
  ByteView bytes() const noexcept { return area_; }

 private:
  ByteView area_;
};

struct Packet {
  Header header;
  // Blocks parsed from the SACK area when the SACK bit is set, else empty. The area is the
  // data-offset bytes if 0 < data_offset < len-20, otherwise the whole rest of the datagram;
  // a trailing partial block is ignored (libudx process_packet).
  SackView sacks;
  // The data_offset bytes between header and payload (MTU-probe padding; zeros from libudx).
  ByteView padding;
  // Everything after header + padding. As in libudx this is computed independently of the SACK
  // bit: for a SACK packet with data offset 0 it is the SACK area itself.
  ByteView payload;
};

// The demultiplexing rule up to the stream-id lookup (§1.6 steps 2-3): at least a header, magic
// and version right. The caller still has to check that header id belongs to a live stream of
// its UDX instance before it may consume the datagram; otherwise it is raw (dht-rpc) traffic.
bool is_udx_packet(ByteView datagram) noexcept;

// Only the 20-byte header: out_of_bounds if shorter, bad_type on wrong magic/version. libudx
// acts on a header whose data offset overruns the datagram in two cases (a relaying stream
// forwards it, a HEARTBEAT is answered), which is what this is for.
Result<Header> decode_header(ByteView datagram) noexcept;

// The whole packet: decode_header's errors, and out_of_bounds if data_offset > len-20 (libudx
// drops such a packet). Unknown type bits are accepted, as libudx accepts them.
Result<Packet> decode_packet(ByteView datagram) noexcept;

// Encoders: each writes one packet at the start of `out` and returns its length, or 0 when
// `out` is too small (nothing useful is written then). They take header fields verbatim; the
// helpers below set type and data offset.
std::size_t encode_header(std::span<std::uint8_t> out, const Header& h) noexcept;
// Any packet: header (type, data_offset taken from h), then h.data_offset bytes of padding copied
// from `padding` (zero-filled where `padding` is shorter), then `payload`. The general form used
// by the round-trip tests; the helpers below are what a stream sends.
std::size_t encode_packet(std::span<std::uint8_t> out, const Header& h, ByteView padding,
                          ByteView payload) noexcept;
// State packet (ack / window update). With blocks it is a SACK packet (type 0x04): header + 8
// bytes per block, data offset 0. More than kMaxSackBlocks blocks is a programming error.
std::size_t encode_state(std::span<std::uint8_t> out, const Header& h,
                         std::span<const SackBlock> blocks) noexcept;
// DATA (0x01), END (0x02) or DATA|END (0x03) carrying `payload` after the header.
std::size_t encode_data(std::span<std::uint8_t> out, const Header& h, bool data, bool end,
                        ByteView payload) noexcept;
// An MTU probe: a DATA packet with `padding` zero bytes (<= 255) between header and payload.
std::size_t encode_probe(std::span<std::uint8_t> out, const Header& h, std::uint8_t padding,
                         ByteView payload) noexcept;
// MESSAGE (0x08): one unordered datagram, possibly empty.
std::size_t encode_message(std::span<std::uint8_t> out, const Header& h, ByteView payload) noexcept;
// DESTROY (0x10) and HEARTBEAT (0x20): exactly a header.
std::size_t encode_destroy(std::span<std::uint8_t> out, const Header& h) noexcept;
std::size_t encode_heartbeat(std::span<std::uint8_t> out, const Header& h) noexcept;

// Sequence numbers wrap at 2^32: a is "before" b when the signed 32-bit difference is negative.
constexpr std::int32_t seq_diff(std::uint32_t a, std::uint32_t b) noexcept {
  return static_cast<std::int32_t>(a - b);
}
constexpr int seq_compare(std::uint32_t a, std::uint32_t b) noexcept {
  const std::int32_t d = seq_diff(a, b);
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

}  // namespace hdht::udx
