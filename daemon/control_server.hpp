// The control socket: a Unix stream socket (mode 0660, optional group) speaking line-delimited
// JSON-RPC 2.0 to many clients at once, on the executor the nodes run on (so handlers read node
// state without locks). Hostile clients cost themselves only: a line over max_line gets
// REQUEST_TOO_LARGE and is disconnected, a client that does not read its answers is dropped once
// max_output bytes are queued, clients beyond max_clients are told TOO_MANY_CLIENTS.
//
// Lifetime: destroying the server (or stop()) closes the listener and every session and unlinks
// the socket file (if it is still ours); no handler touches the server or the dispatcher
// afterwards.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>

#include "daemon/dispatcher.hpp"
#include "protocol/result.hpp"

namespace hdht::daemon {

struct ControlServerConfig {
  std::string path;
  std::string group;  // empty: leave the group alone
  unsigned max_clients = 64;
  std::size_t max_line = 1 << 20;     // bytes per request line, newline excluded
  std::size_t max_output = 16 << 20;  // bytes queued to one client before it is dropped
  // A client with no complete request for this long, no answer owed and no listener is
  // closed; 0 = never.
  std::chrono::seconds idle_timeout{0};
};

struct ControlServerStats {
  std::uint64_t accepted = 0, rejected_busy = 0, requests = 0, bad_requests = 0, oversized = 0,
                overflowed = 0, idle_closed = 0;
  std::size_t clients = 0;
};

class ControlServer {
 public:
  ControlServer(boost::asio::any_io_executor executor, ControlServerConfig config,
                const Dispatcher& dispatcher);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Removes a stale socket file (nobody answers on it), refuses to start if another daemon
  // answers, binds, sets mode and group, starts accepting. Errors are start-up failures; the
  // message says which step failed.
  Result<void> start(std::string& what);
  void stop();

  const ControlServerStats& stats() const;

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace hdht::daemon
