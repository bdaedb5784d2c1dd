#include "core/record_handlers.hpp"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "protocol/compact.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"

namespace hdht::hyperdht {

namespace {

// How far in the future an announce bump may be (persistent.js MAX_BUMP_DRIFT).
constexpr std::uint64_t kMaxBumpDrift = 60'000;
// Records per LOOKUP reply.
constexpr std::size_t kLookupRecords = 20;
// Relay addresses kept per record.
constexpr std::size_t kMaxRelayAddresses = 3;

// The reply options of an accepted (un)announce: no token, no closer nodes.
dht::ReplyOptions bare_reply() {
  dht::ReplyOptions o;
  o.token = false;
  o.closer_nodes = false;
  return o;
}

std::optional<std::uint64_t> decode_uint(ByteView in) {
  cenc::Reader r(in);
  const std::uint64_t v = r.uint();
  if (!r.ok()) return std::nullopt;
  return v;
}

}  // namespace

RecordHandlers::RecordHandlers(core::Runtime& runtime, const StorageLimits& limits,
                               ForwardCache& forwards, std::function<std::uint64_t()> now_unix_ms)
    : forwards_(forwards),
      now_unix_ms_(std::move(now_unix_ms)),
      records_(runtime, limits.records),
      bumps_(runtime, limits.bumps),
      refreshes_(runtime, limits.refreshes),
      mutables_(runtime, limits.mutables),
      immutables_(runtime, limits.immutables) {}

bool RecordHandlers::handle(const dht::IncomingRequest& req, const Bytes32& node_id) {
  switch (req.message().command) {
    case msg::command::FIND_PEER:
      on_find_peer(req);
      return true;
    case msg::command::LOOKUP:
      on_lookup(req);
      return true;
    case msg::command::ANNOUNCE:
      on_announce(req, node_id);
      return true;
    case msg::command::UNANNOUNCE:
      on_unannounce(req, node_id);
      return true;
    case msg::command::MUTABLE_PUT:
      on_mutable_put(req);
      return true;
    case msg::command::MUTABLE_GET:
      on_mutable_get(req);
      return true;
    case msg::command::IMMUTABLE_PUT:
      on_immutable_put(req);
      return true;
    case msg::command::IMMUTABLE_GET:
      on_immutable_get(req);
      return true;
    default:
      return false;
  }
}

const Bytes* RecordHandlers::routed_record(const Bytes32& target) {
  if (local_record_) {
    if (const Bytes* r = local_record_(target)) return r;
  }
  const Forward* fwd = forwards_.get(target);
  return fwd ? &fwd->record : nullptr;
}

void RecordHandlers::on_find_peer(const dht::IncomingRequest& req) {
  const auto& target = req.message().target;
  if (!target) return;
  if (const Bytes* record = routed_record(*target)) {
    req.reply(ByteView(*record));
  } else {
    req.reply(std::nullopt);
  }
}

void RecordHandlers::on_lookup(const dht::IncomingRequest& req) {
  const auto& target = req.message().target;
  if (!target) return;
  std::vector<Bytes> peers = records_.get(*target, kLookupRecords);
  const std::uint64_t* bump = bumps_.get(*target);
  const Bytes* routed = routed_record(*target);
  if (routed && peers.size() < kLookupRecords) peers.push_back(*routed);
  if (peers.empty()) {
    req.reply(std::nullopt);
    return;
  }
  const Bytes value = msg::encode_lookup_raw_reply(peers, bump ? *bump : 0);
  req.reply(ByteView(value));
}

void RecordHandlers::unannounce(const Bytes32& topic, const Bytes32& public_key) {
  if (crypto::hash32(public_key) == topic) forwards_.erase(topic);
  records_.remove(topic, public_key);
}

void RecordHandlers::on_unannounce(const dht::IncomingRequest& req, const Bytes32& node_id) {
  const auto& m = req.message();
  if (!m.target || !m.token || !m.value) return;
  auto unann = msg::decode_announce(*m.value);
  if (!unann) return;
  if (!unann->peer || !unann->signature) return;
  // The signable covers the refresh field too when one was sent (annSignable).
  const Bytes64 signable =
      msg::unannounce_signable(*m.target, node_id, *m.token, *unann->peer, unann->refresh);
  if (!crypto::verify(*unann->signature, signable, unann->peer->public_key)) return;
  unannounce(*m.target, unann->peer->public_key);
  req.reply(std::nullopt, bare_reply());
}

void RecordHandlers::on_refresh(const Bytes32& refresh, const dht::IncomingRequest& req) {
  const Bytes32 active = crypto::hash32(refresh);
  const RefreshEntry* found = refreshes_.get(active);
  if (!found) return;
  RefreshEntry r = *found;
  Bytes32 public_key{};
  if (r.record.size() < public_key.size()) return;
  std::copy_n(r.record.begin(), public_key.size(), public_key.begin());

  if (r.announce_self) {
    forwards_.set(r.topic, Forward{req.from().addr, r.record});
    records_.remove(r.topic, public_key);
  } else {
    records_.add(r.topic, public_key, r.record);
  }
  refreshes_.erase(active);
  refreshes_.set(refresh, std::move(r));
  req.reply(std::nullopt, bare_reply());
}

void RecordHandlers::on_announce(const dht::IncomingRequest& req, const Bytes32& node_id) {
  const auto& m = req.message();
  if (!m.target || !m.token || !m.value) return;
  auto decoded = msg::decode_announce(*m.value);
  if (!decoded) return;
  msg::Announce& ann = *decoded;

  if (!ann.peer) {
    if (ann.refresh) on_refresh(*ann.refresh, req);
    return;
  }

  if (!ann.signature ||
      !msg::verify_announce(*ann.signature, *m.target, node_id, *m.token, *ann.peer, ann.refresh)) {
    return;
  }

  msg::Peer& peer = *ann.peer;
  if (peer.relay_addresses.size() > kMaxRelayAddresses) {
    peer.relay_addresses.resize(kMaxRelayAddresses);
  }
  const Bytes32& topic = *m.target;
  const bool announce_self = crypto::hash32(peer.public_key) == topic;
  Bytes record = msg::encode(peer);

  if (announce_self) {
    forwards_.set(topic, Forward{req.from().addr, record});
    records_.remove(topic, peer.public_key);
  } else {
    const std::uint64_t* current = bumps_.get(topic);
    const std::uint64_t current_bump = current ? *current : 0;
    if (ann.bump > current_bump && ann.bump <= now_unix_ms_() + kMaxBumpDrift) {
      bumps_.set(topic, ann.bump);
    }
    records_.add(topic, peer.public_key, record);
  }

  if (ann.refresh)
    refreshes_.set(*ann.refresh, RefreshEntry{topic, std::move(record), announce_self});

  req.reply(std::nullopt, bare_reply());
}

void RecordHandlers::on_mutable_get(const dht::IncomingRequest& req) {
  const auto& m = req.message();
  if (!m.target || !m.value) return;
  const auto seq = decode_uint(*m.value);
  if (!seq) return;

  // Views into the cache: used before any other call on it.
  const std::optional<ByteView> stored = mutables_.view(*m.target);
  if (!stored) {
    req.reply(std::nullopt);
    return;
  }
  const auto local_seq = decode_uint(*stored);
  if (!local_seq || *local_seq < *seq) {
    req.reply(std::nullopt);
  } else {
    req.reply(*stored);
  }
}

void RecordHandlers::on_mutable_put(const dht::IncomingRequest& req) {
  const auto& m = req.message();
  if (!m.target || !m.token || !m.value) return;
  auto p = msg::decode_mutable_put_request(*m.value);
  if (!p) return;

  const Bytes32 key = crypto::hash32(p->public_key);
  if (key != *m.target) return;
  if (!msg::verify_mutable(p->signature, p->seq, p->value, p->public_key)) return;

  if (const std::optional<ByteView> local = mutables_.view(key)) {
    auto existing = msg::decode_mutable_get_response(*local);
    if (existing) {
      if (existing->seq == p->seq && p->value != existing->value) {
        req.error(msg::payload_error::SEQ_REUSED);
        return;
      }
      if (p->seq < existing->seq) {
        req.error(msg::payload_error::SEQ_TOO_LOW);
        return;
      }
    }
  }

  mutables_.set(key,
                msg::encode(msg::MutableGetResponse{p->seq, std::move(p->value), p->signature}));
  req.reply(std::nullopt);
}

void RecordHandlers::on_immutable_get(const dht::IncomingRequest& req) {
  const auto& target = req.message().target;
  if (!target) return;
  if (const std::optional<ByteView> value = immutables_.view(*target)) {
    req.reply(*value);
  } else {
    req.reply(std::nullopt);
  }
}

void RecordHandlers::on_immutable_put(const dht::IncomingRequest& req) {
  const auto& m = req.message();
  if (!m.target || !m.token || !m.value) return;
  const Bytes32 hash = crypto::hash32(*m.value);
  if (hash != *m.target) return;
  immutables_.set(hash, *m.value);
  req.reply(std::nullopt);
}

}  // namespace hdht::hyperdht
