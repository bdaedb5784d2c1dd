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

namespace hdht::daemon {

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
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::chrono::seconds status_interval{60};
};

// The three public HyperDHT bootstrap nodes (hyperdht lib/constants.js BOOTSTRAP_NODES).
extern const char* const kDefaultBootstrap;

struct ParsedCommandLine {
  enum class Action { run, help, version, error };
  Action action = Action::run;
  DaemonOptions options;
  std::string text;  // the help text, or the single-line error
};

ParsedCommandLine parse_command_line(int argc, const char* const* argv);

}  // namespace hdht::daemon
