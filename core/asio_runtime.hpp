// The real Runtime: an Asio executor (normally an io_context's), the steady clock, steady_timer
// timers, non-blocking IPv4 UDP sockets and libsodium randomness.
#pragma once

#include "core/runtime.hpp"

namespace hdht::core {

// Not thread-safe: use it, and run the executor's context, on one thread (or a strand). The
// executor's execution context (the io_context) must outlive this Runtime and everything made
// from it.
class AsioRuntime final : public Runtime {
 public:
  explicit AsioRuntime(asio::any_io_executor executor);

  asio::any_io_executor executor() override { return executor_; }
  TimePoint now() const override;
  Result<std::unique_ptr<DatagramSocket>> bind_udp(const Ipv4Address& local) override;
  std::uint32_t random_u32() override;
  std::vector<NetworkInterface> network_interfaces() override { return list_system_interfaces(); }

 protected:
  std::unique_ptr<detail::TimerBackend> make_timer_backend() override;

 private:
  asio::any_io_executor executor_;
};

}  // namespace hdht::core
