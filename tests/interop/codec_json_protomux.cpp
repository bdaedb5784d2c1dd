// Registry kinds of the protomux codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_protomux(Registry& /*r*/) {}

}  // namespace hdht::interop
