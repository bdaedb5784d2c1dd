// ../shared/spec/vectors/hyperdht.json: every message and record section (not the Noise,
// secret-stream, secretbox or protomux ones), independently produced from the pinned JS.
#include <catch2/catch.hpp>

#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_payload.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"
#include "protocol/router_messages.hpp"
#include "tests/interop/codec_registry.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using namespace hdht::msg;
using nlohmann::json;
using testing::hx;
using testing::hx32;

namespace {
json doc() {
  return testing::load_shared("hyperdht.json");
}
Ipv4Address addr(const std::string& hp) {
  return *Ipv4Address::parse(hp);
}

// Payload inputs as the JS passed them (extra keys, omitted fields) through the registry's JSON
// encoder; the decode of the JS bytes through the registry's JSON decoder.
std::string encode_via_registry(const std::string& kind, const json& fields) {
  const json r = interop::handle_request({{"op", "encode"}, {"kind", kind}, {"fields", fields}});
  INFO(r.dump());
  REQUIRE(r.at("ok") == true);
  return r.at("hex");
}
json decode_via_registry(const std::string& kind, const json& hex) {
  const json r = interop::handle_request({{"op", "decode"}, {"kind", kind}, {"hex", hex}});
  INFO(r.dump());
  REQUIRE(r.at("ok") == true);
  CHECK(r.at("hex") == hex);  // canonical: re-encodes byte for byte
  return r.at("fields");
}
}  // namespace

TEST_CASE("shared vectors: hyperdht namespaces", "[vectors][shared]") {
  const json d = doc();
  const json& ns = d.at("namespaces");
  CHECK(to_hex(crypto::hash32(as_bytes("hyperswarm/dht"))) == ns.at("ns_base"));
  CHECK(to_hex(ns_announce()) == ns.at("ANNOUNCE"));
  CHECK(to_hex(ns_unannounce()) == ns.at("UNANNOUNCE"));
  CHECK(to_hex(ns_mutable_put()) == ns.at("MUTABLE_PUT"));
  CHECK(to_hex(ns_peer_handshake()) == ns.at("PEER_HANDSHAKE"));
  CHECK(to_hex(ns_peer_holepunch()) == ns.at("PEER_HOLEPUNCH"));
  CHECK(to_hex(ns_plugin()) == ns.at("PLUGIN"));
  const json& ss = d.at("secretStreamNamespaces");
  CHECK(to_hex(ns_secret_stream_initiator()) == ss.at("NS_INITIATOR"));
  CHECK(to_hex(ns_secret_stream_responder()) == ss.at("NS_RESPONDER"));
  CHECK(to_hex(ns_secret_stream_send()) == ss.at("NS_SEND"));
}

TEST_CASE("shared vectors: hyperdht key pairs and targets", "[vectors][shared]") {
  const json d = doc();
  for (const auto& kp : d.at("keyPairs")) {
    const auto k = crypto::key_pair_from_seed(hx32(kp.at("seed")));
    CHECK(to_hex(k.public_key) == kp.at("publicKey"));
    CHECK(to_hex(k.secret_key) == kp.at("secretKey"));
    CHECK(to_hex(target_of(k.public_key)) == kp.at("target_hash_of_publicKey"));
  }
  const json& im = d.at("immutable");
  CHECK(to_hex(immutable_target(hx(im.at("value")))) == im.at("target"));
  CHECK(to_hex(as_bytes(im.at("value_utf8").get<std::string>())) == im.at("value"));
}

