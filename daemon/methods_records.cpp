#include "daemon/methods.hpp"

#include <algorithm>
#include <chrono>

#include <spdlog/spdlog.h>

#include "core/datagram_socket.hpp"
#include "daemon/intents.hpp"
#include "daemon/record_json.hpp"
#include "daemon/value_codec.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

// The largest value immutable.put and mutable.put accept. The reference has no explicit cap, but
// libudx reads every datagram into a 2048-byte buffer and cuts longer ones (so they fail to
// decode and the request times out). The tightest fit is the mutable.get reply around the value:
// header 10, id 32, token 32, 20 closer nodes 121, then the record's length prefix 3, seq up to
// 9, the value's length prefix 3 and the signature 64: 274 bytes.
constexpr std::size_t kRecordReplyOverhead = 274;
constexpr std::size_t kMaxRecordValueBytes =
    core::DatagramSocket::kReceiveBufferSize - kRecordReplyOverhead;  // 1774

// Refused before any network work: a larger put would fail on send, or store a record that no
// get can carry back.
std::optional<rpc::Error> value_too_large(const Bytes& value) {
  if (value.size() <= kMaxRecordValueBytes) return std::nullopt;
  return rpc::Error{rpc::kInvalidParams,
                    "'value' is " + std::to_string(value.size()) + " bytes, more than the " +
                        std::to_string(kMaxRecordValueBytes) + " that fit in one datagram",
                    "VALUE_TOO_LARGE",
                    {{"limit", kMaxRecordValueBytes}}};
}

// The encoding a get answers in: the caller's choice, else utf8 for text and base64 otherwise.
json value_out(ByteView bytes, const std::optional<std::string>& encoding) {
  if (encoding) return value_json(bytes, *parse_encoding(*encoding));
  return auto_value_json(bytes);
}

// Reads the optional "encoding" parameter of the get methods (sticky errors through `p`).
std::optional<std::string> read_encoding(ParamReader& p, const Responder& r, bool& bad) {
  auto e = p.string("encoding");
  bad = false;
  if (e && !parse_encoding(*e)) {
    r.error({rpc::kInvalidParams, "'encoding' must be utf8, hex or base64", "BAD_ENCODING", {}});
    bad = true;
  }
  return e;
}

void immutable_put(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"value", "keep"});
  auto value = p.value("value", true);
  const auto keep = p.boolean("keep").value_or(false);
  if (p.error()) return r.error(*p.error());
  if (auto e = value_too_large(*value)) return r.error(*e);
  // Refused before the put, so a client is never told "stored" and "not kept" at once for the
  // common case (a put racing to the last slot can still end up not kept: `keep` says so).
  if (keep && !ctx.keeper.find(crypto::hash32(*value)) && ctx.keeper.size() >= kMaxKeptRecords)
    return r.error(limit_error("kept records", kMaxKeptRecords));
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto op = node->immutable_put(
      *value, [&ctx, id, r, keep, v = *value](Result<hyperdht::ImmutablePutResult> res) {
        if (!res) {
          r.error(operation_error(res.error(), "immutable.put"));
          return ctx.ops.release(id);
        }
        if (keep && !ctx.keeper.find(res->hash) && ctx.keeper.size() < kMaxKeptRecords) {
          KeptRecord k;
          k.target = res->hash;
          k.value = v;
          ctx.keeper.keep(std::move(k));
          spdlog::info("records: keeping immutable record {}", to_hex(res->hash));
          ctx.intents_changed();
        }
        r.result({{"hash", to_hex(res->hash)},
                  {"closest", closest_json(res->closest_nodes)},
                  {"keep", ctx.keeper.find(res->hash) != nullptr}});
        ctx.ops.release(id);
      });
  if (!op->done()) ctx.ops.hold(id, std::move(op), r);
}

void immutable_get(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"hash", "encoding"});
  auto hash = p.hex32("hash", true);
  bool bad = false;
  auto encoding = read_encoding(p, r, bad);
  if (bad) return;
  if (p.error()) return r.error(*p.error());
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto op = node->immutable_get(
      *hash,
      [&ctx, id, r, encoding, h = *hash](Result<std::optional<hyperdht::ImmutableGetResult>> res) {
        if (!res)
          r.error(operation_error(res.error(), "immutable.get"));
        else if (!*res)
          r.error({rpc::kNotFound, "no value for " + to_hex(h) + " on the DHT", "NOT_FOUND", {}});
        else
          r.result({{"hash", to_hex(h)},
                    {"value", value_out((*res)->value, encoding)},
                    {"from", from_json((*res)->from)}});
        ctx.ops.release(id);
      });
  if (!op->done()) ctx.ops.hold(id, std::move(op), r);
}

