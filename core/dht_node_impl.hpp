// Private to the dht_node*.cpp files: the state of a DhtNode that the public header hides, and
// the reference's private methods (index.js _bootstrap, _ontick, _onrequest, ...). Everything
// asynchronous the node starts (requests, timers, background queries, DNS lookups) is owned
// here, so destroying the Impl withdraws it all and no callback can outlive the node.
#pragma once

#include <bitset>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/dht_node.hpp"
#include "core/interface_watcher.hpp"
#include "core/network_health.hpp"

namespace hdht::dht {

struct DhtNode::Impl {
  using OkFn = std::function<void(const Reply&)>;
  using ErrFn = std::function<void(std::error_code)>;
  using BoolFn = std::function<void(bool)>;

  // Pending delayed pings beyond this are dropped (hardening: the reference keeps every one).
  static constexpr std::size_t kMaxDelayedPings = 1024;

  // One _checkIfFirewalled run: the PING_NATs out, and the hosts seen on the server socket.
  struct FirewallProbe {
    std::vector<NodeRef> nodes;
    std::unordered_set<std::uint32_t> hosts;
    std::vector<Reply> replies;
    std::size_t missing = 0;
    bool finished = false;
    NatSampler sampler;
    std::function<void(bool firewalled, const NatSampler&)> done;
  };

  Impl(DhtNode& node);
  ~Impl();

  // --- requests (dht._request) ---
  bool send(RequestSpec spec, OkFn ok, ErrFn err);
  RequestSpec internal_spec(const Ipv4Address& to, std::uint64_t command,
                            std::optional<Bytes> value = std::nullopt) const;

  // --- table maintenance ---
  void add_node_from_network(bool sample, const Peer& from, const Ipv4Address& to);
  void add_node(Node node);
  void remove_node(const Bytes32& id);
  void remove_stale_node(const Bytes32& id, std::int64_t last_seen);
  void sample_bootstrap_maybe(const Ipv4Address& from, const Ipv4Address& to);
  void nat_add(const Ipv4Address& addr);
  void on_full_row(const Node& new_node, std::size_t bucket);
  void reping_and_swap(const Node& new_node, const Bytes32& old_id);
  void check(const Bytes32& id);
  void ping_some();
  bool table_add(const Node& node);  // table.add() with the reference's 'row'/'full' wiring

  // --- RpcIo handlers ---
  void on_request(const IncomingRequest& req);
  void on_internal_request(const IncomingRequest& req);
  void on_delayed_ping(const IncomingRequest& req);
  void on_response(const Reply& reply, bool external);
  void on_timeout(const RequestSpec& spec);
  void note_server_host(const Ipv4Address& from);

  // --- ticks ---
  void arm_tick();
  void on_tick();
  void on_wakeup();
  void apply_health(NetworkHealth::Signal s);

  // --- bootstrap and network state (dht_node_network.cpp) ---
  void start_bootstrap();
  void bootstrap_round();
  void bootstrap_round_done(std::error_code ec);
  void bootstrap_finish();
  void on_bootstrap_data(const Reply& reply);
  void background_query(const Bytes32& target, OkFn on_data, ErrFn done);
  void update_network_state(bool only_firewall, BoolFn done);
  void network_state_probed(bool only_firewall, bool was_firewalled, Ipv4Host host,
                            std::uint16_t port, bool firewalled, const NatSampler* probe,
                            const BoolFn& done);
  void rebuild_table(const Bytes32& id);
  void check_if_firewalled(std::function<void(bool firewalled, const NatSampler&)> done);
  void probe_firewall(const std::shared_ptr<FirewallProbe>& probe);
  void finish_probe(const std::shared_ptr<FirewallProbe>& probe);
  void resolve_bootstrap(std::function<void(std::vector<NodeRef>)> done);
  void resolve_entry(std::shared_ptr<std::vector<NodeRef>> out, std::size_t i,
                     std::function<void(std::vector<NodeRef>)> done);
  void lookup_host(const BootstrapEntry& e, const std::string& host,
                   std::function<void(std::optional<Ipv4Address>)> done);
  std::uint16_t server_port() const;

  // Runs fn on the executor later, unless the node is gone by then.
  void defer(std::function<void()> fn);

  DhtNode& n;
  std::shared_ptr<int> alive = std::make_shared<int>(0);
  NetworkHealth health;
  core::Timer tick_timer;
  core::InterfaceWatcher interfaces;  // udx networkInterfaces: emits network-change
  TimePoint next_tick_at{};
  TimePoint last_tick{};
  std::function<bool(const IncomingRequest&)> request_handler;

  bool adaptive = true;
  bool force_persistent = false;
  int repinging = 0;
  int checks = 0;
  int refresh_ticks = 0;
  int stable_ticks = 0;
  std::optional<Ipv4Host> last_host;
  std::vector<Ipv4Address> none_persistent_samples;
  int down_hints_sent = 0;

  std::uint64_t next_key = 1;
  std::unordered_map<std::uint64_t, RequestHandle> requests;
  std::unordered_map<std::uint64_t, core::Timer> delayed_pings;
  std::unordered_map<std::uint64_t, std::unique_ptr<Query>> background;
  std::vector<std::shared_ptr<FirewallProbe>> probes;
  std::list<std::shared_ptr<void>> resolvers;  // DNS lookups in flight (asio resolvers)

  // Bootstrap state (_bootstrap's locals).
  int boot_round = 0;
  bool boot_first = false;
  bool boot_test_nat = false;
  bool boot_started = false;

  // The reference only hears 'full' from rows created while its 'row' listener was attached:
  // rows made while re-adding nodes after an id change never get one (index.js
  // _updateNetworkState attaches the listener after the copy loop).
  std::bitset<RoutingTable::kBuckets> row_created;
  std::bitset<RoutingTable::kBuckets> row_listened;
};

}  // namespace hdht::dht
