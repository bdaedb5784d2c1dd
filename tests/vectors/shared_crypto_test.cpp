// ../shared/spec/vectors/hyperdht.json: the Noise IK transcript, the holepunch secure payload,
// secret-stream frames and the unordered-message envelope, produced independently by the JS.
#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/errors.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_ik.hpp"
#include "protocol/secret_stream.hpp"
#include "protocol/secure_payload.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using nlohmann::json;
using testing::hx;

namespace {
template <std::size_t N>
FixedBytes<N> fx(const json& j) {
  auto v = fixed_from_hex<N>(j.get<std::string>());
  REQUIRE(v);
  return *v;
}
crypto::KeyPair kp(const json& seed) {
  return crypto::key_pair_from_seed(fx<32>(seed));
}
}  // namespace

TEST_CASE("shared vectors: noise IK handshake", "[vectors][shared]") {
  crypto::init();
  const json v = testing::load_shared("hyperdht.json").at("noiseHandshake");
  const json& in = v.at("initiator");
  const json& re = v.at("responder");
  const json& mid = v.at("intermediate");
  const json& res = v.at("result");

  CHECK(v.at("protocolName") == std::string(noise::kProtocolName));
  CHECK(to_hex(msg::ns_peer_handshake()) == v.at("prologue"));
  const auto is = kp(in.at("seed"));
  const auto ie = kp(in.at("ephemeralSeed"));
  const auto rs = kp(re.at("seed"));
  const auto rE = kp(re.at("ephemeralSeed"));
  CHECK(to_hex(is.public_key) == in.at("publicKey"));
  CHECK(to_hex(is.secret_key) == in.at("secretKey"));
  CHECK(to_hex(ie.public_key) == in.at("ephemeralPublicKey"));
  CHECK(to_hex(rE.public_key) == re.at("ephemeralPublicKey"));

  auto dh_es = noise::dh(ie, rs.public_key);
  REQUIRE(dh_es);
  CHECK(to_hex(*dh_es) == mid.at("dh_es_initiator_view_scalarmult_ed25519"));
  // DH is symmetric: the responder's static with the initiator's ephemeral.
  CHECK(*noise::dh(rs, ie.public_key) == *dh_es);

  // h after the prologue alone: a handshake whose pre-message has not been mixed yet is not
  // reachable through the API, so recompute it from the padded protocol name.
  const Bytes h0 = hx(mid.at("h_initial_protocolName_padded64"));
  CHECK(hx(mid.at("ck_initial")) == h0);
  CHECK(to_hex(crypto::hash64({ByteView(h0), ByteView(msg::ns_peer_handshake())})) ==
        mid.at("h_after_prologue"));

  auto ini = noise::IkHandshake::initiator(is, rs.public_key, msg::ns_peer_handshake());
  auto rsp = noise::IkHandshake::responder(rs, msg::ns_peer_handshake());
  CHECK(to_hex(ini.hash()) == mid.at("h_after_responder_static"));
  CHECK(to_hex(rsp.hash()) == mid.at("h_after_responder_static"));
  CHECK(to_hex(ini.chaining_key()) == mid.at("ck_initial"));
  REQUIRE(ini.set_ephemeral(ie));
  REQUIRE(rsp.set_ephemeral(rE));

  const Bytes p1 = hx(v.at("message1").at("payloadPlain"));
  const Bytes p2 = hx(v.at("message2").at("payloadPlain"));
  auto m1 = ini.write_message(p1);
  REQUIRE(m1);
  CHECK(to_hex(*m1) == v.at("message1").at("bytes"));
  CHECK(m1->size() == v.at("message1").at("length").get<std::size_t>());
  auto got1 = rsp.read_message(*m1);
  REQUIRE(got1);
  CHECK(*got1 == p1);
  REQUIRE(rsp.remote_static());
  CHECK(*rsp.remote_static() == is.public_key);

  auto m2 = rsp.write_message(p2);
  REQUIRE(m2);
  CHECK(to_hex(*m2) == v.at("message2").at("bytes"));
  CHECK(m2->size() == v.at("message2").at("length").get<std::size_t>());
  auto got2 = ini.read_message(*m2);
  REQUIRE(got2);
  CHECK(*got2 == p2);

  REQUIRE(ini.complete());
  REQUIRE(rsp.complete());
  const auto& si = *ini.session();
  const auto& sr = *rsp.session();
  CHECK(to_hex(si.handshake_hash) == res.at("handshakeHash"));
  CHECK(to_hex(sr.handshake_hash) == res.at("handshakeHash"));
  CHECK(to_hex(si.tx) == res.at("initiator_tx"));
  CHECK(to_hex(si.rx) == res.at("initiator_rx"));
  CHECK(to_hex(sr.tx) == res.at("responder_tx"));
  CHECK(to_hex(sr.rx) == res.at("responder_rx"));
  CHECK(si.remote_public_key == rs.public_key);
  CHECK(sr.remote_public_key == is.public_key);
  CHECK(to_hex(noise::holepunch_secret(si.handshake_hash)) == res.at("holepunchSecret"));
  CHECK(to_hex(sstream::stream_id(si.handshake_hash, true)) == res.at("streamId_initiator"));
  CHECK(to_hex(sstream::stream_id(si.handshake_hash, false)) == res.at("streamId_responder"));
  CHECK(to_hex(sstream::stream_id(sr.handshake_hash, true)) == res.at("responder_remoteId"));
  CHECK(to_hex(sstream::stream_id(si.handshake_hash, false)) == res.at("initiator_remoteId"));
  CHECK(to_hex(sstream::send_key(si.handshake_hash, true)) == res.at("udpSendKey_initiator"));
  CHECK(to_hex(sstream::send_key(si.handshake_hash, false)) == res.at("udpSendKey_responder"));
}

