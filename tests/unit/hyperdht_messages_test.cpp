// hyperdht messages (protocol/peer_messages, router_messages, noise_payload, records): round
// trips and every bad-input case, with the exact WireErrc or the reference's acceptance.
#include <catch2/catch.hpp>

#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_payload.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"
#include "protocol/router_messages.hpp"

using namespace hdht;
using namespace hdht::msg;

namespace {

Bytes hx(std::string_view h) {
  return *from_hex(h);
}
Ipv4Address addr(std::string_view s) {
  return *Ipv4Address::parse(s);
}
Bytes32 filled32(std::uint8_t b) {
  Bytes32 x{};
  x.fill(b);
  return x;
}
Bytes64 filled64(std::uint8_t b) {
  Bytes64 x{};
  x.fill(b);
  return x;
}

// Every strict prefix of a canonical encoding fails out_of_bounds, except the lengths the
// reference accepts (`ok_lengths`).
template <class Decode>
void check_truncations(const Bytes& wire, Decode decode, std::vector<std::size_t> ok_lengths = {}) {
  for (std::size_t n = 0; n < wire.size(); ++n) {
    INFO("prefix length " << n << " of " << to_hex(wire));
    const auto r = decode(ByteView(wire).first(n));
    if (std::find(ok_lengths.begin(), ok_lengths.end(), n) != ok_lengths.end()) {
      CHECK(r.has_value());
    } else {
      CHECK(r.error() == make_error_code(WireErrc::out_of_bounds));
    }
  }
}

template <class T, class Decode>
void check_round_trip(const T& m, Decode decode) {
  const Bytes wire = encode(m);
  const auto back = decode(ByteView(wire));
  REQUIRE(back);
  CHECK(*back == m);
  // Decoders ignore trailing bytes, as c.decode does.
  Bytes longer = wire;
  longer.push_back(0x99);
  const auto back2 = decode(ByteView(longer));
  REQUIRE(back2);
  CHECK(*back2 == m);
}

const Peer kPeer{filled32(0x3b), {addr("1.2.3.4:5678"), addr("10.0.0.1:49737")}};

}  // namespace

TEST_CASE("hyperdht constants", "[unit][hyperdht]") {
  CHECK(command::PLUGIN == 10);
  CHECK(router_mode::REPLY == 4);
  CHECK(payload_error::SEQ_TOO_LOW == 17);
  CHECK(to_hex(ns_announce()) ==
        "36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497");
  CHECK(&ns_announce() == &ns_announce());  // computed once
  CHECK(ns_secret_stream_initiator() != ns_secret_stream_responder());
}

