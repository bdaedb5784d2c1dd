// Registry kinds of the hyperdht codec family (see codec_registry.hpp and kinds/hyperdht.js).
#include <optional>
#include <string>

#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/noise_payload.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"
#include "protocol/router_messages.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

using namespace hdht::msg;

// The JS decodes strings with Buffer#toString('utf-8'): each maximal invalid subpart becomes
// U+FFFD (WHATWG). The same here, so mutated plugin names compare equal (and stay valid JSON).
std::string utf8_with_replacement(std::string_view in) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  std::string out;
  std::size_t i = 0;
  const std::size_t n = in.size();
  while (i < n) {
    const auto b = static_cast<std::uint8_t>(in[i]);
    if (b < 0x80) {
      out.push_back(static_cast<char>(b));
      ++i;
      continue;
    }
    std::size_t need = 0;
    std::uint8_t lower = 0x80;
    std::uint8_t upper = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      if (b == 0xe0) lower = 0xa0;
      if (b == 0xed) upper = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      if (b == 0xf0) lower = 0x90;
      if (b == 0xf4) upper = 0x8f;
    } else {
      out += kReplacement;
      ++i;
      continue;
    }
    std::size_t j = i + 1;
    bool ok = true;
    for (std::size_t k = 0; k < need; ++k, ++j) {
      if (j >= n) {
        ok = false;
        break;
      }
      const auto cb = static_cast<std::uint8_t>(in[j]);
      if (cb < (k == 0 ? lower : 0x80) || cb > (k == 0 ? upper : 0xbf)) {
        ok = false;
        break;
      }
    }
    if (ok) {
      out.append(in.substr(i, need + 1));
    } else {
      out += kReplacement;  // the offending byte (at j) starts the next sequence
    }
    i = j;
  }
  return out;
}

template <class T, class F>
json opt_json(const std::optional<T>& v, F f) {
  return v ? json(f(*v)) : json(nullptr);
}
template <class T, class F>
std::optional<T> opt_from(const json& j, F f) {
  if (j.is_null()) return std::nullopt;
  return f(j);
}

json addrs_json(const std::vector<Ipv4Address>& v) {
  json a = json::array();
  for (const auto& x : v)
    a.push_back(addr_json(x));
  return a;
}
std::vector<Ipv4Address> addrs_from(const json& j) {
  std::vector<Ipv4Address> out;
  for (const auto& x : j)
    out.push_back(addr_from_json(x));
  return out;
}
json addr6_json(const Ipv6Address& a) {
  return {{"host", a.host_string()}, {"port", a.port}};
}
Ipv6Address addr6_from(const json& j) {
  auto ip = Ipv6Address::parse_host(j.at("host").get<std::string>());
  if (!ip) throw std::invalid_argument("bad ipv6 host");
  return {*ip, j.at("port").get<std::uint16_t>()};
}
Bytes32 b32(const json& j) {
  return unhex_fixed<32>(j);
}
Bytes64 b64(const json& j) {
  return unhex_fixed<64>(j);
}
std::uint64_t u(const json& j) {
  return j.get<std::uint64_t>();
}

json peer_json(const Peer& p) {
  return {{"publicKey", hex(p.public_key)}, {"relayAddresses", addrs_json(p.relay_addresses)}};
}
Peer peer_from(const json& j) {
  return {b32(j.at("publicKey")), addrs_from(j.at("relayAddresses"))};
}

// A codec kind from a message's to/from JSON and its Result-returning decoder.
template <class T, class Dec, class ToJson, class FromJson>
void add(Registry& r, const std::string& kind, Dec dec, ToJson to_json, FromJson from_json) {
  r.add_codec(kind, Codec{[dec, to_json](ByteView b) -> Result<json> {
                            Result<T> m = dec(b);
                            if (!m) return m.error();
                            return to_json(*m);
                          },
                          [from_json](const json& f) { return encode(from_json(f)); }});
}

