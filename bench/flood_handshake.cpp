// flood_handshake: the load side of bench/suites/flood.sh (scenario "handshake"). A hyperdht
// server (C++ bench/connect_peer --role server or JS bench/js/connect.js --role server, on a JS
// testnet) is flooded with PEER_HANDSHAKE requests sent straight to its node's UDP sockets from
// --sources addresses 127.2.x.y, each carrying a random Noise IK message 1 (fresh ephemeral key per
// request, so nothing is deduplicated and each one costs the server a Noise attempt: a DH before
// the AEAD fails), at --rate requests per second (0: as fast as one thread can). Meanwhile a
// legitimate C++ client (its own HyperDhtNode on 127.0.0.1, core::PeerConnect through the
// testnet, as any client) connects every --connect-every-ms and drops the stream once open.
//
// Phases: idle (the client alone), flood, after (the client alone again). A connect counts in
// the phase it started in; it succeeds if the stream opens within --connect-timeout-ms.
//
//   flood_handshake --bootstrap HOST:PORT --key HEX --server-pid PID [--sources 64]
//                   [--rate 10000] [--idle 3] [--flood 6] [--after 3] [--connect-every-ms 200]
//                   [--connect-timeout-ms 5000]
//
// The server's UDP ports are found from /proc (its sockets bound to 127.0.0.1); its CPU time per
// phase, VmRSS and VmHWM, and the kernel's drop counters of those sockets are sampled from /proc.
// Prints one JSON line on stdout.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "bench/load_net.hpp"
#include "bench/measure.hpp"
#include "bench/proc_stats.hpp"
#include "core/asio_runtime.hpp"
#include "core/hyperdht_errors.hpp"
#include "core/hyperdht_node.hpp"
#include "core/peer_connect.hpp"
#include "core/secret_stream.hpp"
#include "core/timer.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/router_messages.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;
using namespace hdht::hyperdht;
using json = nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string bootstrap;
  Bytes32 key{};
  long server_pid = 0;
  std::size_t sources = 64;
  double rate = 10000;
  double idle = 3, flood = 6, after = 3;
  int every_ms = 200;
  int connect_timeout_ms = 5000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "flood_handshake: %s\nusage: flood_handshake --bootstrap HOST:PORT --key HEX "
               "--server-pid PID [--sources N] [--rate R] [--idle S] [--flood S] [--after S] "
               "[--connect-every-ms N] [--connect-timeout-ms N]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_key = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (a == "--bootstrap") {
      o.bootstrap = v;
    } else if (a == "--key") {
      auto k = fixed_from_hex<32>(v);
      if (!k) usage("bad --key");
      o.key = *k;
      have_key = true;
    } else if (a == "--server-pid") {
      o.server_pid = std::atol(v);
    } else if (a == "--sources") {
      o.sources = std::strtoul(v, nullptr, 10);
    } else if (a == "--rate") {
      o.rate = std::strtod(v, nullptr);
    } else if (a == "--idle") {
      o.idle = std::strtod(v, nullptr);
    } else if (a == "--flood") {
      o.flood = std::strtod(v, nullptr);
    } else if (a == "--after") {
      o.after = std::strtod(v, nullptr);
    } else if (a == "--connect-every-ms") {
      o.every_ms = std::atoi(v);
    } else if (a == "--connect-timeout-ms") {
      o.connect_timeout_ms = std::atoi(v);
    } else {
      usage("unknown option");
    }
  }
  if (o.bootstrap.empty() || !have_key || o.server_pid <= 0) usage("missing required option");
  if (o.sources == 0 || o.sources > 1000 || o.flood <= 0 || o.idle < 0 || o.after < 0 ||
      o.rate < 0 || o.every_ms < 10 || o.connect_timeout_ms < 100)
    usage("bad numbers");
  return o;
}

// ---- /proc ---------------------------------------------------------------------------------

using bench::proc_status;
using bench::Rng;

// Total CPU seconds of a process, -1 if it is gone.
double cpu_seconds_of(long pid) {
  const auto c = bench::proc_cpu(pid);
  return c ? c->total() : -1;
}

struct UdpSocket {
  std::uint16_t port = 0;
  double drops = 0;
};

