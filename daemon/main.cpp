// hyperdhtd: the HyperDHT daemon. Parses its options (daemon/options.hpp), then runs the nodes,
// the control socket and the rest (daemon/daemon.hpp) until SIGINT or SIGTERM.
#include <iostream>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>

#include "daemon/daemon.hpp"
#include "daemon/logging.hpp"
#include "daemon/options.hpp"
#include "protocol/crypto.hpp"

int main(int argc, char** argv) {
  using hdht::daemon::ParsedCommandLine;
  const auto parsed = hdht::daemon::parse_command_line(argc, argv);
  switch (parsed.action) {
    case ParsedCommandLine::Action::help:
    case ParsedCommandLine::Action::version:
      std::cout << parsed.text << "\n";
      return 0;
    case ParsedCommandLine::Action::error:
      std::cerr << "hyperdhtd: " << parsed.text << " (see hyperdhtd --help)\n";
      return 2;
    case ParsedCommandLine::Action::run:
      break;
  }
  hdht::daemon::setup_logging(parsed.options.log_format, parsed.options.log_level);
  try {
    hdht::crypto::init();
  } catch (const std::exception& e) {
    spdlog::critical("cannot initialise libsodium: {}", e.what());
    return 1;
  }
  boost::asio::io_context ctx;
  const int code = hdht::daemon::run_daemon(ctx, parsed.options, argc, argv);
  if (code == 0) spdlog::info("stopped");
  return code;
}
