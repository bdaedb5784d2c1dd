// Op kind "queryTrace": dht::Query on the scripted network of tests/interop/query_sim.hpp; the
// JS side (tests/interop/kinds/query.js) runs the real dht-rpc Query on the same script, and the
// traces must be identical.
#include <cstdio>
#include <string>

#include "core/query.hpp"
#include "core/rpc_errors.hpp"
#include "tests/interop/codec_registry.hpp"
#include "tests/interop/query_sim.hpp"

namespace hdht::interop {

namespace {

constexpr std::size_t kMaxSteps = 200000;  // the JS side's bound too

std::string hex8(const std::optional<Bytes32>& id) {
  return id ? hex(*id).substr(0, 8) : "-";
}

std::string request_line(const querysim::SentRequest& r) {
  const dht::RequestSpec& s = r.spec;
  std::string line = std::to_string(r.time) + ' ' + r.kind + ' ' + s.to.to_string();
  if (r.kind == 'C') return line;
  line += " id=" + hex8(s.to_id) + " r=" + std::to_string(s.retries) +
          " f=" + (s.force ? "1" : "0") + " i=" + (s.internal ? "1" : "0") +
          " c=" + std::to_string(s.command) + " t=" + hex8(s.target) +
          " v=" + (s.value ? hex(*s.value) : "-") + " k=" + hex8(s.token);
  return line;
}

std::string error_name(const std::error_code& ec, const querysim::QuerySim& sim) {
  if (!ec) return "ok";
  if (ec.category() == dht::rpc_category()) {
    return dht::rpc_error_name(static_cast<dht::RpcErrc>(ec.value()));
  }
  if (ec.category() == querysim::sim_commit_category()) {
    const auto i = static_cast<std::size_t>(ec.value()) - 1;
    if (i < sim.commit_failures.size())
      return "commit failed " + sim.commit_failures[i].to_string();
  }
  return ec.message();
}

json query_trace(const json& in) {
  std::vector<Ipv4Address> addrs;
  for (const auto& a : in.at("addrs"))
    addrs.push_back(addr_from_json(a));
  auto addr = [&](const json& i) { return addrs.at(i.get<std::size_t>()); };

  querysim::QuerySim sim(unhex_fixed<32>(in.at("tableId")), in.at("k").get<std::size_t>());
  const json& nodes = in.at("nodes");
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    const json& n = nodes[i];
    querysim::SimNode node;
    node.responds = n.at("responds").get<bool>();
    node.latency = n.at("latency").get<std::int64_t>();
    node.error = n.at("error").get<std::uint64_t>();
    node.has_id = n.at("hasId").get<bool>();
    if (!n.at("token").is_null()) node.token = unhex_fixed<32>(n["token"]);
    node.has_closer = n.at("hasCloser").get<bool>();
    for (const auto& c : n.at("closer"))
      node.closer.push_back(addr(c));
    node.commit_latency = n.at("commitLatency").get<std::int64_t>();
    node.commit_ok = n.at("commitOk").get<bool>();
    sim.nodes[addrs.at(i)] = std::move(node);
  }
  for (const auto& i : in.at("table"))
    sim.add_to_table(addr(i));
  for (const auto& i : in.at("bootstrap"))
    sim.bootstrap.push_back({rpc::node_id(addr(i)), addr(i)});
  for (const auto& i : in.at("filtered"))
    sim.filtered.insert(addr(i));
  sim.concurrency = in.at("defaultConcurrency").get<std::size_t>();
  sim.down_hint_limit = in.at("downHintsRateLimit").get<long>();
  sim.down_hints_taken = in.at("downHintsSent").get<long>();
  sim.hints_enabled = in.at("sendDownHints").get<bool>();
  if (!in.at("destroyAfter").is_null()) sim.destroy_after = in["destroyAfter"].get<std::size_t>();

  const Bytes32 target = unhex_fixed<32>(in.at("target"));
  const bool internal = in.at("internal").get<bool>();
  const auto command = in.at("command").get<std::uint64_t>();
  std::optional<Bytes> value;
  if (!in.at("value").is_null()) value = unhex(in["value"]);

  dht::QueryOptions opts;
  opts.concurrency = in.at("concurrency").get<std::size_t>();
  if (!in.at("retries").is_null()) opts.retries = in["retries"].get<int>();
  opts.force = in.at("force").get<bool>();
  opts.only_closest_nodes = in.at("onlyClosestNodes").get<bool>();
  if (!in.at("seeds").is_null()) {
    for (const auto& s : in["seeds"]) {
      dht::NodeRef ref{std::nullopt, addr(s.at("i"))};
      if (!s.at("id").is_null()) ref.id = unhex_fixed<32>(s["id"]);
      opts.nodes.push_back(ref);
    }
  } else if (!in.at("seedReplies").is_null()) {
    for (const auto& s : in["seedReplies"]) {
      dht::Reply r;
      r.from.addr = addr(s.at("i"));
      if (s.at("hasId").get<bool>()) r.from.id = rpc::node_id(r.from.addr);
      opts.replies.push_back(r);
    }
  }
  const json& commit = in.at("commit");
  if (commit == "auto") opts.commit = dht::Query::commit_auto(sim, target, command, value);
  if (commit == "fn") opts.commit = sim.scripted_commit();

  dht::Query q(sim, target, internal, command, value, std::move(opts));
  json data = json::array();
  q.on_reply([&](const dht::Reply& r) {
    data.push_back(std::to_string(sim.now()) + ' ' + r.from.addr.to_string());
  });
  bool done = false;
  std::error_code result;
  std::int64_t done_at = -1;
  q.on_done([&](std::error_code ec) {
    done = true;
    result = ec;
    done_at = sim.now();
  });
  q.start();
  sim.run_until([&] { return done; }, kMaxSteps);

  json requests = json::array();
  for (const auto& r : sim.requests)
    requests.push_back(request_line(r));
  json closest = json::array();
  for (const auto& r : q.closest_replies())
    closest.push_back(r.from.addr.to_string());
  return {{"requests", requests}, {"data", data},
          {"closest", closest},   {"successes", q.successes()},
          {"errors", q.errors()}, {"result", done ? error_name(result, sim) : "stuck"},
          {"time", done_at}};
}

}  // namespace

void register_query(Registry& r) {
  r.add_op("queryTrace", query_trace);
}

}  // namespace hdht::interop
