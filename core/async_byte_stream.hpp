// What UdxAsyncStream and SecretAsyncStream share as Asio byte streams: the type-erased,
// always-posted completion, the initiation of async_read_some / async_write_some into a
// start_read / start_write pair, and the copy of held bytes into a read's buffers.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

#include "core/udx_byte_ring.hpp"

namespace hdht::core {

namespace asio = boost::asio;

using ByteStreamCompletion = std::function<void(boost::system::error_code, std::size_t)>;

// Type-erases a (move-only) handler into a copyable completion that posts to the handler's
// associated executor (default: `fallback`), so completions never run inline. The post holds
// only the handler, so it is safe after the adapter is gone.
template <class Handler, class Executor>
ByteStreamCompletion wrap_completion(Handler&& handler, const Executor& fallback) {
  using H = std::decay_t<Handler>;
  auto ex = asio::get_associated_executor(handler, fallback);
  auto h = std::make_shared<H>(std::forward<Handler>(handler));
  return [h, ex](boost::system::error_code ec, std::size_t n) {
    asio::post(ex, [h, ec, n]() mutable { std::move (*h)(ec, n); });
  };
}

// async_read_some on `self`: copies the buffer sequence and calls
// self.start_read(std::vector<asio::mutable_buffer>, ByteStreamCompletion).
template <class Self, class MutableBufferSequence, class CompletionToken>
auto initiate_read_some(Self& self, const MutableBufferSequence& buffers, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
      [&self](auto handler, const MutableBufferSequence& bufs) {
        std::vector<asio::mutable_buffer> v(asio::buffer_sequence_begin(bufs),
                                            asio::buffer_sequence_end(bufs));
        self.start_read(std::move(v), wrap_completion(std::move(handler), self.get_executor()));
      },
      token, buffers);
}

// async_write_some on `self`, through self.start_write(std::vector<asio::const_buffer>, ...).
template <class Self, class ConstBufferSequence, class CompletionToken>
auto initiate_write_some(Self& self, const ConstBufferSequence& buffers, CompletionToken&& token) {
  return asio::async_initiate<CompletionToken, void(boost::system::error_code, std::size_t)>(
      [&self](auto handler, const ConstBufferSequence& bufs) {
        std::vector<asio::const_buffer> v(asio::buffer_sequence_begin(bufs),
                                          asio::buffer_sequence_end(bufs));
        self.start_write(std::move(v), wrap_completion(std::move(handler), self.get_executor()));
      },
      token, buffers);
}

std::size_t buffers_size(const std::vector<asio::mutable_buffer>& buffers) noexcept;
// Moves as many bytes as fit from the front of `ring` into `buffers`; returns how many.
std::size_t copy_from_ring(UdxByteRing& ring, const std::vector<asio::mutable_buffer>& buffers);

}  // namespace hdht::core
