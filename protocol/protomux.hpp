// Protomux framing (npm protomux 3.12.1) and the blind-relay channel messages (blind-relay
// 1.6.1). One protomux frame is one secret-stream message. Spec: ../shared/spec/hyperdht.md §6.
//
//   frame          = uint channel, uint type, payload (the rest)
//   channel 0      = control: type 0 batch, 1 open, 2 reject, 3 close (other types are ignored)
//   batch payload  = uint channel, then repeated (uint len, message[len]); len 0 = uint channel
//                    switch. A message is (uint type, payload). A len running past the end is
//                    clamped to the end, as protomux does.
//
// Decoders are stateless: they check what protomux's parser would throw on (truncated varints
// and buffers, a batch entry without a type) and return views into the input, valid while the
// input lives. What depends on session state (unknown ids, re-used remote ids) is the caller's.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "protocol/bytes.hpp"
#include "protocol/compact.hpp"
#include "protocol/result.hpp"

namespace hdht::protomux {

inline constexpr std::uint64_t kControlChannel = 0;
inline constexpr std::uint64_t kBatch = 0;
inline constexpr std::uint64_t kOpen = 1;
inline constexpr std::uint64_t kReject = 2;
inline constexpr std::uint64_t kClose = 3;
// Nested batches (a batch entry that is itself a control batch) recurse in protomux until the JS
// stack overflows; we stop at this depth with array_too_long instead.
inline constexpr int kMaxBatchDepth = 64;

struct Frame {
  std::uint64_t channel = 0;
  std::uint64_t type = 0;
  ByteView payload;
};

struct Open {
  // The sender's id for the channel. protomux 3.12.1 means to reject 0, but its reject call
  // throws (wrong arguments) and the whole stream is destroyed: treat 0 as fatal.
  std::uint64_t local_id = 0;
  std::string_view protocol;   // raw UTF-8 bytes as sent
  std::optional<ByteView> id;  // empty buffer on the wire (length 0) means none
  ByteView handshake;          // the rest, decoded by the channel's handshake encoding
};

// One batch entry: the channel in effect and the message (uint type + payload) it carries.
struct BatchEntry {
  std::uint64_t channel = 0;
  ByteView message;
};

// Frame header only. Empty frames are ignored by protomux: callers skip them before decoding
// (decode_frame reports out_of_bounds for them, like any truncated frame).
Result<Frame> decode_frame(ByteView frame);
// Message = uint type + payload (the part of a batch entry, or of a frame after the channel).
Result<Frame> decode_message(std::uint64_t channel, ByteView message);
// Control payloads (the bytes after `00 <type>`). Trailing bytes are ignored, as protomux does.
Result<Open> decode_open(ByteView payload);
Result<std::uint64_t> decode_reject(ByteView payload);  // the rejected remote id
Result<std::uint64_t> decode_close(ByteView payload);   // the closing sender's local id

// Walks a batch payload (the bytes after `00 00`). Use:
//   BatchReader b(payload); BatchEntry e;
//   while (auto more = b.next(e)) { if (!*more) break; ... }   // an error ends the loop too
class BatchReader {
 public:
  explicit BatchReader(ByteView payload);
  explicit BatchReader(Bytes&&) = delete;
  // true with the next entry, false at the end, or the error that ends the batch.
  Result<bool> next(BatchEntry& out);
  std::uint64_t first_channel() const noexcept { return first_channel_; }

 private:
  ByteView in_;
  std::size_t pos_ = 0;
  std::uint64_t channel_ = 0;
  std::uint64_t first_channel_ = 0;
  std::error_code ec_;
};

// Everything protomux's receive path would throw on for this frame, independent of session
// state: the frame header, control payloads, and every entry of (nested) batches. Non-control
// messages are only checked to carry a type (their payload belongs to the channel's encoding).
Result<void> validate_frame(ByteView frame);

// Encoders append one frame to `out`.
void encode_message(Bytes& out, std::uint64_t channel, std::uint64_t type, ByteView payload);
void encode_open(Bytes& out, const Open& open);
void encode_reject(Bytes& out, std::uint64_t remote_id);
void encode_close(Bytes& out, std::uint64_t local_id);

// Builds one batch frame the way protomux's cork()/uncork() does: a channel switch only when
// the channel changes. A batch is sent only if it has at least one entry.
class BatchWriter {
 public:
  void add(std::uint64_t channel, std::uint64_t type, ByteView payload);
  bool empty() const noexcept { return entries_ == 0; }
  // Appends the batch frame to `out` (nothing when empty) and resets the writer.
  void finish(Bytes& out);

 private:
  Bytes body_;
  std::uint64_t first_channel_ = 0;
  std::uint64_t channel_ = 0;
  std::size_t entries_ = 0;
};

// blind-relay channel (protocol "blind-relay"): message type 0 pair, type 1 unpair.
inline constexpr std::uint64_t kRelayPair = 0;
inline constexpr std::uint64_t kRelayUnpair = 1;

struct RelayPair {
  bool is_initiator = false;
  Bytes32 token{};
  std::uint64_t id = 0;   // the sender's UDX stream id
  std::uint64_t seq = 0;  // always 0 from hyperdht
  friend bool operator==(const RelayPair&, const RelayPair&) = default;
};

struct RelayUnpair {
  Bytes32 token{};
  friend bool operator==(const RelayUnpair&, const RelayUnpair&) = default;
};

// Payloads only (wrap in encode_message for a frame). Decoding follows
// compact-encoding-bitfield(7): the flags field also accepts the 0xfd/0xfe/0xff wide forms,
// whose first data byte carries the bits; bits other than isInitiator are ignored.
void encode_relay_pair(Bytes& out, const RelayPair& m);
void encode_relay_unpair(Bytes& out, const RelayUnpair& m);
Result<RelayPair> decode_relay_pair(ByteView payload);
Result<RelayUnpair> decode_relay_unpair(ByteView payload);

}  // namespace hdht::protomux
