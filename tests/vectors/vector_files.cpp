#include "tests/vectors/vector_files.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace hdht::testing {

std::filesystem::path repo_vectors_dir() {
  return HDHT_REPO_VECTORS_DIR;
}

std::filesystem::path shared_vectors_dir() {
  if (const char* env = std::getenv("HDHT_SHARED_VECTORS")) return env;
  return HDHT_SHARED_VECTORS_DIR;
}

nlohmann::json load_json(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw std::runtime_error("cannot open " + file.string());
  return nlohmann::json::parse(in);
}

nlohmann::json load_shared(const std::string& name) {
  return load_json(shared_vectors_dir() / name);
}

Bytes hx(const nlohmann::json& j) {
  auto b = from_hex(j.get<std::string>());
  if (!b) throw std::runtime_error("malformed hex in a vector file: " + j.dump());
  return *b;
}

Bytes32 hx32(const nlohmann::json& j) {
  auto b = fixed_from_hex<32>(j.get<std::string>());
  if (!b) throw std::runtime_error("malformed 32-byte hex in a vector file: " + j.dump());
  return *b;
}

}  // namespace hdht::testing