// The UDP sockets of pid bound to 127.0.0.1 (/proc/PID/fd -> socket inodes -> /proc/net/udp).
std::vector<UdpSocket> server_sockets(long pid) {
  std::set<std::string> inodes;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code ec2;
    const auto target = std::filesystem::read_symlink(e.path(), ec2).string();
    if (!ec2 && target.rfind("socket:[", 0) == 0)
      inodes.insert(target.substr(8, target.size() - 9));
  }
  std::vector<UdpSocket> out;
  std::ifstream f("/proc/net/udp");
  std::string line;
  std::getline(f, line);
  while (std::getline(f, line)) {
    std::istringstream in(line);
    std::vector<std::string> fields;
    std::string x;
    while (in >> x)
      fields.push_back(x);
    if (fields.size() < 13 || !inodes.count(fields[9])) continue;
    const std::string& local = fields[1];  // 0100007F:PORT
    if (local.rfind("0100007F:", 0) != 0) continue;
    out.push_back({static_cast<std::uint16_t>(std::stoul(local.substr(9), nullptr, 16)),
                   std::strtod(fields.back().c_str(), nullptr)});
  }
  return out;
}

struct Snapshot {
  double cpu = -1, rss_mib = -1, drops = 0;
};

Snapshot snapshot(long pid) {
  Snapshot s;
  s.cpu = cpu_seconds_of(pid);
  const double kib = proc_status(pid, "VmRSS").value_or(-1);
  s.rss_mib = kib < 0 ? -1 : kib / 1024.0;
  for (const auto& u : server_sockets(pid))
    s.drops += u.drops;
  return s;
}

// ---- the flood -----------------------------------------------------------------------------

constexpr std::size_t kBatch = 64;
constexpr std::size_t kNoiseSize = 144;  // e (32) + encrypted s (48) + an encrypted payload (64)

struct FloodCounts {
  std::uint64_t sent = 0, replies = 0, send_errors = 0;
  double wall = 0, gen_cpu = 0;
};

