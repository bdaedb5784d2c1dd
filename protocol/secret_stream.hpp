// @hyperswarm/secret-stream 6.9.2 framing and crypto as hyperdht uses it (the handshake is
// already complete): the 59-byte header message, uint24le-length frames carrying
// crypto_secretstream_xchacha20poly1305 messages, keepalives (empty messages) and the
// unordered-message envelope. Pure framing + crypto, no I/O: the transport feeds bytes in and
// takes bytes out.
#pragma once

#include <sodium.h>

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

#include "protocol/bytes.hpp"
#include "protocol/result.hpp"

namespace hdht::sstream {

inline constexpr std::size_t kHeaderBytes = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
inline constexpr std::size_t kABytes = crypto_secretstream_xchacha20poly1305_ABYTES;  // tag + MAC
inline constexpr std::size_t kIdHeaderBytes = 32 + kHeaderBytes;                      // 56
inline constexpr std::size_t kHeaderMessageBytes = 3 + kIdHeaderBytes;                // 59
inline constexpr std::size_t kMaxFrame = 0xffffff;  // the largest uint24 length
inline constexpr std::size_t kMaxMessage = kMaxFrame - kABytes;
static_assert(kHeaderBytes == 24 && kABytes == 17);

using Header = FixedBytes<kHeaderBytes>;
using Counter = FixedBytes<8>;

// streamId(hash, isInitiator) = BLAKE2b-256(NS_INITIATOR or NS_RESPONDER, key = hash). Each side
// sends its own and expects the other role's.
Bytes32 stream_id(const Bytes64& handshake_hash, bool initiator);
// Key of the unordered messages `initiator` sends: BLAKE2b-256(NS_role || NS_SEND, key = hash).
Bytes32 send_key(const Bytes64& handshake_hash, bool initiator);

// uint24le(56) || own stream id || secretstream header.
FixedBytes<kHeaderMessageBytes> header_message(const Bytes32& own_stream_id, const Header& header);

// Frame size on the wire for a plaintext of n bytes: 3-byte length, tag, ciphertext, MAC.
constexpr std::size_t frame_size(std::size_t n) {
  return 3 + n + kABytes;
}

class Encryptor {
 public:
  // A fresh random header, as the reference's init_push.
  explicit Encryptor(const Bytes32& tx);
  // A chosen header. init_pull derives the same state from a header that init_push derives
  // after drawing it (libsodium: HChaCha20 subkey, counter reset, inonce from the header), so
  // frames are byte-identical to what the reference would send had it drawn this header.
  Encryptor(const Bytes32& tx, const Header& header);
  ~Encryptor();
  Encryptor(const Encryptor&) = delete;
  Encryptor& operator=(const Encryptor&) = delete;

  const Header& header() const noexcept { return header_; }

  // Writes uint24le(len + 17) || push(message, TAG_MESSAGE) to out[0, frame_size(len)) and
  // returns that size. No allocation. `message` may sit at out + 4 (in-place encryption, as the
  // reference does); message_too_large when the frame would not fit a uint24, bad_length when
  // out is too small.
  Result<std::size_t> encrypt_frame(ByteView message, std::span<std::uint8_t> out);
  // Convenience: appends the frame to `out`.
  Result<void> append_frame(ByteView message, Bytes& out);
  // A keepalive is an empty message.
  Result<void> append_keepalive(Bytes& out) { return append_frame({}, out); }

 private:
  crypto_secretstream_xchacha20poly1305_state st_{};
  Header header_{};
};

class Decryptor {
 public:
  explicit Decryptor(const Bytes32& rx);
  ~Decryptor();
  Decryptor(const Decryptor&) = delete;
  Decryptor& operator=(const Decryptor&) = delete;

  // Keyed with rx, started from the peer's header (the reference's Pull.init).
  void init(const Header& header);
  bool initialised() const noexcept { return initialised_; }