json mutable_put_json(const hyperdht::MutablePutResult& res, bool kept) {
  return {{"publicKey", to_hex(res.public_key)},
          {"seq", res.seq},
          {"signature", to_hex(res.signature)},
          {"closest", closest_json(res.closest_nodes)},
          {"keep", kept}};
}

// After a successful put: keep it if asked, and in any case never keep republishing an older
// record of the same key than the one just stored.
void update_kept_mutable(MethodContext& ctx, bool keep, const std::string& key_name,
                         const crypto::KeyPair& key, const Bytes& value, std::uint64_t seq) {
  const auto* kept = ctx.keeper.find(key.public_key);
  if (kept ? seq < kept->seq : (!keep || ctx.keeper.size() >= kMaxKeptRecords)) return;
  KeptRecord k;
  k.is_mutable = true;
  k.target = key.public_key;
  k.value = value;
  k.key_name = key_name;
  k.key = key;
  k.seq = seq;
  ctx.keeper.keep(std::move(k));
  spdlog::info("records: keeping mutable record {} at seq {}", to_hex(key.public_key), seq);
  ctx.intents_changed();
}

// mutable.put reads the current record first: the storing nodes answer a stale seq with
// SEQ_TOO_LOW / SEQ_REUSED, but the reference's mutablePut (and our record layer) counts any
// answer as a done commit, so without this check a stale put would "succeed" and change
// nothing. The read also picks the next seq when none is given.
void mutable_put(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"key", "value", "seq", "keep"});
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  auto value = p.value("value", true);
  auto seq = p.uint("seq", UINT64_MAX);
  const auto keep = p.boolean("keep").value_or(false);
  if (p.error()) return r.error(*p.error());
  if (auto e = value_too_large(*value)) return r.error(*e);
  auto kp = read_key(ctx, key_name, r);
  if (!kp) return;
  if (keep && !ctx.keeper.find(kp->public_key) && ctx.keeper.size() >= kMaxKeptRecords)
    return r.error(limit_error("kept records", kMaxKeptRecords));
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  hyperdht::MutableGetOptions get_opts;
  get_opts.latest = true;
  auto op = node->mutable_get(
      kp->public_key, get_opts,
      [&ctx, id, r, key = *kp, key_name, v = std::move(*value), seq,
       keep](Result<std::optional<hyperdht::MutableGetResult>> current) {
        if (!current) {
          r.error(operation_error(current.error(), "mutable.put (reading the current seq)"));
          return ctx.ops.release(id);
        }
        std::uint64_t use = 0;
        if (const auto& cur = *current) {
          const bool same = cur->value == v;
          if (seq && *seq < cur->seq) {
            r.error({rpc::kRequestFailed,
                     "seq " + std::to_string(*seq) + " is lower than the stored seq " +
                         std::to_string(cur->seq),
                     "SEQ_TOO_LOW",
                     {{"currentSeq", cur->seq}}});
            return ctx.ops.release(id);
          }
          if (seq && *seq == cur->seq && !same) {
            r.error({rpc::kRequestFailed,
                     "seq " + std::to_string(*seq) + " is already used with another value",
                     "SEQ_REUSED",
                     {{"currentSeq", cur->seq}}});
            return ctx.ops.release(id);
          }
          // Unchanged value: put again under its seq (refreshes the copies).
          use = seq ? *seq : (same ? cur->seq : cur->seq + 1);
        } else {
          use = seq.value_or(0);
        }
        auto* n = serving_node(ctx, r);
        if (!n) return ctx.ops.release(id);
        hyperdht::MutablePutOptions put_opts;
        put_opts.seq = use;
        auto put = n->mutable_put(
            key, v, put_opts,
            [&ctx, id, r, keep, key, key_name, v](Result<hyperdht::MutablePutResult> res) {
              if (!res) {
                r.error(operation_error(res.error(), "mutable.put"));
                return ctx.ops.release(id);
              }
              update_kept_mutable(ctx, keep, key_name, key, v, res->seq);
              const auto* kept = ctx.keeper.find(key.public_key);
              r.result(mutable_put_json(*res, kept && kept->seq == res->seq));
              ctx.ops.release(id);
            });
        // Replaces (and retires) the finished read under the same id.
        if (!put->done())
          ctx.ops.hold(id, std::move(put), r);
        else
          ctx.ops.release(id);
      });
  if (!op->done()) ctx.ops.hold(id, std::move(op), r);
}

