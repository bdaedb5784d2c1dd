// RecordHandlers: the storing side of hyperdht (the reference's lib/persistent.js). It answers
// FIND_PEER, LOOKUP, ANNOUNCE, UNANNOUNCE, MUTABLE_PUT/GET and IMMUTABLE_PUT/GET from its caches
// with the reference's validation: announces and unannounces must be signed over the storing
// node's id and the token it handed out; mutable puts must be signed, stored under H(publicKey),
// and obey the seq rules (SEQ_REUSED, SEQ_TOO_LOW); immutable puts must hash to their target.
// Anything malformed or unauthenticated is dropped without an answer, as the reference does.
//
// The node creates it once it first turns persistent; it only runs while the node has an id.
//
// Threading and lifetime: not thread-safe; runs on the node's executor. Owns its caches.
#pragma once

#include <cstdint>
#include <functional>

#include "core/announce_store.hpp"
#include "core/record_cache.hpp"
#include "core/rpc_io.hpp"
#include "core/value_cache.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::hyperdht {

// A server that announced itself (target == H(publicKey)): where to relay handshakes for it and
// its peer record (the reference's router forwards; PEER_HANDSHAKE routing uses it later).
struct Forward {
  Ipv4Address relay;
  Bytes record;
};
inline std::size_t record_weight(const Forward& f) {
  return 6 + f.record.size();
}

// A registered refresh: the next announce may be just `refresh` (a token whose hash is the key).
struct RefreshEntry {
  Bytes32 topic;
  Bytes record;
  bool announce_self = false;
};
inline std::size_t record_weight(const RefreshEntry& r) {
  return 32 + r.record.size();
}

using ForwardCache = RecordCache<Forward>;

struct StorageLimits {
  CacheLimits records, refreshes, bumps, mutables, immutables;
};

class RecordHandlers {
 public:
  // now_unix_ms: wall-clock milliseconds, only to bound announce bumps (MAX_BUMP_DRIFT).
  RecordHandlers(core::Runtime& runtime, const StorageLimits& limits, ForwardCache& forwards,
                 std::function<std::uint64_t()> now_unix_ms);

  // The records of servers listening on this node (the router's retained entries), which the
  // reference answers FIND_PEER and LOOKUP with ahead of any forward; null = none.
  using LocalRecord = std::function<const Bytes*(const Bytes32& target)>;
  void set_local_records(LocalRecord fn) { local_record_ = std::move(fn); }

  // Dispatch of one request by command; false if the command is not a record command.
  bool handle(const dht::IncomingRequest& req, const Bytes32& node_id);

  void on_find_peer(const dht::IncomingRequest& req);
  void on_lookup(const dht::IncomingRequest& req);
  void on_announce(const dht::IncomingRequest& req, const Bytes32& node_id);
  void on_unannounce(const dht::IncomingRequest& req, const Bytes32& node_id);
  void on_mutable_put(const dht::IncomingRequest& req);
  void on_mutable_get(const dht::IncomingRequest& req);
  void on_immutable_put(const dht::IncomingRequest& req);
  void on_immutable_get(const dht::IncomingRequest& req);

  // Removes a public key's record from a topic (and the forward, if it announced itself).
  void unannounce(const Bytes32& topic, const Bytes32& public_key);

  AnnounceStore& records() noexcept { return records_; }
  RecordCache<std::uint64_t>& bumps() noexcept { return bumps_; }
  RecordCache<RefreshEntry>& refreshes() noexcept { return refreshes_; }
  ValueCache& mutables() noexcept { return mutables_; }
  ValueCache& immutables() noexcept { return immutables_; }

 private:
  LocalRecord local_record_;
  void on_refresh(const Bytes32& refresh, const dht::IncomingRequest& req);
  // The record the router holds for a target (a local server's, else a forward's), or null.
  const Bytes* routed_record(const Bytes32& target);

  ForwardCache& forwards_;
  std::function<std::uint64_t()> now_unix_ms_;
  AnnounceStore records_;
  RecordCache<std::uint64_t> bumps_;
  RecordCache<RefreshEntry> refreshes_;
  // The values (a storing node holds many): compact arenas, see value_cache.hpp.
  ValueCache mutables_;    // encoded mutableGetResponse {seq, value, signature}
  ValueCache immutables_;  // the values
};

}  // namespace hdht::hyperdht
