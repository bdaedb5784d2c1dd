// Registry kinds of the hyperdht codec family (see codec_registry.hpp).
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

void register_hyperdht(Registry& /*r*/) {}

}  // namespace hdht::interop
