#include "protocol/noise_ik.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "protocol/errors.hpp"
#include "protocol/hyperdht_constants.hpp"

namespace hdht::noise {
namespace {

constexpr std::size_t kBlockLen = 128;  // BLAKE2b block size, the HMAC pad width

// HMAC over BLAKE2b-512 exactly as noise-handshake's hmac.js composes it (RFC 2104 shape with a
// 128-byte block); keys longer than a block are first hashed to 64 bytes.
Bytes64 hmac(ByteView key, std::initializer_list<ByteView> data) {
  std::uint8_t k[kBlockLen] = {};
  if (key.size() > kBlockLen) {
    crypto_generichash(k, kHashLen, key.data(), key.size(), nullptr, 0);
  } else {
    std::copy(key.begin(), key.end(), k);
  }
  std::uint8_t ipad[kBlockLen];
  std::uint8_t opad[kBlockLen];
  for (std::size_t i = 0; i < kBlockLen; ++i) {
    ipad[i] = static_cast<std::uint8_t>(k[i] ^ 0x36);
    opad[i] = static_cast<std::uint8_t>(k[i] ^ 0x5c);
  }
  sodium_memzero(k, sizeof k);

  Bytes64 inner;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, inner.size());
  crypto_generichash_update(&st, ipad, sizeof ipad);
  for (const auto& d : data)
    crypto_generichash_update(&st, d.data(), d.size());
  crypto_generichash_final(&st, inner.data(), inner.size());

  Bytes64 out;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  crypto_generichash_update(&st, opad, sizeof opad);
  crypto_generichash_update(&st, inner.data(), inner.size());
  crypto_generichash_final(&st, out.data(), out.size());

  sodium_memzero(ipad, sizeof ipad);
  sodium_memzero(opad, sizeof opad);
  sodium_memzero(inner.data(), inner.size());
  return out;
}

struct HkdfOut {
  Bytes64 o1;
  Bytes64 o2;
};

// Two-output HKDF (noise-handshake hkdf.js with empty info).
HkdfOut hkdf(const Bytes64& chaining_key, ByteView ikm) {
  Bytes64 prk = hmac(chaining_key, {ikm});
  const std::uint8_t one[1] = {0x01};
  const std::uint8_t two[1] = {0x02};
  HkdfOut out;
  out.o1 = hmac(prk, {ByteView(one)});
  out.o2 = hmac(prk, {ByteView(out.o1), ByteView(two)});
  sodium_memzero(prk.data(), prk.size());
  return out;
}

// noise-handshake writes the counter with setUint32(4, n, true): bytes 4..7 little-endian.
void make_nonce(std::uint64_t n,
                std::uint8_t (&nonce)[crypto_aead_chacha20poly1305_ietf_NPUBBYTES]) {
  std::memset(nonce, 0, sizeof nonce);
  for (int i = 0; i < 8; ++i)
    nonce[4 + i] = static_cast<std::uint8_t>(n >> (8 * i));
}

}  // namespace

Result<Bytes32> dh(const crypto::KeyPair& local, const Bytes32& remote_public_key) {
  // libsodium keeps the seed, not the scalar, in the secret key: rebuild the scalar the way
  // Ed25519 signing does.
  std::uint8_t h[crypto_hash_sha512_BYTES];
  crypto_hash_sha512(h, local.secret_key.data(), 32);
  h[0] &= 248;
  h[31] &= 127;
  h[31] |= 64;
  Bytes32 out{};
  const int rc = crypto_scalarmult_ed25519_noclamp(out.data(), h, remote_public_key.data());
  sodium_memzero(h, sizeof h);
  if (rc != 0) return WireErrc::bad_key;
  return out;
}

IkHandshake::IkHandshake(Role role, const crypto::KeyPair& local_static, ByteView prologue)
    : role_(role), s_(local_static), e_(crypto::random_key_pair()) {
  // The 35-byte protocol name fits in HASHLEN, so it is used zero-padded rather than hashed.
  static_assert(kProtocolName.size() <= kHashLen);
  std::copy(kProtocolName.begin(), kProtocolName.end(), h_.begin());
  ck_ = h_;
  mix_hash(prologue);
}

IkHandshake IkHandshake::initiator(const crypto::KeyPair& local_static,
                                   const Bytes32& remote_static, ByteView prologue) {
  IkHandshake hs(Role::initiator, local_static, prologue);
  hs.rs_ = remote_static;
  hs.mix_hash(remote_static);
  return hs;
}

IkHandshake IkHandshake::responder(const crypto::KeyPair& local_static, ByteView prologue) {
  IkHandshake hs(Role::responder, local_static, prologue);
  hs.mix_hash(local_static.public_key);
  return hs;
}

IkHandshake::~IkHandshake() {
  sodium_memzero(e_.secret_key.data(), e_.secret_key.size());
  sodium_memzero(k_.data(), k_.size());
  sodium_memzero(ck_.data(), ck_.size());
}

Result<void> IkHandshake::set_ephemeral(const crypto::KeyPair& ephemeral) {
  if (state_ != HandshakeState::initial) return WireErrc::handshake_state;
  e_ = ephemeral;
  return {};
}

std::error_code IkHandshake::fail(std::error_code ec) noexcept {
  state_ = HandshakeState::failed;
  return ec;
}

void IkHandshake::mix_hash(ByteView data) {
  h_ = crypto::hash64({ByteView(h_), data});
}

