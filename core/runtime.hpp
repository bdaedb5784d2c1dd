// The environment a node runs in: its executor, its clock, its timers, its datagram transport
// and its randomness. Node code takes a Runtime& and nothing else from the outside world, so the
// same code runs on real UDP sockets (AsioRuntime) and in the simulated network on virtual time
// (SimRuntime).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <ratio>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "core/network_interface.hpp"
#include "protocol/ipv4.hpp"
#include "protocol/result.hpp"

namespace hdht::core {

namespace asio = boost::asio;

// The node clock. It has deliberately no static now(): time comes from Runtime::now(), so code
// cannot read the wall clock by accident and break the simulation. Steady, nanosecond ticks.
struct Clock {
  using rep = std::int64_t;
  using period = std::nano;
  using duration = std::chrono::nanoseconds;
  using time_point = std::chrono::time_point<Clock>;
  static constexpr bool is_steady = true;
};
using Duration = Clock::duration;
using TimePoint = Clock::time_point;

class DatagramSocket;
class Timer;

namespace detail {

// What a runtime must provide for one Timer. Timer layers the lifetime guarantees on top (a
// handler never runs after cancel or destruction), so a backend only has to be "best effort":
// it may still call on_expiry after cancel() if the expiry was already queued.
class TimerBackend {
 public:
  virtual ~TimerBackend() = default;
  // Replaces any armed expiry. on_expiry runs once, on the runtime's executor, at or after `at`
  // (immediately, but never inline, if `at` has passed).
  virtual void arm(TimePoint at, std::function<void()> on_expiry) = 0;
  virtual void cancel() noexcept = 0;
};

}  // namespace detail

// Not thread-safe: every call, and every handler of every object made from a Runtime, happens on
// executor(). A Runtime must outlive the timers and sockets made from it.
class Runtime {
 public:
  Runtime() = default;
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;
  virtual ~Runtime() = default;

  // The executor every callback of this node runs on (real: an io_context; simulated: the
  // simulation's io_context, driven on virtual time).
  virtual asio::any_io_executor executor() = 0;
  virtual TimePoint now() const = 0;
  // Binds a UDP socket on local (0.0.0.0 = any interface, port 0 = any port). Failures (port
  // in use, address not local) are values, so a caller can walk a port range.
  virtual Result<std::unique_ptr<DatagramSocket>> bind_udp(const Ipv4Address& local) = 0;
  // Uniform 32-bit randomness for protocol choices (jitter, tids, sampling). Real: libsodium;
  // simulated: a PRNG seeded from the simulation seed, so runs replay exactly.
  virtual std::uint32_t random_u32() = 0;
  // The host's interface addresses (real: getifaddrs; simulated: the host's configured list).
  // Polled by the node to emit 'network-change' as udx-native does.
  virtual std::vector<NetworkInterface> network_interfaces() = 0;

 protected:
  friend class Timer;
  virtual std::unique_ptr<detail::TimerBackend> make_timer_backend() = 0;
};

}  // namespace hdht::core
