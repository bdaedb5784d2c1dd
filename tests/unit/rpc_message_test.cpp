#include <catch2/catch.hpp>
#include <stdexcept>

#include "protocol/compact.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "protocol/rpc_token.hpp"

using namespace hdht;
using namespace hdht::rpc;

namespace {

Bytes hx(std::string_view s) {
  return *from_hex(s);
}
Bytes32 filled(std::uint8_t b) {
  Bytes32 out{};
  out.fill(b);
  return out;
}
const Ipv4Address kTo{{10, 2, 2, 2}, 49737};
constexpr std::string_view kToHex = "0a02020249c2";

Request request_with(std::uint32_t mask) {
  Request m;
  m.tid = 0xbeef;
  m.to = kTo;
  if (mask & request_flag::kId) m.id = filled(0x11);
  if (mask & request_flag::kToken) m.token = filled(0x22);
  m.internal = (mask & request_flag::kInternal) != 0;
  m.command = 300;
  if (mask & request_flag::kTarget) m.target = filled(0x33);
  if (mask & request_flag::kValue) m.value = Bytes{1, 2, 3};
  return m;
}

Response response_with(std::uint32_t mask) {
  Response m;
  m.tid = 7;
  m.to = kTo;
  if (mask & response_flag::kId) m.id = filled(0x44);
  if (mask & response_flag::kToken) m.token = filled(0x55);
  if (mask & response_flag::kCloserNodes)
    m.closer_nodes = {{{1, 2, 3, 4}, 1}, {{5, 6, 7, 8}, 65535}};
  if (mask & response_flag::kError) m.error = error_code::kSeqTooLow;
  if (mask & response_flag::kValue) m.value = Bytes(300, 0xab);
  return m;
}

template <class T>
std::error_code err(const Result<T>& r) {
  return r.error();
}
std::error_code ec(WireErrc e) {
  return make_error_code(e);
}

Bytes req_bytes(std::string_view flags_hex, std::string_view rest) {
  return hx(std::string("03") + std::string(flags_hex) + "3412" + std::string(kToHex) +
            std::string(rest));
}
Bytes res_bytes(std::string_view flags_hex, std::string_view rest) {
  return hx(std::string("13") + std::string(flags_hex) + "3412" + std::string(kToHex) +
            std::string(rest));
}

}  // namespace

TEST_CASE("rpc constants match lib/io.js, commands.js and errors.js", "[unit][rpc]") {
  CHECK(kRequestType == 0x03);
  CHECK(kResponseType == 0x13);
  CHECK(command::kPing == 0);
  CHECK(command::kPingNat == 1);
  CHECK(command::kFindNode == 2);
  CHECK(command::kDownHint == 3);
  CHECK(command::kDelayedPing == 4);
  CHECK(error_code::kUnknownCommand == 1);
  CHECK(error_code::kInvalidToken == 2);
  CHECK(error_code::kSeqReused == 16);
  CHECK(error_code::kSeqTooLow == 17);
}

TEST_CASE("requests round-trip under every flag combination", "[unit][rpc]") {
  for (std::uint32_t mask = 0; mask < 32; ++mask) {
    INFO("mask " << mask);
    const Request m = request_with(mask);
    const Bytes b = encode(m);
    CHECK(b.size() == encoded_size(m));
    CHECK(b[0] == 0x03);
    CHECK(b[1] == mask);  // flags are one raw byte holding exactly the present fields
    auto d = decode_request(b);
    REQUIRE(d);
    CHECK(*d == m);
    auto any = decode_message(b);
    REQUIRE(any);
    REQUIRE(std::holds_alternative<Request>(*any));
    CHECK(std::get<Request>(*any) == m);
  }
}

TEST_CASE("responses round-trip under every flag combination", "[unit][rpc]") {
  for (std::uint32_t mask = 0; mask < 32; ++mask) {
    INFO("mask " << mask);
    const Response m = response_with(mask);
    const Bytes b = encode(m);
    CHECK(b.size() == encoded_size(m));
    CHECK(b[0] == 0x13);
    CHECK(b[1] == mask);
    auto d = decode_response(b);
    REQUIRE(d);
    CHECK(*d == m);
    auto any = decode_message(b);
    REQUIRE(any);
    REQUIRE(std::holds_alternative<Response>(*any));
    CHECK(std::get<Response>(*any) == m);
  }
}

