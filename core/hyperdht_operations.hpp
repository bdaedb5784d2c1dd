// The handles and results of HyperDhtNode's record operations (hyperdht index.js): streams of
// mapped replies for lookup/announce/unannounce/findPeer, and one-shot operations for the
// mutable and immutable records.
//
// Threading and lifetime: not thread-safe; all on the node's executor. A handle owns its query
// and every request it sent (commits, unannounces); destroying it withdraws them and no callback
// runs afterwards. Callbacks may destroy the handle. A handle must not outlive its node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "core/query.hpp"
#include "core/rpc_io.hpp"
#include "protocol/bytes.hpp"
#include "protocol/peer_messages.hpp"

namespace hdht::hyperdht {

// One LOOKUP reply that carried records (mapLookup).
struct LookupResult {
  dht::Peer from;
  Ipv4Address to;
  std::optional<Bytes32> token;
  std::vector<msg::Peer> peers;
  std::uint64_t bump = 0;
};

// One FIND_PEER reply that carried a record (mapFindPeer).
struct FindPeerResult {
  dht::Peer from;
  Ipv4Address to;
  std::optional<Bytes32> token;
  msg::Peer peer;
};

struct ImmutablePutResult {
  Bytes32 hash{};
  std::vector<dht::Peer> closest_nodes;
};

struct ImmutableGetResult {
  Bytes value;
  dht::Peer from;
  Ipv4Address to;
  std::optional<Bytes32> token;
};

struct MutablePutResult {
  Bytes32 public_key{};
  std::vector<dht::Peer> closest_nodes;
  std::uint64_t seq = 0;
  Bytes64 signature{};
};

struct MutableGetResult {
  std::uint64_t seq = 0;
  Bytes value;
  Bytes64 signature{};
  dht::Peer from;
  Ipv4Address to;
  std::optional<Bytes32> token;
};

struct AnnounceOptions {
  dht::QueryOptions query;  // its commit is replaced by the announce commit
  std::uint64_t bump = 0;
  // Unannounce first (lookupAndUnannounce), then announce to each closest node once its
  // unannounces settled (the reference's `clear`).
  bool clear = false;
};

struct MutablePutOptions {
  dht::QueryOptions query;
  std::uint64_t seq = 0;
};

struct MutableGetOptions {
  dht::QueryOptions query;
  std::uint64_t seq = 0;  // ignore records below this seq (sent to the storing nodes too)
  // The reference's code defaults to true (its README says false): keep reading until the query
  // ends and return the highest seq; false returns the first valid record.
  bool latest = true;
  // Called once, in the commit phase, with the best record found: true re-puts it (as found,
  // signature and all) to the closest nodes; unset or false commits nothing.
  std::function<bool(const MutableGetResult&)> refresh;
};

// State shared by every handle kind: the query and the requests it spawned.
class OperationBase {
 public:
  virtual ~OperationBase();
  OperationBase(const OperationBase&) = delete;
  OperationBase& operator=(const OperationBase&) = delete;

  // Starts the query (streams only: value operations start when made).
  void start();
  // The underlying query (null once an early-returning get has finished).
  const dht::Query* query() const noexcept { return query_.get(); }
  std::vector<dht::Peer> closest_nodes() const;

 protected:
  OperationBase() = default;
  // Sends one request owned by this handle; on_settled(error) runs once (empty = response).
  void send(dht::QueryHost& host, dht::RequestSpec spec,
            std::function<void(std::error_code)> on_settled);

  std::unique_ptr<dht::Query> query_;
  std::vector<dht::RequestHandle> requests_;
};

// lookup / announce / unannounce.
class LookupStream final : public OperationBase {
 public:
  // Every reply with records, as it arrives.
  void on_reply(std::function<void(const LookupResult&)> fn) { on_reply_ = std::move(fn); }
  // Once, at the end (after the commits, for announce and unannounce).
  void on_done(std::function<void(std::error_code)> fn) { on_done_ = std::move(fn); }

 private:
  friend class HyperDhtNode;
  std::function<void(const LookupResult&)> on_reply_;
  std::function<void(std::error_code)> on_done_;
  // lookupAndUnannounce: unannounce requests still in flight, and commits waiting for them.
  std::size_t pending_unannounces_ = 0;
  std::vector<std::function<void()>> waiting_commits_;
};

class FindPeerStream final : public OperationBase {
 public:
  void on_reply(std::function<void(const FindPeerResult&)> fn) { on_reply_ = std::move(fn); }
  void on_done(std::function<void(std::error_code)> fn) { on_done_ = std::move(fn); }

 private:
  friend class HyperDhtNode;
  std::function<void(const FindPeerResult&)> on_reply_;
  std::function<void(std::error_code)> on_done_;
};

// immutablePut/Get, mutablePut/Get: the completion callback given to the operation runs once.
class ValueOperation final : public OperationBase {
 public:
  bool done() const noexcept { return done_; }

 private:
  friend class HyperDhtNode;
  bool done_ = false;
  std::optional<MutableGetResult> best_;  // mutableGet with latest: the highest seq so far
};

// mapLookup / mapFindPeer: nullopt when the reply has no value or does not decode.
std::optional<LookupResult> map_lookup(const dht::Reply& reply);
std::optional<FindPeerResult> map_find_peer(const dht::Reply& reply);

}  // namespace hdht::hyperdht
