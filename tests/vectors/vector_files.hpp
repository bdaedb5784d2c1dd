// Locating vector files: the repo's own (tests/vectors/*.json, produced by gen-vectors.js) and
// the shared, independently produced ones (../shared/spec/vectors/*.json).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "protocol/bytes.hpp"

namespace hdht::testing {

std::filesystem::path repo_vectors_dir();
// Empty path when ../shared is absent (then the shared-vector tests are not registered at all).
std::filesystem::path shared_vectors_dir();
nlohmann::json load_json(const std::filesystem::path& file);
// Convenience: load ../shared/spec/vectors/<name>; fails the current test when missing.
nlohmann::json load_shared(const std::string& name);

// A vector's hex string as bytes. Vectors are trusted test input: malformed hex is a broken
// vector file, so it throws (failing the test) instead of returning an error.
Bytes hx(const nlohmann::json& j);
Bytes32 hx32(const nlohmann::json& j);

}  // namespace hdht::testing
