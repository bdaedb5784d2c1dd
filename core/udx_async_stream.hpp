// A connected UdxStream as an ordinary Asio byte stream (AsyncReadStream + AsyncWriteStream), so
// asio::async_read / async_write and coroutines work on it:
//   co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
//   n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
// Completion signature void(boost::system::error_code, std::size_t). Reads end with
// asio::error::eof after the peer's END; a reset or timeout ends both directions with
// connection_reset / timed_out (others: connection_aborted).
//
// Back-pressure: a write completes once UdxStream::write() accepted the bytes below its
// high-water mark (else when it drains); reads hold at most `read_limit` bytes here, beyond which
// the stream is paused, which closes its receive window.
//
// One read and one write may be outstanding at a time. Destroying the adapter drops pending
// operations without completing them (as core::Timer does); the UdxStream must outlive it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "core/async_byte_stream.hpp"
#include "core/udx_byte_ring.hpp"
#include "core/udx_stream.hpp"

namespace hdht::core {

class UdxAsyncStream {
 public:
  using executor_type = asio::any_io_executor;
  using Completion = ByteStreamCompletion;

  // Takes over the stream's on_data, on_end, on_drain and on_close handlers.
  explicit UdxAsyncStream(UdxStream& stream, std::size_t read_limit = 1 << 20);
  ~UdxAsyncStream();
  UdxAsyncStream(const UdxAsyncStream&) = delete;
  UdxAsyncStream& operator=(const UdxAsyncStream&) = delete;

  executor_type get_executor() const { return executor_; }
  UdxStream& stream() noexcept { return stream_; }
  // Half close (END after what was written).
  Result<void> shutdown_send() { return stream_.end(); }

  template <class MutableBufferSequence, class CompletionToken>
  auto async_read_some(const MutableBufferSequence& buffers, CompletionToken&& token) {
    return initiate_read_some(*this, buffers, std::forward<CompletionToken>(token));
  }

  template <class ConstBufferSequence, class CompletionToken>
  auto async_write_some(const ConstBufferSequence& buffers, CompletionToken&& token) {
    return initiate_write_some(*this, buffers, std::forward<CompletionToken>(token));
  }

 private:
  template <class Self, class B, class T>
  friend auto initiate_read_some(Self&, const B&, T&&);
  template <class Self, class B, class T>
  friend auto initiate_write_some(Self&, const B&, T&&);

  void start_read(std::vector<asio::mutable_buffer> buffers, Completion done);
  void start_write(std::vector<asio::const_buffer> buffers, Completion done);
  void try_complete_read();
  void fail_all();

  UdxStream& stream_;
  executor_type executor_;
  std::size_t read_limit_;
  UdxByteRing rx_;
  bool eof_ = false;
  boost::system::error_code error_;  // set once the stream closed with an error

  std::vector<asio::mutable_buffer> read_buffers_;
  Completion read_done_;
  std::size_t write_size_ = 0;
  Completion write_done_;  // waiting for on_drain
};

}  // namespace hdht::core
