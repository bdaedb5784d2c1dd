// An in-process network on virtual time, in the manner of libtorrent's libsimulator: every node
// of a simulation runs in one thread on one io_context, time jumps to the next event instead of
// passing, and a seed fixes the whole run (latency jitter, loss, duplication, reordering and
// every SimRuntime's random_u32()).
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/runtime.hpp"
#include "core/sim_random.hpp"
#include "protocol/bytes.hpp"

namespace boost::asio {
class io_context;
}

namespace hdht::core {

// How datagrams leaving a host travel. Applied per datagram, in this order: loss, duplication
// (one extra copy), then each copy's delay = latency + uniform[0, jitter] (+ reorder_delay with
// probability reorder).
struct SimLink {
  Duration latency = std::chrono::milliseconds(10);  // one way
  Duration jitter{0};
  double loss = 0;
  double duplicate = 0;
  double reorder = 0;
  Duration reorder_delay = std::chrono::milliseconds(20);
  // Path MTU in whole IP bytes (datagram + 28 for IPv4 and UDP); 0 = unlimited. Larger
  // datagrams are dropped, not fragmented: every socket sends with "don't fragment", as libudx
  // sets at bind (IP_PMTUDISC_PROBE), so this is what UDX's MTU probing runs into.
  std::size_t mtu = 0;
};

struct SimPacket {
  Ipv4Address from;
  Ipv4Address to;
  Bytes data;
  int ttl = 0;  // as the sender asked (0 = default); for gateways that model TTL expiry
};

// The hook for NAT and firewall behaviour. A gateway sits in front of one or more hosts.
// Not thread-safe; called from the simulation loop.
class SimGateway {
 public:
  virtual ~SimGateway() = default;
  // A packet leaving a host behind this gateway: may rewrite p.from (a NAT mapping); false drops.
  virtual bool outbound(SimPacket& p, TimePoint now) = 0;
  // A packet arriving for a host behind this gateway, or for an address routed to it
  // (SimNetwork::route): may rewrite p.to (to the private host); false drops.
  virtual bool inbound(SimPacket& p, TimePoint now) = 0;
};

// A host on the open internet: everything passes unchanged.
class PassThroughGateway final : public SimGateway {
 public:
  bool outbound(SimPacket&, TimePoint) override { return true; }
  bool inbound(SimPacket&, TimePoint) override { return true; }
};

struct SimHostOptions {
  std::shared_ptr<SimGateway> gateway;  // null: no gateway (same as PassThroughGateway)
  std::optional<SimLink> link;          // this host's outgoing link; default: the network's
};

struct SimStats {
  std::uint64_t events = 0;  // executed (not cancelled) events
  std::uint64_t packets_sent = 0;
  std::uint64_t packets_delivered = 0;  // handed to a socket
  std::uint64_t packets_lost = 0;
  std::uint64_t packets_duplicated = 0;
  std::uint64_t packets_reordered = 0;        // held back by reorder_delay
  std::uint64_t packets_unroutable = 0;       // no host or route at the destination address
  std::uint64_t packets_unbound = 0;          // no socket on the destination port
  std::uint64_t packets_gateway_dropped = 0;  // a gateway refused it
  std::uint64_t packets_too_big = 0;          // over the sending link's path MTU
};

// Not thread-safe: one thread drives the simulation (run_for / run_until) and every handler of
// every node runs inside those calls. Must outlive the SimRuntimes, sockets and timers using it.
class SimNetwork {
 public:
  using Ip = std::array<std::uint8_t, 4>;
  using EventId = std::uint64_t;

  // What the network delivers into: the simulated sockets.
  class Endpoint {
   public:
    virtual void deliver_from_network(ByteView data, const Ipv4Address& from) = 0;

   protected:
    ~Endpoint() = default;
  };

  // Virtual time starts well after the clock's epoch, as a real steady clock does (boot time),
  // so code using TimePoint{} as "never" behaves as it does for real.
  static constexpr TimePoint kStart = TimePoint(std::chrono::seconds(1'000'000));

