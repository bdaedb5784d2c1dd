// rpc_load: a closed-loop dht-rpc load generator for bench/suites/rpc.sh. It keeps a fixed window
// of requests outstanding against one server (a firewalled client: internal PING or FIND_NODE
// with a random target, no id, no token), so the C++ and the JS node receive the same bytes,
// and it reports answered requests per second over a measured window after a warm-up. With
// --server-pid it also samples the server's CPU time (utime+stime) over exactly that window and
// its resident memory at the end, from /proc.
//
// It is a tool, not core: plain non-blocking sockets, recvmmsg/sendmmsg so that one generator
// core outruns one server core, and several source ports so no per-address behaviour of the
// server matters. A request unanswered after --timeout-ms is counted lost and replaced, so the
// window never drains.
//
//   rpc_load --target 127.0.0.1:PORT [--command ping|find_node] [--window 256] [--sockets 4]
//            [--warmup 1] [--duration 5] [--timeout-ms 1000] [--server-pid PID] [--seed N]
//            [--spin 1|0] [--gso 1|0]
//
// --spin 1 (the default) polls the sockets without sleeping. On loopback the sender of a
// datagram runs the receiver's side of the stack, wake-up included; a generator asleep in poll()
// would make every reply of the server pay for waking it, a cost no real network charges to the
// server. Spinning keeps that out of the server's CPU time, for the C++ and the JS node alike.
//
// --gso 1 (the default) sends the requests of one socket as UDP GSO super-datagrams (all
// requests of a command have the same size): the kernel splits them into ordinary datagrams, so
// the server receives exactly what single sends would give it, but the generator pays the stack
// once per batch. Only then does one generator core stay ahead of a fast server, so the server is
// measured busy rather than waking up for every few requests. Falls back to sendmmsg if the
// kernel refuses.
//
// Prints one JSON line on stdout.
#include <algorithm>
#include <array>
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
  std::uint64_t command = rpc::command::kPing;
  std::size_t window = 256;
  std::size_t sockets = 4;
  double warmup = 1.0;
  double duration = 5.0;
  int timeout_ms = 1000;  // dht-rpc's own request timeout
  long server_pid = 0;
  std::uint64_t seed = 1;
  bool spin = true;
  bool gso = true;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "rpc_load: %s\nusage: rpc_load --target HOST:PORT [--command ping|find_node] "
               "[--window N] [--sockets N] [--warmup S] [--duration S] [--timeout-ms N] "
               "[--server-pid PID] [--seed N] [--spin 1|0] [--gso 1|0]\n",
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
    } else if (a == "--command") {
      const std::string_view c = v;
      if (c == "ping")
        o.command = rpc::command::kPing;
      else if (c == "find_node")
        o.command = rpc::command::kFindNode;
      else
        usage("bad --command");
    } else if (a == "--window") {
      o.window = std::strtoul(v, nullptr, 10);
    } else if (a == "--sockets") {
      o.sockets = std::strtoul(v, nullptr, 10);
    } else if (a == "--warmup") {
      o.warmup = std::strtod(v, nullptr);
    } else if (a == "--duration") {
      o.duration = std::strtod(v, nullptr);
    } else if (a == "--timeout-ms") {
      o.timeout_ms = std::atoi(v);
    } else if (a == "--server-pid") {
      o.server_pid = std::atol(v);
    } else if (a == "--seed") {
      o.seed = std::strtoull(v, nullptr, 10);
    } else if (a == "--gso") {
      o.gso = std::atoi(v) != 0;
    } else if (a == "--spin") {
      o.spin = std::atoi(v) != 0;
    } else {
      usage("unknown option");
    }
  }
  if (!have_target) usage("--target is required");
  if (o.window == 0 || o.sockets == 0 || o.sockets > 64 || o.duration <= 0 || o.timeout_ms <= 0)
    usage("bad numbers");
  return o;
}

using bench::proc_cpu;
using bench::proc_status;
using bench::ProcCpu;
using bench::Rng;

constexpr std::size_t kBatch = 64;
constexpr std::size_t kRecvSize = 2048;
constexpr std::uint32_t kNoLane = 0xffffffff;

// One outstanding request at a time per lane; a lane's buffer is its current datagram.
struct Lane {
  std::size_t socket = 0;
  std::uint16_t tid = 0;
  bool waiting = false;
  Clock::time_point sent{};
  std::array<std::uint8_t, 64> buf{};
  std::size_t len = 0;
};