TEST_CASE("peer record", "[unit][hyperdht]") {
  check_round_trip(kPeer, [](ByteView b) { return decode_peer(b); });
  check_round_trip(Peer{filled32(1), {}}, [](ByteView b) { return decode_peer(b); });
  const Bytes wire = encode(kPeer);
  CHECK(wire.size() == 32 + 1 + 12);
  check_truncations(wire, [](ByteView b) { return decode_peer(b); });
  // relay count past the bytes
  Bytes bad = wire;
  bad[32] = 3;
  CHECK(decode_peer(bad).error() == make_error_code(WireErrc::out_of_bounds));
  // count above compact-encoding's array cap
  Bytes huge(32, 0);
  for (auto b : hx("fe01001000"))
    huge.push_back(b);
  CHECK(decode_peer(huge).error() == make_error_code(WireErrc::array_too_long));
  // count of exactly the cap still fails only on the missing bytes
  Bytes cap(32, 0);
  for (auto b : hx("fe00001000"))
    cap.push_back(b);
  CHECK(decode_peer(cap).error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("lookupRawReply", "[unit][hyperdht]") {
  const LookupReply m{{kPeer, Peer{filled32(2), {}}}, 1700000000000ULL};
  check_round_trip(m, [](ByteView b) { return decode_lookup_reply(b); });
  const Bytes wire = encode(m);
  // Raw peers give the same bytes as encoded ones.
  const std::vector<Bytes> raw = {encode(m.peers[0]), encode(m.peers[1])};
  CHECK(encode_lookup_raw_reply(raw, m.bump) == wire);
  // Truncation: ending exactly before the bump is accepted (bump 0); anything else fails.
  const std::size_t without_bump = wire.size() - 9;
  check_truncations(wire, [](ByteView b) { return decode_lookup_reply(b); }, {without_bump});
  const auto nb = decode_lookup_reply(ByteView(wire).first(without_bump));
  REQUIRE(nb);
  CHECK(nb->bump == 0);
  CHECK(encode(LookupReply{}) == hx("0000"));
  // a bump above 2^53-1 is refused like compact-encoding does
  CHECK(decode_lookup_reply(hx("00ffffffffffffffff00")).error() ==
        make_error_code(WireErrc::integer_too_large));
  CHECK(decode_lookup_reply(hx("05")).error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("announce", "[unit][hyperdht]") {
  const auto dec = [](ByteView b) { return decode_announce(b); };
  for (int flags = 0; flags < 16; ++flags) {
    Announce m;
    if (flags & 1) m.peer = kPeer;
    if (flags & 2) m.refresh = filled32(0xcc);
    if (flags & 4) m.signature = filled64(0x55);
    if (flags & 8) m.bump = 0x1234567;
    INFO("flags " << flags);
    check_round_trip(m, dec);
    const Bytes wire = encode(m);
    CHECK(wire[0] == flags);
    check_truncations(wire, dec);
  }
  // bump 0 is not written, and an explicit bump flag with value 0 decodes to bump 0
  CHECK(encode(Announce{std::nullopt, std::nullopt, std::nullopt, 0}) == hx("00"));
  const auto z = decode_announce(hx("0800"));
  REQUIRE(z);
  CHECK(z->bump == 0);
  // unknown flag bits are ignored (and not re-encoded)
  const auto u = decode_announce(hx("f0"));
  REQUIRE(u);
  CHECK(*u == Announce{});
  const auto big = decode_announce(hx("fe00000100"));  // flags 0x10000: no known bit
  REQUIRE(big);
  CHECK(*big == Announce{});
  // wrong fixed lengths
  CHECK(decode_announce(Bytes(1 + 31, 0x02)).error() == make_error_code(WireErrc::out_of_bounds));
  Bytes sig_short(1 + 63, 0);
  sig_short[0] = 4;
  CHECK(decode_announce(sig_short).error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("mutable record messages", "[unit][hyperdht]") {
  const MutableSignable s{70000, hx("68656c6c6f")};
  check_round_trip(s, [](ByteView b) { return decode_mutable_signable(b); });
  CHECK(encode(s) == hx("fe70110100"
                        "05"
                        "68656c6c6f"));
  check_truncations(encode(s), [](ByteView b) { return decode_mutable_signable(b); });
  const MutablePutRequest p{filled32(7), 5, {}, filled64(9)};
  check_round_trip(p, [](ByteView b) { return decode_mutable_put_request(b); });
  check_truncations(encode(p), [](ByteView b) { return decode_mutable_put_request(b); });
  const MutableGetResponse g{0, Bytes(300, 0xab), filled64(1)};
  check_round_trip(g, [](ByteView b) { return decode_mutable_get_response(b); });
  check_truncations(encode(g), [](ByteView b) { return decode_mutable_get_response(b); });
  // value length past the end
  CHECK(decode_mutable_signable(hx("0105aa")).error() == make_error_code(WireErrc::out_of_bounds));
}

TEST_CASE("plugin request", "[unit][hyperdht]") {
  const auto dec = [](ByteView b) { return decode_plugin_request(b); };
  const PluginRequest with{"test", 1, 2, hx("beef")};
  check_round_trip(with, dec);
  CHECK(encode(with) == hx("047465737401020102beef"));
  check_truncations(encode(with), dec);
  const PluginRequest empty_value{"x", 0, 0, Bytes{}};
  CHECK(encode(empty_value) == hx("0178000001"
                                  "00"));  // an empty value is still present
  check_round_trip(empty_value, dec);
  const PluginRequest none{"test", 1, 2, std::nullopt};
  check_round_trip(none, dec);
  check_truncations(encode(none), dec);
  // invalid UTF-8 is accepted; the raw bytes are kept
  const auto bad = decode_plugin_request(hx("02ff41010200"));
  REQUIRE(bad);
  CHECK(bad->plugin == std::string("\xff"
                                   "A"));
  // unknown flag bits ignored
  const auto fl = decode_plugin_request(hx("0078010206"));
  REQUIRE(fl);
  CHECK_FALSE(fl->value.has_value());
}

TEST_CASE("hyperdht-address", "[unit][hyperdht]") {
  const auto dec = [](ByteView b) { return decode_hyperdht_address(b); };
  const HyperdhtAddress key_only{filled32(3), std::nullopt};
  const HyperdhtAddress with{filled32(3), std::vector<Ipv4Address>{addr("1.2.3.4:49737")}};
  const HyperdhtAddress empty_nodes{filled32(3), std::vector<Ipv4Address>{}};
  check_round_trip(key_only, dec);
  check_round_trip(with, dec);
  check_round_trip(empty_nodes, dec);
  // the flags byte may be missing (a bare key), nothing else may be
  check_truncations(encode(with), dec, {32});
  check_truncations(encode(key_only), dec, {32});
}

TEST_CASE("router handshake and holepunch messages", "[unit][hyperdht]") {
  const auto hdec = [](ByteView b) { return decode_handshake(b); };
  for (int flags = 0; flags < 4; ++flags) {
    Handshake m{router_mode::FROM_SECOND_RELAY, hx("00112233"), std::nullopt, std::nullopt};
    if (flags & 1) m.peer_address = addr("1.2.3.4:1000");
    if (flags & 2) m.relay_address = addr("5.6.7.8:2000");
    check_round_trip(m, hdec);
    check_truncations(encode(m), hdec);
  }
  const auto u = decode_handshake(hx("fc0400"));  // unknown flags only
  REQUIRE(u);
  CHECK_FALSE(u->peer_address);
  CHECK(u->mode == 4);
  CHECK(decode_handshake(hx("00000500")).error() == make_error_code(WireErrc::out_of_bounds));

  const auto pdec = [](ByteView b) { return decode_holepunch(b); };
  for (int flags = 0; flags < 2; ++flags) {
    Holepunch m{router_mode::FROM_RELAY, 0xfffffffffULL, Bytes(253, 1), std::nullopt};
    if (flags) m.peer_address = addr("9.9.9.9:65535");
    check_round_trip(m, pdec);
    check_truncations(encode(m), pdec);
  }
}

TEST_CASE("noise payload", "[unit][hyperdht]") {
  const auto dec = [](ByteView b) { return decode_noise_payload(b); };
  Ipv6Address v6;
  v6.ip[15] = 1;
  v6.port = 80;
  for (int flags = 0; flags < 128; ++flags) {
    NoisePayload m;
    m.error = payload_error::TRY_LATER;
    m.firewall = firewall::RANDOM;
    if (flags & 1) m.holepunch = HolepunchInfo{7, {{addr("1.1.1.1:1"), addr("2.2.2.2:2")}}};
    if (flags & 2) m.addresses4 = {addr("192.168.1.10:50000")};
    if (flags & 4) m.addresses6 = {v6};
    if (flags & 8) m.udx = UdxInfo{1, (flags & 16) != 0, 0x12345678, 9};
    if (flags & 16) m.secret_stream = SecretStreamInfo{};
    if (flags & 32) m.relay_through = RelayThroughInfo{1, filled32(1), filled32(2)};
    if (flags & 64) m.relay_addresses = std::vector<Ipv4Address>{};  // empty but present
    INFO("flags " << flags);
    const Bytes wire = encode(m);
    CHECK(wire[1] == flags);
    check_round_trip(m, dec);
    check_truncations(wire, dec);
  }
  // empty address lists are not written: flag 2/4 stay clear
  NoisePayload plain;
  plain.addresses4 = {};
  CHECK(encode(plain) == hx("01000000"));
  // version != 1: decoding stops and returns defaults with that version
  for (const char* h : {"02", "00ffffffff", "fd0001"}) {
    INFO(h);
    const auto r = decode_noise_payload(hx(h));
    REQUIRE(r);
    NoisePayload expected;
    expected.version = r->version;
    CHECK(r->version != 1);
    CHECK(*r == expected);
  }
  CHECK(decode_noise_payload(Bytes{}).error() == make_error_code(WireErrc::out_of_bounds));
  // sub-record versions and udx feature bits are decoded as sent; re-encoding writes 1 / bit 0
  const auto odd =
      decode_noise_payload(hx("01080000"
                              "07"
                              "03"
                              "05"
                              "06"));
  REQUIRE(odd);
  REQUIRE(odd->udx);
  CHECK(odd->udx->version == 7);
  CHECK(odd->udx->reusable_socket);
  CHECK(encode(*odd) == hx("01080000"
                           "01"
                           "01"
                           "05"
                           "06"));
  // relayThrough's reserved flags are read and ignored
  Bytes rt =
      hx("01200000"
         "01"
         "fd3412");
  rt.insert(rt.end(), 64, 0xee);
  const auto rtd = decode_noise_payload(rt);
  REQUIRE(rtd);
  REQUIRE(rtd->relay_through);
  CHECK(rtd->relay_through->token == filled32(0xee));
  // unknown flag bits (128 and up) are ignored
  const auto unk = decode_noise_payload(hx("01fd80000000"));
  REQUIRE(unk);
  CHECK(*unk == NoisePayload{});
  // relay count past the bytes, and array cap
  CHECK(decode_noise_payload(hx("0101000000"
                                "02"
                                "01020304050607080910111213"))
            .error() == make_error_code(WireErrc::out_of_bounds));
  CHECK(decode_noise_payload(hx("01020000fe01001000")).error() ==
        make_error_code(WireErrc::array_too_long));
}

TEST_CASE("holepunch payload", "[unit][hyperdht]") {
  const auto dec = [](ByteView b) { return decode_holepunch_payload(b); };
  for (int flags = 0; flags < 64; ++flags) {
    HolepunchPayload m{payload_error::NONE, firewall::CONSISTENT, 3,
                       (flags & 1) != 0,    (flags & 2) != 0,     std::nullopt,
                       std::nullopt,        std::nullopt,         std::nullopt};
    if (flags & 4) m.addresses = std::vector<Ipv4Address>{addr("203.0.113.5:40001")};
    if (flags & 8) m.remote_address = addr("198.51.100.7:50123");
    if (flags & 16) m.token = filled32(1);
    if (flags & 32) m.remote_token = filled32(2);
    INFO("flags " << flags);
    const Bytes wire = encode(m);
    CHECK(wire[0] == flags);
    check_round_trip(m, dec);
    check_truncations(wire, dec);
  }
  const auto unk = decode_holepunch_payload(hx("c0000000"));
  REQUIRE(unk);
  CHECK(*unk == HolepunchPayload{});
}

TEST_CASE("records: signables, signatures, targets", "[unit][hyperdht]") {
  const auto kp = crypto::key_pair_from_seed(filled32(0x42));
  const Peer peer{kp.public_key, {addr("1.2.3.4:5")}};
  const Bytes32 target = target_of(kp.public_key);
  CHECK(target == crypto::hash32(ByteView(kp.public_key)));
  const Bytes32 id = filled32(0xbb);
  const Bytes32 token = filled32(0xaa);
  const Bytes64 ann = announce_signable(target, id, token, peer, std::nullopt);
  CHECK(std::equal(ns_announce().begin(), ns_announce().end(), ann.begin()));
  const Bytes peer_bytes = encode(peer);
  CHECK(crypto::hash32({ByteView(target), ByteView(id), ByteView(token), ByteView(peer_bytes)}) ==
        *fixed_from_hex<32>(to_hex(ByteView(ann).subspan(32))));
  const Bytes64 sig = sign_announce(target, id, token, peer, std::nullopt, kp);
  CHECK(verify_announce(sig, target, id, token, peer, std::nullopt));
  // any changed input fails verification
  CHECK_FALSE(verify_announce(sig, target, filled32(0xbc), token, peer, std::nullopt));
  CHECK_FALSE(verify_announce(sig, target, id, token, peer, filled32(0)));
  Peer other = peer;
  other.relay_addresses.clear();
  CHECK_FALSE(verify_announce(sig, target, id, token, other, std::nullopt));
  CHECK_FALSE(verify_unannounce(sig, target, id, token, peer));
  const Bytes64 usig = sign_unannounce(target, id, token, peer, kp);
  CHECK(verify_unannounce(usig, target, id, token, peer));

  const Bytes value = hx("68656c6c6f");
  const Bytes64 msig = sign_mutable(5, value, kp);
  CHECK(verify_mutable(msig, 5, value, kp.public_key));
  CHECK_FALSE(verify_mutable(msig, 6, value, kp.public_key));
  CHECK_FALSE(verify_mutable(msig, 5, hx("68656c6c"), kp.public_key));
  CHECK(immutable_target(value) == crypto::hash32(ByteView(value)));
}

TEST_CASE("ipv6 host strings", "[unit][hyperdht]") {
  Ipv6Address a;
  a.ip[15] = 1;
  CHECK(a.host_string() == "0:0:0:0:0:0:0:1");
  CHECK(Ipv6Address::parse_host("::1") == a.ip);
  CHECK(Ipv6Address::parse_host("0:0:0:0:0:0:0:1") == a.ip);
  const auto full = Ipv6Address::parse_host("fe80:0:0:0:abcd:ef:1:ffff");
  REQUIRE(full);
  CHECK(Ipv6Address{*full, 0}.host_string() == "fe80:0:0:0:abcd:ef:1:ffff");
  CHECK_FALSE(Ipv6Address::parse_host("1:2:3"));
  CHECK_FALSE(Ipv6Address::parse_host("12345::"));
  CHECK_FALSE(Ipv6Address::parse_host("g::"));
}
