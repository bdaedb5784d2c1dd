// Registry ops of the Noise IK handshake and the holepunch secure payload (JS side:
// tests/interop/kinds/crypto.js): "noiseIK", "securePayloadEncrypt", "securePayloadDecrypt".
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/secret_stream.hpp"
#include "protocol/secure_payload.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

// The same corruptions the JS applies to a handshake message before it is read.
Bytes tamper(const Bytes& msg, const json& t) {
  Bytes b = msg;
  if (t.is_null()) return b;
  const std::string kind = t.at("kind");
  if (kind == "xor") {
    if (!b.empty())
      b[t.at("offset").get<std::size_t>() % b.size()] ^= t.at("xor").get<std::uint8_t>();
  } else if (kind == "truncate") {
    b.resize(std::min(t.at("length").get<std::size_t>(), b.size()));
  } else if (kind == "ephemeral") {
    const Bytes k = unhex(t.at("key"));
    std::copy_n(k.begin(), std::min(k.size(), b.size()), b.begin());
  } else if (kind == "extend") {
    b.insert(b.end(), t.at("length").get<std::size_t>(), 0xaa);
  } else {
    throw std::invalid_argument("unknown tamper " + kind);
  }
  return b;
}

json noise_ik(const json& in) {
  json out = {{"msg1", nullptr},
              {"payload1", nullptr},
              {"remoteStatic", nullptr},
              {"msg2", nullptr},
              {"payload2", nullptr},
              {"error", nullptr},
              {"hash", nullptr},
              {"initiatorTx", nullptr},
              {"initiatorRx", nullptr},
              {"responderTx", nullptr},
              {"responderRx", nullptr},
              {"holepunchSecret", nullptr},
              {"streamIdInitiator", nullptr},
              {"streamIdResponder", nullptr},
              {"sendKeyInitiator", nullptr},
              {"sendKeyResponder", nullptr}};
  const auto ikp = crypto::key_pair_from_seed(unhex_fixed<32>(in.at("initiatorSeed")));
  const auto rkp = crypto::key_pair_from_seed(unhex_fixed<32>(in.at("responderSeed")));
  const Bytes32 remote = in.at("responderStaticOverride").is_null()
                             ? rkp.public_key
                             : unhex_fixed<32>(in.at("responderStaticOverride"));
  auto ini = noise::IkHandshake::initiator(ikp, remote, msg::ns_peer_handshake());
  auto rsp = noise::IkHandshake::responder(rkp, msg::ns_peer_handshake());
  if (!ini.set_ephemeral(
          crypto::key_pair_from_seed(unhex_fixed<32>(in.at("initiatorEphemeralSeed")))) ||
      !rsp.set_ephemeral(
          crypto::key_pair_from_seed(unhex_fixed<32>(in.at("responderEphemeralSeed"))))) {
    throw std::logic_error("set_ephemeral refused in the initial state");
  }
  const json& t = in.at("tamper");
  const auto tamper_for = [&](int msg) {
    return !t.is_null() && t.at("msg") == msg ? t : json(nullptr);
  };

  auto m1 = ini.write_message(unhex(in.at("payload1")));
  if (!m1) return out["error"] = "write1", out;
  out["msg1"] = hex(*m1);
  auto p1 = rsp.read_message(tamper(*m1, tamper_for(1)));
  if (!p1) return out["error"] = "read1", out;
  out["payload1"] = hex(*p1);
  out["remoteStatic"] = hex(*rsp.remote_static());
  auto m2 = rsp.write_message(unhex(in.at("payload2")));
  if (!m2) return out["error"] = "write2", out;
  out["msg2"] = hex(*m2);
  auto p2 = ini.read_message(tamper(*m2, tamper_for(2)));
  if (!p2) return out["error"] = "read2", out;
  out["payload2"] = hex(*p2);

  const auto& si = *ini.session();
  const auto& sr = *rsp.session();
  out["hash"] = hex(si.handshake_hash);
  out["initiatorTx"] = hex(si.tx);
  out["initiatorRx"] = hex(si.rx);
  out["responderTx"] = hex(sr.tx);
  out["responderRx"] = hex(sr.rx);
  out["holepunchSecret"] = hex(noise::holepunch_secret(si.handshake_hash));
  out["streamIdInitiator"] = hex(sstream::stream_id(si.handshake_hash, true));
  out["streamIdResponder"] = hex(sstream::stream_id(si.handshake_hash, false));
  out["sendKeyInitiator"] = hex(sstream::send_key(si.handshake_hash, true));
  out["sendKeyResponder"] = hex(sstream::send_key(si.handshake_hash, false));
  return out;
}

}  // namespace

void register_noise(Registry& r) {
  crypto::init();
  r.add_op("noiseIK", noise_ik);
  r.add_op("securePayloadEncrypt", [](const json& in) {
    const Bytes wire = secure_payload::encrypt(
        unhex(in.at("plaintext")), unhex_fixed<32>(in.at("key")), unhex_fixed<24>(in.at("nonce")));
    const Bytes32 token = secure_payload::address_token(in.at("host").get<std::string>(),
                                                        unhex_fixed<32>(in.at("localSecret")));
    return json{{"wire", hex(wire)}, {"token", hex(token)}};
  });
  r.add_op("securePayloadDecrypt", [](const json& in) {
    auto plain = secure_payload::decrypt(unhex(in.at("wire")), unhex_fixed<32>(in.at("key")));
    return json{{"plaintext", plain ? json(hex(*plain)) : json(nullptr)}};
  });
}

}  // namespace hdht::interop
