#include "daemon/metrics.hpp"

#include <functional>
#include <sstream>

#include <spdlog/fmt/fmt.h>

#include "core/datagram_socket.hpp"
#include "daemon/blind_relay_role.hpp"
#include "daemon/connections.hpp"
#include "daemon/servers.hpp"

namespace hdht::daemon {

namespace {

class Writer {
 public:
  // One # HELP / # TYPE header, then one sample per node.
  void family(const char* name, const char* type, const char* help,
              const std::vector<dht::DhtNode*>& nodes,
              const std::function<double(const dht::DhtNode&)>& value) {
    header(name, type, help);
    for (std::size_t i = 0; i < nodes.size(); ++i)
      out_ << name << "{node=\"" << i << "\"} " << number(value(*nodes[i])) << "\n";
  }
  // One sample per node from a precomputed list (values that need more than the DhtNode).
  void family(const char* name, const char* type, const char* help,
              const std::vector<double>& values) {
    header(name, type, help);
    for (std::size_t i = 0; i < values.size(); ++i)
      out_ << name << "{node=\"" << i << "\"} " << number(values[i]) << "\n";
  }
  void single(const char* name, const char* type, const char* help, double value) {
    header(name, type, help);
    out_ << name << " " << number(value) << "\n";
  }
  std::string str() const { return out_.str(); }

