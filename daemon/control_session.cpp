#include "daemon/control_session.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hdht::daemon {

namespace asio = boost::asio;

namespace {
constexpr auto kLinger = std::chrono::seconds(2);
// Refused clients that may linger at once; beyond, a refusal costs no descriptor after it returns.
constexpr std::size_t kMaxRefusalsLingering = 8;
// Stream bytes a client may send before its upgrade is answered; beyond, it is not read.
constexpr std::size_t kMaxEarly = 64 * 1024;
}  // namespace

ControlSession::ControlSession(asio::local::stream_protocol::socket socket,
                               std::shared_ptr<ControlShared> shared)
    : socket_(std::move(socket)),
      linger_(socket_.get_executor()),
      idle_(socket_.get_executor()),
      shared_(std::move(shared)) {
  ++shared_->stats.clients;
}

void ControlSession::arm_idle(std::chrono::steady_clock::duration after) {
  idle_.expires_after(after);
  idle_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!ec && self) self->on_idle_check();
  });
}

bool ControlSession::busy() const {
  return pending_ > 0 || !close_hooks_.empty() || hold_ != Hold::none || writing_ ||
         close_after_flush_;
}

void ControlSession::on_idle_check() {
  if (closed_) return;
  const auto timeout = shared_->config.idle_timeout;
  const auto quiet = std::chrono::steady_clock::now() - last_request_;
  if (quiet < timeout) return arm_idle(timeout - quiet);
  if (busy()) return arm_idle(timeout);
  spdlog::debug("control: closing a client idle for {} s",
                std::chrono::duration_cast<std::chrono::seconds>(quiet).count());
  ++shared_->stats.idle_closed;
  close();
}

ControlSession::~ControlSession() {
  if (!refused_) --shared_->stats.clients;
  if (lingering_) --shared_->refusals_lingering;
  run_close_hooks();
}

void ControlSession::on_close(std::function<void()> hook) {
  if (closed_) return hook();
  close_hooks_.push_back(std::move(hook));
}

void ControlSession::run_close_hooks() {
  auto hooks = std::move(close_hooks_);
  close_hooks_.clear();
  for (auto& h : hooks)
    h();
}

