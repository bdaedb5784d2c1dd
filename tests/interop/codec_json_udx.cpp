// Registry kind "udxPacket": a whole UDX datagram. Fields {type, dataOffset, id, rwnd, seq, ack,
// sacks: [[start, end], ...], padding, payload}; sacks are derived from the bytes (libudx's SACK
// area rule), so encoding uses header + padding + payload only. The bytes themselves come from
// libudx (tests/interop/udx-capture.js); the JS side of this kind is a field parser from the spec.
#include <array>

#include "protocol/udx_packet.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

Result<json> decode_udx(ByteView b) {
  auto p = udx::decode_packet(b);
  if (!p) return p.error();
  json sacks = json::array();
  for (std::size_t i = 0; i < p->sacks.size(); ++i) {
    const udx::SackBlock s = p->sacks[i];
    sacks.push_back(json::array({s.start, s.end}));
  }
  const udx::Header& h = p->header;
  return json{{"type", h.type},
              {"dataOffset", h.data_offset},
              {"id", h.id},
              {"rwnd", h.rwnd},
              {"seq", h.seq},
              {"ack", h.ack},
              {"sacks", sacks},
              {"padding", hex(p->padding)},
              {"payload", hex(p->payload)}};
}

Bytes encode_udx(const json& f) {
  udx::Header h;
  h.type = f.at("type").get<std::uint8_t>();
  h.data_offset = f.at("dataOffset").get<std::uint8_t>();
  h.id = f.at("id").get<std::uint32_t>();
  h.rwnd = f.at("rwnd").get<std::uint32_t>();
  h.seq = f.at("seq").get<std::uint32_t>();
  h.ack = f.at("ack").get<std::uint32_t>();
  const Bytes padding = unhex(f.at("padding"));
  const Bytes payload = unhex(f.at("payload"));
  if (padding.size() != h.data_offset) throw std::invalid_argument("padding length != dataOffset");
  Bytes out(udx::kHeaderSize + padding.size() + payload.size());
  if (udx::encode_packet(out, h, padding, payload) != out.size())
    throw std::logic_error("encode_packet length");
  return out;
}

}  // namespace

void register_udx(Registry& r) {
  r.add_codec("udxPacket", Codec{decode_udx, encode_udx});
}

}  // namespace hdht::interop
