// One control-socket client (internal to ControlServer): reads lines up to the cap, dispatches
// each, and writes answers in the order they are given. Held alive by its read loop, its
// pending writes and its unanswered requests (so a client that half-closes after sending still
// gets every answer); the socket closes with the last of them. What it shares with the server is in
// ControlShared, so a session that outlives the server (its handlers queued on the executor) never
// touches freed memory.
//
// Upgrades (`connect`, `accept`): the handler holds the session (no more lines are parsed; what
// the client sends is kept as the stream's first bytes, up to kMaxEarly), then either upgrades
// it (the answer is written, then the socket is handed over and the session ends) or answers
// with an error, after which the session closes.
//
// Idle clients (config.idle_timeout): a session with no complete request line for that long is
// closed unless it is busy: an answer is owed (a lookup streaming, a connect running), a server
// listens through it (a close hook is registered), it is held or writing.
#pragma once

#include <array>
#include <deque>
#include <memory>
#include <string>
#include <utility>  // before Asio: Boost 1.74's awaitable.hpp uses std::exchange unincluded
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/control_server.hpp"
#include "daemon/dispatcher.hpp"

namespace hdht::daemon {

struct ControlShared {
  ControlServerConfig config;
  const Dispatcher* dispatcher = nullptr;  // null once the server stops
  ControlServerStats stats;
  std::size_t refusals_lingering = 0;  // refused clients still being told why (refuse())
};

class ControlSession final : public LineSink, public std::enable_shared_from_this<ControlSession> {
 public:
  ControlSession(boost::asio::local::stream_protocol::socket socket,
                 std::shared_ptr<ControlShared> shared);
  ~ControlSession() override;

  // The read loop. `self` is this session: the coroutine frame holds it from creation, since the
  // body only starts once the executor runs it.
  boost::asio::awaitable<void> run(std::shared_ptr<ControlSession> self);
  void send_line(std::string line) override;
  bool open() const override { return !closed_ && !close_after_flush_; }
  void hold(std::function<void()> on_gone) override;
  void upgrade(std::string line, UpgradeTarget target) override;
  void end_hold() override;
  void on_close(std::function<void()> hook) override;
  void request_started() override { ++pending_; }
  void request_finished() override {
    if (pending_ > 0) --pending_;
  }
  // Sends `line`, then closes once everything queued is written.
  void send_and_close(std::string line);
  // A client refused at the door (TOO_MANY_CLIENTS): not counted as a client; told why like
  // send_and_close(), or, while kMaxRefusalsLingering others linger (a connection flood), with
  // one non-blocking write and an immediate close, so a flood cannot pin a descriptor per
  // connection for the linger time.
  void refuse(std::string line);
  void close();

 private:
  void handle_line(std::string_view line);
  // The read loop of a held session: keeps early bytes, notices the client leaving.
  boost::asio::awaitable<void> read_held(std::string early);
  void maybe_hand_over();
  void run_close_hooks();
  void write_next();
  // After a final error: half-close, read and drop what the client still sends, close on its EOF
  // or after kLinger. Closing with unread input would make the kernel reset the connection, and
  // the client could lose the error line that says why.
  void linger_close();
  void drain();
  // The idle timeout: checked when it expires, re-armed while the client is busy.
  void arm_idle(std::chrono::steady_clock::duration after);
  void on_idle_check();
  bool busy() const;

  boost::asio::local::stream_protocol::socket socket_;
  boost::asio::steady_timer linger_;
  boost::asio::steady_timer idle_;
  std::chrono::steady_clock::time_point last_request_ = std::chrono::steady_clock::now();
  std::size_t pending_ = 0;  // Responders still holding this session (answers owed)
  std::array<char, 4096> drain_buf_{};
  std::shared_ptr<ControlShared> shared_;
  std::deque<std::string> out_;
  std::size_t out_bytes_ = 0;
  bool writing_ = false;
  bool close_after_flush_ = false;
  bool closed_ = false;
  bool refused_ = false;    // refuse(): not in stats.clients
  bool lingering_ = false;  // refuse(): counted in refusals_lingering
  enum class Hold { none, held, upgrading, ending };
  Hold hold_ = Hold::none;
  bool hold_reading_ = false;  // read_held() is still reading
  std::function<void()> on_gone_;
  UpgradeTarget upgrade_target_;
  std::string early_;
  std::vector<std::function<void()>> close_hooks_;
};

}  // namespace hdht::daemon
