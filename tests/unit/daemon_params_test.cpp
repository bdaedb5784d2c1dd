// The control socket's pure pieces: JSON-RPC line parsing, ParamReader (including topics and
// relay addresses), value encodings, and how record results are rendered.
#include <catch2/catch.hpp>

#include "daemon/dispatcher.hpp"
#include "daemon/jsonrpc.hpp"
#include "daemon/key_store.hpp"
#include "daemon/record_json.hpp"
#include "daemon/value_codec.hpp"
#include "protocol/crypto.hpp"

using hdht::as_bytes;
using hdht::Bytes;
using hdht::Bytes32;
using hdht::Ipv4Address;
using hdht::to_bytes;
using hdht::to_hex;
namespace crypto = hdht::crypto;
namespace msg = hdht::msg;
using namespace hdht::daemon;
using nlohmann::json;

TEST_CASE("jsonrpc: requests, notifications and bad lines", "[daemon]") {
  auto ok = rpc::parse_request(R"({"jsonrpc":"2.0","id":7,"method":"status"})");
  REQUIRE(std::holds_alternative<rpc::Request>(ok));
  CHECK(std::get<rpc::Request>(ok).method == "status");
  CHECK(std::get<rpc::Request>(ok).id == 7);
  CHECK_FALSE(std::get<rpc::Request>(ok).notification);

  auto note = rpc::parse_request(R"({"jsonrpc":"2.0","method":"status"})");
  REQUIRE(std::holds_alternative<rpc::Request>(note));
  CHECK(std::get<rpc::Request>(note).notification);

  auto bad_json = rpc::parse_request("{nope");
  REQUIRE(std::holds_alternative<rpc::BadRequest>(bad_json));
  CHECK(std::get<rpc::BadRequest>(bad_json).error.code == rpc::kParseError);

  auto batch = rpc::parse_request(R"([{"jsonrpc":"2.0","id":1,"method":"status"}])");
  REQUIRE(std::holds_alternative<rpc::BadRequest>(batch));
  CHECK(std::get<rpc::BadRequest>(batch).error.code == rpc::kInvalidRequest);

  auto version = rpc::parse_request(R"({"jsonrpc":"1.0","id":1,"method":"status"})");
  REQUIRE(std::holds_alternative<rpc::BadRequest>(version));
  CHECK(std::get<rpc::BadRequest>(version).id == 1);
}

// (Parsed JSON numbers are unsigned; a C++ literal 5 would be a signed json integer.)
TEST_CASE("ParamReader: types, unknown names, sticky first error", "[daemon]") {
  const json params = {{"name", "a"}, {"seq", 5u}, {"flag", true}};
  ParamReader p(params, {"name", "seq", "flag", "missing"});
  CHECK(p.string("name") == "a");
  CHECK(p.uint("seq", 10) == 5u);
  CHECK(p.boolean("flag") == true);
  CHECK_FALSE(p.string("missing").has_value());
  CHECK_FALSE(p.error());
  CHECK_FALSE(p.string("missing", true).has_value());
  REQUIRE(p.error());
  CHECK(p.error()->message.find("missing") != std::string::npos);

  const json unknown_params{{"nmae", "x"}};
  ParamReader unknown(unknown_params, {"name"});
  REQUIRE(unknown.error());
  CHECK(unknown.error()->code == rpc::kInvalidParams);

  const json range_params{{"seq", 11u}};
  ParamReader range(range_params, {"seq"});
  CHECK_FALSE(range.uint("seq", 10));
  CHECK(range.error());

  const json hex_params{{"h", "zz"}};
  ParamReader hex(hex_params, {"h"});
  CHECK_FALSE(hex.hex32("h"));
  REQUIRE(hex.error());
  CHECK(hex.error()->name == "BAD_HEX");
}

TEST_CASE("ParamReader: topics are hex or the BLAKE2b-256 of the text", "[daemon]") {
  const std::string hex(64, 'a');
  const json p_params{{"a", hex}, {"b", "chat"}, {"c", ""}};
  ParamReader p(p_params, {"a", "b", "c"});
  auto a = p.topic("a");
  REQUIRE(a);
  CHECK(to_hex(*a) == hex);
  auto b = p.topic("b");
  REQUIRE(b);
  CHECK(*b == crypto::hash32(as_bytes("chat")));
  CHECK_FALSE(p.error());
  CHECK_FALSE(p.topic("c"));
  CHECK(p.error());

  const json big_params{{"t", std::string(2000, 'x')}};
  ParamReader big(big_params, {"t"});
  CHECK_FALSE(big.topic("t"));
  CHECK(big.error());
}

