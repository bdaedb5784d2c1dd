#include "core/secret_stream.hpp"

#include <utility>

#include "protocol/errors.hpp"

namespace hdht::core {

namespace {

// Kept after a large write only up to this size, so one big message does not pin its buffer.
constexpr std::size_t kKeepFrameBuffer = std::size_t{1} << 20;

std::string raw_error_name(std::error_code ec) {
  if (ec == std::errc::connection_reset) return "ECONNRESET";
  if (ec == std::errc::timed_out) return "ETIMEDOUT";
  return ec.message();
}

}  // namespace

template <class Fn>
bool SecretStream::call(Fn&& fn) {
  const std::weak_ptr<int> alive = alive_;
  fn();
  return !alive.expired() && !closed_;
}

Result<std::unique_ptr<SecretStream>> SecretStream::create(Runtime& runtime,
                                                           std::unique_ptr<UdxStream> raw,
                                                           const SecretStreamHandshake& handshake,
                                                           SecretStreamOptions options,
                                                           Handlers handlers) {
  if (!raw || raw->state() != UdxStreamState::connected || raw->write_ended())
    return std::make_error_code(std::errc::not_connected);
  std::unique_ptr<SecretStream> s(
      new SecretStream(runtime, std::move(raw), handshake, options, std::move(handlers)));
  s->install_raw_handlers();
  // The reference writes its header as soon as it has the handshake result, before anything
  // from the peer: nothing here waits for the peer's header either.
  const auto header = sstream::header_message(
      sstream::stream_id(handshake.hash, handshake.is_initiator), s->encryptor_.header());
  auto w = s->raw_->write(header);
  if (!w) return w.error();
  ++s->counters_.frames_sent;
  s->counters_.raw_bytes_written += header.size();
  s->last_write_ = s->last_read_ = runtime.now();
  s->arm_keep_alive();
  s->arm_timeout();
  return s;
}

SecretStream::SecretStream(Runtime& runtime, std::unique_ptr<UdxStream> raw,
                           const SecretStreamHandshake& handshake, SecretStreamOptions options,
                           Handlers handlers)
    : raw_(std::move(raw)),
      runtime_(runtime),
      handshake_(handshake),
      options_(options),
      handlers_(std::move(handlers)),
      encryptor_(handshake.tx),
      // Empty messages are filtered here rather than in the Receiver, so that set_keep_alive()
      // can switch filtering on later as the reference does.
      receiver_(handshake.rx, sstream::stream_id(handshake.hash, !handshake.is_initiator),
                /*filter_empty=*/false),
      sender_(sstream::send_key(handshake.hash, handshake.is_initiator)),
      recv_key_(sstream::send_key(handshake.hash, !handshake.is_initiator)),
      filter_empty_(options.filter_empty_messages || options.keep_alive > Duration::zero()),
      keep_alive_timer_(runtime),
      timeout_timer_(runtime) {}

SecretStream::~SecretStream() {
  sodium_memzero(recv_key_.data(), recv_key_.size());
  sodium_memzero(handshake_.tx.data(), handshake_.tx.size());
  sodium_memzero(handshake_.rx.data(), handshake_.rx.size());
  // raw_ goes last (declared first): a connected, open UdxStream sends its DESTROY then, and
  // never calls back into this object since the UdxStream's own destructor runs no handler.
}

void SecretStream::install_raw_handlers() {
  auto& h = raw_->handlers();
  h.on_data = [this](ByteView d) { on_raw_data(d); };
  h.on_end = [this] { on_raw_end(); };
  h.on_drain = [this] {
    if (!closed_ && handlers_.on_drain) call([&] { handlers_.on_drain(); });
  };
  h.on_close = [this](std::error_code ec) { on_raw_close(ec); };
  if (options_.enable_send)
    h.on_message = [this](ByteView d) { on_raw_message(d); };
  else
    h.on_message = nullptr;
  h.on_firewall = nullptr;
}

// ---- sending ----

Result<bool> SecretStream::write(ByteView message) {
  if (closed_ || write_ended_) return std::make_error_code(std::errc::broken_pipe);
  return write_frame(message);
}

Result<bool> SecretStream::write_frame(ByteView message) {
  if (message.size() > sstream::kMaxMessage) return WireErrc::message_too_large;
  frame_.resize(sstream::frame_size(message.size()));
  auto n = encryptor_.encrypt_frame(message, frame_);
  if (!n) return n.error();
  auto r = raw_->write(ByteView(frame_.data(), *n));
  if (frame_.capacity() > kKeepFrameBuffer) Bytes().swap(frame_);
  if (!r) return r.error();
  ++counters_.frames_sent;
  counters_.raw_bytes_written += *n;
  last_write_ = runtime_.now();
  return *r;
}

Result<void> SecretStream::end() {
  if (closed_ || write_ended_) return std::make_error_code(std::errc::broken_pipe);
  write_ended_ = true;
  // The reference's _final clears the keepalive: nothing may follow the END.
  keep_alive_timer_.cancel();
  options_.keep_alive = Duration::zero();
  return raw_->end();
}

Result<void> SecretStream::send(ByteView message) {
  if (closed_) return std::make_error_code(std::errc::not_connected);
  auto envelope = sender_.seal(message);
  if (!envelope) {
    finish({envelope.error(), "udp send nonce exchausted"});  // sic, the reference's text
    return envelope.error();
  }
  auto r = raw_->send_message(*envelope);
  if (r) ++counters_.messages_sent;
  return r;
}

// ---- timers ----

void SecretStream::set_keep_alive(Duration interval) {
  keep_alive_timer_.cancel();
  options_.keep_alive = interval;
  if (interval > Duration::zero()) filter_empty_ = true;  // and stays on, as the reference
  last_write_ = runtime_.now();
  arm_keep_alive();
}

void SecretStream::set_timeout(Duration timeout) {
  timeout_timer_.cancel();
  options_.timeout = timeout;
  last_read_ = runtime_.now();
  arm_timeout();
}

// Both timers are armed for the deadline as last known and re-armed at expiry if activity moved
// it (timeout-refresh's refresh() without touching the timer on every frame).
void SecretStream::arm_keep_alive() {
  if (closed_ || write_ended_ || options_.keep_alive <= Duration::zero()) return;
  keep_alive_timer_.expires_at(last_write_ + options_.keep_alive,
                               [this] { on_keep_alive_timer(); });
}

void SecretStream::on_keep_alive_timer() {
  if (closed_ || write_ended_) return;
  if (runtime_.now() >= last_write_ + options_.keep_alive) {
    auto r = write_frame({});
    if (r) ++counters_.keepalives_sent;
  }
  arm_keep_alive();
}

void SecretStream::arm_timeout() {
  if (closed_ || options_.timeout <= Duration::zero()) return;
  timeout_timer_.expires_at(last_read_ + options_.timeout, [this] { on_timeout_timer(); });
}

void SecretStream::on_timeout_timer() {
  if (closed_) return;
  if (runtime_.now() >= last_read_ + options_.timeout) {
    finish({std::make_error_code(std::errc::timed_out), "Stream timed out"});
    return;
  }
  arm_timeout();
}

// ---- receiving ----

void SecretStream::on_raw_data(ByteView chunk) {
  if (closed_) return;
  counters_.raw_bytes_read += chunk.size();
  last_read_ = runtime_.now();
  if (paused_ || pending_at_ < pending_.size()) {
    // Only if the UdxStream delivers while paused: keep order behind what is pending.
    pending_.insert(pending_.end(), chunk.begin(), chunk.end());
    return;
  }
  if (decode(chunk) == Decoded::paused) {
    pending_.assign(chunk.begin(), chunk.end());
    pending_at_ = 0;
  }
}

SecretStream::Decoded SecretStream::decode(ByteView& chunk) {
  for (;;) {
    auto next = receiver_.next(chunk);
    if (!next) {
      // The reference destroys with sodium-native's "pull failed" when a frame does not verify;
      // the Receiver's other texts are the reference's own.
      const bool pull = next.error() == WireErrc::decrypt_failed;
      finish({next.error(),
              pull ? std::string("pull failed") : std::string(receiver_.error_message())});
      return Decoded::gone;
    }
    if (!*next) return Decoded::all;
    const ByteView message = **next;
    ++counters_.frames_received;
    if (message.empty()) {
      ++counters_.keepalives_received;
      if (filter_empty_) continue;
    }
    if (handlers_.on_data && !call([&] { handlers_.on_data(message); })) return Decoded::gone;
    if (paused_) return chunk.empty() ? Decoded::all : Decoded::paused;
  }
}

void SecretStream::pause_reading() {
  if (closed_) return;
  paused_ = true;
  raw_->pause_reading();
}

void SecretStream::resume_reading() {
  if (closed_ || !paused_) return;
  paused_ = false;
  if (pending_at_ < pending_.size()) {
    ByteView rest(pending_.data() + pending_at_, pending_.size() - pending_at_);
    const std::size_t before = rest.size();
    const Decoded d = decode(rest);
    if (d == Decoded::gone) return;
    pending_at_ += before - rest.size();
    if (d == Decoded::paused) return;
    pending_.clear();
    pending_.shrink_to_fit();
    pending_at_ = 0;
  }
  if (!maybe_deliver_end()) return;
  raw_->resume_reading();
}

void SecretStream::on_raw_end() {
  if (closed_) return;
  raw_ended_ = true;
  maybe_deliver_end();
}

bool SecretStream::maybe_deliver_end() {
  if (!raw_ended_ || read_ended_ || paused_ || pending_at_ < pending_.size()) return true;
  read_ended_ = true;
  // A partial frame before the END is dropped, as the reference pushes null regardless.
  if (handlers_.on_end) return call([&] { handlers_.on_end(); });
  return !closed_;
}

void SecretStream::on_raw_message(ByteView envelope) {
  if (closed_) return;
  auto plain = sstream::open_unordered(envelope, recv_key_);
  if (!plain) {
    ++counters_.messages_dropped;  // the reference ignores bad messages silently
    return;
  }
  ++counters_.messages_received;
  if (handlers_.on_message) call([&] { handlers_.on_message(*plain); });
}

// ---- closing ----

void SecretStream::on_raw_close(std::error_code ec) {
  // Clean UDX closes come only after END both ways (a local destroy goes through finish(),
  // which is closed by then), so an empty ec is the reference's clean close.
  if (ec)
    finish({ec, raw_error_name(ec)});
  else
    finish({});
}

void SecretStream::destroy(SecretStreamError error) {
  finish(std::move(error));
}

void SecretStream::finish(SecretStreamError error) {
  if (closed_) return;
  closed_ = true;
  error_ = std::move(error);
  keep_alive_timer_.cancel();
  timeout_timer_.cancel();
  pending_.clear();
  pending_at_ = 0;
  // A no-op on a UdxStream that already closed, a DESTROY on one that is open (the reference
  // destroys its raw stream in _predestroy). Its on_close comes back here and finds closed_.
  raw_->destroy();
  if (handlers_.on_close) {
    auto cb = std::move(handlers_.on_close);
    handlers_.on_close = nullptr;
    cb(error_);  // last: it may destroy us
  }
}

}  // namespace hdht::core
