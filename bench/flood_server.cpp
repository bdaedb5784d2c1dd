// flood_server: the C++ server of bench/suites/flood.sh (scenario "handshake"): an echo
// core::Server on its own ephemeral node, as `connect_peer --role server`, which also prints the
// server's counters (ServerStats: handshakes, invalid, rate_limited, connections, ...) as one
// JSON line when it is told to stop (SIGTERM/SIGINT), so the suite can see whether the per-host
// handshake limit tripped. bench/js/connect.js --role server is the JS side (no such counters).
//
//   flood_server --bootstrap HOST:PORT[,...]
//
// Prints {"ready":true,"publicKey":HEX,"firewalled":b} once announced, and at the end
// {"stats":{...}}.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/secret_stream.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;

namespace {

HyperDhtConfig endpoint_config(const std::string& bootstrap) {
  HyperDhtConfig c;
  auto list = dht::BootstrapEntry::parse_list(bootstrap);
  if (!list) {
    std::fprintf(stderr, "flood_server: bad --bootstrap\n");
    std::exit(2);
  }
  c.dht.bootstrap = std::move(*list);
  c.dht.io.bind_host = {Ipv4Address{{127, 0, 0, 1}, 0}.ip, 0};
  c.dht.ephemeral = true;  // as testnet.createNode()
  return c;
}

class EchoServer {
 public:
  EchoServer(core::Runtime& runtime, const std::string& bootstrap)
      : node_(runtime, endpoint_config(bootstrap)), server_(node_) {}

  void start() {
    node_.dht().events().ready = [this] { listen(); };
    if (auto r = node_.start(); !r) {
      std::fprintf(stderr, "flood_server: start: %s\n", r.error().message().c_str());
      std::exit(1);
    }
  }

  json stats() const {
    const ServerStats& s = server_.stats();
    return {{"handshakes", s.handshakes},
            {"deduped", s.deduped},
            {"invalid", s.invalid},
            {"rate_limited", s.rate_limited},
            {"firewall_rejected", s.firewall_rejected},
            {"error_replies", s.error_replies},
            {"connections", s.connections},
            {"aborts", s.aborts},
            {"direct_handshakes", s.direct_handshakes}};
  }

 private:
  void listen() {
    if (listening_) return;
    listening_ = true;
    const crypto::KeyPair kp = HyperDhtNode::key_pair(std::nullopt);
    server_.set_handlers(
        {.on_listening = {},
         .on_connection = [this](std::unique_ptr<core::SecretStream> s) { accept(std::move(s)); },
         .on_close = {}});
    server_.listen(kp, [this, kp](std::error_code ec) {
      if (ec) {
        std::fprintf(stderr, "flood_server: listen: %s\n", ec.message().c_str());
        std::exit(1);
      }
      json ready = {{"ready", true},
                    {"publicKey", to_hex(ByteView(kp.public_key))},
                    {"firewalled", node_.dht().firewalled()}};
      std::printf("%s\n", ready.dump().c_str());
      std::fflush(stdout);
    });
  }

  void accept(std::unique_ptr<core::SecretStream> s) {
    core::SecretStream* raw = s.get();
    streams_[raw] = std::move(s);
    raw->set_handlers({.on_data = [raw](ByteView d) { (void)raw->write(d); },
                       .on_end = [raw] { (void)raw->end(); },
                       .on_drain = {},
                       .on_message = {},
                       .on_close = [this, raw](const core::SecretStreamError&) { forget(raw); }});
  }

  void forget(core::SecretStream* raw) {
    boost::asio::post(node_.runtime().executor(), [this, raw] { streams_.erase(raw); });
  }

  HyperDhtNode node_;
  Server server_;
  bool listening_ = false;
  std::map<core::SecretStream*, std::unique_ptr<core::SecretStream>> streams_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string bootstrap;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--bootstrap") bootstrap = argv[i + 1];
  }
  if (bootstrap.empty()) {
    std::fprintf(stderr, "usage: flood_server --bootstrap HOST:PORT[,...]\n");
    return 2;
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  EchoServer server(runtime, bootstrap);
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    std::printf("%s\n", json{{"stats", server.stats()}}.dump().c_str());
    std::fflush(stdout);
    ctx.stop();
  });
  server.start();
  ctx.run();
  return 0;
}
