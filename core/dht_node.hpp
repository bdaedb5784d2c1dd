// DhtNode: a dht-rpc 6.27 node that a JS network cannot tell from its own (the reference's
// index.js). It owns the RpcIo, the routing table and the recency list; bootstraps with
// background FIND_NODE queries; samples its public address from replies (NatSampler); probes
// its firewall with PING_NAT; turns persistent (id = node_id(public address)) by the reference's
// rules; keeps its table alive with ticks (ping some, refresh, full-bucket re-pings, down hints);
// answers the internal commands; and hands user commands to the layer above (hyperdht).
//
// Threading and lifetime: not thread-safe; everything runs on the Runtime's executor, which
// must outlive the node. Destroying the node withdraws every request and timer; no callback
// runs afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/dht_config.hpp"
#include "core/nat_sampler.hpp"
#include "core/node_list.hpp"
#include "core/query.hpp"
#include "core/routing_table.hpp"
#include "core/rpc_io.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"
#include "core/udx_socket.hpp"
#include "core/udx_stream_table.hpp"

namespace hdht::dht {

// Events, named as the reference emits them. Set the ones you need before start().
struct DhtEvents {
  std::function<void()> listening;   // sockets bound
  std::function<void()> ready;       // bootstrapped
  std::function<void()> persistent;  // id is now node_id(public address); storage may start
  std::function<void()> ephemeral;   // back to ephemeral after a wakeup (adaptive nodes)
  std::function<void()> wakeup;
  std::function<void(std::optional<Ipv4Address> nat)> nat_update;  // host, port (port 0 = random)
  std::function<void(const Node&)> add_node;
  std::function<void(const Node&)> remove_node;
  std::function<void()> network_update;  // online / degraded changed, or interfaces changed
  // The host's interface list changed (polled every DhtConfig::interface_poll_interval); then
  // network_update follows, as in the reference.
  std::function<void(const std::vector<core::NetworkInterface>&)> network_change;
  std::function<void()> close;
};

struct DhtStats {
  // Every started query (background and user) until it completes or is destroyed.
  std::uint64_t queries_active = 0, queries_total = 0;
  // The RpcIo's counters are in io().stats().
};

class DhtNode final : public QueryHost {
 public:
  DhtNode(Runtime& runtime, DhtConfig config);
  ~DhtNode() override;
  DhtNode(const DhtNode&) = delete;
  DhtNode& operator=(const DhtNode&) = delete;

  DhtEvents& events() noexcept { return events_; }
  // The layer above handles non-internal requests: return true if it claimed the request (it
  // will answer, now or later); false makes the node answer UNKNOWN_COMMAND.
  void set_request_handler(std::function<bool(const IncomingRequest&)> handler);

  // Binds and starts bootstrapping (asynchronously: watch events().ready). Bind failures are
  // returned (start-up errors).
  Result<void> start();
  void suspend();
  Result<void> resume();
  void destroy();

  // --- state (the reference's getters) ---
  std::optional<Bytes32> id() const;  // nullopt while ephemeral
  bool ephemeral() const noexcept { return ephemeral_; }
  bool firewalled() const noexcept { return firewalled_; }
  bool bootstrapped() const noexcept { return bootstrapped_; }
  bool online() const noexcept { return online_; }
  bool degraded() const noexcept { return degraded_; }
  bool destroyed() const noexcept { return destroyed_; }
  // NAT sampler result: host (nullopt until known) and port (0 = randomizing NAT).
  std::optional<Ipv4Address> nat_address() const;
  bool randomized() const;
  // Non-null only when not firewalled and the sampled port equals the server socket's port.
  std::optional<Ipv4Address> remote_address() const;
  std::optional<Ipv4Address> address() const;  // local address of the socket in use
  const RoutingTable& table() const override { return *table_; }
  // The reference's dht.table is public and writable; tools that seed a table directly
  // (benchmarks) use this. It bypasses add_node(): no liveness ping, no recency list, no events.
  RoutingTable& mutable_table() noexcept { return *table_; }
  const NodeList& nodes() const noexcept { return nodes_; }
  RpcIo& io() noexcept { return *io_; }
  const DhtStats& stats() const noexcept { return stats_; }
  const DhtConfig& config() const noexcept { return config_; }
  std::int64_t tick() const noexcept { return tick_; }

