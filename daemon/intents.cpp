#include "daemon/intents.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <map>

#include <spdlog/spdlog.h>

#include "daemon/record_json.hpp"
#include "daemon/value_codec.hpp"
#include "protocol/crypto.hpp"

namespace hdht::daemon {

namespace {

constexpr int kVersion = 1;
// The format nests 4 levels (file, list, entry, value or relays); anything deeper is not ours.
constexpr int kMaxDepth = 8;

using nlohmann::json;

std::error_code last_error() {
  return {errno, std::generic_category()};
}

// Temporary file + fsync + rename, so a crash leaves the old file or the new one, never half.
Result<void> write_atomic(const std::string& path, std::string_view text) {
  const auto tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return last_error();
  std::size_t off = 0;
  while (off < text.size()) {
    const auto n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  const bool ok = off == text.size() && ::fsync(fd) == 0;
  const auto err = last_error();
  ::close(fd);
  if (!ok) {
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const auto e = last_error();
    ::unlink(tmp.c_str());
    return e;
  }
  return {};
}

std::nullopt_t fail(std::string& why, const char* reason) {
  why = reason;
  return std::nullopt;
}

std::optional<Bytes32> hex32_member(const json& o, const char* name) {
  const auto it = o.find(name);
  if (it == o.end() || !it->is_string()) return std::nullopt;
  return fixed_from_hex<32>(it->get<std::string>());
}

std::optional<std::string> key_member(const json& o) {
  const auto it = o.find("key");
  if (it == o.end() || !it->is_string() || !KeyStore::valid_name(it->get<std::string>()))
    return std::nullopt;
  return it->get<std::string>();
}

std::optional<Bytes> value_member(const json& o, std::string& why) {
  const auto it = o.find("value");
  if (it == o.end()) {
    why = "no value";
    return std::nullopt;
  }
  auto v = decode_value(*it, why);
  if (v && v->size() > kMaxKeptValueBytes) {
    why = "value larger than " + std::to_string(kMaxKeptValueBytes) + " bytes";
    return std::nullopt;
  }
  return v;
}

std::optional<AnnounceIntent> parse_announce(const json& e, std::string& why) {
  if (!e.is_object()) return fail(why, "not an object");
  AnnounceIntent a;
  const auto topic = hex32_member(e, "topic");
  const auto pk = hex32_member(e, "publicKey");
  const auto key = key_member(e);
  if (!topic || !pk || !key) return fail(why, "needs topic, key and publicKey");
  a.topic = *topic;
  a.public_key = *pk;
  a.key_name = *key;
  if (const auto it = e.find("relays"); it != e.end()) {
    if (!it->is_array() || it->size() > kMaxRelays)
      return fail(why, "relays must be a list of at most 3 addresses");
    for (const auto& r : *it) {
      auto addr = r.is_string() ? Ipv4Address::parse(r.get<std::string>()) : std::nullopt;
      if (!addr || addr->port == 0) return fail(why, "bad relay address");
      a.relays.push_back(*addr);
    }
  }
  return a;
}

std::optional<RecordIntent> parse_record(const json& e, std::string& why) {
  if (!e.is_object()) return fail(why, "not an object");
  const auto type = e.find("type");
  if (type == e.end() || !type->is_string()) return fail(why, "no type");
  if (*type != "immutable" && *type != "mutable") return fail(why, "unknown type");
  RecordIntent r;
  auto value = value_member(e, why);
  if (!value) return std::nullopt;
  r.value = std::move(*value);
  if (*type == "immutable") {
    // The hash is redundant; a mismatch means the entry was edited or damaged.
    if (e.contains("hash")) {
      const auto h = hex32_member(e, "hash");
      if (!h || *h != crypto::hash32(r.value)) return fail(why, "hash does not match the value");
    }
    return r;
  }
  r.is_mutable = true;
  const auto pk = hex32_member(e, "publicKey");
  const auto key = key_member(e);
  const auto seq = e.find("seq");
  if (!pk || !key || seq == e.end() || !seq->is_number_unsigned())
    return fail(why, "needs key, publicKey and seq");
  r.public_key = *pk;
  r.key_name = *key;
  r.seq = seq->get<std::uint64_t>();
  return r;
}

std::optional<ServerIntent> parse_server(const json& e, std::string& why) {
  if (!e.is_object()) return fail(why, "not an object");
  ServerIntent s;
  const auto pk = hex32_member(e, "publicKey");
  const auto key = key_member(e);
  if (!pk || !key) return fail(why, "needs key and publicKey");
  s.public_key = *pk;
  s.key_name = *key;
  if (const auto it = e.find("allow"); it != e.end() && !it->is_null()) {
    if (!it->is_array() || it->size() > kMaxAllowedKeys)
      return fail(why, "allow must be a list of at most 256 public keys");
    for (const auto& k : *it) {
      auto v = k.is_string() ? fixed_from_hex<32>(k.get<std::string>()) : std::nullopt;
      if (!v) return fail(why, "bad public key in allow");
      s.allow.push_back(*v);
    }
  }
  if (const auto it = e.find("forward"); it != e.end() && !it->is_null()) {
    std::string bad;
    if (!it->is_string() || !parse_local_address(it->get<std::string>(), bad))
      return fail(why, "bad forward address");
    s.forward = it->get<std::string>();
  }
  if (const auto it = e.find("relayThrough"); it != e.end() && !it->is_null()) {
    auto v = it->is_string() ? fixed_from_hex<32>(it->get<std::string>()) : std::nullopt;
    if (!v) return fail(why, "bad relayThrough public key");
    s.relay_through = *v;
  }
  return s;
}

// Depth of [ and { outside strings, checked before parsing: a hostile file must not make the
// parser build (and the destructor recurse through) a deep tree.
bool too_deep(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : s) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

template <class T, class Parse>
void parse_list(const json& root, const char* name, std::size_t cap, Parse parse,
                std::vector<T>& out, std::vector<std::string>& warnings) {
  const auto it = root.find(name);
  if (it == root.end()) return;
  if (!it->is_array()) {
    warnings.push_back(std::string("'") + name + "' is not a list; ignored");
    return;
  }
  std::size_t index = 0;
  for (const auto& e : *it) {
    if (out.size() >= cap) {
      warnings.push_back(std::string(name) + ": only the first " + std::to_string(cap) +
                         " entries are used; " + std::to_string(it->size() - index) + " dropped");
      break;
    }
    std::string why;
    if (auto v = parse(e, why))
      out.push_back(std::move(*v));
    else
      warnings.push_back(std::string(name) + "[" + std::to_string(index) + "] dropped: " + why);
    ++index;
  }
}

}  // namespace

ParsedIntents parse_intents(std::string_view text) {
  ParsedIntents out;
  if (too_deep(text)) {
    out.damage = "nested deeper than " + std::to_string(kMaxDepth);
    return out;
  }
  const auto root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) {
    out.damage = "not valid JSON";
    return out;
  }
  if (!root.is_object()) {
    out.damage = "not a JSON object";
    return out;
  }
  const auto version = root.find("version");
  if (version == root.end() || !version->is_number_unsigned() || *version != kVersion) {
    out.damage = "not version " + std::to_string(kVersion);
    return out;
  }
  parse_list<AnnounceIntent>(root, "announces", kMaxStandingAnnounces, parse_announce,
                             out.intents.announces, out.warnings);
  parse_list<RecordIntent>(root, "records", kMaxKeptRecords, parse_record, out.intents.records,
                           out.warnings);
  parse_list<ServerIntent>(root, "servers", kMaxKeptServers, parse_server, out.intents.servers,
                           out.warnings);
  for (const auto& [k, v] : root.items())
    if (k != "version" && k != "announces" && k != "records" && k != "servers")
      out.intents.extra[k] = v;
  return out;
}

std::string render_intents(const Intents& intents) {
  json announces = json::array();
  for (const auto& a : intents.announces) {
    json relays = json::array();
    for (const auto& r : a.relays)
      relays.push_back(r.to_string());
    announces.push_back({{"topic", to_hex(a.topic)},
                         {"key", a.key_name},
                         {"publicKey", to_hex(a.public_key)},
                         {"relays", relays}});
  }
  json records = json::array();
  for (const auto& r : intents.records) {
    if (r.is_mutable)
      records.push_back({{"type", "mutable"},
                         {"key", r.key_name},
                         {"publicKey", to_hex(r.public_key)},
                         {"seq", r.seq},
                         {"value", auto_value_json(r.value)}});
    else
      records.push_back({{"type", "immutable"},
                         {"hash", to_hex(crypto::hash32(r.value))},
                         {"value", auto_value_json(r.value)}});
  }
  json servers = json::array();
  for (const auto& sv : intents.servers) {
    json allow = json::array();
    for (const auto& k : sv.allow)
      allow.push_back(to_hex(k));
    servers.push_back(
        {{"key", sv.key_name},
         {"publicKey", to_hex(sv.public_key)},
         {"allow", allow},
         {"forward", sv.forward.empty() ? json(nullptr) : json(sv.forward)},
         {"relayThrough", sv.relay_through ? json(to_hex(*sv.relay_through)) : json(nullptr)}});
  }
  json root = intents.extra.is_object() ? intents.extra : json::object();
  root["version"] = kVersion;
  root["announces"] = std::move(announces);
  root["records"] = std::move(records);
  root["servers"] = std::move(servers);
  // One entry per line: readable, and diffable by whoever looks after the machine.
  return root.dump(1) + "\n";
}

IntentsFile::IntentsFile(std::string state_dir)
    : path_(state_dir.empty() ? std::string() : state_dir + "/intents.json") {}

Intents IntentsFile::load() {
  if (!enabled()) return {};
  const auto damaged = [this](const std::string& why, const std::string* text) {
    const auto bad = path_ + ".bad";
    spdlog::error(
        "intents: {} is damaged ({}); starting without kept announces and records, "
        "a copy is in {} (the file is rewritten at the next change)",
        path_, why, bad);
    Result<void> r = text ? write_atomic(bad, *text) : Result<void>{};
    if (!text) {
      // Too big to read: a hard link keeps the bytes, and survives the rename that replaces it.
      ::unlink(bad.c_str());
      if (::link(path_.c_str(), bad.c_str()) != 0) r = last_error();
    }
    if (!r) spdlog::warn("intents: cannot keep a copy in {}: {}", bad, r.error().message());
    return Intents{};
  };
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    if (errno != ENOENT) spdlog::warn("intents: cannot read {}: {}", path_, last_error().message());
    return {};
  }
  if (!S_ISREG(st.st_mode)) return damaged("not a regular file", nullptr);
  if (static_cast<std::size_t>(st.st_size) > kIntentsMaxFileBytes)
    return damaged("larger than " + std::to_string(kIntentsMaxFileBytes) + " bytes", nullptr);
  std::ifstream in(path_, std::ios::binary);
  // Bounded by the size checked above, even if the file grows while we read it.
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    spdlog::warn("intents: cannot read {}", path_);
    return {};
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  auto parsed = parse_intents(text);
  if (!parsed.damage.empty()) return damaged(parsed.damage, &text);
  for (const auto& w : parsed.warnings)
    spdlog::warn("intents: {}: {}", path_, w);
  extra_ = parsed.intents.extra;
  return std::move(parsed.intents);
}

