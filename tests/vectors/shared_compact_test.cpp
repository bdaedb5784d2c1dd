// ../shared/spec/vectors/dht-rpc.json "compactEncoding": the primitives, independently produced.
#include <catch2/catch.hpp>

#include "protocol/compact.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using nlohmann::json;
using testing::hx;

namespace {
Bytes encode(auto&& fn) {
  Bytes out;
  cenc::Writer w(out);
  fn(w);
  return out;
}
}  // namespace

TEST_CASE("shared vectors: compact-encoding primitives", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("compactEncoding");

  for (const auto& c : v.at("uint")) {
    const auto value = c.at("value").get<std::uint64_t>();
    CHECK(to_hex(encode([&](auto& w) { w.uint(value); })) == c.at("hex"));
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(r.uint() == value);
    CHECK((r.ok() && r.at_end()));
  }
  for (const auto& c : v.at("uintNonCanonicalDecode")) {
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(r.uint() == c.at("decodes").get<std::uint64_t>());
    CHECK(r.ok());
  }
  for (const auto& c : v.at("uintDecodeErrors")) {
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    (void)r.uint();
    const auto expected =
        c.at("error") == "Out of bounds" ? WireErrc::out_of_bounds : WireErrc::integer_too_large;
    CHECK(r.error() == make_error_code(expected));
  }
  for (const auto& c : v.at("uint16")) {
    const auto value = c.at("value").get<std::uint16_t>();
    CHECK(to_hex(encode([&](auto& w) { w.u16(value); })) == c.at("hex"));
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(r.u16() == value);
  }
  for (const auto& c : v.at("uint32")) {
    const auto value = c.at("value").get<std::uint32_t>();
    CHECK(to_hex(encode([&](auto& w) { w.u32(value); })) == c.at("hex"));
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(r.u32() == value);
  }
  for (const auto& c : v.at("buffer")) {
    const std::size_t n = c.at("length");
    Bytes content(n);
    for (std::size_t i = 0; i < n; ++i)
      content[i] = static_cast<std::uint8_t>(i & 0xff);
    const Bytes enc = encode([&](auto& w) { w.buffer(content); });
    CHECK(enc.size() == c.at("encodedLength").get<std::size_t>());
    const std::string prefix = c.at("prefixHex");
    CHECK(to_hex(enc).substr(0, prefix.size()) == prefix);
    if (c.contains("hex")) CHECK(to_hex(enc) == c.at("hex"));
    cenc::Reader r(enc);
    CHECK(to_bytes(r.buffer()) == content);
    CHECK((r.ok() && r.at_end()));
  }
  for (const auto& c : v.at("bufferDecode")) {
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    const auto got = r.buffer();
    CHECK(r.ok() == c.at("ok").get<bool>());
    if (c.at("ok")) {
      CHECK(to_hex(got) == c.at("value"));
      CHECK(r.position() == c.at("consumed").get<std::size_t>());
    } else {
      CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
    }
  }
  for (const auto& c : v.at("string")) {
    if (!c.contains("hex")) continue;  // described, not spelled out
    const std::string s = c.at("value");
    CHECK(to_hex(encode([&](auto& w) { w.string(s); })) == c.at("hex"));
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(r.string() == s);
  }
  {
    const auto& c = v.at("fixed32");
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    CHECK(to_hex(r.fixed<32>()) == c.at("value"));
  }
  for (const auto& c : v.at("ipv4Address")) {
    const auto a = Ipv4Address::parse(c.at("host").get<std::string>() + ":" +
                                      std::to_string(c.at("port").get<int>()));
    REQUIRE(a);
    CHECK(to_hex(encode([&](auto& w) { w.ipv4_address(*a); })) == c.at("hex"));
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    const auto back = r.ipv4_address();
    CHECK(back.host_string() == c.at("host"));
    CHECK(back.port == c.at("port").get<int>());
  }
  for (const auto& c : v.at("ipv4AddressArray")) {
    const Bytes in = hx(c.at("hex"));
    cenc::Reader r(in);
    const std::size_t n = r.array_count(6);
    REQUIRE(n == c.at("value").size());
    for (std::size_t i = 0; i < n; ++i) {
      const auto a = r.ipv4_address();
      CHECK(a.host_string() == c.at("value")[i].at("host"));
      CHECK(a.port == c.at("value")[i].at("port").get<int>());
    }
    CHECK((r.ok() && r.at_end()));
  }
}
