// systemd's Type=notify protocol: READY=1 once node 0 has bootstrapped, STATUS= lines with the
// node count and firewall state, STOPPING=1 on shutdown, and WATCHDOG=1 at half of
// WATCHDOG_USEC from a timer on the nodes' executor, so a wedged event loop stops the pings and
// systemd restarts the daemon. Every call is a no-op when not started by systemd.
#pragma once

#include <string>

#include "core/runtime.hpp"
#include "core/timer.hpp"

namespace hdht::daemon {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(core::Runtime& runtime);
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  void ready(const std::string& status);
  void status(const std::string& status);
  void reloading();
  void reloaded();  // READY=1 again, as systemd expects after RELOADING=1
  void stopping();
  bool watchdog_enabled() const noexcept { return interval_.count() > 0; }

 private:
  void arm_watchdog();

  core::Timer watchdog_;
  std::chrono::microseconds interval_{0};
  bool ready_ = false;
  std::string last_status_;
};

}  // namespace hdht::daemon