  explicit SimNetwork(std::uint64_t seed, SimLink default_link = {});
  ~SimNetwork();
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // Hosts and routing. Adding a host twice is a programming error (std::invalid_argument).
  void add_host(const Ip& ip, SimHostOptions options = {});
  bool has_host(const Ip& ip) const;
  // A host's interfaces: by default loopback plus "eth0" with the host's address. Tests change
  // them to simulate a network change (the nodes' watchers see it on their next poll).
  std::vector<NetworkInterface> interfaces(const Ip& ip) const;
  void set_interfaces(const Ip& ip, std::vector<NetworkInterface> list);
  // Packets for `address` (which is not a host) go to gateway->inbound, which must rewrite p.to
  // to a host; that host's own gateway is not consulted again.
  void route(const Ip& address, std::shared_ptr<SimGateway> gateway);
  void set_default_link(const SimLink& link) { default_link_ = link; }

  TimePoint now() const noexcept { return now_; }
  asio::any_io_executor executor();
  SimRandom& random() noexcept { return rng_; }

  // Runs until virtual time now()+d (now() is then exactly that).
  void run_for(Duration d);
  // Runs until done() is true (checked whenever the ready handlers have run) or virtual time
  // has advanced by max; returns done(). Also returns when nothing is left to happen.
  bool run_until(const std::function<bool()>& done, Duration max);

  // Events, for the simulated timers: fn runs on the executor at virtual time `at` (never
  // before now()), after every event scheduled earlier for the same time.
  EventId schedule(TimePoint at, std::function<void()> fn);
  void cancel(EventId id) noexcept;  // no-op if it already ran or was cancelled

  // Sockets, for SimRuntime: port 0 picks a free ephemeral port. Errors: address_in_use,
  // address_not_available (unknown host).
  Result<std::uint16_t> bind(const Ip& host, std::uint16_t port, Endpoint* endpoint);
  void unbind(const Ip& host, std::uint16_t port) noexcept;
  // Sends p (p.from must be the sending socket's host address and port).
  void send(SimPacket p);

  const SimStats& stats() const noexcept { return stats_; }
  // A hash of everything that happened (event times and order, every packet's route and
  // bytes): equal for two runs exactly when they went the same way.
  std::uint64_t trace_hash() const noexcept { return trace_; }
  std::size_t pending_events() const noexcept { return heap_.size() - dead_; }

 private:
  struct Event {
    TimePoint at;
    EventId seq;
    bool cancellable;
    std::function<void()> fn;
  };
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at != b.at ? a.at > b.at : a.seq > b.seq;
    }
  };
  struct Host {
    SimHostOptions options;
    std::unordered_map<std::uint16_t, Endpoint*> ports;
    std::uint16_t next_ephemeral = 0;
    std::optional<std::vector<NetworkInterface>> interfaces;  // nullopt: the default list
  };

  bool run(const std::function<bool()>* done, TimePoint deadline);
  void run_due_events();
  void push(TimePoint at, bool cancellable, std::function<void()> fn);
  void compact();
  void deliver(SimPacket& p, bool routed);
  void trace(std::uint64_t v) noexcept;
  void trace(ByteView bytes) noexcept;

  TimePoint now_ = kStart;
  SimLink default_link_;
  SimRandom rng_;
  SimStats stats_;
  std::uint64_t trace_ = 0xcbf29ce484222325ull;
  EventId next_seq_ = 1;
  std::vector<Event> heap_;
  std::unordered_set<EventId> pending_cancellable_;  // scheduled, not yet run or cancelled
  std::size_t dead_ = 0;                             // cancelled events still in heap_
  std::unordered_map<std::uint32_t, Host> hosts_;
  std::unordered_map<std::uint32_t, std::shared_ptr<SimGateway>> routes_;
  bool running_ = false;
  // Last member: destroyed first, while the heap and hosts that its pending handlers (and the
  // timers and sockets they own) may touch still exist.
  std::unique_ptr<boost::asio::io_context> io_;
};

}  // namespace hdht::core
