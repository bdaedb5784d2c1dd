// UDX packet codec: header layout, every type flag, the SACK area and data offset rules of libudx
// process_packet, the demultiplexing test, encoders, and wrap-around sequence comparison.
#include <catch2/catch.hpp>

#include "protocol/errors.hpp"
#include "protocol/udx_packet.hpp"

using namespace hdht;
using namespace hdht::udx;

namespace {

Bytes hx(std::string_view s) {
  return *from_hex(s);
}

const Header kHeader{0, 0, 0x01020304, 4194304, 7, 9};

Bytes header_bytes(std::uint8_t type, std::uint8_t off) {
  Header h = kHeader;
  h.type = type;
  h.data_offset = off;
  Bytes out(kHeaderSize);
  REQUIRE(encode_header(out, h) == kHeaderSize);
  return out;
}

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace

TEST_CASE("udx: header layout is little-endian at the documented offsets", "[unit][udx]") {
  const Bytes b = hx("ff01000004030201000040000000000001000000");
  auto p = decode_packet(b);
  REQUIRE(p);
  CHECK(p->header == Header{0, 0, 0x01020304, 4194304, 0, 1});
  CHECK(p->payload.empty());
  CHECK(p->padding.empty());
  CHECK(p->sacks.empty());
  Bytes out(kHeaderSize);
  CHECK(encode_header(out, p->header) == 20);
  CHECK(out == b);
}

TEST_CASE("udx: every type flag decodes and re-encodes", "[unit][udx]") {
  for (std::uint8_t t : {kState, kData, kEnd, std::uint8_t(kData | kEnd), kSack, kMessage, kDestroy,
                         kHeartbeat, std::uint8_t(0x40), std::uint8_t(0x80), std::uint8_t(0xff)}) {
    CAPTURE(int(t));
    const Bytes b = cat(header_bytes(t, 0), hx(t & kSack ? "0200000003000000" : "6869"));
    auto p = decode_packet(b);
    // libudx tests bits one by one and never rejects unknown ones: neither do we.
    REQUIRE(p);
    CHECK(p->header.type == t);
    CHECK(p->header.has(kSack) == ((t & kSack) != 0));
    Bytes out(b.size());
    CHECK(encode_packet(out, p->header, p->padding, p->payload) == b.size());
    CHECK(out == b);
  }
}

TEST_CASE("udx: short packets and wrong magic/version are not UDX", "[unit][udx]") {
  const Bytes good = header_bytes(kData, 0);
  CHECK(is_udx_packet(good));
  for (std::size_t n = 0; n < kHeaderSize; ++n) {
    const ByteView v(good.data(), n);
    CHECK_FALSE(is_udx_packet(v));
    CHECK(decode_packet(v).error() == make_error_code(WireErrc::out_of_bounds));
    CHECK(decode_header(v).error() == make_error_code(WireErrc::out_of_bounds));
  }
  Bytes bad = good;
  bad[0] = 0xfe;
  CHECK_FALSE(is_udx_packet(bad));
  CHECK(decode_packet(bad).error() == make_error_code(WireErrc::bad_type));
  bad = good;
  bad[1] = 0x02;
  CHECK_FALSE(is_udx_packet(bad));
  CHECK(decode_packet(bad).error() == make_error_code(WireErrc::bad_type));
  bad[1] = 0x00;
  CHECK(decode_packet(bad).error() == make_error_code(WireErrc::bad_type));
  // What else shares the socket: dht-rpc request/response, holepunch probe.
  CHECK_FALSE(is_udx_packet(hx("00")));
  CHECK_FALSE(is_udx_packet(cat(hx("03"), Bytes(40, 0))));
  CHECK_FALSE(is_udx_packet(cat(hx("13"), Bytes(40, 0))));
}

TEST_CASE("udx: SACK area is the rest of the datagram, trailing partial block ignored",
          "[unit][udx]") {
  const Bytes blocks =
      hx("0200000003000000"
         "0400000006000000");
  for (std::size_t extra = 0; extra < 8; ++extra) {
    CAPTURE(extra);
    const Bytes b = cat(cat(header_bytes(kSack, 0), blocks), Bytes(extra, 0xaa));
    auto p = decode_packet(b);
    REQUIRE(p);
    REQUIRE(p->sacks.size() == 2);
    CHECK(p->sacks[0] == SackBlock{2, 3});
    CHECK(p->sacks[1] == SackBlock{4, 6});
    // payload is independent of the SACK bit: everything after the data offset
    CHECK(p->payload.size() == blocks.size() + extra);
  }
  // 0..7 bytes: no block at all
  for (std::size_t n = 0; n < 8; ++n) {
    auto p = decode_packet(cat(header_bytes(kSack, 0), Bytes(n, 1)));
    REQUIRE(p);
    CHECK(p->sacks.empty());
  }
  // Without the SACK bit the same bytes are payload only.
  auto p = decode_packet(cat(header_bytes(kData, 0), blocks));
  REQUIRE(p);
  CHECK(p->sacks.empty());
  CHECK(p->payload.size() == 16);
}

TEST_CASE("udx: data offset bounds the SACK area only when a payload follows", "[unit][udx]") {
  const Bytes blocks =
      hx("0200000003000000"
         "0400000006000000"
         "0800000009000000");
  SECTION("0 < offset < rest: area = offset bytes, payload after it") {
    const Bytes b = cat(cat(header_bytes(kSack, 8), blocks), hx(""));
    auto p = decode_packet(b);
    REQUIRE(p);
    REQUIRE(p->sacks.size() == 1);
    CHECK(p->sacks[0] == SackBlock{2, 3});
    CHECK(p->padding.size() == 8);
    CHECK(p->payload.size() == 16);
  }
  SECTION("odd offset: partial block inside the area ignored") {
    auto p = decode_packet(cat(header_bytes(kSack, 12), blocks));
    REQUIRE(p);
    CHECK(p->sacks.size() == 1);
    CHECK(p->payload.size() == 12);
  }
  SECTION("offset == rest: area = whole rest, payload empty") {
    auto p = decode_packet(cat(header_bytes(kSack, 24), blocks));
    REQUIRE(p);
    CHECK(p->sacks.size() == 3);
    CHECK(p->padding.size() == 24);
    CHECK(p->payload.empty());
  }
  SECTION("offset > rest: dropped") {
    const Bytes b = cat(header_bytes(kSack, 25), blocks);
    CHECK(decode_packet(b).error() == make_error_code(WireErrc::out_of_bounds));
    // ...but the header is still readable, as libudx reads it before the check.
    CHECK(decode_header(b));
    CHECK(decode_packet(header_bytes(kData, 1)).error() ==
          make_error_code(WireErrc::out_of_bounds));
    CHECK(decode_packet(header_bytes(kHeartbeat, 255)).error() ==
          make_error_code(WireErrc::out_of_bounds));
  }
  SECTION("padding of a DATA packet is skipped") {
    const Bytes b = cat(cat(header_bytes(kData, 3), hx("000000")), hx("6869"));
    auto p = decode_packet(b);
    REQUIRE(p);
    CHECK(to_hex(p->payload) == "6869");
    CHECK(to_hex(p->padding) == "000000");
  }
}

TEST_CASE("udx: encoders", "[unit][udx]") {
  std::array<std::uint8_t, kReceiveBufferSize> buf{};
  const Bytes payload = hx("68656c6c6f");

  SECTION("state and SACK") {
    const std::size_t n = encode_state(buf, kHeader, {});
    CHECK(n == 20);
    CHECK(to_hex({buf.data(), n}) == to_hex(header_bytes(kState, 0)));
    const std::array<SackBlock, 2> blocks{SackBlock{2, 3}, SackBlock{4, 6}};
    const std::size_t m = encode_state(buf, kHeader, blocks);
    CHECK(m == 36);
    auto p = decode_packet({buf.data(), m});
    REQUIRE(p);
    CHECK(p->header.type == kSack);
    REQUIRE(p->sacks.size() == 2);
    CHECK(p->sacks[1] == SackBlock{4, 6});
    std::array<SackBlock, kMaxSackBlocks> many{};
    CHECK(encode_state(buf, kHeader, many) == 20 + 8 * kMaxSackBlocks);
  }
  SECTION("DATA, END, DATA|END, MESSAGE, DESTROY, HEARTBEAT") {
    CHECK(encode_data(buf, kHeader, true, false, payload) == 25);
    CHECK(buf[2] == kData);
    CHECK(encode_data(buf, kHeader, false, true, {}) == 20);
    CHECK(buf[2] == kEnd);
    CHECK(encode_data(buf, kHeader, true, true, payload) == 25);
    CHECK(buf[2] == 0x03);
    CHECK(encode_message(buf, kHeader, {}) == 20);
    CHECK(buf[2] == kMessage);
    CHECK(encode_destroy(buf, kHeader) == 20);
    CHECK(buf[2] == kDestroy);
    CHECK(encode_heartbeat(buf, kHeader) == 20);
    CHECK(buf[2] == kHeartbeat);
    CHECK(buf[3] == 0);
  }
  SECTION("MTU probe: zero padding announced in byte 3") {
    const std::size_t n = encode_probe(buf, kHeader, 64, payload);
    CHECK(n == 20 + 64 + 5);
    auto p = decode_packet({buf.data(), n});
    REQUIRE(p);
    CHECK(p->header.data_offset == 64);
    CHECK(p->padding.size() == 64);
    CHECK(std::all_of(p->padding.begin(), p->padding.end(), [](auto c) { return c == 0; }));
    CHECK(to_hex(p->payload) == to_hex(payload));
  }
  SECTION("too small a buffer writes nothing useful and returns 0") {
    std::array<std::uint8_t, 24> small{};
    CHECK(encode_header(std::span(small).first(19), kHeader) == 0);
    CHECK(encode_data(small, kHeader, true, false, payload) == 0);
    const std::array<SackBlock, 1> one{SackBlock{1, 2}};
    CHECK(encode_state(small, kHeader, one) == 0);
    CHECK(encode_probe(small, kHeader, 1, payload) == 0);
  }
}

TEST_CASE("udx: sequence comparison wraps at 2^32", "[unit][udx]") {
  CHECK(seq_compare(1, 2) == -1);
  CHECK(seq_compare(2, 1) == 1);
  CHECK(seq_compare(5, 5) == 0);
  CHECK(seq_compare(0xffffffffu, 0) == -1);  // 0 comes right after 2^32-1
  CHECK(seq_compare(0, 0xffffffffu) == 1);
  CHECK(seq_diff(3, 0xfffffffeu) == 5);
  CHECK(seq_diff(0xfffffffeu, 3) == -5);
  CHECK(seq_diff(0x80000000u, 0) == INT32_MIN);  // half-way point: "before", as in libudx
  CHECK(seq_compare(0x80000000u, 0) == -1);
  CHECK(seq_compare(0x7fffffffu, 0) == 1);
  static_assert(seq_compare(10, 0xfffffff0u) == 1);
}
