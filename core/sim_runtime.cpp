#include "core/sim_runtime.hpp"

#include <stdexcept>

#include "core/datagram_socket.hpp"

namespace hdht::core {

namespace {

class SimTimerBackend final : public detail::TimerBackend {
 public:
  explicit SimTimerBackend(SimNetwork& network) : network_(network) {}
  ~SimTimerBackend() override { cancel(); }

  void arm(TimePoint at, std::function<void()> on_expiry) override {
    cancel();
    id_ = network_.schedule(at, std::move(on_expiry));
  }
  void cancel() noexcept override {
    if (id_ != 0) network_.cancel(id_);
    id_ = 0;
  }

 private:
  SimNetwork& network_;
  SimNetwork::EventId id_ = 0;  // may have run already; cancelling a stale id is a no-op
};

class SimDatagramSocket final : public DatagramSocket, private SimNetwork::Endpoint {
 public:
  SimDatagramSocket(SimNetwork& network, const SimNetwork::Ip& host, Ipv4Address local)
      : network_(network), host_(host), local_(local) {}
  ~SimDatagramSocket() override { close(); }

  Result<void> bind() {
    auto port = network_.bind(host_, local_.port, this);
    if (!port) return port.error();
    local_.port = *port;
    open_ = true;
    return {};
  }

  Ipv4Address local_address() const override { return local_; }
  bool is_open() const override { return open_; }
  void close() override {
    if (!open_) return;
    open_ = false;
    network_.unbind(host_, local_.port);
  }

 protected:
  void do_send(const Ipv4Address& to, ByteView data, SendOptions options) override {
    if (!open_ || data.size() > kMaxDatagramSize || options.ttl < 0 || options.ttl > 255) {
      ++counters_.send_errors;
      return;
    }
    ++counters_.sent_datagrams;
    counters_.sent_bytes += data.size();
    network_.send(SimPacket{Ipv4Address{host_, local_.port}, to, to_bytes(data), options.ttl});
  }

 private:
  void deliver_from_network(ByteView data, const Ipv4Address& from) override {
    const bool truncated = data.size() > kReceiveBufferSize;
    deliver(truncated ? data.first(kReceiveBufferSize) : data, from, truncated);
  }

  SimNetwork& network_;
  SimNetwork::Ip host_;
  Ipv4Address local_;
  bool open_ = false;
};

}  // namespace

SimRuntime::SimRuntime(SimNetwork& network, const SimNetwork::Ip& host)
    : network_(network), host_(host), random_(network.random().next()) {
  if (!network.has_host(host)) throw std::invalid_argument("SimRuntime: unknown host");
}

Result<std::unique_ptr<DatagramSocket>> SimRuntime::bind_udp(const Ipv4Address& local) {
  const SimNetwork::Ip any{0, 0, 0, 0};
  const SimNetwork::Ip loopback{127, 0, 0, 1};
  if (local.ip != any && local.ip != loopback && local.ip != host_) {
    return std::make_error_code(std::errc::address_not_available);
  }
  auto socket = std::make_unique<SimDatagramSocket>(network_, host_, local);
  if (auto r = socket->bind(); !r) return r.error();
  return std::unique_ptr<DatagramSocket>(std::move(socket));
}

std::unique_ptr<detail::TimerBackend> SimRuntime::make_timer_backend() {
  return std::make_unique<SimTimerBackend>(network_);
}

}  // namespace hdht::core