Result<void> IntentsFile::save(Intents intents) {
  if (!enabled()) return {};
  intents.extra = extra_;
  return write_atomic(path_, render_intents(intents));
}

std::pair<std::size_t, std::size_t> restore_intents(const Intents& intents, const KeyStore& keys,
                                                    Announcer& announcer, RecordKeeper& keeper) {
  // The key must still be there and still be the same key pair.
  const auto key_for = [&keys](const std::string& name, const Bytes32& pk,
                               const std::string& what) -> std::optional<crypto::KeyPair> {
    auto kp = keys.get(name);
    if (!kp)
      spdlog::warn("intents: dropping {}: no key named '{}' any more", what, name);
    else if (kp->public_key != pk)
      spdlog::warn("intents: dropping {}: key '{}' is now another key pair", what, name);
    else
      return kp;
    return std::nullopt;
  };
  std::size_t announces = 0, records = 0;
  for (const auto& a : intents.announces) {
    auto kp = key_for(a.key_name, a.public_key, "the announce of " + to_hex(a.topic));
    if (!kp) continue;
    StandingAnnounce s;
    s.topic = a.topic;
    s.key_name = a.key_name;
    s.key = *kp;
    s.relays = a.relays;
    announcer.restore(std::move(s));
    ++announces;
  }
  for (const auto& r : intents.records) {
    KeptRecord k;
    k.is_mutable = r.is_mutable;
    k.value = r.value;
    if (r.is_mutable) {
      auto kp = key_for(r.key_name, r.public_key, "the mutable record of " + to_hex(r.public_key));
      if (!kp) continue;
      k.target = r.public_key;
      k.key_name = r.key_name;
      k.key = *kp;
      k.seq = r.seq;
    } else {
      k.target = crypto::hash32(r.value);
    }
    keeper.restore(std::move(k));
    ++records;
  }
  return {announces, records};
}

