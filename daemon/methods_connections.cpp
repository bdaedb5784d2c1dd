// listen, unlisten, servers, connect, accept, connections, disconnect (docs/control-socket.md).
#include "daemon/methods.hpp"

#include <spdlog/spdlog.h>

#include "daemon/record_json.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

constexpr std::size_t kMaxAllow = 256;

long long age_ms(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t)
      .count();
}

std::optional<crypto::KeyPair> named_key(MethodContext& ctx, const std::string& name,
                                         const Responder& r) {
  auto kp = ctx.keys.get(name);
  if (!kp) r.error({rpc::kNotFound, "no key named '" + name + "'", "KEY_NOT_FOUND", {}});
  return kp;
}

std::optional<std::vector<Bytes32>> read_allow(const json& params, const Responder& r) {
  std::vector<Bytes32> out;
  if (!params.is_object() || !params.contains("allow") || params["allow"].is_null()) return out;
  const auto& a = params["allow"];
  bool ok = a.is_array() && a.size() <= kMaxAllow;
  for (std::size_t i = 0; ok && i < a.size(); ++i) {
    auto k = a[i].is_string() ? fixed_from_hex<32>(a[i].get<std::string>()) : std::nullopt;
    ok = k.has_value();
    if (ok) out.push_back(*k);
  }
  if (!ok) {
    r.error({rpc::kInvalidParams,
             "'allow' must be a list of at most " + std::to_string(kMaxAllow) +
                 " public keys (64 hex characters each)",
             "BAD_HEX",
             {}});
    return std::nullopt;
  }
  return out;
}

json optional_hex(const std::optional<Bytes32>& key) {
  return key ? json(to_hex(*key)) : json(nullptr);
}

json hex_list(const std::vector<Bytes32>& keys) {
  json out = json::array();
  for (const auto& k : keys)
    out.push_back(to_hex(k));
  return out;
}

void listen(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"key", "allow", "forward", "keep", "relayThrough"});
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  const auto forward = p.string("forward");
  const auto keep = p.boolean("keep").value_or(false);
  const auto relay_through = p.hex32("relayThrough");
  if (p.error()) return r.error(*p.error());
  auto allow = read_allow(params, r);
  if (!allow) return;
  ServerSpec spec;
  if (forward) {
    std::string why;
    spec.forward = parse_local_address(*forward, why);
    if (!spec.forward)
      return r.error({rpc::kInvalidParams, "'forward': " + why, "BAD_ADDRESS", {}});
  }
  auto kp = named_key(ctx, key_name, r);
  if (!kp || !serving_node(ctx, r)) return;
  spec.key_name = key_name;
  spec.key = *kp;
  spec.allow = std::move(*allow);
  spec.keep = keep || forward;
  spec.relay_through = relay_through;
  const auto listener = forward ? std::weak_ptr<LineSink>() : r.sink();
  ctx.servers.listen(spec, listener, [&ctx, r, spec](std::optional<rpc::Error> err, bool attached) {
    if (err) return r.error(*err);
    if (spec.keep) ctx.intents_changed();
    r.result({{"publicKey", to_hex(spec.key.public_key)},
              {"key", spec.key_name},
              {"allow", hex_list(spec.allow)},
              {"forward", spec.forward ? json(spec.forward->text) : json(nullptr)},
              {"keep", spec.keep},
              {"relayThrough", optional_hex(ctx.servers.relay_through(spec))},
              {"attached", attached}});
  });
}

std::optional<Bytes32> server_key(MethodContext& ctx, ParamReader& p, const Responder& r) {
  auto pk = p.hex32("publicKey");
  const auto name = p.string("key");
  if (p.error()) return r.error(*p.error()), std::nullopt;
  if (!pk && name) {
    auto kp = named_key(ctx, *name, r);
    if (!kp) return std::nullopt;
    pk = kp->public_key;
  }
  if (!pk) pk = ctx.keys.default_key().public_key;
  return pk;
}

