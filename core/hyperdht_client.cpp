// HyperDhtNode's record operations (hyperdht index.js: lookup, lookupAndUnannounce, announce,
// findPeer, immutablePut/Get, mutablePut/Get) and the reply mapping they share.
#include <algorithm>
#include <utility>

#include "core/hyperdht_node.hpp"
#include "core/rpc_errors.hpp"
#include "protocol/compact.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/records.hpp"

namespace hdht::hyperdht {

namespace cmd = msg::command;

namespace {

constexpr std::size_t kLookupPage = 20;  // a full LOOKUP page: unannounce even if not listed

Bytes encode_uint(std::uint64_t v) {
  Bytes out;
  cenc::Writer w(out);
  w.uint(v);
  return out;
}

// dht.request(): any response settles it as a success, whatever its error code.
dht::RequestSpec commit_spec(const dht::Reply& reply, std::uint64_t command, const Bytes32& target,
                             Bytes value) {
  dht::RequestSpec spec;
  spec.to = reply.from.addr;
  spec.to_id = reply.from.id;
  spec.token = reply.token;
  spec.command = command;
  spec.target = target;
  spec.value = std::move(value);
  return spec;
}

}  // namespace

std::optional<LookupResult> map_lookup(const dht::Reply& reply) {
  if (!reply.value) return std::nullopt;
  auto l = msg::decode_lookup_reply(*reply.value);
  if (!l) return std::nullopt;
  return LookupResult{reply.from, reply.to, reply.token, std::move(l->peers), l->bump};
}

std::optional<FindPeerResult> map_find_peer(const dht::Reply& reply) {
  if (!reply.value) return std::nullopt;
  auto p = msg::decode_peer(*reply.value);
  if (!p) return std::nullopt;
  return FindPeerResult{reply.from, reply.to, reply.token, std::move(*p)};
}

OperationBase::~OperationBase() = default;

void OperationBase::start() {
  if (query_) query_->start();
}

std::vector<dht::Peer> OperationBase::closest_nodes() const {
  return query_ ? query_->closest_nodes() : std::vector<dht::Peer>{};
}

void OperationBase::send(dht::QueryHost& host, dht::RequestSpec spec,
                         std::function<void(std::error_code)> on_settled) {
  if (host.node_destroyed()) {
    on_settled(make_error_code(dht::RpcErrc::node_destroyed));
    return;
  }
  auto settled = std::make_shared<std::function<void(std::error_code)>>(std::move(on_settled));
  dht::RequestCallbacks cb;
  cb.on_response = [settled](const dht::Reply&) {
    auto fn = std::move(*settled);
    if (fn) fn({});
  };
  cb.on_error = [settled](std::error_code ec) {
    auto fn = std::move(*settled);
    if (fn) fn(ec);
  };
  requests_.push_back(host.send_request(std::move(spec), std::move(cb)));
}

// --- lookup, announce, unannounce ---

void HyperDhtNode::make_lookup_query(LookupStream& s, const Bytes32& topic, dht::QueryOptions opts,
                                     std::function<void(const LookupResult&)> mapped) {
  LookupStream* raw = &s;
  s.query_ = dht_->query(topic, cmd::LOOKUP, std::nullopt, std::move(opts));
  s.query_->on_reply([raw, mapped = std::move(mapped)](const dht::Reply& reply) {
    auto data = map_lookup(reply);
    if (!data) return;
    if (mapped) mapped(*data);
    if (raw->on_reply_) raw->on_reply_(*data);
  });
  s.query_->on_done([raw](std::error_code ec) {
    auto fn = std::move(raw->on_done_);
    raw->on_done_ = nullptr;
    if (fn) fn(ec);
  });
}

std::unique_ptr<LookupStream> HyperDhtNode::lookup(const Bytes32& topic, dht::QueryOptions opts) {
  auto s = std::make_unique<LookupStream>();
  make_lookup_query(*s, topic, std::move(opts), nullptr);
  return s;
}

std::unique_ptr<LookupStream> HyperDhtNode::announce(const Bytes32& topic,
                                                     const crypto::KeyPair& key_pair,
                                                     std::vector<Ipv4Address> relay_addresses,
                                                     AnnounceOptions opts) {
  auto s = std::make_unique<LookupStream>();
  LookupStream* raw = s.get();
  dht::QueryHost& host = *dht_;
  const std::uint64_t bump = opts.bump;
  // _requestAnnounce: a fresh signature per storing node, over its id and its token.
  dht::CommitFn commit = [&host, raw, topic, key_pair, relays = std::move(relay_addresses), bump](
                             const dht::Reply& reply, std::function<void(std::error_code)> done) {
    if (!reply.token || !reply.from.id) {
      done(make_error_code(dht::RpcErrc::no_token));
      return;
    }
    msg::Announce ann;
    ann.peer = msg::Peer{key_pair.public_key, relays};
    ann.bump = bump;
    ann.signature =
        msg::sign_announce(topic, *reply.from.id, *reply.token, *ann.peer, std::nullopt, key_pair);
    raw->send(host, commit_spec(reply, cmd::ANNOUNCE, topic, msg::encode(ann)), std::move(done));
  };
  if (opts.clear) {
    make_unannounce_query(*s, topic, key_pair, std::move(opts.query), std::move(commit));
  } else {
    opts.query.commit = std::move(commit);
    make_lookup_query(*s, topic, std::move(opts.query), nullptr);
  }
  return s;
}

std::unique_ptr<LookupStream> HyperDhtNode::unannounce(const Bytes32& topic,
                                                       const crypto::KeyPair& key_pair,
                                                       dht::QueryOptions opts) {
  auto s = std::make_unique<LookupStream>();
  make_unannounce_query(*s, topic, key_pair, std::move(opts), std::nullopt);
  return s;
}

void HyperDhtNode::make_unannounce_query(LookupStream& s, const Bytes32& topic,
                                         const crypto::KeyPair& key_pair, dht::QueryOptions opts,
                                         std::optional<dht::CommitFn> then) {
  // Unlink ourselves first.
  if (storage_) storage_->unannounce(topic, key_pair.public_key);

  LookupStream* raw = &s;
  dht::QueryHost& host = *dht_;

  auto settle_one = [raw](std::error_code) {
    if (--raw->pending_unannounces_ > 0) return;
    auto waiting = std::move(raw->waiting_commits_);
    raw->waiting_commits_.clear();
    for (auto& run : waiting)
      run();
  };

  auto mapped = [&host, raw, topic, key_pair, settle_one](const LookupResult& data) {
    if (!data.token || !data.from.id) return;
    bool found = data.peers.size() >= kLookupPage;
    for (std::size_t i = 0; !found && i < data.peers.size(); ++i) {
      found = data.peers[i].public_key == key_pair.public_key;
    }
    if (!found) return;
    msg::Announce unann;
    unann.peer = msg::Peer{key_pair.public_key, {}};
    unann.signature =
        msg::sign_unannounce(topic, *data.from.id, *data.token, *unann.peer, key_pair);
    dht::RequestSpec spec;
    spec.to = data.from.addr;
    spec.to_id = data.from.id;
    spec.token = data.token;
    spec.command = cmd::UNANNOUNCE;
    spec.target = topic;
    spec.value = msg::encode(unann);
    ++raw->pending_unannounces_;
    // Failures are swallowed, as the reference's safetyCatch does.
    raw->send(host, std::move(spec), settle_one);
  };

  // Each commit waits until every unannounce sent so far has settled, then runs `then`.
  auto shared_then = std::make_shared<std::optional<dht::CommitFn>>(std::move(then));
  opts.commit = [raw, shared_then](const dht::Reply& reply,
                                   std::function<void(std::error_code)> done) {
    auto run = [shared_then, reply, done = std::move(done)]() mutable {
      if (*shared_then) {
        (**shared_then)(reply, std::move(done));
      } else {
        done({});
      }
    };
    if (raw->pending_unannounces_ == 0) {
      run();
    } else {
      raw->waiting_commits_.push_back(std::move(run));
    }
  };
  make_lookup_query(s, topic, std::move(opts), std::move(mapped));
}

std::unique_ptr<FindPeerStream> HyperDhtNode::find_peer(const Bytes32& public_key,
                                                        dht::QueryOptions opts) {
  auto s = std::make_unique<FindPeerStream>();
  FindPeerStream* raw = s.get();
  s->query_ =
      dht_->query(crypto::hash32(public_key), cmd::FIND_PEER, std::nullopt, std::move(opts));
  s->query_->on_reply([raw](const dht::Reply& reply) {
    auto data = map_find_peer(reply);
    if (data && raw->on_reply_) raw->on_reply_(*data);
  });
  s->query_->on_done([raw](std::error_code ec) {
    auto fn = std::move(raw->on_done_);
    raw->on_done_ = nullptr;
    if (fn) fn(ec);
  });
  return s;
}

// --- immutable records ---

std::unique_ptr<ValueOperation> HyperDhtNode::immutable_put(
    ByteView value, std::function<void(Result<ImmutablePutResult>)> cb) {
  auto op = std::make_unique<ValueOperation>();
  ValueOperation* raw = op.get();
  dht::QueryHost& host = *dht_;
  const Bytes32 target = crypto::hash32(value);
  dht::QueryOptions opts;
  opts.commit = [&host, raw, target, v = to_bytes(value)](
                    const dht::Reply& reply, std::function<void(std::error_code)> done) {
    raw->send(host, commit_spec(reply, cmd::IMMUTABLE_PUT, target, v), std::move(done));
  };
  op->query_ = dht_->query(target, cmd::IMMUTABLE_GET, std::nullopt, std::move(opts));
  op->query_->on_done([raw, target, cb = std::move(cb)](std::error_code ec) {
    raw->done_ = true;
    if (ec) {
      cb(ec);
    } else {
      cb(ImmutablePutResult{target, raw->query_->closest_nodes()});
    }
  });
  op->query_->start();
  return op;
}

std::unique_ptr<ValueOperation> HyperDhtNode::immutable_get(
    const Bytes32& hash, std::function<void(Result<std::optional<ImmutableGetResult>>)> cb) {
  auto op = std::make_unique<ValueOperation>();
  ValueOperation* raw = op.get();
  auto shared_cb = std::make_shared<std::function<void(Result<std::optional<ImmutableGetResult>>)>>(
      std::move(cb));
  op->query_ = dht_->query(hash, cmd::IMMUTABLE_GET, std::nullopt, {});
  op->query_->on_reply([raw, hash, shared_cb](const dht::Reply& reply) {
    if (raw->done_ || !reply.value) return;
    if (crypto::hash32(*reply.value) != hash) return;
    // The first value that hashes to the target ends the query (the reference returns from its
    // for-await loop, which destroys the query).
    raw->done_ = true;
    auto query = std::move(raw->query_);
    auto fn = std::move(*shared_cb);
    fn(std::optional<ImmutableGetResult>(
        ImmutableGetResult{*reply.value, reply.from, reply.to, reply.token}));
  });
  op->query_->on_done([raw, shared_cb](std::error_code ec) {
    if (raw->done_) return;
    raw->done_ = true;
    auto fn = std::move(*shared_cb);
    if (ec) {
      fn(ec);
    } else {
      fn(std::optional<ImmutableGetResult>{});
    }
  });
  op->query_->start();
  return op;
}

// --- mutable records ---

std::unique_ptr<ValueOperation> HyperDhtNode::mutable_put(
    const crypto::KeyPair& key_pair, ByteView value, MutablePutOptions opts,
    std::function<void(Result<MutablePutResult>)> cb) {
  auto op = std::make_unique<ValueOperation>();
  ValueOperation* raw = op.get();
  dht::QueryHost& host = *dht_;
  const Bytes32 target = crypto::hash32(key_pair.public_key);
  const std::uint64_t seq = opts.seq;
  const Bytes64 signature = msg::sign_mutable(seq, value, key_pair);
  Bytes signed_put =
      msg::encode(msg::MutablePutRequest{key_pair.public_key, seq, to_bytes(value), signature});

  opts.query.commit = [&host, raw, target, signed_put = std::move(signed_put)](
                          const dht::Reply& reply, std::function<void(std::error_code)> done) {
    raw->send(host, commit_spec(reply, cmd::MUTABLE_PUT, target, signed_put), std::move(done));
  };
  // The query part asks for seq 0: only the closest nodes and their tokens matter.
  op->query_ = dht_->query(target, cmd::MUTABLE_GET, encode_uint(0), std::move(opts.query));
  op->query_->on_done(
      [raw, pk = key_pair.public_key, seq, signature, cb = std::move(cb)](std::error_code ec) {
        raw->done_ = true;
        if (ec) {
          cb(ec);
        } else {
          cb(MutablePutResult{pk, raw->query_->closest_nodes(), seq, signature});
        }
      });
  op->query_->start();
  return op;
}

std::unique_ptr<ValueOperation> HyperDhtNode::mutable_get(
    const Bytes32& public_key, MutableGetOptions opts,
    std::function<void(Result<std::optional<MutableGetResult>>)> cb) {
  auto op = std::make_unique<ValueOperation>();
  ValueOperation* raw = op.get();
  auto shared_cb =
      std::make_shared<std::function<void(Result<std::optional<MutableGetResult>>)>>(std::move(cb));
  const Bytes32 target = crypto::hash32(public_key);
  const std::uint64_t user_seq = opts.seq;
  const bool latest = opts.latest;

  if (opts.refresh) {
    // The reference's refresh commit: decided once, on the first commit, then the same signed
    // put (or nothing) to every closest node.
    struct RefreshState {
      std::function<bool(const MutableGetResult&)> refresh;
      std::optional<Bytes> signed_put;
    };
    auto state = std::make_shared<RefreshState>(RefreshState{std::move(opts.refresh), {}});
    dht::QueryHost& host = *dht_;
    opts.query.commit = [&host, raw, target, public_key, state](
                            const dht::Reply& reply, std::function<void(std::error_code)> done) {
      if (!state->signed_put && raw->best_ && state->refresh) {
        if (state->refresh(*raw->best_)) {
          state->signed_put = msg::encode(msg::MutablePutRequest{
              public_key, raw->best_->seq, raw->best_->value, raw->best_->signature});
        } else {
          state->refresh = nullptr;
        }
      }
      if (!state->signed_put) {
        done({});
        return;
      }
      raw->send(host, commit_spec(reply, cmd::MUTABLE_PUT, target, *state->signed_put),
                std::move(done));
    };
  }

  op->query_ = dht_->query(target, cmd::MUTABLE_GET, encode_uint(user_seq), std::move(opts.query));
  op->query_->on_reply([raw, public_key, user_seq, latest, shared_cb](const dht::Reply& reply) {
    if (raw->done_ || !reply.value) return;
    auto r = msg::decode_mutable_get_response(*reply.value);
    if (!r) return;
    if (raw->best_ && r->seq <= raw->best_->seq) return;
    if (r->seq < user_seq || !msg::verify_mutable(r->signature, r->seq, r->value, public_key)) {
      return;
    }
    MutableGetResult node{r->seq,   std::move(r->value), r->signature, reply.from,
                          reply.to, reply.token};
    if (!latest) {
      raw->done_ = true;
      auto query = std::move(raw->query_);
      auto fn = std::move(*shared_cb);
      fn(std::optional<MutableGetResult>(std::move(node)));
      return;
    }
    raw->best_ = std::move(node);
  });
  op->query_->on_done([raw, shared_cb](std::error_code ec) {
    if (raw->done_) return;
    raw->done_ = true;
    auto fn = std::move(*shared_cb);
    if (ec) {
      fn(ec);
    } else {
      fn(std::move(raw->best_));
    }
  });
  op->query_->start();
  return op;
}

}  // namespace hdht::hyperdht
