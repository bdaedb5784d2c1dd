// @hyperswarm/secret-stream 6.9.2 on a connected UdxStream, started as hyperdht starts it: from a
// completed Noise handshake (spec ../shared/spec/hyperdht.md §7). The framing and crypto are in
// protocol/secret_stream.hpp; this class adds what index.js does around them: the header message
// on start, encrypted frames both ways, keepalives, the optional idle timeout, END/DESTROY,
// unordered messages on UDX MESSAGE packets, back-pressure and receive pausing.
//
// There is no queue in this class: a frame goes into the UdxStream's send buffer at once (the
// reference also writes as soon as the handshake result is given; it does not wait for the
// peer's header), so write() returns the UdxStream's high-water verdict. On receive, frames are
// decrypted as UDX delivers bytes; while paused, the undecoded rest of one UDX chunk is kept and
// the UdxStream itself is paused, which closes its receive window.
//
// Lifetime: the SecretStream owns its UdxStream. The owner may destroy the SecretStream at any
// time, also from inside any of its handlers; after that no handler runs, and a connected, open
// UdxStream sends a DESTROY as it goes. All calls on the runtime's executor.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "core/timer.hpp"
#include "core/udx_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/result.hpp"
#include "protocol/secret_stream.hpp"

namespace hdht::core {

// What the handshake gives the stream (the reference's `opts.handshake`, from NoiseWrap.final()).
struct SecretStreamHandshake {
  bool is_initiator = false;
  Bytes32 tx{};
  Bytes32 rx{};
  Bytes64 hash{};
  Bytes32 public_key{};
  Bytes32 remote_public_key{};
};

struct SecretStreamOptions {
  // Write-idle interval after which an empty message is sent; 0 = off. hyperdht passes
  // connectionKeepAlive (5000 ms) on both sides. Non-zero also drops received empty messages.
  Duration keep_alive = std::chrono::milliseconds(5000);
  // secret-stream's setTimeout(): destroy with "Stream timed out" when no bytes arrive for this
  // long; 0 = off. hyperdht leaves it off (hyperswarm sets it on top).
  Duration timeout{0};
  // Drop received empty messages even with keep_alive 0 (the reference's
  // filterZeroByteMessages); otherwise they are delivered as empty on_data calls.
  bool filter_empty_messages = false;
  // Listen for unordered messages (the reference's enableSend).
  bool enable_send = true;
};

// Why a stream closed: empty code for a clean close (both directions ended, or destroy() without
// an error). message is the reference's Error text for errors the secret stream raises ("Invalid
// header message received", "Invalid header received", "Invalid message received", "pull failed",
// "Stream timed out", "udp send nonce exchausted") and the errno name for UDX's ("ECONNRESET",
// "ETIMEDOUT").
struct SecretStreamError {
  std::error_code code;
  std::string message;
  explicit operator bool() const noexcept { return static_cast<bool>(code); }
};

struct SecretStreamCounters {
  std::uint64_t frames_sent = 0;  // including the header message and keepalives
  std::uint64_t keepalives_sent = 0;
  std::uint64_t frames_received = 0;  // after the header, including keepalives
  std::uint64_t keepalives_received = 0;
  std::uint64_t messages_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t messages_dropped = 0;  // unordered messages that failed to open
  std::uint64_t raw_bytes_written = 0;
  std::uint64_t raw_bytes_read = 0;
};

class SecretStream {
 public:
  struct Handlers {
    // One decrypted message (one peer write); the view is valid only during the call.
    std::function<void(ByteView)> on_data;
    // The peer's END, after every message before it.
    std::function<void()> on_end;
    // write() returned false earlier and the UdxStream drained below its high-water mark.
    std::function<void()> on_drain;
    // A verified unordered message (send()/trySend() on the peer).
    std::function<void(ByteView)> on_message;
    // Exactly once, unless the owner destroys the object first: when the UdxStream closed after
    // END both ways (empty error), on destroy(), or on the first error.
    std::function<void(const SecretStreamError&)> on_close;
  };

  // Takes a connected UdxStream made on `runtime` (installs its handlers) and writes the header
  // message. Errors: not_connected when the UdxStream is not connected or already write-ended.
  static Result<std::unique_ptr<SecretStream>> create(Runtime& runtime,
                                                      std::unique_ptr<UdxStream> raw,
                                                      const SecretStreamHandshake& handshake,
                                                      SecretStreamOptions options = {},
                                                      Handlers handlers = {});
  ~SecretStream();
  SecretStream(const SecretStream&) = delete;
  SecretStream& operator=(const SecretStream&) = delete;