asio::awaitable<void> ControlSession::run(std::shared_ptr<ControlSession> /*self*/) {
  std::string buffer;
  const std::size_t cap = shared_->config.max_line + 1;  // the line and its newline
  if (shared_->config.idle_timeout.count() > 0) arm_idle(shared_->config.idle_timeout);
  while (!closed_ && !close_after_flush_) {
    boost::system::error_code ec;
    const std::size_t n =
        co_await asio::async_read_until(socket_, asio::dynamic_buffer(buffer, cap), '\n',
                                        asio::redirect_error(asio::use_awaitable, ec));
    if (closed_ || !shared_->dispatcher) break;
    if (ec == asio::error::not_found) {
      // The buffer filled without a newline: the rest of this line cannot be framed, so the
      // client is told and disconnected.
      ++shared_->stats.oversized;
      send_and_close(rpc::error_line(
          nullptr,
          {rpc::kBusy,
           "request line longer than " + std::to_string(shared_->config.max_line) + " bytes",
           "REQUEST_TOO_LARGE",
           {{"limit", shared_->config.max_line}}}));
      break;
    }
    if (ec == asio::error::eof) {
      // The client is done sending (maybe only half-closed, as `nc -N` does): answers still owed
      // are written, and the socket closes when the last of them releases the session.
      co_return;
    }
    if (ec) break;  // reset, or closed by the server: nothing can be answered
    last_request_ = std::chrono::steady_clock::now();
    std::string_view line(buffer.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    handle_line(line);
    buffer.erase(0, n);
    if (hold_ != Hold::none) {
      co_await read_held(std::move(buffer));
      co_return;
    }
  }
  if (!close_after_flush_) close();
}

void ControlSession::handle_line(std::string_view line) {
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // blank lines are fine
  ++shared_->stats.requests;
  auto parsed = rpc::parse_request(line);
  if (auto* bad = std::get_if<rpc::BadRequest>(&parsed)) {
    ++shared_->stats.bad_requests;
    send_line(rpc::error_line(bad->id, bad->error));
    return;
  }
  auto& request = std::get<rpc::Request>(parsed);
  Responder responder(shared_from_this(), request.id, request.notification);
  shared_->dispatcher->dispatch(request, responder);
}

void ControlSession::hold(std::function<void()> on_gone) {
  if (closed_ || hold_ != Hold::none) return;
  hold_ = Hold::held;
  hold_reading_ = true;
  on_gone_ = std::move(on_gone);
}

asio::awaitable<void> ControlSession::read_held(std::string early) {
  early_ = std::move(early);
  std::array<char, 4096> chunk{};
  while (hold_ == Hold::held && !closed_ && early_.size() < kMaxEarly) {
    boost::system::error_code ec;
    const std::size_t n = co_await socket_.async_read_some(
        asio::buffer(chunk.data(), std::min(chunk.size(), kMaxEarly - early_.size())),
        asio::redirect_error(asio::use_awaitable, ec));
    early_.append(chunk.data(), n);
    if (ec && hold_ == Hold::held && !closed_) {
      // Gone (or half-closed) before the answer: the operation it asked for is cancelled.
      if (auto gone = std::move(on_gone_)) gone();
      close();
      co_return;
    }
  }
  hold_reading_ = false;
  if (hold_ == Hold::ending) {
    close_after_flush_ = true;
    if (!writing_) linger_close();
    co_return;
  }
  maybe_hand_over();
}

void ControlSession::upgrade(std::string line, UpgradeTarget target) {
  if (closed_ || hold_ != Hold::held) return;
  hold_ = Hold::upgrading;
  on_gone_ = nullptr;
  upgrade_target_ = std::move(target);
  if (!line.empty()) send_line(std::move(line));
  boost::system::error_code ignored;
  if (hold_reading_) socket_.cancel(ignored);  // read_held() ends, then hands over
  maybe_hand_over();
}

void ControlSession::end_hold() {
  if (closed_ || hold_ != Hold::held) return;
  hold_ = Hold::ending;
  on_gone_ = nullptr;
  boost::system::error_code ignored;
  if (hold_reading_) return (void)socket_.cancel(ignored);
  close_after_flush_ = true;
  if (!writing_) linger_close();
}

void ControlSession::maybe_hand_over() {
  if (closed_ || hold_ != Hold::upgrading || hold_reading_ || writing_ || !out_.empty()) return;
  closed_ = true;
  idle_.cancel();
  auto target = std::move(upgrade_target_);
  target(std::move(socket_), std::move(early_));
  run_close_hooks();
}

void ControlSession::send_line(std::string line) {
  if (closed_ || close_after_flush_) return;
  if (out_bytes_ + line.size() > shared_->config.max_output) {
    // The client does not read its answers; it may not hold the daemon's memory hostage.
    ++shared_->stats.overflowed;
    close();
    return;
  }
  out_bytes_ += line.size();
  out_.push_back(std::move(line));
  if (!writing_) write_next();
}

void ControlSession::send_and_close(std::string line) {
  send_line(std::move(line));
  close_after_flush_ = true;
  if (!writing_) linger_close();
}

void ControlSession::refuse(std::string line) {
  refused_ = true;
  --shared_->stats.clients;
  if (shared_->refusals_lingering < kMaxRefusalsLingering) {
    lingering_ = true;
    ++shared_->refusals_lingering;
    return send_and_close(std::move(line));
  }
  // The line is far smaller than a fresh socket's buffer, and a Unix socket keeps written bytes
  // readable by the client after the close (unlike TCP, unread input does not discard them).
  boost::system::error_code ignored;
  socket_.non_blocking(true, ignored);
  socket_.write_some(asio::buffer(line), ignored);
  close();
}

void ControlSession::linger_close() {
  if (closed_) return;
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_send, ignored);
  linger_.expires_after(kLinger);
  linger_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->close();
  });
  drain();
}

void ControlSession::drain() {
  socket_.async_read_some(
      asio::buffer(drain_buf_),
      [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
        if (self->closed_) return;
        if (ec) return self->close();
        self->drain();
      });
}

void ControlSession::write_next() {
  if (out_.empty()) {
    writing_ = false;
    if (close_after_flush_) linger_close();
    maybe_hand_over();
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = shared_from_this()](const boost::system::error_code& ec, std::size_t) {
                      if (self->closed_) return;
                      if (ec) return self->close();
                      self->out_bytes_ -= self->out_.front().size();
                      self->out_.pop_front();
                      self->write_next();
                    });
}

void ControlSession::close() {
  if (closed_) return;
  closed_ = true;
  linger_.cancel();
  idle_.cancel();
  out_.clear();
  out_bytes_ = 0;
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
  on_gone_ = nullptr;
  upgrade_target_ = nullptr;  // it may hold a P2P stream: not past the nodes
  run_close_hooks();
}

}  // namespace hdht::daemon
