#include "protocol/crypto.hpp"

#include <sodium.h>

#include <stdexcept>

namespace hdht::crypto {

void init() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
}

Bytes32 hash32(ByteView data) {
  Bytes32 out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

Bytes32 hash32(std::initializer_list<ByteView> parts) {
  Bytes32 out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  for (const auto& p : parts) crypto_generichash_update(&st, p.data(), p.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Bytes32 hash32_keyed(ByteView data, ByteView key) {
  Bytes32 out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), key.data(), key.size());
  return out;
}

Bytes64 hash64(std::initializer_list<ByteView> parts) {
  Bytes64 out;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  for (const auto& p : parts) crypto_generichash_update(&st, p.data(), p.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

void random_bytes(std::span<std::uint8_t> out) { randombytes_buf(out.data(), out.size()); }
std::uint32_t random_u32() { return randombytes_random(); }

KeyPair key_pair_from_seed(const Bytes32& seed) {
  KeyPair kp;
  crypto_sign_seed_keypair(kp.public_key.data(), kp.secret_key.data(), seed.data());
  return kp;
}

KeyPair random_key_pair() {
  KeyPair kp;
  crypto_sign_keypair(kp.public_key.data(), kp.secret_key.data());
  return kp;
}

Bytes64 sign(ByteView message, const Bytes64& secret_key) {
  Bytes64 sig;
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_key.data());
  return sig;
}

bool verify(const Bytes64& signature, ByteView message, const Bytes32& public_key) {
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     public_key.data()) == 0;
}

Bytes32 namespace_id(std::string_view name, std::uint8_t id) {
  const Bytes32 base = hash32(as_bytes(name));
  const std::uint8_t idb[1] = {id};
  return hash32({ByteView(base), ByteView(idb)});
}

}  // namespace hdht::crypto
