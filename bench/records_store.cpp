// records_store: the C++ storing node of the store part of bench/suites/records.sh, the
// counterpart of `node bench/js/records_store.js --serve`.
//
//   records_store --port P
//
// One HyperDhtNode (DhtConfig::bootstrapper: persistent, not firewalled) on 127.0.0.1:P, alone.
// Prints {"ready":true,"pid":..,"port":..}; then answers each "rss" line on stdin with
// {"rss_kib":..,"mutables":..,"mutable_bytes":..} (VmRSS from /proc/self/status; the count and
// bytes held by the mutable store), until stdin closes or SIGTERM. The records arrive over the
// wire: bench/js/records_store.js --put sends the MUTABLE_PUT requests, identical for both nodes.
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;
using namespace hdht::hyperdht;

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  return -1;
}

void emit(const nlohmann::json& j) {
  std::cout << j.dump() << "\n";
  std::cout.flush();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  for (int i = 1; i + 1 < argc; i += 2)
    if (std::string_view(argv[i]) == "--port")
      port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
  if (port == 0) {
    std::fprintf(stderr, "usage: records_store --port P\n");
    return 2;
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  const Ipv4Address host{{127, 0, 0, 1}, port};
  HyperDhtConfig config;
  config.dht = dht::DhtConfig::bootstrapper(port, host);
  config.dht.io.bind_host = {host.ip, 0};
  // The putter sends 10 000 MUTABLE_PUTs from one address as fast as the node answers: a flood
  // on purpose, which the per-host request limit would throttle (the JS node has none).
  config.dht.io.request_rate_limit = {};
  HyperDhtNode node(runtime, config);
  node.dht().events().ready = [&] {
    emit({{"ready", true},
          {"pid", static_cast<long>(::getpid())},
          {"port", node.dht().io().server_socket()->local_address().port}});
  };
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ctx.stop();
  });
  std::thread([&] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line != "rss") continue;
      boost::asio::post(ctx, [&] {
        RecordHandlers* s = node.storage();
        emit({{"rss_kib", rss_kib()},
              {"mutables", s ? s->mutables().size() : 0},
              {"mutable_bytes", s ? s->mutables().bytes() : 0}});
      });
    }
    boost::asio::post(ctx, [&] { ctx.stop(); });
  }).detach();
  if (auto r = node.start(); !r) {
    std::fprintf(stderr, "records_store: cannot start: %s\n", r.error().message().c_str());
    return 1;
  }
  ctx.run();
  std::cout.flush();
  std::_Exit(0);
}
