// Registry kinds of protomux frames and blind-relay messages (JS side: tests/interop/kinds/udx.js,
// encoded by a real Protomux instance and blind-relay's message codecs):
//   protomuxMessage {channel, type, payload}          any frame protomux's parser accepts
//   protomuxOpen    {localId, protocol, id, handshake}
//   protomuxReject  {remoteId}        protomuxClose {localId}
//   protomuxBatch   {channel, entries: [{channel, type, payload}]}
//   blindRelayPair  {isInitiator, token, id, seq}     blindRelayUnpair {token}
#include "protocol/protomux.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

namespace pm = protomux;

// JS decodes the protocol with replacement characters for invalid UTF-8; nlohmann's replace
// handler substitutes the same way, so go through it to compare like with like.
std::string js_string(std::string_view raw) {
  return json::parse(json(std::string(raw)).dump(-1, ' ', false, json::error_handler_t::replace))
      .get<std::string>();
}

Result<pm::Frame> control_frame(ByteView b, std::uint64_t type) {
  if (auto v = pm::validate_frame(b); !v) return v.error();
  auto f = pm::decode_frame(b);
  if (!f) return f.error();
  if (f->channel != pm::kControlChannel || f->type != type) return WireErrc::bad_type;
  return f;
}

Codec message_codec() {
  return {[](ByteView b) -> Result<json> {
            if (auto v = pm::validate_frame(b); !v) return v.error();
            auto f = pm::decode_frame(b);
            if (!f) return f.error();
            return json{{"channel", f->channel}, {"type", f->type}, {"payload", hex(f->payload)}};
          },
          [](const json& f) {
            Bytes out;
            const Bytes payload = unhex(f.at("payload"));
            pm::encode_message(out, f.at("channel"), f.at("type"), payload);
            return out;
          }};
}

Codec open_codec() {
  return {[](ByteView b) -> Result<json> {
            auto f = control_frame(b, pm::kOpen);
            if (!f) return f.error();
            auto o = pm::decode_open(f->payload);
            if (!o) return o.error();
            return json{{"localId", o->local_id},
                        {"protocol", js_string(o->protocol)},
                        {"id", o->id ? json(hex(*o->id)) : json(nullptr)},
                        {"handshake", hex(o->handshake)}};
          },
          [](const json& f) {
            const std::string protocol = f.at("protocol");
            const Bytes handshake = unhex(f.at("handshake"));
            Bytes id;
            pm::Open o;
            o.local_id = f.at("localId");
            o.protocol = protocol;
            if (!f.at("id").is_null()) {
              id = unhex(f.at("id"));
              o.id = ByteView(id);
            }
            o.handshake = handshake;
            Bytes out;
            pm::encode_open(out, o);
            return out;
          }};
}

Codec id_codec(std::uint64_t type, const char* field) {
  return {[type, field](ByteView b) -> Result<json> {
            auto f = control_frame(b, type);
            if (!f) return f.error();
            auto id =
                type == pm::kReject ? pm::decode_reject(f->payload) : pm::decode_close(f->payload);
            if (!id) return id.error();
            return json{{field, *id}};
          },
          [type, field](const json& f) {
            Bytes out;
            if (type == pm::kReject)
              pm::encode_reject(out, f.at(field));
            else
              pm::encode_close(out, f.at(field));
            return out;
          }};
}

Codec batch_codec() {
  return {[](ByteView b) -> Result<json> {
            auto f = control_frame(b, pm::kBatch);
            if (!f) return f.error();
            pm::BatchReader rd(f->payload);
            json entries = json::array();
            pm::BatchEntry e;
            for (;;) {
              auto more = rd.next(e);
              if (!more) return more.error();
              if (!*more) break;
              auto m = pm::decode_message(e.channel, e.message);
              if (!m) return m.error();
              entries.push_back(
                  {{"channel", m->channel}, {"type", m->type}, {"payload", hex(m->payload)}});
            }
            return json{{"channel", rd.first_channel()}, {"entries", entries}};
          },
          [](const json& f) {
            pm::BatchWriter w;
            for (const json& e : f.at("entries"))
              w.add(e.at("channel"), e.at("type"), unhex(e.at("payload")));
            Bytes out;
            w.finish(out);
            return out;
          }};
}

Codec pair_codec() {
  return {[](ByteView b) -> Result<json> {
            auto m = pm::decode_relay_pair(b);
            if (!m) return m.error();
            return json{{"isInitiator", m->is_initiator},
                        {"token", hex(m->token)},
                        {"id", m->id},
                        {"seq", m->seq}};
          },
          [](const json& f) {
            pm::RelayPair m;
            m.is_initiator = f.at("isInitiator");
            m.token = unhex_fixed<32>(f.at("token"));
            m.id = f.at("id");
            m.seq = f.at("seq");
            Bytes out;
            pm::encode_relay_pair(out, m);
            return out;
          }};
}

Codec unpair_codec() {
  return {[](ByteView b) -> Result<json> {
            auto m = pm::decode_relay_unpair(b);
            if (!m) return m.error();
            return json{{"token", hex(m->token)}};
          },
          [](const json& f) {
            pm::RelayUnpair m;
            m.token = unhex_fixed<32>(f.at("token"));
            Bytes out;
            pm::encode_relay_unpair(out, m);
            return out;
          }};
}

}  // namespace

void register_protomux(Registry& r) {
  r.add_codec("protomuxMessage", message_codec());
  r.add_codec("protomuxOpen", open_codec());
  r.add_codec("protomuxReject", id_codec(pm::kReject, "remoteId"));
  r.add_codec("protomuxClose", id_codec(pm::kClose, "localId"));
  r.add_codec("protomuxBatch", batch_codec());
  r.add_codec("blindRelayPair", pair_codec());
  r.add_codec("blindRelayUnpair", unpair_codec());
}

}  // namespace hdht::interop
