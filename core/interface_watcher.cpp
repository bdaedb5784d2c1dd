#include "core/interface_watcher.hpp"

#include "core/runtime.hpp"

namespace hdht::core {

InterfaceWatcher::InterfaceWatcher(Runtime& runtime, std::chrono::milliseconds interval,
                                   OnChange on_change)
    : runtime_(runtime), interval_(interval), on_change_(std::move(on_change)), timer_(runtime) {}

void InterfaceWatcher::start() {
  if (running_) return;
  running_ = true;
  current_ = runtime_.network_interfaces();
  arm();
}

void InterfaceWatcher::stop() noexcept {
  running_ = false;
  timer_.cancel();
}

void InterfaceWatcher::arm() {
  timer_.expires_after(interval_, [this] { poll(); });
}

void InterfaceWatcher::poll() {
  auto now = runtime_.network_interfaces();
  if (now != current_) {
    current_ = std::move(now);
    if (on_change_) on_change_(current_);
    if (!running_) return;  // on_change stopped the watcher
  }
  arm();
}

}  // namespace hdht::core
