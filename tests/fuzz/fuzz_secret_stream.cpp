// Arbitrary bytes through the secret-stream receiver, cut into chunks whose sizes come from the
// input itself. The stream is keyed so that the seeds (a real header message + frames) get past
// the header check and into the decryptor.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "protocol/crypto.hpp"
#include "protocol/secret_stream.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool ready = (hdht::crypto::init(), true);
  (void)ready;
  if (size < 2) return 0;
  hdht::Bytes32 key;
  key.fill(0x11);
  hdht::Bytes64 hash;
  hash.fill(0x22);
  hdht::sstream::Receiver rx(key, hdht::sstream::stream_id(hash, true), (data[0] & 1) != 0);
  const std::size_t step = 1 + data[1];
  const hdht::ByteView all(data + 2, size - 2);
  std::size_t total = 0;
  for (std::size_t at = 0; at < all.size(); at += step) {
    hdht::ByteView chunk = all.subspan(at, std::min(step, all.size() - at));
    for (;;) {
      auto m = rx.next(chunk);
      if (!m) {
        if (rx.error_message().empty()) std::abort();
        return 0;
      }
      if (!*m) break;
      total += (*m)->size();
      if ((*m)->size() > all.size()) std::abort();
    }
    if (!chunk.empty()) std::abort();
  }
  (void)total;
  return 0;
}