void unlisten(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"publicKey", "key"});
  const auto pk = server_key(ctx, p, r);
  if (!pk) return;
  if (!ctx.servers.unlisten(*pk))
    return r.error({rpc::kNotFound, "no server listens on " + to_hex(*pk), "NO_SUCH_SERVER", {}});
  spdlog::info("server {}: closed by request", to_hex(*pk));
  ctx.intents_changed();
  r.result({{"publicKey", to_hex(*pk)}, {"closed", true}});
}

void refresh(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"publicKey", "key"});
  const auto pk = server_key(ctx, p, r);
  if (!pk) return;
  if (!ctx.servers.refresh(*pk))
    return r.error(
        {rpc::kNotFound, "no server is listening on " + to_hex(*pk), "NO_SUCH_SERVER", {}});
  r.result({{"publicKey", to_hex(*pk)}, {"refreshed", true}});
}

json server_address(const std::optional<hyperdht::ServerAddress>& a) {
  if (!a) return nullptr;
  return {{"host", a->host}, {"port", a->port}};
}

json address_list(const std::vector<Ipv4Address>& addrs) {
  json out = json::array();
  for (const auto& a : addrs)
    out.push_back(a.to_string());
  return out;
}

void servers(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {});
  if (p.error()) return r.error(*p.error());
  json list = json::array();
  for (const auto& s : ctx.servers.list())
    list.push_back({{"publicKey", to_hex(s.spec.key.public_key)},
                    {"key", s.spec.key_name},
                    {"state", server_state_name(s.state)},
                    {"allow", hex_list(s.spec.allow)},
                    {"forward", s.spec.forward ? json(s.spec.forward->text) : json(nullptr)},
                    {"keep", s.spec.keep},
                    {"relayThrough", optional_hex(ctx.servers.relay_through(s.spec))},
                    {"listeners", s.listeners},
                    {"connections", s.connections},
                    {"rejected", s.rejected},
                    {"address", server_address(s.address)},
                    {"relayAddresses", address_list(s.relay_addresses)},
                    {"ageMs", age_ms(s.since)}});
  r.result({{"servers", list}, {"max", ctx.servers.max()}});
}

void connect(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"publicKey", "key", "relayThrough"});
  const auto remote = p.hex32("publicKey", true);
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  const auto relay_through = p.hex32("relayThrough");
  if (p.error()) return r.error(*p.error());
  auto kp = named_key(ctx, key_name, r);
  if (!kp) return;
  const auto relay = relay_through ? relay_through : ctx.options.relay_through;
  auto* node = serving_node(ctx, r);
  if (!node) return;
  if (ctx.connections.full()) return r.error(limit_error("connections", ctx.connections.max()));
  ConnectionInfo info;
  info.remote_public_key = *remote;
  info.local_public_key = kp->public_key;
  info.since = std::chrono::steady_clock::now();
  auto id = std::make_shared<std::uint64_t>(0);
  // A client that leaves before the answer cancels the connect.
  r.hold([&ctx, id] { ctx.connections.close(*id); });
  hyperdht::ConnectOptions o;
  o.key_pair = *kp;
  if (relay) o.relay_through = [relay] { return relay; };
  auto pc = hyperdht::PeerConnect::start(
      *node, *remote, o,
      [&ctx, r, id, info, relay](Result<std::unique_ptr<core::SecretStream>> res) {
        const auto* stats = ctx.connections.connect_stats(*id);
        const char* path = stats ? hyperdht::connect_path_name(stats->path) : "none";
        const bool relay_attempted = stats && stats->relay_attempted;
        // Dropping the PeerConnect here is fine on every path: a relayed stream owns its relay
        // connection (core/peer_connect.hpp).
        if (!ctx.connections.finish_connecting(*id, res.has_value())) return;
        if (!res) {
          spdlog::info("connect to {}: {}", to_hex(info.remote_public_key), res.error().message());
          return r.error(operation_error(res.error(), "connect"));
        }
        auto& s = **res;
        const json result = {{"connection", *id},
                             {"publicKey", to_hex(s.remote_public_key())},
                             {"localPublicKey", to_hex(s.public_key())},
                             {"handshakeHash", to_hex(s.handshake_hash())},
                             {"path", path},
                             {"relayThrough", optional_hex(relay)},
                             {"relayAttempted", relay_attempted}};
        auto stream = std::make_shared<std::unique_ptr<core::SecretAsyncStream>>(
            std::make_unique<core::SecretAsyncStream>(std::move(*res)));
        spdlog::info("connection {}: to {} ({})", *id, to_hex(info.remote_public_key), path);
        r.upgrade(result, [&ctx, id = *id, info, stream](auto socket, std::string early) {
          ctx.connections.pipe(id, info, std::move(*stream), Pipe::Local(std::move(socket)),
                               std::move(early));
        });
      });
  *id = ctx.connections.add_connecting(info, std::move(pc), [r] {
    r.error({rpc::kRequestFailed, "the connect was closed", "CONNECTION_CLOSED", {}});
  });
}