  // body = one frame's L bytes; writes body.size() - 17 plaintext bytes to out. bad_length for
  // a body under 17 bytes or a short out, decrypt_failed when pull fails (tampered, replayed
  // or reordered frames), handshake_state before init(). A failed pull leaves the state as it
  // was. The tag is ignored, as the reference ignores it.
  Result<std::size_t> decrypt(ByteView body, std::span<std::uint8_t> out);

 private:
  Bytes32 key_{};
  crypto_secretstream_xchacha20poly1305_state st_{};
  bool initialised_ = false;
};

// Splits a byte stream into uint24le-length-prefixed bodies over arbitrary chunk boundaries.
// A body that arrives whole inside one chunk is returned as a view into that chunk; otherwise it
// is gathered in an internal buffer that grows only as bytes arrive (never beyond one frame).
class FrameParser {
 public:
  explicit FrameParser(std::size_t max_frame = kMaxFrame) : max_frame_(max_frame) {}

  // Consumes bytes from the front of `chunk` and returns the next complete body, or nullopt when
  // `chunk` is used up first. The view stays valid until the next call or until the chunk's
  // storage goes away. message_too_large for a declared length above max_frame (sticky).
  // Like the reference, an empty body whose length prefix ends `chunk` is returned by the next
  // call (with the next chunk, which may be empty).
  Result<std::optional<ByteView>> next(ByteView& chunk);
  // Bytes of a partial frame held (for tests of the bound).
  std::size_t buffered() const noexcept { return buf_.size(); }

 private:
  std::size_t max_frame_;
  std::uint32_t len_ = 0;
  int len_bytes_ = 0;
  bool in_body_ = false;
  bool failed_ = false;
  Bytes buf_;
};

// The receiving half of a stream: the first frame must be the peer's 56-byte id + header, every
// later frame is decrypted. Errors are sticky, as the reference destroys the stream.
class Receiver {
 public:
  // expected_id = stream_id(hash, !own_role). filter_empty drops keepalives (the reference does
  // when keepAlive > 0, which hyperdht always sets).
  Receiver(const Bytes32& rx, const Bytes32& expected_id, bool filter_empty = true);

  // Consumes bytes from `chunk` and returns the next plaintext message, or nullopt when the
  // chunk is used up. The view is valid until the next call.
  Result<std::optional<ByteView>> next(ByteView& chunk);

  bool header_received() const noexcept { return decryptor_.initialised(); }
  // The reference's error text for the first error ("Invalid header message received", ...).
  std::string_view error_message() const noexcept { return error_message_; }

 private:
  std::error_code fail(std::error_code ec, std::string_view message);

  FrameParser parser_;
  Decryptor decryptor_;
  Bytes32 expected_id_;
  bool filter_empty_;
  std::error_code error_;
  std::string_view error_message_;
  Bytes plain_;
};

// Unordered messages (secret-stream send/trySend): counter(8) || secretbox_easy(message) with
// nonce = counter || 16 zero bytes. The counter is incremented (little-endian) before each send.
class UnorderedSender {
 public:
  // Random starting counter, as the reference.
  explicit UnorderedSender(const Bytes32& key);
  // Chosen counter and the value whose recurrence means the nonce space is used up (the
  // reference starts with counter == initial).
  UnorderedSender(const Bytes32& key, const Counter& counter, const Counter& initial);
  ~UnorderedSender();
  UnorderedSender(const UnorderedSender&) = delete;
  UnorderedSender& operator=(const UnorderedSender&) = delete;

  // nonce_exhausted (sticky) when the incremented counter is back at its start.
  Result<Bytes> seal(ByteView message);
  const Counter& counter() const noexcept { return counter_; }

 private:
  Bytes32 key_{};
  Counter counter_{};
  Counter initial_{};
  bool exhausted_ = false;
};

// The envelope's plaintext. bad_length under 24 bytes (the reference ignores those),
// decrypt_failed on a bad MAC.
Result<Bytes> open_unordered(ByteView envelope, const Bytes32& key);

}  // namespace hdht::sstream
