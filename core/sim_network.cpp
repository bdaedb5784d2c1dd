#include "core/sim_network.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace hdht::core {

namespace {

constexpr std::size_t kIpv4UdpOverhead = 28;

std::uint32_t key(const SimNetwork::Ip& ip) {
  return std::uint32_t{ip[0]} << 24 | std::uint32_t{ip[1]} << 16 | std::uint32_t{ip[2]} << 8 |
         ip[3];
}

bool is_loopback(const SimNetwork::Ip& ip) {
  return ip[0] == 127;
}

constexpr std::uint16_t kEphemeralFirst = 49152;
constexpr std::uint32_t kEphemeralCount = 65536 - kEphemeralFirst;
// Cancelled events are left in the heap (lazy deletion) until they are at least this many and
// outnumber the live ones; then the heap is rebuilt. Keeps memory proportional to live events.
constexpr std::size_t kCompactMin = 4096;

}  // namespace

SimNetwork::SimNetwork(std::uint64_t seed, SimLink default_link)
    : default_link_(default_link), rng_(seed), io_(std::make_unique<asio::io_context>(1)) {}

SimNetwork::~SimNetwork() = default;

void SimNetwork::add_host(const Ip& ip, SimHostOptions options) {
  auto [it, inserted] = hosts_.try_emplace(key(ip));
  if (!inserted) throw std::invalid_argument("SimNetwork::add_host: duplicate host");
  it->second.options = std::move(options);
  // Each host starts its ephemeral ports somewhere else, as real kernels randomise them.
  it->second.next_ephemeral =
      static_cast<std::uint16_t>(kEphemeralFirst + rng_.below(kEphemeralCount));
}

bool SimNetwork::has_host(const Ip& ip) const {
  return hosts_.contains(key(ip));
}

std::vector<NetworkInterface> SimNetwork::interfaces(const Ip& ip) const {
  auto it = hosts_.find(key(ip));
  if (it == hosts_.end()) return {};
  if (it->second.interfaces) return *it->second.interfaces;
  const std::string host = std::to_string(ip[0]) + "." + std::to_string(ip[1]) + "." +
                           std::to_string(ip[2]) + "." + std::to_string(ip[3]);
  return {{"lo", "127.0.0.1", 4, true}, {"eth0", host, 4, false}};
}

void SimNetwork::set_interfaces(const Ip& ip, std::vector<NetworkInterface> list) {
  auto it = hosts_.find(key(ip));
  if (it == hosts_.end()) throw std::invalid_argument("SimNetwork::set_interfaces: unknown host");
  it->second.interfaces = std::move(list);
}

void SimNetwork::route(const Ip& address, std::shared_ptr<SimGateway> gateway) {
  routes_[key(address)] = std::move(gateway);
}

asio::any_io_executor SimNetwork::executor() {
  return io_->get_executor();
}

void SimNetwork::run_for(Duration d) {
  run(nullptr, now_ + d);
}

bool SimNetwork::run_until(const std::function<bool()>& done, Duration max) {
  return run(&done, now_ + max);
}

bool SimNetwork::run(const std::function<bool()>* done, TimePoint deadline) {
  if (running_) throw std::logic_error("SimNetwork::run is not re-entrant");
  running_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{running_};

  for (;;) {
    // Everything ready at the current virtual time runs before time moves on.
    io_->restart();
    io_->poll();
    if (done && (*done)()) return true;
    while (!heap_.empty() && heap_.front().cancellable &&
           !pending_cancellable_.contains(heap_.front().seq)) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{});
      heap_.pop_back();
      --dead_;
    }
    if (heap_.empty() || heap_.front().at > deadline) {
      if (!done || !heap_.empty()) now_ = std::max(now_, deadline);
      return done ? (*done)() : true;
    }
    now_ = heap_.front().at;
    // The events run inside the io_context, like every other handler of a node.
    asio::post(*io_, [this] { run_due_events(); });
  }
}

void SimNetwork::run_due_events() {
  while (!heap_.empty() && heap_.front().at <= now_) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    Event ev = std::move(heap_.back());
    heap_.pop_back();
    if (ev.cancellable) {
      if (pending_cancellable_.erase(ev.seq) == 0) {
        --dead_;
        continue;
      }
    }
    ++stats_.events;
    trace(static_cast<std::uint64_t>(ev.at.time_since_epoch().count()));
    trace(ev.seq);
    ev.fn();
  }
}

