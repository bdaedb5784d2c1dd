// A test-only service written once against Runtime&, run on both runtimes to prove that node
// code does not care which one it gets: send a ping, wait for the pong with a Timer, retry.
#pragma once

#include <string>
#include <string_view>
#include <utility>  // Boost 1.74's awaitable.hpp uses std::exchange without including it

#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/datagram_socket.hpp"
#include "core/runtime.hpp"
#include "core/timer.hpp"

namespace hdht::core::testing {

struct PingOutcome {
  bool answered = false;
  int attempts = 0;  // transmissions made
  Duration elapsed{};
};

inline std::string_view as_text(ByteView data) {
  return {reinterpret_cast<const char*>(data.data()), data.size()};
}

// Sends "ping:<nonce>" to server up to max_attempts times, waiting `timeout` after each for
// "pong:<nonce>" from server. Borrows the socket's receive handler while it runs.
inline asio::awaitable<PingOutcome> ping_pong(Runtime& runtime, DatagramSocket& socket,
                                              Ipv4Address server, int max_attempts,
                                              Duration timeout) {
  const std::string nonce = std::to_string(runtime.random_u32());
  const std::string ping = "ping:" + nonce;
  const std::string pong = "pong:" + nonce;
  Timer timer(runtime);
  bool answered = false;
  socket.set_receive_handler([&](ByteView data, const Ipv4Address& from) {
    if (answered || from != server || as_text(data) != pong) return;
    answered = true;
    timer.cancel();  // wakes the wait below early
  });
  PingOutcome out;
  const TimePoint start = runtime.now();
  while (!answered && out.attempts < max_attempts) {
    ++out.attempts;
    socket.send(server, as_bytes(ping));
    timer.expires_after(timeout);
    // The error (canceled when the pong came) carries no extra information: `answered` does.
    (void)co_await timer.async_wait(asio::use_awaitable);
  }
  socket.set_receive_handler(nullptr);
  out.answered = answered;
  out.elapsed = runtime.now() - start;
  co_return out;
}

// Answers "ping:X" with "pong:X", ignoring the first drop_first pings it sees.
inline void serve_pongs(DatagramSocket& socket, int drop_first = 0) {
  socket.set_receive_handler(
      [&socket, seen = 0, drop_first](ByteView data, const Ipv4Address& from) mutable {
        const std::string_view text = as_text(data);
        if (text.substr(0, 5) != "ping:" || ++seen <= drop_first) return;
        const std::string reply = "pong:" + std::string(text.substr(5));
        socket.send(from, as_bytes(reply));
      });
}

}  // namespace hdht::core::testing
