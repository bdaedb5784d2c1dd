// Registry kinds of the rpc codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_rpc(Registry& /*r*/) {}

}  // namespace hdht::interop
