// Protomux frames and blind-relay messages: layouts from protomux 3.12.1 / blind-relay 1.6.1,
// truncations, batch walking (channel switches, clamped lengths, nested batches).
#include <catch2/catch.hpp>

#include "protocol/errors.hpp"
#include "protocol/protomux.hpp"

using namespace hdht;
using namespace hdht::protomux;

namespace {

Bytes hx(std::string_view s) {
  return *from_hex(s);
}
const std::error_code kOob = make_error_code(WireErrc::out_of_bounds);

std::vector<std::pair<std::uint64_t, std::string>> walk(const Bytes& payload, std::error_code& ec) {
  std::vector<std::pair<std::uint64_t, std::string>> out;
  BatchReader b(payload);
  BatchEntry e;
  for (;;) {
    auto more = b.next(e);
    if (!more) {
      ec = more.error();
      return out;
    }
    if (!*more) return out;
    out.emplace_back(e.channel, to_hex(e.message));
  }
}

}  // namespace

TEST_CASE("protomux: open frame layout (spec example)", "[unit][protomux]") {
  const Bytes id(32, 0xab);
  Open o;
  o.local_id = 1;
  o.protocol = "blind-relay";
  o.id = ByteView(id);
  Bytes out;
  encode_open(out, o);
  CHECK(to_hex(out) == "0001010b" + to_hex(as_bytes("blind-relay")) + "20" + to_hex(id));

  auto f = decode_frame(out);
  REQUIRE(f);
  CHECK(f->channel == 0);
  CHECK(f->type == kOpen);
  auto back = decode_open(f->payload);
  REQUIRE(back);
  CHECK(back->local_id == 1);
  CHECK(back->protocol == "blind-relay");
  REQUIRE(back->id);
  CHECK(to_hex(*back->id) == to_hex(id));
  CHECK(back->handshake.empty());
  CHECK(validate_frame(out));

  // no id: a zero length, decoded as none; a handshake is whatever follows
  Bytes out2;
  o.id.reset();
  const Bytes hs = hx("c0ffee");
  o.handshake = hs;
  encode_open(out2, o);
  CHECK(to_hex(out2) == "0001010b" + to_hex(as_bytes("blind-relay")) + "00c0ffee");
  auto back2 = decode_open(decode_frame(out2)->payload);
  REQUIRE(back2);
  CHECK_FALSE(back2->id);
  CHECK(to_hex(back2->handshake) == "c0ffee");
}

TEST_CASE("protomux: truncated frames and control payloads", "[unit][protomux]") {
  CHECK(decode_frame({}).error() == kOob);
  CHECK(decode_frame(hx("01")).error() == kOob);    // channel without type
  CHECK(decode_frame(hx("fd01")).error() == kOob);  // truncated varint channel
  CHECK(decode_frame(hx("01fd")).error() == kOob);  // truncated varint type
  CHECK(decode_frame(hx("0100")));                  // empty payload is fine
  CHECK(decode_frame(hx("ff0000000000002000")).error() ==
        make_error_code(WireErrc::integer_too_large));  // channel > 2^53-1

  Bytes open;
  Open o;
  o.local_id = 300;
  o.protocol = "p";
  const Bytes id = hx("0102");
  o.id = ByteView(id);
  encode_open(open, o);  // 00 01 fd2c01 01 70 02 0102
  for (std::size_t n = 2; n < open.size(); ++n) {
    CAPTURE(n);
    const ByteView cut(open.data(), n);
    CHECK(decode_open(cut.subspan(2)).error() == kOob);
    CHECK(validate_frame(cut).error() == kOob);
  }
  CHECK(decode_reject({}).error() == kOob);
  CHECK(decode_close(hx("fe0102")).error() == kOob);
  CHECK(*decode_reject(hx("05ffff")) == 5);  // trailing bytes ignored, as in protomux
  CHECK(validate_frame(hx("0002")).error() == kOob);
  CHECK(validate_frame(hx("0003")).error() == kOob);
  CHECK(validate_frame(hx("0009")));  // unknown control types are ignored
  CHECK(validate_frame(hx("0701")));  // other channels: only the type is checked
}

TEST_CASE("protomux: reject/close/message encoders", "[unit][protomux]") {
  Bytes out;
  encode_reject(out, 3);
  CHECK(to_hex(out) == "000203");
  out.clear();
  encode_close(out, 0x1234);
  CHECK(to_hex(out) == "0003fd3412");
  out.clear();
  encode_message(out, 1, 0, hx("aabb"));
  CHECK(to_hex(out) == "0100aabb");
}

