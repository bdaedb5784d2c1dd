// chat-client <public key hex> [--bootstrap host:port,...]: the HyperDHT guide's chat client on
// the C++ library. Connects to the server by its public key (holepunching as needed), then pipes
// stdin to the connection and the connection to stdout. Exits when the connection closes (status
// 0) or cannot be made (status 1, with the reference's error code: PEER_NOT_FOUND, ...).
#include <csignal>
#include <cstdio>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "core/peer_connect.hpp"
#include "examples/chat_pipe.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;

int main(int argc, char** argv) {
  std::string bootstrap;
  std::optional<Bytes32> key;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bootstrap" && i + 1 < argc) {
      bootstrap = argv[++i];
    } else if (!key && a.size() == 64) {
      key = fixed_from_hex<32>(a);
      if (!key) break;
    } else {
      key.reset();
      break;
    }
  }
  if (!key) {
    std::fprintf(stderr, "usage: chat-client <public key hex> [--bootstrap host:port,...]\n");
    return 2;
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());

  hyperdht::HyperDhtConfig config;
  config.dht.bootstrap = chat::bootstrap_list(bootstrap);
  hyperdht::HyperDhtNode node(runtime, config);
  chat::ChatPipe pipe(ctx.get_executor());
  std::unique_ptr<hyperdht::PeerConnect> connect;
  int status = 0;

  bool started = false;
  node.dht().events().ready = [&] {
    if (started) return;
    started = true;
    connect = hyperdht::PeerConnect::start(
        node, *key, {}, [&](Result<std::unique_ptr<core::SecretStream>> r) {
          if (!r) {
            std::fprintf(stderr, "could not connect: %s\n", r.error().message().c_str());
            status = 1;
            node.destroy();
            ctx.stop();
            return;
          }
          std::fprintf(stderr, "connected to %s\n", to_hex(ByteView(*key)).c_str());
          pipe.add(std::move(*r), [&] {
            node.destroy();
            ctx.stop();
          });
          pipe.read_stdin();
        });
  };
  if (auto r = node.start(); !r) {
    std::fprintf(stderr, "cannot start the DHT node: %s\n", r.error().message().c_str());
    return 1;
  }
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ctx.stop();
  });
  ctx.run();
  return status;
}
