// flood_records: the load side of bench/suites/flood_records.sh and of the flood.records test
// (tests/flood/records_flood_test.sh). One storing hyperdht node (C++ bench/records_server, JS
// bench/js/records_server.js) is flooded with valid, token-carrying record commands from many
// source addresses while a legitimate client keeps putting records on it and reading them back.
//
// Before the clock starts, each source (a UDP socket on 127.4.(i/250).(1+i%250)) asks the node
// once (a LOOKUP) for its round token, and the node's id is taken from the replies; every later
// reply that carries a token replaces it (dht-rpc rotates its secrets every 7.5 s). The flood is
// open loop, --rate messages per second round robin over the sources (0: as fast as this one
// thread can), each source cycling through four kinds:
//   ANNOUNCE       a fresh random topic, a record with 2 relay addresses signed (over the node's
//                  id and the source's token) by one of --announce-keys key pairs
//   MUTABLE_PUT    seq 0 of a random --value-size value under a fresh key pair
//   IMMUTABLE_PUT  a fresh random --value-size value
//   LOOKUP         a fresh random topic
// Each is valid, so the node should acknowledge every one (a reply without an error). Replies are
// counted per kind (the kind is in the tid's low 2 bits): acked, errors (INVALID_TOKEN apart) and
// unanswered (sent - acked - errors, once the after phase has drained the late ones).
//
// The legitimate client, a thread on 127.5.0.1 with a token of its own, starts a round every
// --legit-ms: a put and, once acknowledged, the get that must return it, in turn MUTABLE_PUT +
// MUTABLE_GET (seq increasing), IMMUTABLE_PUT + IMMUTABLE_GET, ANNOUNCE to a fresh topic +
// LOOKUP (our key among the records). A request waits at most --timeout-ms (dht-rpc's 1000),
// without a retry. A round succeeds when both answers came in time and the get returned what
// was put; its latency is from the put's send to the get's answer.
//
//   flood_records --target 127.0.0.1:PORT [--server-pid PID] [--sources 64] [--rate 4000]
//                 [--idle 2] [--flood 5] [--after 2] [--value-size 1000] [--announce-keys 16]
//                 [--legit-ms 200] [--timeout-ms 1000]
//
// Phases idle (the client alone) / flood / after (the client alone again), as bench/flood_rpc.
// With --server-pid it samples the node's CPU time per phase, its VmRSS at the phase
// boundaries and VmHWM at the end, and the kernel's drop counter of the node's socket. Prints
// one JSON line on stdout; exits 1 if the node gave no token or id.
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
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench/load_net.hpp"
#include "bench/measure.hpp"
#include "bench/proc_stats.hpp"
#include "protocol/compact.hpp"
#include "protocol/crypto.hpp"
#include "protocol/hyperdht_constants.hpp"
#include "protocol/peer_messages.hpp"
#include "protocol/records.hpp"
#include "protocol/rpc_message.hpp"

using namespace hdht;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  Ipv4Address target;
  long server_pid = 0;
  std::size_t sources = 64;
  double rate = 4000;  // 0: as fast as possible
  double idle = 2, flood = 5, after = 2;
  std::size_t value_size = 1000;
  std::size_t announce_keys = 16;
  int legit_ms = 200;
  int timeout_ms = 1000;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "flood_records: %s\nusage: flood_records --target HOST:PORT [--server-pid PID] "
               "[--sources N] [--rate R] [--idle S] [--flood S] [--after S] [--value-size B] "
               "[--announce-keys N] [--legit-ms MS] [--timeout-ms MS]\n",
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
    } else if (a == "--value-size") {
      o.value_size = std::strtoul(v, nullptr, 10);
    } else if (a == "--announce-keys") {
      o.announce_keys = std::strtoul(v, nullptr, 10);
    } else if (a == "--legit-ms") {
      o.legit_ms = std::atoi(v);
    } else if (a == "--timeout-ms") {
      o.timeout_ms = std::atoi(v);
    } else {
      usage("unknown option");
    }
  }
  if (!have_target) usage("--target is required");
  // 1200 bytes of value keep a MUTABLE_PUT well inside one 2048-byte datagram.
  if (o.sources == 0 || o.sources > 1000 || o.flood <= 0 || o.idle < 0 || o.after < 0 ||
      o.rate < 0 || o.value_size == 0 || o.value_size > 1200 || o.announce_keys == 0 ||
      o.legit_ms <= 0 || o.timeout_ms <= 0)
    usage("bad numbers");
  return o;
}