TEST_CASE("the minimal messages have the spec's sizes and bytes", "[unit][rpc]") {
  Request ping;
  ping.tid = 0x1234;
  ping.to = kTo;
  ping.internal = true;
  CHECK(to_hex(encode(ping)) == "030434120a02020249c200");
  Response pong;
  pong.tid = 0x1234;
  pong.to = kTo;
  CHECK(to_hex(encode(pong)) == "130034120a02020249c2");
}

TEST_CASE("encode_into appends after existing bytes", "[unit][rpc]") {
  Bytes out{0xaa, 0xbb};
  const Request m = request_with(31);
  encode_into(out, m);
  REQUIRE(out.size() == 2 + encoded_size(m));
  CHECK(out[0] == 0xaa);
  CHECK(out[1] == 0xbb);
  CHECK(Bytes(out.begin() + 2, out.end()) == encode(m));
  const Response r = response_with(31);
  encode_into(out, r);
  CHECK(out.size() == 2 + encoded_size(m) + encoded_size(r));
}

TEST_CASE("an empty value is present, an empty closer list is absent", "[unit][rpc]") {
  Request m = request_with(0);
  m.value = Bytes{};
  const Bytes b = encode(m);
  CHECK(b[1] == request_flag::kValue);
  CHECK(b.back() == 0x00);
  auto d = decode_request(b);
  REQUIRE(d);
  REQUIRE(d->value.has_value());
  CHECK(d->value->empty());

  Response r = response_with(0);
  r.value = Bytes{};
  CHECK(encode(r)[1] == response_flag::kValue);
  // A flagged empty closerNodes list is accepted and means "none"; the re-encoding omits it.
  auto e = decode_response(res_bytes("04", "00"));
  REQUIRE(e);
  CHECK(e->closer_nodes.empty());
  CHECK(to_hex(encode(*e)) == "130034120a02020249c2");
}

TEST_CASE("every truncation of a full message is dropped as out of bounds", "[unit][rpc]") {
  const Bytes req = encode(request_with(31));
  for (std::size_t n = 0; n < req.size(); ++n) {
    INFO("request prefix " << n);
    const ByteView prefix(req.data(), n);
    CHECK(err(decode_request(prefix)) == ec(WireErrc::out_of_bounds));
    CHECK(err(decode_message(prefix)) == ec(WireErrc::out_of_bounds));
  }
  CHECK(decode_request(req));
  const Bytes res = encode(response_with(31));
  for (std::size_t n = 0; n < res.size(); ++n) {
    INFO("response prefix " << n);
    const ByteView prefix(res.data(), n);
    CHECK(err(decode_response(prefix)) == ec(WireErrc::out_of_bounds));
    CHECK(err(decode_message(prefix)) == ec(WireErrc::out_of_bounds));
  }
  CHECK(decode_response(res));
}

TEST_CASE("datagrams under 2 bytes are dropped before the type byte is read", "[unit][rpc]") {
  for (const char* h : {"", "03", "13", "23", "ff"}) {
    INFO(h);
    const Bytes b = hx(h);
    CHECK(err(decode_message(b)) == ec(WireErrc::out_of_bounds));
    CHECK(err(decode_request(b)) == ec(WireErrc::out_of_bounds));
    CHECK(err(decode_response(b)) == ec(WireErrc::out_of_bounds));
  }
}

TEST_CASE("only 0x03 and 0x13 are dht-rpc type bytes", "[unit][rpc]") {
  Bytes b = encode(request_with(0));  // also a valid response: flags 0, command as trailing bytes
  for (int t = 0; t < 256; ++t) {
    b[0] = static_cast<std::uint8_t>(t);
    INFO("type " << t);
    if (t == 0x03 || t == 0x13) {
      CHECK(decode_message(b));
    } else {
      CHECK(err(decode_message(b)) == ec(WireErrc::bad_type));
    }
  }
  const Bytes res = encode(response_with(0));
  CHECK(err(decode_request(res)) == ec(WireErrc::bad_type));
  const Bytes req = encode(request_with(0));
  CHECK(err(decode_response(req)) == ec(WireErrc::bad_type));
}

