// hyperdhtd: the HyperDHT daemon. Runs the nodes the command line asks for (daemon/options.hpp)
// until SIGINT or SIGTERM, then destroys them and exits 0.
#include <csignal>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "daemon/node_runner.hpp"
#include "daemon/options.hpp"

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

  // Logs go to stderr so that journald and test harnesses see them unbuffered.
  spdlog::set_default_logger(spdlog::stderr_color_mt("hyperdhtd"));
  spdlog::set_level(parsed.options.log_level);

  boost::asio::io_context ctx;
  hdht::core::AsioRuntime runtime(ctx.get_executor());
  int exit_code = 0;
  hdht::daemon::NodeRunner runner(runtime, hdht::daemon::plan_nodes(parsed.options),
                                  parsed.options.status_interval, [&](std::string msg) {
                                    spdlog::critical("{}", msg);
                                    exit_code = 1;
                                    runner.destroy();
                                    ctx.stop();
                                  });
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down {} nodes", sig, runner.size());
    runner.destroy();
    ctx.stop();
  });
  if (auto r = runner.start(); !r) {
    spdlog::critical("cannot start: {}", r.error().message());
    return 1;
  }
  ctx.run();
  spdlog::info("stopped");
  return exit_code;
}
