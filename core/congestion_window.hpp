// The request congestion window of dht-rpc (lib/io.js CongestionWindow): four 750 ms slots of
// transmissions; full when the total reaches 2 * max_window or the current slot max_window.
// Pure and deterministic: the caller drives drain() from its 750 ms timer.
#pragma once

#include <array>
#include <cstddef>

namespace hdht::dht {

class CongestionWindow {
 public:
  explicit CongestionWindow(std::size_t max_window = 80) : max_window_(max_window) {}
  bool is_full() const noexcept;
  void send() noexcept;     // a transmission (retransmissions count too)
  void recv() noexcept;     // a response, or a destroyed request
  void drain() noexcept;    // advance to the next slot, forgetting the oldest
  void clear() noexcept;
  std::size_t max_window() const noexcept { return max_window_; }
  std::size_t total() const noexcept { return total_; }

 private:
  std::size_t max_window_;
  std::size_t i_ = 0;
  std::size_t total_ = 0;
  std::array<std::size_t, 4> window_{};
};

}  // namespace hdht::dht
