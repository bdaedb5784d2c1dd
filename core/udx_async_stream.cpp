#include "core/udx_async_stream.hpp"

#include <boost/asio/error.hpp>

namespace hdht::core {

namespace {

boost::system::error_code to_asio(std::error_code ec) {
  if (ec == std::errc::connection_reset) return asio::error::connection_reset;
  if (ec == std::errc::timed_out) return asio::error::timed_out;
  if (ec == std::errc::not_connected) return asio::error::not_connected;
  if (ec == std::errc::broken_pipe) return asio::error::broken_pipe;
  return asio::error::connection_aborted;
}

}  // namespace

UdxAsyncStream::UdxAsyncStream(UdxStream& stream, std::size_t read_limit)
    : stream_(stream), executor_(stream.runtime_executor()), read_limit_(read_limit) {
  auto& h = stream_.handlers();
  h.on_data = [this](ByteView d) {
    rx_.append(d);
    if (rx_.size() >= read_limit_) stream_.pause_reading();
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
  h.on_close = [this](std::error_code ec) {
    // A clean close after END/END leaves reads to finish with eof; anything else fails both.
    if (ec)
      error_ = to_asio(ec);
    else if (!eof_)
      error_ = asio::error::connection_aborted;
    fail_all();
  };
}

UdxAsyncStream::~UdxAsyncStream() {
  auto& h = stream_.handlers();
  h.on_data = nullptr;
  h.on_end = nullptr;
  h.on_drain = nullptr;
  h.on_close = nullptr;
}

void UdxAsyncStream::start_read(std::vector<asio::mutable_buffer> buffers, Completion done) {
  read_buffers_ = std::move(buffers);
  read_done_ = std::move(done);
  try_complete_read();
}

void UdxAsyncStream::try_complete_read() {
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
    if (rx_.size() < read_limit_ / 2) stream_.resume_reading();
    done({}, n);
    return;
  }
  if (eof_ || error_) {
    auto done = std::move(read_done_);
    read_done_ = nullptr;
    done(eof_ ? boost::system::error_code(asio::error::eof) : error_, 0);
  }
}

void UdxAsyncStream::start_write(std::vector<asio::const_buffer> buffers, Completion done) {
  if (error_) {
    done(error_, 0);
    return;
  }
  std::size_t total = 0;
  bool below = true;
  for (const auto& b : buffers) {
    if (b.size() == 0) continue;
    auto r = stream_.write(ByteView(static_cast<const std::uint8_t*>(b.data()), b.size()));
    if (!r) {
      done(to_asio(r.error()), total);
      return;
    }
    total += b.size();
    below = *r;
  }
  if (below) {
    done({}, total);
    return;
  }
  write_size_ = total;
  write_done_ = std::move(done);
}

void UdxAsyncStream::fail_all() {
  if (write_done_) {
    auto done = std::move(write_done_);
    write_done_ = nullptr;
    done(error_ ? error_ : boost::system::error_code(asio::error::connection_aborted), 0);
  }
  try_complete_read();
}

}  // namespace hdht::core
