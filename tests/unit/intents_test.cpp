// The intents file parser (daemon/intents.*): what render_intents writes parse_intents reads back
// unchanged, a file that cannot be used at all is refused with its reason (damage), and a bad
// entry drops only that entry with a warning naming it. Hostile input never crashes.
#include <catch2/catch.hpp>

#include <string>

#include "daemon/intents.hpp"
#include "protocol/crypto.hpp"

using hdht::Bytes;
using hdht::Bytes32;
using hdht::Ipv4Address;
using hdht::to_hex;
namespace crypto = hdht::crypto;
using namespace hdht::daemon;

namespace {

Bytes32 filled(std::uint8_t b) {
  Bytes32 out{};
  out.fill(b);
  return out;
}

Intents sample() {
  Intents in;
  in.announces.push_back(
      {filled(1),
       "alice",
       filled(2),
       {*Ipv4Address::parse("127.0.0.1:4000"), *Ipv4Address::parse("10.0.0.2:4001")}});
  in.records.push_back({false, Bytes{'h', 'i'}, "", {}, 0});
  in.records.push_back({true, Bytes{0, 0xff, 10}, "bob", filled(3), 7});
  in.servers.push_back({"carol", filled(4), {filled(5)}, "127.0.0.1:8080"});
  in.servers.push_back({"dave", filled(6), {}, ""});
  return in;
}

// A file holding one entry in `list`, the rest valid.
std::string one_entry(const std::string& list, const std::string& entry) {
  return R"({"version":1,")" + list + R"(":[)" + entry + "]}";
}

// The warning for a file with one bad entry (and no entry kept).
std::string entry_warning(const std::string& list, const std::string& entry) {
  const auto p = parse_intents(one_entry(list, entry));
  REQUIRE(p.damage.empty());
  CHECK(p.intents.announces.empty());
  CHECK(p.intents.records.empty());
  CHECK(p.intents.servers.empty());
  REQUIRE(p.warnings.size() == 1);
  return p.warnings[0];
}

const std::string kHex(64, 'a');

}  // namespace

TEST_CASE("intents: a rendered file parses back unchanged", "[daemon][intents]") {
  const auto in = sample();
  const auto p = parse_intents(render_intents(in));
  REQUIRE(p.damage.empty());
  CHECK(p.warnings.empty());
  REQUIRE(p.intents.announces.size() == 1);
  const auto& a = p.intents.announces[0];
  CHECK(a.topic == filled(1));
  CHECK(a.key_name == "alice");
  CHECK(a.public_key == filled(2));
  REQUIRE(a.relays.size() == 2);
  CHECK(a.relays[1].to_string() == "10.0.0.2:4001");
  REQUIRE(p.intents.records.size() == 2);
  CHECK_FALSE(p.intents.records[0].is_mutable);
  CHECK(p.intents.records[0].value == Bytes{'h', 'i'});
  CHECK(p.intents.records[1].is_mutable);
  CHECK(p.intents.records[1].value == Bytes{0, 0xff, 10});
  CHECK(p.intents.records[1].key_name == "bob");
  CHECK(p.intents.records[1].public_key == filled(3));
  CHECK(p.intents.records[1].seq == 7);
  REQUIRE(p.intents.servers.size() == 2);
  CHECK(p.intents.servers[0].allow == std::vector<Bytes32>{filled(5)});
  CHECK(p.intents.servers[0].forward == "127.0.0.1:8080");
  CHECK(p.intents.servers[1].forward.empty());
  // Rendering what was read gives the same text: nothing is lost or reordered.
  CHECK(render_intents(p.intents) == render_intents(in));
}

TEST_CASE("intents: unknown top-level members are kept", "[daemon][intents]") {
  const auto p = parse_intents(R"({"version":1,"later":{"x":[1,2]}})");
  REQUIRE(p.damage.empty());
  CHECK(p.intents.extra["later"]["x"][1] == 2);
  CHECK(render_intents(p.intents).find("later") != std::string::npos);
}

