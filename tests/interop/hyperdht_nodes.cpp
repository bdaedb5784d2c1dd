#include "tests/interop/hyperdht_nodes.hpp"

#include <chrono>
#include <cstdint>
#include <utility>

#include <boost/asio/post.hpp>

#include "core/hyperdht_errors.hpp"
#include "tests/interop/json_lines.hpp"

namespace hdht::interop {

using json = nlohmann::json;
using hyperdht::HyperDhtConfig;
using hyperdht::HyperDhtNode;

namespace {

struct Launch {
  core::Runtime& runtime;
  std::vector<std::unique_ptr<HyperDhtNode>>& nodes;
  HyperDhtConfig config;
  std::vector<std::size_t> batch;
  json seq;
  NodeHook on_node;
};

// k by value in the ready handler: a node's ready launches the node after it, however often it
// fires.
void launch(const std::shared_ptr<Launch>& l, std::size_t k) {
  if (k == l->batch.size()) {
    emit({{"event", "started"}, {"seq", l->seq}, {"nodes", l->batch}});
    return;
  }
  const std::size_t i = l->nodes.size();
  l->nodes.push_back(std::make_unique<HyperDhtNode>(l->runtime, l->config));
  HyperDhtNode* n = l->nodes.back().get();
  n->dht().events().ready = [l, k] {
    boost::asio::post(l->runtime.executor(), [l, k] { launch(l, k + 1); });
  };
  if (l->on_node) l->on_node(i, *n);
  if (auto r = n->start(); !r) {
    emit({{"event", "start-error"}, {"seq", l->seq}, {"node", i}, {"error", r.error().message()}});
  }
}

}  // namespace

std::optional<HyperDhtConfig> node_config_from(const json& cmd, std::string* bad_field) {
  HyperDhtConfig c;
  if (auto b = cmd.value("bootstrap", json(nullptr)); b.is_string()) {
    auto list = dht::BootstrapEntry::parse_list(b.get<std::string>());
    if (!list) return *bad_field = "bootstrap", std::nullopt;
    c.dht.bootstrap = std::move(*list);
  }
  auto host = Ipv4Address::parse_host(cmd.value("host", std::string("127.0.0.1")));
  if (!host) return *bad_field = "host", std::nullopt;
  c.dht.io.bind_host = {*host, 0};
  if (auto p = cmd.value("bootstrapper", json(nullptr)); p.is_number_unsigned()) {
    const auto port = p.get<std::uint16_t>();
    c.dht = dht::DhtConfig::bootstrapper(port, Ipv4Address{*host, port});
    c.dht.io.bind_host = {*host, 0};
  }
  if (auto e = cmd.value("ephemeral", json(nullptr)); e.is_boolean())
    c.dht.ephemeral = e.get<bool>();
  if (auto f = cmd.value("firewalled", json(nullptr)); f.is_boolean())
    c.dht.io.firewalled = f.get<bool>();
  // server-interop.js spells it quick_firewall, client-interop.js as the JS option, quickFirewall.
  for (const char* key : {"quick_firewall", "quickFirewall"}) {
    if (auto q = cmd.value(key, json(nullptr)); q.is_boolean())
      c.dht.quick_firewall = q.get<bool>();
  }
  if (cmd.contains("max_size")) c.max_size = cmd["max_size"].get<std::size_t>();
  if (cmd.contains("max_age_ms"))
    c.max_age = std::chrono::milliseconds(cmd["max_age_ms"].get<std::int64_t>());
  return c;
}

void start_nodes(core::Runtime& runtime, std::vector<std::unique_ptr<HyperDhtNode>>& nodes,
                 const json& cmd, NodeHook on_node) {
  std::string bad;
  auto config = node_config_from(cmd, &bad);
  if (!config) return bad_command(cmd, bad);
  auto l = std::make_shared<Launch>(Launch{
      runtime, nodes, std::move(*config), {}, cmd.value("seq", json(nullptr)), std::move(on_node)});
  const auto count = cmd.value("nodes", std::size_t{1});
  for (std::size_t k = 0; k < count; ++k)
    l->batch.push_back(nodes.size() + k);
  launch(l, 0);
}

void start_relay(std::vector<std::unique_ptr<HyperDhtNode>>& nodes,
                 std::vector<std::unique_ptr<hyperdht::BlindRelayService>>& relays,
                 const json& cmd) {
  const auto i = cmd.value("node", std::size_t{0});
  auto seed = fixed_from_hex<32>(cmd.value("seed", std::string()));
  if (i >= nodes.size() || !seed) return bad_command(cmd, "node/seed");
  const std::size_t r = relays.size();
  relays.push_back(std::make_unique<hyperdht::BlindRelayService>(*nodes[i]));
  const auto kp = HyperDhtNode::key_pair(*seed);
  const auto* socket = nodes[i]->dht().io().server_socket();
  const std::uint16_t port = socket != nullptr ? socket->local_address().port : 0;
  relays.back()->listen(kp,
                        [r, seq = cmd.value("seq", json(nullptr)), kp, port](std::error_code ec) {
                          emit({{"event", "relay"},
                                {"seq", seq},
                                {"relay", r},
                                {"error", error_json(ec)},
                                {"publicKey", to_hex(kp.public_key)},
                                {"port", port}});
                        });
}

json error_json(std::error_code ec) {
  if (!ec) return nullptr;
  if (ec.category() == hyperdht::hyperdht_category())
    return hyperdht::hyperdht_error_name(static_cast<hyperdht::HyperDhtErrc>(ec.value()));
  return ec.message();
}

std::string sha256_hex(crypto_hash_sha256_state st) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, h);
  return to_hex(ByteView(h, sizeof h));
}

json hex_or_null(const std::optional<Bytes32>& b) {
  return b ? json(to_hex(*b)) : json(nullptr);
}

json router_json(const hyperdht::RouterStats& r) {
  return {{"handshake_from_client", r.handshake_from_client},
          {"handshake_from_relay", r.handshake_from_relay},
          {"handshake_from_server", r.handshake_from_server},
          {"handshake_no_route", r.handshake_no_route},
          {"handshake_to_server", r.handshake_to_server},
          {"holepunch_from_client", r.holepunch_from_client},
          {"holepunch_from_server", r.holepunch_from_server},
          {"holepunch_to_server", r.holepunch_to_server},
          {"server_replies", r.server_replies},
          {"dropped", r.dropped}};
}

}  // namespace hdht::interop
