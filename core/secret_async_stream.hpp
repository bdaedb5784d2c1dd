// A SecretStream as an ordinary Asio byte stream (AsyncReadStream + AsyncWriteStream), for the
// connect/server code and the daemon's socket plumbing:
//   co_await asio::async_write(s, asio::buffer(data), asio::use_awaitable);
//   n = co_await s.async_read_some(asio::buffer(buf), asio::use_awaitable);
// Completion signature void(boost::system::error_code, std::size_t); completions are posted to
// the handler's associated executor, never run inline.
//
// Message boundaries are not kept: reads return decrypted bytes as they come, writes are cut
// into frames of at most `max_frame` bytes (any split is valid for the peer, which delivers
// bytes; frames bound the receiver's per-frame buffering).
//
// Errors: reads end with asio::error::eof after the peer's END. When the stream closes with an
// error, pending and later operations fail with connection_reset (UDX DESTROY from the peer),
// timed_out (UDX RTO limit or the secret stream's timeout) or errc::protocol_error (bad header,
// bad frame, nonce exhaustion); stream().error() has the reference's text. After close() they
// fail with operation_aborted; after a clean END/END close, writes fail with broken_pipe.
//
// Back-pressure: async_write_some encrypts frames until SecretStream::write() reports the
// high-water mark, then completes with what was taken once the stream drains (so memory held is
// the UdxStream's buffer plus at most one frame). Reads hold at most `read_limit` decrypted bytes
// here, beyond which the SecretStream is paused, which closes the UDX receive window.
//
// Lifetime: the adapter owns the SecretStream (which owns its UdxStream). One read and one
// write may be outstanding at a time. Destroying the adapter destroys the stream (a DESTROY on
// the wire if it is still open) and drops pending operations without completing them (as
// core::Timer does: a co_awaiting coroutine is unwound, never resumed). The adapter takes over
// the stream's on_data, on_end, on_drain and on_close; on_message stays the caller's. All calls
// on the runtime's executor.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "core/async_byte_stream.hpp"
#include "core/secret_stream.hpp"
#include "core/udx_byte_ring.hpp"

namespace hdht::core {

class SecretAsyncStream {
 public:
  using executor_type = asio::any_io_executor;
  using Completion = ByteStreamCompletion;

  explicit SecretAsyncStream(std::unique_ptr<SecretStream> stream,
                             std::size_t read_limit = std::size_t{1} << 20,
                             std::size_t max_frame = 65536);
  ~SecretAsyncStream();
  SecretAsyncStream(const SecretAsyncStream&) = delete;
  SecretAsyncStream& operator=(const SecretAsyncStream&) = delete;

  executor_type get_executor() const { return executor_; }
  SecretStream& stream() noexcept { return *stream_; }
  // Half close: END after what was written.
  Result<void> shutdown_send() { return stream_->end(); }
  // Abortive close (UDX DESTROY): pending operations complete with operation_aborted.
  void close();

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

  std::unique_ptr<SecretStream> stream_;
  executor_type executor_;
  std::size_t read_limit_;
  std::size_t max_frame_;
  UdxByteRing rx_;
  bool eof_ = false;
  bool closing_ = false;             // close() was called
  boost::system::error_code error_;  // set once the stream closed

  std::vector<asio::mutable_buffer> read_buffers_;
  Completion read_done_;
  std::size_t write_size_ = 0;
  Completion write_done_;  // waiting for on_drain
};

}  // namespace hdht::core
