// The {"op":"start"} command of the interop peers that run HyperDhtNodes (records_peer,
// server_peer, client_peer), shared so every peer starts its testnet nodes the same way:
//
//   {"op":"start","nodes":N,"bootstrap":"h:p[,h:p]","host":"127.0.0.1","ephemeral":b,
//    "firewalled":b,"quick_firewall":b|"quickFirewall":b,"max_size":n,"max_age_ms":n}
//        -> {"event":"started","nodes":[i..]} once all are bootstrapped (started one by one),
//           {"event":"start-error","node":i,"error":text} for a node that cannot start
//        "bootstrapper":port starts a bootstrapper (DHT.bootstrapper) on host:port instead
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <sodium.h>
#include <nlohmann/json.hpp>

#include "core/blind_relay_service.hpp"
#include "core/hyperdht_node.hpp"
#include "core/runtime.hpp"

namespace hdht::interop {

// nullopt with *bad_field named when the command is malformed.
std::optional<hyperdht::HyperDhtConfig> node_config_from(const nlohmann::json& cmd,
                                                         std::string* bad_field);

// Runs for each node made, before it starts, so a peer can hook its events (the launcher owns
// events().ready).
using NodeHook = std::function<void(std::size_t index, hyperdht::HyperDhtNode& node)>;

// Handles a "start" command: appends cmd["nodes"] nodes to `nodes` one after another, as the JS
// testnet does (each bootstraps before the next starts), then emits "started". `runtime` and
// `nodes` must outlive the nodes.
void start_nodes(core::Runtime& runtime,
                 std::vector<std::unique_ptr<hyperdht::HyperDhtNode>>& nodes,
                 const nlohmann::json& cmd, NodeHook on_node = nullptr);

// {"op":"relay","node":i,"seed":hex}: a BlindRelayService on node i, listening on the seed's key
// pair, appended to `relays` -> {"event":"relay","relay":r,"error":name|null,"publicKey":hex,
// "port":the node's UDP port}.
void start_relay(std::vector<std::unique_ptr<hyperdht::HyperDhtNode>>& nodes,
                 std::vector<std::unique_ptr<hyperdht::BlindRelayService>>& relays,
                 const nlohmann::json& cmd);

// null for success, the reference's code for a hyperdht error, the message otherwise.
nlohmann::json error_json(std::error_code ec);
// The hex SHA-256 of what `st` hashed so far (finalizes a copy).
std::string sha256_hex(crypto_hash_sha256_state st);

nlohmann::json hex_or_null(const std::optional<Bytes32>& b);
nlohmann::json router_json(const hyperdht::RouterStats& r);

}  // namespace hdht::interop