class Flood {
 public:
  Flood(const Options& o, const std::vector<UdpSocket>& targets) : o_(o), rng_{0x5DEECE66DULL} {
    const Bytes32 target = crypto::hash32(ByteView(o.key));
    for (std::size_t i = 0; i < o.sources; ++i) {
      Source s;
      const std::uint16_t port = targets[i % targets.size()].port;
      s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s.fd < 0) usage("socket() failed");
      sockaddr_in local{};
      local.sin_family = AF_INET;
      const std::array<std::uint8_t, 4> ip{127, 2, static_cast<std::uint8_t>(i / 250),
                                           static_cast<std::uint8_t>(1 + i % 250)};
      std::memcpy(&local.sin_addr.s_addr, ip.data(), 4);
      if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
        usage("bind() failed");
      sockaddr_in to{};
      to.sin_family = AF_INET;
      to.sin_port = htons(port);
      to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&to), sizeof to) != 0)
        usage("connect() failed");
      // The datagram: a PEER_HANDSHAKE from a client, a recognisable noise to find its offset.
      msg::Handshake hs;
      hs.mode = msg::router_mode::FROM_CLIENT;
      hs.noise.assign(kNoiseSize, 0xA5);
      rpc::Request req;
      req.to = Ipv4Address{{127, 0, 0, 1}, port};
      req.command = msg::command::PEER_HANDSHAKE;
      req.target = target;
      req.value = msg::encode(hs);
      Bytes d;
      rpc::encode_into(d, req);
      const Bytes marker(kNoiseSize, 0xA5);
      const auto at = std::search(d.begin(), d.end(), marker.begin(), marker.end());
      if (at == d.end()) usage("cannot find the noise in the template");
      s.noise_at = static_cast<std::size_t>(at - d.begin());
      s.size = d.size();
      s.gso.resize(kBatch * s.size);
      for (std::size_t k = 0; k < kBatch; ++k) {
        std::uint8_t* p = s.gso.data() + k * s.size;
        std::memcpy(p, d.data(), d.size());
        for (std::size_t j = 0; j < kNoiseSize; j += 8) {
          const std::uint64_t r = rng_.next();
          std::memcpy(p + s.noise_at + j, &r, 8);
        }
      }
      sources_.push_back(std::move(s));
    }
    // Self-check: the datagram decodes as the PEER_HANDSHAKE we mean.
    const Source& s = sources_.front();
    auto r = rpc::decode_request(ByteView(s.gso.data(), s.size));
    if (!r || r->internal || r->command != msg::command::PEER_HANDSHAKE || !r->value)
      usage("template self-check failed (request)");
    auto h = msg::decode_handshake(ByteView(*r->value));
    if (!h || h->noise.size() != kNoiseSize || h->mode != msg::router_mode::FROM_CLIENT)
      usage("template self-check failed (handshake)");
  }
  ~Flood() {
    for (auto& s : sources_)
      ::close(s.fd);
  }
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  // Runs from now until `until`, at o_.rate (0: unpaced).
  FloodCounts run(Clock::time_point until) {
    const auto t0 = Clock::now();
    const double cpu0 = bench::cpu_seconds();
    std::array<std::uint8_t, 2048> buf{};
    for (;;) {
      const auto now = Clock::now();
      if (now >= until) break;
      std::size_t budget = SIZE_MAX;
      if (o_.rate > 0) {
        const double due = std::chrono::duration<double>(now - t0).count() * o_.rate;
        const auto sent = static_cast<double>(c_.sent);
        budget = due > sent ? static_cast<std::size_t>(due - sent) : 0;
        if (budget == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(500));
          continue;
        }
      }
      // Round robin from where the last round stopped: a paced flood spreads over every source.
      for (std::size_t visited = 0; visited < sources_.size(); ++visited) {
        if (budget == 0) break;
        Source& s = sources_[cursor_];
        cursor_ = (cursor_ + 1) % sources_.size();
        const std::size_t n = std::min(kBatch, budget);
        for (std::size_t k = 0; k < n; ++k) {  // a fresh ephemeral key prefix and tid
          std::uint8_t* p = s.gso.data() + k * s.size;
          const std::uint64_t r = rng_.next();
          std::memcpy(p + s.noise_at, &r, 8);
          p[2] = static_cast<std::uint8_t>(r >> 40);
          p[3] = static_cast<std::uint8_t>(r >> 48);
        }
        c_.sent += send_gso(s, n);
        budget -= n;
        while (::recv(s.fd, buf.data(), buf.size(), MSG_DONTWAIT) > 0)
          ++c_.replies;
      }
    }
    c_.wall = std::chrono::duration<double>(Clock::now() - t0).count();
    c_.gen_cpu = bench::cpu_seconds() - cpu0;
    return c_;
  }

 private:
  struct Source {
    int fd = -1;
    std::vector<std::uint8_t> gso;
    std::size_t size = 0, noise_at = 0;
  };

  std::size_t send_gso(Source& s, std::size_t n) {
    if (!gso_) return send_each(s, n);
    iovec iov{s.gso.data(), n * s.size};
    alignas(cmsghdr) std::array<char, CMSG_SPACE(sizeof(std::uint16_t))> control{};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_UDP;
    cm->cmsg_type = UDP_SEGMENT;
    cm->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
    const auto seg = static_cast<std::uint16_t>(s.size);
    std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
    if (::sendmsg(s.fd, &msg, 0) < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
        ++c_.send_errors;
        return 0;
      }
      gso_ = false;
      return send_each(s, n);
    }
    return n;
  }

  std::size_t send_each(Source& s, std::size_t n) {
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    for (std::size_t k = 0; k < n; ++k) {
      iov[k] = {s.gso.data() + k * s.size, s.size};
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    const int r = ::sendmmsg(s.fd, msgs.data(), static_cast<unsigned>(n), 0);
    if (r <= 0) {
      ++c_.send_errors;
      return 0;
    }
    return static_cast<std::size_t>(r);
  }

  const Options& o_;
  Rng rng_;
  std::vector<Source> sources_;
  bool gso_ = true;
  std::size_t cursor_ = 0;
  FloodCounts c_;
};

// ---- the legitimate client -----------------------------------------------------------------

const char* error_code_name(const std::error_code& ec) {
  if (ec.category() == hyperdht_category())
    return hyperdht_error_name(static_cast<HyperDhtErrc>(ec.value()));
  return nullptr;
}

