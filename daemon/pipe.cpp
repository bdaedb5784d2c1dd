#include "daemon/pipe.hpp"

#include <array>
#include <chrono>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace hdht::daemon {

namespace asio = boost::asio;

namespace {
constexpr std::size_t kChunk = 64 * 1024;
// How long a cleanly ended pipe waits for the P2P stream to close (the peer acknowledging our
// last bytes and END) before it destroys the stream anyway.
constexpr auto kLinger = std::chrono::seconds(10);
constexpr auto kLingerPoll = std::chrono::milliseconds(50);
}  // namespace

Pipe::Pipe(std::unique_ptr<core::SecretAsyncStream> peer, Local local, Done done)
    : peer_(std::move(peer)),
      local_(std::move(local)),
      timer_(local_.get_executor()),
      done_(std::move(done)) {}

std::shared_ptr<Pipe> Pipe::start(std::unique_ptr<core::SecretAsyncStream> peer, Local local,
                                  std::string early, Done done) {
  auto p = std::make_shared<Pipe>(std::move(peer), std::move(local), std::move(done));
  const auto ex = p->local_.get_executor();
  asio::co_spawn(ex, p->copy_to_peer(p, std::move(early)), asio::detached);
  asio::co_spawn(ex, p->copy_from_peer(p), asio::detached);
  return p;
}

std::string Pipe::peer_error(const boost::system::error_code& ec) const {
  const auto& e = peer_->stream().error();
  return "peer: " + (e ? e.message : ec.message());
}

asio::awaitable<void> Pipe::copy_to_peer(std::shared_ptr<Pipe> /*self*/, std::string early) {
  boost::system::error_code ec;
  if (!early.empty()) {
    co_await asio::async_write(*peer_, asio::buffer(early),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (state_ == State::closed) co_return;
    if (ec) co_return close(peer_error(ec));
    to_peer_ += early.size();
  }
  std::array<char, kChunk> buf;
  for (;;) {
    const std::size_t n = co_await local_.async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (state_ == State::closed) co_return;
    if (ec == asio::error::eof) break;
    if (ec) co_return close("local: " + ec.message());
    co_await asio::async_write(*peer_, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (state_ == State::closed) co_return;
    if (ec) co_return close(peer_error(ec));
    to_peer_ += n;
  }
  if (auto r = peer_->shutdown_send(); !r) co_return close("peer: " + r.error().message());
  direction_ended();
}

asio::awaitable<void> Pipe::copy_from_peer(std::shared_ptr<Pipe> /*self*/) {
  boost::system::error_code ec;
  std::array<char, kChunk> buf;
  for (;;) {
    const std::size_t n = co_await peer_->async_read_some(
        asio::buffer(buf), asio::redirect_error(asio::use_awaitable, ec));
    if (state_ == State::closed) co_return;
    if (ec == asio::error::eof) break;
    if (ec) co_return close(peer_error(ec));
    co_await asio::async_write(local_, asio::buffer(buf.data(), n),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (state_ == State::closed) co_return;
    if (ec) co_return close("local: " + ec.message());
    from_peer_ += n;
  }
  local_.shutdown(asio::socket_base::shutdown_send, ec);
  direction_ended();
}

void Pipe::direction_ended() {
  if (++ended_ < 2 || state_ != State::piping) return;
  state_ = State::lingering;
  linger_until_ = std::chrono::steady_clock::now() + kLinger;
  linger();
}

void Pipe::linger() {
  if (state_ != State::lingering) return;
  if (peer_->stream().closed() || std::chrono::steady_clock::now() >= linger_until_)
    return close({});
  timer_.expires_after(kLingerPoll);
  timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    if (!ec) self->linger();
  });
}

void Pipe::close(const std::string& why) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  const auto keep = shared_from_this();  // dropping pending operations may release the last holder
  timer_.cancel();
  boost::system::error_code ignored;
  local_.shutdown(asio::socket_base::shutdown_both, ignored);
  local_.close(ignored);
  // Destroying the adapter drops a read or write pending on it (the coroutine is unwound).
  auto peer = std::move(peer_);
  peer.reset();
  if (auto done = std::move(done_)) done(why);
}

}  // namespace hdht::daemon
