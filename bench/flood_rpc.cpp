// flood_rpc: the load side of bench/suites/flood.sh (scenario "rpc"). One dht-rpc node (C++
// bench/rpc_server or JS bench/js/rpc_server.js) is flooded with dht-rpc requests from many
// source addresses while a legitimate client pings it at a steady rate from another address.
//
// Three phases: "idle" (the legitimate client alone), "flood" (the flood and the client), "after"
// (the client alone again: does the node recover). The flood is open loop: --sources UDP sockets,
// source i bound to 127.1.(i/250).(1+i%250), each sending GSO batches of requests of a firewalled
// client (no id, no token: nothing enters the node's tables), PING from even sources and FIND_NODE
// with a random target from odd ones, as fast as this one thread can (--rate 0) or at --rate
// requests per second. Replies are drained and counted, not matched. The legitimate client is a
// thread of its own on 127.3.0.1, PING every 1000/--legit-rate ms; a reply later than
// --timeout-ms (dht-rpc's own 1000) counts as lost.
//
//   flood_rpc --target 127.0.0.1:PORT --server-pid PID [--sources 64] [--rate 0]
//             [--idle 2] [--flood 5] [--after 2] [--legit-rate 20] [--timeout-ms 1000]
//
// With --server-pid it samples the server's CPU time per phase, its VmRSS at each phase boundary
// and VmHWM at the end, and the kernel's drop counter of the server's socket (/proc/net/udp:
// datagrams the kernel threw away because the node did not read them fast enough).
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
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench/load_net.hpp"
#include "bench/measure.hpp"
#include "bench/proc_stats.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  Ipv4Address target;
  long server_pid = 0;
  std::size_t sources = 64;
  double rate = 0;  // 0: as fast as possible
  double idle = 2, flood = 5, after = 2;
  double legit_rate = 20;
  int timeout_ms = 1000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "flood_rpc: %s\nusage: flood_rpc --target HOST:PORT [--server-pid PID] "
               "[--sources N] [--rate R] [--idle S] [--flood S] [--after S] [--legit-rate R] "
               "[--timeout-ms N]\n",
               why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  bool have_target = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (a == "--target") {
      auto t = Ipv4Address::parse(v);
      if (!t) usage("bad --target");
      o.target = *t;
      have_target = true;
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
    } else if (a == "--legit-rate") {
      o.legit_rate = std::strtod(v, nullptr);
    } else if (a == "--timeout-ms") {
      o.timeout_ms = std::atoi(v);
    } else {
      usage("unknown option");
    }
  }
  if (!have_target) usage("--target is required");
  if (o.sources == 0 || o.sources > 1000 || o.flood <= 0 || o.idle < 0 || o.after < 0 ||
      o.legit_rate <= 0 || o.legit_rate > 1000 || o.timeout_ms <= 0 || o.rate < 0)
    usage("bad numbers");
  return o;
}

using bench::proc_cpu;
using bench::proc_status;
using bench::ProcCpu;
using bench::Rng;
using bench::to_sockaddr;

// A UDP socket bound to local_ip:0 and connected to the server; exits on failure.
int open_socket(const Ipv4Address& local_ip, const sockaddr_in& server, bool nonblock) {
  const char* why = "";
  const int fd = bench::open_udp_socket(local_ip, server, nonblock, why);
  if (fd < 0) usage(why);
  return fd;
}

constexpr std::size_t kBatch = 64;
constexpr std::size_t kRecvSize = 2048;

Bytes request_template(const Ipv4Address& to, std::uint64_t command) {
  rpc::Request req;
  req.to = to;
  req.internal = true;
  req.command = command;
  if (command == rpc::command::kFindNode) req.target = Bytes32{};
  Bytes out;
  rpc::encode_into(out, req);
  return out;
}

// ---- the legitimate client ---------------------------------------------------------------

struct LegitSample {
  double sent_s = 0;       // since the start
  double latency_ms = -1;  // -1: no reply (yet)
};

