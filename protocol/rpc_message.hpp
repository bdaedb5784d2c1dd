// dht-rpc datagrams (dht-rpc 6.27.0 lib/io.js): one Request (type 0x03) or Response (type 0x13)
// per UDP datagram. Decoding mirrors the reference's accept/drop decisions exactly: flags are a
// varint whose unknown bits are ignored, trailing bytes are ignored, and any short field drops
// the whole datagram.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "protocol/bytes.hpp"
#include "protocol/errors.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::rpc {

// Byte 0: high nibble = kind, low nibble = protocol version 3.
inline constexpr std::uint8_t kVersion = 0b11;
inline constexpr std::uint8_t kRequestType = (0 << 4) | kVersion;   // 0x03
inline constexpr std::uint8_t kResponseType = (1 << 4) | kVersion;  // 0x13

// type + flags + tid + to: the fixed part both kinds start with.
inline constexpr std::size_t kHeaderSize = 1 + 1 + 2 + 6;

namespace request_flag {
inline constexpr std::uint32_t kId = 1;
inline constexpr std::uint32_t kToken = 2;
inline constexpr std::uint32_t kInternal = 4;
inline constexpr std::uint32_t kTarget = 8;
inline constexpr std::uint32_t kValue = 16;
}  // namespace request_flag

namespace response_flag {
inline constexpr std::uint32_t kId = 1;
inline constexpr std::uint32_t kToken = 2;
inline constexpr std::uint32_t kCloserNodes = 4;
inline constexpr std::uint32_t kError = 8;
inline constexpr std::uint32_t kValue = 16;
}  // namespace response_flag

// Internal (flag kInternal) command numbers. User commands reuse the same numbers in their own
// namespace.
namespace command {
inline constexpr std::uint64_t kPing = 0;
inline constexpr std::uint64_t kPingNat = 1;
inline constexpr std::uint64_t kFindNode = 2;
inline constexpr std::uint64_t kDownHint = 3;
inline constexpr std::uint64_t kDelayedPing = 4;
}  // namespace command

// Response error codes; 0 means success and is never on the wire.
namespace error_code {
inline constexpr std::uint64_t kUnknownCommand = 1;
inline constexpr std::uint64_t kInvalidToken = 2;
inline constexpr std::uint64_t kSeqReused = 16;  // hyperdht
inline constexpr std::uint64_t kSeqTooLow = 17;  // hyperdht
}  // namespace error_code

struct Request {
  std::uint16_t tid = 0;
  Ipv4Address to;
  // The id as claimed on the wire; check it with verified_id() (node_id.hpp) before trusting it.
  std::optional<Bytes32> id;
  std::optional<Bytes32> token;
  bool internal = false;
  std::uint64_t command = 0;  // <= 2^53-1 (JS numbers)
  std::optional<Bytes32> target;
  std::optional<Bytes> value;  // present-but-empty is distinct from absent

  friend bool operator==(const Request&, const Request&) = default;
};

struct Response {
  std::uint16_t tid = 0;
  Ipv4Address to;
  std::optional<Bytes32> id;
  std::optional<Bytes32> token;
  // Empty = absent: the reference never sends an empty list and treats a received empty list
  // like an absent one.
  std::vector<Ipv4Address> closer_nodes;
  std::uint64_t error = 0;  // 0 = absent; <= 2^53-1
  std::optional<Bytes> value;

  friend bool operator==(const Response&, const Response&) = default;
};

using Message = std::variant<Request, Response>;

// Exact encoded sizes, for pre-sizing output buffers.
std::size_t encoded_size(const Request& m);
std::size_t encoded_size(const Response& m);

// Append the datagram to out (one reserve, no other allocation). Precondition: command and
// error are <= 2^53-1, as the JS encoder refuses larger numbers; violating it throws
// std::invalid_argument (a programming error, never a network condition).
void encode_into(Bytes& out, const Request& m);
void encode_into(Bytes& out, const Response& m);
Bytes encode(const Request& m);
Bytes encode(const Response& m);

// Decode a whole datagram, type byte included. Errors: out_of_bounds for fewer than 2 bytes or
// any truncated field, bad_type for the wrong type byte, integer_too_large for a varint above
// 2^53-1, array_too_long for a closerNodes count above 0x100000.
Result<Request> decode_request(ByteView datagram);
Result<Response> decode_response(ByteView datagram);
// Dispatches on byte 0; bad_type for anything but 0x03 / 0x13.
Result<Message> decode_message(ByteView datagram);

}  // namespace hdht::rpc
