#include "protocol/noise_payload.hpp"

#include "protocol/address_arrays.hpp"

namespace hdht::msg {
namespace {

constexpr std::size_t kRelayInfoSize = 12;

void encode_holepunch_info(cenc::Writer& w, const HolepunchInfo& m) {
  w.uint(m.id);
  w.uint(m.relays.size());
  for (const auto& ri : m.relays) {
    w.ipv4_address(ri.relay_address);
    w.ipv4_address(ri.peer_address);
  }
}

HolepunchInfo decode_holepunch_info(cenc::Reader& r) {
  HolepunchInfo m;
  m.id = r.uint();
  const std::size_t n = r.array_count(kRelayInfoSize);
  m.relays.reserve(n);
  for (std::size_t i = 0; i < n && r.ok(); ++i) {
    RelayInfo ri;
    ri.relay_address = r.ipv4_address();
    ri.peer_address = r.ipv4_address();
    m.relays.push_back(ri);
  }
  return m;
}

UdxInfo decode_udx_info(cenc::Reader& r) {
  UdxInfo m;
  m.version = r.uint();
  m.reusable_socket = (r.uint() & 1) != 0;
  m.id = r.uint();
  m.seq = r.uint();
  return m;
}

RelayThroughInfo decode_relay_through_info(cenc::Reader& r) {
  RelayThroughInfo m;
  m.version = r.uint();
  (void)r.uint();  // flags: reserved, ignored by the reference
  m.public_key = r.fixed<32>();
  m.token = r.fixed<32>();
  return m;
}

}  // namespace

void encode(cenc::Writer& w, const NoisePayload& m) {
  std::uint64_t flags = 0;
  if (m.holepunch) flags |= 1;
  if (!m.addresses4.empty()) flags |= 2;
  if (!m.addresses6.empty()) flags |= 4;
  if (m.udx) flags |= 8;
  if (m.secret_stream) flags |= 16;
  if (m.relay_through) flags |= 32;
  if (m.relay_addresses) flags |= 64;

  w.uint(1);
  w.uint(flags);
  w.uint(m.error);
  w.uint(m.firewall);
  if (m.holepunch) encode_holepunch_info(w, *m.holepunch);
  if (!m.addresses4.empty()) cenc::ipv4_array(w, m.addresses4);
  if (!m.addresses6.empty()) cenc::ipv6_array(w, m.addresses6);
  if (m.udx) {
    w.uint(1);
    w.uint(m.udx->reusable_socket ? 1 : 0);
    w.uint(m.udx->id);
    w.uint(m.udx->seq);
  }
  if (m.secret_stream) w.uint(1);
  if (m.relay_through) {
    w.uint(1);
    w.uint(0);
    w.fixed(m.relay_through->public_key);
    w.fixed(m.relay_through->token);
  }
  if (m.relay_addresses) cenc::ipv4_array(w, *m.relay_addresses);
}

NoisePayload decode_noise_payload(cenc::Reader& r) {
  NoisePayload m;
  m.version = r.uint();
  // A peer speaking another version gets its version back, undecoded, so the caller can answer
  // VERSION_MISMATCH instead of dropping the handshake.
  if (!r.ok() || m.version != 1) return m;
  const std::uint64_t flags = r.uint();
  m.error = r.uint();
  m.firewall = r.uint();
  if (flags & 1) m.holepunch = decode_holepunch_info(r);
  if (flags & 2) m.addresses4 = cenc::ipv4_array(r);
  if (flags & 4) m.addresses6 = cenc::ipv6_array(r);
  if (flags & 8) m.udx = decode_udx_info(r);
  if (flags & 16) m.secret_stream = SecretStreamInfo{r.uint()};
  if (flags & 32) m.relay_through = decode_relay_through_info(r);
  if (flags & 64) m.relay_addresses = cenc::ipv4_array(r);
  return m;
}

Bytes encode(const NoisePayload& m) {
  Bytes out;
  cenc::Writer w(out);
  encode(w, m);
  return out;
}
Result<NoisePayload> decode_noise_payload(ByteView in) {
  cenc::Reader r(in);
  return r.finish(decode_noise_payload(r));
}

void encode(cenc::Writer& w, const HolepunchPayload& m) {
  const std::uint64_t flags = (m.connected ? 1u : 0u) | (m.punching ? 2u : 0u) |
                              (m.addresses ? 4u : 0u) | (m.remote_address ? 8u : 0u) |
                              (m.token ? 16u : 0u) | (m.remote_token ? 32u : 0u);
  w.uint(flags);
  w.uint(m.error);
  w.uint(m.firewall);
  w.uint(m.round);
  if (m.addresses) cenc::ipv4_array(w, *m.addresses);
  if (m.remote_address) w.ipv4_address(*m.remote_address);
  if (m.token) w.fixed(*m.token);
  if (m.remote_token) w.fixed(*m.remote_token);
}

HolepunchPayload decode_holepunch_payload(cenc::Reader& r) {
  HolepunchPayload m;
  const std::uint64_t flags = r.uint();
  m.error = r.uint();
  m.firewall = r.uint();
  m.round = r.uint();
  m.connected = (flags & 1) != 0;
  m.punching = (flags & 2) != 0;
  if (flags & 4) m.addresses = cenc::ipv4_array(r);
  if (flags & 8) m.remote_address = r.ipv4_address();
  if (flags & 16) m.token = r.fixed<32>();
  if (flags & 32) m.remote_token = r.fixed<32>();
  return m;
}

Bytes encode(const HolepunchPayload& m) {
  Bytes out;
  cenc::Writer w(out);
  encode(w, m);
  return out;
}
Result<HolepunchPayload> decode_holepunch_payload(ByteView in) {
  cenc::Reader r(in);
  return r.finish(decode_holepunch_payload(r));
}

}  // namespace hdht::msg
