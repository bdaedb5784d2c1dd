// Polls the runtime's network interfaces the way libudx's udx_interface_event does (every 5 s in
// the reference; a change is any difference in the list). dht-rpc turns a change into
// 'network-change' + 'network-update'.
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include "core/network_interface.hpp"
#include "core/timer.hpp"

namespace hdht::core {

class Runtime;

// Reports each change of runtime.network_interfaces() once, polling every `interval` while
// started. Not thread-safe; runs on the runtime's executor; no callback after stop() or
// destruction.
class InterfaceWatcher {
 public:
  using OnChange = std::function<void(const std::vector<NetworkInterface>&)>;
  InterfaceWatcher(Runtime& runtime, std::chrono::milliseconds interval, OnChange on_change);
  void start();  // takes the current list as the baseline
  void stop() noexcept;
  const std::vector<NetworkInterface>& interfaces() const noexcept { return current_; }

 private:
  void arm();
  void poll();

  Runtime& runtime_;
  std::chrono::milliseconds interval_;
  OnChange on_change_;
  std::vector<NetworkInterface> current_;
  Timer timer_;
  bool running_ = false;
};

}  // namespace hdht::core
