#include "daemon/methods.hpp"

#include <memory>

#include <spdlog/spdlog.h>

#include "daemon/intents.hpp"
#include "daemon/record_json.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

json relays_json(const std::vector<Ipv4Address>& relays) {
  json out = json::array();
  for (const auto& a : relays)
    out.push_back(a.to_string());
  return out;
}

// Starts a stream after handing it to the registry (a stream that fails at once may then
// release itself from its own callback).
template <class Stream>
void hold_and_start(MethodContext& ctx, OperationRegistry::Id id, std::unique_ptr<Stream> s,
                    const Responder& r) {
  auto* raw = s.get();
  ctx.ops.hold(id, std::move(s), r);
  raw->start();
}

void lookup(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"topic"});
  auto topic = p.topic("topic", true);
  if (p.error()) return r.error(*p.error());
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto s = node->lookup(*topic);
  auto peers = std::make_shared<PeerSet>();
  auto replies = std::make_shared<std::size_t>(0);
  s->on_reply([r, peers, replies](const hyperdht::LookupResult& res) {
    ++*replies;
    json list = json::array();
    for (const auto& peer : res.peers) {
      list.push_back(peer_json(peer));
      peers->add(peer);
    }
    r.notify("lookup.data", {{"from", from_json(res.from)}, {"peers", list}});
  });
  s->on_done([&ctx, id, r, peers, replies, t = *topic](std::error_code ec) {
    if (ec)
      r.error(operation_error(ec, "lookup"));
    else
      r.result({{"topic", to_hex(t)}, {"peers", peers->to_json()}, {"replies", *replies}});
    ctx.ops.release(id);
  });
  hold_and_start(ctx, id, std::move(s), r);
}

void find_peer(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"publicKey"});
  auto pk = p.hex32("publicKey", true);
  if (p.error()) return r.error(*p.error());
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto s = node->find_peer(*pk);
  auto peers = std::make_shared<PeerSet>();
  auto replies = std::make_shared<std::size_t>(0);
  s->on_reply([r, peers, replies](const hyperdht::FindPeerResult& res) {
    ++*replies;
    peers->add(res.peer);
    r.notify("find-peer.data", {{"from", from_json(res.from)}, {"peer", peer_json(res.peer)}});
  });
  s->on_done([&ctx, id, r, peers, replies, target = *pk](std::error_code ec) {
    if (ec)
      r.error(operation_error(ec, "find-peer"));
    else if (peers->size() == 0)
      r.error({rpc::kNotFound, "no node knows " + to_hex(target), "NOT_FOUND", {}});
    else
      r.result({{"publicKey", to_hex(target)},
                {"relayAddresses", peers->to_json()[0]["relayAddresses"]},
                {"replies", *replies}});
    ctx.ops.release(id);
  });
  hold_and_start(ctx, id, std::move(s), r);
}

void announce(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"topic", "key", "relays", "keep"});
  auto topic = p.topic("topic", true);
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  auto relays = p.addresses("relays", kMaxRelays).value_or(std::vector<Ipv4Address>{});
  const auto keep = p.boolean("keep").value_or(false);
  if (p.error()) return r.error(*p.error());
  auto kp = read_key(ctx, key_name, r);
  if (!kp) return;
  if (keep && ctx.announcer.size() >= kMaxStandingAnnounces &&
      !ctx.announcer.contains(*topic, kp->public_key))
    return r.error(limit_error("standing announces", kMaxStandingAnnounces));
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto s = node->announce(*topic, *kp, relays);
  auto* raw = s.get();
  s->on_done([&ctx, id, r, raw, keep, t = *topic, key = *kp, key_name, relays](std::error_code ec) {
    if (ec) {
      r.error(operation_error(ec, "announce"));
      return ctx.ops.release(id);
    }
    const bool room =
        ctx.announcer.size() < kMaxStandingAnnounces || ctx.announcer.contains(t, key.public_key);
    if (keep && room) {
      StandingAnnounce a;
      a.topic = t;
      a.key_name = key_name;
      a.key = key;
      a.relays = relays;
      ctx.announcer.keep(std::move(a));
      spdlog::info("announce: keeping {} announced as {}", to_hex(t), to_hex(key.public_key));
      ctx.intents_changed();
    }
    // raw is alive: the registry destroys handles on a later turn, never inside a callback.
    r.result({{"topic", to_hex(t)},
              {"publicKey", to_hex(key.public_key)},
              {"key", key_name},
              {"relayAddresses", relays_json(relays)},
              {"closest", closest_json(raw->closest_nodes())},
              {"keep", keep && room}});
    ctx.ops.release(id);
  });
  hold_and_start(ctx, id, std::move(s), r);
}

void unannounce(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"topic", "key"});
  auto topic = p.topic("topic", true);
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  if (p.error()) return r.error(*p.error());
  auto kp = read_key(ctx, key_name, r);
  if (!kp) return;
  auto* node = serving_node(ctx, r);
  if (!node) return;
  // Stop re-announcing first, so a timer run cannot put the record back behind us.
  const bool was_kept = ctx.announcer.remove(*topic, kp->public_key);
  if (was_kept) {
    spdlog::info("announce: no longer keeping {} announced as {}", to_hex(*topic),
                 to_hex(kp->public_key));
    ctx.intents_changed();
  }
  const auto id = ctx.ops.reserve();
  auto s = node->unannounce(*topic, *kp);
  s->on_done([&ctx, id, r, was_kept, t = *topic, pk = kp->public_key](std::error_code ec) {
    if (ec)
      r.error(operation_error(ec, "unannounce"));
    else
      r.result({{"topic", to_hex(t)}, {"publicKey", to_hex(pk)}, {"wasKept", was_kept}});
    ctx.ops.release(id);
  });
  hold_and_start(ctx, id, std::move(s), r);
}

void announces(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {});
  if (p.error()) return r.error(*p.error());
  const auto ms_ago = [&ctx](core::TimePoint t) { return ms_since(ctx, t); };
  json list = json::array();
  for (const auto& a : ctx.announcer.list())
    list.push_back({{"topic", to_hex(a.topic)},
                    {"key", a.key_name},
                    {"publicKey", to_hex(a.key.public_key)},
                    {"relayAddresses", relays_json(a.relays)},
                    {"sinceMs", ms_ago(a.since)},
                    {"lastOkMs", a.last_ok ? json(ms_ago(*a.last_ok)) : json(nullptr)},
                    {"runs", a.runs},
                    {"failures", a.failures},
                    {"lastError", a.last_error.empty() ? json(nullptr) : json(a.last_error)}});
  r.result(
      {{"announces", list},
       {"intervalMs",
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.announcer.interval()).count()}});
}

}  // namespace

void add_peer_methods(Dispatcher& d, MethodContext& ctx) {
  d.add("lookup", [&ctx](const json& params, Responder r) { lookup(ctx, params, r); });
  d.add("find-peer", [&ctx](const json& params, Responder r) { find_peer(ctx, params, r); });
  d.add("announce", [&ctx](const json& params, Responder r) { announce(ctx, params, r); });
  d.add("unannounce", [&ctx](const json& params, Responder r) { unannounce(ctx, params, r); });
  d.add("announces", [&ctx](const json& params, Responder r) { announces(ctx, params, r); });
}

}  // namespace hdht::daemon
