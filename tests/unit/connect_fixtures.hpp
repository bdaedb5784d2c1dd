// What the connect and route tests share on the simulated network: a connect whose outcome lands
// in a struct the test polls, and an echo server that keeps its inbound streams.
//
// Lifetime: the EchoServer's handlers capture it; keep it (and its node) alive while the server
// runs. Single-threaded, the simulator's executor.
#pragma once

#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/peer_connect.hpp"
#include "core/secret_stream.hpp"
#include "protocol/crypto.hpp"

namespace hdht::hyperdht::testnet {

struct Connected {
  bool settled = false;
  std::error_code error;
  std::unique_ptr<core::SecretStream> stream;
};

// Starts a connect whose outcome lands in `out`.
std::unique_ptr<PeerConnect> start_connect(HyperDhtNode& node, const Bytes32& pk,
                                           std::shared_ptr<Connected> out, ConnectOptions o = {});

// An echo server on `node` listening on `kp`; keeps its inbound streams and what they sent.
struct EchoServer {
  std::unique_ptr<Server> server;
  std::vector<std::unique_ptr<core::SecretStream>> inbound;
  std::string got;
  bool listening = false;

  EchoServer(HyperDhtNode& node, const crypto::KeyPair& kp, ServerOptions options = {});
};

}  // namespace hdht::hyperdht::testnet
