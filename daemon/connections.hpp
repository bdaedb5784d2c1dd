// The daemon's P2P connections, each with a daemon-wide id (listed by `connections`, closed by
// `disconnect`), in one of these states:
//   connecting  an outbound `connect` running (its PeerConnect is held here);
//   waiting     an inbound stream waiting for a listener's `accept` (or for a forward's local
//               connection), closed after the accept timeout;
//   piping      joined to a local socket by a Pipe; the entry goes when the pipe closes.
// Everything counts against one cap (--max-connections).
//
// Not thread-safe: the node's executor. stop() (or destruction) closes every connection and
// must come before the nodes go away.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/peer_connect.hpp"
#include "core/secret_async_stream.hpp"
#include "daemon/pipe.hpp"
#include "protocol/bytes.hpp"

namespace hdht::daemon {

using SteadyTime = std::chrono::steady_clock::time_point;

struct ConnectionInfo {
  bool inbound = false;
  Bytes32 remote_public_key{};
  Bytes32 local_public_key{};    // our key: the server's for inbound connections
  std::string local = "socket";  // what the stream is joined to: "socket" or the forward address
  SteadyTime since{};
};

struct ConnectionCounters {
  std::uint64_t outbound = 0;        // connects that succeeded
  std::uint64_t inbound = 0;         // inbound streams taken (accepted or forwarded)
  std::uint64_t connect_failed = 0;  // connects that failed
  std::uint64_t rejected_full = 0;   // refused at the cap
  std::uint64_t accept_expired = 0;  // inbound streams nobody accepted in time
  std::uint64_t closed = 0;          // pipes closed (cleanly or not)
  std::uint64_t errors = 0;          // pipes closed by an error
  std::uint64_t bytes_to_peers = 0, bytes_from_peers = 0;  // of closed pipes
};

class Connections {
 public:
  enum class State { connecting, waiting, piping };
  struct Listed {
    std::uint64_t id = 0;
    State state = State::connecting;
    ConnectionInfo info;
    std::uint64_t bytes_to_peer = 0, bytes_from_peer = 0;
  };

  Connections(boost::asio::any_io_executor executor, std::size_t max,
              std::chrono::milliseconds accept_timeout);
  ~Connections();
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  bool full() const noexcept { return entries_.size() >= max_; }
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t max() const noexcept { return max_; }
  std::size_t count(State s) const;

  // An outbound connect in flight; `cancelled` runs if it is closed (disconnect, stop) first.
  std::uint64_t add_connecting(ConnectionInfo info, std::unique_ptr<hyperdht::PeerConnect> c,
                               std::function<void()> cancelled);
  // The stats of a connect in flight (its path once connected); null if there is none.
  const hyperdht::ConnectStats* connect_stats(std::uint64_t id) const;
  // The connect finished: false if its entry is gone (then drop the result).
  bool finish_connecting(std::uint64_t id, bool ok);
  // An inbound stream held until take_waiting() or the accept timeout.
  std::uint64_t add_waiting(ConnectionInfo info, std::unique_ptr<core::SecretAsyncStream> s);
  std::unique_ptr<core::SecretAsyncStream> take_waiting(std::uint64_t id, ConnectionInfo* info);
  // Joins `stream` to `local` under `id` (a new id if 0); returns the id.
  std::uint64_t pipe(std::uint64_t id, ConnectionInfo info,
                     std::unique_ptr<core::SecretAsyncStream> stream, Pipe::Local local,
                     std::string early);
  std::uint64_t next_id() { return next_id_++; }
  void count_rejected() { ++counters_.rejected_full; }
  // True if there was such a connection.
  bool close(std::uint64_t id);
  std::vector<Listed> list() const;
  const ConnectionCounters& counters() const noexcept { return counters_; }
  void stop();

 private:
  struct Entry {
    State state = State::connecting;
    ConnectionInfo info;
    std::unique_ptr<hyperdht::PeerConnect> connect;
    std::function<void()> cancelled;
    std::unique_ptr<core::SecretAsyncStream> waiting;
    std::unique_ptr<boost::asio::steady_timer> expiry;
    std::shared_ptr<Pipe> pipe;
  };
  void on_pipe_done(std::uint64_t id, const std::string& error);

  boost::asio::any_io_executor executor_;
  std::size_t max_;
  std::chrono::milliseconds accept_timeout_;
  std::map<std::uint64_t, Entry> entries_;
  std::uint64_t next_id_ = 1;
  ConnectionCounters counters_;
  bool stopped_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

const char* connection_state_name(Connections::State s) noexcept;

}  // namespace hdht::daemon
