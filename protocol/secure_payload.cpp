#include "protocol/secure_payload.hpp"

#include <sodium.h>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"

namespace hdht::secure_payload {

static_assert(kNonceBytes == crypto_secretbox_NONCEBYTES && kMacBytes == crypto_secretbox_MACBYTES);

Bytes encrypt(ByteView plaintext, const Bytes32& key) {
  Nonce nonce;
  crypto::random_bytes(nonce);
  return encrypt(plaintext, key, nonce);
}

Bytes encrypt(ByteView plaintext, const Bytes32& key, const Nonce& nonce) {
  Bytes out(kOverhead + plaintext.size());
  std::copy(nonce.begin(), nonce.end(), out.begin());
  crypto_secretbox_easy(out.data() + kNonceBytes, plaintext.data(), plaintext.size(), nonce.data(),
                        key.data());
  return out;
}

Result<Bytes> decrypt(ByteView wire, const Bytes32& key) {
  if (wire.size() <= kOverhead) return WireErrc::bad_length;
  Bytes plain(wire.size() - kOverhead);
  if (crypto_secretbox_open_easy(plain.data(), wire.data() + kNonceBytes, wire.size() - kNonceBytes,
                                 wire.data(), key.data()) != 0) {
    return WireErrc::decrypt_failed;
  }
  return plain;
}

Bytes32 address_token(std::string_view host, const Bytes32& local_secret) {
  return crypto::hash32_keyed(as_bytes(host), local_secret);
}

}  // namespace hdht::secure_payload
