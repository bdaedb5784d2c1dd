// chat-server [--bootstrap host:port,...] [--seed HEX]: the HyperDHT guide's chat server on the
// C++ library. Listens on a key pair (random, or from a 32-byte seed), prints
//   listening on: <public key hex>
// and then pipes stdin to every connection and every connection to stdout. Ctrl-C (or SIGTERM)
// closes the server, which unannounces it, and exits.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "examples/chat_pipe.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;

int main(int argc, char** argv) {
  std::string bootstrap;
  std::optional<Bytes32> seed;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--bootstrap" && i + 1 < argc) {
      bootstrap = argv[++i];
    } else if (a == "--seed" && i + 1 < argc) {
      seed = fixed_from_hex<32>(argv[++i]);
      if (!seed) {
        std::fprintf(stderr, "--seed: 64 hex digits\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: chat-server [--bootstrap host:port,...] [--seed HEX]\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    }
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());

  hyperdht::HyperDhtConfig config;
  config.dht.bootstrap = chat::bootstrap_list(bootstrap);
  hyperdht::HyperDhtNode node(runtime, config);
  hyperdht::Server server(node);
  chat::ChatPipe pipe(ctx.get_executor());

  const crypto::KeyPair key_pair = hyperdht::HyperDhtNode::key_pair(seed);
  server.set_handlers({.on_listening = {},
                       .on_connection =
                           [&](std::unique_ptr<core::SecretStream> s) {
                             std::fprintf(stderr, "connection from %s\n",
                                          to_hex(ByteView(s->remote_public_key())).c_str());
                             pipe.add(std::move(s));
                           },
                       .on_close = {}});
  bool started = false;
  node.dht().events().ready = [&] {
    if (started) return;
    started = true;
    server.listen(key_pair, [&](std::error_code ec) {
      if (ec) {
        std::fprintf(stderr, "listen failed: %s\n", ec.message().c_str());
        ctx.stop();
        return;
      }
      std::printf("listening on: %s\n", to_hex(ByteView(key_pair.public_key)).c_str());
      std::fflush(stdout);
      pipe.read_stdin();
    });
  };
  if (auto r = node.start(); !r) {
    std::fprintf(stderr, "cannot start the DHT node: %s\n", r.error().message().c_str());
    return 1;
  }

  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    server.close([&] {
      node.destroy();
      ctx.stop();
    });
  });
  ctx.run();
  return 0;
}
