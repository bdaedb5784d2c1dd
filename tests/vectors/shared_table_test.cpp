// ../shared/spec/vectors/dht-rpc.json "routingTable" and "natSampler", independently produced.
#include <catch2/catch.hpp>

#include "core/nat_sampler.hpp"
#include "core/routing_table.hpp"
#include "protocol/node_id.hpp"
#include "tests/vectors/vector_files.hpp"

using namespace hdht;
using nlohmann::json;

namespace {
Bytes32 id_hex(const json& j) {
  return *fixed_from_hex<32>(j.get<std::string>());
}
Ipv4Address addr(const json& host, const json& port) {
  return Ipv4Address{*Ipv4Address::parse_host(host.get<std::string>()), port.get<std::uint16_t>()};
}
}  // namespace

TEST_CASE("shared vectors: routing table adds and closest()", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("routingTable");
  dht::RoutingTable table(id_hex(v.at("tableIdHex")), v.at("k").get<std::size_t>());

  const auto& adds = v.at("adds");
  REQUIRE(adds.size() == 60);
  std::size_t rejected = 0;
  for (const auto& a : adds) {
    INFO(a.dump());
    dht::Node n;
    n.addr = addr(a.at("host"), a.at("port"));
    n.id = id_hex(a.at("idHex"));
    CHECK(rpc::node_id(n.addr) == n.id);  // the vector's ids are real node ids
    CHECK(table.bucket_index(n.id) == a.at("bucket").get<std::size_t>());
    const bool added = table.add(n) != dht::RoutingTable::AddResult::full;
    CHECK(added == a.at("added").get<bool>());
    if (!added) ++rejected;
  }
  CHECK(rejected == 6);
  CHECK(table.size() == 54);

  const auto& closest = v.at("closest");
  REQUIRE(closest.size() == 2);
  for (const auto& c : closest) {
    const Bytes32 target = id_hex(c.at("targetHex"));
    CHECK(table.bucket_index(target) == c.at("targetBucket").get<std::size_t>());
    const auto got = table.closest(target);
    const auto& want = c.at("result");
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO("closest to " << c.at("targetHex").get<std::string>() << " #" << i);
      CHECK(to_hex(got[i]->id) == want[i].at("idHex"));
      CHECK(got[i]->addr == addr(want[i].at("host"), want[i].at("port")));
      CHECK(table.bucket_index(got[i]->id) == want[i].at("bucket").get<std::size_t>());
    }
  }
}

TEST_CASE("shared vectors: nat sampler sequences", "[vectors][shared]") {
  const json v = testing::load_shared("dht-rpc.json").at("natSampler");
  std::size_t sequences = 0;
  for (const auto& [name, steps] : v.items()) {
    ++sequences;
    dht::NatSampler s;
    std::size_t i = 0;
    for (const auto& step : steps) {
      INFO(name << " step " << i++ << ": " << step.dump());
      const auto& in = step.at("add");
      const int hits = s.add(addr(in.at(0), in.at(1)));
      CHECK(hits == step.at("returnedHits").get<int>());
      CHECK(s.size() == step.at("size").get<int>());
      CHECK(s.threshold() == step.at("threshold").get<int>());
      if (step.at("host").is_null()) {
        CHECK_FALSE(s.host().has_value());
      } else {
        REQUIRE(s.host().has_value());
        CHECK(Ipv4Address{*s.host(), 0}.host_string() == step.at("host").get<std::string>());
      }
      CHECK(s.port() == step.at("port").get<std::uint16_t>());
    }
    CHECK(i > 0);
  }
  CHECK(sequences == 4);
}
