#include "protocol/router_messages.hpp"

namespace hdht::msg {

void encode(cenc::Writer& w, const Handshake& m) {
  w.uint((m.peer_address ? 1u : 0u) | (m.relay_address ? 2u : 0u));
  w.uint(m.mode);
  w.buffer(m.noise);
  if (m.peer_address) w.ipv4_address(*m.peer_address);
  if (m.relay_address) w.ipv4_address(*m.relay_address);
}
Handshake decode_handshake(cenc::Reader& r) {
  Handshake m;
  const std::uint64_t flags = r.uint();
  m.mode = r.uint();
  m.noise = to_bytes(r.buffer());
  if (flags & 1) m.peer_address = r.ipv4_address();
  if (flags & 2) m.relay_address = r.ipv4_address();
  return m;
}
Bytes encode(const Handshake& m) {
  Bytes out;
  cenc::Writer w(out);
  encode(w, m);
  return out;
}
Result<Handshake> decode_handshake(ByteView in) {
  cenc::Reader r(in);
  return r.finish(decode_handshake(r));
}

void encode(cenc::Writer& w, const Holepunch& m) {
  w.uint(m.peer_address ? 1u : 0u);
  w.uint(m.mode);
  w.uint(m.id);
  w.buffer(m.payload);
  if (m.peer_address) w.ipv4_address(*m.peer_address);
}
Holepunch decode_holepunch(cenc::Reader& r) {
  Holepunch m;
  const std::uint64_t flags = r.uint();
  m.mode = r.uint();
  m.id = r.uint();
  m.payload = to_bytes(r.buffer());
  if (flags & 1) m.peer_address = r.ipv4_address();
  return m;
}
Bytes encode(const Holepunch& m) {
  Bytes out;
  cenc::Writer w(out);
  encode(w, m);
  return out;
}
Result<Holepunch> decode_holepunch(ByteView in) {
  cenc::Reader r(in);
  return r.finish(decode_holepunch(r));
}

}  // namespace hdht::msg