  void set_handlers(Handlers handlers) { handlers_ = std::move(handlers); }
  Handlers& handlers() noexcept { return handlers_; }

  // One message, encrypted into one frame. The value is false above the UdxStream's high-water
  // mark: write no more until on_drain. Errors: message_too_large beyond 2^24 - 18 bytes (the
  // reference destroys the stream on that; here the caller keeps the stream), broken_pipe after
  // end() or close.
  Result<bool> write(ByteView message);
  // Half close: UDX END after the queued frames; stops the keepalive. Errors as write().
  Result<void> end();
  // Abortive close: UDX DESTROY, then on_close(error) (empty error: a clean close, as the
  // reference's destroy() without an argument). Nothing after the first close.
  void destroy(SecretStreamError error = {});
  // An unordered message in one UDX MESSAGE packet (the reference's trySend; its send() only
  // adds a promise). Counter exhaustion destroys the stream, as the reference.
  // Errors: not_connected after close, message_size above what one packet carries.
  Result<void> send(ByteView message);

  // While paused no on_data or on_end runs; at most one UDX chunk stays undecoded here and the
  // UdxStream holds the rest against its receive window. resume_reading() may deliver inline.
  void pause_reading();
  void resume_reading();
  // The reference's setKeepAlive / setTimeout (0 = off), restarting the interval.
  void set_keep_alive(Duration interval);
  void set_timeout(Duration timeout);

  bool is_initiator() const noexcept { return handshake_.is_initiator; }
  const Bytes64& handshake_hash() const noexcept { return handshake_.hash; }
  const Bytes32& public_key() const noexcept { return handshake_.public_key; }
  const Bytes32& remote_public_key() const noexcept { return handshake_.remote_public_key; }
  bool header_received() const noexcept { return receiver_.header_received(); }
  bool write_ended() const noexcept { return write_ended_; }
  bool read_ended() const noexcept { return read_ended_; }
  bool closed() const noexcept { return closed_; }
  // The close reason once closed.
  const SecretStreamError& error() const noexcept { return error_; }
  const SecretStreamCounters& counters() const noexcept { return counters_; }
  UdxStream& raw() noexcept { return *raw_; }
  asio::any_io_executor runtime_executor() { return raw_->runtime_executor(); }

 private:
  enum class Decoded { all, paused, gone };

  SecretStream(Runtime& runtime, std::unique_ptr<UdxStream> raw,
               const SecretStreamHandshake& handshake, SecretStreamOptions options,
               Handlers handlers);

  void install_raw_handlers();
  Result<bool> write_frame(ByteView message);
  void on_raw_data(ByteView chunk);
  // Decodes and delivers messages from the front of chunk until it is used up, the reader
  // pauses (chunk then holds the rest) or this object is gone or closed.
  Decoded decode(ByteView& chunk);
  void on_raw_end();
  // on_end once the peer's END came and nothing is left to deliver; false if gone or closed.
  bool maybe_deliver_end();
  void on_raw_close(std::error_code ec);
  void on_raw_message(ByteView envelope);
  void on_keep_alive_timer();
  void on_timeout_timer();
  void arm_keep_alive();
  void arm_timeout();
  void finish(SecretStreamError error);

  // Runs a user handler; false if it destroyed this object or closed the stream.
  template <class Fn>
  bool call(Fn&& fn);

  std::unique_ptr<UdxStream> raw_;
  Runtime& runtime_;
  SecretStreamHandshake handshake_;
  SecretStreamOptions options_;
  Handlers handlers_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);

  sstream::Encryptor encryptor_;
  sstream::Receiver receiver_;
  sstream::UnorderedSender sender_;
  Bytes32 recv_key_{};
  Bytes frame_;  // reused encryption buffer; UdxStream::write copies out of it
  bool filter_empty_;

  bool paused_ = false;
  Bytes pending_;  // undecoded rest of the chunk being decoded when pause_reading() came
  std::size_t pending_at_ = 0;
  bool raw_ended_ = false;  // the peer's END reached us, maybe not yet delivered (paused)
  bool read_ended_ = false;
  bool write_ended_ = false;
  bool closed_ = false;
  SecretStreamError error_;

  Timer keep_alive_timer_;
  TimePoint last_write_{};
  Timer timeout_timer_;
  TimePoint last_read_{};

  SecretStreamCounters counters_;
};

}  // namespace hdht::core