Result<void> IkHandshake::mix_key_dh(const crypto::KeyPair& local, const Bytes32& remote) {
  auto shared = dh(local, remote);
  if (!shared) return shared.error();
  HkdfOut o = hkdf(ck_, *shared);
  sodium_memzero(shared->data(), shared->size());
  ck_ = o.o1;
  std::copy_n(o.o2.begin(), k_.size(), k_.begin());
  n_ = 0;
  sodium_memzero(o.o2.data(), o.o2.size());
  return {};
}

Result<void> IkHandshake::encrypt_and_hash(ByteView plaintext, Bytes& out) {
  // Every IK token that carries data comes after a DH, so there is always a key here.
  if (plaintext.size() + kMacLen > kMaxCiphertext) return WireErrc::message_too_large;
  const std::size_t at = out.size();
  out.resize(at + plaintext.size() + kMacLen);
  std::uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  make_nonce(n_, nonce);
  unsigned long long clen = 0;
  crypto_aead_chacha20poly1305_ietf_encrypt(out.data() + at, &clen, plaintext.data(),
                                            plaintext.size(), h_.data(), h_.size(), nullptr, nonce,
                                            k_.data());
  ++n_;
  mix_hash(ByteView(out).subspan(at));
  return {};
}

Result<Bytes> IkHandshake::decrypt_and_hash(ByteView ciphertext) {
  if (ciphertext.size() > kMaxCiphertext) return WireErrc::message_too_large;
  if (ciphertext.size() < kMacLen) return WireErrc::out_of_bounds;
  Bytes plain(ciphertext.size() - kMacLen);
  std::uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
  make_nonce(n_, nonce);
  unsigned long long plen = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(plain.data(), &plen, nullptr, ciphertext.data(),
                                                ciphertext.size(), h_.data(), h_.size(), nonce,
                                                k_.data()) != 0) {
    return WireErrc::decrypt_failed;
  }
  ++n_;
  mix_hash(ciphertext);
  return plain;
}

void IkHandshake::split() {
  HkdfOut o = hkdf(ck_, {});
  Session s;
  const bool init = role_ == Role::initiator;
  std::copy_n((init ? o.o1 : o.o2).begin(), 32, s.tx.begin());
  std::copy_n((init ? o.o2 : o.o1).begin(), 32, s.rx.begin());
  s.handshake_hash = h_;
  s.remote_public_key = *rs_;
  sodium_memzero(o.o1.data(), o.o1.size());
  sodium_memzero(o.o2.data(), o.o2.size());
  session_ = s;
  state_ = HandshakeState::complete;
  // The ephemeral secrets are of no further use; the JS clears them at the same point.
  sodium_memzero(e_.secret_key.data(), e_.secret_key.size());
  sodium_memzero(k_.data(), k_.size());
}

Result<Bytes> IkHandshake::write_message(ByteView payload) {
  const bool init = role_ == Role::initiator;
  const HandshakeState expected = init ? HandshakeState::initial : HandshakeState::received_msg1;
  if (state_ != expected) return WireErrc::handshake_state;
  // Refused before any state changes, so an oversized payload leaves the handshake usable.
  if (payload.size() > kMaxPayload) return WireErrc::message_too_large;

  Bytes out;
  out.reserve(32 + (init ? 32 + kMacLen : 0) + payload.size() + kMacLen);
  out.insert(out.end(), e_.public_key.begin(), e_.public_key.end());
  mix_hash(e_.public_key);
  if (init) {
    if (auto r = mix_key_dh(e_, *rs_); !r) return fail(r.error());  // es
    if (auto r = encrypt_and_hash(s_.public_key, out); !r) return fail(r.error());
    if (auto r = mix_key_dh(s_, *rs_); !r) return fail(r.error());  // ss
  } else {
    if (auto r = mix_key_dh(e_, re_); !r) return fail(r.error());   // ee
    if (auto r = mix_key_dh(e_, *rs_); !r) return fail(r.error());  // se
  }
  if (auto r = encrypt_and_hash(payload, out); !r) return fail(r.error());
  if (init) {
    state_ = HandshakeState::sent_msg1;
  } else {
    split();
  }
  return out;
}

Result<Bytes> IkHandshake::read_message(ByteView message) {
  const bool init = role_ == Role::initiator;
  const HandshakeState expected = init ? HandshakeState::sent_msg1 : HandshakeState::initial;
  if (state_ != expected) return WireErrc::handshake_state;

  ByteView rest = message;
  if (rest.size() < 32) return fail(WireErrc::out_of_bounds);
  std::copy_n(rest.begin(), 32, re_.begin());
  rest = rest.subspan(32);
  mix_hash(re_);
  if (!init) {
    if (auto r = mix_key_dh(s_, re_); !r) return fail(r.error());  // es
    if (rest.size() < 32 + kMacLen) return fail(WireErrc::out_of_bounds);
    auto rs = decrypt_and_hash(rest.first(32 + kMacLen));
    if (!rs) return fail(rs.error());
    rest = rest.subspan(32 + kMacLen);
    Bytes32 key{};
    std::copy_n(rs->begin(), 32, key.begin());
    rs_ = key;
    if (auto r = mix_key_dh(s_, *rs_); !r) return fail(r.error());  // ss
  } else {
    if (auto r = mix_key_dh(e_, re_); !r) return fail(r.error());  // ee
    if (auto r = mix_key_dh(s_, re_); !r) return fail(r.error());  // se
  }
  auto payload = decrypt_and_hash(rest);
  if (!payload) return fail(payload.error());
  if (init) {
    split();
  } else {
    state_ = HandshakeState::received_msg1;
  }
  return payload;
}

Bytes32 holepunch_secret(const Bytes64& handshake_hash) {
  return crypto::hash32_keyed(msg::ns_peer_holepunch(), handshake_hash);
}

}  // namespace hdht::noise
