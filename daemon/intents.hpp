// The user's standing intents, persisted in <state-dir>/intents.json so that a restart
// re-establishes them: announces kept with `announce` + keep, records kept with `keep` on the
// puts, and servers (`listen` with a forward, or with keep). Key pairs are referred to by name,
// with the public key to notice a name that now holds another key: key material stays in the
// key store.
//
//   {"version": 1,
//    "announces": [{"topic": hex, "key": name, "publicKey": hex, "relays": ["a.b.c.d:port"]}],
//    "records": [{"type": "immutable", "hash": hex, "value": VALUE},
//                {"type": "mutable", "key": name, "publicKey": hex, "seq": n, "value": VALUE}],
//    "servers": [{"key": name, "publicKey": hex, "allow": [hex], "forward": "ADDR" or null,
//                 "relayThrough": hex or null}]}
//
// VALUE is the control socket's {"encoding": "utf8"|"hex"|"base64", "data": "..."}. Top-level
// members this version does not know (a later version's additions) are written back as they
// were, so a downgrade does not lose them.
//
// Reading is bounded (file size, entry counts, value sizes, nesting). A file that cannot be used
// at all is logged, copied to intents.json.bad and treated as empty; it is left in place until
// the next change rewrites it. A bad entry only drops that entry (with a warning).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/announcer.hpp"
#include "daemon/key_store.hpp"
#include "daemon/record_keeper.hpp"
#include "daemon/servers.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::daemon {

inline constexpr std::size_t kIntentsMaxFileBytes = 16 * 1024 * 1024;
inline constexpr std::size_t kMaxStandingAnnounces = 256;
inline constexpr std::size_t kMaxKeptRecords = 256;
inline constexpr std::size_t kMaxKeptServers = 256;
inline constexpr std::size_t kMaxAllowedKeys = 256;
// Relay addresses per announce: the reference's storing nodes keep 3, more would only be
// dropped there. Shared by the announce method and the intents file.
inline constexpr std::size_t kMaxRelays = 3;
// A kept value must fit in one UDP datagram; anything larger never came from a successful put.
inline constexpr std::size_t kMaxKeptValueBytes = 64 * 1024;

struct AnnounceIntent {
  Bytes32 topic{};
  std::string key_name;
  Bytes32 public_key{};
  std::vector<Ipv4Address> relays;
};

struct RecordIntent {
  bool is_mutable = false;
  Bytes value;
  std::string key_name;   // mutable only
  Bytes32 public_key{};   // mutable only
  std::uint64_t seq = 0;  // mutable only
};

struct ServerIntent {
  std::string key_name;
  Bytes32 public_key{};
  std::vector<Bytes32> allow;
  std::string forward;                     // empty: a kept listen without a forward
  std::optional<Bytes32> relay_through{};  // asked for in the listen (not the daemon's default)
};

struct Intents {
  std::vector<AnnounceIntent> announces;
  std::vector<RecordIntent> records;
  std::vector<ServerIntent> servers;
  nlohmann::json extra = nlohmann::json::object();  // unknown top-level members, kept as read
};

struct ParsedIntents {
  Intents intents;
  std::vector<std::string> warnings;  // one line per dropped entry
  std::string damage;                 // non-empty: the whole text is unusable, and why
};

// Pure: text in, intents (or the damage) out.
ParsedIntents parse_intents(std::string_view text);
std::string render_intents(const Intents& intents);

class IntentsFile {
 public:
  // Empty state_dir: nothing is read or written (intents live as long as the process).
  explicit IntentsFile(std::string state_dir);

  bool enabled() const noexcept { return !path_.empty(); }
  const std::string& path() const noexcept { return path_; }
  // Missing file: empty. Damaged: logged, copied to <path>.bad, empty. Logs its warnings.
  Intents load();
  // Atomic (temporary file, fsync, rename), mode 0600. Unknown members from load() go along.
  Result<void> save(Intents intents);

 private:
  std::string path_;
  nlohmann::json extra_ = nlohmann::json::object();
};

// Hands loaded intents to the announcer and the keeper (restore(): they run once the node is
// ready). An entry whose key is gone from the key store, or whose name now holds another key,
// is dropped with a warning. Returns {announces, records} restored.
std::pair<std::size_t, std::size_t> restore_intents(const Intents& intents, const KeyStore& keys,
                                                    Announcer& announcer, RecordKeeper& keeper);
// Hands loaded server intents to `servers` (they listen at start_restored()), with the same
// key checks. Returns how many were restored.
std::size_t restore_server_intents(const Intents& intents, const KeyStore& keys, Servers& servers);
// What is kept right now, as intents to save.
Intents collect_intents(const Announcer& announcer, const RecordKeeper& keeper,
                        const Servers& servers);

}  // namespace hdht::daemon