class LegitClient {
 public:
  LegitClient(const Options& o, const sockaddr_in& server, Clock::time_point start, double end_s)
      : o_(o), start_(start), end_s_(end_s) {
    fd_ = open_socket(Ipv4Address{{127, 3, 0, 1}, 0}, server, true);
    template_ = request_template(o.target, rpc::command::kPing);
    slot_.assign(65536, -1);
  }
  ~LegitClient() { ::close(fd_); }
  LegitClient(const LegitClient&) = delete;
  LegitClient& operator=(const LegitClient&) = delete;

  // Sends until end_s_, then listens for timeout_ms more so the last pings get their chance.
  void run() {
    const double period = 1.0 / o_.legit_rate;
    double next_send = 0;
    const double stop = end_s_ + o_.timeout_ms / 1000.0;
    std::uint16_t tid = 1;
    std::array<std::uint8_t, kRecvSize> buf{};
    for (;;) {
      const double now = since_start();
      if (now >= stop) break;
      if (now >= next_send && now < end_s_) {
        Bytes d = template_;
        d[2] = static_cast<std::uint8_t>(tid);
        d[3] = static_cast<std::uint8_t>(tid >> 8);
        slot_[tid] = static_cast<int>(samples_.size());
        samples_.push_back({now, -1});
        ::send(fd_, d.data(), d.size(), 0);
        ++tid;
        next_send += period;
      }
      const double wake = std::min(now < end_s_ ? next_send : stop, stop);
      int wait_ms = static_cast<int>((wake - since_start()) * 1000.0);
      pollfd p{fd_, POLLIN, 0};
      ::poll(&p, 1, std::max(wait_ms, 0));
      for (;;) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) break;
        const double at = since_start();
        if (static_cast<std::size_t>(n) < rpc::kHeaderSize || buf[0] != rpc::kResponseType)
          continue;
        const auto rt = static_cast<std::uint16_t>(buf[2] | buf[3] << 8);
        const int s = slot_[rt];
        if (s < 0) continue;
        slot_[rt] = -1;
        auto& sample = samples_[static_cast<std::size_t>(s)];
        const double ms = (at - sample.sent_s) * 1000.0;
        if (ms <= o_.timeout_ms) sample.latency_ms = ms;
      }
    }
  }

  const std::vector<LegitSample>& samples() const { return samples_; }

 private:
  double since_start() const {
    return std::chrono::duration<double>(Clock::now() - start_).count();
  }

  const Options& o_;
  Clock::time_point start_;
  double end_s_;
  int fd_ = -1;
  Bytes template_;
  std::vector<int> slot_;
  std::vector<LegitSample> samples_;
};

// ---- the flood ---------------------------------------------------------------------------

struct Source {
  int fd = -1;
  std::vector<std::uint8_t> gso;  // kBatch requests back to back
  std::size_t size = 0;           // one request's size
  bool find_node = false;
};

class Flood {
 public:
  Flood(const Options& o, const sockaddr_in& server) : o_(o), rng_{0x9E3779B97F4A7C15ULL} {
    const Bytes ping = request_template(o.target, rpc::command::kPing);
    const Bytes find = request_template(o.target, rpc::command::kFindNode);
    for (std::size_t i = 0; i < o.sources; ++i) {
      Source s;
      const Ipv4Address ip{
          {127, 1, static_cast<std::uint8_t>(i / 250), static_cast<std::uint8_t>(1 + i % 250)}, 0};
      s.fd = open_socket(ip, server, true);
      s.find_node = (i % 2) == 1;
      const Bytes& t = s.find_node ? find : ping;
      s.size = t.size();
      s.gso.resize(kBatch * s.size);
      for (std::size_t k = 0; k < kBatch; ++k) {
        std::uint8_t* d = s.gso.data() + k * s.size;
        std::memcpy(d, t.data(), t.size());
        const auto tid = static_cast<std::uint16_t>(rng_.next());
        d[2] = static_cast<std::uint8_t>(tid);
        d[3] = static_cast<std::uint8_t>(tid >> 8);
      }
      sources_.push_back(std::move(s));
    }
    // The request must decode as what we mean to send.
    for (const Source& s : {sources_.front(), sources_.back()}) {
      auto d = rpc::decode_request(ByteView(s.gso.data(), s.size));
      if (!d || !d->internal || d->id || d->token ||
          d->command != (s.find_node ? rpc::command::kFindNode : rpc::command::kPing))
        usage("request template self-check failed");
    }
    recv_bufs_.resize(kBatch * kRecvSize);
  }
  ~Flood() {
    for (auto& s : sources_)
      ::close(s.fd);
  }
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  // One round over the sources: each sends up to `budget` requests (a GSO batch at most).
  void send_round(std::size_t budget) {
    // Round robin from where the last round stopped: a paced flood spreads over every source.
    for (std::size_t visited = 0; visited < sources_.size(); ++visited) {
      if (budget == 0) break;
      Source& s = sources_[cursor_];
      cursor_ = (cursor_ + 1) % sources_.size();
      const std::size_t n = std::min(kBatch, budget);
      if (s.find_node) {
        for (std::size_t k = 0; k < n; ++k) {  // a fresh target prefix: spread over the keyspace
          const std::uint64_t r = rng_.next();
          std::memcpy(s.gso.data() + k * s.size + s.size - 32, &r, 8);
        }
      }
      const std::size_t sent = send_gso(s, n);
      sent_ += sent;
      budget -= std::min(budget, n);
      drain(s);
    }
  }

