// Byte containers shared by every wire codec.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace hdht {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;
template <std::size_t N>
using FixedBytes = std::array<std::uint8_t, N>;
using Bytes32 = FixedBytes<32>;
using Bytes64 = FixedBytes<64>;

// Lowercase hex, as the JSON-RPC API and the vectors spell keys and hashes.
std::string to_hex(ByteView bytes);
// Accepts upper and lower case; nullopt on odd length or a non-hex digit.
std::optional<Bytes> from_hex(std::string_view hex);
// Exactly N bytes of hex, or nullopt.
template <std::size_t N>
std::optional<FixedBytes<N>> fixed_from_hex(std::string_view hex) {
  auto b = from_hex(hex);
  if (!b || b->size() != N) return std::nullopt;
  FixedBytes<N> out{};
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline Bytes to_bytes(ByteView v) { return Bytes(v.begin(), v.end()); }

}  // namespace hdht
