#include <catch2/catch.hpp>

#include "protocol/compact.hpp"

using namespace hdht;

namespace {
Bytes hx(const char* s) { return *from_hex(s); }
}  // namespace

TEST_CASE("varint size classes round-trip at every boundary", "[unit][compact]") {
  for (std::uint64_t v : std::initializer_list<std::uint64_t>{0ull, 0xfcull, 0xfdull, 0xffffull, 0x10000ull, 0xffffffffull,
                          0x100000000ull, cenc::kMaxSafeInteger}) {
    Bytes out;
    cenc::Writer(out).uint(v);
    CHECK(out.size() == cenc::uint_size(v));
    cenc::Reader r(out);
    CHECK(r.uint() == v);
    CHECK((r.ok() && r.at_end()));
  }
}

TEST_CASE("reader errors are sticky and reads after an error are inert", "[unit][compact]") {
  const Bytes b = hx("fd01");
  cenc::Reader r(b);
  CHECK(r.uint() == 0);
  CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
  CHECK(r.u8() == 0);
  CHECK(r.buffer().empty());
  CHECK(r.remaining() == 0);
  CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("a buffer length larger than the input fails without allocating", "[unit][compact]") {
  const Bytes b = hx("fe00000010aabb");  // claims 256 MiB
  cenc::Reader r(b);
  CHECK(r.buffer().empty());
  CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("array counts are capped and checked against the bytes left", "[unit][compact]") {
  {
    const Bytes b = hx("fe01001000");  // 0x100001 elements
    cenc::Reader r(b);
    CHECK(r.array_count(0) == 0);
    CHECK(r.error() == make_error_code(WireErrc::array_too_long));
  }
  {
    const Bytes b = hx("03" "7f00000149c2" "7f00000149c2");  // 3 addresses, 2 present
    cenc::Reader r(b);
    CHECK(r.array_count(6) == 0);
    CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
  }
  {
    const Bytes b = hx("0100");
    cenc::Reader r(b);
    CHECK(r.array_count(1) == 1);
    CHECK(r.ok());
  }
}

TEST_CASE("uint_as rejects values that do not fit the field", "[unit][compact]") {
  const Bytes b = hx("fd0001");
  cenc::Reader r(b);
  CHECK(r.uint_as<std::uint8_t>() == 0);
  CHECK(r.error() == make_error_code(WireErrc::invalid_value));
}

TEST_CASE("ipv4 parsing is strict dotted-quad", "[unit][ipv4]") {
  CHECK(Ipv4Address::parse("127.0.0.1:49737")->port == 49737);
  CHECK(Ipv4Address::parse("1.2.3.4:0")->host_string() == "1.2.3.4");
  CHECK_FALSE(Ipv4Address::parse("1.2.3:80"));
  CHECK_FALSE(Ipv4Address::parse("1.2.3.256:80"));
  CHECK_FALSE(Ipv4Address::parse("1.2.3.4:65536"));
  CHECK_FALSE(Ipv4Address::parse("host:80"));
  CHECK_FALSE(Ipv4Address::parse("1.2.3.4"));
  CHECK_FALSE(Ipv4Address::parse("1.2.3.4:"));
  CHECK_FALSE(Ipv4Address::parse("01234.2.3.4:1"));
}

TEST_CASE("hex round-trips and rejects junk", "[unit][bytes]") {
  CHECK(to_hex(hx("00ff10AB")) == "00ff10ab");
  CHECK_FALSE(from_hex("abc"));
  CHECK_FALSE(from_hex("zz"));
  CHECK(fixed_from_hex<2>("0102"));
  CHECK_FALSE(fixed_from_hex<2>("010203"));
}
