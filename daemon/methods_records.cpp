#include "daemon/methods.hpp"

#include <algorithm>

#include "daemon/record_json.hpp"
#include "daemon/value_codec.hpp"

namespace hdht::daemon {

using rpc::json;

namespace {

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

std::optional<crypto::KeyPair> read_key(MethodContext& ctx, const std::string& name,
                                        const Responder& r) {
  auto kp = ctx.keys.get(name);
  if (!kp) r.error({rpc::kNotFound, "no key named '" + name + "'", "KEY_NOT_FOUND", {}});
  return kp;
}

void immutable_put(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"value"});
  auto value = p.value("value", true);
  if (p.error()) return r.error(*p.error());
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  auto op = node->immutable_put(*value, [&ctx, id, r](Result<hyperdht::ImmutablePutResult> res) {
    if (!res)
      r.error(operation_error(res.error(), "immutable.put"));
    else
      r.result({{"hash", to_hex(res->hash)}, {"closest", closest_json(res->closest_nodes)}});
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

json mutable_put_json(const hyperdht::MutablePutResult& res) {
  return {{"publicKey", to_hex(res.public_key)},
          {"seq", res.seq},
          {"signature", to_hex(res.signature)},
          {"closest", closest_json(res.closest_nodes)}};
}

// mutable.put reads the current record first: the storing nodes answer a stale seq with
// SEQ_TOO_LOW / SEQ_REUSED, but the reference's mutablePut (and our record layer) counts any
// answer as a done commit, so without this check a stale put would "succeed" and change
// nothing. The read also picks the next seq when none is given.
void mutable_put(MethodContext& ctx, const json& params, const Responder& r) {
  ParamReader p(params, {"key", "value", "seq"});
  const auto key_name = p.string("key").value_or(KeyStore::kDefaultName);
  auto value = p.value("value", true);
  auto seq = p.uint("seq", UINT64_MAX);
  if (p.error()) return r.error(*p.error());
  auto kp = read_key(ctx, key_name, r);
  if (!kp) return;
  auto* node = serving_node(ctx, r);
  if (!node) return;
  const auto id = ctx.ops.reserve();
  hyperdht::MutableGetOptions get_opts;
  get_opts.latest = true;
  auto op = node->mutable_get(
      kp->public_key, get_opts,
      [&ctx, id, r, key = *kp, v = std::move(*value),
       seq](Result<std::optional<hyperdht::MutableGetResult>> current) {
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
        auto put =
            n->mutable_put(key, v, put_opts, [&ctx, id, r](Result<hyperdht::MutablePutResult> res) {
              if (!res)
                r.error(operation_error(res.error(), "mutable.put"));
              else
                r.result(mutable_put_json(*res));
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

}  // namespace

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
}

}  // namespace hdht::daemon