struct Socket {
  int fd = -1;
  std::uint16_t next_tid = 0;
  std::vector<std::uint32_t> lane_of_tid = std::vector<std::uint32_t>(65536, kNoLane);
  std::vector<std::uint32_t> to_send;  // lanes whose datagram goes out in the next sendmmsg
};

struct Counts {
  std::uint64_t sent = 0, answered = 0, timeouts = 0, late = 0, bad = 0;
  std::uint64_t sampled = 0, sampled_closer = 0, sampled_with_id = 0;
};

class Generator {
 public:
  explicit Generator(const Options& o) : o_(o), rng_{o.seed * 0x9E3779B97F4A7C15ULL + 1} {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(o.target.port);
    std::memcpy(&sa.sin_addr.s_addr, o.target.ip.data(), 4);
    server_ = sa;
    for (std::size_t i = 0; i < o.sockets; ++i) {
      Socket s;
      s.fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (s.fd < 0) usage("socket() failed");
      sockaddr_in local{};
      local.sin_family = AF_INET;
      local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      const int big = 4 << 20;
      ::setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
      ::setsockopt(s.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
      if (::bind(s.fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) != 0)
        usage("bind() failed");
      // Connected: only the server's replies arrive, and each send skips the route lookup.
      if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&server_), sizeof server_) != 0)
        usage("connect() failed");
      s.next_tid = static_cast<std::uint16_t>(rng_.next());
      sockets_.push_back(std::move(s));
    }
    // The template: what a firewalled dht-rpc client sends; tid and target are patched per use.
    rpc::Request req;
    req.to = o.target;
    req.internal = true;
    req.command = o.command;
    if (o.command == rpc::command::kFindNode) req.target = Bytes32{};
    rpc::encode_into(template_, req);
    if (template_.size() > Lane{}.buf.size()) usage("template too large");
    lanes_.resize(o.window);
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      lanes_[i].socket = i % sockets_.size();
      std::memcpy(lanes_[i].buf.data(), template_.data(), template_.size());
      lanes_[i].len = template_.size();
    }
    self_check();
    recv_bufs_.resize(kBatch * kRecvSize);
    gso_ = o.gso;
    gso_buf_.resize(kBatch * template_.size());
  }

  ~Generator() {
    for (auto& s : sockets_)
      ::close(s.fd);
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;

  int run() {
    const auto start = Clock::now();
    const auto measure_from = start + to_duration(o_.warmup);
    const auto measure_until = measure_from + to_duration(o_.duration);
    for (std::size_t i = 0; i < lanes_.size(); ++i)
      prepare(static_cast<std::uint32_t>(i));
    flush_sends();

    bool measuring = false;
    Counts at_start;
    ProcCpu server_cpu0;
    double server_sleeps0 = 0;
    double gen_cpu0 = 0;
    Clock::time_point t0{};
    auto next_timeout_scan = start;
    for (;;) {
      const auto now = Clock::now();
      if (!measuring && now >= measure_from) {
        measuring = true;
        at_start = counts_;
        t0 = now;
        gen_cpu0 = bench::cpu_seconds();
        if (o_.server_pid != 0) {
          server_cpu0 = proc_cpu(o_.server_pid).value_or(ProcCpu{});
          server_sleeps0 = proc_status(o_.server_pid, "voluntary_ctxt_switches").value_or(0);
        }
      }
      if (measuring && now >= measure_until) {
        const double wall = std::chrono::duration<double>(now - t0).count();
        ProcCpu server_cpu{-1, -1};
        double server_sleeps = -1;
        if (o_.server_pid != 0) {
          server_sleeps =
              proc_status(o_.server_pid, "voluntary_ctxt_switches").value_or(0) - server_sleeps0;
          if (auto c = proc_cpu(o_.server_pid)) {
            server_cpu = {c->user - server_cpu0.user, c->system - server_cpu0.system};
          }
        }
        const double gen_cpu = bench::cpu_seconds() - gen_cpu0;
        report(at_start, wall, server_cpu, server_sleeps, gen_cpu);
        return 0;
      }
      if (now >= next_timeout_scan) {
        scan_timeouts(now);
        next_timeout_scan = now + std::chrono::milliseconds(10);
      }
      bool got = false;
      for (std::size_t i = 0; i < sockets_.size(); ++i)
        got = receive(i) || got;
      flush_sends();
      if (!got && !o_.spin) wait_readable();
    }
  }

 private:
  static Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  // Gives lane i a fresh tid (and target) and queues it for sending.
  void prepare(std::uint32_t i) {
    Lane& l = lanes_[i];
    Socket& s = sockets_[l.socket];
    if (l.waiting && s.lane_of_tid[l.tid] == i) s.lane_of_tid[l.tid] = kNoLane;
    std::uint16_t tid = s.next_tid++;
    while (s.lane_of_tid[tid] != kNoLane)
      tid = s.next_tid++;
    l.tid = tid;
    s.lane_of_tid[tid] = i;
    l.buf[2] = static_cast<std::uint8_t>(tid);
    l.buf[3] = static_cast<std::uint8_t>(tid >> 8);
    if (o_.command == rpc::command::kFindNode) {
      for (std::size_t k = 0; k < 32; k += 8) {
        const std::uint64_t r = rng_.next();
        std::memcpy(l.buf.data() + l.len - 32 + k, &r, 8);
      }
    }
    l.waiting = true;
    s.to_send.push_back(i);
  }

  // The patched template must decode as the request we mean to send.
  void self_check() {
    prepare(0);
    sockets_[lanes_[0].socket].to_send.clear();
    const Lane& l = lanes_[0];
    auto d = rpc::decode_request(ByteView(l.buf.data(), l.len));
    if (!d || d->tid != l.tid || !d->internal || d->command != o_.command || d->id || d->token ||
        d->value || d->target.has_value() != (o_.command == rpc::command::kFindNode) ||
        (d->target && std::memcmp(d->target->data(), l.buf.data() + l.len - 32, 32) != 0))
      usage("request template self-check failed");
  }

  void flush_sends() {
    for (auto& s : sockets_) {
      if (s.to_send.empty()) continue;
      // Whatever the kernel does not take stays waiting; the timeout scan replaces it.
      const auto now = Clock::now();
      for (std::uint32_t i : s.to_send)
        lanes_[i].sent = now;
      counts_.sent += gso_ ? send_gso(s) : send_each(s);
      s.to_send.clear();
    }
  }

  std::size_t send_each(Socket& s) {
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    std::size_t done = 0;
    while (done < s.to_send.size()) {
      const std::size_t n = std::min(kBatch, s.to_send.size() - done);
      for (std::size_t k = 0; k < n; ++k) {
        Lane& l = lanes_[s.to_send[done + k]];
        iov[k] = {l.buf.data(), l.len};
        msgs[k] = {};
        msgs[k].msg_hdr.msg_iov = &iov[k];
        msgs[k].msg_hdr.msg_iovlen = 1;
      }
      const int r = ::sendmmsg(s.fd, msgs.data(), static_cast<unsigned>(n), 0);
      if (r <= 0) break;
      done += static_cast<std::size_t>(r);
    }
    return done;
  }

  // One sendmsg per kBatch requests: the lanes' datagrams back to back, cut by the kernel at
  // the template size (UDP_SEGMENT).
  std::size_t send_gso(Socket& s) {
    const std::size_t size = template_.size();
    std::size_t done = 0;
    while (done < s.to_send.size()) {
      const std::size_t n = std::min(kBatch, s.to_send.size() - done);
      for (std::size_t k = 0; k < n; ++k)
        std::memcpy(gso_buf_.data() + k * size, lanes_[s.to_send[done + k]].buf.data(), size);
      iovec iov{gso_buf_.data(), n * size};
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
      const auto seg = static_cast<std::uint16_t>(size);
      std::memcpy(CMSG_DATA(cm), &seg, sizeof seg);
      if (::sendmsg(s.fd, &msg, 0) < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) break;
        // No GSO here (old kernel, EIO/EINVAL): send the rest one datagram each from now on.
        std::fprintf(stderr, "rpc_load: UDP GSO unavailable (%s), using sendmmsg\n",
                     std::strerror(errno));
        gso_ = false;
        s.to_send.erase(s.to_send.begin(), s.to_send.begin() + static_cast<long>(done));
        return done + send_each(s);
      }
      done += n;
    }
    return done;
  }

  bool receive(std::size_t si) {
    Socket& s = sockets_[si];
    std::array<mmsghdr, kBatch> msgs{};
    std::array<iovec, kBatch> iov{};
    for (std::size_t k = 0; k < kBatch; ++k) {
      iov[k] = {recv_bufs_.data() + k * kRecvSize, kRecvSize};
      msgs[k].msg_hdr.msg_iov = &iov[k];
      msgs[k].msg_hdr.msg_iovlen = 1;
    }
    const int r = ::recvmmsg(s.fd, msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (r <= 0) return false;
    for (int k = 0; k < r; ++k) {
      const std::uint8_t* d = recv_bufs_.data() + static_cast<std::size_t>(k) * kRecvSize;
      const std::size_t len = msgs[static_cast<std::size_t>(k)].msg_len;
      if (len < rpc::kHeaderSize || d[0] != rpc::kResponseType) {
        ++counts_.bad;
        continue;
      }
      const auto tid = static_cast<std::uint16_t>(d[2] | d[3] << 8);
      const std::uint32_t lane = s.lane_of_tid[tid];
      if (lane == kNoLane || !lanes_[lane].waiting || lanes_[lane].tid != tid) {
        ++counts_.late;  // answered after we gave up on it
        continue;
      }
      // Decoding every reply would make the generator the bottleneck; a sample proves the
      // replies are what we think they are.
      if ((counts_.answered & 63) == 0) sample(ByteView(d, len));
      ++counts_.answered;
      prepare(lane);
    }
    return true;
  }

  void sample(ByteView datagram) {
    auto res = rpc::decode_response(datagram);
    ++counts_.sampled;
    if (!res || res->error != 0) {
      ++counts_.bad;
      return;
    }
    counts_.sampled_closer += res->closer_nodes.size();
    if (res->id) ++counts_.sampled_with_id;
  }

  void scan_timeouts(Clock::time_point now) {
    const auto limit = std::chrono::milliseconds(o_.timeout_ms);
    for (std::size_t i = 0; i < lanes_.size(); ++i) {
      if (lanes_[i].waiting && now - lanes_[i].sent >= limit) {
        ++counts_.timeouts;
        prepare(static_cast<std::uint32_t>(i));
      }
    }
  }

  void wait_readable() {
    std::array<pollfd, 64> fds{};
    for (std::size_t i = 0; i < sockets_.size(); ++i)
      fds[i] = {sockets_[i].fd, POLLIN, 0};
    ::poll(fds.data(), sockets_.size(), 5);
  }

  // server_sleeps: how often the server's main thread blocked (voluntary context switches): a
  // server that keeps up with the generator sleeps between batches and pays for waking up.
  void report(const Counts& a, double wall, const ProcCpu& server_cpu, double server_sleeps,
              double gen_cpu) {
    const Counts& b = counts_;
    const double answered = static_cast<double>(b.answered - a.answered);
    const double rps = answered / wall;
    std::optional<double> rss;
    if (o_.server_pid != 0) {
      if (auto kib = proc_status(o_.server_pid, "VmRSS")) rss = *kib / 1024.0;
    }
    const double sampled = static_cast<double>(std::max<std::uint64_t>(b.sampled, 1));
    std::printf(
        "{\"command\":\"%s\",\"window\":%zu,\"sockets\":%zu,\"wall_s\":%.3f,\"answered\":%.0f,"
        "\"rps\":%.0f,\"sent\":%llu,\"timeouts\":%llu,\"late\":%llu,\"bad\":%llu,"
        "\"closer_nodes_avg\":%.2f,\"with_id\":%.3f,\"server_cpu_s\":%.3f,"
        "\"server_user_s\":%.3f,\"server_system_s\":%.3f,"
        "\"server_sleeps\":%.0f,\"server_rss_mib\":%.2f,\"gen_cpu_s\":%.3f}\n",
        o_.command == rpc::command::kPing ? "ping" : "find_node", o_.window, o_.sockets, wall,
        answered, rps, static_cast<unsigned long long>(b.sent - a.sent),
        static_cast<unsigned long long>(b.timeouts - a.timeouts),
        static_cast<unsigned long long>(b.late - a.late),
        static_cast<unsigned long long>(b.bad - a.bad),
        static_cast<double>(b.sampled_closer) / sampled,
        static_cast<double>(b.sampled_with_id) / sampled,
        server_cpu.user < 0 ? -1.0 : server_cpu.user + server_cpu.system, server_cpu.user,
        server_cpu.system, server_sleeps, rss.value_or(-1), gen_cpu);
    std::fflush(stdout);
  }

  Options o_;
  Rng rng_;
  sockaddr_in server_{};
  std::vector<Socket> sockets_;
  std::vector<Lane> lanes_;
  Bytes template_;
  std::vector<std::uint8_t> recv_bufs_;
  bool gso_ = true;
  std::vector<std::uint8_t> gso_buf_;
  Counts counts_;
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  Generator g(o);
  return g.run();
}