TEST_CASE("shared vectors: announce, unannounce, refresh", "[vectors][shared]") {
  const json d = doc();
  {
    const json& a = d.at("announce");
    const auto kp = crypto::key_pair_from_seed(hx32(a.at("keyPairSeed")));
    Peer peer{kp.public_key, {}};
    for (const auto& ra : a.at("relayAddresses"))
      peer.relay_addresses.push_back(
          addr(ra.at("host").get<std::string>() + ":" + std::to_string(ra.at("port").get<int>())));
    CHECK(to_hex(encode(peer)) == a.at("peerRecordEncoding"));
    const Bytes32 target = hx32(a.at("target"));
    CHECK(target == target_of(kp.public_key));
    const Bytes32 token = hx32(a.at("token"));
    const Bytes32 node_id = hx32(a.at("nodeId"));
    const Bytes64 signable = announce_signable(target, node_id, token, peer, std::nullopt);
    CHECK(to_hex(signable) == a.at("signable"));
    CHECK(to_hex(ByteView(signable).subspan(32)) == a.at("innerHash"));
    const Bytes64 sig = sign_announce(target, node_id, token, peer, std::nullopt, kp);
    CHECK(to_hex(sig) == a.at("signature"));
    CHECK(verify_announce(sig, target, node_id, token, peer, std::nullopt) == a.at("verify"));
    CHECK_FALSE(verify_announce(sig, target, token, node_id, peer, std::nullopt));

    const Announce ann{peer, std::nullopt, sig, 0};
    CHECK(to_hex(encode(ann)) == a.at("announceValue"));
    const Bytes wire = hx(a.at("announceValue"));
    const auto back = decode_announce(wire);
    REQUIRE(back);
    CHECK(*back == ann);
  }
  {
    const json& u = d.at("unannounce");
    const auto kp = crypto::key_pair_from_seed(hx32(d.at("announce").at("keyPairSeed")));
    const Peer peer{kp.public_key, {}};
    CHECK(to_hex(encode(peer)) == u.at("peerRecordEncoding"));
    const Bytes32 target = hx32(u.at("target"));
    const Bytes32 token = hx32(u.at("token"));
    const Bytes32 node_id = hx32(u.at("nodeId"));
    const Bytes64 signable = unannounce_signable(target, node_id, token, peer, std::nullopt);
    CHECK(to_hex(signable) == u.at("signable"));
    CHECK(to_hex(ByteView(signable).subspan(32)) == u.at("innerHash"));
    const Bytes64 sig = sign_unannounce(target, node_id, token, peer, kp);
    CHECK(to_hex(sig) == u.at("signature"));
    CHECK(verify_unannounce(sig, target, node_id, token, peer));
    // An unannounce signature is not an announce signature (different namespace).
    CHECK_FALSE(verify_announce(sig, target, node_id, token, peer, std::nullopt));
    const Announce ann{peer, std::nullopt, sig, 0};
    CHECK(to_hex(encode(ann)) == u.at("unannounceValue"));
    const Bytes wire = hx(u.at("unannounceValue"));
    const auto back = decode_announce(wire);
    REQUIRE(back);
    CHECK(*back == ann);
  }
  {
    const json& a = d.at("announceWithRefreshAndBump");
    const auto kp = crypto::key_pair_from_seed(hx32(a.at("keyPairSeed")));
    const Peer peer{kp.public_key, {}};
    const Bytes32 topic = hx32(a.at("topic_is_hash_of_utf8_my_topic"));
    CHECK(topic == crypto::hash32(as_bytes("my topic")));
    const Bytes32 token = hx32(a.at("token"));
    const Bytes32 node_id = hx32(a.at("nodeId"));
    const Bytes32 refresh = hx32(a.at("refresh"));
    const Bytes64 signable = announce_signable(topic, node_id, token, peer, refresh);
    CHECK(to_hex(signable) == a.at("signable"));
    CHECK(to_hex(ByteView(signable).subspan(32)) == a.at("innerHash"));
    const Bytes64 sig = sign_announce(topic, node_id, token, peer, refresh, kp);
    CHECK(to_hex(sig) == a.at("signature"));
    CHECK(verify_announce(sig, topic, node_id, token, peer, refresh));
    CHECK_FALSE(verify_announce(sig, topic, node_id, token, peer, std::nullopt));
    const Announce ann{peer, refresh, sig, a.at("bump").get<std::uint64_t>()};
    CHECK(to_hex(encode(ann)) == a.at("announceValue"));
    const Bytes wire = hx(a.at("announceValue"));
    const auto back = decode_announce(wire);
    REQUIRE(back);
    CHECK(*back == ann);
  }
  {
    const json& r = d.at("refreshOnlyAnnounceValue");
    const Announce ann{std::nullopt, hx32(r.at("refresh")), std::nullopt, 0};
    CHECK(to_hex(encode(ann)) == r.at("value"));
    const Bytes wire = hx(r.at("value"));
    const auto back = decode_announce(wire);
    REQUIRE(back);
    CHECK(*back == ann);
  }
}

