#include "daemon/control_session.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hdht::daemon {

namespace asio = boost::asio;

namespace {
constexpr auto kLinger = std::chrono::seconds(2);
}  // namespace

ControlSession::ControlSession(asio::local::stream_protocol::socket socket,
                               std::shared_ptr<ControlShared> shared)
    : socket_(std::move(socket)), linger_(socket_.get_executor()), shared_(std::move(shared)) {
  ++shared_->stats.clients;
}

ControlSession::~ControlSession() {
  --shared_->stats.clients;
}

asio::awaitable<void> ControlSession::run(std::shared_ptr<ControlSession> /*self*/) {
  std::string buffer;
  const std::size_t cap = shared_->config.max_line + 1;  // the line and its newline
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
    std::string_view line(buffer.data(), n - 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    handle_line(line);
    buffer.erase(0, n);
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
  out_.clear();
  out_bytes_ = 0;
  boost::system::error_code ignored;
  socket_.shutdown(asio::socket_base::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace hdht::daemon