TEST_CASE("ParamReader: relay addresses", "[daemon]") {
  const json p_params{{"r", {"127.0.0.1:4000", "10.0.0.2:1"}}};
  ParamReader p(p_params, {"r"});
  auto r = p.addresses("r", 3);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].to_string() == "127.0.0.1:4000");

  const json bad_params{{"r", {"localhost:1"}}};
  ParamReader bad(bad_params, {"r"});
  CHECK_FALSE(bad.addresses("r", 3));
  REQUIRE(bad.error());
  CHECK(bad.error()->name == "BAD_ADDRESS");

  const json many_params{{"r", {"1.1.1.1:1", "1.1.1.1:2", "1.1.1.1:3", "1.1.1.1:4"}}};
  ParamReader many(many_params, {"r"});
  CHECK_FALSE(many.addresses("r", 3));
  CHECK(many.error());
}

TEST_CASE("value codec: round trips and refusals", "[daemon]") {
  const Bytes bin{0, 1, 0xff, 0x80, 10};
  for (auto e : {ValueEncoding::hex, ValueEncoding::base64}) {
    std::string why;
    auto back = decode_value(encode_value(bin, e), why);
    REQUIRE(back);
    CHECK(*back == bin);
  }
  std::string why;
  CHECK_FALSE(decode_value(json{{"encoding", "hex"}, {"data", "abc"}}, why));
  CHECK_FALSE(decode_value(json{{"encoding", "rot13"}, {"data", ""}}, why));
  CHECK_FALSE(decode_value(json{{"encoding", "base64"}, {"data", "!!"}}, why));
  CHECK_FALSE(decode_value(json{{"data", "x"}}, why));
  auto unpadded = decode_value(json{{"encoding", "base64"}, {"data", "aGk"}}, why);
  REQUIRE(unpadded);
  CHECK(*unpadded == to_bytes(as_bytes("hi")));
}

TEST_CASE("record values: text as utf8, anything else as base64", "[daemon]") {
  CHECK(auto_value_json(as_bytes("hello\n"))["encoding"] == "utf8");
  const Bytes ctrl{'a', 0x1b, 'b'};
  CHECK(auto_value_json(ctrl)["encoding"] == "base64");
  const Bytes bad_utf8{0xc3, 0x28};
  CHECK(auto_value_json(bad_utf8)["encoding"] == "base64");
  // Asked for utf8, but not UTF-8: base64 instead, and the dump must not throw.
  auto v = value_json(bad_utf8, ValueEncoding::utf8);
  CHECK(v["encoding"] == "base64");
  CHECK_NOTHROW(v.dump());
  CHECK(value_json(ctrl, ValueEncoding::utf8)["encoding"] == "utf8");
  CHECK(value_json(as_bytes("é"), ValueEncoding::hex)["data"] == "c3a9");
}

TEST_CASE("PeerSet keeps each public key once, first record wins", "[daemon]") {
  PeerSet set;
  msg::Peer a;
  a.public_key[0] = 1;
  a.relay_addresses = {*Ipv4Address::parse("127.0.0.1:1")};
  msg::Peer a2 = a;
  a2.relay_addresses.clear();
  msg::Peer b;
  b.public_key[0] = 2;
  CHECK(set.add(a));
  CHECK_FALSE(set.add(a2));
  CHECK(set.add(b));
  const auto j = set.to_json();
  REQUIRE(j.size() == 2);
  CHECK(j[0]["relayAddresses"] == json::array({"127.0.0.1:1"}));
}

TEST_CASE("key store in memory: default key, names, removal", "[daemon]") {
  auto store = KeyStore::open("");
  REQUIRE(store);
  CHECK_FALSE(store->persistent());
  CHECK(store->get("default"));
  Bytes32 seed{};
  seed[0] = 9;
  auto made = store->generate("alice", seed);
  REQUIRE(made);
  CHECK(made->public_key == crypto::key_pair_from_seed(seed).public_key);
  CHECK_FALSE(store->generate("alice", std::nullopt));
  CHECK_FALSE(store->generate("bad name", std::nullopt));
  CHECK_FALSE(store->remove("default"));
  CHECK(store->remove("alice"));
  CHECK_FALSE(store->get("alice"));
}
