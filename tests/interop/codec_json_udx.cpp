// Registry kinds of the udx codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_udx(Registry& /*r*/) {}

}  // namespace hdht::interop