void register_messages(Registry& r) {
  add<Peer>(
      r, "peerRecord", [](ByteView b) { return decode_peer(b); }, peer_json, peer_from);

  add<LookupReply>(
      r, "lookupRawReply", [](ByteView b) { return decode_lookup_reply(b); },
      [](const LookupReply& m) {
        json peers = json::array();
        for (const auto& p : m.peers)
          peers.push_back(peer_json(p));
        return json{{"peers", peers}, {"bump", m.bump}};
      },
      [](const json& f) {
        LookupReply m;
        for (const auto& p : f.at("peers"))
          m.peers.push_back(peer_from(p));
        m.bump = u(f.at("bump"));
        return m;
      });

  add<Announce>(
      r, "announceMessage", [](ByteView b) { return decode_announce(b); },
      [](const Announce& m) {
        return json{{"peer", opt_json(m.peer, peer_json)},
                    {"refresh", opt_json(m.refresh, [](const Bytes32& x) { return hex(x); })},
                    {"signature", opt_json(m.signature, [](const Bytes64& x) { return hex(x); })},
                    {"bump", m.bump}};
      },
      [](const json& f) {
        return Announce{opt_from<Peer>(f.at("peer"), peer_from),
                        opt_from<Bytes32>(f.at("refresh"), b32),
                        opt_from<Bytes64>(f.at("signature"), b64), u(f.at("bump"))};
      });

  add<MutableSignable>(
      r, "mutableSignable", [](ByteView b) { return decode_mutable_signable(b); },
      [](const MutableSignable& m) {
        return json{{"seq", m.seq}, {"value", hex(m.value)}};
      },
      [](const json& f) {
        return MutableSignable{u(f.at("seq")), unhex(f.at("value"))};
      });

  add<MutablePutRequest>(
      r, "mutablePutRequest", [](ByteView b) { return decode_mutable_put_request(b); },
      [](const MutablePutRequest& m) {
        return json{{"publicKey", hex(m.public_key)},
                    {"seq", m.seq},
                    {"value", hex(m.value)},
                    {"signature", hex(m.signature)}};
      },
      [](const json& f) {
        return MutablePutRequest{b32(f.at("publicKey")), u(f.at("seq")), unhex(f.at("value")),
                                 b64(f.at("signature"))};
      });

  add<MutableGetResponse>(
      r, "mutableGetResponse", [](ByteView b) { return decode_mutable_get_response(b); },
      [](const MutableGetResponse& m) {
        return json{{"seq", m.seq}, {"value", hex(m.value)}, {"signature", hex(m.signature)}};
      },
      [](const json& f) {
        return MutableGetResponse{u(f.at("seq")), unhex(f.at("value")), b64(f.at("signature"))};
      });

  add<PluginRequest>(
      r, "pluginRequest", [](ByteView b) { return decode_plugin_request(b); },
      [](const PluginRequest& m) {
        return json{{"plugin", utf8_with_replacement(m.plugin)},
                    {"version", m.version},
                    {"command", m.command},
                    {"value", opt_json(m.value, [](const Bytes& x) { return hex(x); })}};
      },
      [](const json& f) {
        return PluginRequest{f.at("plugin").get<std::string>(), u(f.at("version")),
                             u(f.at("command")), opt_from<Bytes>(f.at("value"), unhex)};
      });

  add<HyperdhtAddress>(
      r, "hyperdhtAddress", [](ByteView b) { return decode_hyperdht_address(b); },
      [](const HyperdhtAddress& m) {
        return json{{"key", hex(m.key)}, {"nodes", opt_json(m.nodes, addrs_json)}};
      },
      [](const json& f) {
        return HyperdhtAddress{b32(f.at("key")),
                               opt_from<std::vector<Ipv4Address>>(f.at("nodes"), addrs_from)};
      });

  add<Handshake>(
      r, "peerHandshakeMessage", [](ByteView b) { return decode_handshake(b); },
      [](const Handshake& m) {
        return json{{"mode", m.mode},
                    {"noise", hex(m.noise)},
                    {"peerAddress", opt_json(m.peer_address, addr_json)},
                    {"relayAddress", opt_json(m.relay_address, addr_json)}};
      },
      [](const json& f) {
        return Handshake{u(f.at("mode")), unhex(f.at("noise")),
                         opt_from<Ipv4Address>(f.at("peerAddress"), addr_from_json),
                         opt_from<Ipv4Address>(f.at("relayAddress"), addr_from_json)};
      });

  add<Holepunch>(
      r, "peerHolepunchMessage", [](ByteView b) { return decode_holepunch(b); },
      [](const Holepunch& m) {
        return json{{"mode", m.mode},
                    {"id", m.id},
                    {"payload", hex(m.payload)},
                    {"peerAddress", opt_json(m.peer_address, addr_json)}};
      },
      [](const json& f) {
        return Holepunch{u(f.at("mode")), u(f.at("id")), unhex(f.at("payload")),
                         opt_from<Ipv4Address>(f.at("peerAddress"), addr_from_json)};
      });
}