// ---- the node, sockets and messages ------------------------------------------------------

using bench::Rng;
using bench::to_sockaddr;

// A non-blocking UDP socket bound to ip:0 and connected to the node; exits on failure.
int open_socket(const std::array<std::uint8_t, 4>& ip, const sockaddr_in& node) {
  const char* why = "";
  const int fd = bench::open_udp_socket({ip, 0}, node, true, why);
  if (fd < 0) usage(why);
  return fd;
}

enum Kind : std::uint8_t { kAnnounce = 0, kMutable = 1, kImmutable = 2, kLookup = 3 };
constexpr std::array<const char*, 4> kKindName{"announce", "mutable_put", "immutable_put",
                                               "lookup"};

// One source address: its socket and the token the node gave it.
struct Endpoint {
  int fd = -1;
  std::optional<Bytes32> token;
  std::uint16_t seq = 0;  // tids: seq << 2 | kind
  std::uint64_t sent = 0;
};

// What a writer must know about the node: its address (the `to` of every request) and its id
// (announce signatures cover it).
struct NodeInfo {
  Ipv4Address addr;
  std::optional<Bytes32> id;
};

// A hyperdht request (a user command, not a dht-rpc internal one), without our id: the node
// must not add the flooding sources to its routing table.
Bytes request(const NodeInfo& node, std::uint16_t tid, std::uint32_t command,
              const std::optional<Bytes32>& token, const Bytes32& target,
              std::optional<Bytes> value) {
  rpc::Request r;
  r.tid = tid;
  r.to = node.addr;
  r.token = token;
  r.command = command;
  r.target = target;
  r.value = std::move(value);
  return rpc::encode(r);
}

Bytes announce_value(const NodeInfo& node, const Bytes32& token, const Bytes32& topic,
                     const crypto::KeyPair& kp, std::vector<Ipv4Address> relays) {
  msg::Announce ann;
  ann.peer = msg::Peer{kp.public_key, std::move(relays)};
  ann.signature = msg::sign_announce(topic, *node.id, token, *ann.peer, std::nullopt, kp);
  return msg::encode(ann);
}

Bytes mutable_put_value(const crypto::KeyPair& kp, std::uint64_t seq, Bytes value) {
  msg::MutablePutRequest p;
  p.public_key = kp.public_key;
  p.seq = seq;
  p.signature = msg::sign_mutable(seq, value, kp);
  p.value = std::move(value);
  return msg::encode(p);
}

Bytes uint_value(std::uint64_t n) {
  Bytes out;
  cenc::Writer(out).uint(n);
  return out;
}

// Takes what every reply teaches: the source's fresh token and the node's id.
void absorb(Endpoint& ep, NodeInfo& node, const rpc::Response& r) {
  if (r.token) ep.token = r.token;
  if (r.id && !node.id) node.id = r.id;
}