std::size_t restore_server_intents(const Intents& intents, const KeyStore& keys, Servers& servers) {
  std::size_t n = 0;
  for (const auto& sv : intents.servers) {
    auto kp = keys.get(sv.key_name);
    if (!kp || kp->public_key != sv.public_key) {
      spdlog::warn("intents: dropping the server of {}: key '{}' is {}", to_hex(sv.public_key),
                   sv.key_name, kp ? "now another key pair" : "gone");
      continue;
    }
    ServerSpec spec;
    spec.key_name = sv.key_name;
    spec.key = *kp;
    spec.allow = sv.allow;
    spec.keep = true;
    spec.relay_through = sv.relay_through;
    std::string why;
    if (!sv.forward.empty()) spec.forward = parse_local_address(sv.forward, why);
    servers.restore(std::move(spec));
    ++n;
  }
  return n;
}

Intents collect_intents(const Announcer& announcer, const RecordKeeper& keeper,
                        const Servers& servers) {
  Intents out;
  for (const auto& sv : servers.standing())
    out.servers.push_back({sv.key_name, sv.key.public_key, sv.allow,
                           sv.forward ? sv.forward->text : std::string(), sv.relay_through});
  for (const auto& a : announcer.list())
    out.announces.push_back({a.topic, a.key_name, a.key.public_key, a.relays});
  for (const auto& r : keeper.list()) {
    RecordIntent i;
    i.is_mutable = r.is_mutable;
    i.value = r.value;
    if (r.is_mutable) {
      i.key_name = r.key_name;
      i.public_key = r.target;
      i.seq = r.seq;
    }
    out.records.push_back(std::move(i));
  }
  return out;
}

}  // namespace hdht::daemon
