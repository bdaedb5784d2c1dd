// Thin, allocation-free wrappers over the libsodium primitives the protocol uses. No crypto is
// implemented here: every function is one or two libsodium calls with the reference's parameters.
#pragma once

#include <initializer_list>
#include <optional>

#include "protocol/bytes.hpp"

namespace hdht::crypto {

// Must run once before any other call (idempotent, thread-safe). Throws on failure: without a
// working libsodium nothing else can run, which is a start-up failure.
void init();

// BLAKE2b-256 with no key (crypto_generichash with a 32-byte output): "H32" in the specs.
Bytes32 hash32(ByteView data);
// BLAKE2b-256 over the concatenation of parts (crypto_generichash_batch in JS).
Bytes32 hash32(std::initializer_list<ByteView> parts);
// Keyed BLAKE2b-256 ("H32k").
Bytes32 hash32_keyed(ByteView data, ByteView key);
// BLAKE2b-512 over the concatenation of parts ("H64"), Noise's hash.
Bytes64 hash64(std::initializer_list<ByteView> parts);

void random_bytes(std::span<std::uint8_t> out);
std::uint32_t random_u32();

struct KeyPair {
  Bytes32 public_key{};
  Bytes64 secret_key{};  // libsodium layout: seed || public key
};

// crypto_sign_seed_keypair: identical to the reference's DHT.keyPair(seed).
KeyPair key_pair_from_seed(const Bytes32& seed);
KeyPair random_key_pair();

Bytes64 sign(ByteView message, const Bytes64& secret_key);
bool verify(const Bytes64& signature, ByteView message, const Bytes32& public_key);

// hypercore-crypto namespace(name, ids): NS[i] = H32(H32(name) || byte(id_i)).
Bytes32 namespace_id(std::string_view name, std::uint8_t id);

}  // namespace hdht::crypto