TEST_CASE("intents: an unusable file is refused with its reason", "[daemon][intents]") {
  const auto damage = [](std::string_view text) { return parse_intents(text).damage; };
  CHECK(damage("") == "not valid JSON");
  CHECK(damage("{\"version\":1,") == "not valid JSON");
  CHECK(damage("\xff\xfe") == "not valid JSON");
  CHECK(damage("[1]") == "not a JSON object");
  CHECK(damage("\"x\"") == "not a JSON object");
  CHECK(damage("{}") == "not version 1");
  CHECK(damage(R"({"version":2})") == "not version 1");
  CHECK(damage(R"({"version":"1"})") == "not version 1");
  CHECK(damage(R"({"version":-1})") == "not version 1");
  CHECK(damage(R"({"version":1.0})") == "not version 1");
  // Deep nesting is refused before parsing, so the parser never builds a deep tree; brackets
  // inside strings do not count.
  CHECK(damage(std::string(100000, '[') + std::string(100000, ']')) == "nested deeper than 8");
  CHECK(damage(R"({"version":1,"x":"[[[[[[[[[[[[[["})").empty());
}

TEST_CASE("intents: a bad entry drops only itself, with a warning", "[daemon][intents]") {
  const std::string pk = R"("publicKey":")" + kHex + "\"";
  const std::string ann = R"({"topic":")" + kHex + R"(","key":"alice",)" + pk;
  CHECK(entry_warning("announces", "1") == "announces[0] dropped: not an object");
  CHECK(entry_warning("announces", R"({"topic":"zz","key":"alice",)" + pk + "}") ==
        "announces[0] dropped: needs topic, key and publicKey");
  CHECK(
      entry_warning("announces", R"({"topic":")" + kHex.substr(2) + R"(","key":"a",)" + pk + "}") ==
      "announces[0] dropped: needs topic, key and publicKey");
  CHECK(entry_warning("announces", R"({"topic":")" + kHex + R"(","key":"../x",)" + pk + "}") ==
        "announces[0] dropped: needs topic, key and publicKey");
  CHECK(entry_warning("announces", R"({"topic":")" + kHex + R"(","key":7,)" + pk + "}") ==
        "announces[0] dropped: needs topic, key and publicKey");
  CHECK(entry_warning("announces",
                      ann + R"(,"relays":["1.2.3.4:1","1.2.3.4:2","1.2.3.4:3","1.2.3.4:4"]})") ==
        "announces[0] dropped: relays must be a list of at most 3 addresses");
  CHECK(entry_warning("announces", ann + R"(,"relays":"1.2.3.4:1"})") ==
        "announces[0] dropped: relays must be a list of at most 3 addresses");
  CHECK(entry_warning("announces", ann + R"(,"relays":["1.2.3.4:0"]})") ==
        "announces[0] dropped: bad relay address");
  CHECK(entry_warning("announces", ann + R"(,"relays":["nohost"]})") ==
        "announces[0] dropped: bad relay address");

  CHECK(entry_warning("records", R"({"value":{"encoding":"utf8","data":"x"}})") ==
        "records[0] dropped: no type");
  CHECK(entry_warning("records", R"({"type":"other","value":{"encoding":"utf8","data":"x"}})") ==
        "records[0] dropped: unknown type");
  CHECK(entry_warning("records", R"({"type":"immutable"})") == "records[0] dropped: no value");
  CHECK(entry_warning("records", R"({"type":"immutable","value":{"encoding":"hex","data":"zz"}})")
            .starts_with("records[0] dropped: "));
  CHECK(entry_warning("records", R"({"type":"immutable","hash":")" + kHex +
                                     R"(","value":{"encoding":"utf8","data":"x"}})") ==
        "records[0] dropped: hash does not match the value");
  CHECK(entry_warning("records", R"({"type":"mutable","key":"bob",)" + pk +
                                     R"(,"seq":-1,"value":{"encoding":"utf8","data":"x"}})") ==
        "records[0] dropped: needs key, publicKey and seq");
  const std::string big(kMaxKeptValueBytes + 1, 'x');
  CHECK(entry_warning("records", R"({"type":"immutable","value":{"encoding":"utf8","data":")" +
                                     big + "\"}}") ==
        "records[0] dropped: value larger than " + std::to_string(kMaxKeptValueBytes) + " bytes");

  CHECK(entry_warning("servers", R"({"key":"carol"})") ==
        "servers[0] dropped: needs key and publicKey");
  CHECK(entry_warning("servers", R"({"key":"carol",)" + pk + R"(,"allow":["00"]})") ==
        "servers[0] dropped: bad public key in allow");
  CHECK(entry_warning("servers", R"({"key":"carol",)" + pk + R"(,"forward":5})") ==
        "servers[0] dropped: bad forward address");

  // A list that is not a list is ignored as a whole.
  const auto p = parse_intents(R"({"version":1,"records":{}})");
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0] == "'records' is not a list; ignored");
}

TEST_CASE("intents: good entries survive next to bad ones, and counts are capped",
          "[daemon][intents]") {
  const std::string good = R"({"type":"immutable","value":{"encoding":"utf8","data":"ok"}})";
  auto p = parse_intents(R"({"version":1,"records":[5,)" + good + "]}");
  REQUIRE(p.damage.empty());
  REQUIRE(p.intents.records.size() == 1);
  CHECK(p.intents.records[0].value == Bytes{'o', 'k'});
  CHECK(p.warnings == std::vector<std::string>{"records[0] dropped: not an object"});

  std::string many = R"({"version":1,"records":[)";
  for (std::size_t i = 0; i < kMaxKeptRecords + 2; ++i)
    many += (i ? "," : "") + good;
  p = parse_intents(many + "]}");
  CHECK(p.intents.records.size() == kMaxKeptRecords);
  REQUIRE(p.warnings.size() == 1);
  CHECK(p.warnings[0] == "records: only the first 256 entries are used; 2 dropped");
}
