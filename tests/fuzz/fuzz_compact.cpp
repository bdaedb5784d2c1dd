// Every compact-encoding primitive read from arbitrary bytes: must never read out of bounds,
// never allocate from the length it reads, and always end in ok or a WireErrc.
#include <cstddef>
#include <cstdint>

#include "protocol/address_arrays.hpp"
#include "protocol/compact.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  hdht::cenc::Reader r({data, size});
  while (r.ok() && !r.at_end()) {
    switch (r.u8() % 10) {
      case 0:
        (void)r.uint();
        break;
      case 1:
        (void)r.buffer();
        break;
      case 2:
        (void)r.string();
        break;
      case 3:
        (void)r.ipv4_address();
        break;
      case 4:
        (void)r.fixed<32>();
        break;
      case 5: {
        const std::size_t n = r.array_count(6);
        for (std::size_t i = 0; i < n && r.ok(); ++i)
          (void)r.ipv4_address();
        break;
      }
      case 6:
        (void)hdht::cenc::ipv4_array(r);
        break;
      case 7:
        (void)hdht::cenc::ipv6_address(r);
        break;
      case 8:
        (void)hdht::cenc::ipv6_array(r);
        break;
      default:
        (void)r.u32();
        break;
    }
  }
  return 0;
}
