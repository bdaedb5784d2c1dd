// Every option of a dht-rpc node, with the reference's defaults (dht-rpc 6.27 index.js and
// lib/io.js). Intervals and thresholds are configurable so tests can run the
// ephemeral -> persistent transition in seconds, as the JS testnet does.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/rpc_io.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::dht {

// One bootstrap entry as the reference accepts it: "host:port", "suggestedIP@hostname:port", or
// a bare port (127.0.0.1:N). Parsing is pure; resolution (ping, DNS) is the node's job.
struct BootstrapEntry {
  std::string host;                      // IPv4 literal or hostname
  std::optional<std::string> suggested;  // the IPv4 before '@'
  std::uint16_t port = 0;
  // Parses one entry; nullopt (and no exception) on malformed input.
  static std::optional<BootstrapEntry> parse(const std::string& text);
  // Parses "a:1,b:2" (commas and/or whitespace); returns nullopt if any entry is malformed.
  static std::optional<std::vector<BootstrapEntry>> parse_list(const std::string& text);
  std::string to_string() const;
};

// hyperdht's default bootstrap nodes (the public network), in BootstrapEntry::parse_list form.
inline constexpr const char* kPublicBootstrap =
    "88.99.3.86@node1.hyperdht.org:49737,142.93.90.113@node2.hyperdht.org:49737,"
    "138.68.147.8@node3.hyperdht.org:49737";

struct DhtConfig {
  std::vector<BootstrapEntry> bootstrap;  // empty = bootstrap: false
  std::vector<Ipv4Address> nodes;         // added to the table at start (opts.nodes)
  RpcIoConfig io;                         // bind host/port, firewalled, max_window, timeouts

  // ephemeral: nullopt = adaptive (the default), true = always ephemeral, false = forced
  // persistent (tries during bootstrap only).
  std::optional<bool> ephemeral;
  bool adaptive = true;  // only meaningful when ephemeral is nullopt
  bool quick_firewall = true;
  std::size_t concurrency = 10;
  std::chrono::milliseconds max_ping_delay{10000};
  bool send_down_hints = true;
  int down_hints_rate_limit = 50;                       // per tick; -1 unlimited, 0 none
  std::function<bool(const Ipv4Address&)> filter_node;  // true = keep (hyperdht filterNode)
  // DHT.bootstrapper(port, host): the public address to seed the NAT sampler with.
  std::optional<Ipv4Address> bootstrapper_address;

  // Timing (reference values; shrink in tests).
  std::chrono::milliseconds tick_interval{5000};
  std::chrono::milliseconds sleeping_interval{15000};  // a tick gap above this is a wakeup
  int stable_ticks = 240;
  int more_stable_ticks = 720;
  int refresh_ticks = 60;
  int recent_node_ticks = 12;
  int old_node_ticks = 360;
  int max_concurrent_repings = 3;
  int max_concurrent_checks = 10;
  // udx-native polls the interface list every 5 s (udx_interface_event_start(..., 5000)).
  std::chrono::milliseconds interface_poll_interval{5000};

  // DHT.bootstrapper(port, host, opts) equivalent: persistent, not firewalled, fixed port,
  // empty bootstrap list, NAT seeded with host:port.
  static DhtConfig bootstrapper(std::uint16_t port, const Ipv4Address& public_host);
};

}  // namespace hdht::dht
