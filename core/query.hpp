// Query: the iterative Kademlia lookup of dht-rpc (lib/query.js; libtorrent's
// traversal_algorithm). It walks towards `target` visiting up to `concurrency` nodes at a time,
// keeps the k closest responders (XOR order), streams every successful reply to the caller as it
// arrives, and optionally runs a commit phase on the closest replies (announce, put).
//
// The query talks to the node only through QueryHost, so it is tested against a fake host and
// runs unchanged on the real and the simulated runtime.
//
// Threading and lifetime: not thread-safe; runs on the node's executor. Destroying a Query
// cancels its requests silently; no callback runs after its destructor. A Query must not outlive
// its host.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <vector>

#include "core/rpc_io.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {

// A node to visit: an address and, when known, its id (node_id(addr) for table and closer nodes).
struct NodeRef {
  std::optional<Bytes32> id;
  Ipv4Address addr;
};

class QueryHost {
 public:
  virtual ~QueryHost() = default;
  virtual const RoutingTable& table() const = 0;
  virtual std::size_t default_concurrency() const = 0;
  // Sends one visit (or commit, or down hint) request through the node's RpcIo.
  virtual RequestHandle send_request(RequestSpec spec, RequestCallbacks callbacks) = 0;
  // Bootstrap entries resolved to addresses (IPv4 literal entries immediately; suggested-IP and
  // DNS forms may take time). `done` runs once, on the executor, never inline.
  virtual void resolve_bootstrap_nodes(std::function<void(std::vector<NodeRef>)> done) = 0;
  // The node's filterNode hook (hyperdht blocks a few addresses). true = keep.
  virtual bool filter_node(const Ipv4Address& addr) const = 0;
  // DOWN_HINT rate limit: true if one more hint may be sent this tick (consumes budget).
  virtual bool take_down_hint_budget() = 0;
  virtual bool send_down_hints() const = 0;
  // true once the node is destroyed: a visit then fails the query with RpcErrc::node_destroyed
  // (the reference's _request returning null) instead of waiting forever for a request that was
  // never sent.
  virtual bool node_destroyed() const { return false; }
  // Bracket every started query (its completion, or its destruction before completing), so the
  // node can count the queries in flight.
  virtual void query_started() {}
  virtual void query_ended() {}
};

// Commit of one closest reply: call `done(error)` exactly once (empty error = success).
using CommitFn = std::function<void(const Reply& reply, std::function<void(std::error_code)> done)>;

struct QueryOptions {
  std::size_t concurrency = 0;  // 0 = host default (10)
  std::vector<NodeRef> nodes;   // seed nodes (visited first, in order)
  std::vector<Reply> replies;   // or seed from previous replies' `from`
  bool force = false;           // no retries, bypass congestion window
  std::optional<int> retries;   // default 5 (3 for DOWN_HINT)
  bool only_closest_nodes = false;
  // nullopt: no commit. commit_auto(): the reference's `commit: true`.
  std::optional<CommitFn> commit;
};

class Query {
 public:
  Query(QueryHost& host, const Bytes32& target, bool internal, std::uint64_t command,
        std::optional<Bytes> value, QueryOptions options = {});
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  // Every reply with error == 0, as it arrives (the JS stream's 'data').
  void on_reply(std::function<void(const Reply&)> fn) { on_reply_ = std::move(fn); }
  // Once, at the end: empty error on success; RpcErrc::too_few_nodes / commit errors /
  // node_destroyed otherwise. May destroy the Query from inside the callback.
  void on_done(std::function<void(std::error_code)> fn) { on_done_ = std::move(fn); }
  // Starts visiting (table first, then bootstrap nodes if fewer than k are known).
  void start();
  // Background queries raise their concurrency when the node is idle (_backgroundQuery).
  void set_concurrency(std::size_t c);

  const Bytes32& target() const noexcept { return target_; }
  // The up to k closest replies (error 0, valid id), XOR-sorted; final once done.
  const std::vector<Reply>& closest_replies() const noexcept { return closest_replies_; }
  std::vector<Peer> closest_nodes() const;
  std::size_t successes() const noexcept { return successes_; }
  std::size_t errors() const noexcept { return errors_; }
  std::size_t inflight() const noexcept { return inflight_; }
  bool done() const noexcept { return done_; }

  // The reference's automatic commit: the same command, target and value to reply.from with
  // reply.token (fails with RpcErrc::no_token when the reply had none).
  static CommitFn commit_auto(QueryHost& host, const Bytes32& target, std::uint64_t command,
                              std::optional<Bytes> value);

 private:
  struct Impl;
  void add_from_table();
  bool add_pending(const NodeRef& node, const Peer* referrer);
  bool is_closer(const std::optional<Bytes32>& id) const;
  void push_closest(const Reply& reply);
  void read_more();
  bool visit(const NodeRef& node);
  void down_hint(const Peer& to, const Ipv4Address& down);
  void on_visit_reply(std::uint64_t id, const Reply& reply);
  void on_visit_error(std::uint64_t id, std::error_code ec);
  void on_visit_cycle(std::uint64_t id);
  void flush();
  void finish(std::error_code ec);
  void complete(std::error_code ec);
  void uncount() noexcept;

  // Shared with the request callbacks (as weak_ptr) so that they can tell the Query is gone.
  std::shared_ptr<Impl> impl_;
  QueryHost& host_;
  Bytes32 target_;
  std::vector<Reply> closest_replies_;
  std::size_t successes_ = 0, errors_ = 0, inflight_ = 0;
  bool done_ = false;
  bool counted_ = false;  // between host_.query_started() and host_.query_ended()
  std::function<void(const Reply&)> on_reply_;
  std::function<void(std::error_code)> on_done_;
};

}  // namespace hdht::dht
