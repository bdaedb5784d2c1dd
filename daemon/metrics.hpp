// The daemon's counters in the Prometheus text format (0.0.4), named after the community
// hyperdht-stats conventions (dht_nr_nodes, dht_is_firewalled, per-command counters, socket
// bytes/packets/drops), one series per node with a node="i" label. Served by `metrics` on the
// control socket and by the --metrics HTTP endpoint.
#pragma once

#include <string>

#include "daemon/control_server.hpp"
#include "daemon/health.hpp"
#include "daemon/node_runner.hpp"

namespace hdht::daemon {

class Servers;
class Connections;
class BlindRelayRole;

struct MetricsSources {
  const NodeRunner* runner = nullptr;
  const HealthMonitor* health = nullptr;
  const ControlServer* control = nullptr;  // may be null (--socket none)
  std::size_t keys = 0;
  std::size_t standing_announces = 0;
  std::size_t kept_records = 0;
  std::size_t operations = 0;  // record operations of control clients in flight
  double uptime_seconds = 0;
  const Servers* servers = nullptr;          // may be null (tests)
  const Connections* connections = nullptr;  // may be null (tests)
  const BlindRelayRole* relay = nullptr;     // may be null (tests)
};

std::string render_metrics(const MetricsSources& sources);

}  // namespace hdht::daemon
