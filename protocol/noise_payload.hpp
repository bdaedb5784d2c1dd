// The Noise handshake payload (hyperdht/lib/messages.js `noisePayload`, the plaintext of both
// handshake messages) and the holepunch payload plaintext (`holepunchPayload`, before the
// secretbox of lib/secure-payload.js).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "protocol/bytes.hpp"
#include "protocol/compact.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/ipv6.hpp"
#include "protocol/result.hpp"

namespace hdht::msg {

struct RelayInfo {
  Ipv4Address relay_address;
  Ipv4Address peer_address;
  friend bool operator==(const RelayInfo&, const RelayInfo&) = default;
};

struct HolepunchInfo {
  std::uint64_t id = 0;
  std::vector<RelayInfo> relays;
  friend bool operator==(const HolepunchInfo&, const HolepunchInfo&) = default;
};

// The encoders write version 1 for every sub-record whatever `version` holds; the decoders report
// the version they read (and, unlike the top level, keep decoding whatever it is).
struct UdxInfo {
  std::uint64_t version = 1;
  bool reusable_socket = false;  // features bit 0; other feature bits are dropped
  std::uint64_t id = 0;
  std::uint64_t seq = 0;
  friend bool operator==(const UdxInfo&, const UdxInfo&) = default;
};

struct SecretStreamInfo {
  std::uint64_t version = 1;
  friend bool operator==(const SecretStreamInfo&, const SecretStreamInfo&) = default;
};

struct RelayThroughInfo {
  std::uint64_t version = 1;  // a flags uint follows it on the wire: written 0, read and ignored
  Bytes32 public_key{};
  Bytes32 token{};
  friend bool operator==(const RelayThroughInfo&, const RelayThroughInfo&) = default;
};

// flags: 1 holepunch, 2 addresses4, 4 addresses6, 8 udx, 16 secretStream, 32 relayThrough,
// 64 relayAddresses. Quirks kept from the JS: empty address lists 4/6 are not written (and decode
// as empty), relayAddresses is written whenever present even if empty, and a version other than 1
// stops the decoder, which then returns that version with every other field at its default.
struct NoisePayload {
  std::uint64_t version = 1;
  std::uint64_t error = 0;
  std::uint64_t firewall = 0;
  std::optional<HolepunchInfo> holepunch;
  std::vector<Ipv4Address> addresses4;
  std::vector<Ipv6Address> addresses6;
  std::optional<UdxInfo> udx;
  std::optional<SecretStreamInfo> secret_stream;
  std::optional<RelayThroughInfo> relay_through;
  std::optional<std::vector<Ipv4Address>> relay_addresses;
  friend bool operator==(const NoisePayload&, const NoisePayload&) = default;
};
void encode(cenc::Writer& w, const NoisePayload& m);
NoisePayload decode_noise_payload(cenc::Reader& r);
Bytes encode(const NoisePayload& m);
Result<NoisePayload> decode_noise_payload(ByteView in);

// flags: 1 connected, 2 punching, 4 addresses, 8 remoteAddress, 16 token, 32 remoteToken.
struct HolepunchPayload {
  std::uint64_t error = 0;
  std::uint64_t firewall = 0;
  std::uint64_t round = 0;
  bool connected = false;
  bool punching = false;
  std::optional<std::vector<Ipv4Address>> addresses;
  std::optional<Ipv4Address> remote_address;
  std::optional<Bytes32> token;
  std::optional<Bytes32> remote_token;
  friend bool operator==(const HolepunchPayload&, const HolepunchPayload&) = default;
};
void encode(cenc::Writer& w, const HolepunchPayload& m);
HolepunchPayload decode_holepunch_payload(cenc::Reader& r);
Bytes encode(const HolepunchPayload& m);
Result<HolepunchPayload> decode_holepunch_payload(ByteView in);

}  // namespace hdht::msg
