// hyperdht record and request encodings (hyperdht/lib/messages.js, hyperdht-address): the peer
// record, LOOKUP replies, ANNOUNCE/UNANNOUNCE values, mutable/immutable record messages, plugin
// requests and hyperdht-address. Like the JS (c.decode), decoders ignore trailing bytes; unknown
// flag bits are ignored and never re-encoded.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "protocol/bytes.hpp"
#include "protocol/compact.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::msg {

// The announce record: the value of a FIND_PEER reply and each element of a LOOKUP reply.
struct Peer {
  Bytes32 public_key{};
  std::vector<Ipv4Address> relay_addresses;
  friend bool operator==(const Peer&, const Peer&) = default;
};
void encode(cenc::Writer& w, const Peer& m);
Peer decode_peer(cenc::Reader& r);
Bytes encode(const Peer& m);
Result<Peer> decode_peer(ByteView in);

// lookupRawReply. A storing node writes the stored record bytes as they are (encode_raw); a
// reader decodes each one as a Peer. The bump is always written; a missing one decodes as 0.
struct LookupReply {
  std::vector<Peer> peers;
  std::uint64_t bump = 0;
  friend bool operator==(const LookupReply&, const LookupReply&) = default;
};
void encode(cenc::Writer& w, const LookupReply& m);
LookupReply decode_lookup_reply(cenc::Reader& r);
Bytes encode(const LookupReply& m);
Bytes encode_lookup_raw_reply(std::span<const Bytes> raw_peers, std::uint64_t bump);
Result<LookupReply> decode_lookup_reply(ByteView in);

// announce (ANNOUNCE and UNANNOUNCE values). flags: 1 peer, 2 refresh, 4 signature, 8 bump.
// A bump of 0 is not written, and a set bump flag may still carry 0.
struct Announce {
  std::optional<Peer> peer;
  std::optional<Bytes32> refresh;
  std::optional<Bytes64> signature;
  std::uint64_t bump = 0;
  friend bool operator==(const Announce&, const Announce&) = default;
};
void encode(cenc::Writer& w, const Announce& m);
Announce decode_announce(cenc::Reader& r);
Bytes encode(const Announce& m);
Result<Announce> decode_announce(ByteView in);

// The hashed part of a mutable record signature.
struct MutableSignable {
  std::uint64_t seq = 0;
  Bytes value;
  friend bool operator==(const MutableSignable&, const MutableSignable&) = default;
};
void encode(cenc::Writer& w, const MutableSignable& m);
MutableSignable decode_mutable_signable(cenc::Reader& r);
Bytes encode(const MutableSignable& m);
Result<MutableSignable> decode_mutable_signable(ByteView in);

struct MutablePutRequest {
  Bytes32 public_key{};
  std::uint64_t seq = 0;
  Bytes value;
  Bytes64 signature{};
  friend bool operator==(const MutablePutRequest&, const MutablePutRequest&) = default;
};
void encode(cenc::Writer& w, const MutablePutRequest& m);
MutablePutRequest decode_mutable_put_request(cenc::Reader& r);
Bytes encode(const MutablePutRequest& m);
Result<MutablePutRequest> decode_mutable_put_request(ByteView in);

struct MutableGetResponse {
  std::uint64_t seq = 0;
  Bytes value;
  Bytes64 signature{};
  friend bool operator==(const MutableGetResponse&, const MutableGetResponse&) = default;
};
void encode(cenc::Writer& w, const MutableGetResponse& m);
MutableGetResponse decode_mutable_get_response(cenc::Reader& r);
Bytes encode(const MutableGetResponse& m);
Result<MutableGetResponse> decode_mutable_get_response(ByteView in);

// pluginRequest. `plugin` holds the raw string bytes as received (the JS decodes them as UTF-8
// with replacement characters; comparing names byte-wise is what dispatch needs).
struct PluginRequest {
  std::string plugin;
  std::uint64_t version = 0;
  std::uint64_t command = 0;
  std::optional<Bytes> value;
  friend bool operator==(const PluginRequest&, const PluginRequest&) = default;
};
void encode(cenc::Writer& w, const PluginRequest& m);
PluginRequest decode_plugin_request(cenc::Reader& r);
Bytes encode(const PluginRequest& m);
Result<PluginRequest> decode_plugin_request(ByteView in);

// hyperdht-address (schema version 2): a key, optionally with the nodes to reach it through.
// A plain 32-byte key (no flags byte) decodes as key-only.
struct HyperdhtAddress {
  Bytes32 key{};
  std::optional<std::vector<Ipv4Address>> nodes;
  friend bool operator==(const HyperdhtAddress&, const HyperdhtAddress&) = default;
};
void encode(cenc::Writer& w, const HyperdhtAddress& m);
HyperdhtAddress decode_hyperdht_address(cenc::Reader& r);
Bytes encode(const HyperdhtAddress& m);
Result<HyperdhtAddress> decode_hyperdht_address(ByteView in);

}  // namespace hdht::msg
