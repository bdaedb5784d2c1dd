// ../shared/spec/vectors/dht-rpc.json: node ids, tokens, messages, ignored packets and the XOR
// ordering, produced independently from the JS reference.
#include <catch2/catch.hpp>

#include "protocol/compact.hpp"
#include "protocol/node_id.hpp"
#include "protocol/rpc_message.hpp"
#include "protocol/rpc_token.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using namespace hdht::rpc;
using nlohmann::json;
using testing::hx;
using testing::hx32;

namespace {

Ipv4Address addr(const json& j) {
  return {*Ipv4Address::parse_host(j.at("host").get<std::string>()),
          j.at("port").get<std::uint16_t>()};
}
json addr_json(const Ipv4Address& a) {
  return {{"host", a.host_string()}, {"port", a.port}};
}
template <class T>
json opt_hex(const std::optional<T>& b) {
  return b ? json(to_hex(*b)) : json(nullptr);
}

// The JS receive path's view of a message: `from` is the UDP source with the id validated
// against it, exactly as io.js validateId leaves it.
json from_json(const std::optional<Bytes32>& claimed, const Ipv4Address& source) {
  json f = addr_json(source);
  f["id"] = opt_hex(verified_id(claimed, source));
  return f;
}

json decoded_json(const Request& m, const Ipv4Address& source) {
  return {{"tid", m.tid},
          {"from", from_json(m.id, source)},
          {"to", addr_json(m.to)},
          {"token", opt_hex(m.token)},
          {"internal", m.internal},
          {"command", m.command},
          {"target", opt_hex(m.target)},
          {"value", opt_hex(m.value)}};
}

json decoded_json(const Response& m, const Ipv4Address& source) {
  json closer = nullptr;
  if (!m.closer_nodes.empty()) {
    closer = json::array();
    for (const auto& a : m.closer_nodes)
      closer.push_back(addr_json(a));
  }
  return {{"tid", m.tid},
          {"from", from_json(m.id, source)},
          {"to", addr_json(m.to)},
          {"token", opt_hex(m.token)},
          {"closerNodes", closer},
          {"error", m.error},
          {"value", opt_hex(m.value)}};
}

}  // namespace

TEST_CASE("shared vectors: dht-rpc node ids", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("nodeIds");
  REQUIRE(v.size() >= 6);
  for (const auto& c : v) {
    const Ipv4Address a = addr(c);
    INFO(a.to_string());
    Bytes raw;
    cenc::Writer(raw).ipv4_address(a);
    CHECK(to_hex(raw) == c.at("hashInputHex"));
    CHECK(to_hex(node_id(a)) == c.at("idHex"));
  }
}

TEST_CASE("shared vectors: dht-rpc tokens and rotation", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("tokens");
  const Bytes32 s0 = hx32(v.at("secret0Hex"));
  const Bytes32 s1 = hx32(v.at("secret1Hex"));
  const TokenSecrets secrets(s0, s1);
  REQUIRE(v.at("tokens").size() == 3);
  for (const auto& c : v.at("tokens")) {
    const std::string host = c.at("host");
    INFO(host);
    CHECK(to_hex(as_bytes(host)) == c.at("hostBytesHex"));
    CHECK(to_hex(rpc_token(host, s0)) == c.at("tokenWithSecret0Hex"));
    CHECK(to_hex(rpc_token(host, s1)) == c.at("tokenWithSecret1Hex"));
    CHECK(to_hex(secrets.issue(host)) == c.at("tokenWithSecret1Hex"));
    CHECK(secrets.accepts(host, hx32(c.at("tokenWithSecret0Hex"))));
    CHECK(secrets.accepts(host, hx32(c.at("tokenWithSecret1Hex"))));
  }
  const json& rot = v.at("rotation");
  TokenSecrets r(hx32(rot.at("before").at("secret0Hex")), hx32(rot.at("before").at("secret1Hex")));
  r.rotate();
  CHECK(to_hex(r.secret(0)) == rot.at("after").at("secret0Hex"));
  CHECK(to_hex(r.secret(1)) == rot.at("after").at("secret1Hex"));
}