TEST_CASE("shared vectors: lookup and find-peer replies", "[vectors][shared]") {
  const json d = doc();
  const json& l = d.at("lookupReply");
  std::vector<Bytes> raw;
  for (const auto& p : l.at("peers"))
    raw.push_back(hx(p));
  CHECK(to_hex(encode_lookup_raw_reply(raw, l.at("bump").get<std::uint64_t>())) == l.at("value"));
  const Bytes value = hx(l.at("value"));
  const auto reply = decode_lookup_reply(value);
  REQUIRE(reply);
  REQUIRE(reply->peers.size() == raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i)
    CHECK(encode(reply->peers[i]) == raw[i]);
  CHECK(reply->bump == 0);
  CHECK(encode(*reply) == value);

  const Bytes with_bump = hx(l.at("valueWithBump"));
  const auto rb = decode_lookup_reply(with_bump);
  REQUIRE(rb);
  CHECK(rb->peers.size() == 1);
  CHECK(rb->bump == 1700000000000ULL);
  CHECK(encode(*rb) == with_bump);

  // "a missing trailing bump decodes as 0"
  const Bytes no_bump(value.begin(), value.end() - 1);
  const auto nb = decode_lookup_reply(no_bump);
  REQUIRE(nb);
  CHECK(nb->bump == 0);
  CHECK(nb->peers == reply->peers);

  const Bytes fp = hx(d.at("findPeerReply").at("value"));
  const auto peer = decode_peer(fp);
  REQUIRE(peer);
  CHECK(to_hex(peer->public_key) == d.at("keyPairs")[0].at("publicKey"));
  REQUIRE(peer->relay_addresses.size() == 1);
  CHECK(peer->relay_addresses[0].to_string() == "1.2.3.4:5678");
  CHECK(encode(*peer) == fp);
}

TEST_CASE("shared vectors: mutable and immutable records", "[vectors][shared]") {
  const json d = doc();
  const json& mu = d.at("mutable");
  const auto kp = crypto::key_pair_from_seed(hx32(mu.at("keyPairSeed")));
  CHECK(to_hex(kp.public_key) == mu.at("publicKey"));
  CHECK(to_hex(target_of(kp.public_key)) == mu.at("target"));
  const std::uint64_t seq = mu.at("seq");
  const Bytes value = hx(mu.at("value"));
  CHECK(to_hex(encode(MutableSignable{seq, value})) == mu.at("mutableSignableEncoding"));
  const Bytes64 signable = mutable_signable(seq, value);
  CHECK(to_hex(signable) == mu.at("signable"));
  CHECK(to_hex(ByteView(signable).subspan(32)) == mu.at("signableHash"));
  const Bytes64 sig = sign_mutable(seq, value, kp);
  CHECK(to_hex(sig) == mu.at("signature"));
  CHECK(verify_mutable(sig, seq, value, kp.public_key) == mu.at("verify"));
  CHECK_FALSE(verify_mutable(sig, seq + 1, value, kp.public_key));

  const MutablePutRequest put{kp.public_key, seq, value, sig};
  CHECK(to_hex(encode(put)) == mu.at("mutablePutRequestValue"));
  const Bytes put_wire = hx(mu.at("mutablePutRequestValue"));
  const auto put_back = decode_mutable_put_request(put_wire);
  REQUIRE(put_back);
  CHECK(*put_back == put);

  const MutableGetResponse get{seq, value, sig};
  CHECK(to_hex(encode(get)) == mu.at("mutableGetResponseValue"));
  const Bytes get_wire = hx(mu.at("mutableGetResponseValue"));
  const auto get_back = decode_mutable_get_response(get_wire);
  REQUIRE(get_back);
  CHECK(*get_back == get);

  for (const auto& [key, s] :
       {std::pair{"mutableGetRequestValue_seq0", 0}, std::pair{"mutableGetRequestValue_seq5", 5},
        std::pair{"mutableGetRequestValue_seq300", 300}}) {
    Bytes out;
    cenc::Writer w(out);
    w.uint(static_cast<std::uint64_t>(s));
    CHECK(to_hex(out) == mu.at(key));
  }

  const json& big = d.at("mutableBigSeq");
  const std::uint64_t big_seq = big.at("seq");
  CHECK(to_hex(encode(MutableSignable{big_seq, value})) == big.at("mutableSignableEncoding"));
  CHECK(to_hex(sign_mutable(big_seq, value, kp)) == big.at("signature"));
  const Bytes big_wire = hx(big.at("mutableSignableEncoding"));
  const auto big_back = decode_mutable_signable(big_wire);
  REQUIRE(big_back);
  CHECK(big_back->seq == big_seq);
}

