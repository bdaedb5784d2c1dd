// Registry kinds of the secret_stream codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_secret_stream(Registry& /*r*/) {}

}  // namespace hdht::interop