 private:
  void header(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  // Shortest round-trip form: counters print as integers, never as 1.2e+06.
  static std::string number(double v) { return fmt::format("{}", v); }
  std::ostringstream out_;
};

using Counters = core::DatagramCounters;

// Both sockets of a node (server and client), summed: what hyperdht-stats reports per DHT.
double socket_sum(const dht::DhtNode& n, std::uint64_t Counters::*field) {
  // DhtNode::io() has no const overload; only const members are read here.
  auto& io = const_cast<dht::DhtNode&>(n).io();
  double total = 0;
  for (auto* s : {io.server_socket(), io.client_socket()})
    if (s) total += static_cast<double>(s->counters().*field);
  return total;
}

void render_connection_metrics(Writer& w, const Servers& servers, const Connections& conns) {
  const auto u = [](std::uint64_t v) { return static_cast<double>(v); };
  w.single("hyperdhtd_servers", "gauge", "Servers listening (or starting)",
           static_cast<double>(servers.size()));
  w.single("hyperdhtd_connections", "gauge", "P2P connections (connecting, waiting, piping)",
           static_cast<double>(conns.size()));
  const auto& c = conns.counters();
  w.single("hyperdhtd_connections_outbound_total", "counter", "Outbound connects that succeeded",
           u(c.outbound));
  w.single("hyperdhtd_connections_inbound_total", "counter",
           "Inbound streams accepted or forwarded", u(c.inbound));
  w.single("hyperdhtd_connect_failures_total", "counter", "Outbound connects that failed",
           u(c.connect_failed));
  w.single("hyperdhtd_connections_rejected_total", "counter",
           "Connections refused at --max-connections", u(c.rejected_full));
  const auto hs = servers.handshake_totals();
  w.single("hyperdhtd_server_handshakes", "gauge",
           "Inbound handshakes the servers hold (in progress or just finished)", u(hs.held));
  w.single("hyperdhtd_server_handshakes_full_total", "counter",
           "Handshakes dropped because their server held --max-handshakes", u(hs.slots_full));
  w.single("hyperdhtd_server_handshakes_rate_limited_total", "counter",
           "Handshakes dropped by the per-host handshake rate limit", u(hs.rate_limited));
  w.single("hyperdhtd_server_handshakes_invalid_total", "counter",
           "Handshakes whose Noise message did not decrypt", u(hs.invalid));
  w.single("hyperdhtd_connections_unaccepted_total", "counter",
           "Inbound streams closed because no listener accepted them in time", u(c.accept_expired));
  w.single("hyperdhtd_connections_closed_total", "counter", "Piped connections closed",
           u(c.closed));
  w.single("hyperdhtd_connection_errors_total", "counter", "Piped connections closed by an error",
           u(c.errors));
  w.single("hyperdhtd_connection_sent_bytes_total", "counter",
           "Bytes sent to peers by closed connections", u(c.bytes_to_peers));
  w.single("hyperdhtd_connection_received_bytes_total", "counter",
           "Bytes received from peers by closed connections", u(c.bytes_from_peers));
}

// blind-relay's Server of --blind-relay (only when the role is on).
void render_relay_metrics(Writer& w, const BlindRelayRole& relay) {
  const auto u = [](std::uint64_t v) { return static_cast<double>(v); };
  const auto s = relay.stats();
  w.single("hyperdhtd_blind_relay_listening", "gauge", "1 while the blind relay listens",
           relay.state() == BlindRelayRole::State::listening ? 1 : 0);
  w.single("hyperdhtd_blind_relay_sessions_total", "counter",
           "Connections to the blind relay accepted as relay sessions", u(s.sessions_accepted));
  w.single("hyperdhtd_blind_relay_sessions_closed_total", "counter", "Relay sessions closed",
           u(s.sessions_closed));
  w.single("hyperdhtd_blind_relay_sessions_refused_total", "counter",
           "Relay sessions refused over the session cap", u(s.sessions_refused));
  w.single("hyperdhtd_blind_relay_pairings_requested_total", "counter", "Pair requests received",
           u(s.pairings_requested));
  w.single("hyperdhtd_blind_relay_pairings_matched_total", "counter",
           "Pairings matched (two peers linked through the relay)", u(s.pairings_matched));
  w.single("hyperdhtd_blind_relay_pairings_pending", "gauge", "Pairings waiting for their peer",
           u(s.pairings_pending));
  w.single("hyperdhtd_blind_relay_pairings_active", "gauge", "Links relaying now",
           u(s.pairings_active));
  w.single("hyperdhtd_blind_relay_packets_total", "counter",
           "UDX packets relayed (both directions)", u(s.packets_relayed));
  w.single("hyperdhtd_blind_relay_bytes_total", "counter", "Bytes relayed (both directions)",
           u(s.bytes_relayed));
}

}  // namespace

std::string render_metrics(const MetricsSources& src) {
  Writer w;
  const auto& nodes = src.runner->nodes();
  using N = const dht::DhtNode&;
  const auto u = [](std::uint64_t v) { return static_cast<double>(v); };

  w.family("dht_nr_nodes", "gauge", "Nodes in the routing table", nodes,
           [](N n) { return static_cast<double>(n.table().size()); });
  w.family("dht_is_firewalled", "gauge", "1 if the node is firewalled", nodes,
           [](N n) { return n.firewalled() ? 1.0 : 0.0; });
  w.family("dht_is_ephemeral", "gauge", "1 if the node is ephemeral (not storing for others)",
           nodes, [](N n) { return n.ephemeral() ? 1.0 : 0.0; });
  w.family("dht_is_bootstrapped", "gauge", "1 once the node has bootstrapped", nodes,
           [](N n) { return n.bootstrapped() ? 1.0 : 0.0; });
  w.family("dht_is_online", "gauge", "1 if the node sees responses", nodes,
           [](N n) { return n.online() ? 1.0 : 0.0; });
  w.family("dht_is_degraded", "gauge", "1 if many of the node's requests time out", nodes,
           [](N n) { return n.degraded() ? 1.0 : 0.0; });
  w.family("dht_queries_active", "gauge", "Queries in progress", nodes,
           [&](N n) { return u(n.stats().queries_active); });
  w.family("dht_queries_total", "counter", "Queries started", nodes,
           [&](N n) { return u(n.stats().queries_total); });

  auto io = [](N n) -> const dht::RpcIoStats& { return const_cast<dht::DhtNode&>(n).io().stats(); };
  w.family("dht_requests_total", "counter", "Requests sent", nodes,
           [&](N n) { return u(io(n).requests_total); });
  w.family("dht_responses_total", "counter", "Responses received to our requests", nodes,
           [&](N n) { return u(io(n).responses); });
  w.family("dht_timeouts_total", "counter", "Requests that timed out after all retries", nodes,
           [&](N n) { return u(io(n).timeouts); });
  w.family("dht_retries_total", "counter", "Request retransmissions", nodes,
           [&](N n) { return u(io(n).retries); });
  w.family("dht_inflight_requests", "gauge", "Requests awaiting a response", nodes,
           [&](N n) { return u(io(n).active); });
  static constexpr const char* kCommands[] = {"ping", "ping_nat", "find_node", "down_hint"};
  for (std::size_t c = 0; c < 4; ++c) {
    const std::string tx = std::string("dht_") + kCommands[c] + "_tx";
    const std::string rx = std::string("dht_") + kCommands[c] + "_rx";
    w.family(tx.c_str(), "counter", "Requests of this command sent", nodes,
             [&](N n) { return u(io(n).commands[c].tx); });
    w.family(rx.c_str(), "counter", "Responses to this command received", nodes,
             [&](N n) { return u(io(n).commands[c].rx); });
  }
  w.family("dht_dropped_malformed_total", "counter", "Undecodable datagrams dropped", nodes,
           [&](N n) { return u(io(n).dropped_malformed); });
  w.family("dht_dropped_unmatched_total", "counter", "Responses matching no request", nodes,
           [&](N n) { return u(io(n).dropped_unmatched); });
  w.family("dht_invalid_tokens_total", "counter", "Requests refused for a bad token", nodes,
           [&](N n) { return u(io(n).invalid_tokens); });
  w.family("dht_rate_limited_requests_total", "counter",
           "Requests dropped unanswered by the per-host limit (--request-rate-limit)", nodes,
           [&](N n) { return u(io(n).rate_limited_requests); });
  w.family("dht_oversized_requests_total", "counter",
           "Requests of ours not sent: too large for a datagram", nodes,
           [&](N n) { return u(io(n).oversized_requests); });
  w.family("dht_oversized_replies_total", "counter",
           "Replies or relays not sent: too large for a datagram", nodes,
           [&](N n) { return u(io(n).oversized_replies); });

  // UDP socket counters (the sockets libudx would own), since the current sockets were bound.
  w.family("udx_bytes_transmitted", "counter", "Bytes sent", nodes,
           [](N n) { return socket_sum(n, &Counters::sent_bytes); });
  w.family("udx_packets_transmitted", "counter", "Datagrams sent", nodes,
           [](N n) { return socket_sum(n, &Counters::sent_datagrams); });
  w.family("udx_bytes_received", "counter", "Bytes received", nodes,
           [](N n) { return socket_sum(n, &Counters::received_bytes); });
  w.family("udx_packets_received", "counter", "Datagrams received", nodes,
           [](N n) { return socket_sum(n, &Counters::received_datagrams); });
  w.family("udx_packets_dropped", "counter", "Datagrams dropped (send queue full or no handler)",
           nodes, [](N n) {
             return socket_sum(n, &Counters::send_dropped) +
                    socket_sum(n, &Counters::received_dropped);
           });
  w.family("udx_send_errors", "counter", "Datagrams the kernel refused", nodes,
           [](N n) { return socket_sum(n, &Counters::send_errors); });

  // The record layer's storage; a node that never stored anything has none yet (0).
  const auto storage_counts = [&](auto count) {
    std::vector<double> out;
    for (std::size_t i = 0; i < nodes.size(); ++i) {
      auto* h = src.runner->hyper(i);
      auto* st = h ? h->storage() : nullptr;
      out.push_back(st ? static_cast<double>(count(*st)) : 0.0);
    }
    return out;
  };
  using S = hyperdht::RecordHandlers&;
  w.family("dht_nr_records", "gauge", "Announce records stored for other peers",
           storage_counts([](S s) { return s.records().size(); }));
  w.family("dht_nr_topics", "gauge", "Topics with stored announce records",
           storage_counts([](S s) { return s.records().topics(); }));
  w.family("dht_nr_mutable_records", "gauge", "Mutable values stored for other peers",
           storage_counts([](S s) { return s.mutables().size(); }));
  w.family("dht_nr_immutable_records", "gauge", "Immutable values stored for other peers",
           storage_counts([](S s) { return s.immutables().size(); }));

  w.single("hyperdhtd_healthy", "gauge", "1 if the health checks pass",
           src.health && src.health->healthy() ? 1 : 0);
  w.single("hyperdhtd_uptime_seconds", "gauge", "Seconds since start", src.uptime_seconds);
  w.single("hyperdhtd_keys", "gauge", "Key pairs in the key store", static_cast<double>(src.keys));
  w.single("hyperdhtd_standing_announces", "gauge",
           "Standing announces (re-announced on the interval)",
           static_cast<double>(src.standing_announces));
  w.single("hyperdhtd_kept_records", "gauge", "Kept records (put again on the interval)",
           static_cast<double>(src.kept_records));
  w.single("hyperdhtd_record_operations", "gauge", "Record operations of control clients running",
           static_cast<double>(src.operations));
  if (src.servers) render_connection_metrics(w, *src.servers, *src.connections);
  if (src.relay && src.relay->enabled()) render_relay_metrics(w, *src.relay);
  if (src.control) {
    const auto& s = src.control->stats();
    w.single("hyperdhtd_control_clients", "gauge", "Connected control clients",
             static_cast<double>(s.clients));
    w.single("hyperdhtd_control_requests_total", "counter", "Control requests received",
             u(s.requests));
    w.single("hyperdhtd_control_bad_requests_total", "counter",
             "Control requests refused as malformed", u(s.bad_requests));
    w.single("hyperdhtd_control_rejected_total", "counter",
             "Control clients refused or dropped (busy, oversized, not reading)",
             u(s.rejected_busy + s.oversized + s.overflowed));
    w.single("hyperdhtd_control_idle_closed_total", "counter",
             "Control clients closed after --control-idle-timeout", u(s.idle_closed));
  }
  return w.str();
}

}  // namespace hdht::daemon
