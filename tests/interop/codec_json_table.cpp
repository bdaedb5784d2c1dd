// Op kinds for dht-rpc's pure algorithms (tests/interop/kinds/table.js has the JS side):
// "routingTableClosest", "natSamplerSequence", "adaptiveTimeout".
#include <cstddef>
#include <stdexcept>

#include "core/adaptive_timeout.hpp"
#include "core/nat_sampler.hpp"
#include "core/routing_table.hpp"
#include "tests/interop/codec_registry.hpp"

namespace hdht::interop {

namespace {

json node_json(const dht::Node& n) {
  return {{"id", hex(n.id)}, {"host", n.addr.host_string()}, {"port", n.addr.port}};
}

json nodes_json(const std::vector<const dht::Node*>& nodes) {
  json out = json::array();
  for (const auto* n : nodes)
    out.push_back(node_json(*n));
  return out;
}

json routing_table_closest(const json& in) {
  dht::RoutingTable table(unhex_fixed<32>(in.at("id")), in.at("k").get<std::size_t>());
  json results = json::array();
  for (const auto& op : in.at("ops")) {
    if (op.contains("remove")) {
      results.push_back(table.remove(unhex_fixed<32>(op["remove"])) ? "removed" : "absent");
      continue;
    }
    const json& a = op.at("add");
    dht::Node node;
    node.id = unhex_fixed<32>(a.at("id"));
    node.addr = addr_from_json(a);
    switch (table.add(node)) {
      case dht::RoutingTable::AddResult::added:
        results.push_back("added");
        break;
      case dht::RoutingTable::AddResult::updated:
        results.push_back("updated");
        break;
      case dht::RoutingTable::AddResult::full:
        results.push_back("full");
        break;
    }
  }
  json closest = json::array();
  std::vector<const dht::Node*> scratch;
  for (const auto& t : in.at("targets")) {
    table.closest(unhex_fixed<32>(t.at("target")), t.at("n").get<std::size_t>(), scratch);
    closest.push_back(nodes_json(scratch));
  }
  json random = json::array();
  for (const auto& u : in.at("randoms")) {
    const dht::Node* n = table.random(u.get<double>());
    random.push_back(n ? node_json(*n) : json(nullptr));
  }
  return {{"results", results},
          {"size", table.size()},
          {"closest", closest},
          {"all", nodes_json(table.to_array())},
          {"random", random}};
}

json nat_sampler_sequence(const json& in) {
  dht::NatSampler s;
  json out = json::array();
  for (const auto& sample : in.at("samples")) {
    const int hits = s.add(addr_from_json(sample));
    json host = nullptr;
    if (s.host()) host = Ipv4Address{*s.host(), 0}.host_string();
    out.push_back({{"hits", hits},
                   {"host", host},
                   {"port", s.port()},
                   {"size", s.size()},
                   {"threshold", s.threshold()}});
  }
  return out;
}

Ipv4Address key_from_json(const json& j) {
  auto a = Ipv4Address::parse(j.get<std::string>());
  if (!a) throw std::invalid_argument("bad host:port key");
  return *a;
}

json adaptive_timeout(const json& in) {
  const json& o = in.at("opts");
  dht::AdaptiveTimeoutOptions opts;
  opts.max_size = o.at("maxSize").get<std::size_t>();
  opts.min_ms = o.at("min").get<std::int64_t>();
  opts.max_ms = o.at("max").get<std::int64_t>();
  opts.jitter_ms = o.at("jitter").get<std::int64_t>();
  opts.fallback = o.at("fallback").get<std::vector<std::int64_t>>();
  const json& randoms = in.at("randoms");
  std::size_t next_random = 0;
  dht::AdaptiveTimeout at(opts, [&] { return randoms.at(next_random++).get<double>(); });

  const auto stats = [](const dht::AdaptiveTimeout::Stats& s) {
    return json{{"avg", s.avg}, {"variance", s.variance}};
  };
  json out = json::array();
  for (const auto& step : in.at("steps")) {
    if (step.contains("put")) {
      out.push_back(
          stats(at.put(key_from_json(step["put"]), step.at("value").get<std::int64_t>())));
    } else if (step.contains("get")) {
      out.push_back(at.get(key_from_json(step["get"]), step.at("attempt").get<int>()));
    } else if (step.contains("has")) {
      out.push_back(at.has(key_from_json(step["has"])));
    } else if (step.contains("delete")) {
      out.push_back(at.erase(key_from_json(step["delete"])));
    } else {
      const auto v = at.value(key_from_json(step.at("getValue")));
      out.push_back(v ? stats(*v) : json(nullptr));
    }
  }
  return out;
}

}  // namespace

void register_table(Registry& r) {
  r.add_op("routingTableClosest", routing_table_closest);
  r.add_op("natSamplerSequence", nat_sampler_sequence);
  r.add_op("adaptiveTimeout", adaptive_timeout);
}

}  // namespace hdht::interop
