#include "daemon/methods.hpp"

#include <unistd.h>

#include "core/version.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

json address_json(const std::optional<Ipv4Address>& a) {
  if (!a) return nullptr;
  return json{{"host", a->host_string()}, {"port", a->port}};
}

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::nodes:
      return "nodes";
    case Mode::bootstrapper:
      return "bootstrapper";
    case Mode::testnet:
      return "testnet";
  }
  return "nodes";
}

json node_json(std::size_t i, const dht::DhtNode& n) {
  const auto id = n.id();
  return {{"index", i},
          {"id", id ? json(to_hex(*id)) : json(nullptr)},
          {"address", address_json(n.address())},
          {"publicAddress", address_json(n.nat_address())},
          {"bootstrapped", n.bootstrapped()},
          {"firewalled", n.firewalled()},
          {"ephemeral", n.ephemeral()},
          {"online", n.online()},
          {"degraded", n.degraded()},
          {"tableSize", n.table().size()}};
}

// null when --blind-relay is off.
json relay_json(const BlindRelayRole& relay) {
  if (!relay.enabled()) return nullptr;
  const auto s = relay.stats();
  return {{"publicKey", to_hex(*relay.public_key())},
          {"key", relay.key_name()},
          {"state", blind_relay_state_name(relay.state())},
          {"sessions", s.sessions_accepted},
          {"sessionsClosed", s.sessions_closed},
          {"pairingsRequested", s.pairings_requested},
          {"pairings", s.pairings_matched},
          {"pairingsActive", s.pairings_active},
          {"packetsRelayed", s.packets_relayed},
          {"bytesRelayed", s.bytes_relayed}};
}

void status(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {});
  if (p.error()) return r.error(*p.error());
  const auto s = ctx.runner.summary();
  json nodes = json::array();
  for (std::size_t i = 0; i < ctx.runner.nodes().size(); ++i)
    nodes.push_back(node_json(i, *ctx.runner.nodes()[i]));
  r.result({
      {"version", version_string()},
      {"pid", ::getpid()},
      {"uptimeMs",
       std::chrono::duration_cast<std::chrono::milliseconds>(ctx.runtime.now() - ctx.started)
           .count()},
      {"mode", mode_name(ctx.options.mode)},
      {"ready", s.planned > 0 && s.bootstrapped == s.planned},
      {"healthy", ctx.health.healthy()},
      {"nodeCount", s.planned},
      {"started", s.nodes},
      {"bootstrapped", s.bootstrapped},
      {"persistent", s.persistent},
      {"firewalled", s.firewalled},
      {"tableSize", {{"min", s.min_table}, {"max", s.max_table}}},
      {"defaultKey", to_hex(ctx.keys.default_key().public_key)},
      {"stateDir", ctx.options.state_dir.empty() ? json(nullptr) : json(ctx.options.state_dir)},
      {"servers", ctx.servers.size()},
      {"connections", ctx.connections.size()},
      {"relayThrough",
       ctx.options.relay_through ? json(to_hex(*ctx.options.relay_through)) : json(nullptr)},
      {"blindRelay", relay_json(ctx.relay)},
      {"nodes", nodes},
  });
}

void health(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"probe"});
  const auto probe = p.boolean("probe").value_or(false);
  if (p.error()) return r.error(*p.error());
  if (!probe) return r.result(ctx.health.report());
  // Answered when the lookup ends (bounded by the query's own request timeouts).
  ctx.health.probe([&ctx, r](const ProbeResult& res) {
    auto report = ctx.health.report();
    report["probe"] = {{"ok", res.ok},
                       {"replies", res.replies},
                       {"tookMs", res.took.count()},
                       {"error", res.ok ? json(nullptr) : json(res.error)}};
    r.result(report);
  });
}

void nodes(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"node", "limit"});
  const auto index = p.uint("node", 1u << 20).value_or(0);
  const auto limit = p.uint("limit", 1u << 20).value_or(0);
  if (p.error()) return r.error(*p.error());
  const auto* node = ctx.runner.node(index);
  if (!node)
    return r.error(
        {rpc::kNotFound,
         "no node " + std::to_string(index) + " (have " + std::to_string(ctx.runner.size()) + ")",
         "NO_SUCH_NODE",
         {}});
  json list = json::array();
  for (const auto* n : node->table().to_array()) {
    if (limit && list.size() >= limit) break;
    list.push_back({{"id", to_hex(n->id)},
                    {"host", n->addr.host_string()},
                    {"port", n->addr.port},
                    {"seenTick", n->seen}});
  }
  const auto id = node->id();
  r.result({{"node", index},
            {"id", id ? json(to_hex(*id)) : json(nullptr)},
            {"tick", node->tick()},
            {"size", node->table().size()},
            {"nodes", list}});
}

}  // namespace

void add_node_methods(Dispatcher& d, MethodContext& ctx) {
  d.add("status", [&ctx](const json& params, Responder r) { status(ctx, params, r); });
  d.add("health", [&ctx](const json& params, Responder r) { health(ctx, params, r); });
  d.add("nodes", [&ctx](const json& params, Responder r) { nodes(ctx, params, r); });
  d.add("metrics", [&ctx](const json& params, Responder r) {
    ParamReader p(params, {});
    if (p.error()) return r.error(*p.error());
    r.result({{"format", "prometheus-text-0.0.4"}, {"text", ctx.metrics_text()}});
  });
  d.add("methods", [&ctx](const json& params, Responder r) {
    ParamReader p(params, {});
    if (p.error()) return r.error(*p.error());
    r.result({{"methods", ctx.dispatcher.methods()}});
  });
}

}  // namespace hdht::daemon
