// compact-encoding (npm compact-encoding 3.5.2): the primitive codec every message is built from.
//
// Writer appends to a byte vector. Reader is a cursor over a span with a *sticky* error: the
// first failure records its reason, and every later read returns a zero value without touching
// memory. Message decoders are therefore written straight-line, like the JS, and check ok() once
// at the end. Readers never read past the span and never allocate from an untrusted length: they
// hand out views into the input, and counts are checked against the bytes left before use.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <system_error>

#include "protocol/bytes.hpp"
#include "protocol/errors.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::cenc {

// JS numbers: compact-encoding refuses to encode or decode integers above this.
inline constexpr std::uint64_t kMaxSafeInteger = (std::uint64_t{1} << 53) - 1;
// compact-encoding's array decoder rejects larger counts.
inline constexpr std::uint64_t kMaxArrayLength = 0x100000;

// Encoded size of a varint, for callers that pre-size buffers.
constexpr std::size_t uint_size(std::uint64_t n) {
  return n <= 0xfc ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

class Writer {
 public:
  explicit Writer(Bytes& out) : out_(out) {}

  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v);
  void u24(std::uint32_t v);
  void u32(std::uint32_t v);
  void u64(std::uint64_t v);
  // Minimal varint. Precondition: n <= kMaxSafeInteger (the reference throws otherwise).
  void uint(std::uint64_t n);
  void raw(ByteView bytes) { out_.insert(out_.end(), bytes.begin(), bytes.end()); }
  void buffer(ByteView bytes);  // uint length + bytes
  void string(std::string_view s) { buffer(as_bytes(s)); }
  template <std::size_t N>
  void fixed(const FixedBytes<N>& b) {
    raw(b);
  }
  void ipv4_address(const Ipv4Address& a);
  void bool_(bool b) { u8(b ? 1 : 0); }

  Bytes& bytes() { return out_; }

 private:
  Bytes& out_;
};

class Reader {
 public:
  explicit Reader(ByteView in) : in_(in) {}
  // A Reader views its input: reading from a temporary vector would dangle.
  explicit Reader(Bytes&&) = delete;

  std::uint8_t u8();
  std::uint16_t u16();
  std::uint32_t u24();
  std::uint32_t u32();
  std::uint64_t u64();
  // Varint; non-minimal forms are accepted as the reference accepts them.
  std::uint64_t uint();
  // A uint that must fit in T (e.g. flags, modes); larger values fail with invalid_value.
  template <class T>
  T uint_as() {
    const std::uint64_t v = uint();
    if (v > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) fail(WireErrc::invalid_value);
    return ok() ? static_cast<T>(v) : T{};
  }
  ByteView raw(std::size_t n);
  ByteView buffer();  // uint length + bytes, as a view into the input
  std::string_view string();
  template <std::size_t N>
  FixedBytes<N> fixed() {
    FixedBytes<N> out{};
    const auto v = raw(N);
    if (ok()) std::copy(v.begin(), v.end(), out.begin());
    return out;
  }
  Ipv4Address ipv4_address();
  bool bool_() { return u8() == 1; }
  // An array count, checked against kMaxArrayLength and against the bytes left given the
  // smallest possible element, so callers may reserve() with it safely.
  std::size_t array_count(std::size_t min_element_size);
  ByteView rest();  // everything left (compact-encoding's `raw`)

  bool ok() const noexcept { return !ec_; }
  std::error_code error() const noexcept { return ec_; }
  void fail(WireErrc e) {
    if (!ec_) ec_ = make_error_code(e);
  }
  std::size_t remaining() const noexcept { return ok() ? in_.size() - pos_ : 0; }
  std::size_t position() const noexcept { return pos_; }
  bool at_end() const noexcept { return remaining() == 0; }

  // Wraps up a decode: the value if no read failed, else the first error.
  template <class T>
  Result<T> finish(T&& value) {
    if (!ok()) return ec_;
    return Result<T>(std::forward<T>(value));
  }

 private:
  bool need(std::size_t n);
  ByteView in_;
  std::size_t pos_ = 0;
  std::error_code ec_;
};

}  // namespace hdht::cenc