// Until each endpoint holds a token: a LOOKUP from every one still without, every 250 ms, for at
// most 5 s. False if some never got one (or no reply named the node's id).
bool acquire_tokens(std::vector<Endpoint*> eps, NodeInfo& node, Rng& rng) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  std::array<std::uint8_t, 2048> buf{};
  while (Clock::now() < deadline) {
    bool missing = false;
    for (Endpoint* ep : eps) {
      if (ep->token) continue;
      missing = true;
      const Bytes d = request(node, kLookup, msg::command::LOOKUP, std::nullopt, rng.bytes32(), {});
      ::send(ep->fd, d.data(), d.size(), 0);
    }
    if (!missing && node.id) return true;
    const auto until = Clock::now() + std::chrono::milliseconds(250);
    while (Clock::now() < until) {
      for (Endpoint* ep : eps) {
        for (;;) {
          const ssize_t n = ::recv(ep->fd, buf.data(), buf.size(), MSG_DONTWAIT);
          if (n < 0) break;
          if (auto r = rpc::decode_response(ByteView(buf.data(), static_cast<std::size_t>(n))))
            absorb(*ep, node, *r);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  return std::all_of(eps.begin(), eps.end(), [](const Endpoint* e) { return e->token; }) && node.id;
}

// ---- the legitimate client ---------------------------------------------------------------

struct LegitSample {
  double sent_s = 0;
  double latency_ms = -1;  // -1: the round failed
  int kind = 0;            // 0 mutable, 1 immutable, 2 announce
};

class LegitClient {
 public:
  LegitClient(const Options& o, const sockaddr_in& node_sa, NodeInfo node)
      : o_(o), node_(std::move(node)), rng_{0xA5A5F00DULL} {
    ep_.fd = open_socket({127, 5, 0, 1}, node_sa);
    kp_ = crypto::key_pair_from_seed(crypto::hash32(as_bytes(std::string_view("flood legit"))));
  }
  ~LegitClient() { ::close(ep_.fd); }
  LegitClient(const LegitClient&) = delete;
  LegitClient& operator=(const LegitClient&) = delete;

  Endpoint& endpoint() { return ep_; }
  NodeInfo& node() { return node_; }

  // Rounds every legit_ms from the start until end_s (since start).
  void run(Clock::time_point start, double end_s) {
    start_ = start;
    double next = 0;
    std::uint64_t round = 0;
    while (since() < end_s) {
      if (since() < next) {
        std::this_thread::sleep_for(std::chrono::duration<double>(next - since()));
        continue;
      }
      samples_.push_back(one_round(round++));
      const double period = o_.legit_ms / 1000.0;
      next += period;
      while (next <= since())  // a slow round does not make the next ones bunch up
        next += period;
    }
  }

  const std::vector<LegitSample>& samples() const { return samples_; }

 private:
  double since() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

  LegitSample one_round(std::uint64_t round) {
    LegitSample s;
    s.sent_s = since();
    s.kind = static_cast<int>(round % 3);
    bool ok = false;
    if (s.kind == 0) ok = mutable_round(round + 1);
    if (s.kind == 1) ok = immutable_round();
    if (s.kind == 2) ok = announce_round();
    if (ok) s.latency_ms = (since() - s.sent_s) * 1000.0;
    return s;
  }

  bool mutable_round(std::uint64_t seq) {
    const Bytes value = rng_.bytes(64);
    const Bytes32 target = msg::target_of(kp_.public_key);
    if (!acked(exchange(msg::command::MUTABLE_PUT, ep_.token, target,
                        mutable_put_value(kp_, seq, value))))
      return false;
    const auto got = exchange(msg::command::MUTABLE_GET, std::nullopt, target, uint_value(seq));
    if (!acked(got) || !got->value) return false;
    const auto stored = msg::decode_mutable_get_response(*got->value);
    return stored && stored->seq == seq && stored->value == value;
  }

  bool immutable_round() {
    const Bytes value = rng_.bytes(64);
    const Bytes32 target = msg::immutable_target(value);
    if (!acked(exchange(msg::command::IMMUTABLE_PUT, ep_.token, target, value))) return false;
    const auto got = exchange(msg::command::IMMUTABLE_GET, std::nullopt, target, std::nullopt);
    return acked(got) && got->value && *got->value == value;
  }

  bool announce_round() {
    if (!ep_.token) return false;
    const Bytes32 topic = rng_.bytes32();
    const Bytes ann = announce_value(node_, *ep_.token, topic, kp_, {});
    if (!acked(exchange(msg::command::ANNOUNCE, ep_.token, topic, ann))) return false;
    const auto got = exchange(msg::command::LOOKUP, std::nullopt, topic, std::nullopt);
    if (!acked(got) || !got->value) return false;
    const auto reply = msg::decode_lookup_reply(*got->value);
    return reply && std::any_of(reply->peers.begin(), reply->peers.end(),
                                [&](const msg::Peer& p) { return p.public_key == kp_.public_key; });
  }

  static bool acked(const std::optional<rpc::Response>& r) { return r && r->error == 0; }

  // One request, its answer (matched by tid) or nullopt after timeout_ms.
  std::optional<rpc::Response> exchange(std::uint32_t command, const std::optional<Bytes32>& token,
                                        const Bytes32& target, std::optional<Bytes> value) {
    const std::uint16_t tid = ++tid_;
    const Bytes d = request(node_, tid, command, token, target, std::move(value));
    ::send(ep_.fd, d.data(), d.size(), 0);
    const auto deadline = Clock::now() + std::chrono::milliseconds(o_.timeout_ms);
    std::array<std::uint8_t, 2048> buf{};
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left < 0) return std::nullopt;
      pollfd p{ep_.fd, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(left) + 1);
      for (;;) {
        const ssize_t n = ::recv(ep_.fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) break;
        auto r = rpc::decode_response(ByteView(buf.data(), static_cast<std::size_t>(n)));
        if (!r) continue;
        absorb(ep_, node_, *r);
        if (r->tid == tid) return std::move(*r);
      }
    }
  }

  const Options& o_;
  NodeInfo node_;
  Rng rng_;
  Endpoint ep_;
  crypto::KeyPair kp_;
  std::uint16_t tid_ = 0;
  Clock::time_point start_;
  std::vector<LegitSample> samples_;
};

// ---- the flood ---------------------------------------------------------------------------

struct KindCount {
  std::uint64_t sent = 0, acked = 0, errors = 0, invalid_token = 0;
};

class Flood {
 public:
  Flood(const Options& o, const sockaddr_in& node_sa, NodeInfo node)
      : o_(o), node_(std::move(node)), rng_{0x9E3779B97F4A7C15ULL} {
    for (std::size_t i = 0; i < o.sources; ++i) {
      Endpoint e;
      e.fd = open_socket(
          {127, 4, static_cast<std::uint8_t>(i / 250), static_cast<std::uint8_t>(1 + i % 250)},
          node_sa);
      sources_.push_back(e);
    }
    for (std::size_t i = 0; i < o.announce_keys; ++i)
      announce_keys_.push_back(crypto::random_key_pair());
  }
  ~Flood() {
    for (auto& s : sources_)
      ::close(s.fd);
  }
  Flood(const Flood&) = delete;
  Flood& operator=(const Flood&) = delete;

  std::vector<Endpoint*> endpoints() {
    std::vector<Endpoint*> out;
    for (auto& s : sources_)
      out.push_back(&s);
    return out;
  }
  NodeInfo& node() { return node_; }

  // One round over the sources: each sends one message while the budget lasts.
  void send_round(std::size_t budget) {
    for (std::size_t visited = 0; visited < sources_.size() && budget > 0; ++visited) {
      Endpoint& s = sources_[cursor_];
      cursor_ = (cursor_ + 1) % sources_.size();
      send_one(s);
      --budget;
      drain(s);
    }
  }

  void drain_all() {
    for (auto& s : sources_)
      drain(s);
  }

  std::uint64_t sent() const { return sent_; }
  std::uint64_t send_errors() const { return send_errors_; }
  const std::array<KindCount, 4>& counts() const { return counts_; }
  std::uint64_t acked() const {
    std::uint64_t n = 0;
    for (const auto& c : counts_)
      n += c.acked;
    return n;
  }

 private:
  void send_one(Endpoint& s) {
    const auto kind = static_cast<Kind>(s.sent++ % 4);
    const auto tid = static_cast<std::uint16_t>(++s.seq << 2 | kind);
    Bytes d;
    switch (kind) {
      case kAnnounce: {
        const Bytes32 topic = rng_.bytes32();
        const crypto::KeyPair& kp = announce_keys_[rng_.next() % announce_keys_.size()];
        std::vector<Ipv4Address> relays{random_address(), random_address()};
        d = request(node_, tid, msg::command::ANNOUNCE, s.token, topic,
                    announce_value(node_, *s.token, topic, kp, std::move(relays)));
        break;
      }
      case kMutable: {
        const crypto::KeyPair kp = crypto::random_key_pair();
        d = request(node_, tid, msg::command::MUTABLE_PUT, s.token, msg::target_of(kp.public_key),
                    mutable_put_value(kp, 0, rng_.bytes(o_.value_size)));
        break;
      }
      case kImmutable: {
        Bytes value = rng_.bytes(o_.value_size);
        const Bytes32 target = msg::immutable_target(value);
        d = request(node_, tid, msg::command::IMMUTABLE_PUT, s.token, target, std::move(value));
        break;
      }
      case kLookup:
        d = request(node_, tid, msg::command::LOOKUP, std::nullopt, rng_.bytes32(), std::nullopt);
        break;
    }
    if (::send(s.fd, d.data(), d.size(), 0) < 0) {
      ++send_errors_;
      return;
    }
    ++counts_[kind].sent;
    ++sent_;
  }

  Ipv4Address random_address() {
    const std::uint64_t r = rng_.next();
    return Ipv4Address{{10, static_cast<std::uint8_t>(r), static_cast<std::uint8_t>(r >> 8),
                        static_cast<std::uint8_t>(r >> 16)},
                       static_cast<std::uint16_t>(1024 + (r >> 24) % 60000)};
  }

  void drain(Endpoint& s) {
    for (int i = 0; i < 256; ++i) {  // bounded: the sending must go on
      const ssize_t n = ::recv(s.fd, buf_.data(), buf_.size(), MSG_DONTWAIT);
      if (n < 0) return;
      auto r = rpc::decode_response(ByteView(buf_.data(), static_cast<std::size_t>(n)));
      if (!r) continue;
      absorb(s, node_, *r);
      KindCount& c = counts_[r->tid & 3];
      if (r->error == 0) {
        ++c.acked;
      } else {
        ++c.errors;
        if (r->error == rpc::error_code::kInvalidToken) ++c.invalid_token;
      }
    }
  }

  const Options& o_;
  NodeInfo node_;
  Rng rng_;
  std::vector<Endpoint> sources_;
  std::vector<crypto::KeyPair> announce_keys_;
  std::array<KindCount, 4> counts_{};
  std::array<std::uint8_t, 2048> buf_{};
  std::size_t cursor_ = 0;
  std::uint64_t sent_ = 0, send_errors_ = 0;
};

// ---- the report --------------------------------------------------------------------------

json legit_stats(const std::vector<LegitSample>& all, double from, double to) {
  std::size_t rounds = 0;
  std::array<std::size_t, 3> failed{};
  std::vector<double> lat;
  for (const auto& x : all) {
    if (x.sent_s < from || x.sent_s >= to) continue;
    ++rounds;
    if (x.latency_ms >= 0)
      lat.push_back(x.latency_ms);
    else
      ++failed[static_cast<std::size_t>(x.kind)];
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) -> double {
    if (lat.empty()) return -1;
    const auto i = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1) + 0.5);
    return lat[std::min(i, lat.size() - 1)];
  };
  return {{"rounds", rounds},
          {"ok", lat.size()},
          {"success", rounds ? static_cast<double>(lat.size()) / static_cast<double>(rounds) : 0.0},
          {"p50_ms", pct(0.5)},
          {"p99_ms", pct(0.99)},
          {"max_ms", lat.empty() ? -1.0 : lat.back()},
          {"failed", {{"mutable", failed[0]}, {"immutable", failed[1]}, {"announce", failed[2]}}}};
}

