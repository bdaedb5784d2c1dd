// Online / degraded / offline detection from the RpcIo's response and timeout counters, sampled
// once per tick (a port of dht-rpc 6.27 lib/health.js, spec dht-rpc.md §11).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace hdht::dht {

class NetworkHealth {
 public:
  // What the node should tell the world after an update (the reference's _online/_degraded/
  // _offline calls); `none` when the window is cold or idle.
  enum class Signal { none, online, degraded, offline };

  static constexpr std::size_t kWindow = 4;
  static constexpr int kOfflineThreshold = 2;
  static constexpr std::uint64_t kIdleThreshold = 4;
  static constexpr double kDegradedTimeoutRate = 0.5;

  // Takes the cumulative counters of the RpcIo.
  Signal update(std::uint64_t responses_total, std::uint64_t timeouts_total);
  // Forgets the window (after a wakeup); the caller then signals online.
  void reset();

  bool online() const noexcept { return online_; }
  bool degraded() const noexcept { return degraded_; }
  bool cold() const noexcept { return length_ < kWindow; }
  bool idle() const noexcept { return responses() + timeouts() < kIdleThreshold; }
  std::uint64_t responses() const noexcept;
  std::uint64_t timeouts() const noexcept;
  double timeouts_rate() const noexcept;

 private:
  struct Sample {
    std::uint64_t responses = 0, timeouts = 0;
    // Unset while the window was cold or idle (the JS leaves them undefined).
    std::optional<bool> offline, degraded;
  };
  std::size_t tail() const noexcept { return (head_ + 1) % kWindow; }
  const Sample* newest() const noexcept;
  const Sample* previous() const noexcept;

  std::array<Sample, kWindow> window_{};
  std::size_t length_ = 0;
  std::size_t head_ = kWindow - 1;  // the JS -1: the first update writes slot 0
  int offline_ticks_ = 0, degraded_ticks_ = 0, healthy_ticks_ = 0;
  bool online_ = true, degraded_ = false;
};

}  // namespace hdht::dht