struct Connect {
  double started_s = 0;
  double open_ms = -1;  // -1: failed or timed out
  std::string error;
};

class Legit {
 public:
  Legit(core::Runtime& runtime, const Options& o) : node_(runtime, config(o)), o_(o) {}

  HyperDhtNode& node() { return node_; }

  // Starts one connect now; `started_s` is its time on the phase clock.
  void connect(double started_s) {
    auto a = std::make_shared<Attempt>();
    a->index = results_.size();
    results_.push_back({started_s, -1, {}});
    a->t0 = node_.runtime().now();
    a->timeout = std::make_unique<core::Timer>(node_.runtime());
    a->timeout->expires_after(std::chrono::milliseconds(o_.connect_timeout_ms),
                              [this, a] { finish(a, "BENCH_TIMEOUT"); });
    live_.insert(a);
    a->connect = PeerConnect::start(
        node_, o_.key, ConnectOptions{}, [this, a](Result<std::unique_ptr<core::SecretStream>> r) {
          if (a->done) return;
          if (!r) {
            const char* name = error_code_name(r.error());
            finish(a, name ? name : r.error().message());
            return;
          }
          results_[a->index].open_ms =
              std::chrono::duration<double, std::milli>(node_.runtime().now() - a->t0).count();
          a->stream = std::move(*r);
          finish(a, {});
        });
  }

  std::size_t live() const { return live_.size(); }
  const std::vector<Connect>& results() const { return results_; }

 private:
  struct Attempt {
    std::size_t index = 0;
    std::unique_ptr<PeerConnect> connect;
    std::unique_ptr<core::SecretStream> stream;
    std::unique_ptr<core::Timer> timeout;
    core::TimePoint t0;
    bool done = false;
  };

  static HyperDhtConfig config(const Options& o) {
    HyperDhtConfig c;
    auto list = dht::BootstrapEntry::parse_list(o.bootstrap);
    if (!list) usage("bad --bootstrap");
    c.dht.bootstrap = std::move(*list);
    c.dht.io.bind_host = {Ipv4Address{{127, 0, 0, 1}, 0}.ip, 0};
    c.dht.ephemeral = true;
    return c;
  }

  void finish(const std::shared_ptr<Attempt>& a, const std::string& error) {
    if (a->done) return;
    a->done = true;
    if (!error.empty()) results_[a->index].error = error;
    boost::asio::post(node_.runtime().executor(), [this, a] {
      a->timeout.reset();
      if (a->stream) a->stream->destroy();
      a->stream.reset();
      a->connect.reset();
      live_.erase(a);
    });
  }

  HyperDhtNode node_;
  const Options& o_;
  std::set<std::shared_ptr<Attempt>> live_;
  std::vector<Connect> results_;
};

