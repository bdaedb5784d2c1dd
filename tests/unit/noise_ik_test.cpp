#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"

using namespace hdht;
using noise::HandshakeState;
using noise::IkHandshake;

namespace {

crypto::KeyPair seeded(std::uint8_t b) {
  Bytes32 seed;
  seed.fill(b);
  return crypto::key_pair_from_seed(seed);
}

struct Pair {
  crypto::KeyPair is = seeded(1), rs = seeded(2);
  IkHandshake ini = IkHandshake::initiator(is, rs.public_key, msg::ns_peer_handshake());
  IkHandshake rsp = IkHandshake::responder(rs, msg::ns_peer_handshake());
  Pair() {
    crypto::init();
    REQUIRE(ini.set_ephemeral(seeded(3)));
    REQUIRE(rsp.set_ephemeral(seeded(4)));
  }
};

// An Edwards point of order 2 (0, -1): libsodium refuses it as a DH input.
Bytes32 small_order_point() {
  Bytes32 p;
  p.fill(0xff);
  p[0] = 0xec;
  p[31] = 0x7f;
  return p;
}

const Bytes kP1 = {1, 2, 3};
const Bytes kP2 = {4, 5, 6, 7};

}  // namespace

TEST_CASE("noise IK: both sides agree and the payloads arrive", "[unit][crypto]") {
  Pair p;
  CHECK(p.ini.state() == HandshakeState::initial);
  auto m1 = p.ini.write_message(kP1);
  REQUIRE(m1);
  CHECK(m1->size() == 32 + 48 + kP1.size() + 16);
  CHECK(p.ini.state() == HandshakeState::sent_msg1);
  auto r1 = p.rsp.read_message(*m1);
  REQUIRE(r1);
  CHECK(*r1 == kP1);
  CHECK(p.rsp.state() == HandshakeState::received_msg1);
  CHECK(*p.rsp.remote_static() == p.is.public_key);
  CHECK_FALSE(p.rsp.session());
  auto m2 = p.rsp.write_message(kP2);
  REQUIRE(m2);
  CHECK(m2->size() == 32 + kP2.size() + 16);
  auto r2 = p.ini.read_message(*m2);
  REQUIRE(r2);
  CHECK(*r2 == kP2);
  REQUIRE(p.ini.complete());
  REQUIRE(p.rsp.complete());
  const auto& a = *p.ini.session();
  const auto& b = *p.rsp.session();
  CHECK(a.tx == b.rx);
  CHECK(a.rx == b.tx);
  CHECK(a.tx != a.rx);
  CHECK(a.handshake_hash == b.handshake_hash);
  CHECK(a.remote_public_key == p.rs.public_key);
  CHECK(b.remote_public_key == p.is.public_key);
  CHECK(noise::holepunch_secret(a.handshake_hash) == noise::holepunch_secret(b.handshake_hash));
}

TEST_CASE("noise IK: random ephemerals differ per handshake", "[unit][crypto]") {
  crypto::init();
  const auto is = seeded(1), rs = seeded(2);
  auto a = IkHandshake::initiator(is, rs.public_key, msg::ns_peer_handshake());
  auto b = IkHandshake::initiator(is, rs.public_key, msg::ns_peer_handshake());
  auto ma = a.write_message(kP1);
  auto mb = b.write_message(kP1);
  REQUIRE((ma && mb));
  CHECK(Bytes(ma->begin(), ma->begin() + 32) != Bytes(mb->begin(), mb->begin() + 32));
}

TEST_CASE("noise IK: calls out of order are handshake_state errors", "[unit][crypto]") {
  const auto st = make_error_code(WireErrc::handshake_state);
  Pair p;
  CHECK(p.ini.read_message(Bytes(100)).error() == st);  // initiator must write first
  CHECK(p.rsp.write_message(kP2).error() == st);        // responder must read first
  CHECK(p.ini.state() == HandshakeState::initial);      // misuse does not fail the handshake
  auto m1 = p.ini.write_message(kP1);
  REQUIRE(m1);
  CHECK(p.ini.write_message(kP1).error() == st);
  CHECK(p.ini.set_ephemeral(seeded(9)).error() == st);  // the ephemeral is already on the wire
  REQUIRE(p.rsp.read_message(*m1));
  CHECK(p.rsp.read_message(*m1).error() == st);
  auto m2 = p.rsp.write_message(kP2);
  REQUIRE(m2);
  REQUIRE(p.ini.read_message(*m2));
  CHECK(p.ini.read_message(*m2).error() == st);
  CHECK(p.ini.write_message(kP1).error() == st);
  CHECK(p.rsp.write_message(kP2).error() == st);
}

