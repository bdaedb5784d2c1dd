#include "daemon/methods.hpp"

#include <spdlog/spdlog.h>

namespace hdht::daemon {

using rpc::json;

namespace {

rpc::Error key_error(std::error_code ec) {
  switch (static_cast<KeyErrc>(ec.value())) {
    case KeyErrc::invalid_name:
      return {rpc::kInvalidParams, ec.message(), "INVALID_KEY_NAME", {}};
    case KeyErrc::exists:
      return {rpc::kExists, ec.message(), "KEY_EXISTS", {}};
    case KeyErrc::not_found:
      return {rpc::kNotFound, ec.message(), "KEY_NOT_FOUND", {}};
    case KeyErrc::protected_key:
      return {rpc::kForbidden, ec.message(), "KEY_PROTECTED", {}};
    case KeyErrc::storage:
      break;
  }
  return {rpc::kStorage, ec.message(), "STORAGE_ERROR", {}};
}

json key_json(const KeyInfo& k) {
  return {{"name", k.name},
          {"publicKey", to_hex(k.public_key)},
          {"default", k.name == KeyStore::kDefaultName}};
}

// keys.generate and keys.import: the same operation, except that import needs the seed.
void add_key(MethodContext& ctx, const json& params, const Responder& r, bool need_seed) {
  ParamReader p(params, {"name", "seed"});
  auto name = p.string("name");
  auto seed = p.hex32("seed", need_seed);
  if (p.error()) return r.error(*p.error());
  if (!seed) {
    Bytes32 s{};
    crypto::random_bytes(s);
    seed = s;
  }
  // An unnamed key is named after its public key, so it can still be listed and removed.
  if (!name) name = "key-" + to_hex(crypto::key_pair_from_seed(*seed).public_key).substr(0, 16);
  auto made = ctx.keys.generate(*name, seed);
  if (!made) return r.error(key_error(made.error()));
  spdlog::info("keys: added {} ({})", made->name, to_hex(made->public_key));
  r.result(key_json(*made));
}

// What keeps using the named key: standing announces, kept mutable records, servers and the
// blind relay ("" when nothing). Removing it would leave those running under a key that no restart
// can restore.
std::string key_users(const MethodContext& ctx, const std::string& name) {
  std::size_t announces = 0;
  for (const auto& a : ctx.announcer.list())
    announces += a.key_name == name ? 1 : 0;
  std::size_t records = 0;
  for (const auto& k : ctx.keeper.list())
    records += k.is_mutable && k.key_name == name ? 1 : 0;
  const std::size_t servers = ctx.servers.uses_key(name);
  std::string out;
  const auto add = [&out](std::size_t n, const char* what) {
    if (n == 0) return;
    out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  };
  add(announces, "standing announce(s)");
  add(records, "kept mutable record(s)");
  add(servers, "server(s)");
  add(ctx.relay.enabled() && ctx.relay.key_name() == name ? 1 : 0, "blind relay");
  return out;
}

void remove_key(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"name"});
  auto name = p.string("name", true);
  if (p.error()) return r.error(*p.error());
  // The default key is refused by the store (KEY_PROTECTED) whatever uses it.
  if (*name != KeyStore::kDefaultName) {
    if (const auto users = key_users(ctx, *name); !users.empty())
      return r.error({rpc::kForbidden,
                      "key '" + *name + "' is in use by " + users +
                          " (unannounce, forget or unlisten them first)",
                      "KEY_IN_USE",
                      {}});
  }
  if (auto done = ctx.keys.remove(*name); !done) return r.error(key_error(done.error()));
  spdlog::info("keys: removed {}", *name);
  r.result({{"removed", *name}});
}

}  // namespace

std::optional<crypto::KeyPair> read_key(MethodContext& ctx, const std::string& name,
                                        const Responder& r) {
  auto kp = ctx.keys.get(name);
  if (!kp) r.error({rpc::kNotFound, "no key named '" + name + "'", "KEY_NOT_FOUND", {}});
  return kp;
}

void add_key_methods(Dispatcher& d, MethodContext& ctx) {
  d.add("keys.generate",
        [&ctx](const json& params, Responder r) { add_key(ctx, params, r, false); });
  d.add("keys.import", [&ctx](const json& params, Responder r) { add_key(ctx, params, r, true); });
  d.add("keys.list", [&ctx](const json& params, Responder r) {
    ParamReader p(params, {});
    if (p.error()) return r.error(*p.error());
    json list = json::array();
    for (const auto& k : ctx.keys.list())
      list.push_back(key_json(k));
    r.result({{"keys", list}, {"persistent", ctx.keys.persistent()}});
  });
  d.add("keys.remove", [&ctx](const json& params, Responder r) { remove_key(ctx, params, r); });
}

}  // namespace hdht::daemon