void SimNetwork::push(TimePoint at, bool cancellable, std::function<void()> fn) {
  heap_.push_back(Event{std::max(at, now_), next_seq_++, cancellable, std::move(fn)});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

SimNetwork::EventId SimNetwork::schedule(TimePoint at, std::function<void()> fn) {
  const EventId id = next_seq_;
  pending_cancellable_.insert(id);
  push(at, true, std::move(fn));
  return id;
}

void SimNetwork::cancel(EventId id) noexcept {
  if (pending_cancellable_.erase(id) == 0) return;
  ++dead_;
  if (dead_ >= kCompactMin && dead_ * 2 > heap_.size()) compact();
}

void SimNetwork::compact() {
  // Order among the survivors is fixed by (at, seq), so rebuilding cannot change the run.
  std::erase_if(heap_, [this](const Event& e) {
    return e.cancellable && !pending_cancellable_.contains(e.seq);
  });
  std::make_heap(heap_.begin(), heap_.end(), Later{});
  dead_ = 0;
}

Result<std::uint16_t> SimNetwork::bind(const Ip& host_ip, std::uint16_t port, Endpoint* endpoint) {
  auto it = hosts_.find(key(host_ip));
  if (it == hosts_.end()) return std::make_error_code(std::errc::address_not_available);
  Host& host = it->second;
  if (port == 0) {
    for (std::uint32_t i = 0; i < kEphemeralCount && port == 0; ++i) {
      const std::uint16_t candidate = host.next_ephemeral;
      host.next_ephemeral = candidate == 65535 ? kEphemeralFirst : candidate + 1;
      if (!host.ports.contains(candidate)) port = candidate;
    }
    if (port == 0) return std::make_error_code(std::errc::address_in_use);
  }
  if (!host.ports.try_emplace(port, endpoint).second) {
    return std::make_error_code(std::errc::address_in_use);
  }
  return port;
}

void SimNetwork::unbind(const Ip& host_ip, std::uint16_t port) noexcept {
  auto it = hosts_.find(key(host_ip));
  if (it != hosts_.end()) it->second.ports.erase(port);
}

void SimNetwork::send(SimPacket p) {
  ++stats_.packets_sent;
  auto sender = hosts_.find(key(p.from.ip));
  if (sender == hosts_.end()) {
    ++stats_.packets_unroutable;
    return;
  }
  // Loopback and packets to the host's own address never reach the wire or the gateway.
  if (is_loopback(p.to.ip) || p.to.ip == p.from.ip) {
    if (is_loopback(p.to.ip)) {
      p.to.ip = p.from.ip;
      p.from.ip = {127, 0, 0, 1};
    }
    push(now_, false, [this, q = std::move(p)]() mutable { deliver(q, true); });
    return;
  }
  const SimHostOptions& opts = sender->second.options;
  if (opts.gateway && !opts.gateway->outbound(p, now_)) {
    ++stats_.packets_gateway_dropped;
    return;
  }
  const SimLink& link = opts.link ? *opts.link : default_link_;
  if (link.mtu != 0 && p.data.size() + kIpv4UdpOverhead > link.mtu) {
    ++stats_.packets_too_big;
    trace(0x2b16);
    return;
  }
  if (rng_.chance(link.loss)) {
    ++stats_.packets_lost;
    trace(0x1055);
    return;
  }
  const int copies = rng_.chance(link.duplicate) ? 2 : 1;
  if (copies == 2) ++stats_.packets_duplicated;
  for (int i = 0; i < copies; ++i) {
    Duration delay = link.latency;
    if (link.jitter.count() > 0) {
      delay += Duration(static_cast<Duration::rep>(
          rng_.below(static_cast<std::uint64_t>(link.jitter.count()) + 1)));
    }
    if (rng_.chance(link.reorder)) {
      ++stats_.packets_reordered;
      delay += link.reorder_delay;
    }
    SimPacket copy = i + 1 < copies ? p : std::move(p);
    push(now_ + delay, false, [this, q = std::move(copy)]() mutable { deliver(q, false); });
  }
}

void SimNetwork::deliver(SimPacket& p, bool local) {
  auto host = hosts_.find(key(p.to.ip));
  if (!local) {
    if (host == hosts_.end()) {
      auto route = routes_.find(key(p.to.ip));
      if (route == routes_.end()) {
        ++stats_.packets_unroutable;
        return;
      }
      if (!route->second->inbound(p, now_)) {
        ++stats_.packets_gateway_dropped;
        return;
      }
      host = hosts_.find(key(p.to.ip));
    } else if (const auto& gw = host->second.options.gateway; gw && !gw->inbound(p, now_)) {
      ++stats_.packets_gateway_dropped;
      return;
    }
    if (host == hosts_.end()) {
      ++stats_.packets_unroutable;
      return;
    }
  }
  auto socket = host->second.ports.find(p.to.port);
  if (socket == host->second.ports.end()) {
    ++stats_.packets_unbound;
    return;
  }
  ++stats_.packets_delivered;
  trace(p.from.ip_u32());
  trace(p.from.port);
  trace(p.to.ip_u32());
  trace(p.to.port);
  trace(p.data);
  socket->second->deliver_from_network(p.data, p.from);  // may unbind or destroy the socket
}

void SimNetwork::trace(std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) {
    trace_ = (trace_ ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ull;
  }
}

void SimNetwork::trace(ByteView bytes) noexcept {
  trace(bytes.size());
  for (std::uint8_t b : bytes)
    trace_ = (trace_ ^ b) * 0x100000001b3ull;
}

}  // namespace hdht::core
