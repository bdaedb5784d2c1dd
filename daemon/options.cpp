#include "daemon/options.hpp"

#include <charconv>
#include <fstream>
#include <ostream>
#include <sstream>

#include <boost/program_options.hpp>

#include "core/dht_config.hpp"
#include "core/version.hpp"
#include "daemon/paths.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::daemon {

namespace po = boost::program_options;

const char* const kDefaultBootstrap = dht::kPublicBootstrap;

namespace {

// A whole number for a count, a port or seconds. Boost reads an unsigned through
// lexical_cast, which takes "-1" as 4294967295: `--max-handshakes -1` would mean "4 billion",
// not an error. Digits only, and in range, or the option is refused.
struct Count {
  unsigned value = 0;
};

std::ostream& operator<<(std::ostream& os, const Count& c) {
  return os << c.value;
}

void validate(boost::any& out, const std::vector<std::string>& values, Count*, int) {
  po::validators::check_first_occurrence(out);
  const std::string& text = po::validators::get_single_string(values);
  unsigned v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (text.empty() || ec != std::errc{} || ptr != end) throw po::invalid_option_value(text);
  out = Count{v};
}

po::options_description describe() {
  po::options_description opts("Options (the same names, without --, work in the --config file)");
  // The core's default (RpcIoConfig::request_rate_limit), in whole numbers.
  const auto limit = dht::RpcIoConfig{}.request_rate_limit;
  const auto per_second = static_cast<unsigned>(limit.per_second);
  const auto burst = static_cast<unsigned>(limit.burst);
  // Flags are bool_switch so that a config file can say `persistent = true`.
  // clang-format off
  opts.add_options()
    ("help,h", "show this help and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>()->value_name("FILE"), "read options from this file; the command line wins (SIGHUP re-reads log-level and status-interval)")
    ("bootstrap", po::value<std::string>()->value_name("HOST:PORT,..."), "host:port[,host:port...] to join (default: the public HyperDHT bootstrap nodes)")
    ("bootstrapper", po::bool_switch(), "run the first node of an isolated network: persistent, id = node_id(--host:--port); needs --host")
    ("host", po::value<std::string>()->value_name("IPV4"), "address to bind (0.0.0.0); with --bootstrapper, this node's public IPv4")
    ("port", po::value<Count>()->value_name("PORT"), "UDP port (default 49737; tries port..port+4, then any, unless given explicitly)")
    ("nodes", po::value<Count>()->value_name("N")->default_value(Count{1}), "run N nodes in this process")
    ("persistent", po::bool_switch(), "try to become persistent while bootstrapping (ephemeral: false) instead of after ~20 min")
    ("ephemeral", po::bool_switch(), "never become persistent (ephemeral: true): store nothing for others")
    ("not-firewalled", po::bool_switch(), "trust that this host is reachable (firewalled: false; skips the firewall probe)")
    ("testnet", po::value<Count>()->value_name("N"), "run an isolated network of N nodes on 127.0.0.1: a bootstrapper on --port, the rest joining it")
    ("socket", po::value<std::string>()->value_name("PATH"), "control socket path, or 'none' (default: $RUNTIME_DIRECTORY/hyperdhtd.sock under systemd, else $XDG_RUNTIME_DIR/hyperdhtd.sock, else /tmp/hyperdhtd-$UID.sock)")
    ("socket-group", po::value<std::string>()->value_name("GROUP"), "group that may use the control socket (mode 0660; default: the daemon's group)")
    ("max-clients", po::value<Count>()->value_name("N")->default_value(Count{64}), "control socket clients served at once; more are told TOO_MANY_CLIENTS")
    ("max-servers", po::value<Count>()->value_name("N")->default_value(Count{32}), "servers (listen) at once; more are refused with LIMIT_REACHED")
    ("max-connections", po::value<Count>()->value_name("N")->default_value(Count{256}), "P2P connections at once (connect, accept, forwards); more are refused")
    ("request-rate-limit", po::value<Count>()->value_name("PER_SECOND")->default_value(Count{per_second}), "DHT requests answered per second from one IPv4 host, after a burst of --request-rate-burst; more are dropped unanswered (0 = no limit)")
    ("request-rate-burst", po::value<Count>()->value_name("N")->default_value(Count{burst}), "requests one host may send at once before --request-rate-limit applies (0 = no limit)")
    ("max-handshakes", po::value<Count>()->value_name("N")->default_value(Count{1024}), "inbound handshakes each server holds at once (in progress or just finished); more are dropped unanswered; 0 = no limit")
    ("state-dir", po::value<std::string>()->value_name("DIR"), "keys and routing-table snapshot (default: $STATE_DIRECTORY, else $XDG_STATE_HOME/hyperdhtd, else ~/.local/state/hyperdhtd; --testnet: none, keys in memory)")
    ("metrics", po::value<std::string>()->value_name("HOST:PORT"), "serve Prometheus metrics over HTTP on host:port (off by default; e.g. 127.0.0.1:9478)")
    ("log-level", po::value<std::string>()->value_name("LEVEL")->default_value("info"), "trace, debug, info, warn, error, critical or off")
    ("log-format", po::value<std::string>()->value_name("FORMAT")->default_value("text"), "text, or json (one object per line)")
    ("status-interval", po::value<Count>()->value_name("SECONDS")->default_value(Count{60}), "seconds between one-line status logs (0 = never)")
    ("reannounce-interval", po::value<Count>()->value_name("SECONDS")->default_value(Count{300}), "how often standing announces and kept records are refreshed, in seconds (1 or more; records on storing nodes live 13-27 minutes)")
    ("control-idle-timeout", po::value<Count>()->value_name("SECONDS")->default_value(Count{300}), "close a control connection idle this long (no request, nothing running for it); 0 = never")
    ("blind-relay", po::bool_switch(), "also serve as a blind relay for other peers' relayThrough (best on a persistent, unfirewalled node)")
    ("blind-relay-key", po::value<std::string>()->value_name("NAME")->default_value("default"), "the key pair the blind relay listens on; its public key is what peers pass as relayThrough")
    ("relay-through", po::value<std::string>()->value_name("PUBKEY"), "a blind relay's public key (64 hex): the relayThrough of connects and listens that name none");
  // clang-format on
  return opts;
}

ParsedCommandLine fail(std::string line) {
  ParsedCommandLine out;
  out.action = ParsedCommandLine::Action::error;
  out.text = std::move(line);
  return out;
}

bool is_wildcard_or_invalid(const std::string& host) {
  auto ip = Ipv4Address::parse_host(host);
  return !ip || *ip == std::array<std::uint8_t, 4>{0, 0, 0, 0};
}

}  // namespace

ParsedCommandLine parse_command_line(int argc, const char* const* argv) {
  const auto opts = describe();
  po::variables_map vm;
  std::optional<std::string> config_file;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("config")) {
      const auto path = vm["config"].as<std::string>();
      config_file = path;
      std::ifstream in(path);
      if (!in) return fail("cannot read config file " + path);
      po::store(po::parse_config_file(in, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    return fail(e.what());
  }

  ParsedCommandLine out;
  if (vm.count("help")) {
    std::ostringstream help;
    help << version_string() << "\n\nUsage: hyperdhtd [options]\n"
         << "  hyperdhtd [--bootstrap host:port,...] [--host H] [--port P] [--nodes N]\n"
         << "  hyperdhtd --bootstrapper --host PUBLIC_IP [--port P]\n"
         << "  hyperdhtd --testnet N [--port P]\n"
         << "  hyperdhtd --config /etc/hyperdhtd/hyperdhtd.conf\n\n"
         << opts
         << "\nControl it with hdhtctl (hdhtctl --help). Try: hyperdhtd --testnet 20, then\n"
            "`hdhtctl status` in another terminal. SIGTERM/SIGINT stop it gracefully, SIGHUP\n"
            "reloads the config file's log-level and status-interval. Exit codes: 0 stopped\n"
            "cleanly, 1 start-up or runtime failure, 2 bad options.\n";
    out.action = ParsedCommandLine::Action::help;
    out.text = help.str();
    return out;
  }
  if (vm.count("version")) {
    out.action = ParsedCommandLine::Action::version;
    out.text = version_string();
    return out;
  }

  auto& o = out.options;
  const auto level = spdlog::level::from_str(vm["log-level"].as<std::string>());
  // from_str maps unknown names to off; only "off" itself may mean off.
  if (level == spdlog::level::off && vm["log-level"].as<std::string>() != "off")
    return fail("--log-level: unknown level '" + vm["log-level"].as<std::string>() + "'");
  o.log_level = level;
  o.status_interval = std::chrono::seconds(vm["status-interval"].as<Count>().value);
  if (vm["reannounce-interval"].as<Count>().value == 0)
    return fail("--reannounce-interval must be 1 second or more");
  o.reannounce_interval = std::chrono::seconds(vm["reannounce-interval"].as<Count>().value);
  o.config_file = config_file;
  const auto format = vm["log-format"].as<std::string>();
  if (format == "json")
    o.log_format = LogFormat::json_lines;
  else if (format != "text")
    return fail("--log-format must be text or json, not '" + format + "'");

  o.max_clients = vm["max-clients"].as<Count>().value;
  if (o.max_clients == 0) return fail("--max-clients must be at least 1");
  o.max_servers = vm["max-servers"].as<Count>().value;
  o.max_connections = vm["max-connections"].as<Count>().value;
  if (o.max_servers == 0 || o.max_connections == 0)
    return fail("--max-servers and --max-connections must be at least 1");
  o.request_rate_limit.per_second = vm["request-rate-limit"].as<Count>().value;
  o.request_rate_limit.burst = vm["request-rate-burst"].as<Count>().value;
  o.max_handshakes = vm["max-handshakes"].as<Count>().value;
  o.control_idle_timeout = std::chrono::seconds(vm["control-idle-timeout"].as<Count>().value);
  o.blind_relay = vm["blind-relay"].as<bool>();
  o.blind_relay_key = vm["blind-relay-key"].as<std::string>();
  if (vm.count("relay-through")) {
    const auto hex = vm["relay-through"].as<std::string>();
    o.relay_through = fixed_from_hex<32>(hex);
    if (!o.relay_through)
      return fail("--relay-through must be a public key (64 hex characters), not '" + hex + "'");
  }
  o.socket_path = vm.count("socket") ? vm["socket"].as<std::string>() : default_socket_path();
  if (o.socket_path == "none") o.socket_path.clear();
  // sockaddr_un holds 108 bytes including the terminating NUL.
  if (o.socket_path.size() > 107) return fail("--socket: path longer than 107 bytes");
  if (vm.count("socket-group")) o.socket_group = vm["socket-group"].as<std::string>();
  if (vm.count("metrics")) {
    const auto m = vm["metrics"].as<std::string>();
    o.metrics = Ipv4Address::parse(m);
    if (!o.metrics || o.metrics->port == 0)
      return fail("--metrics must be IPv4:port (e.g. 127.0.0.1:9478), not '" + m + "'");
  }

  if (vm.count("port")) {
    const unsigned p = vm["port"].as<Count>().value;
    if (p == 0 || p > 65535) return fail("--port must be 1..65535");
    o.port = static_cast<std::uint16_t>(p);
    o.port_given = true;
  }
  o.nodes = vm["nodes"].as<Count>().value;
  if (o.nodes == 0) return fail("--nodes must be at least 1");
  o.persistent = vm["persistent"].as<bool>();
  o.ephemeral = vm["ephemeral"].as<bool>();
  if (o.persistent && o.ephemeral) return fail("--persistent and --ephemeral exclude each other");
  o.not_firewalled = vm["not-firewalled"].as<bool>();
  if (vm.count("host")) o.host = vm["host"].as<std::string>();

  const bool testnet = vm.count("testnet") > 0;
  const bool bootstrapper = vm["bootstrapper"].as<bool>();
  if (vm.count("state-dir"))
    o.state_dir = vm["state-dir"].as<std::string>();
  else if (!testnet)
    o.state_dir = default_state_dir();
  if (testnet && bootstrapper) return fail("--testnet and --bootstrapper exclude each other");
  if ((testnet || bootstrapper) && vm.count("bootstrap"))
    return fail("--bootstrap makes no sense with --testnet or --bootstrapper");

  if (testnet) {
    o.mode = Mode::testnet;
    o.nodes = vm["testnet"].as<Count>().value;
    if (o.nodes == 0) return fail("--testnet needs at least 1 node");
    if (vm.count("host")) return fail("--testnet always runs on 127.0.0.1; drop --host");
    o.host = "127.0.0.1";
    return out;
  }
  if (bootstrapper) {
    o.mode = Mode::bootstrapper;
    if (!vm.count("host")) return fail("--bootstrapper needs --host <this node's public IPv4>");
    if (is_wildcard_or_invalid(o.host))
      return fail("--bootstrapper --host must be a non-wildcard IPv4 address, not '" + o.host +
                  "'");
    if (o.nodes != 1) return fail("--bootstrapper runs exactly one node; drop --nodes");
    return out;
  }

  if (!Ipv4Address::parse_host(o.host))
    return fail("--host must be an IPv4 address, not '" + o.host + "'");
  if (o.port_given && o.nodes != 1) return fail("--port is only valid when running a single node");
  const std::string list =
      vm.count("bootstrap") ? vm["bootstrap"].as<std::string>() : kDefaultBootstrap;
  auto entries = dht::BootstrapEntry::parse_list(list);
  if (!entries || entries->empty()) return fail("--bootstrap: cannot parse '" + list + "'");
  o.bootstrap = std::move(*entries);
  return out;
}

}  // namespace hdht::daemon
