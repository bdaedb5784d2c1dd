// hdhtctl: the command-line client of hyperdhtd's control socket (redis-cli / tailscale style):
//   hdhtctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS]
// Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage, 3 cannot reach the daemon,
// 4 `health` says not healthy.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "core/version.hpp"
#include "ctl/cli.hpp"
#include "daemon/paths.hpp"

namespace {

using namespace hdht::ctl;

void print_help() {
  std::cout << "Usage: hdhtctl [--socket PATH] [--json] [--timeout SEC] COMMAND [ARGS]\n\n"
               "Talks to a running hyperdhtd over its control socket (JSON-RPC 2.0).\n\n"
               "Commands:\n";
  for (const auto& c : commands()) {
    std::string left = std::string(c.name) + (*c.usage ? " " : "") + c.usage;
    // A long usage gets its own line, so the summaries stay in one column.
    if (left.size() > 34)
      left += "\n" + std::string(38, ' ');
    else
      left.resize(36, ' ');
    std::cout << "  " << left << c.summary << "\n";
  }
  std::cout << "\nGlobal options:\n"
               "  --socket PATH   the daemon's socket (default: $HYPERDHTD_SOCKET, else\n"
               "                  /run/hyperdhtd/hyperdhtd.sock if present, else\n"
               "                  $XDG_RUNTIME_DIR/hyperdhtd.sock, else /tmp/hyperdhtd-$UID.sock)\n"
               "  --json          print the daemon's JSON result on one line (for scripts)\n"
               "  --timeout SEC   give up waiting for an answer after SEC seconds (default 30)\n"
               "  --help, -h      this help; COMMAND --help for a command's own\n"
               "  --version       print the version\n\n"
               "Exit codes: 0 ok, 1 the daemon answered with an error, 2 usage error,\n"
               "3 cannot reach the daemon, 4 (health) the DHT is not healthy.\n"
               "Try: hyperdhtd --testnet 20 in one terminal, hdhtctl status in another.\n";
}

int usage(const std::string& message) {
  std::cerr << "hdhtctl: " << message << " (see hdhtctl --help)\n";
  return kUsage;
}

}  // namespace

int main(int argc, char** argv) {
  Global g;
  g.socket = hdht::daemon::client_socket_path();
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      print_help();
      return kOk;
    }
    if (a == "--version") {
      std::cout << "hdhtctl, " << hdht::version_string() << "\n";
      return kOk;
    }
    if (a == "--json") {
      g.json = true;
    } else if (a == "--socket" || a == "--timeout") {
      if (i + 1 >= argc) return usage(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--socket") {
        g.socket = v;
      } else {
        if (v.empty() || v.size() > 6 || v.find_first_not_of("0123456789") != std::string::npos ||
            std::stoul(v) == 0)
          return usage("--timeout needs a whole number of seconds (1 or more)");
        g.timeout = std::chrono::seconds(std::stoul(v));
      }
    } else if (a.starts_with("-")) {
      return usage("unknown option " + a);
    } else {
      break;
    }
  }
  if (i >= argc) return usage("no command given");
  const std::string name = argv[i];
  const std::vector<std::string> args(argv + i + 1, argv + argc);
  for (const auto& c : commands()) {
    if (name != c.name) continue;
    for (const auto& a : args)
      if (a == "--help" || a == "-h") {
        print_command_help(c);
        return kOk;
      }
    return c.run(g, args);
  }
  return usage("unknown command '" + name + "'");
}
