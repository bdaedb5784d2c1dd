#include "protocol/rpc_message.hpp"

#include <stdexcept>

#include "protocol/compact.hpp"

namespace hdht::rpc {

namespace {

void check_safe(std::uint64_t n, const char* what) {
  if (n > cenc::kMaxSafeInteger) throw std::invalid_argument(what);
}

// The reference reads flags as a varint and tests bits with JS `&`, which truncates the number
// to its low 32 bits; any bit above the known five is ignored.
std::uint32_t read_flags(cenc::Reader& r) {
  return static_cast<std::uint32_t>(r.uint());
}

template <class T>
std::optional<T> read_if(bool present, cenc::Reader& r, T (*read)(cenc::Reader&)) {
  if (!present) return std::nullopt;
  return read(r);
}

Bytes32 read_fixed32(cenc::Reader& r) {
  return r.fixed<32>();
}
Bytes read_buffer(cenc::Reader& r) {
  return to_bytes(r.buffer());
}

// Shared guard of both decoders: the reference ignores datagrams under 2 bytes before looking at
// the type byte.
Result<void> check_type(ByteView datagram, std::uint8_t type) {
  if (datagram.size() < 2) return WireErrc::out_of_bounds;
  if (datagram[0] != type) return WireErrc::bad_type;
  return {};
}

}  // namespace

std::size_t encoded_size(const Request& m) {
  std::size_t n = kHeaderSize + cenc::uint_size(m.command);
  if (m.id) n += 32;
  if (m.token) n += 32;
  if (m.target) n += 32;
  if (m.value) n += cenc::uint_size(m.value->size()) + m.value->size();
  return n;
}

std::size_t encoded_size(const Response& m) {
  std::size_t n = kHeaderSize;
  if (m.id) n += 32;
  if (m.token) n += 32;
  if (!m.closer_nodes.empty())
    n += cenc::uint_size(m.closer_nodes.size()) + 6 * m.closer_nodes.size();
  if (m.error > 0) n += cenc::uint_size(m.error);
  if (m.value) n += cenc::uint_size(m.value->size()) + m.value->size();
  return n;
}

void encode_into(Bytes& out, const Request& m) {
  check_safe(m.command, "rpc request command above 2^53-1");
  out.reserve(out.size() + encoded_size(m));
  cenc::Writer w(out);
  w.u8(kRequestType);
  w.u8(static_cast<std::uint8_t>(
      (m.id ? request_flag::kId : 0) | (m.token ? request_flag::kToken : 0) |
      (m.internal ? request_flag::kInternal : 0) | (m.target ? request_flag::kTarget : 0) |
      (m.value ? request_flag::kValue : 0)));
  w.u16(m.tid);
  w.ipv4_address(m.to);
  if (m.id) w.fixed(*m.id);
  if (m.token) w.fixed(*m.token);
  w.uint(m.command);
  if (m.target) w.fixed(*m.target);
  if (m.value) w.buffer(*m.value);
}

void encode_into(Bytes& out, const Response& m) {
  check_safe(m.error, "rpc response error above 2^53-1");
  out.reserve(out.size() + encoded_size(m));
  cenc::Writer w(out);
  w.u8(kResponseType);
  w.u8(static_cast<std::uint8_t>(
      (m.id ? response_flag::kId : 0) | (m.token ? response_flag::kToken : 0) |
      (m.closer_nodes.empty() ? 0 : response_flag::kCloserNodes) |
      (m.error > 0 ? response_flag::kError : 0) | (m.value ? response_flag::kValue : 0)));
  w.u16(m.tid);
  w.ipv4_address(m.to);
  if (m.id) w.fixed(*m.id);
  if (m.token) w.fixed(*m.token);
  if (!m.closer_nodes.empty()) {
    w.uint(m.closer_nodes.size());
    for (const auto& a : m.closer_nodes)
      w.ipv4_address(a);
  }
  if (m.error > 0) w.uint(m.error);
  if (m.value) w.buffer(*m.value);
}

Bytes encode(const Request& m) {
  Bytes out;
  encode_into(out, m);
  return out;
}

Bytes encode(const Response& m) {
  Bytes out;
  encode_into(out, m);
  return out;
}

Result<Request> decode_request(ByteView datagram) {
  if (auto t = check_type(datagram, kRequestType); !t) return t.error();
  cenc::Reader r(datagram.subspan(1));
  Request m;
  const std::uint32_t flags = read_flags(r);
  m.tid = r.u16();
  m.to = r.ipv4_address();
  m.id = read_if(flags & request_flag::kId, r, read_fixed32);
  m.token = read_if(flags & request_flag::kToken, r, read_fixed32);
  m.internal = (flags & request_flag::kInternal) != 0;
  m.command = r.uint();
  m.target = read_if(flags & request_flag::kTarget, r, read_fixed32);
  m.value = read_if(flags & request_flag::kValue, r, read_buffer);
  return r.finish(std::move(m));
}

Result<Response> decode_response(ByteView datagram) {
  if (auto t = check_type(datagram, kResponseType); !t) return t.error();
  cenc::Reader r(datagram.subspan(1));
  Response m;
  const std::uint32_t flags = read_flags(r);
  m.tid = r.u16();
  m.to = r.ipv4_address();
  m.id = read_if(flags & response_flag::kId, r, read_fixed32);
  m.token = read_if(flags & response_flag::kToken, r, read_fixed32);
  if (flags & response_flag::kCloserNodes) {
    const std::size_t n = r.array_count(6);  // capped by the bytes left, so reserve is safe
    m.closer_nodes.reserve(n);
    for (std::size_t i = 0; i < n && r.ok(); ++i)
      m.closer_nodes.push_back(r.ipv4_address());
  }
  if (flags & response_flag::kError) m.error = r.uint();
  m.value = read_if(flags & response_flag::kValue, r, read_buffer);
  return r.finish(std::move(m));
}

Result<Message> decode_message(ByteView datagram) {
  if (datagram.size() < 2) return WireErrc::out_of_bounds;
  if (datagram[0] == kRequestType) {
    auto m = decode_request(datagram);
    if (!m) return m.error();
    return Message(std::move(*m));
  }
  if (datagram[0] == kResponseType) {
    auto m = decode_response(datagram);
    if (!m) return m.error();
    return Message(std::move(*m));
  }
  return WireErrc::bad_type;
}

}  // namespace hdht::rpc
