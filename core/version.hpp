#pragma once

namespace hdht {

// "hyperdhtd 0.1.0 (hyperdht 6.34.0 wire protocol)"
const char* version_string();

}  // namespace hdht
