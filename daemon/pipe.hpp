// Pipe: one encrypted P2P stream joined to one local byte stream (an upgraded control-socket
// connection, or the TCP/Unix connection of a forward), bytes copied both ways with
// back-pressure (one chunk in flight per direction). Half-close passes through: the local
// side's EOF ends the P2P stream (SecretStream END), the peer's END shuts the local socket's
// write side. Once both ways ended the pipe lingers until the P2P stream has closed (so the
// last bytes and the END are acknowledged; bounded by kLinger), then closes both. An error on
// either side closes both at once (UDX DESTROY, socket close).
//
// Lifetime: start() runs two coroutines on the local socket's executor (the node's), each
// holding the Pipe; close() (or the end) destroys the P2P stream at once, so a pipe that
// outlives close() holds nothing of the node. `done` runs exactly once, inside close().
// Not thread-safe: the node's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/secret_async_stream.hpp"

namespace hdht::daemon {

class Pipe : public std::enable_shared_from_this<Pipe> {
 public:
  using Local = boost::asio::generic::stream_protocol::socket;
  // Empty: both ways ended cleanly; otherwise what failed ("peer: ECONNRESET", ...).
  using Done = std::function<void(const std::string& error)>;
  enum class State { piping, lingering, closed };

  // `early`: bytes the local side sent before the pipe existed (they go to the peer first).
  static std::shared_ptr<Pipe> start(std::unique_ptr<core::SecretAsyncStream> peer, Local local,
                                     std::string early, Done done);
  // Abortive: closes both sides now (`why` goes to done; empty counts as clean).
  void close(const std::string& why);

  State state() const noexcept { return state_; }
  std::uint64_t bytes_to_peer() const noexcept { return to_peer_; }
  std::uint64_t bytes_from_peer() const noexcept { return from_peer_; }

  Pipe(std::unique_ptr<core::SecretAsyncStream> peer, Local local, Done done);

 private:
  boost::asio::awaitable<void> copy_to_peer(std::shared_ptr<Pipe> self, std::string early);
  boost::asio::awaitable<void> copy_from_peer(std::shared_ptr<Pipe> self);
  void direction_ended();
  void linger();
  std::string peer_error(const boost::system::error_code& ec) const;

  std::unique_ptr<core::SecretAsyncStream> peer_;
  Local local_;
  boost::asio::steady_timer timer_;
  Done done_;
  State state_ = State::piping;
  int ended_ = 0;  // directions that reached their EOF
  std::chrono::steady_clock::time_point linger_until_{};
  std::uint64_t to_peer_ = 0, from_peer_ = 0;
};

}  // namespace hdht::daemon