TEST_CASE("flags are a varint whose unknown bits are ignored", "[unit][rpc]") {
  // bits 5-7 set around the internal bit
  auto a = decode_request(req_bytes("e4", "00"));
  REQUIRE(a);
  CHECK(a->internal);
  CHECK_FALSE(a->id);
  CHECK(to_hex(encode(*a)) == "030434120a02020249c200");
  // 3-byte varint 0x0104: bit 8 unknown, bit 2 internal
  auto b = decode_request(req_bytes("fd0401", "00"));
  REQUIRE(b);
  CHECK(b->internal);
  // 2^32 + 4: JS `&` sees only the low 32 bits
  auto c = decode_request(req_bytes("ff0400000001000000", "00"));
  REQUIRE(c);
  CHECK(c->internal);
  // 2^32 + 5: the id bit is set in the low word, so an id must follow
  CHECK(err(decode_request(req_bytes("ff0500000001000000", "00"))) == ec(WireErrc::out_of_bounds));
  // above 2^53-1: compact-encoding throws
  CHECK(err(decode_request(req_bytes("ff0000000000002000", "00"))) ==
        ec(WireErrc::integer_too_large));
  CHECK(err(decode_response(res_bytes("ffffffffffffffffff", ""))) ==
        ec(WireErrc::integer_too_large));
  auto d = decode_response(res_bytes("e3", std::string(128, 'a')));
  REQUIRE(d);
  CHECK(d->id == filled(0xaa));
  CHECK(d->token == filled(0xaa));
  CHECK(d->closer_nodes.empty());
}

TEST_CASE("commands span the varint size classes up to 2^53-1", "[unit][rpc]") {
  for (std::uint64_t c : {std::uint64_t{0}, std::uint64_t{0xfc}, std::uint64_t{0xfd},
                          std::uint64_t{0xffff}, std::uint64_t{0x10000}, std::uint64_t{0xffffffff},
                          std::uint64_t{0x100000000}, cenc::kMaxSafeInteger}) {
    Request m = request_with(0);
    m.command = c;
    auto d = decode_request(encode(m));
    REQUIRE(d);
    CHECK(d->command == c);
  }
  auto big = decode_request(req_bytes("00", "ffffffffffffff1f00"));
  REQUIRE(big);
  CHECK(big->command == cenc::kMaxSafeInteger);
  CHECK(err(decode_request(req_bytes("00", "ff0000000000002000"))) ==
        ec(WireErrc::integer_too_large));
  CHECK(err(decode_request(req_bytes("00", "ffffffffffffffffff"))) ==
        ec(WireErrc::integer_too_large));
  // non-minimal forms decode; re-encoding is minimal
  auto nm = decode_request(req_bytes("00", "fe01000000"));
  REQUIRE(nm);
  CHECK(nm->command == 1);
  CHECK(to_hex(encode(*nm)) == "030034120a02020249c201");
}

TEST_CASE("encoding numbers JS cannot represent is a programming error", "[unit][rpc]") {
  Request m = request_with(0);
  m.command = cenc::kMaxSafeInteger + 1;
  CHECK_THROWS_AS(encode(m), std::invalid_argument);
  Response r = response_with(0);
  r.error = cenc::kMaxSafeInteger + 1;
  CHECK_THROWS_AS(encode(r), std::invalid_argument);
}

TEST_CASE("value lengths past the end are dropped", "[unit][rpc]") {
  CHECK(err(decode_request(req_bytes("10",
                                     "00"
                                     "05aabbcc"))) == ec(WireErrc::out_of_bounds));
  CHECK(err(decode_request(req_bytes("10", "00"))) == ec(WireErrc::out_of_bounds));
  CHECK(err(decode_request(req_bytes("10",
                                     "00"
                                     "feffffffff"))) == ec(WireErrc::out_of_bounds));
  CHECK(err(decode_request(req_bytes("10",
                                     "00"
                                     "ff0000000000002000"))) == ec(WireErrc::integer_too_large));
  CHECK(err(decode_response(res_bytes("10", "fd0001"))) == ec(WireErrc::out_of_bounds));
}

TEST_CASE("closer node lists are bounded by the bytes left and by 0x100000", "[unit][rpc]") {
  CHECK(err(decode_response(res_bytes("04", "02" + std::string(kToHex)))) ==
        ec(WireErrc::out_of_bounds));
  CHECK(err(decode_response(res_bytes("04", "fe01001000"))) == ec(WireErrc::array_too_long));
  CHECK(err(decode_response(res_bytes("04", "fe00001000"))) == ec(WireErrc::out_of_bounds));
  CHECK(err(decode_response(res_bytes("04", ""))) == ec(WireErrc::out_of_bounds));
  auto one = decode_response(res_bytes("04", "01" + std::string(kToHex)));
  REQUIRE(one);
  REQUIRE(one->closer_nodes.size() == 1);
  CHECK(one->closer_nodes[0] == kTo);
}