TEST_CASE("shared vectors: holepunch secure payload", "[vectors][shared]") {
  crypto::init();
  const json all = testing::load_shared("hyperdht.json");
  const json& v = all.at("holepunchPayload");
  const Bytes plain = hx(v.at("plaintextEncoding"));
  const auto key = fx<32>(v.at("holepunchSecret"));
  const auto nonce = fx<24>(v.at("nonce"));
  const Bytes wire = secure_payload::encrypt(plain, key, nonce);
  CHECK(to_hex(wire) == v.at("wireBytes_nonce_then_secretbox"));
  auto back = secure_payload::decrypt(wire, key);
  REQUIRE(back);
  CHECK(*back == plain);

  const json& t = v.at("tokenExample");
  CHECK(to_hex(secure_payload::address_token(t.at("host").get<std::string>(),
                                             fx<32>(t.at("localSecret")))) == t.at("token"));

  const json& w = all.at("holepunchPayloadWithHandshakeSecret");
  CHECK(w.at("holepunchSecret") == all.at("noiseHandshake").at("result").at("holepunchSecret"));
  const auto key2 = fx<32>(w.at("holepunchSecret"));
  CHECK(to_hex(secure_payload::encrypt(plain, key2, fx<24>(w.at("nonce")))) == w.at("wire"));
  auto back2 = secure_payload::decrypt(hx(w.at("wire")), key2);
  REQUIRE(back2);
  CHECK(*back2 == plain);
  // The other key must not open it.
  CHECK(secure_payload::decrypt(hx(w.at("wire")), key).error() ==
        make_error_code(WireErrc::decrypt_failed));
}

TEST_CASE("shared vectors: secret-stream frames", "[vectors][shared]") {
  crypto::init();
  const json all = testing::load_shared("hyperdht.json");
  const json& v = all.at("secretStream");
  const json& res = all.at("noiseHandshake").at("result");
  const auto hash = fx<64>(res.at("handshakeHash"));
  const auto responder_rx = fx<32>(res.at("responder_rx"));

  const Bytes ih = hx(v.at("initiatorHeaderMessage"));
  const Bytes rh = hx(v.at("responderHeaderMessage"));
  REQUIRE(ih.size() == sstream::kHeaderMessageBytes);
  REQUIRE(rh.size() == sstream::kHeaderMessageBytes);
  sstream::Header header;
  std::copy_n(ih.begin() + 35, header.size(), header.begin());
  const auto rebuilt = sstream::header_message(sstream::stream_id(hash, true), header);
  CHECK(Bytes(rebuilt.begin(), rebuilt.end()) == ih);
  CHECK(to_hex(ByteView(rh).subspan(3, 32)) == res.at("streamId_responder"));

  // Re-encrypting from the same header with the initiator's tx gives the same frames.
  sstream::Encryptor enc(fx<32>(res.at("initiator_tx")), header);
  Bytes stream(ih);
  for (const auto& f : v.at("initiatorFrames")) {
    Bytes frame;
    REQUIRE(enc.append_frame(hx(f.at("plaintext")), frame));
    CHECK(to_hex(frame) == f.at("frame"));
    CHECK(frame.size() == 3 + f.at("declaredLength").get<std::size_t>());
    const Bytes wire = hx(f.at("frame"));
    stream.insert(stream.end(), wire.begin(), wire.end());
  }

  // The responder, not filtering keepalives, gets "hello", "", "world!", whatever the chunking.
  for (std::size_t step : {std::size_t{1}, std::size_t{2}, std::size_t{7}, stream.size()}) {
    sstream::Receiver rx(responder_rx, sstream::stream_id(hash, true), /*filter_empty=*/false);
    std::vector<std::string> got;
    for (std::size_t at = 0; at < stream.size(); at += step) {
      ByteView chunk = ByteView(stream).subspan(at, std::min(step, stream.size() - at));
      while (true) {
        auto m = rx.next(chunk);
        REQUIRE(m);
        if (!*m) break;
        got.push_back(to_hex(**m));
      }
    }
    CHECK(got == v.at("receivedByResponder").get<std::vector<std::string>>());
  }
}

TEST_CASE("shared vectors: unordered message and secret-stream namespaces", "[vectors][shared]") {
  crypto::init();
  const json all = testing::load_shared("hyperdht.json");
  const json& ns = all.at("secretStreamNamespaces");
  CHECK(to_hex(msg::ns_secret_stream_initiator()) == ns.at("NS_INITIATOR"));
  CHECK(to_hex(msg::ns_secret_stream_responder()) == ns.at("NS_RESPONDER"));
  CHECK(to_hex(msg::ns_secret_stream_send()) == ns.at("NS_SEND"));

  const json& v = all.at("unorderedMessage");
  REQUIRE(v.at("sender") == "initiator");
  const auto key = fx<32>(v.at("key"));
  const auto hash = fx<64>(all.at("noiseHandshake").at("result").at("handshakeHash"));
  CHECK(sstream::send_key(hash, true) == key);
  const auto start = fx<8>(v.at("counterBefore"));
  sstream::UnorderedSender tx(key, start, start);
  const std::string text = v.at("plaintext_utf8");
  auto env = tx.seal(as_bytes(text));
  REQUIRE(env);
  CHECK(to_hex(tx.counter()) == v.at("counterAfterIncrement"));
  CHECK(to_hex(*env) == v.at("envelope"));
  auto back = sstream::open_unordered(hx(v.at("envelope")), key);
  REQUIRE(back);
  CHECK(std::string(back->begin(), back->end()) == v.at("decrypted"));
}