json phase_stats(const std::vector<Connect>& all, double from, double to) {
  std::vector<double> ms;
  std::map<std::string, int> failures;
  int started = 0;
  for (const auto& c : all) {
    if (c.started_s < from || c.started_s >= to) continue;
    ++started;
    if (c.open_ms >= 0)
      ms.push_back(c.open_ms);
    else
      ++failures[c.error.empty() ? "UNKNOWN" : c.error];
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) -> json {
    if (ms.empty()) return nullptr;
    const auto i = static_cast<std::size_t>(q * static_cast<double>(ms.size() - 1) + 0.5);
    return std::round(ms[std::min(i, ms.size() - 1)] * 100) / 100;
  };
  return {
      {"started", started},
      {"opened", ms.size()},
      {"success", started ? std::round(static_cast<double>(ms.size()) / started * 1e4) / 1e4 : 0.0},
      {"p50_ms", pct(0.5)},
      {"p99_ms", pct(0.99)},
      {"max_ms", pct(1.0)},
      {"failures", failures}};
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  crypto::init();
  const auto targets = server_sockets(o.server_pid);
  if (targets.empty()) usage("no UDP socket of --server-pid bound to 127.0.0.1");
  std::fprintf(stderr, "flood_handshake: server ports:");
  for (const auto& t : targets)
    std::fprintf(stderr, " %u", t.port);
  std::fprintf(stderr, "\n");
  Flood flood(o, targets);

  boost::asio::io_context ctx;
  core::AsioRuntime runtime(ctx.get_executor());
  Legit legit(runtime, o);
  core::Timer tick(runtime);
  core::Timer guard(runtime);
  Clock::time_point t0{};
  Snapshot s0, s1, s2, s3;
  FloodCounts fc;
  std::thread flood_thread;
  bool flood_started = false;
  const double t_flood = o.idle, t_after = o.idle + o.flood, t_end = t_after + o.after;
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - t0).count(); };
  int status = 0;

  // Every --connect-every-ms: start a connect; start the flood at t_flood; after t_end wait
  // (bounded) for the connects still running, then stop.
  std::function<void()> on_tick = [&] {
    const double now = since();
    if (!flood_started && now >= t_flood) {
      flood_started = true;
      s1 = snapshot(o.server_pid);
      const auto until =
          t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(t_after));
      flood_thread = std::thread([&, until] {
        fc = flood.run(until);
        s2 = snapshot(o.server_pid);
      });
    }
    if (now < t_end) {
      legit.connect(now);
    } else if (s3.cpu < 0) {
      s3 = snapshot(o.server_pid);
    }
    if (now >= t_end && legit.live() == 0) {
      ctx.stop();
      return;
    }
    tick.expires_after(std::chrono::milliseconds(o.every_ms), on_tick);
  };
  legit.node().dht().events().ready = [&] {
    if (t0 != Clock::time_point{}) return;
    t0 = Clock::now();
    s0 = snapshot(o.server_pid);
    on_tick();
  };
  if (auto r = legit.node().start(); !r) {
    std::fprintf(stderr, "flood_handshake: start: %s\n", r.error().message().c_str());
    return 1;
  }
  const double limit = o.idle + o.flood + o.after + o.connect_timeout_ms / 1000.0 + 30;
  guard.expires_after(std::chrono::milliseconds(static_cast<long>(limit * 1000)), [&] {
    std::fprintf(stderr, "flood_handshake: hang guard\n");
    status = 3;
    ctx.stop();
  });
  ctx.run();
  if (flood_thread.joinable()) flood_thread.join();
  if (status != 0 || !flood_started) return status ? status : 3;

  const auto& results = legit.results();
  const double hwm_kib = proc_status(o.server_pid, "VmHWM").value_or(-1);
  auto cores = [](const Snapshot& a, const Snapshot& b, double wall) -> json {
    if (a.cpu < 0 || b.cpu < 0 || wall <= 0) return nullptr;
    return std::round((b.cpu - a.cpu) / wall * 1000) / 1000;
  };
  auto mib = [](double v) -> json {
    if (v < 0) return nullptr;
    return std::round(v * 100) / 100;
  };
  json out = {
      {"sources", o.sources},
      {"rate_target", o.rate},
      {"flood_s", std::round(fc.wall * 1000) / 1000},
      {"flood_sent", fc.sent},
      {"flood_offered_rps", fc.wall > 0 ? std::round(static_cast<double>(fc.sent) / fc.wall) : 0},
      {"flood_replies", fc.replies},
      {"flood_send_errors", fc.send_errors},
      {"server_socket_drops", s2.drops - s1.drops},
      {"legit_idle", phase_stats(results, 0, t_flood)},
      {"legit_flood", phase_stats(results, t_flood, t_after)},
      {"legit_after", phase_stats(results, t_after, t_end)},
      {"server_cpu_idle", cores(s0, s1, t_flood)},
      {"server_cpu_flood", cores(s1, s2, fc.wall)},
      {"server_cpu_after", cores(s2, s3, o.after)},
      {"server_cpu_us_per_request",
       fc.sent > 0 && s1.cpu >= 0
           ? json(std::round((s2.cpu - s1.cpu) * 1e6 / static_cast<double>(fc.sent) * 100) / 100)
           : json(nullptr)},
      {"rss_mib_before", mib(s1.rss_mib)},
      {"rss_mib_flood_end", mib(s2.rss_mib)},
      {"rss_mib_after", mib(s3.rss_mib)},
      {"hwm_mib", mib(hwm_kib < 0 ? -1 : hwm_kib / 1024.0)},
      {"gen_cpu", fc.wall > 0 ? std::round(fc.gen_cpu / fc.wall * 1000) / 1000 : 0.0}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}