void accept(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"connection"});
  const auto id = p.uint("connection", UINT64_MAX, true);
  if (p.error()) return r.error(*p.error());
  ConnectionInfo info;
  auto s = ctx.connections.take_waiting(*id, &info);
  if (!s)
    return r.error({rpc::kNotFound,
                    "no connection " + std::to_string(*id) + " waits for accept",
                    "NO_SUCH_CONNECTION",
                    {}});
  const json result = {{"connection", *id},
                       {"publicKey", to_hex(info.remote_public_key)},
                       {"server", to_hex(info.local_public_key)},
                       {"handshakeHash", to_hex(s->stream().handshake_hash())}};
  auto stream = std::make_shared<std::unique_ptr<core::SecretAsyncStream>>(std::move(s));
  r.hold({});
  r.upgrade(result, [&ctx, id = *id, info, stream](auto socket, std::string early) {
    ctx.connections.pipe(id, info, std::move(*stream), Pipe::Local(std::move(socket)),
                         std::move(early));
  });
}

void connections(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {});
  if (p.error()) return r.error(*p.error());
  json list = json::array();
  for (const auto& c : ctx.connections.list())
    list.push_back(
        {{"connection", c.id},
         {"state", connection_state_name(c.state)},
         {"direction", c.info.inbound ? "inbound" : "outbound"},
         {"remotePublicKey", to_hex(c.info.remote_public_key)},
         {"localPublicKey", to_hex(c.info.local_public_key)},
         {"server", c.info.inbound ? json(to_hex(c.info.local_public_key)) : json(nullptr)},
         {"local", c.info.local},
         {"bytesOut", c.bytes_to_peer},
         {"bytesIn", c.bytes_from_peer},
         {"ageMs", age_ms(c.info.since)}});
  r.result({{"connections", list}, {"max", ctx.connections.max()}});
}

void disconnect(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"connection"});
  const auto id = p.uint("connection", UINT64_MAX, true);
  if (p.error()) return r.error(*p.error());
  if (!ctx.connections.close(*id))
    return r.error(
        {rpc::kNotFound, "no connection " + std::to_string(*id), "NO_SUCH_CONNECTION", {}});
  r.result({{"connection", *id}, {"closed", true}});
}

}  // namespace

void add_connection_methods(Dispatcher& d, MethodContext& ctx) {
  d.add("listen", [&ctx](const json& params, Responder r) { listen(ctx, params, r); });
  d.add("unlisten", [&ctx](const json& params, Responder r) { unlisten(ctx, params, r); });
  d.add("servers", [&ctx](const json& params, Responder r) { servers(ctx, params, r); });
  d.add("refresh", [&ctx](const json& params, Responder r) { refresh(ctx, params, r); });
  d.add("connect", [&ctx](const json& params, Responder r) { connect(ctx, params, r); });
  d.add("accept", [&ctx](const json& params, Responder r) { accept(ctx, params, r); });
  d.add("connections", [&ctx](const json& params, Responder r) { connections(ctx, params, r); });
  d.add("disconnect", [&ctx](const json& params, Responder r) { disconnect(ctx, params, r); });
}

}  // namespace hdht::daemon
