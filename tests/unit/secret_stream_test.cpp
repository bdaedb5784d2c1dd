#include <catch2/catch.hpp>

#include <random>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/secret_stream.hpp"

using namespace hdht;
using namespace hdht::sstream;

namespace {

template <std::size_t N>
FixedBytes<N> filled(std::uint8_t b) {
  FixedBytes<N> k;
  k.fill(b);
  return k;
}

const Bytes32 kKey = filled<32>(0x11);
const Bytes64 kHash = filled<64>(0x22);

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// Header message + frames of `msgs`, as the initiator would send them.
Bytes make_stream(const std::vector<Bytes>& msgs, const Header& header = filled<24>(5)) {
  Encryptor enc(kKey, header);
  const auto hm = header_message(stream_id(kHash, true), header);
  Bytes out(hm.begin(), hm.end());
  for (const auto& m : msgs)
    REQUIRE(enc.append_frame(m, out));
  return out;
}

struct Fed {
  std::vector<Bytes> messages;
  std::error_code error;
  std::string message;
};

// Feeds `wire` to a responder-side receiver in the given chunk sizes (cycled).
Fed feed(const Bytes& wire, const std::vector<std::size_t>& sizes, bool filter_empty = false) {
  Receiver rx(kKey, stream_id(kHash, true), filter_empty);
  Fed out;
  std::size_t i = 0;
  for (std::size_t at = 0; at < wire.size();) {
    const std::size_t n = std::min(sizes[i++ % sizes.size()], wire.size() - at);
    ByteView chunk = ByteView(wire).subspan(at, n);
    at += n;
    for (;;) {
      auto m = rx.next(chunk);
      if (!m) {
        out.error = m.error();
        out.message = std::string(rx.error_message());
        return out;
      }
      if (!*m) break;
      out.messages.emplace_back((*m)->begin(), (*m)->end());
    }
    CHECK(chunk.empty());
  }
  return out;
}

const std::vector<Bytes> kMsgs = {text("hello"), {}, text("world!"), Bytes(70000, 0x5a), text("x")};

}  // namespace

TEST_CASE("secret stream: init_pull on a chosen header equals init_push", "[unit][crypto]") {
  crypto::init();
  Encryptor random(kKey);
  Encryptor pinned(kKey, random.header());
  for (const auto& m : kMsgs) {
    Bytes a, b;
    REQUIRE(random.append_frame(m, a));
    REQUIRE(pinned.append_frame(m, b));
    CHECK(a == b);
  }
  Encryptor other(kKey);
  CHECK(other.header() != random.header());
}

TEST_CASE("secret stream: frame layout, keepalive and in-place encryption", "[unit][crypto]") {
  crypto::init();
  const Header h = filled<24>(9);
  const auto hm = header_message(filled<32>(0xab), h);
  CHECK(to_hex(ByteView(hm).first(3)) == "380000");
  CHECK(hm[3] == 0xab);
  CHECK(hm[58] == 9);

  Encryptor a(kKey, h), b(kKey, h);
  Bytes ka;
  REQUIRE(a.append_keepalive(ka));
  CHECK(ka.size() == 20);
  CHECK(to_hex(ByteView(ka).first(3)) == "110000");

  // The reference encrypts in place with the plaintext at offset 4; the result must not change.
  const Bytes msg = text("in place please");
  Bytes expect;
  REQUIRE(b.append_keepalive(expect));  // keep both states in step
  expect.clear();
  Encryptor c(kKey, h);
  Bytes skip;
  REQUIRE(c.append_keepalive(skip));
  REQUIRE(c.append_frame(msg, expect));
  Bytes buf(frame_size(msg.size()));
  std::copy(msg.begin(), msg.end(), buf.begin() + 4);
  auto n = a.encrypt_frame(ByteView(buf).subspan(4, msg.size()), buf);
  REQUIRE(n);
  CHECK(*n == buf.size());
  CHECK(buf == expect);

  Bytes small(frame_size(msg.size()) - 1);
  CHECK(b.encrypt_frame(msg, small).error() == make_error_code(WireErrc::bad_length));
}

TEST_CASE("secret stream: oversized messages are refused", "[unit][crypto]") {
  crypto::init();
  Encryptor e(kKey, filled<24>(1));
  const Bytes huge(kMaxMessage + 1);
  Bytes out;
  CHECK(e.append_frame(huge, out).error() == make_error_code(WireErrc::message_too_large));
  CHECK(out.empty());
  FrameParser p(100);
  const Bytes prefix = {101, 0, 0};
  ByteView chunk(prefix);
  CHECK(p.next(chunk).error() == make_error_code(WireErrc::message_too_large));
  ByteView again(prefix);
  CHECK(p.next(again).error() == make_error_code(WireErrc::message_too_large));  // sticky
}