  // --- operations ---
  std::unique_ptr<Query> find_node(const Bytes32& target, QueryOptions opts = {});
  std::unique_ptr<Query> query(const Bytes32& target, std::uint64_t command,
                               std::optional<Bytes> value, QueryOptions opts = {});
  // A non-internal request (the reference's dht.request()).
  RequestHandle request(const Ipv4Address& to, std::uint64_t command, std::optional<Bytes32> target,
                        std::optional<Bytes> value, std::optional<Bytes32> token,
                        RequestCallbacks cb, int retries = 3, DatagramSocket* socket = nullptr,
                        int ttl = 0);
  RequestHandle ping(const Ipv4Address& to, RequestCallbacks cb, int retries = 3,
                     DatagramSocket* socket = nullptr, int ttl = 0, std::size_t size = 0);
  RequestHandle delayed_ping(const Ipv4Address& to, std::chrono::milliseconds delay,
                             RequestCallbacks cb);
  void refresh();
  void add_node(const Ipv4Address& addr);

  // --- the UDX instance on the node's sockets (the reference's dht.udx) ---
  // One socket carries dht-rpc, UDX streams and holepunch probes (spec udx.md §6.1): a datagram
  // that is not dht-rpc goes to the live stream its UDX header names, on whichever of the node's
  // sockets it arrived, and otherwise to the raw handler.
  core::UdxStreamTable& udx_streams() noexcept { return udx_table_; }
  // The UdxSocket over `socket` (one of io()'s sockets, current or retired), made on first use.
  core::UdxSocket& udx_socket(DatagramSocket& socket);
  // Over the socket requests go out on now; null while unbound.
  core::UdxSocket* udx_socket();
  // Non-dht-rpc datagrams that no stream took (1-byte holepunch probes, unknown stream ids).
  void set_raw_handler(std::function<void(DatagramSocket&, ByteView, const Ipv4Address&)> handler) {
    raw_handler_ = std::move(handler);
  }
  // Newest first, at most limit (0 = all).
  std::vector<Ipv4Address> to_array(std::size_t limit = 0) const;

  // --- QueryHost ---
  std::size_t default_concurrency() const override { return config_.concurrency; }
  RequestHandle send_request(RequestSpec spec, RequestCallbacks callbacks) override;
  void resolve_bootstrap_nodes(std::function<void(std::vector<NodeRef>)> done) override;
  bool filter_node(const Ipv4Address& addr) const override;
  bool take_down_hint_budget() override;
  bool send_down_hints() const override { return config_.send_down_hints; }
  bool node_destroyed() const override { return destroyed_; }
  void query_started() override { ++stats_.queries_active; }
  void query_ended() override { --stats_.queries_active; }

 private:
  struct Impl;  // bootstrap sequence, tick logic, firewall probe, health, pending timers
  std::unique_ptr<Impl> impl_;

  Runtime& runtime_;
  DhtConfig config_;
  DhtEvents events_;
  std::unique_ptr<RpcIo> io_;
  core::UdxStreamTable udx_table_;  // before the sockets that share it
  // Few: two per bind (server, client); suspend/resume binds new ones and the RpcIo keeps the
  // old ones allocated, so these stay valid as long as io_.
  std::vector<std::unique_ptr<core::UdxSocket>> udx_sockets_;
  std::function<void(DatagramSocket&, ByteView, const Ipv4Address&)> raw_handler_;
  std::unique_ptr<RoutingTable> table_;
  NodeList nodes_;
  NatSampler nat_;
  DhtStats stats_;
  bool ephemeral_ = true;
  bool firewalled_ = true;
  bool bootstrapped_ = false;
  bool online_ = true;
  bool degraded_ = false;
  bool destroyed_ = false;
  bool suspended_ = false;
  std::int64_t tick_ = 0;
};

}  // namespace hdht::dht
