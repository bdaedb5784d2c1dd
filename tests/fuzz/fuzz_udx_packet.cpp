// UDX datagram decoder on arbitrary bytes: never reads out of bounds, and every accepted datagram
// re-encodes to exactly the same bytes (header + padding + payload is the whole datagram).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "protocol/udx_packet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const hdht::ByteView in(data, size);
  auto p = hdht::udx::decode_packet(in);
  if (hdht::udx::is_udx_packet(in) != static_cast<bool>(hdht::udx::decode_header(in))) std::abort();
  if (!p) return 0;
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < p->sacks.size(); ++i)
    sum += p->sacks[i].start ^ p->sacks[i].end;
  if (p->sacks.size() * hdht::udx::kSackBlockSize > size - hdht::udx::kHeaderSize) std::abort();
  std::vector<std::uint8_t> out(size);
  if (hdht::udx::encode_packet(out, p->header, p->padding, p->payload) != size) std::abort();
  if (!std::equal(out.begin(), out.end(), data)) std::abort();
  return static_cast<int>(sum & 0);
}
