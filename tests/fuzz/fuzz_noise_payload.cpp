// The Noise handshake payload decoder on arbitrary bytes. A decoded version-1 payload must
// re-encode to bytes that decode to the same payload (sub-record versions and udx feature bits
// are normalised by the encoder, so they are compared after one normalising round trip).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/noise_payload.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace hdht::msg;
  const auto m = decode_noise_payload(hdht::ByteView(data, size));
  if (!m || m->version != 1) return 0;
  const hdht::Bytes once = encode(*m);
  const auto a = decode_noise_payload(hdht::ByteView(once));
  if (!a) std::abort();
  const hdht::Bytes twice = encode(*a);
  if (twice != once) std::abort();
  // The normalised payload keeps every field but the sub-record versions.
  NoisePayload expected = *m;
  if (expected.udx) expected.udx->version = 1;
  if (expected.secret_stream) expected.secret_stream->version = 1;
  if (expected.relay_through) expected.relay_through->version = 1;
  if (!(*a == expected)) std::abort();
  return 0;
}
