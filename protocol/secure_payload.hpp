// The holepunch secure payload (hyperdht/lib/secure-payload.js): PEER_HOLEPUNCH payloads are
// sealed with XSalsa20-Poly1305 under the handshake's holepunch secret, and the address tokens
// that prove a peer saw our address. Pure computation; encoding the plaintext is the caller's.
#pragma once

#include <cstddef>
#include <string_view>

#include "protocol/bytes.hpp"
#include "protocol/result.hpp"

namespace hdht::secure_payload {

inline constexpr std::size_t kNonceBytes = 24;
inline constexpr std::size_t kMacBytes = 16;
inline constexpr std::size_t kOverhead = kNonceBytes + kMacBytes;
using Nonce = FixedBytes<kNonceBytes>;

// wire = nonce || crypto_secretbox_easy(plaintext) = nonce || mac || ciphertext.
Bytes encrypt(ByteView plaintext, const Bytes32& key);  // fresh random nonce
Bytes encrypt(ByteView plaintext, const Bytes32& key, const Nonce& nonce);

// bad_length for wire <= 40 bytes (the reference refuses even a valid empty plaintext),
// decrypt_failed when the MAC does not verify.
Result<Bytes> decrypt(ByteView wire, const Bytes32& key);

// token(addr) = BLAKE2b-256(utf8 host, key = local secret); the port is not part of it.
Bytes32 address_token(std::string_view host, const Bytes32& local_secret);

}  // namespace hdht::secure_payload
