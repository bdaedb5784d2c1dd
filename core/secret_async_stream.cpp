#include "core/secret_async_stream.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace hdht::core {

namespace {

boost::system::error_code to_asio(std::error_code ec) {
  if (ec == std::errc::connection_reset) return asio::error::connection_reset;
  if (ec == std::errc::timed_out) return asio::error::timed_out;
  if (ec == std::errc::broken_pipe) return asio::error::broken_pipe;
  if (ec == std::errc::not_connected) return asio::error::not_connected;
  // Header, frame and nonce errors: the text is in SecretStream::error().
  return boost::system::errc::make_error_code(boost::system::errc::protocol_error);
}

}  // namespace

SecretAsyncStream::SecretAsyncStream(std::unique_ptr<SecretStream> stream, std::size_t read_limit,
                                     std::size_t max_frame)
    : stream_(std::move(stream)),
      executor_(stream_->runtime_executor()),
      read_limit_(read_limit),
      max_frame_(std::clamp<std::size_t>(max_frame, 1, sstream::kMaxMessage)) {
  auto& h = stream_->handlers();
  h.on_data = [this](ByteView d) {
    rx_.append(d);
    if (rx_.size() >= read_limit_) stream_->pause_reading();
    try_complete_read();
  };
  h.on_end = [this] {
    eof_ = true;
    try_complete_read();
  };
  h.on_drain = [this] {
    if (!write_done_) return;
    auto done = std::move(write_done_);
    write_done_ = nullptr;
    done({}, write_size_);
  };
  h.on_close = [this](const SecretStreamError& e) {
    if (closing_)
      error_ = asio::error::operation_aborted;
    else if (e)
      error_ = to_asio(e.code);
    else
      error_ = asio::error::broken_pipe;  // clean END/END: reads still finish with eof
    fail_all();
  };
  if (stream_->closed()) {
    error_ = to_asio(stream_->error().code);
    if (!stream_->error()) error_ = asio::error::broken_pipe;
  }
}

SecretAsyncStream::~SecretAsyncStream() {
  // Pending completions are dropped, not called; the stream's handlers point at us, so they go
  // before the stream does (its destructor runs none of them anyway).
  read_done_ = nullptr;
  write_done_ = nullptr;
  stream_->set_handlers({});
}

void SecretAsyncStream::close() {
  closing_ = true;
  stream_->destroy();
  // on_close ran (now or when the stream closed earlier); either way nothing stays pending.
  if (!error_) error_ = asio::error::operation_aborted;
  fail_all();
}

void SecretAsyncStream::start_read(std::vector<asio::mutable_buffer> buffers, Completion done) {
  read_buffers_ = std::move(buffers);
  read_done_ = std::move(done);
  try_complete_read();
}

void SecretAsyncStream::try_complete_read() {
  if (!read_done_) return;
  if (buffers_size(read_buffers_) == 0) {
    auto done = std::move(read_done_);
    read_done_ = nullptr;
    done({}, 0);
    return;
  }
  if (!rx_.empty()) {
    const std::size_t n = copy_from_ring(rx_, read_buffers_);
    auto done = std::move(read_done_);
    read_done_ = nullptr;
    done({}, n);
    // After the completion is queued: resuming may deliver inline and re-enter on_data.
    if (rx_.size() < read_limit_ / 2) stream_->resume_reading();
    return;
  }
  // eof wins over a clean close, and a local close() wins over eof.
  if (eof_ && error_ != asio::error::operation_aborted) {
    auto done = std::move(read_done_);
    read_done_ = nullptr;
    done(asio::error::eof, 0);
    return;
  }
  if (error_) {
    auto done = std::move(read_done_);
    read_done_ = nullptr;
    done(error_, 0);
  }
}

void SecretAsyncStream::start_write(std::vector<asio::const_buffer> buffers, Completion done) {
  if (error_) {
    done(error_, 0);
    return;
  }
  std::size_t total = 0;
  for (const auto& b : buffers) {
    const auto* p = static_cast<const std::uint8_t*>(b.data());
    std::size_t left = b.size();
    while (left > 0) {
      const std::size_t n = std::min(left, max_frame_);
      auto r = stream_->write(ByteView(p, n));
      if (!r) {
        done(error_ ? error_ : to_asio(r.error()), total);
        return;
      }
      total += n;
      p += n;
      left -= n;
      if (!*r) {
        // Above the high-water mark: the rest is the caller's to write again after this
        // completes (async_write does that), so at most one frame goes past the mark.
        write_size_ = total;
        write_done_ = std::move(done);
        return;
      }
    }
  }
  done({}, total);
}

void SecretAsyncStream::fail_all() {
  if (write_done_) {
    auto done = std::move(write_done_);
    write_done_ = nullptr;
    done(error_, 0);
  }
  try_complete_read();
}

}  // namespace hdht::core
