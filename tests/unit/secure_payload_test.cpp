#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/secure_payload.hpp"

using namespace hdht;

namespace {
Bytes32 filled(std::uint8_t b) {
  Bytes32 k;
  k.fill(b);
  return k;
}
}  // namespace

TEST_CASE("secure payload: round trip and layout", "[unit][crypto]") {
  crypto::init();
  const Bytes plain = {0x00, 0x01, 0x00, 0x03};
  const auto key = filled(0x42);
  secure_payload::Nonce nonce;
  nonce.fill(7);
  const Bytes wire = secure_payload::encrypt(plain, key, nonce);
  REQUIRE(wire.size() == 24 + 16 + plain.size());
  CHECK(Bytes(wire.begin(), wire.begin() + 24) == Bytes(nonce.begin(), nonce.end()));
  auto back = secure_payload::decrypt(wire, key);
  REQUIRE(back);
  CHECK(*back == plain);

  const Bytes a = secure_payload::encrypt(plain, key);
  const Bytes b = secure_payload::encrypt(plain, key);
  CHECK(Bytes(a.begin(), a.begin() + 24) != Bytes(b.begin(), b.begin() + 24));  // fresh nonces
  CHECK(*secure_payload::decrypt(a, key) == plain);
}

TEST_CASE("secure payload: rejects short, tampered and foreign input", "[unit][crypto]") {
  crypto::init();
  const auto key = filled(0x42);
  const Bytes plain = {1, 2, 3, 4, 5};
  const Bytes wire = secure_payload::encrypt(plain, key);

  // 40 bytes is a valid empty secretbox, which the reference still refuses.
  const Bytes empty = secure_payload::encrypt({}, key);
  REQUIRE(empty.size() == 40);
  CHECK(secure_payload::decrypt(empty, key).error() == make_error_code(WireErrc::bad_length));
  CHECK(secure_payload::decrypt({}, key).error() == make_error_code(WireErrc::bad_length));
  CHECK(secure_payload::decrypt(ByteView(wire).first(41), key).error() ==
        make_error_code(WireErrc::decrypt_failed));

  for (std::size_t i = 0; i < wire.size(); ++i) {
    Bytes t = wire;
    t[i] ^= 0x01;
    CHECK(secure_payload::decrypt(t, key).error() == make_error_code(WireErrc::decrypt_failed));
  }
  CHECK(secure_payload::decrypt(wire, filled(0x43)).error() ==
        make_error_code(WireErrc::decrypt_failed));
}

TEST_CASE("secure payload: address tokens hash the host under the local secret", "[unit][crypto]") {
  crypto::init();
  const auto s1 = filled(0x33), s2 = filled(0x34);
  const auto t = secure_payload::address_token("198.51.100.7", s1);
  CHECK(t == secure_payload::address_token("198.51.100.7", s1));
  CHECK(t != secure_payload::address_token("198.51.100.8", s1));
  CHECK(t != secure_payload::address_token("198.51.100.7", s2));
  CHECK(t == crypto::hash32_keyed(as_bytes("198.51.100.7"), s1));
}
