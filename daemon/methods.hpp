// The control socket's methods, registered into a Dispatcher. Each group is one file:
//   methods_node.cpp  status, health, nodes, metrics, methods
//   methods_keys.cpp  keys.generate, keys.import, keys.list, keys.remove
//   methods_records.cpp  immutable.put, immutable.get, mutable.put, mutable.get, records, forget
//   methods_peers.cpp  announce, unannounce, announces, lookup, find-peer
//   methods_connections.cpp  listen, unlisten, servers, connect, accept, connections, disconnect
// docs/control-socket.md documents every method.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/runtime.hpp"
#include "daemon/announcer.hpp"
#include "daemon/blind_relay_role.hpp"
#include "daemon/connections.hpp"
#include "daemon/dispatcher.hpp"
#include "daemon/health.hpp"
#include "daemon/key_store.hpp"
#include "daemon/node_runner.hpp"
#include "daemon/operations.hpp"
#include "daemon/options.hpp"
#include "daemon/record_keeper.hpp"
#include "daemon/servers.hpp"

namespace hdht::daemon {

// What handlers may read and change; owned by the daemon and outliving the control server.
struct MethodContext {
  core::Runtime& runtime;
  const DaemonOptions& options;
  NodeRunner& runner;
  KeyStore& keys;
  HealthMonitor& health;
  const Dispatcher& dispatcher;
  core::TimePoint started;
  std::function<std::string()> metrics_text;
  OperationRegistry& ops;  // record operations in flight, tied to their clients
  Announcer& announcer;    // standing announces
  RecordKeeper& keeper;    // kept records
  // Called after every change to the standing announces or kept records: saves the intents
  // (a failure is logged there and never fails the request).
  std::function<void()> intents_changed;
  Servers& servers;          // listen
  Connections& connections;  // connect, accept, inbound streams
  BlindRelayRole& relay;     // --blind-relay
};

// Node 0, the node the record methods run on; null (and `r` answered NOT_BOOTSTRAPPED) if it is
// not running or has not bootstrapped yet.
hyperdht::HyperDhtNode* serving_node(MethodContext& ctx, const Responder& r);
// -32005 LIMIT_REACHED: no room for one more kept thing (`what`: "standing announces", ...).
rpc::Error limit_error(const char* what, std::size_t limit);
// The key pair named `name`, or nullopt (and `r` answered -32001 KEY_NOT_FOUND).
std::optional<crypto::KeyPair> read_key(MethodContext& ctx, const std::string& name,
                                        const Responder& r);
// Milliseconds from `t` to now.
long long ms_since(const MethodContext& ctx, core::TimePoint t);

void add_node_methods(Dispatcher& d, MethodContext& ctx);
void add_key_methods(Dispatcher& d, MethodContext& ctx);
void add_record_methods(Dispatcher& d, MethodContext& ctx);
void add_peer_methods(Dispatcher& d, MethodContext& ctx);
void add_connection_methods(Dispatcher& d, MethodContext& ctx);

}  // namespace hdht::daemon
