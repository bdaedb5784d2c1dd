// connect_peer: the C++ side of bench/suites/connect.sh and of the NAT lab (tests/nat), with the
// command line and output of bench/js/connect.js, so the suite can pair any two ends.
//
//   connect_peer --role server --bootstrap HOST:PORT[,...] [--host H] [--seed HEX]
//       an echo server (core::Server) on its own ephemeral node; prints
//       {"ready":true,"publicKey":HEX,"firewalled":b} once announced, runs until SIGTERM/SIGINT,
//       then prints the server's counters as {"stats":{handshakes, invalid, rate_limited, ...}}
//       (bench/suites/flood.sh reads whether the per-host handshake limit tripped).
//   connect_peer --role client --bootstrap HOST:PORT[,...] --key HEX [--host H]
//        [--sequential N] [--concurrent C] [--total T] [--timeout S]
//       N sequential connects (core::PeerConnect), then T connects C at a time; each waits for
//       the stream (PeerConnect's completion: the raw stream connected and the secret stream
//       started, where the JS socket emits 'connect'), writes one byte, waits for the echo and
//       destroys the stream. Prints one result line:
//       {"impl":"cpp","sequential":{"n","open_ms":{...},"echo_ms":{...}},
//        "concurrent":{"n","width","seconds","connects_per_s"},"failures":{CODE:n},
//        "firewalled":b,"punches":{...},"paths":{...},"cpu_s":client CPU over both phases}
//   connect_peer --capabilities  -> {"impl":"cpp","roles":["server","client"]}
// --host: the bind address of the endpoint's node (default 127.0.0.1; 0.0.0.0 in the NAT lab).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/hyperdht_server.hpp"
#include "core/peer_connect.hpp"
#include "core/secret_stream.hpp"
#include "core/timer.hpp"
#include "protocol/bytes.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;

namespace {

struct Options {
  std::string role;
  std::string bootstrap;
  std::string host = "127.0.0.1";
  std::string seed;
  std::string key;
  int sequential = 100;
  int concurrent = 16;
  int total = 160;
  int timeout_s = 120;
};

std::optional<Options> parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--capabilities") {
      std::puts(R"({"impl":"cpp","roles":["server","client"]})");
      std::exit(0);
    }
    if (i + 1 >= argc) return std::nullopt;
    const std::string v = argv[++i];
    try {
      if (a == "--role")
        o.role = v;
      else if (a == "--bootstrap")
        o.bootstrap = v;
      else if (a == "--host")
        o.host = v;
      else if (a == "--seed")
        o.seed = v;
      else if (a == "--key")
        o.key = v;
      else if (a == "--sequential")
        o.sequential = std::stoi(v);
      else if (a == "--concurrent")
        o.concurrent = std::stoi(v);
      else if (a == "--total")
        o.total = std::stoi(v);
      else if (a == "--timeout")
        o.timeout_s = std::stoi(v);
      else
        return std::nullopt;
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }
  if (o.role != "server" && o.role != "client") return std::nullopt;
  if (o.bootstrap.empty()) return std::nullopt;
  if (o.role == "client" && o.key.size() != 64) return std::nullopt;
  if (o.sequential < 0 || o.concurrent < 1 || o.total < 0 || o.timeout_s < 1) return std::nullopt;
  return o;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

json distribution(std::vector<double> xs) {
  if (xs.empty()) return {{"median", nullptr}, {"p95", nullptr}, {"mean", nullptr}};
  std::sort(xs.begin(), xs.end());
  auto at = [&](double q) {
    return xs[std::min(xs.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(xs.size())))];
  };
  double sum = 0;
  for (double x : xs)
    sum += x;
  auto round3 = [](double v) {
    return static_cast<double>(static_cast<long long>(v * 1000 + 0.5)) / 1000;
  };
  return {{"median", round3(at(0.5))},
          {"p95", round3(at(0.95))},
          {"mean", round3(sum / static_cast<double>(xs.size()))}};
}

std::optional<Bytes32> hex32(const std::string& s) {
  return fixed_from_hex<32>(s);
}

HyperDhtConfig endpoint_config(const Options& o) {
  HyperDhtConfig c;
  auto list = dht::BootstrapEntry::parse_list(o.bootstrap);
  if (!list) {
    std::fprintf(stderr, "connect_peer: bad --bootstrap\n");
    std::exit(2);
  }
  c.dht.bootstrap = std::move(*list);
  auto host = Ipv4Address::parse_host(o.host);
  if (!host) {
    std::fprintf(stderr, "connect_peer: bad --host\n");
    std::exit(2);
  }
  c.dht.io.bind_host = {*host, 0};
  c.dht.ephemeral = true;  // as testnet.createNode()
  return c;
}

