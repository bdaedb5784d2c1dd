// The daemon's key pairs: a default one (the node's identity for the record layer) and named
// ones that clients create, import, list and remove over the control socket. Each key is its
// 32-byte Ed25519 seed (crypto_sign_seed_keypair, as DHT.keyPair(seed)), stored as 64 hex
// characters in <state-dir>/keys/<name>.key with mode 0600 in a 0700 directory. Without a state
// dir the store lives in memory only (testnets).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "protocol/crypto.hpp"
#include "protocol/result.hpp"

namespace hdht::daemon {

enum class KeyErrc {
  invalid_name = 1,  // not [A-Za-z0-9_-]{1,64}
  exists,
  not_found,
  protected_key,  // the default key cannot be removed
  storage,        // the file system refused
};
const std::error_category& key_category() noexcept;
std::error_code make_error_code(KeyErrc e) noexcept;

struct KeyInfo {
  std::string name;
  Bytes32 public_key{};
};

class KeyStore {
 public:
  static constexpr const char* kDefaultName = "default";

  // Opens (creating it and the default key on first start) the store under state_dir, or an
  // in-memory store if state_dir is empty. Errors are start-up failures for the caller.
  static Result<KeyStore> open(const std::string& state_dir);

  static bool valid_name(std::string_view name);

  // A new key pair from `seed`, or from fresh randomness.
  Result<KeyInfo> generate(const std::string& name, const std::optional<Bytes32>& seed);
  Result<void> remove(const std::string& name);
  std::vector<KeyInfo> list() const;  // by name
  std::optional<crypto::KeyPair> get(const std::string& name) const;
  const crypto::KeyPair& default_key() const { return keys_.at(kDefaultName); }
  bool persistent() const noexcept { return !dir_.empty(); }
  const std::string& dir() const noexcept { return dir_; }

 private:
  std::string path_of(const std::string& name) const;
  Result<void> write_seed(const std::string& name, const Bytes32& seed) const;

  std::string dir_;  // <state-dir>/keys, or empty
  std::map<std::string, crypto::KeyPair> keys_;
};

}  // namespace hdht::daemon

template <>
struct std::is_error_code_enum<hdht::daemon::KeyErrc> : std::true_type {};
