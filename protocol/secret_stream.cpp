#include "protocol/secret_stream.hpp"

#include <algorithm>
#include <cstring>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/hyperdht_constants.hpp"

namespace hdht::sstream {
namespace {

void put_u24le(std::uint8_t* p, std::size_t n) {
  p[0] = static_cast<std::uint8_t>(n);
  p[1] = static_cast<std::uint8_t>(n >> 8);
  p[2] = static_cast<std::uint8_t>(n >> 16);
}

}  // namespace

Bytes32 stream_id(const Bytes64& handshake_hash, bool initiator) {
  const Bytes32& ns =
      initiator ? msg::ns_secret_stream_initiator() : msg::ns_secret_stream_responder();
  return crypto::hash32_keyed(ns, handshake_hash);
}

Bytes32 send_key(const Bytes64& handshake_hash, bool initiator) {
  const Bytes32& ns =
      initiator ? msg::ns_secret_stream_initiator() : msg::ns_secret_stream_responder();
  std::uint8_t input[64];
  std::copy(ns.begin(), ns.end(), input);
  std::copy(msg::ns_secret_stream_send().begin(), msg::ns_secret_stream_send().end(), input + 32);
  return crypto::hash32_keyed(ByteView(input), handshake_hash);
}

FixedBytes<kHeaderMessageBytes> header_message(const Bytes32& own_stream_id, const Header& header) {
  FixedBytes<kHeaderMessageBytes> out{};
  put_u24le(out.data(), kIdHeaderBytes);
  std::copy(own_stream_id.begin(), own_stream_id.end(), out.begin() + 3);
  std::copy(header.begin(), header.end(), out.begin() + 3 + 32);
  return out;
}

// ---- Encryptor ----

Encryptor::Encryptor(const Bytes32& tx) {
  crypto_secretstream_xchacha20poly1305_init_push(&st_, header_.data(), tx.data());
}

Encryptor::Encryptor(const Bytes32& tx, const Header& header) : header_(header) {
  crypto_secretstream_xchacha20poly1305_init_pull(&st_, header_.data(), tx.data());
}

Encryptor::~Encryptor() {
  sodium_memzero(&st_, sizeof st_);
}

Result<std::size_t> Encryptor::encrypt_frame(ByteView message, std::span<std::uint8_t> out) {
  if (message.size() > kMaxMessage) return WireErrc::message_too_large;
  const std::size_t total = frame_size(message.size());
  if (out.size() < total) return WireErrc::bad_length;
  // Encrypt first: with in-place use the message sits at out + 4, which the length prefix
  // (out[0..2]) does not overlap, and push writes the tag at out[3] after reading nothing there.
  crypto_secretstream_xchacha20poly1305_push(&st_, out.data() + 3, nullptr, message.data(),
                                             message.size(), nullptr, 0,
                                             crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
  put_u24le(out.data(), message.size() + kABytes);
  return total;
}

Result<void> Encryptor::append_frame(ByteView message, Bytes& out) {
  if (message.size() > kMaxMessage) return WireErrc::message_too_large;
  const std::size_t at = out.size();
  out.resize(at + frame_size(message.size()));
  auto r = encrypt_frame(message, std::span(out).subspan(at));
  if (!r) return r.error();
  return {};
}

// ---- Decryptor ----

Decryptor::Decryptor(const Bytes32& rx) : key_(rx) {}

Decryptor::~Decryptor() {
  sodium_memzero(&st_, sizeof st_);
  sodium_memzero(key_.data(), key_.size());
}

void Decryptor::init(const Header& header) {
  crypto_secretstream_xchacha20poly1305_init_pull(&st_, header.data(), key_.data());
  initialised_ = true;
}

Result<std::size_t> Decryptor::decrypt(ByteView body, std::span<std::uint8_t> out) {
  if (!initialised_) return WireErrc::handshake_state;
  if (body.size() < kABytes) return WireErrc::bad_length;
  const std::size_t n = body.size() - kABytes;
  if (out.size() < n) return WireErrc::bad_length;
  // libsodium only commits the new state after the MAC verifies, so a bad frame does not
  // disturb the stream for the frames after it (the reference destroys the stream anyway).
  unsigned long long mlen = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&st_, out.data(), &mlen, &tag, body.data(),
                                                 body.size(), nullptr, 0) != 0) {
    return WireErrc::decrypt_failed;
  }
  return static_cast<std::size_t>(mlen);
}

// ---- FrameParser ----