TEST_CASE("noise IK: a tampered msg1 fails to decrypt and fails the handshake", "[unit][crypto]") {
  // Byte 40 is inside the encrypted static key, the last byte inside the payload's MAC.
  for (std::size_t at :
       {std::size_t{40}, std::size_t{79}, std::size_t{85}, std::size_t{32 + 48 + 3 + 15}}) {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    (*m1)[at] ^= 0x01;
    CHECK(p.rsp.read_message(*m1).error() == make_error_code(WireErrc::decrypt_failed));
    CHECK(p.rsp.state() == HandshakeState::failed);
    CHECK(p.rsp.write_message(kP2).error() == make_error_code(WireErrc::handshake_state));
  }
}

TEST_CASE("noise IK: a tampered msg2 fails to decrypt", "[unit][crypto]") {
  for (std::size_t at : {std::size_t{32}, std::size_t{32 + 4 + 15}}) {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    REQUIRE(p.rsp.read_message(*m1));
    auto m2 = p.rsp.write_message(kP2);
    REQUIRE(m2);
    (*m2)[at] ^= 0x80;
    CHECK(p.ini.read_message(*m2).error() == make_error_code(WireErrc::decrypt_failed));
    CHECK(p.ini.state() == HandshakeState::failed);
    CHECK_FALSE(p.ini.session());
  }
}

TEST_CASE("noise IK: small-order points are bad_key", "[unit][crypto]") {
  const auto bad = make_error_code(WireErrc::bad_key);
  crypto::init();
  CHECK(noise::dh(seeded(1), small_order_point()).error() == bad);
  CHECK(noise::dh(seeded(1), Bytes32{}).error() == bad);  // y = 0: a point of order 4

  SECTION("as the ephemeral in msg1") {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    const Bytes32 pt = small_order_point();
    std::copy(pt.begin(), pt.end(), m1->begin());
    CHECK(p.rsp.read_message(*m1).error() == bad);
    CHECK(p.rsp.state() == HandshakeState::failed);
  }
  SECTION("as the ephemeral in msg2") {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    REQUIRE(p.rsp.read_message(*m1));
    auto m2 = p.rsp.write_message(kP2);
    REQUIRE(m2);
    const Bytes32 pt = small_order_point();
    std::copy(pt.begin(), pt.end(), m2->begin());
    CHECK(p.ini.read_message(*m2).error() == bad);
  }
  SECTION("as the responder's static key the initiator was given") {
    auto ini = IkHandshake::initiator(seeded(1), small_order_point(), msg::ns_peer_handshake());
    CHECK(ini.write_message(kP1).error() == bad);
    CHECK(ini.state() == HandshakeState::failed);
  }
}

TEST_CASE("noise IK: truncated messages are out_of_bounds", "[unit][crypto]") {
  for (std::size_t n : {0, 31, 32, 79, 80, 95}) {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    m1->resize(n);
    CHECK(p.rsp.read_message(*m1).error() == make_error_code(WireErrc::out_of_bounds));
  }
  for (std::size_t n : {0, 31, 32, 47}) {
    Pair p;
    auto m1 = p.ini.write_message(kP1);
    REQUIRE(m1);
    REQUIRE(p.rsp.read_message(*m1));
    auto m2 = p.rsp.write_message(kP2);
    REQUIRE(m2);
    m2->resize(n);
    CHECK(p.ini.read_message(*m2).error() == make_error_code(WireErrc::out_of_bounds));
  }
}

TEST_CASE("noise IK: the 65535-byte ciphertext limit", "[unit][crypto]") {
  Pair p;
  const Bytes too_big(noise::kMaxPayload + 1, 7);
  CHECK(p.ini.write_message(too_big).error() == make_error_code(WireErrc::message_too_large));
  CHECK(p.ini.state() == HandshakeState::initial);  // refused before any state change
  const Bytes biggest(noise::kMaxPayload, 7);
  auto m1 = p.ini.write_message(biggest);
  REQUIRE(m1);
  CHECK(m1->size() == 32 + 48 + 65535);  // the message may exceed 65535, the ciphertext not
  auto r1 = p.rsp.read_message(*m1);
  REQUIRE(r1);
  CHECK(*r1 == biggest);

  Pair q;
  auto n1 = q.ini.write_message(kP1);
  REQUIRE(n1);
  n1->resize(32 + 48 + 65536, 0);
  CHECK(q.rsp.read_message(*n1).error() == make_error_code(WireErrc::message_too_large));
}