TEST_CASE("protomux: batch walking", "[unit][protomux]") {
  std::error_code ec;
  SECTION("writer output: channel switch only on change") {
    BatchWriter w;
    CHECK(w.empty());
    w.add(1, 0, hx("aa"));
    w.add(1, 1, hx(""));
    w.add(2, 5, hx("bbcc"));
    w.add(0, kClose, hx("01"));
    Bytes out;
    w.finish(out);
    CHECK(to_hex(out) ==
          "0000"
          "01"
          "0200aa"
          "0101"
          "0002"
          "0305bbcc"
          "0000"
          "020301");
    CHECK(w.empty());
    auto f = decode_frame(out);
    REQUIRE(f);
    const auto entries = walk(to_bytes(f->payload), ec);
    CHECK_FALSE(ec);
    REQUIRE(entries.size() == 4);
    CHECK(entries[0] == std::pair<std::uint64_t, std::string>{1, "00aa"});
    CHECK(entries[2] == std::pair<std::uint64_t, std::string>{2, "05bbcc"});
    CHECK(entries[3] == std::pair<std::uint64_t, std::string>{0, "0301"});
    CHECK(validate_frame(out));
    Bytes none;
    w.finish(none);
    CHECK(none.empty());  // protomux never sends an empty batch
  }
  SECTION("len 0 switches channel, even to the same one and at the end") {
    const auto entries = walk(hx("01"
                                 "00"
                                 "07"
                                 "0201aa"
                                 "00"
                                 "07"
                                 "00"
                                 "09"),
                              ec);
    CHECK_FALSE(ec);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].first == 7);
  }
  SECTION("a channel switch at the very end without a channel is truncated") {
    walk(hx("01"
            "0100"
            "00"),
         ec);
    CHECK(ec == kOob);
  }
  SECTION("a length past the end is clamped, not an error") {
    const auto entries = walk(hx("01"
                                 "0a"
                                 "0203"),
                              ec);
    CHECK_FALSE(ec);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].second == "0203");
    CHECK(
        validate_frame(hx("0000"
                          "01"
                          "0a"
                          "0203")));
  }
  SECTION("missing first channel / truncated length") {
    walk({}, ec);
    CHECK(ec == kOob);
    walk(hx("01"
            "fd01"),
         ec);
    CHECK(ec == kOob);
    CHECK(validate_frame(hx("0000")).error() == kOob);
  }
  SECTION("an entry whose clamped message has no type byte fails validation") {
    // len 2 but only the type's varint prefix is there
    CHECK(validate_frame(hx("0000"
                            "01"
                            "02"
                            "fd"))
              .error() == kOob);
  }
  SECTION("empty batch (no entries) is accepted") {
    CHECK(walk(hx("05"), ec).empty());
    CHECK_FALSE(ec);
    CHECK(validate_frame(hx("000005")));
  }
  SECTION("nested batches are validated, including truncation deep inside") {
    // outer batch on channel 0: one entry = (type 0 batch, channel 1, entry len 1 type 4)
    CHECK(
        validate_frame(hx("0000"
                          "00"
                          "04"
                          "00"
                          "01"
                          "01"
                          "04")));
    // inner entry is an open whose protocol string runs past the entry's end
    CHECK(validate_frame(hx("0000"
                            "00"
                            "06"
                            "00"
                            "00"
                            "04"
                            "01"
                            "01"
                            "05"
                            "6162"))
              .error() == kOob);
    // inner batch lacks its channel
    CHECK(validate_frame(hx("0000"
                            "00"
                            "01"
                            "00"))
              .error() == kOob);
    // inner reject truncated by its entry length although bytes follow in the outer frame
    CHECK(validate_frame(hx("0000"
                            "00"
                            "01"
                            "02"
                            "fd0100"))
              .error() == kOob);
  }
  SECTION("nesting depth is capped") {
    // Each level: entry len, type 0 (batch), channel 0. Build from the inside out.
    Bytes inner = hx("00");  // innermost batch: channel 0, no entries
    for (int depth = 0; depth < kMaxBatchDepth + 2; ++depth) {
      Bytes next = hx("00");  // channel 0
      cenc::Writer w(next);
      w.uint(1 + inner.size());
      w.u8(0);  // type batch
      w.raw(inner);
      inner = std::move(next);
    }
    Bytes frame = hx("0000");
    frame.insert(frame.end(), inner.begin(), inner.end());
    CHECK(validate_frame(frame).error() == make_error_code(WireErrc::array_too_long));
  }
}

TEST_CASE("blind-relay: pair and unpair", "[unit][protomux]") {
  RelayPair p;
  p.is_initiator = true;
  p.token.fill(0x11);
  p.id = 0xdeadbeef;
  p.seq = 0;
  Bytes out;
  encode_relay_pair(out, p);
  CHECK(to_hex(out) == "01" + std::string(64, '1') +
                           "feefbeadde"
                           "00");
  auto back = decode_relay_pair(out);
  REQUIRE(back);
  CHECK(*back == p);
  for (std::size_t n = 0; n < out.size(); ++n) {
    CAPTURE(n);
    CHECK(decode_relay_pair(ByteView(out.data(), n)).error() == kOob);
  }
  // other flag bits are ignored; wide bitfield forms are accepted
  Bytes wide = out;
  wide[0] = 0x7e;
  CHECK_FALSE(decode_relay_pair(wide)->is_initiator);
  wide = hx("fd0100");
  wide.insert(wide.end(), out.begin() + 1, out.end());
  REQUIRE(decode_relay_pair(wide));
  CHECK(decode_relay_pair(wide)->is_initiator);
  CHECK(decode_relay_pair(hx("fe01")).error() == kOob);

  RelayUnpair u;
  u.token.fill(0x22);
  out.clear();
  encode_relay_unpair(out, u);
  CHECK(to_hex(out) == "00" + std::string(64, '2'));
  REQUIRE(decode_relay_unpair(out));
  CHECK(*decode_relay_unpair(out) == u);
  CHECK(decode_relay_unpair(ByteView(out.data(), 32)).error() == kOob);
}