Result<std::optional<ByteView>> FrameParser::next(ByteView& chunk) {
  if (failed_) return WireErrc::message_too_large;
  if (!in_body_) {
    while (len_bytes_ < 3 && !chunk.empty()) {
      len_ |= static_cast<std::uint32_t>(chunk[0]) << (8 * len_bytes_);
      ++len_bytes_;
      chunk = chunk.subspan(1);
    }
    if (len_bytes_ < 3) return std::optional<ByteView>{};
    if (len_ > max_frame_) {
      failed_ = true;
      return WireErrc::message_too_large;
    }
    in_body_ = true;
    buf_.clear();  // the previous body's view was promised only until this call
    // The reference completes a body only while bytes remain in the chunk or on the next chunk,
    // so an empty body whose prefix ends a chunk surfaces one call later. Matching it keeps the
    // accept/drop decisions identical at every chunk boundary.
    if (len_ == 0 && chunk.empty()) return std::optional<ByteView>{};
  }
  const std::size_t len = len_;
  if (buf_.empty() && chunk.size() >= len) {
    const ByteView body = chunk.first(len);
    chunk = chunk.subspan(len);
    len_ = 0;
    len_bytes_ = 0;
    in_body_ = false;
    return std::optional<ByteView>(body);
  }
  const std::size_t take = std::min(len - buf_.size(), chunk.size());
  buf_.insert(buf_.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(take));
  chunk = chunk.subspan(take);
  if (buf_.size() < len) return std::optional<ByteView>{};
  len_ = 0;
  len_bytes_ = 0;
  in_body_ = false;
  return std::optional<ByteView>(ByteView(buf_));
}

// ---- Receiver ----

Receiver::Receiver(const Bytes32& rx, const Bytes32& expected_id, bool filter_empty)
    : decryptor_(rx), expected_id_(expected_id), filter_empty_(filter_empty) {}

std::error_code Receiver::fail(std::error_code ec, std::string_view message) {
  error_ = ec;
  error_message_ = message;
  return ec;
}

Result<std::optional<ByteView>> Receiver::next(ByteView& chunk) {
  for (;;) {
    if (error_) return error_;
    auto frame = parser_.next(chunk);
    if (!frame) return fail(frame.error(), "Message is too large");
    if (!*frame) return std::optional<ByteView>{};
    const ByteView body = **frame;

    if (!decryptor_.initialised()) {
      if (body.size() != kIdHeaderBytes) {
        return fail(WireErrc::bad_length, "Invalid header message received");
      }
      if (!std::equal(expected_id_.begin(), expected_id_.end(), body.begin())) {
        return fail(WireErrc::invalid_value, "Invalid header received");
      }
      Header h;
      std::copy_n(body.begin() + 32, h.size(), h.begin());
      decryptor_.init(h);
      continue;
    }

    if (body.size() < kABytes) return fail(WireErrc::bad_length, "Invalid message received");
    // Grows to the largest frame seen, then is reused: no per-frame allocation.
    if (plain_.size() < body.size() - kABytes) plain_.resize(body.size() - kABytes);
    auto n = decryptor_.decrypt(body, plain_);
    if (!n) return fail(n.error(), "Decryption failed");
    if (*n == 0 && filter_empty_) continue;
    return std::optional<ByteView>(ByteView(plain_.data(), *n));
  }
}

// ---- Unordered messages ----

UnorderedSender::UnorderedSender(const Bytes32& key) : key_(key) {
  crypto::random_bytes(counter_);
  initial_ = counter_;
}

UnorderedSender::UnorderedSender(const Bytes32& key, const Counter& counter, const Counter& initial)
    : key_(key), counter_(counter), initial_(initial) {}

UnorderedSender::~UnorderedSender() {
  sodium_memzero(key_.data(), key_.size());
}

Result<Bytes> UnorderedSender::seal(ByteView message) {
  if (exhausted_) return WireErrc::nonce_exhausted;
  sodium_increment(counter_.data(), counter_.size());
  if (counter_ == initial_) {
    exhausted_ = true;
    return WireErrc::nonce_exhausted;
  }
  std::uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::copy(counter_.begin(), counter_.end(), nonce);
  Bytes out(counter_.size() + crypto_secretbox_MACBYTES + message.size());
  std::copy(counter_.begin(), counter_.end(), out.begin());
  crypto_secretbox_easy(out.data() + counter_.size(), message.data(), message.size(), nonce,
                        key_.data());
  return out;
}

Result<Bytes> open_unordered(ByteView envelope, const Bytes32& key) {
  // The reference compares against the 24-byte nonce size, which is also 8 + MAC: an envelope
  // of exactly 24 bytes carries an empty message.
  if (envelope.size() < crypto_secretbox_NONCEBYTES) return WireErrc::bad_length;
  std::uint8_t nonce[crypto_secretbox_NONCEBYTES] = {};
  std::copy_n(envelope.begin(), 8, nonce);
  const ByteView boxed = envelope.subspan(8);
  Bytes plain(boxed.size() - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(plain.data(), boxed.data(), boxed.size(), nonce, key.data()) !=
      0) {
    return WireErrc::decrypt_failed;
  }
  return plain;
}

}  // namespace hdht::sstream
