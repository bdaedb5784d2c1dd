// Registry kinds of the noise codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_noise(Registry& /*r*/) {}

}  // namespace hdht::interop