TEST_CASE("shared vectors: dht-rpc messages decode, validate and re-encode", "[vectors][shared]") {
  const json all = testing::load_shared("dht-rpc.json");
  const json& ctx = all.at("messageContext").at("B");
  const TokenSecrets responder(hx32(ctx.at("secret0Hex")), hx32(ctx.at("secret1Hex")));
  const json& v = all.at("messages");
  REQUIRE(v.size() == 22);
  for (const auto& c : v) {
    INFO(c.at("name").get<std::string>());
    const Bytes bytes = hx(c.at("hex"));
    CHECK(bytes.size() == c.at("length").get<std::size_t>());
    const Ipv4Address source = addr(c.at("receivedFrom"));
    auto m = decode_message(bytes);
    REQUIRE(m);
    if (c.at("kind") == "request") {
      REQUIRE(std::holds_alternative<Request>(*m));
      const Request& req = std::get<Request>(*m);
      // A null `decoded` is a request the bytes carry fine but the token check refuses.
      if (c.at("decoded").is_null()) {
        CHECK(c.at("deliveredToApp") == false);
        REQUIRE(req.token);
      } else {
        CHECK(decoded_json(req, source) == c.at("decoded"));
      }
      CHECK(to_hex(encode(req)) == c.at("hex"));
      // Requests sent to B with a token: only B's own tokens get through to the application.
      if (req.token && c.at("receivedFrom").at("host") == "10.1.1.1") {
        const bool delivered = c.value("deliveredToApp", true);
        CHECK(responder.accepts(source.host_string(), *req.token) == delivered);
      }
    } else {
      REQUIRE(std::holds_alternative<Response>(*m));
      const Response& res = std::get<Response>(*m);
      CHECK(decoded_json(res, source) == c.at("decoded"));
      CHECK(to_hex(encode(res)) == c.at("hex"));
      if (c.contains("tokenSecret1Hex") && res.token) {
        CHECK(*res.token == rpc_token(res.to.host_string(), hx32(c.at("tokenSecret1Hex"))));
      }
    }
  }
}

TEST_CASE("shared vectors: dht-rpc ignored packets", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("ignoredPackets");
  REQUIRE(v.size() == 5);
  const Ipv4Address requester{{10, 1, 1, 1}, 49737};
  for (const auto& c : v) {
    const std::string name = c.at("name");
    INFO(name);
    const Bytes bytes = hx(c.at("hex"));
    auto m = decode_message(bytes);
    if (name == "truncated-request" || name == "one-byte") {
      CHECK(m.error() == make_error_code(WireErrc::out_of_bounds));
    } else if (name == "unknown-type-byte") {
      CHECK(m.error() == make_error_code(WireErrc::bad_type));
    } else if (name == "source-port-0") {
      // The bytes are a valid request; the drop is the receive pipeline's source-port rule.
      CHECK(c.at("sourcePort") == 0);
      CHECK(m.has_value());
      CHECK(c.at("decoded").is_null());
    } else if (name == "trailing-garbage-request") {
      REQUIRE(m);
      REQUIRE(std::holds_alternative<Request>(*m));
      CHECK(decoded_json(std::get<Request>(*m), requester) == c.at("decoded"));
    } else {
      FAIL("unexpected ignoredPackets vector " << name);
    }
  }
}

TEST_CASE("shared vectors: dht-rpc xor ordering", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("xorCompare");
  const Bytes32 t = hx32(v.at("targetHex"));
  const Bytes32 a = hx32(v.at("aHex"));
  const Bytes32 b = hx32(v.at("bHex"));
  const bool a_closer = v.at("aCloser");
  CHECK((xor_compare(t, a, b) < 0) == a_closer);
  CHECK((xor_compare(t, b, a) > 0) == a_closer);
}