json noise_payload_json(const NoisePayload& m) {
  json a6 = json::array();
  for (const auto& a : m.addresses6)
    a6.push_back(addr6_json(a));
  return json{
      {"version", m.version},
      {"error", m.error},
      {"firewall", m.firewall},
      {"holepunch", opt_json(m.holepunch,
                             [](const HolepunchInfo& h) {
                               json relays = json::array();
                               for (const auto& ri : h.relays)
                                 relays.push_back({{"relayAddress", addr_json(ri.relay_address)},
                                                   {"peerAddress", addr_json(ri.peer_address)}});
                               return json{{"id", h.id}, {"relays", relays}};
                             })},
      {"addresses4", addrs_json(m.addresses4)},
      {"addresses6", a6},
      {"udx", opt_json(m.udx,
                       [](const UdxInfo& x) {
                         return json{{"version", x.version},
                                     {"reusableSocket", x.reusable_socket},
                                     {"id", x.id},
                                     {"seq", x.seq}};
                       })},
      {"secretStream", opt_json(m.secret_stream,
                                [](const SecretStreamInfo& x) {
                                  return json{{"version", x.version}};
                                })},
      {"relayThrough", opt_json(m.relay_through,
                                [](const RelayThroughInfo& x) {
                                  return json{{"version", x.version},
                                              {"publicKey", hex(x.public_key)},
                                              {"token", hex(x.token)}};
                                })},
      {"relayAddresses", opt_json(m.relay_addresses, addrs_json)}};
}

// Accepts both the decoded form and the captured JS inputs (which omit versions and may omit
// addresses6/relayAddresses); the encoder ignores every version field, as the JS does.
NoisePayload noise_payload_from(const json& f) {
  auto field = [&f](const char* k) { return f.contains(k) ? f.at(k) : json(nullptr); };
  NoisePayload m;
  m.error = u(f.at("error"));
  m.firewall = u(f.at("firewall"));
  m.holepunch = opt_from<HolepunchInfo>(field("holepunch"), [](const json& h) {
    HolepunchInfo x;
    x.id = u(h.at("id"));
    for (const auto& ri : h.at("relays"))
      x.relays.push_back(
          {addr_from_json(ri.at("relayAddress")), addr_from_json(ri.at("peerAddress"))});
    return x;
  });
  if (!field("addresses4").is_null()) m.addresses4 = addrs_from(f.at("addresses4"));
  if (!field("addresses6").is_null())
    for (const auto& a : f.at("addresses6"))
      m.addresses6.push_back(addr6_from(a));
  m.udx = opt_from<UdxInfo>(field("udx"), [](const json& x) {
    return UdxInfo{1, x.at("reusableSocket").get<bool>(), u(x.at("id")), u(x.at("seq"))};
  });
  m.secret_stream = opt_from<SecretStreamInfo>(field("secretStream"),
                                               [](const json&) { return SecretStreamInfo{}; });
  m.relay_through = opt_from<RelayThroughInfo>(field("relayThrough"), [](const json& x) {
    return RelayThroughInfo{1, b32(x.at("publicKey")), b32(x.at("token"))};
  });
  m.relay_addresses = opt_from<std::vector<Ipv4Address>>(field("relayAddresses"), addrs_from);
  return m;
}

json holepunch_payload_json(const HolepunchPayload& m) {
  const auto h32 = [](const Bytes32& x) { return hex(x); };
  return json{{"error", m.error},
              {"firewall", m.firewall},
              {"round", m.round},
              {"connected", m.connected},
              {"punching", m.punching},
              {"addresses", opt_json(m.addresses, addrs_json)},
              {"remoteAddress", opt_json(m.remote_address, addr_json)},
              {"token", opt_json(m.token, h32)},
              {"remoteToken", opt_json(m.remote_token, h32)}};
}

