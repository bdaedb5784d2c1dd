// records_net: the C++ side of bench/suites/records.sh (bench/js/records_net.js is the JS one).
//
//   records_net --serve --port P [--nodes N] [--records M]
//       N HyperDhtNodes in this process on 127.0.0.1, as the JS testnet builds them: a
//       bootstrapper on port P, then N-1 persistent, not-firewalled nodes joining it one after
//       another, on ports P+1, P+2, ... (unless taken), so that their ids, H(host:port), and so
//       the network's shape, are those of the JS network built with the same P. A seeding client
//       then stores M records of each kind (announce on M topics, M immutable and M mutable values
//       of 128 B; the keys are derived from the index, the same in both languages), prints
//       {"ready":true,"bootstrap":"127.0.0.1:P",...} and serves until stdin closes or SIGTERM.
//   records_net --client --bootstrap H:P [--records M] [--ops K] [--warmup W]
//       An ephemeral, firewalled client joins the network (C++ or JS), runs W untimed then K
//       timed operations of each kind one after another (lookup of an announced topic,
//       immutable_get of a stored hash, mutable_get of a stored key), and prints one JSON line:
//       per kind the median and p95 latency in ms and the UDP datagrams the client sent plus
//       received per operation (its two sockets' counters, before and after each operation),
//       and the samples themselves (ms, msgs, sent: one per timed operation).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "core/asio_runtime.hpp"
#include "core/hyperdht_node.hpp"
#include "protocol/crypto.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;

namespace {

constexpr std::size_t kValueSize = 128;
const Ipv4Address kHost{{127, 0, 0, 1}, 0};

Bytes32 hash_of(const std::string& s) {
  return HyperDhtNode::hash(as_bytes(s));
}
Bytes padded(const std::string& s) {
  Bytes v(kValueSize, '.');
  std::copy(s.begin(), s.end(), v.begin());
  return v;
}
// The seeded records; bench/js/records_net.js derives the same ones.
Bytes32 topic(std::size_t i) {
  return hash_of("records-bench topic " + std::to_string(i));
}
crypto::KeyPair announcer(std::size_t i) {
  return HyperDhtNode::key_pair(hash_of("records-bench announcer " + std::to_string(i)));
}
Bytes immutable_value(std::size_t i) {
  return padded("records-bench immutable " + std::to_string(i));
}
crypto::KeyPair mutable_key(std::size_t i) {
  return HyperDhtNode::key_pair(hash_of("records-bench mutable " + std::to_string(i)));
}
Bytes mutable_value(std::size_t i) {
  return padded("records-bench mutable " + std::to_string(i));
}

struct Args {
  bool serve = false, client = false;
  std::uint16_t port = 0;
  std::string bootstrap;
  std::size_t nodes = 200, records = 16, ops = 100, warmup = 10;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string_view k = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
    if (k == "--serve")
      a.serve = true;
    else if (k == "--client")
      a.client = true;
    else if (k == "--port")
      a.port = static_cast<std::uint16_t>(std::atoi(next()));
    else if (k == "--bootstrap")
      a.bootstrap = next();
    else if (k == "--nodes")
      a.nodes = std::strtoul(next(), nullptr, 10);
    else if (k == "--records")
      a.records = std::strtoul(next(), nullptr, 10);
    else if (k == "--ops")
      a.ops = std::strtoul(next(), nullptr, 10);
    else if (k == "--warmup")
      a.warmup = std::strtoul(next(), nullptr, 10);
  }
  return a;
}

void emit(const json& j) {
  std::cout << j.dump() << "\n";
  std::cout.flush();
}
void progress(const std::string& s) {
  std::fprintf(stderr, "records_net: %s\n", s.c_str());
}

// Runs step(i, next) for i = 0..count-1, one after another (next() starts the following one,
// always from a fresh handler), then done().
void sequence(core::Runtime& rt, std::size_t count,
              std::function<void(std::size_t, std::function<void()>)> step,
              std::function<void()> done) {
  auto run = std::make_shared<std::function<void(std::size_t)>>();
  *run = [&rt, count, step, done, weak = std::weak_ptr(run)](std::size_t i) {
    if (i == count) return done();
    auto self = weak.lock();
    step(i, [&rt, self, i] { boost::asio::post(rt.executor(), [self, i] { (*self)(i + 1); }); });
  };
  // The chain keeps itself alive through the posted handlers.
  boost::asio::post(rt.executor(), [run] { (*run)(0); });
}