TEST_CASE("secret stream: any chunking yields the same messages", "[unit][crypto]") {
  crypto::init();
  const Bytes wire = make_stream(kMsgs);
  const Fed whole = feed(wire, {wire.size()});
  REQUIRE_FALSE(whole.error);
  CHECK(whole.messages == kMsgs);
  CHECK(feed(wire, {1}).messages == kMsgs);
  CHECK(feed(wire, {2, 3, 5, 7}).messages == kMsgs);

  std::mt19937 rng(12345);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::size_t> sizes;
    for (int i = 0; i < 20; ++i)
      sizes.push_back(1 + rng() % (round % 2 ? 64 : 9000));
    const Fed f = feed(wire, sizes);
    REQUIRE_FALSE(f.error);
    CHECK(f.messages == kMsgs);
  }

  // Keepalives are dropped when filtering, as hyperdht's streams do.
  std::vector<Bytes> no_empty = kMsgs;
  no_empty.erase(no_empty.begin() + 1);
  CHECK(feed(wire, {3}, true).messages == no_empty);
}

TEST_CASE("secret stream: the parser holds at most one partial frame", "[unit][crypto]") {
  FrameParser p;
  const Bytes part = {10, 0, 0, 1, 2, 3};
  ByteView c1(part);
  auto r = p.next(c1);
  REQUIRE(r);
  CHECK_FALSE(*r);
  CHECK(p.buffered() == 3);  // the body so far, not the declared length
  const Bytes rest = {4, 5, 6, 7, 8, 9, 10, 3, 0};
  ByteView c2(rest);
  r = p.next(c2);
  REQUIRE(r);
  REQUIRE(*r);
  CHECK(Bytes((*r)->begin(), (*r)->end()) == Bytes{1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
  CHECK(c2.size() == 2);  // the start of the next length prefix, not yet consumed
  r = p.next(c2);
  REQUIRE(r);
  CHECK_FALSE(*r);

  // A huge declared length is not allocated up front.
  FrameParser q;
  const Bytes big = {0xff, 0xff, 0xff, 1};
  ByteView c3(big);
  r = q.next(c3);
  REQUIRE(r);
  CHECK_FALSE(*r);
  CHECK(q.buffered() == 1);
}

TEST_CASE("secret stream: an empty body ending a chunk surfaces on the next call",
          "[unit][crypto]") {
  FrameParser p;
  const Bytes zero = {0, 0, 0};
  ByteView c(zero);
  auto r = p.next(c);
  REQUIRE(r);
  CHECK_FALSE(*r);
  ByteView none;
  r = p.next(none);
  REQUIRE(r);
  REQUIRE(*r);
  CHECK((*r)->empty());
}

TEST_CASE("secret stream: bad header messages", "[unit][crypto]") {
  crypto::init();
  const Bytes good = make_stream({text("a")});

  SECTION("wrong size") {
    for (std::uint8_t len : {std::uint8_t{55}, std::uint8_t{57}, std::uint8_t{0}}) {
      Bytes w = {len, 0, 0};
      w.insert(w.end(), good.begin() + 3, good.end());
      const Fed f = feed(w, {w.size()});
      CHECK(f.error == make_error_code(WireErrc::bad_length));
      CHECK(f.message == "Invalid header message received");
      CHECK(f.messages.empty());
    }
  }
  SECTION("wrong stream id") {
    Bytes w = good;
    w[3 + 31] ^= 1;
    const Fed f = feed(w, {1});
    CHECK(f.error == make_error_code(WireErrc::invalid_value));
    CHECK(f.message == "Invalid header received");
  }
  SECTION("the responder's own id is not accepted from the peer") {
    const Header h = filled<24>(5);
    const auto hm = header_message(stream_id(kHash, false), h);
    const Fed f = feed(Bytes(hm.begin(), hm.end()), {59});
    CHECK(f.error == make_error_code(WireErrc::invalid_value));
  }
  SECTION("a header from another key decrypts nothing") {
    Bytes w = good;
    w[3 + 32] ^= 1;  // the secretstream header itself
    const Fed f = feed(w, {7});
    CHECK(f.error == make_error_code(WireErrc::decrypt_failed));
  }
}

TEST_CASE("secret stream: bad, replayed and reordered frames", "[unit][crypto]") {
  crypto::init();
  const std::vector<Bytes> msgs = {text("one"), text("two"), text("three")};
  const Bytes wire = make_stream(msgs);
  // Frame boundaries: header 59, then 3 + 3 + 17, 3 + 3 + 17, 3 + 5 + 17.
  const std::size_t f1 = 59, f2 = f1 + 23, f3 = f2 + 23;
  const Bytes hdr(wire.begin(), wire.begin() + f1);
  const Bytes a(wire.begin() + f1, wire.begin() + f2);
  const Bytes b(wire.begin() + f2, wire.begin() + f3);
  const Bytes c(wire.begin() + f3, wire.end());
  const auto cat = [&](std::initializer_list<const Bytes*> parts) {
    Bytes out = hdr;
    for (const Bytes* p : parts)
      out.insert(out.end(), p->begin(), p->end());
    return out;
  };

  SECTION("replayed") {
    const Fed f = feed(cat({&a, &a}), {5});
    CHECK(f.messages == std::vector<Bytes>{msgs[0]});
    CHECK(f.error == make_error_code(WireErrc::decrypt_failed));
  }
  SECTION("reordered") {
    const Fed f = feed(cat({&a, &c, &b}), {100});
    CHECK(f.messages == std::vector<Bytes>{msgs[0]});
    CHECK(f.error == make_error_code(WireErrc::decrypt_failed));
  }
  SECTION("dropped") {
    const Fed f = feed(cat({&b}), {1});
    CHECK(f.messages.empty());
    CHECK(f.error == make_error_code(WireErrc::decrypt_failed));
  }
  SECTION("tampered, anywhere in the body") {
    for (std::size_t i = 3; i < a.size(); ++i) {
      Bytes t = a;
      t[i] ^= 0x20;
      const Fed f = feed(cat({&t}), {9});
      CHECK(f.error == make_error_code(WireErrc::decrypt_failed));
      CHECK(f.message == "Decryption failed");
    }
  }
  SECTION("body shorter than tag + MAC") {
    Bytes shortf = {16, 0, 0};
    shortf.insert(shortf.end(), 16, 0);
    const Fed f = feed(cat({&a, &shortf, &b}), {4});
    CHECK(f.messages == std::vector<Bytes>{msgs[0]});
    CHECK(f.error == make_error_code(WireErrc::bad_length));
    CHECK(f.message == "Invalid message received");
  }
  SECTION("errors are sticky") {
    Bytes t = a;
    t[10] ^= 1;
    Receiver rx(kKey, stream_id(kHash, true), false);
    const Bytes bad = cat({&t});
    ByteView chunk(bad);
    while (true) {
      auto m = rx.next(chunk);
      if (!m) break;
      REQUIRE(*m);
    }
    ByteView more(b);
    CHECK(rx.next(more).error() == make_error_code(WireErrc::decrypt_failed));
  }
  SECTION("truncated stream: no error, no message") {
    const Bytes w = cat({&a});
    const Fed f = feed(Bytes(w.begin(), w.end() - 1), {6});
    CHECK_FALSE(f.error);
    CHECK(f.messages.empty());
  }
}

TEST_CASE("secret stream: decryptor misuse", "[unit][crypto]") {
  crypto::init();
  Decryptor d(kKey);
  Bytes out(10);
  CHECK(d.decrypt(Bytes(20), out).error() == make_error_code(WireErrc::handshake_state));
  d.init(filled<24>(5));
  CHECK(d.decrypt(Bytes(16), out).error() == make_error_code(WireErrc::bad_length));
  CHECK(d.decrypt(Bytes(30), out).error() == make_error_code(WireErrc::bad_length));  // out short
}

TEST_CASE("unordered messages: envelope, counter and wrap", "[unit][crypto]") {
  crypto::init();
  const Bytes32 key = send_key(kHash, true);
  CHECK(key != send_key(kHash, false));

  Counter start{};
  start[0] = 0xff;
  UnorderedSender tx(key, start, start);
  auto e1 = tx.seal(text("hi"));
  REQUIRE(e1);
  CHECK(to_hex(tx.counter()) == "0001000000000000");  // little-endian carry
  CHECK(to_hex(ByteView(*e1).first(8)) == "0001000000000000");
  CHECK(e1->size() == 8 + 16 + 2);
  auto back = open_unordered(*e1, key);
  REQUIRE(back);
  CHECK(*back == text("hi"));
  CHECK(open_unordered(*e1, send_key(kHash, false)).error() ==
        make_error_code(WireErrc::decrypt_failed));

  auto empty = tx.seal({});
  REQUIRE(empty);
  CHECK(empty->size() == 24);
  CHECK(open_unordered(*empty, key)->empty());
  CHECK(open_unordered(ByteView(*empty).first(23), key).error() ==
        make_error_code(WireErrc::bad_length));
  for (std::size_t i = 0; i < e1->size(); ++i) {
    Bytes t = *e1;
    t[i] ^= 4;
    CHECK(open_unordered(t, key).error() == make_error_code(WireErrc::decrypt_failed));
  }

  // Two sends left before the counter comes back to where it started.
  Counter last;
  last.fill(0xff);
  last[0] = 0xfe;
  UnorderedSender w(key, last, Counter{});
  CHECK(w.seal(text("a")));
  CHECK(w.seal(text("b")).error() == make_error_code(WireErrc::nonce_exhausted));
  CHECK(w.seal(text("c")).error() == make_error_code(WireErrc::nonce_exhausted));

  UnorderedSender r1(key), r2(key);
  CHECK(r1.counter() != r2.counter());  // random starts
}