struct Snapshot {
  bench::ProcCpu cpu;
  double rss_mib = -1;
  double drops = -1;
};

Snapshot snapshot(const Options& o) {
  Snapshot s;
  if (o.server_pid == 0) return s;
  s.cpu = bench::proc_cpu(o.server_pid).value_or(bench::ProcCpu{});
  if (auto kib = bench::proc_status(o.server_pid, "VmRSS")) s.rss_mib = *kib / 1024.0;
  if (auto d = bench::udp_socket_drops(o.target)) s.drops = *d;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  crypto::init();
  const sockaddr_in node_sa = to_sockaddr(o.target);
  const NodeInfo node{o.target, std::nullopt};
  Flood flood(o, node_sa, node);
  LegitClient legit(o, node_sa, node);
  {
    Rng rng{0x1234567ULL};
    auto eps = flood.endpoints();
    eps.push_back(&legit.endpoint());
    if (!acquire_tokens(eps, flood.node(), rng)) {
      std::fprintf(stderr, "flood_records: the node at %s gave no token or no id\n",
                   o.target.to_string().c_str());
      return 1;
    }
    legit.node().id = flood.node().id;
  }

  const double t_flood = o.idle;
  const double t_after = o.idle + o.flood;
  const double t_end = t_after + o.after;
  const auto start = Clock::now();
  auto since = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::thread legit_thread([&] { legit.run(start, t_end); });

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
      const double sent = static_cast<double>(flood.sent() + flood.send_errors());
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
  const std::uint64_t acked_in_flood = flood.acked();
  const Snapshot s2 = snapshot(o);
  while (since() < t_end) {  // late replies still count as acknowledgements
    flood.drain_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  legit_thread.join();
  flood.drain_all();
  const Snapshot s3 = snapshot(o);

  json kinds = json::object();
  std::uint64_t errors = 0, invalid = 0, unanswered = 0;
  for (std::size_t k = 0; k < 4; ++k) {
    const KindCount& c = flood.counts()[k];
    const std::uint64_t u = c.sent - std::min(c.sent, c.acked + c.errors);
    kinds[kKindName[k]] = {{"sent", c.sent},
                           {"acked", c.acked},
                           {"errors", c.errors},
                           {"invalid_token", c.invalid_token},
                           {"unanswered", u}};
    errors += c.errors;
    invalid += c.invalid_token;
    unanswered += u;
  }
  const auto& samples = legit.samples();
  const double settle = o.flood >= 3 ? 0.5 : 0.0;  // the steady state under flood
  double hwm = -1;
  if (o.server_pid != 0) {
    if (auto kib = bench::proc_status(o.server_pid, "VmHWM")) hwm = *kib / 1024.0;
  }
  auto phase_cpu = [](const Snapshot& a, const Snapshot& b, double wall) {
    return wall > 0 ? (b.cpu.total() - a.cpu.total()) / wall : 0.0;
  };
  const auto sent = static_cast<double>(flood.sent());
  json out = {
      {"sources", o.sources},
      {"rate_target", o.rate},
      {"value_size", o.value_size},
      {"flood_s", flood_wall},
      {"flood_sent", flood.sent()},
      {"flood_offered_rps", sent / flood_wall},
      {"flood_send_errors", flood.send_errors()},
      {"flood_acked", flood.acked()},
      {"flood_acked_rps", static_cast<double>(acked_in_flood) / flood_wall},
      {"flood_acked_frac", sent > 0 ? static_cast<double>(flood.acked()) / sent : 0.0},
      {"flood_errors", errors},
      {"flood_invalid_token", invalid},
      {"flood_unanswered", unanswered},
      {"kinds", kinds},
      {"server_socket_drops", (s3.drops >= 0 && s1.drops >= 0) ? s3.drops - s1.drops : -1.0},
      {"legit_idle", legit_stats(samples, 0, t_flood)},
      {"legit_flood", legit_stats(samples, t_flood + settle, t_after)},
      {"legit_after", legit_stats(samples, t_after, t_end)},
      {"server_cpu_idle", phase_cpu(s0, s1, o.idle)},
      {"server_cpu_flood", phase_cpu(s1, s2, flood_wall)},
      {"server_cpu_us_per_ack", acked_in_flood > 0 ? (s2.cpu.total() - s1.cpu.total()) * 1e6 /
                                                         static_cast<double>(acked_in_flood)
                                                   : -1.0},
      {"rss_mib_before", s1.rss_mib},
      {"rss_mib_flood_end", s2.rss_mib},
      {"rss_mib_after", s3.rss_mib},
      {"hwm_mib", hwm},
      {"gen_cpu", flood_wall > 0 ? gen_cpu / flood_wall : 0.0}};
  std::printf("%s\n", out.dump().c_str());
  std::fflush(stdout);
  return 0;
}
