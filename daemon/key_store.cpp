#include "daemon/key_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

namespace hdht::daemon {

namespace fs = std::filesystem;

namespace {

class KeyCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "hyperdhtd.keys"; }
  std::string message(int c) const override {
    switch (static_cast<KeyErrc>(c)) {
      case KeyErrc::invalid_name:
        return "key names are 1-64 characters of A-Z a-z 0-9 _ -";
      case KeyErrc::exists:
        return "a key with this name exists";
      case KeyErrc::not_found:
        return "no key with this name";
      case KeyErrc::protected_key:
        return "the default key cannot be removed";
      case KeyErrc::storage:
        return "cannot write the key store";
    }
    return "unknown key store error";
  }
};

constexpr std::string_view kSuffix = ".key";

// mkdir -p, then make sure nobody else can read what is inside.
std::error_code ensure_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return ec;
  if (::chmod(dir.c_str(), 0700) != 0) return {errno, std::generic_category()};
  return {};
}

std::optional<Bytes32> read_seed(const fs::path& file) {
  std::ifstream in(file);
  std::string hex;
  if (!(in >> hex)) return std::nullopt;
  return fixed_from_hex<32>(hex);
}

}  // namespace

const std::error_category& key_category() noexcept {
  static const KeyCategory c;
  return c;
}

std::error_code make_error_code(KeyErrc e) noexcept {
  return {static_cast<int>(e), key_category()};
}

bool KeyStore::valid_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Result<KeyStore> KeyStore::open(const std::string& state_dir) {
  KeyStore store;
  if (!state_dir.empty()) {
    if (auto ec = ensure_private_dir(state_dir)) return ec;
    store.dir_ = (fs::path(state_dir) / "keys").string();
    if (auto ec = ensure_private_dir(store.dir_)) return ec;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(store.dir_, ec)) {
      const auto file = entry.path().filename().string();
      if (!entry.is_regular_file() || !file.ends_with(kSuffix)) continue;
      const auto name = file.substr(0, file.size() - kSuffix.size());
      const auto seed = read_seed(entry.path());
      if (!valid_name(name) || !seed) {
        // A stray or damaged file must not stop the daemon; it is left for the operator.
        spdlog::warn("key store: ignoring {} (not a 64-hex-digit seed with a valid name)",
                     entry.path().string());
        continue;
      }
      struct stat st {};
      if (::stat(entry.path().c_str(), &st) == 0 && (st.st_mode & 0077) != 0) {
        spdlog::warn("key store: {} was readable by others; fixing its mode to 0600",
                     entry.path().string());
        ::chmod(entry.path().c_str(), 0600);
      }
      store.keys_[name] = crypto::key_pair_from_seed(*seed);
    }
    if (ec) return ec;
  }
  if (!store.keys_.contains(kDefaultName)) {
    auto made = store.generate(kDefaultName, std::nullopt);
    if (!made) return made.error();
    spdlog::info("key store: created the default key {}", to_hex(made->public_key));
  }
  return store;
}

std::string KeyStore::path_of(const std::string& name) const {
  return (fs::path(dir_) / (name + std::string(kSuffix))).string();
}

Result<void> KeyStore::write_seed(const std::string& name, const Bytes32& seed) const {
  // Written under a temporary name and renamed, so a crash never leaves half a key behind.
  const auto path = path_of(name);
  const auto tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return KeyErrc::storage;
  const std::string text = to_hex(seed) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return KeyErrc::storage;
  }
  return {};
}

Result<KeyInfo> KeyStore::generate(const std::string& name, const std::optional<Bytes32>& seed) {
  if (!valid_name(name)) return KeyErrc::invalid_name;
  if (keys_.contains(name)) return KeyErrc::exists;
  Bytes32 s{};
  if (seed)
    s = *seed;
  else
    crypto::random_bytes(s);
  if (persistent())
    if (auto r = write_seed(name, s); !r) return r.error();
  const auto pair = crypto::key_pair_from_seed(s);
  keys_[name] = pair;
  return KeyInfo{name, pair.public_key};
}

Result<void> KeyStore::remove(const std::string& name) {
  if (!valid_name(name)) return KeyErrc::invalid_name;
  if (name == kDefaultName) return KeyErrc::protected_key;
  auto it = keys_.find(name);
  if (it == keys_.end()) return KeyErrc::not_found;
  if (persistent() && ::unlink(path_of(name).c_str()) != 0 && errno != ENOENT)
    return KeyErrc::storage;
  keys_.erase(it);
  return {};
}

std::vector<KeyInfo> KeyStore::list() const {
  std::vector<KeyInfo> out;
  for (const auto& [name, pair] : keys_)
    out.push_back({name, pair.public_key});
  return out;
}

std::optional<crypto::KeyPair> KeyStore::get(const std::string& name) const {
  auto it = keys_.find(name);
  if (it == keys_.end()) return std::nullopt;
  return it->second;
}

}  // namespace hdht::daemon