TEST_CASE("a flagged zero error decodes as no error", "[unit][rpc]") {
  auto d = decode_response(res_bytes("08", "00"));
  REQUIRE(d);
  CHECK(d->error == 0);
  CHECK(to_hex(encode(*d)) == "130034120a02020249c2");
  CHECK(err(decode_response(res_bytes("08", ""))) == ec(WireErrc::out_of_bounds));
  auto e = decode_response(res_bytes("08", "fd1027"));
  REQUIRE(e);
  CHECK(e->error == 10000);
}

TEST_CASE("trailing bytes after the last field are ignored", "[unit][rpc]") {
  auto a = decode_request(req_bytes("04", "00deadbeef"));
  REQUIRE(a);
  CHECK(to_hex(encode(*a)) == "030434120a02020249c200");
  auto b = decode_response(res_bytes("00", "ff"));
  REQUIRE(b);
  CHECK(to_hex(encode(*b)) == "130034120a02020249c2");
}

TEST_CASE("node ids hash the 6-byte address with the port little-endian", "[unit][rpc]") {
  CHECK(to_hex(node_id({{127, 0, 0, 1}, 49737})) ==
        "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e");
  const Ipv4Address a{{10, 1, 1, 1}, 49737};
  const Bytes32 id = node_id(a);
  CHECK(verified_id(id, a) == id);
  CHECK(verified_id(id, Ipv4Address{{10, 1, 1, 1}, 49738}) == std::nullopt);
  CHECK(verified_id(std::nullopt, a) == std::nullopt);
}

TEST_CASE("xor_compare orders by distance to the target", "[unit][rpc]") {
  const Bytes32 t = filled(0xf0);
  Bytes32 a{};
  Bytes32 b{};
  a[0] = 0xf1;
  b[0] = 0xe0;
  CHECK(xor_compare(t, a, b) < 0);
  CHECK(xor_compare(t, b, a) > 0);
  CHECK(xor_compare(t, a, a) == 0);
  // only the first differing byte decides
  Bytes32 c = a;
  c[31] = 0xff;
  CHECK(xor_compare(t, a, c) == (0xf0 ^ 0x00) - (0xf0 ^ 0xff));
}

TEST_CASE("common_prefix_bits counts shared leading bits", "[unit][rpc]") {
  const Bytes32 z{};
  CHECK(common_prefix_bits(z, z) == 256);
  Bytes32 x{};
  x[0] = 0x80;
  CHECK(common_prefix_bits(z, x) == 0);
  x[0] = 0x01;
  CHECK(common_prefix_bits(z, x) == 7);
  Bytes32 y{};
  y[31] = 0x01;
  CHECK(common_prefix_bits(z, y) == 255);
  y[12] = 0x10;
  CHECK(common_prefix_bits(y, z) == 99);
}

TEST_CASE("tokens are minted with secret[1] and accepted for one extra rotation", "[unit][rpc]") {
  TokenSecrets s(filled(0x11), filled(0x22));
  const Bytes32 t = s.issue("1.2.3.4");
  CHECK(to_hex(t) == "f4152bb6169cb655c021ee2f12b6412a23a596bf1b1375ac8b05add1322c1d08");
  CHECK(t == rpc_token("1.2.3.4", filled(0x22)));
  CHECK(s.accepts("1.2.3.4", t));
  CHECK(s.accepts("1.2.3.4", rpc_token("1.2.3.4", filled(0x11))));
  CHECK_FALSE(s.accepts("1.2.3.5", t));
  CHECK_FALSE(s.accepts("1.2.3.4", filled(0)));

  s.rotate();
  CHECK(s.secret(0) == filled(0x22));
  CHECK(to_hex(s.secret(1)) == "d4ffaeeac45aa41825e0bc3f875570af061acbf0b950ad752ff0f9463fe13ad5");
  CHECK(s.accepts("1.2.3.4", t));
  s.rotate();
  CHECK_FALSE(s.accepts("1.2.3.4", t));

  const TokenSecrets r1 = TokenSecrets::random();
  const TokenSecrets r2 = TokenSecrets::random();
  CHECK_FALSE(r1 == r2);
}