HolepunchPayload holepunch_payload_from(const json& f) {
  auto field = [&f](const char* k) { return f.contains(k) ? f.at(k) : json(nullptr); };
  HolepunchPayload m;
  m.error = u(f.at("error"));
  m.firewall = u(f.at("firewall"));
  m.round = u(f.at("round"));
  m.connected = f.at("connected").get<bool>();
  m.punching = f.at("punching").get<bool>();
  m.addresses = opt_from<std::vector<Ipv4Address>>(field("addresses"), addrs_from);
  m.remote_address = opt_from<Ipv4Address>(field("remoteAddress"), addr_from_json);
  m.token = opt_from<Bytes32>(field("token"), b32);
  m.remote_token = opt_from<Bytes32>(field("remoteToken"), b32);
  return m;
}

void register_payloads(Registry& r) {
  add<NoisePayload>(
      r, "noisePayload", [](ByteView b) { return decode_noise_payload(b); }, noise_payload_json,
      noise_payload_from);
  add<HolepunchPayload>(
      r, "holepunchPayload", [](ByteView b) { return decode_holepunch_payload(b); },
      holepunch_payload_json, holepunch_payload_from);
}

json signed_output(const Bytes64& signable, const Bytes64& signature, bool verified) {
  return {{"signable", hex(signable)}, {"signature", hex(signature)}, {"verify", verified}};
}

void register_ops(Registry& r) {
  r.add_op("keyPairFromSeed", [](const json& in) {
    const auto kp = crypto::key_pair_from_seed(b32(in.at("seed")));
    return json{{"publicKey", hex(kp.public_key)}, {"secretKey", hex(kp.secret_key)}};
  });
  const auto ann = [](bool unannounce) {
    return [unannounce](const json& in) {
      const auto kp = crypto::key_pair_from_seed(b32(in.at("seed")));
      const Peer peer{kp.public_key, addrs_from(in.at("relayAddresses"))};
      const Bytes32 target = b32(in.at("target"));
      const Bytes32 node_id = b32(in.at("nodeId"));
      const Bytes32 token = b32(in.at("token"));
      const auto refresh = opt_from<Bytes32>(in.at("refresh"), b32);
      if (unannounce) {
        const Bytes64 sig = sign_unannounce(target, node_id, token, peer, kp);
        return signed_output(unannounce_signable(target, node_id, token, peer, refresh), sig,
                             verify_unannounce(sig, target, node_id, token, peer));
      }
      const Bytes64 sig = sign_announce(target, node_id, token, peer, refresh, kp);
      return signed_output(announce_signable(target, node_id, token, peer, refresh), sig,
                           verify_announce(sig, target, node_id, token, peer, refresh));
    };
  };
  r.add_op("announceSignable", ann(false));
  r.add_op("unannounceSignable", ann(true));
  r.add_op("mutableSignature", [](const json& in) {
    const auto kp = crypto::key_pair_from_seed(b32(in.at("seed")));
    const std::uint64_t seq = u(in.at("seq"));
    const Bytes value = unhex(in.at("value"));
    const Bytes64 sig = sign_mutable(seq, value, kp);
    return signed_output(mutable_signable(seq, value), sig,
                         verify_mutable(sig, seq, value, kp.public_key));
  });
  r.add_op("immutableTarget", [](const json& in) {
    return json{{"target", hex(immutable_target(unhex(in.at("value"))))}};
  });
  r.add_op("publicKeyTarget", [](const json& in) {
    return json{{"target", hex(target_of(b32(in.at("publicKey"))))}};
  });
  r.add_op("hyperdhtNamespaces", [](const json&) {
    return json{{"ANNOUNCE", hex(ns_announce())},
                {"UNANNOUNCE", hex(ns_unannounce())},
                {"MUTABLE_PUT", hex(ns_mutable_put())},
                {"PEER_HANDSHAKE", hex(ns_peer_handshake())},
                {"PEER_HOLEPUNCH", hex(ns_peer_holepunch())},
                {"PLUGIN", hex(ns_plugin())},
                {"NS_INITIATOR", hex(ns_secret_stream_initiator())},
                {"NS_RESPONDER", hex(ns_secret_stream_responder())},
                {"NS_SEND", hex(ns_secret_stream_send())}};
  });
}

}  // namespace

void register_hyperdht(Registry& r) {
  register_messages(r);
  register_payloads(r);
  register_ops(r);
}

}  // namespace hdht::interop