  void drain_all() {
    for (auto& s : sources_)
      drain(s);
  }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t answered() const { return answered_; }
  std::uint64_t send_errors() const { return send_errors_; }

 private:
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
        ++send_errors_;
        return 0;
      }
      std::fprintf(stderr, "flood_rpc: UDP GSO unavailable (%s), using sendmmsg\n",
                   std::strerror(errno));
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
      ++send_errors_;
      return 0;
    }
    return static_cast<std::size_t>(r);
  }

  void drain(Source& s) {
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    for (std::size_t k = 0; k < kBatch; ++k) {
      iov[k] = {recv_bufs_.data() + k * kRecvSize, kRecvSize};
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    for (int rounds = 0; rounds < 16; ++rounds) {  // bounded: the sending must go on
      const int r = ::recvmmsg(s.fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (r <= 0) return;
      answered_ += static_cast<std::uint64_t>(r);
      if (static_cast<std::size_t>(r) < kBatch) return;
    }
  }

  const Options& o_;
  Rng rng_;
  std::vector<Source> sources_;
  std::vector<std::uint8_t> recv_bufs_;
  bool gso_ = true;
  std::size_t cursor_ = 0;
  std::uint64_t sent_ = 0, answered_ = 0, send_errors_ = 0;
};

// ---- the report --------------------------------------------------------------------------

struct Stats {
  std::size_t sent = 0, answered = 0;
  double p50 = -1, p99 = -1, max = -1;
};

Stats legit_stats(const std::vector<LegitSample>& all, double from, double to) {
  Stats s;
  std::vector<double> lat;
  for (const auto& x : all) {
    if (x.sent_s < from || x.sent_s >= to) continue;
    ++s.sent;
    if (x.latency_ms >= 0) lat.push_back(x.latency_ms);
  }
  s.answered = lat.size();
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    auto pct = [&](double p) {
      const auto i = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1) + 0.5);
      return lat[std::min(i, lat.size() - 1)];
    };
    s.p50 = pct(0.5);
    s.p99 = pct(0.99);
    s.max = lat.back();
  }
  return s;
}

std::string stats_json(const Stats& s) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "{\"sent\":%zu,\"answered\":%zu,\"success\":%.4f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"max_ms\":%.3f}",
                s.sent, s.answered,
                s.sent ? static_cast<double>(s.answered) / static_cast<double>(s.sent) : 0.0, s.p50,
                s.p99, s.max);
  return buf;
}

struct Snapshot {
  ProcCpu cpu;
  double rss_mib = -1;
  double drops = -1;
};

