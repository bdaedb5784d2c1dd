// records_server: the C++ storing node of bench/suites/flood_records.sh and of the flood.records
// test, the counterpart of bench/js/records_server.js. One HyperDhtNode
// (DhtConfig::bootstrapper: persistent, not firewalled) on 127.0.0.1:PORT, alone, whose record
// caps are set from the command line so a flood can be seen tripping them.
//
//   records_server --port P [--max-size N] [--max-record-bytes B] [--max-value-bytes B]
//                  [--request-rate-limit R] [--request-rate-burst B] [--stats-ms MS]
//
// Caps default to HyperDhtConfig's (65536 entries, 32 / 64 MiB); the per-host request limit to
// RpcIoConfig's (0 = off). Prints {"ready":true,"pid":..,"port":..}, then every --stats-ms
// (default 500) and once more on SIGINT/SIGTERM a line {"stats":{...}}: VmRSS, the stored
// counts and bytes of each store, the entries its rotations dropped (evicted: what the flood
// displaced), and the requests refused for a bad token or dropped by the per-host limit.
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "bench/proc_stats.hpp"
#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;
using namespace hdht::hyperdht;

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: records_server --port P [--max-size N] [--max-record-bytes B] "
               "[--max-value-bytes B] [--request-rate-limit R] [--request-rate-burst B] "
               "[--stats-ms MS]\n");
  std::exit(2);
}

unsigned long long u(std::uint64_t v) {
  return static_cast<unsigned long long>(v);
}

void print_stats(HyperDhtNode& node, double t_s) {
  const double rss = bench::proc_status(::getpid(), "VmRSS").value_or(-1);
  const auto& io = node.dht().io().stats();
  RecordHandlers* s = node.storage();
  if (!s) {
    std::printf("{\"stats\":{\"t_s\":%.3f,\"rss_kib\":%.0f,\"storage\":false}}\n", t_s, rss);
  } else {
    std::printf(
        "{\"stats\":{\"t_s\":%.3f,\"rss_kib\":%.0f,\"storage\":true,"
        "\"records\":%zu,\"record_bytes\":%zu,\"topics\":%zu,\"records_evicted\":%llu,"
        "\"mutables\":%zu,\"mutable_bytes\":%zu,\"mutables_evicted\":%llu,"
        "\"immutables\":%zu,\"immutable_bytes\":%zu,\"immutables_evicted\":%llu,"
        "\"bumps\":%zu,\"refreshes\":%zu,\"invalid_tokens\":%llu,"
        "\"rate_limited_requests\":%llu}}\n",
        t_s, rss, s->records().size(), s->records().bytes(), s->records().topics(),
        u(s->records().evicted()), s->mutables().size(), s->mutables().bytes(),
        u(s->mutables().evicted()), s->immutables().size(), s->immutables().bytes(),
        u(s->immutables().evicted()), s->bumps().size(), s->refreshes().size(),
        u(io.invalid_tokens), u(io.rate_limited_requests));
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::uint16_t port = 0;
  HyperDhtConfig config;
  core::SourceRateLimit limit = dht::RpcIoConfig{}.request_rate_limit;
  long stats_ms = 500;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) usage();
    const std::string_view a = argv[i];
    const char* v = argv[i + 1];
    if (a == "--port")
      port = static_cast<std::uint16_t>(std::atoi(v));
    else if (a == "--max-size")
      config.max_size = std::strtoull(v, nullptr, 10);
    else if (a == "--max-record-bytes")
      config.max_record_bytes = std::strtoull(v, nullptr, 10);
    else if (a == "--max-value-bytes")
      config.max_value_bytes = std::strtoull(v, nullptr, 10);
    else if (a == "--request-rate-limit")
      limit.per_second = std::strtod(v, nullptr);
    else if (a == "--request-rate-burst")
      limit.burst = std::strtod(v, nullptr);
    else if (a == "--stats-ms")
      stats_ms = std::atol(v);
    else
      usage();
  }
  if (port == 0 || config.max_size < 2 || stats_ms <= 0) usage();

  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  const Ipv4Address host{{127, 0, 0, 1}, port};
  config.dht = dht::DhtConfig::bootstrapper(port, host);
  config.dht.io.bind_host = {host.ip, 0};
  config.dht.io.request_rate_limit = limit;
  HyperDhtNode node(runtime, config);

  const auto start = std::chrono::steady_clock::now();
  auto since = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  boost::asio::steady_timer timer(ctx);
  std::function<void()> arm = [&] {
    timer.expires_after(std::chrono::milliseconds(stats_ms));
    timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      print_stats(node, since());
      arm();
    });
  };
  node.dht().events().ready = [&] {
    std::printf("{\"ready\":true,\"pid\":%ld,\"port\":%u}\n", static_cast<long>(::getpid()),
                static_cast<unsigned>(node.dht().io().server_socket()->local_address().port));
    std::fflush(stdout);
    arm();
  };
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    print_stats(node, since());
    timer.cancel();
    node.destroy();
    ctx.stop();
  });
  if (auto r = node.start(); !r) {
    std::fprintf(stderr, "records_server: cannot start: %s\n", r.error().message().c_str());
    return 1;
  }
  ctx.run();
  return 0;
}
