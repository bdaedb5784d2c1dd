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

}  // namespace

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
  d.add("keys.remove", [&ctx](const json& params, Responder r) {
    ParamReader p(params, {"name"});
    auto name = p.string("name", true);
    if (p.error()) return r.error(*p.error());
    if (auto done = ctx.keys.remove(*name); !done) return r.error(key_error(done.error()));
    spdlog::info("keys: removed {}", *name);
    r.result({{"removed", *name}});
  });
}

}  // namespace hdht::daemon
