#include "daemon/options.hpp"

#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

#include "core/version.hpp"
#include "protocol/ipv4.hpp"

namespace hdht::daemon {

namespace po = boost::program_options;

const char* const kDefaultBootstrap =
    "88.99.3.86@node1.hyperdht.org:49737,142.93.90.113@node2.hyperdht.org:49737,"
    "138.68.147.8@node3.hyperdht.org:49737";

namespace {

po::options_description describe() {
  po::options_description opts("hyperdhtd options");
  // clang-format off
  opts.add_options()
    ("help,h", "show this help and exit")
    ("version", "print the version and exit")
    ("config", po::value<std::string>(), "read options from this file (same names as the command line)")
    ("bootstrap", po::value<std::string>(), "host:port[,host:port...] to join (default: the public HyperDHT bootstrap nodes)")
    ("bootstrapper", "run the first node of an isolated network: persistent, id = node_id(--host:--port); needs --host")
    ("host", po::value<std::string>(), "address to bind (0.0.0.0); with --bootstrapper, this node's public IPv4")
    ("port", po::value<unsigned>(), "UDP port (default 49737; tries port..port+4, then any, unless given explicitly)")
    ("nodes", po::value<unsigned>()->default_value(1), "run N nodes in this process")
    ("persistent", "try to become persistent while bootstrapping (ephemeral: false) instead of after ~20 min")
    ("not-firewalled", "trust that this host is reachable (firewalled: false; skips the firewall probe)")
    ("testnet", po::value<unsigned>(), "run an isolated network of N nodes on 127.0.0.1: a bootstrapper on --port, the rest joining it")
    ("log-level", po::value<std::string>()->default_value("info"), "trace, debug, info, warn, error, critical or off")
    ("status-interval", po::value<unsigned>()->default_value(60), "seconds between one-line status logs (0 = never)");
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
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    if (vm.count("config")) {
      const auto path = vm["config"].as<std::string>();
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
         << "  hyperdhtd --testnet N [--port P]\n\n"
         << opts;
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
  o.status_interval = std::chrono::seconds(vm["status-interval"].as<unsigned>());

  if (vm.count("port")) {
    const unsigned p = vm["port"].as<unsigned>();
    if (p == 0 || p > 65535) return fail("--port must be 1..65535");
    o.port = static_cast<std::uint16_t>(p);
    o.port_given = true;
  }
  o.nodes = vm["nodes"].as<unsigned>();
  if (o.nodes == 0) return fail("--nodes must be at least 1");
  o.persistent = vm.count("persistent") > 0;
  o.not_firewalled = vm.count("not-firewalled") > 0;
  if (vm.count("host")) o.host = vm["host"].as<std::string>();

  const bool testnet = vm.count("testnet") > 0;
  const bool bootstrapper = vm.count("bootstrapper") > 0;
  if (testnet && bootstrapper) return fail("--testnet and --bootstrapper exclude each other");
  if ((testnet || bootstrapper) && vm.count("bootstrap"))
    return fail("--bootstrap makes no sense with --testnet or --bootstrapper");

  if (testnet) {
    o.mode = Mode::testnet;
    o.nodes = vm["testnet"].as<unsigned>();
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
