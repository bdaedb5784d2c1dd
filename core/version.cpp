#include "core/version.hpp"

namespace hdht {

const char* version_string() { return "hyperdhtd 0.1.0 (hyperdht 6.34.0 / dht-rpc 6.27.0 wire protocol)"; }

}  // namespace hdht
