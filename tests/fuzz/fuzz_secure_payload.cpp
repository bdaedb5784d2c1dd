// Arbitrary bytes as a holepunch secure payload and as an unordered-message envelope: decrypt
// must return a plaintext of the right size or a WireErrc.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/crypto.hpp"
#include "protocol/secret_stream.hpp"
#include "protocol/secure_payload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = (hdht::crypto::init(), true);
  (void)ready;
  hdht::Bytes32 key;
  key.fill(0x42);
  const hdht::ByteView in(data, size);
  if (auto p = hdht::secure_payload::decrypt(in, key); p && p->size() != size - 40) std::abort();
  if (auto m = hdht::sstream::open_unordered(in, key); m && m->size() != size - 24) std::abort();
  // Whatever the input, sealing it and opening it again must round-trip.
  hdht::secure_payload::Nonce nonce{};
  const hdht::Bytes wire = hdht::secure_payload::encrypt(in, key, nonce);
  if (size > 0) {
    auto back = hdht::secure_payload::decrypt(wire, key);
    if (!back || *back != hdht::Bytes(in.begin(), in.end())) std::abort();
  }
  return 0;
}
