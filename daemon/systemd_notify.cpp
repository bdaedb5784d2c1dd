#include "daemon/systemd_notify.hpp"

// libsystemd's sd_notify rather than our own datagram code: it handles the abstract-namespace
// NOTIFY_SOCKET form, passes credentials the way the service manager checks them, and stays
// correct as the protocol grows (it is already a dependency for sd_watchdog_enabled).
#include <systemd/sd-daemon.h>

#include <cstdint>

namespace hdht::daemon {

SystemdNotifier::SystemdNotifier(core::Runtime& runtime) : watchdog_(runtime) {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    interval_ = std::chrono::microseconds(usec / 2);
    arm_watchdog();
  }
}

void SystemdNotifier::arm_watchdog() {
  watchdog_.expires_after(interval_, [this] {
    sd_notify(0, "WATCHDOG=1");
    arm_watchdog();
  });
}

void SystemdNotifier::ready(const std::string& s) {
  if (ready_) return status(s);
  ready_ = true;
  last_status_ = s;
  sd_notify(0, ("READY=1\nSTATUS=" + s).c_str());
}

void SystemdNotifier::status(const std::string& s) {
  if (s == last_status_) return;
  last_status_ = s;
  sd_notify(0, ("STATUS=" + s).c_str());
}

void SystemdNotifier::reloading() {
  sd_notify(0, "RELOADING=1");
}

void SystemdNotifier::reloaded() {
  sd_notify(0, "READY=1");
}

void SystemdNotifier::stopping() {
  watchdog_.cancel();
  sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

}  // namespace hdht::daemon
