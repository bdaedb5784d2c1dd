#include "protocol/peer_messages.hpp"

#include "protocol/address_arrays.hpp"

namespace hdht::msg {
namespace {

// The smallest encoded peer: a key and an empty relay list.
constexpr std::size_t kMinPeerSize = 32 + 1;

template <class T>
Bytes encode_one(const T& m) {
  Bytes out;
  cenc::Writer w(out);
  encode(w, m);
  return out;
}

template <class T, class F>
Result<T> decode_one(ByteView in, F decode_fn) {
  cenc::Reader r(in);
  T value = decode_fn(r);
  return r.finish(std::move(value));
}

}  // namespace

void encode(cenc::Writer& w, const Peer& m) {
  w.fixed(m.public_key);
  cenc::ipv4_array(w, m.relay_addresses);
}
Peer decode_peer(cenc::Reader& r) {
  Peer m;
  m.public_key = r.fixed<32>();
  m.relay_addresses = cenc::ipv4_array(r);
  return m;
}
Bytes encode(const Peer& m) {
  return encode_one(m);
}
Result<Peer> decode_peer(ByteView in) {
  return decode_one<Peer>(in, [](cenc::Reader& r) { return decode_peer(r); });
}

void encode(cenc::Writer& w, const LookupReply& m) {
  w.uint(m.peers.size());
  for (const auto& p : m.peers)
    encode(w, p);
  w.uint(m.bump);
}
LookupReply decode_lookup_reply(cenc::Reader& r) {
  LookupReply m;
  const std::size_t n = r.array_count(kMinPeerSize);
  m.peers.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i)
    m.peers.push_back(decode_peer(r));
  if (r.ok() && !r.at_end()) m.bump = r.uint();
  return m;
}
Bytes encode(const LookupReply& m) {
  return encode_one(m);
}
Bytes encode_lookup_raw_reply(std::span<const Bytes> raw_peers, std::uint64_t bump) {
  Bytes out;
  cenc::Writer w(out);
  w.uint(raw_peers.size());
  for (const auto& p : raw_peers)
    w.raw(p);
  w.uint(bump);
  return out;
}
Result<LookupReply> decode_lookup_reply(ByteView in) {
  return decode_one<LookupReply>(in, [](cenc::Reader& r) { return decode_lookup_reply(r); });
}

void encode(cenc::Writer& w, const Announce& m) {
  const std::uint64_t flags = (m.peer ? 1u : 0u) | (m.refresh ? 2u : 0u) | (m.signature ? 4u : 0u) |
                              (m.bump != 0 ? 8u : 0u);
  w.uint(flags);
  if (m.peer) encode(w, *m.peer);
  if (m.refresh) w.fixed(*m.refresh);
  if (m.signature) w.fixed(*m.signature);
  if (m.bump != 0) w.uint(m.bump);
}
Announce decode_announce(cenc::Reader& r) {
  Announce m;
  const std::uint64_t flags = r.uint();
  if (flags & 1) m.peer = decode_peer(r);
  if (flags & 2) m.refresh = r.fixed<32>();
  if (flags & 4) m.signature = r.fixed<64>();
  if (flags & 8) m.bump = r.uint();
  return m;
}
Bytes encode(const Announce& m) {
  return encode_one(m);
}
Result<Announce> decode_announce(ByteView in) {
  return decode_one<Announce>(in, [](cenc::Reader& r) { return decode_announce(r); });
}

void encode(cenc::Writer& w, const MutableSignable& m) {
  w.uint(m.seq);
  w.buffer(m.value);
}
MutableSignable decode_mutable_signable(cenc::Reader& r) {
  MutableSignable m;
  m.seq = r.uint();
  m.value = to_bytes(r.buffer());
  return m;
}
Bytes encode(const MutableSignable& m) {
  return encode_one(m);
}
Result<MutableSignable> decode_mutable_signable(ByteView in) {
  return decode_one<MutableSignable>(in,
                                     [](cenc::Reader& r) { return decode_mutable_signable(r); });
}

void encode(cenc::Writer& w, const MutablePutRequest& m) {
  w.fixed(m.public_key);
  w.uint(m.seq);
  w.buffer(m.value);
  w.fixed(m.signature);
}
MutablePutRequest decode_mutable_put_request(cenc::Reader& r) {
  MutablePutRequest m;
  m.public_key = r.fixed<32>();
  m.seq = r.uint();
  m.value = to_bytes(r.buffer());
  m.signature = r.fixed<64>();
  return m;
}
Bytes encode(const MutablePutRequest& m) {
  return encode_one(m);
}
Result<MutablePutRequest> decode_mutable_put_request(ByteView in) {
  return decode_one<MutablePutRequest>(
      in, [](cenc::Reader& r) { return decode_mutable_put_request(r); });
}

void encode(cenc::Writer& w, const MutableGetResponse& m) {
  w.uint(m.seq);
  w.buffer(m.value);
  w.fixed(m.signature);
}
MutableGetResponse decode_mutable_get_response(cenc::Reader& r) {
  MutableGetResponse m;
  m.seq = r.uint();
  m.value = to_bytes(r.buffer());
  m.signature = r.fixed<64>();
  return m;
}
Bytes encode(const MutableGetResponse& m) {
  return encode_one(m);
}
Result<MutableGetResponse> decode_mutable_get_response(ByteView in) {
  return decode_one<MutableGetResponse>(
      in, [](cenc::Reader& r) { return decode_mutable_get_response(r); });
}

void encode(cenc::Writer& w, const PluginRequest& m) {
  w.string(m.plugin);
  w.uint(m.version);
  w.uint(m.command);
  w.uint(m.value ? 1 : 0);
  if (m.value) w.buffer(*m.value);
}
PluginRequest decode_plugin_request(cenc::Reader& r) {
  PluginRequest m;
  m.plugin = std::string(r.string());
  m.version = r.uint();
  m.command = r.uint();
  const std::uint64_t flags = r.uint();
  if (flags & 1) m.value = to_bytes(r.buffer());
  return m;
}
Bytes encode(const PluginRequest& m) {
  return encode_one(m);
}
Result<PluginRequest> decode_plugin_request(ByteView in) {
  return decode_one<PluginRequest>(in, [](cenc::Reader& r) { return decode_plugin_request(r); });
}

void encode(cenc::Writer& w, const HyperdhtAddress& m) {
  w.fixed(m.key);
  w.uint(m.nodes ? 1 : 0);
  if (m.nodes) cenc::ipv4_array(w, *m.nodes);
}
HyperdhtAddress decode_hyperdht_address(cenc::Reader& r) {
  HyperdhtAddress m;
  m.key = r.fixed<32>();
  // hyperschema: a missing flags byte means no optional fields (a bare 32-byte key).
  const std::uint64_t flags = r.ok() && !r.at_end() ? r.uint() : 0;
  if (flags & 1) m.nodes = cenc::ipv4_array(r);
  return m;
}
Bytes encode(const HyperdhtAddress& m) {
  return encode_one(m);
}
Result<HyperdhtAddress> decode_hyperdht_address(ByteView in) {
  return decode_one<HyperdhtAddress>(in,
                                     [](cenc::Reader& r) { return decode_hyperdht_address(r); });
}

}  // namespace hdht::msg
