#include "protocol/compact.hpp"

#include <limits>

namespace hdht::cenc {

void Writer::u16(std::uint16_t v) {
  out_.push_back(static_cast<std::uint8_t>(v));
  out_.push_back(static_cast<std::uint8_t>(v >> 8));
}
void Writer::u24(std::uint32_t v) {
  for (int i = 0; i < 3; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void Writer::u32(std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void Writer::u64(std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

void Writer::uint(std::uint64_t n) {
  if (n <= 0xfc) {
    u8(static_cast<std::uint8_t>(n));
  } else if (n <= 0xffff) {
    u8(0xfd);
    u16(static_cast<std::uint16_t>(n));
  } else if (n <= 0xffffffff) {
    u8(0xfe);
    u32(static_cast<std::uint32_t>(n));
  } else {
    u8(0xff);
    u64(n);
  }
}

void Writer::buffer(ByteView bytes) {
  uint(bytes.size());
  raw(bytes);
}

void Writer::ipv4_address(const Ipv4Address& a) {
  raw(a.ip);
  u16(a.port);
}

bool Reader::need(std::size_t n) {
  if (!ok()) return false;
  if (in_.size() - pos_ < n) {
    fail(WireErrc::out_of_bounds);
    return false;
  }
  return true;
}

std::uint8_t Reader::u8() {
  if (!need(1)) return 0;
  return in_[pos_++];
}
std::uint16_t Reader::u16() {
  if (!need(2)) return 0;
  const std::uint16_t v = static_cast<std::uint16_t>(in_[pos_] | in_[pos_ + 1] << 8);
  pos_ += 2;
  return v;
}
std::uint32_t Reader::u24() {
  if (!need(3)) return 0;
  std::uint32_t v = 0;
  for (int i = 0; i < 3; ++i) v |= std::uint32_t{in_[pos_ + i]} << (8 * i);
  pos_ += 3;
  return v;
}
std::uint32_t Reader::u32() {
  if (!need(4)) return 0;
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{in_[pos_ + i]} << (8 * i);
  pos_ += 4;
  return v;
}
std::uint64_t Reader::u64() {
  if (!need(8)) return 0;
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= std::uint64_t{in_[pos_ + i]} << (8 * i);
  pos_ += 8;
  return v;
}

std::uint64_t Reader::uint() {
  const std::uint8_t a = u8();
  if (a <= 0xfc) return a;
  if (a == 0xfd) return u16();
  if (a == 0xfe) return u32();
  const std::uint64_t v = u64();
  if (v > kMaxSafeInteger) {
    fail(WireErrc::integer_too_large);
    return 0;
  }
  return v;
}

ByteView Reader::raw(std::size_t n) {
  if (!need(n)) return {};
  const ByteView v = in_.subspan(pos_, n);
  pos_ += n;
  return v;
}

ByteView Reader::buffer() {
  const std::uint64_t n = uint();
  if (!ok()) return {};
  if (n > in_.size() - pos_) {
    fail(WireErrc::out_of_bounds);
    return {};
  }
  return raw(static_cast<std::size_t>(n));
}

std::string_view Reader::string() {
  const ByteView v = buffer();
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}

Ipv4Address Reader::ipv4_address() {
  Ipv4Address a;
  const ByteView ip = raw(4);
  if (ok()) std::copy(ip.begin(), ip.end(), a.ip.begin());
  a.port = u16();
  return ok() ? a : Ipv4Address{};
}

std::size_t Reader::array_count(std::size_t min_element_size) {
  const std::uint64_t n = uint();
  if (!ok()) return 0;
  if (n > kMaxArrayLength) {
    fail(WireErrc::array_too_long);
    return 0;
  }
  // The JS decoder would run out of bounds on the elements anyway; failing early keeps the
  // same accept/drop decision and lets the caller reserve(n) without trusting the peer.
  if (min_element_size > 0 && n > (in_.size() - pos_) / min_element_size) {
    fail(WireErrc::out_of_bounds);
    return 0;
  }
  return static_cast<std::size_t>(n);
}

ByteView Reader::rest() {
  if (!ok()) return {};
  const ByteView v = in_.subspan(pos_);
  pos_ = in_.size();
  return v;
}

}  // namespace hdht::cenc
