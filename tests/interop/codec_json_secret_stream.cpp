// Registry ops of secret-stream framing and unordered messages (JS side:
// tests/interop/kinds/crypto.js): "secretStreamFrames", "secretStreamOpen", "unorderedEnvelope",
// "unorderedOpen".
#include "protocol/crypto.hpp"
#include "protocol/secret_stream.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

json frames(const json& in) {
  const auto hash = unhex_fixed<64>(in.at("hash"));
  const auto header = unhex_fixed<sstream::kHeaderBytes>(in.at("header"));
  sstream::Encryptor enc(unhex_fixed<32>(in.at("tx")), header);
  const auto hm = sstream::header_message(sstream::stream_id(hash, in.at("isInitiator")), header);
  json out = {{"headerMessage", hex(hm)}, {"frames", json::array()}};
  for (const auto& m : in.at("messages")) {
    Bytes f;
    if (!enc.append_frame(unhex(m), f)) throw std::invalid_argument("frame too large");
    out["frames"].push_back(hex(f));
  }
  return out;
}

json open(const json& in) {
  const auto hash = unhex_fixed<64>(in.at("hash"));
  const bool initiator = in.at("isInitiator");
  sstream::Receiver rx(unhex_fixed<32>(in.at("rx")), sstream::stream_id(hash, !initiator),
                       in.at("filterEmpty").get<bool>());
  json out = {{"messages", json::array()}, {"error", nullptr}};
  for (const auto& c : in.at("chunks")) {
    const Bytes bytes = unhex(c);
    ByteView chunk(bytes);
    for (;;) {
      auto m = rx.next(chunk);
      if (!m) {
        out["error"] = std::string(rx.error_message());
        return out;
      }
      if (!*m) break;
      out["messages"].push_back(hex(**m));
    }
  }
  return out;
}

json envelope(const json& in) {
  const auto hash = unhex_fixed<64>(in.at("hash"));
  const Bytes32 key = sstream::send_key(hash, in.at("isInitiator"));
  sstream::UnorderedSender tx(key, unhex_fixed<8>(in.at("counter")),
                              unhex_fixed<8>(in.at("initial")));
  json out = {{"envelopes", json::array()}, {"exhausted", false}, {"key", hex(key)}};
  for (const auto& m : in.at("messages")) {
    auto e = tx.seal(unhex(m));
    if (!e) {
      out["exhausted"] = true;
      break;
    }
    out["envelopes"].push_back(hex(*e));
  }
  return out;
}

json open_unordered(const json& in) {
  const auto hash = unhex_fixed<64>(in.at("hash"));
  // A side opens what the other role sent.
  const Bytes32 key = sstream::send_key(hash, !in.at("isInitiator").get<bool>());
  auto m = sstream::open_unordered(unhex(in.at("envelope")), key);
  return json{{"message", m ? json(hex(*m)) : json(nullptr)}};
}

}  // namespace

void register_secret_stream(Registry& r) {
  crypto::init();
  r.add_op("secretStreamFrames", frames);
  r.add_op("secretStreamOpen", open);
  r.add_op("unorderedEnvelope", envelope);
  r.add_op("unorderedOpen", open_unordered);
}

}  // namespace hdht::interop
