#include "daemon/daemon.hpp"

#include <csignal>
#include <optional>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "core/timer.hpp"
#include "daemon/announcer.hpp"
#include "daemon/control_server.hpp"
#include "daemon/dispatcher.hpp"
#include "daemon/health.hpp"
#include "daemon/key_store.hpp"
#include "daemon/methods.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_http.hpp"
#include "daemon/node_runner.hpp"
#include "daemon/operations.hpp"
#include "daemon/systemd_notify.hpp"
#include "daemon/table_snapshot.hpp"

namespace hdht::daemon {

namespace {

constexpr auto kSnapshotInterval = std::chrono::seconds(60);
constexpr auto kHealthInterval = std::chrono::seconds(60);

std::string status_line(const NodeRunner::Summary& s, bool healthy) {
  return std::to_string(s.bootstrapped) + "/" + std::to_string(s.planned) +
         " nodes bootstrapped, " + std::to_string(s.firewalled) + " firewalled, table " +
         std::to_string(s.min_table) + ".." + std::to_string(s.max_table) +
         (healthy ? ", healthy" : ", not healthy yet");
}

}  // namespace

int run_daemon(boost::asio::io_context& ctx, const DaemonOptions& options, int argc,
               const char* const* argv) {
  auto opened = KeyStore::open(options.state_dir);
  if (!opened) {
    spdlog::critical("cannot open the key store in {}: {}", options.state_dir,
                     opened.error().message());
    return 1;
  }
  KeyStore keys = std::move(*opened);
  spdlog::info("state: {} ({} keys, default {})",
               options.state_dir.empty() ? std::string("in memory only") : options.state_dir,
               keys.list().size(), to_hex(keys.default_key().public_key));

  // A snapshot only helps nodes that join a stable network; a testnet's ports are new each run.
  std::vector<Ipv4Address> known;
  if (!options.state_dir.empty() && options.mode == Mode::nodes) {
    known = load_table_snapshot(options.state_dir);
    if (!known.empty()) spdlog::info("rejoining with {} nodes from the last run", known.size());
  }

  core::AsioRuntime runtime(ctx.get_executor());
  const auto started = runtime.now();
  int exit_code = 0;
  std::function<void()> shutdown;

  NodeRunner runner(runtime, plan_nodes(options, known), options.status_interval,
                    [&](std::string msg) {
                      spdlog::critical("{}", msg);
                      exit_code = 1;
                      shutdown();
                    });
  HealthMonitor health(runtime, runner, kHealthInterval);
  // Declared after the runner: record operations and announces must go before the nodes.
  OperationRegistry ops(runtime);
  Announcer announcer(
      runtime, [&runner] { return runner.hyper(0); }, options.reannounce_interval);
  Dispatcher dispatcher;
  std::optional<ControlServer> control;
  MethodContext mctx{runtime,    options, runner, keys, health,
                     dispatcher, started, {},     ops,  announcer};
  mctx.metrics_text = [&] {
    MetricsSources src;
    src.runner = &runner;
    src.health = &health;
    src.control = control ? &*control : nullptr;
    src.keys = keys.list().size();
    src.standing_announces = announcer.size();
    src.operations = ops.size();
    src.uptime_seconds = std::chrono::duration<double>(runtime.now() - started).count();
    return render_metrics(src);
  };
  add_node_methods(dispatcher, mctx);
  add_key_methods(dispatcher, mctx);
  add_record_methods(dispatcher, mctx);
  add_peer_methods(dispatcher, mctx);

  SystemdNotifier notifier(runtime);
  const auto refresh_status = [&] {
    const auto s = runner.summary();
    const auto line = status_line(s, health.healthy());
    if (s.planned > 0 && s.bootstrapped == s.planned)
      notifier.ready(line);
    else
      notifier.status(line);
  };
  runner.set_on_change(refresh_status);
  health.set_on_probe(refresh_status);

  const auto save_snapshot = [&] {
    if (options.state_dir.empty() || options.mode != Mode::nodes) return;
    auto* n0 = runner.node(0);
    if (!n0 || n0->table().size() == 0) return;  // never overwrite a good snapshot with nothing
    if (auto r = save_table_snapshot(options.state_dir, n0->to_array(kSnapshotMaxNodes)); !r)
      spdlog::warn("cannot save the routing-table snapshot: {}", r.error().message());
  };
  core::Timer snapshot_timer(runtime);
  std::function<void()> arm_snapshot = [&] {
    snapshot_timer.expires_after(kSnapshotInterval, [&] {
      save_snapshot();
      arm_snapshot();
    });
  };

  std::optional<MetricsHttpServer> metrics_http;
  boost::asio::signal_set stop_signals(ctx, SIGINT, SIGTERM);
  boost::asio::signal_set hup(ctx, SIGHUP);
  bool stopping = false;
  shutdown = [&] {
    if (stopping) return;
    stopping = true;
    notifier.stopping();
    save_snapshot();
    // Queries and clients go before the nodes they read from.
    health.stop();
    if (control) control->stop();
    if (metrics_http) metrics_http->stop();
    announcer.stop();
    ops.clear();
    snapshot_timer.cancel();
    runner.destroy();
    boost::system::error_code ignored;
    stop_signals.cancel(ignored);
    hup.cancel(ignored);
    ctx.stop();
  };

  if (!options.socket_path.empty()) {
    ControlServerConfig cc;
    cc.path = options.socket_path;
    cc.group = options.socket_group;
    cc.max_clients = options.max_clients;
    control.emplace(ctx.get_executor(), cc, dispatcher);
    std::string what;
    if (auto r = control->start(what); !r) {
      spdlog::critical("cannot start the control socket: {}", what);
      return 1;
    }
    spdlog::info("control socket {}", options.socket_path);
  }
  if (options.metrics) {
    metrics_http.emplace(ctx.get_executor(), mctx.metrics_text);
    if (auto r = metrics_http->start(*options.metrics); !r) {
      spdlog::critical("cannot serve metrics on {}: {}", options.metrics->to_string(),
                       r.error().message());
      return 1;
    }
    spdlog::info("metrics on http://{}/metrics", options.metrics->to_string());
  }

  stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: shutting down {} nodes", sig, runner.size());
    shutdown();
  });
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      notifier.reloading();
      const auto again = parse_command_line(argc, argv);
      if (again.action != ParsedCommandLine::Action::run) {
        spdlog::error("SIGHUP: keeping the current settings: {}", again.text);
      } else {
        spdlog::set_level(again.options.log_level);
        runner.set_status_interval(again.options.status_interval);
        spdlog::info("SIGHUP: reloaded (log-level {}, status-interval {}s)",
                     spdlog::level::to_string_view(again.options.log_level),
                     again.options.status_interval.count());
      }
      notifier.reloaded();
      wait_hup();
    });
  };
  wait_hup();

  if (auto r = runner.start(); !r) {
    spdlog::critical("cannot start: {}", r.error().message());
    return 1;
  }
  health.start();
  arm_snapshot();
  ctx.run();
  shutdown();  // after a fatal error the loop may have stopped without it
  return exit_code;
}

}  // namespace hdht::daemon