void mutable_get(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"publicKey", "seq", "latest", "encoding"});
  auto pk = p.hex32("publicKey", true);
  const auto seq = p.uint("seq", UINT64_MAX).value_or(0);
  const auto latest = p.boolean("latest").value_or(true);
  bool bad = false;
  auto encoding = read_encoding(p, r, bad);
  if (bad) return;
  if (p.error()) return r.error(*p.error());
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  hyperdht::MutableGetOptions opts;
  opts.seq = seq;
  opts.latest = latest;
  auto op = node->mutable_get(
      *pk, opts,
      [&ctx, id, r, encoding, target = *pk](Result<std::optional<hyperdht::MutableGetResult>> res) {
        if (!res)
          r.error(operation_error(res.error(), "mutable.get"));
        else if (!*res)
          r.error({rpc::kNotFound,
                   "no mutable record for " + to_hex(target) + " on the DHT",
                   "NOT_FOUND",
                   {}});
        else
          r.result({{"publicKey", to_hex(target)},
                    {"value", value_out((*res)->value, encoding)},
                    {"seq", (*res)->seq},
                    {"signature", to_hex((*res)->signature)},
                    {"from", from_json((*res)->from)}});
        ctx.ops.release(id);
      });
  if (!op->done()) ctx.ops.hold(id, std::move(op), r);
}

json kept_json(const MethodContext& ctx, const KeptRecord& k) {
  json out = {{"type", k.is_mutable ? "mutable" : "immutable"}};
  if (k.is_mutable) {
    out["publicKey"] = to_hex(k.target);
    out["key"] = k.key_name;
    out["seq"] = k.seq;
  } else {
    out["hash"] = to_hex(k.target);
  }
  out["size"] = k.value.size();
  out["sinceMs"] = ms_since(ctx, k.since);
  out["lastOkMs"] = k.last_ok ? json(ms_since(ctx, *k.last_ok)) : json(nullptr);
  out["runs"] = k.runs;
  out["failures"] = k.failures;
  out["lastError"] = k.last_error.empty() ? json(nullptr) : json(k.last_error);
  return out;
}

void records(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {});
  if (p.error()) return r.error(*p.error());
  json list = json::array();
  for (const auto& k : ctx.keeper.list())
    list.push_back(kept_json(ctx, k));
  r.result(
      {{"records", list},
       {"intervalMs",
        std::chrono::duration_cast<std::chrono::milliseconds>(ctx.keeper.interval()).count()}});
}

void forget(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"target"});
  auto target = p.hex32("target", true);
  if (p.error()) return r.error(*p.error());
  const bool forgotten = ctx.keeper.forget(*target);
  if (forgotten) {
    spdlog::info("records: no longer keeping {}", to_hex(*target));
    ctx.intents_changed();
  }
  r.result({{"target", to_hex(*target)}, {"forgotten", forgotten}});
}

}  // namespace

rpc::Error limit_error(const char* what, std::size_t limit) {
  return {rpc::kForbidden,
          std::string("the daemon keeps at most ") + std::to_string(limit) + " " + what,
          "LIMIT_REACHED",
          {{"limit", limit}}};
}

long long ms_since(const MethodContext& ctx, core::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(ctx.runtime.now() - t).count();
}

hyperdht::HyperDhtNode* serving_node(MethodContext& ctx, const Responder& r) {
  auto* node = ctx.runner.hyper(0);
  if (!node || !node->dht().bootstrapped()) {
    r.error({rpc::kNotReady, "node 0 has not bootstrapped yet", "NOT_BOOTSTRAPPED", {}});
    return nullptr;
  }
  return node;
}

void add_record_methods(Dispatcher& d, MethodContext& ctx) {
  d.add("immutable.put",
        [&ctx](const json& params, Responder r) { immutable_put(ctx, params, r); });
  d.add("immutable.get",
        [&ctx](const json& params, Responder r) { immutable_get(ctx, params, r); });
  d.add("mutable.put", [&ctx](const json& params, Responder r) { mutable_put(ctx, params, r); });
  d.add("mutable.get", [&ctx](const json& params, Responder r) { mutable_get(ctx, params, r); });
  d.add("records", [&ctx](const json& params, Responder r) { records(ctx, params, r); });
  d.add("forget", [&ctx](const json& params, Responder r) { forget(ctx, params, r); });
}

}  // namespace hdht::daemon
