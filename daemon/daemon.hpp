// hyperdhtd's process: the key store, the nodes, the control socket, health, metrics, the
// routing-table snapshot and systemd notification, wired onto one io_context, plus the signals:
// SIGTERM/SIGINT stop gracefully (synchronously, so the stop is bounded), SIGHUP reloads the
// config file's reloadable settings (log-level, status-interval).
#pragma once

#include <boost/asio/io_context.hpp>

#include "daemon/options.hpp"

namespace hdht::daemon {

// Runs until a stop signal or a fatal error; returns the exit code (0 clean, 1 failure).
// argv is kept to re-read the same command line and config file on SIGHUP.
int run_daemon(boost::asio::io_context& ctx, const DaemonOptions& options, int argc,
               const char* const* argv);

}  // namespace hdht::daemon