Snapshot snapshot(const Options& o) {
  Snapshot s;
  if (o.server_pid == 0) return s;
  s.cpu = proc_cpu(o.server_pid).value_or(ProcCpu{});
  if (auto kib = proc_status(o.server_pid, "VmRSS")) s.rss_mib = *kib / 1024.0;
  if (auto d = bench::udp_socket_drops(o.target)) s.drops = *d;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const sockaddr_in server = to_sockaddr(o.target);
  Flood flood(o, server);

  const double t_flood = o.idle;
  const double t_after = o.idle + o.flood;
  const double t_end = t_after + o.after;
  const auto start = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  LegitClient legit(o, server, start, t_end);
  std::thread legit_thread([&] { legit.run(); });

  const Snapshot s0 = snapshot(o);
  while (since() < t_flood)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const Snapshot s1 = snapshot(o);
  const double gen_cpu0 = bench::cpu_seconds();
  const auto flood_start = Clock::now();
  for (;;) {
    const double now = since();
    if (now >= t_after) break;
    std::size_t budget = SIZE_MAX;
    if (o.rate > 0) {
      const double due = (now - t_flood) * o.rate;
      const double sent = static_cast<double>(flood.sent());
      budget = due > sent ? static_cast<std::size_t>(due - sent) : 0;
      if (budget == 0) {
        flood.drain_all();
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        continue;
      }
    }
    flood.send_round(budget);
  }
  const double flood_wall = std::chrono::duration<double>(Clock::now() - flood_start).count();
  const double gen_cpu = bench::cpu_seconds() - gen_cpu0;
  const std::uint64_t answered_in_flood = flood.answered();
  const Snapshot s2 = snapshot(o);
  // The after phase: replies still queued are drained (counted as late), the client goes on.
  while (since() < t_end) {
    flood.drain_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const Snapshot s3 = snapshot(o);
  legit_thread.join();

  const auto& samples = legit.samples();
  const Stats idle = legit_stats(samples, 0, t_flood);
  // The flood's first 0.5 s is left out of the legitimate client's figures only when the flood
  // is long enough: it is the steady state under flood that matters.
  const double settle = o.flood >= 3 ? 0.5 : 0.0;
  const Stats under = legit_stats(samples, t_flood + settle, t_after);
  const Stats after = legit_stats(samples, t_after, t_end);
  double hwm = -1;
  if (o.server_pid != 0) {
    if (auto kib = proc_status(o.server_pid, "VmHWM")) hwm = *kib / 1024.0;
  }
  auto phase_cpu = [](const Snapshot& a, const Snapshot& b, double wall) {
    return wall > 0 ? (b.cpu.total() - a.cpu.total()) / wall : 0.0;
  };
  const double sent = static_cast<double>(flood.sent());
  std::printf(
      "{\"sources\":%zu,\"rate_target\":%.0f,\"flood_s\":%.3f,"
      "\"flood_sent\":%.0f,\"flood_offered_rps\":%.0f,\"flood_answered\":%llu,"
      "\"flood_answered_rps\":%.0f,\"flood_answered_late\":%llu,\"flood_answered_frac\":%.4f,"
      "\"flood_send_errors\":%llu,\"server_socket_drops\":%.0f,"
      "\"legit_idle\":%s,\"legit_flood\":%s,\"legit_after\":%s,"
      "\"server_cpu_idle\":%.3f,\"server_cpu_flood\":%.3f,\"server_cpu_after\":%.3f,"
      "\"server_cpu_us_per_answer\":%.3f,"
      "\"rss_mib_before\":%.2f,\"rss_mib_flood_end\":%.2f,\"rss_mib_after\":%.2f,"
      "\"hwm_mib\":%.2f,\"gen_cpu\":%.3f}\n",
      o.sources, o.rate, flood_wall, sent, sent / flood_wall,
      static_cast<unsigned long long>(answered_in_flood),
      static_cast<double>(answered_in_flood) / flood_wall,
      static_cast<unsigned long long>(flood.answered() - answered_in_flood),
      sent > 0 ? static_cast<double>(flood.answered()) / sent : 0.0,
      static_cast<unsigned long long>(flood.send_errors()),
      (s3.drops >= 0 && s1.drops >= 0) ? s3.drops - s1.drops : -1.0, stats_json(idle).c_str(),
      stats_json(under).c_str(), stats_json(after).c_str(), phase_cpu(s0, s1, o.idle),
      phase_cpu(s1, s2, flood_wall), phase_cpu(s2, s3, o.after),
      answered_in_flood > 0
          ? (s2.cpu.total() - s1.cpu.total()) * 1e6 / static_cast<double>(answered_in_flood)
          : -1.0,
      s1.rss_mib, s2.rss_mib, s3.rss_mib, hwm, flood_wall > 0 ? gen_cpu / flood_wall : 0.0);
  std::fflush(stdout);
  return 0;
}
