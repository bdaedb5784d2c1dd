// hyperdhtd's command line, as the reference CLI (hyperdht bin.js) shapes it: plain nodes joining
// a bootstrap list, a bootstrapper (the first node of an isolated network), or an embedded
// loopback testnet. Parsing is pure: it returns what to do, or one line saying what is wrong.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/common.h>

#include "core/dht_config.hpp"
#include "protocol/bytes.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::daemon {

// json_lines, not json: the enumerator would shadow the `json` alias the .cpp files declare
// (an error once the unity build puts them in one translation unit).
enum class LogFormat { text, json_lines };

enum class Mode {
  nodes,         // N ordinary nodes joining `bootstrap`
  bootstrapper,  // DHT.bootstrapper(port, host)
  testnet,       // a bootstrapper on 127.0.0.1:port plus N-1 persistent nodes joining it
};

struct DaemonOptions {
  Mode mode = Mode::nodes;
  std::vector<dht::BootstrapEntry> bootstrap;  // Mode::nodes only
  // Mode::nodes: the bind address. Mode::bootstrapper: the public address the id is made of.
  std::string host = "0.0.0.0";
  std::uint16_t port = 49737;
  bool port_given = false;  // an explicit --port pins it (anyPort: false), as the reference does
  unsigned nodes = 1;       // Mode::nodes and Mode::testnet (the testnet's size)
  bool persistent = false;
  bool not_firewalled = false;
  bool ephemeral = false;  // --ephemeral: never turn persistent (ephemeral: true)
  spdlog::level::level_enum log_level = spdlog::level::info;
  LogFormat log_format = LogFormat::text;
  std::chrono::seconds status_interval{60};
  // How often standing announces (announce --keep) and kept records (put --keep) are refreshed
  // (the reference's server announcer: about 5 minutes; announces on the storing nodes live
  // 13-27 minutes).
  std::chrono::seconds reannounce_interval{300};

  std::optional<std::string> config_file;  // --config, kept so SIGHUP can re-read it
  // The control socket; empty = none ("--socket none").
  std::string socket_path;
  std::string socket_group;  // chgrp of the socket file; empty = the daemon's own group
  unsigned max_clients = 64;
  unsigned max_servers = 32;       // `listen` servers at once
  unsigned max_connections = 256;  // P2P connections at once (connecting, waiting, piping)
  // Incoming DHT requests per source IPv4 host, every node (--request-rate-limit/-burst); either
  // 0 turns the limit off.
  core::SourceRateLimit request_rate_limit = dht::RpcIoConfig{}.request_rate_limit;
  // Inbound handshakes each server (listen, the blind relay) holds at once
  // (hyperdht::ServerOptions::max_handshakes); 0 = no limit.
  unsigned max_handshakes = 1024;
  // Keys and the routing-table snapshot; empty = keep keys in memory only (the default of
  // --testnet, whose networks are throwaway).
  std::string state_dir;
  std::optional<Ipv4Address> metrics;  // --metrics host:port, off by default
  // A control connection with no complete request for this long and nothing running for it
  // (no answer owed, not a listener) is closed; 0 = never.
  std::chrono::seconds control_idle_timeout{300};

  // --blind-relay: node 0 also serves as a blind relay (blind-relay's Server) on the key pair
  // named blind_relay_key; peers name its public key as their relayThrough.
  bool blind_relay = false;
  std::string blind_relay_key = "default";
  // --relay-through: the relayThrough of connects and servers whose request names none.
  std::optional<Bytes32> relay_through;
};

// The three public HyperDHT bootstrap nodes (hyperdht lib/constants.js BOOTSTRAP_NODES).
extern const char* const kDefaultBootstrap;

struct ParsedCommandLine {
  enum class Action { run, help, version, error };
  Action action = Action::run;
  DaemonOptions options;
  std::string text;  // the help text, or the single-line error
};

// Reads --config FILE (if given) after the command line: the command line wins, as
// Boost.Program_options stores the first value it sees.
ParsedCommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace hdht::daemon