TEST_CASE("shared vectors: plugin request and hyperdht-address", "[vectors][shared]") {
  const json d = doc();
  const json& p = d.at("pluginRequest");
  const json& ex = p.at("example");
  PluginRequest req{ex.at("plugin"), ex.at("version"), ex.at("command"), hx(ex.at("value"))};
  CHECK(to_hex(encode(req)) == p.at("encoding"));
  const Bytes wire = hx(p.at("encoding"));
  const auto back = decode_plugin_request(wire);
  REQUIRE(back);
  CHECK(*back == req);
  req.value.reset();
  CHECK(to_hex(encode(req)) == p.at("encodingNoValue"));
  const Bytes wire2 = hx(p.at("encodingNoValue"));
  const auto back2 = decode_plugin_request(wire2);
  REQUIRE(back2);
  CHECK(*back2 == req);

  const json& a = d.at("hyperdhtAddress");
  const Bytes32 key = crypto::key_pair_from_seed(Bytes32{}).public_key;
  CHECK(to_hex(encode(HyperdhtAddress{key, std::nullopt})) == a.at("keyOnly"));
  const HyperdhtAddress with{key, std::vector<Ipv4Address>{addr("1.2.3.4:49737")}};
  CHECK(to_hex(encode(with)) == a.at("withNodes"));
  const Bytes w = hx(a.at("withNodes"));
  const auto wb = decode_hyperdht_address(w);
  REQUIRE(wb);
  CHECK(*wb == with);
  const Bytes k = hx(a.at("keyOnly"));
  const auto kb = decode_hyperdht_address(k);
  REQUIRE(kb);
  CHECK(*kb == HyperdhtAddress{key, std::nullopt});
  // A bare 32-byte key (no flags byte) is an address too.
  const auto bare = decode_hyperdht_address(ByteView(k).first(32));
  REQUIRE(bare);
  CHECK(*bare == HyperdhtAddress{key, std::nullopt});
}

TEST_CASE("shared vectors: peer handshake and holepunch messages", "[vectors][shared]") {
  const json d = doc();
  const json& hs = d.at("peerHandshakeMessage");
  const Bytes noise = hx(hs.at("noise"));
  const auto a1 = addr("1.2.3.4:1000");
  const auto a2 = addr("5.6.7.8:2000");
  const auto a9 = addr("9.9.9.9:65535");
  const std::vector<std::pair<std::string, Handshake>> hcases = {
      {"FROM_CLIENT", {router_mode::FROM_CLIENT, noise, std::nullopt, std::nullopt}},
      {"FROM_RELAY_with_peerAddress", {router_mode::FROM_RELAY, noise, a1, std::nullopt}},
      {"FROM_SECOND_RELAY_with_both", {router_mode::FROM_SECOND_RELAY, noise, a1, a2}},
      {"FROM_SERVER", {router_mode::FROM_SERVER, noise, a1, std::nullopt}},
      {"REPLY", {router_mode::REPLY, noise, a9, std::nullopt}},
  };
  for (const auto& [name, m] : hcases) {
    INFO(name);
    CHECK(to_hex(encode(m)) == hs.at(name));
    const Bytes wire = hx(hs.at(name));
    const auto back = decode_handshake(wire);
    REQUIRE(back);
    CHECK(*back == m);
  }

  const json& hp = d.at("peerHolepunchMessage");
  const Bytes payload = hx(hp.at("payload"));
  const std::vector<std::pair<std::string, Holepunch>> pcases = {
      {"FROM_CLIENT", {router_mode::FROM_CLIENT, 3, payload, a1}},
      {"FROM_CLIENT_no_peerAddress", {router_mode::FROM_CLIENT, 3, payload, std::nullopt}},
      {"FROM_RELAY", {router_mode::FROM_RELAY, 3, payload, a1}},
      {"FROM_SERVER", {router_mode::FROM_SERVER, 0, payload, a1}},
      {"REPLY", {router_mode::REPLY, 0, payload, a2}},
  };
  for (const auto& [name, m] : pcases) {
    INFO(name);
    CHECK(to_hex(encode(m)) == hp.at(name));
    const Bytes wire = hx(hp.at(name));
    const auto back = decode_holepunch(wire);
    REQUIRE(back);
    CHECK(*back == m);
  }
}

