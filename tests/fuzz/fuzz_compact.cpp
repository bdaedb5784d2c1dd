// Every compact-encoding primitive read from arbitrary bytes: must never read out of bounds,
// never allocate from the length it reads, and always end in ok or a WireErrc.
#include <cstddef>
#include <cstdint>

#include "protocol/compact.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hdht::cenc::Reader r({data, size});
  while (r.ok() && !r.at_end()) {
    switch (r.u8() % 7) {
      case 0: (void)r.uint(); break;
      case 1: (void)r.buffer(); break;
      case 2: (void)r.string(); break;
      case 3: (void)r.ipv4_address(); break;
      case 4: (void)r.fixed<32>(); break;
      case 5: {
        const std::size_t n = r.array_count(6);
        for (std::size_t i = 0; i < n && r.ok(); ++i) (void)r.ipv4_address();
        break;
      }
      default: (void)r.u32(); break;
    }
  }
  return 0;
}