const char* error_code_name(const std::error_code& ec) {
  if (ec.category() == hyperdht_category())
    return hyperdht_error_name(static_cast<HyperDhtErrc>(ec.value()));
  return nullptr;
}

// --- the echo server ---
class EchoServer {
 public:
  EchoServer(core::Runtime& runtime, const Options& o)
      : node_(runtime, endpoint_config(o)), server_(node_), opts_(o) {}

  void start() {
    node_.dht().events().ready = [this] { listen(); };
    if (auto r = node_.start(); !r) {
      std::fprintf(stderr, "connect_peer: start: %s\n", r.error().message().c_str());
      std::exit(1);
    }
  }

  json stats() const {
    const ServerStats& s = server_.stats();
    return {{"handshakes", s.handshakes},
            {"deduped", s.deduped},
            {"invalid", s.invalid},
            {"rate_limited", s.rate_limited},
            {"handshake_slots_full", s.handshake_slots_full},
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
    const auto seed = opts_.seed.empty() ? std::nullopt : hex32(opts_.seed);
    const crypto::KeyPair kp = HyperDhtNode::key_pair(seed);
    server_.set_handlers(
        {.on_listening = {},
         .on_connection = [this](std::unique_ptr<core::SecretStream> s) { accept(std::move(s)); },
         .on_close = {}});
    server_.listen(kp, [this, kp](std::error_code ec) {
      if (ec) {
        std::fprintf(stderr, "connect_peer: listen: %s\n", ec.message().c_str());
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

  // Not inside the stream's own handler: it is still on the stack.
  void forget(core::SecretStream* raw) {
    boost::asio::post(node_.runtime().executor(), [this, raw] { streams_.erase(raw); });
  }

  HyperDhtNode node_;
  Server server_;
  Options opts_;
  bool listening_ = false;
  std::map<core::SecretStream*, std::unique_ptr<core::SecretStream>> streams_;
};

// --- the client ---
class Client {
 public:
  Client(core::Runtime& runtime, const Options& o, std::function<void()> finished)
      : node_(runtime, endpoint_config(o)), opts_(o), finished_(std::move(finished)) {}

  void start() {
    node_.dht().events().ready = [this] {
      if (started_) return;
      started_ = true;
      cpu0_ = cpu_seconds();
      sequential_next();
    };
    if (auto r = node_.start(); !r) {
      std::fprintf(stderr, "connect_peer: start: %s\n", r.error().message().c_str());
      std::exit(1);
    }
  }

 private:
  struct Attempt {
    std::unique_ptr<PeerConnect> connect;
    std::unique_ptr<core::SecretStream> stream;
    std::unique_ptr<core::Timer> timeout;
    core::TimePoint t0;
    double open_ms = 0;
    bool done = false;
    std::function<void(bool ok, double open_ms, double echo_ms)> then;
  };

  double ms_since(core::TimePoint t0) {
    return std::chrono::duration<double, std::milli>(node_.runtime().now() - t0).count();
  }

  // One connect + one-byte echo; `then` runs once, from a posted handler.
  void connect_once(std::function<void(bool, double, double)> then) {
    auto key = hex32(opts_.key);
    auto a = std::make_shared<Attempt>();
    a->t0 = node_.runtime().now();
    a->then = std::move(then);
    a->timeout = std::make_unique<core::Timer>(node_.runtime());
    const auto per_connect = std::chrono::milliseconds(std::max(1000, opts_.timeout_s * 1000 / 4));
    a->timeout->expires_after(per_connect, [this, a] { finish(a, "BENCH_TIMEOUT", 0); });
    live_.insert(a);
    a->connect = PeerConnect::start(
        node_, *key, ConnectOptions{}, [this, a](Result<std::unique_ptr<core::SecretStream>> r) {
          if (a->done) return;
          if (!r) {
            const char* name = error_code_name(r.error());
            finish(a, name ? name : r.error().message(), 0);
            return;
          }
          a->open_ms = ms_since(a->t0);
          ++paths_[path_name(a->connect->stats().path)];
          a->stream = std::move(*r);
          a->stream->set_handlers(
              {.on_data = [this, a](ByteView) { finish(a, {}, ms_since(a->t0)); },
               .on_end = {},
               .on_drain = {},
               .on_message = {},
               .on_close = [this, a](const core::SecretStreamError&) { finish(a, "CLOSED", 0); }});
          const std::uint8_t one = 7;
          (void)a->stream->write(ByteView(&one, 1));
        });
  }

  static const char* path_name(ConnectPath p) { return connect_path_name(p); }

  void finish(const std::shared_ptr<Attempt>& a, const std::string& error, double echo_ms) {
    if (a->done) return;
    a->done = true;
    // The stream and the connect may be on the stack: drop them on the next turn.
    boost::asio::post(node_.runtime().executor(), [this, a, error, echo_ms] {
      a->timeout.reset();
      if (a->stream) a->stream->destroy();
      a->stream.reset();
      a->connect.reset();
      live_.erase(a);
      if (!error.empty()) ++failures_[error];
      a->then(error.empty(), a->open_ms, echo_ms);
    });
  }

  void sequential_next() {
    if (seq_done_ >= opts_.sequential) {
      concurrent_start();
      return;
    }
    connect_once([this](bool ok, double open_ms, double echo_ms) {
      if (ok) {
        open_.push_back(open_ms);
        echo_.push_back(echo_ms);
      }
      ++seq_done_;
      sequential_next();
    });
  }

  void concurrent_start() {
    conc_t0_ = node_.runtime().now();
    if (opts_.total == 0) return report();
    lanes_ = std::min(opts_.concurrent, opts_.total);
    for (int i = 0; i < lanes_; ++i)
      lane();
  }

  void lane() {
    if (next_ >= opts_.total) {
      if (--lanes_ == 0) report();
      return;
    }
    ++next_;
    connect_once([this](bool ok, double, double) {
      if (ok) ++conc_ok_;
      lane();
    });
  }

  void report() {
    const double seconds = std::chrono::duration<double>(node_.runtime().now() - conc_t0_).count();
    const PunchStats& p = node_.punch_state().stats;
    json out = {
        {"impl", "cpp"},
        {"sequential",
         {{"n", open_.size()}, {"open_ms", distribution(open_)}, {"echo_ms", distribution(echo_)}}},
        {"concurrent",
         {{"n", conc_ok_},
          {"width", opts_.concurrent},
          {"seconds", seconds},
          {"connects_per_s",
           seconds > 0 ? std::round(static_cast<double>(conc_ok_) / seconds * 10) / 10 : 0.0}}},
        {"failures", failures_},
        {"firewalled", node_.dht().firewalled()},
        {"punches",
         {{"consistent", p.consistent},
          {"random", p.random},
          {"open", p.open},
          {"tryLater", p.try_later}}},
        {"paths", paths_},
        {"cpu_s", cpu_seconds() - cpu0_}};
    std::printf("%s\n", out.dump().c_str());
    std::fflush(stdout);
    finished_();
  }

  HyperDhtNode node_;
  Options opts_;
  std::function<void()> finished_;
  bool started_ = false;
  double cpu0_ = 0;
  std::set<std::shared_ptr<Attempt>> live_;
  std::vector<double> open_, echo_;
  std::map<std::string, int> failures_;
  std::map<std::string, int> paths_;
  int seq_done_ = 0;
  int lanes_ = 0;
  int next_ = 0;
  int conc_ok_ = 0;
  core::TimePoint conc_t0_{};
};

}  // namespace

int main(int argc, char** argv) {
  auto o = parse(argc, argv);
  if (!o) {
    std::fprintf(stderr,
                 "usage: connect_peer --role server|client --bootstrap HOST:PORT[,...] [--host H] "
                 "[--seed HEX] [--key HEX] [--sequential N] [--concurrent C] [--total T] "
                 "[--timeout S] | --capabilities\n");
    return 2;
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  // A hang guard for the client, not a figure.
  core::Timer guard(runtime);
  int status = 0;
  std::unique_ptr<EchoServer> server;
  std::unique_ptr<Client> client;
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    if (server) {
      std::printf("%s\n", json{{"stats", server->stats()}}.dump().c_str());
      std::fflush(stdout);
    }
    ctx.stop();
  });
  if (o->role == "server") {
    server = std::make_unique<EchoServer>(runtime, *o);
    server->start();
  } else {
    guard.expires_after(std::chrono::seconds(o->timeout_s), [&] {
      std::fprintf(stderr, "connect_peer: timeout\n");
      status = 3;
      ctx.stop();
    });
    client = std::make_unique<Client>(runtime, *o, [&] { ctx.stop(); });
    client->start();
  }
  ctx.run();
  return status;
}
