#include "core/asio_runtime.hpp"

#include <chrono>

#include <boost/asio/steady_timer.hpp>

#include "core/asio_datagram_socket.hpp"
#include "protocol/crypto.hpp"

namespace hdht::core {

namespace {

using SteadyPoint = std::chrono::steady_clock::time_point;

// Our TimePoint counts from the steady clock's epoch, so the conversion is exact.
SteadyPoint to_steady(TimePoint t) {
  return SteadyPoint(std::chrono::duration_cast<SteadyPoint::duration>(t.time_since_epoch()));
}

class AsioTimerBackend final : public detail::TimerBackend {
 public:
  explicit AsioTimerBackend(const asio::any_io_executor& ex) : timer_(ex) {}

  void arm(TimePoint at, std::function<void()> on_expiry) override {
    timer_.expires_at(to_steady(at));
    // on_expiry guards itself (Timer's generation check), so a completion that was already
    // queued when the timer was re-armed or destroyed is harmless.
    timer_.async_wait([fn = std::move(on_expiry)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  }
  void cancel() noexcept override { timer_.cancel(); }

 private:
  asio::steady_timer timer_;
};

}  // namespace

AsioRuntime::AsioRuntime(asio::any_io_executor executor) : executor_(std::move(executor)) {
  crypto::init();
}

TimePoint AsioRuntime::now() const {
  return TimePoint(
      std::chrono::duration_cast<Duration>(std::chrono::steady_clock::now().time_since_epoch()));
}

Result<std::unique_ptr<DatagramSocket>> AsioRuntime::bind_udp(const Ipv4Address& local) {
  return bind_asio_udp(executor_, local);
}

std::uint32_t AsioRuntime::random_u32() {
  return crypto::random_u32();
}

std::unique_ptr<detail::TimerBackend> AsioRuntime::make_timer_backend() {
  return std::make_unique<AsioTimerBackend>(executor_);
}

}  // namespace hdht::core
