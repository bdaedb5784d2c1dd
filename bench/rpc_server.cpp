// rpc_server: the C++ side of bench/suites/rpc.sh. One dht-rpc node (DhtNode on AsioRuntime)
// bound to 127.0.0.1:PORT, persistent and not firewalled (DHT.bootstrapper), whose routing
// table is filled with synthetic nodes so that FIND_NODE replies carry 20 closer nodes, as in a
// big network. bench/js/rpc_server.js is the same node in JS, filled with the same nodes.
//
//   rpc_server --port P [--nodes N] [--request-rate-limit R] [--request-rate-burst B]
//
// The per-host request limit is the node's default (RpcIoConfig::request_rate_limit) unless
// given; 0 turns it off (bench/suites/rpc.sh does: its load comes from one address on purpose).
// Prints {"ready":true,"pid":..,"port":..,"table_size":..} once the table is filled, then
// serves until SIGINT/SIGTERM, and then prints {"stats":{"rate_limited_requests":..,...}}.
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/asio_runtime.hpp"
#include "core/dht_node.hpp"
#include "protocol/node_id.hpp"

using namespace hdht;

namespace {

// The i-th synthetic node, the same list as bench/js/rpc_server.js: a Knuth multiplicative hash
// spreads i over 10.0.0.0/8 and the ports.
Ipv4Address synthetic_address(std::uint32_t i) {
  const std::uint32_t x = i * 2654435761u;
  Ipv4Address a;
  a.ip = {10, static_cast<std::uint8_t>(x >> 16), static_cast<std::uint8_t>(x >> 8),
          static_cast<std::uint8_t>(x)};
  a.port = static_cast<std::uint16_t>(1024 + x % 60000);
  return a;
}

// Straight into the table, as the JS bench does with dht.table.add(): these nodes do not
// exist, so they must not enter the recency list the ticks ping from. A full bucket simply
// refuses (RoutingTable::add has no side effects; the node's full-bucket hook is not involved).
std::size_t fill_table(dht::DhtNode& node, std::uint32_t count) {
  auto& table = node.mutable_table();
  for (std::uint32_t i = 0; i < count; ++i) {
    dht::Node n;
    n.addr = synthetic_address(i);
    n.id = rpc::node_id(n.addr);
    n.added = n.pinged = n.seen = node.tick();
    table.add(n);
  }
  return table.size();
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  std::uint32_t nodes = 5000;
  core::SourceRateLimit limit = dht::RpcIoConfig{}.request_rate_limit;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view a = argv[i];
    if (a == "--port")
      port = static_cast<std::uint16_t>(std::atoi(argv[i + 1]));
    else if (a == "--nodes")
      nodes = static_cast<std::uint32_t>(std::strtoul(argv[i + 1], nullptr, 10));
    else if (a == "--request-rate-limit")
      limit.per_second = std::strtod(argv[i + 1], nullptr);
    else if (a == "--request-rate-burst")
      limit.burst = std::strtod(argv[i + 1], nullptr);
  }
  if (port == 0) {
    std::fprintf(stderr,
                 "usage: rpc_server --port P [--nodes N] [--request-rate-limit R] "
                 "[--request-rate-burst B]\n");
    return 2;
  }

  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  const Ipv4Address host{{127, 0, 0, 1}, port};
  auto config = dht::DhtConfig::bootstrapper(port, host);
  config.io.bind_host = host;
  config.io.request_rate_limit = limit;
  dht::DhtNode node(runtime, config);
  // The table's id is node_id(host:port) only once the node is persistent, after bootstrap.
  node.events().ready = [&] {
    const std::size_t size = fill_table(node, nodes);
    // The port actually bound: like the JS, the node falls back to port+1..port+4 if taken.
    const unsigned bound = node.io().server_socket()->local_address().port;
    std::printf("{\"ready\":true,\"pid\":%ld,\"port\":%u,\"table_size\":%zu}\n",
                static_cast<long>(::getpid()), bound, size);
    std::fflush(stdout);
  };
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    const auto& st = node.io().stats();
    std::printf(
        "{\"stats\":{\"rate_limited_requests\":%llu,\"limited_hosts\":%zu,"
        "\"dropped_malformed\":%llu}}\n",
        static_cast<unsigned long long>(st.rate_limited_requests), node.io().rate_limited_hosts(),
        static_cast<unsigned long long>(st.dropped_malformed));
    std::fflush(stdout);
    node.destroy();
    ctx.stop();
  });
  if (auto r = node.start(); !r) {
    std::fprintf(stderr, "rpc_server: cannot start: %s\n", r.error().message().c_str());
    return 1;
  }
  ctx.run();
  return 0;
}
