// The simulated Runtime: one node on one host of a SimNetwork, on its virtual clock.
#pragma once

#include "core/runtime.hpp"
#include "core/sim_network.hpp"
#include "core/sim_random.hpp"

namespace hdht::core {

// Not thread-safe: used from the thread driving the SimNetwork, which must outlive it. Several
// runtimes may share a host (they share its ports).
class SimRuntime final : public Runtime {
 public:
  // The host must have been added to the network (std::invalid_argument otherwise). The
  // runtime's random stream is seeded from the network's, so it is fixed by the seed and by
  // the order in which runtimes are created.
  SimRuntime(SimNetwork& network, const SimNetwork::Ip& host);

  asio::any_io_executor executor() override { return network_.executor(); }
  TimePoint now() const override { return network_.now(); }
  // local.ip must be 0.0.0.0, 127.0.0.1 or the host's address (address_not_available
  // otherwise); the socket then receives everything sent to the host at that port.
  Result<std::unique_ptr<DatagramSocket>> bind_udp(const Ipv4Address& local) override;
  std::uint32_t random_u32() override { return random_.next_u32(); }
  std::vector<NetworkInterface> network_interfaces() override { return network_.interfaces(host_); }

  SimNetwork& network() noexcept { return network_; }
  const SimNetwork::Ip& host() const noexcept { return host_; }

 protected:
  std::unique_ptr<detail::TimerBackend> make_timer_backend() override;

 private:
  SimNetwork& network_;
  SimNetwork::Ip host_;
  SimRandom random_;
};

}  // namespace hdht::core
