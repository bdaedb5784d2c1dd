#include "daemon/daemon.hpp"

#include <csignal>
#include <optional>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "core/timer.hpp"
#include "daemon/announcer.hpp"
#include "daemon/blind_relay_role.hpp"
#include "daemon/connections.hpp"
#include "daemon/control_server.hpp"
#include "daemon/dispatcher.hpp"
#include "daemon/health.hpp"
#include "daemon/intents.hpp"
#include "daemon/key_store.hpp"
#include "daemon/methods.hpp"
#include "daemon/metrics.hpp"
#include "daemon/metrics_http.hpp"
#include "daemon/node_runner.hpp"
#include "daemon/operations.hpp"
#include "daemon/record_keeper.hpp"
#include "daemon/servers.hpp"
#include "daemon/systemd_notify.hpp"
#include "daemon/table_snapshot.hpp"

namespace hdht::daemon {

namespace {

constexpr auto kSnapshotInterval = std::chrono::seconds(60);
constexpr auto kHealthInterval = std::chrono::seconds(60);
// How long a graceful stop waits for the standing announces' unannounces: long enough for a
// lookup and its UNANNOUNCE round on a healthy network, short enough for systemd's stop timeout.
constexpr auto kWithdrawDeadline = std::chrono::seconds(3);
// How long an inbound stream of a listening server waits for a listener's `accept`.
constexpr auto kAcceptTimeout = std::chrono::seconds(30);

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

  IntentsFile intents_file(options.state_dir);
  const Intents intents = intents_file.load();

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
  // Standing announces and kept records run on node 0 once it has bootstrapped.
  const auto ready_node = [&runner]() -> hyperdht::HyperDhtNode* {
    auto* n = runner.hyper(0);
    return n && n->dht().bootstrapped() ? n : nullptr;
  };
  Announcer announcer(runtime, ready_node, options.reannounce_interval);
  RecordKeeper keeper(runtime, ready_node, options.reannounce_interval);
  // Connections and servers go before the announcer (servers use the same node, and their
  // streams must close before it does).
  Connections connections(ctx.get_executor(), options.max_connections, kAcceptTimeout);
  Servers servers(ctx.get_executor(), ready_node, connections, options.max_servers,
                  options.relay_through, options.max_handshakes);
  std::optional<crypto::KeyPair> relay_key;
  if (options.blind_relay) {
    relay_key = keys.get(options.blind_relay_key);
    if (!relay_key) {
      spdlog::critical("--blind-relay-key: no key named '{}' (hdhtctl keys)",
                       options.blind_relay_key);
      return 1;
    }
  }
  BlindRelayRole relay(relay_key, options.blind_relay_key, ready_node, options.max_handshakes);
  const auto [restored_announces, restored_records] =
      restore_intents(intents, keys, announcer, keeper);
  const std::size_t restored_servers = restore_server_intents(intents, keys, servers);
  // Set when a save failed: the shutdown tries once more.
  bool intents_dirty = false;
  const auto save_intents = [&] {
    if (!intents_file.enabled()) return;
    auto r = intents_file.save(collect_intents(announcer, keeper, servers));
    intents_dirty = !r;
    if (!r) spdlog::warn("intents: cannot save {}: {}", intents_file.path(), r.error().message());
  };
  Dispatcher dispatcher;
  std::optional<ControlServer> control;
  MethodContext mctx{runtime, options,   runner, keys,         health,  dispatcher,  started, {},
                     ops,     announcer, keeper, save_intents, servers, connections, relay};
  mctx.metrics_text = [&] {
    MetricsSources src;
    src.runner = &runner;
    src.health = &health;
    src.control = control ? &*control : nullptr;
    src.keys = keys.list().size();
    src.standing_announces = announcer.size();
    src.kept_records = keeper.size();
    src.operations = ops.size();
    src.servers = &servers;
    src.connections = &connections;
    src.relay = &relay;
    src.uptime_seconds = std::chrono::duration<double>(runtime.now() - started).count();
    return render_metrics(src);
  };
  add_node_methods(dispatcher, mctx);
  add_key_methods(dispatcher, mctx);
  add_record_methods(dispatcher, mctx);
  add_peer_methods(dispatcher, mctx);
  add_connection_methods(dispatcher, mctx);