// Datagrams sent by the client's two sockets (first) and received by them (second).
std::pair<std::uint64_t, std::uint64_t> datagrams(HyperDhtNode& n) {
  std::pair<std::uint64_t, std::uint64_t> total{0, 0};
  for (auto* s : {n.dht().io().server_socket(), n.dht().io().client_socket()})
    if (s)
      total.first += s->counters().sent_datagrams, total.second += s->counters().received_datagrams;
  return total;
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(pos);
  const auto hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

class Bench {
 public:
  Bench(boost::asio::io_context& ctx, core::Runtime& rt, Args args)
      : ctx_(ctx), rt_(rt), args_(std::move(args)) {}

  void serve() {
    auto first = dht::DhtConfig::bootstrapper(args_.port, {kHost.ip, args_.port});
    first.io.bind_host = kHost;
    HyperDhtConfig boot;
    boot.dht = first;
    start_node(boot, [this] {
      const auto port = nodes_[0]->dht().io().server_socket()->local_address().port;
      bootstrap_ = "127.0.0.1:" + std::to_string(port);
      progress("bootstrapper on " + bootstrap_);
      HyperDhtConfig c;
      c.dht.bootstrap = *dht::BootstrapEntry::parse_list(bootstrap_);
      c.dht.io.bind_host = kHost;
      c.dht.ephemeral = false;
      c.dht.io.firewalled = false;
      const auto t0 = std::chrono::steady_clock::now();
      sequence(
          rt_, args_.nodes - 1,
          [this, c](std::size_t i, std::function<void()> next) {
            if (i % 50 == 49) progress(std::to_string(i + 1) + " nodes joined");
            // Ports P+1, P+2, ... (ids are H(host:port)): the same ids as the JS network's.
            HyperDhtConfig ci = c;
            ci.dht.io.port = static_cast<std::uint16_t>(args_.port + 1 + i);
            start_node(ci, std::move(next));
          },
          [this, t0] {
            const double s =
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            progress(std::to_string(nodes_.size()) + " nodes up in " + std::to_string(s) + " s");
            make_client(bootstrap_, [this] { seed(); });
          });
    });
  }

  void client() {
    make_client(args_.bootstrap, [this] { measure(); });
  }

 private:
  void start_node(const HyperDhtConfig& c, std::function<void()> ready) {
    nodes_.push_back(std::make_unique<HyperDhtNode>(rt_, c));
    HyperDhtNode* n = nodes_.back().get();
    n->dht().events().ready = [this, ready] { boost::asio::post(rt_.executor(), ready); };
    if (auto r = n->start(); !r) {
      progress("cannot start a node: " + r.error().message());
      std::_Exit(1);
    }
  }

  void make_client(const std::string& bootstrap, std::function<void()> ready) {
    HyperDhtConfig c;
    auto list = dht::BootstrapEntry::parse_list(bootstrap);
    if (!list) {
      progress("bad --bootstrap");
      std::_Exit(2);
    }
    c.dht.bootstrap = std::move(*list);
    c.dht.io.bind_host = kHost;
    c.dht.ephemeral = true;
    c.dht.io.firewalled = true;
    client_ = std::make_unique<HyperDhtNode>(rt_, c);
    client_->dht().events().ready = [this, ready] { boost::asio::post(rt_.executor(), ready); };
    if (auto r = client_->start(); !r) {
      progress("cannot start the client: " + r.error().message());
      std::_Exit(1);
    }
  }

  // Announces, immutable puts, mutable puts: one after another.
  void seed() {
    const std::size_t m = args_.records;
    auto failures = std::make_shared<std::size_t>(0);
    sequence(
        rt_, 3 * m,
        [this, m, failures](std::size_t i, std::function<void()> next) {
          const std::size_t k = i % m;
          if (i < m) {
            auto s = client_->announce(topic(k), announcer(k), {});
            s->on_done([failures, next](std::error_code ec) {
              if (ec) ++*failures;
              next();
            });
            LookupStream* raw = s.get();
            op_ = std::move(s);
            raw->start();
          } else if (i < 2 * m) {
            op_ = client_->immutable_put(immutable_value(k),
                                         [failures, next](Result<ImmutablePutResult> r) {
                                           if (!r) ++*failures;
                                           next();
                                         });
          } else {
            MutablePutOptions o;
            op_ = client_->mutable_put(mutable_key(k), mutable_value(k), o,
                                       [failures, next](Result<MutablePutResult> r) {
                                         if (!r) ++*failures;
                                         next();
                                       });
          }
        },
        [this, failures] {
          emit({{"ready", true},
                {"pid", static_cast<long>(::getpid())},
                {"bootstrap", bootstrap_},
                {"nodes", nodes_.size()},
                {"records", args_.records},
                {"seed_failures", *failures}});
        });
  }

  // One kind of operation: warm-up + timed runs, then the next kind.
  struct Kind {
    std::string name;
    std::vector<double> ms, msgs, sent;
    std::size_t found = 0;
  };

  void run_op(const std::string& kind, std::size_t k, std::function<void(bool)> done) {
    if (kind == "lookup") {
      auto s = client_->lookup(topic(k));
      auto hit = std::make_shared<bool>(false);
      const Bytes32 want = announcer(k).public_key;
      s->on_reply([hit, want](const LookupResult& r) {
        for (const auto& p : r.peers)
          if (p.public_key == want) *hit = true;
      });
      s->on_done([hit, done](std::error_code ec) { done(!ec && *hit); });
      LookupStream* raw = s.get();
      op_ = std::move(s);
      raw->start();
    } else if (kind == "immutable_get") {
      op_ = client_->immutable_get(HyperDhtNode::hash(immutable_value(k)),
                                   [done](auto r) { done(r && r->has_value()); });
    } else {
      op_ = client_->mutable_get(mutable_key(k).public_key, MutableGetOptions{},
                                 [done](auto r) { done(r && r->has_value()); });
    }
  }

  void measure() {
    progress("client bootstrapped; measuring");
    kinds_ = {{"lookup", {}, {}, {}, 0},
              {"immutable_get", {}, {}, {}, 0},
              {"mutable_get", {}, {}, {}, 0}};
    const std::size_t per_kind = args_.warmup + args_.ops;
    sequence(
        rt_, kinds_.size() * per_kind,
        [this, per_kind](std::size_t i, std::function<void()> next) {
          Kind& kind = kinds_[i / per_kind];
          const std::size_t j = i % per_kind;
          const bool timed = j >= args_.warmup;
          const std::size_t k = j % args_.records;
          const auto t0 = std::chrono::steady_clock::now();
          const auto d0 = datagrams(*client_);
          run_op(kind.name, k, [this, &kind, timed, t0, d0, next](bool found) {
            if (timed) {
              kind.ms.push_back(
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                      .count());
              const auto d1 = datagrams(*client_);
              kind.msgs.push_back(static_cast<double>(d1.first + d1.second - d0.first - d0.second));
              kind.sent.push_back(static_cast<double>(d1.first - d0.first));
              if (found) ++kind.found;
            }
            next();
          });
        },
        [this] { report(); });
  }

  void report() {
    json out = {{"side", "cpp"}, {"ops", args_.ops}};
    for (const Kind& k : kinds_) {
      double sum = 0, sent = 0;
      for (double m : k.msgs)
        sum += m;
      for (double m : k.sent)
        sent += m;
      out[k.name] = {{"ms_median", quantile(k.ms, 0.5)},
                     {"ms_p95", quantile(k.ms, 0.95)},
                     {"msgs_mean", k.msgs.empty() ? 0 : sum / static_cast<double>(k.msgs.size())},
                     {"msgs_median", quantile(k.msgs, 0.5)},
                     {"sent_mean", k.msgs.empty() ? 0 : sent / static_cast<double>(k.msgs.size())},
                     {"found", k.found},
                     {"samples", {{"ms", k.ms}, {"msgs", k.msgs}, {"sent", k.sent}}}};
    }
    emit(out);
    op_.reset();
    client_->destroy();
    ctx_.stop();
  }

  boost::asio::io_context& ctx_;
  core::Runtime& rt_;
  Args args_;
  std::string bootstrap_;
  std::vector<std::unique_ptr<HyperDhtNode>> nodes_;
  std::unique_ptr<HyperDhtNode> client_;
  std::unique_ptr<OperationBase> op_;
  std::vector<Kind> kinds_;
};

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  if (args.serve == args.client || (args.serve && args.port == 0) ||
      (args.client && args.bootstrap.empty()) || args.nodes < 2 || args.records == 0) {
    std::fprintf(stderr,
                 "usage: records_net --serve --port P [--nodes N] [--records M]\n"
                 "       records_net --client --bootstrap H:P [--records M] [--ops K] "
                 "[--warmup W]\n");
    return 2;
  }
  crypto::init();
  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  Bench bench(ctx, runtime, args);
  boost::asio::signal_set signals(ctx, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) ctx.stop();
  });
  if (args.serve) {
    // Serve until stdin closes (the suite holds it open).
    std::thread([&ctx] {
      std::string line;
      while (std::getline(std::cin, line)) {
      }
      boost::asio::post(ctx, [&ctx] { ctx.stop(); });
    }).detach();
    bench.serve();
  } else {
    bench.client();
  }
  ctx.run();
  std::cout.flush();
  std::_Exit(0);
}