TEST_CASE("shared vectors: noise payloads", "[vectors][shared]") {
  const json d = doc();
  for (const auto& [name, c] : d.at("noisePayloads").items()) {
    INFO(name);
    if (c.contains("input"))
      CHECK(encode_via_registry("noisePayload", c.at("input")) == c.at("encoding"));
    if (name == "unknownVersion") {
      const Bytes wire = hx(c.at("encoding"));
      const auto m = decode_noise_payload(wire);
      REQUIRE(m);
      CHECK(m->version == 2);
      const json r = interop::handle_request(
          {{"op", "decode"}, {"kind", "noisePayload"}, {"hex", c.at("encoding")}});
      CHECK(r.at("fields") == c.at("decoded"));
      continue;
    }
    CHECK(decode_via_registry("noisePayload", c.at("encoding")) == c.at("decoded"));
  }
  const json& hs = d.at("noiseHandshake");
  for (const char* msg : {"message1", "message2"})
    CHECK(decode_via_registry("noisePayload", hs.at(msg).at("payloadPlain")) ==
          hs.at(msg).at("payloadDecoded"));
}

TEST_CASE("shared vectors: captured noise and holepunch payloads", "[vectors][shared]") {
  const json d = doc();
  std::size_t n = 0;
  for (const char* section : {"capturedLocalConnection", "capturedRelayPairing"}) {
    for (const auto& c : d.at(section).at("noisePayloadsSent")) {
      INFO(section << " " << c.dump());
      CHECK(encode_via_registry("noisePayload", c.at("payload")) == c.at("encoded"));
      (void)decode_via_registry("noisePayload", c.at("encoded"));
      ++n;
    }
  }
  for (const auto& c : d.at("capturedLocalConnection").at("holepunchPayloadsSent")) {
    INFO(c.dump());
    CHECK(encode_via_registry("holepunchPayload", c.at("payload")) == c.at("plaintext"));
    const json back = decode_via_registry("holepunchPayload", c.at("plaintext"));
    CHECK(back.at("round") == c.at("payload").at("round"));
    ++n;
  }
  CHECK(n == 10);
}

TEST_CASE("shared vectors: holepunch payload plaintext", "[vectors][shared]") {
  const json d = doc();
  const json& hp = d.at("holepunchPayload");
  CHECK(encode_via_registry("holepunchPayload", hp.at("input")) == hp.at("plaintextEncoding"));
  CHECK(decode_via_registry("holepunchPayload", hp.at("plaintextEncoding")) ==
        hp.at("decryptedBack"));
  const json& mn = hp.at("minimal");
  CHECK(encode_via_registry("holepunchPayload", mn.at("input")) == mn.at("plaintextEncoding"));
  const Bytes wire = hx(mn.at("plaintextEncoding"));
  const auto m = decode_holepunch_payload(wire);
  REQUIRE(m);
  CHECK(*m == HolepunchPayload{1, 0, 3, false, false, std::nullopt, std::nullopt, std::nullopt,
                               std::nullopt});
}