  SystemdNotifier notifier(runtime);
  const auto refresh_status = [&] {
    const auto s = runner.summary();
    const auto line = status_line(s, health.healthy());
    if (s.planned > 0 && s.bootstrapped == s.planned)
      notifier.ready(line);
    else
      notifier.status(line);
  };
  // The intents of the last run go out at once when the network is reachable: node 0
  // bootstrapped, and for a testnet every node (node 0 is its bootstrapper, alone at first, and
  // records put then would sit on nodes that lookups later do not ask).
  bool restored = false;
  const auto restore_when_ready = [&] {
    if (restored || !ready_node()) return;
    // Bootstrapped without reaching anyone (bootstrap nodes down): put nothing out yet, or it
    // would fail and wait a whole --reannounce-interval; the runner calls again once it joins.
    if (options.mode == Mode::nodes && ready_node()->dht().table().size() == 0) return;
    const auto s = runner.summary();
    if (options.mode == Mode::testnet && s.bootstrapped < s.planned) return;
    restored = true;
    relay.start();
    servers.start_restored();
    if (restored_announces + restored_records + restored_servers == 0) return;
    // Counted now: a `forget` may have come in while the node was bootstrapping.
    spdlog::info("intents: restored {} announces and {} records, {} servers", announcer.size(),
                 keeper.size(), servers.size());
    announcer.run_now();
    keeper.run_now();
  };
  runner.set_on_change([&] {
    refresh_status();
    restore_when_ready();
  });
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
  bool withdrawing = false;  // graceful_stop is unannouncing
  // The immediate part of every stop: synchronous, so it is bounded.
  shutdown = [&] {
    if (stopping) return;
    stopping = true;
    if (!withdrawing) notifier.stopping();
    save_snapshot();
    if (intents_dirty) save_intents();
    // Queries and clients go before the nodes they read from.
    health.stop();
    if (control) control->stop();
    if (metrics_http) metrics_http->stop();
    servers.stop();
    connections.stop();
    relay.stop();
    announcer.stop();
    keeper.stop();
    ops.clear();
    snapshot_timer.cancel();
    runner.destroy();
    boost::system::error_code ignored;
    stop_signals.cancel(ignored);
    hup.cancel(ignored);
    ctx.stop();
  };
  // A stop signal: first take the standing announces off the network (they stay in the intents
  // file, so the next start puts them back), bounded by kWithdrawDeadline; then shutdown().
  const auto graceful_stop = [&] {
    if (stopping || withdrawing) return;
    withdrawing = true;
    notifier.stopping();
    // Nothing new may start meanwhile: no clients, no probes, no re-puts.
    health.stop();
    if (control) control->stop();
    if (metrics_http) metrics_http->stop();
    ops.clear();
    keeper.stop();
    servers.close_all();  // unannounced while the announces are withdrawn
    relay.close();
    connections.stop();
    const auto t0 = runtime.now();
    announcer.withdraw_all(
        kWithdrawDeadline, [&, t0](std::size_t total, std::vector<std::string> unfinished) {
          const auto ms =
              std::chrono::duration_cast<std::chrono::milliseconds>(runtime.now() - t0).count();
          if (total > 0 && unfinished.empty())
            spdlog::info("unannounced {} standing announces in {} ms", total, ms);
          else if (total > 0) {
            std::string topics;
            for (const auto& t : unfinished)
              topics += (topics.empty() ? "" : ", ") + t;
            spdlog::warn("unannounced {} of {} standing announces in {} ms; not done: {}",
                         total - unfinished.size(), total, ms, topics);
          }
          shutdown();
        });
  };

  if (!options.socket_path.empty()) {
    ControlServerConfig cc;
    cc.path = options.socket_path;
    cc.group = options.socket_group;
    cc.max_clients = options.max_clients;
    cc.idle_timeout = options.control_idle_timeout;
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

  // The first stop signal stops gracefully; a second one while that runs stops at once.
  std::function<void()> wait_stop = [&] {
    stop_signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      if (withdrawing) {
        spdlog::warn("signal {}: stopping now", sig);
        return shutdown();
      }
      spdlog::info("signal {}: shutting down {} nodes", sig, runner.size());
      wait_stop();
      graceful_stop();
    });
  };
  wait_stop();
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
