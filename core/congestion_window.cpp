#include "core/congestion_window.hpp"

namespace hdht::dht {

bool CongestionWindow::is_full() const noexcept {
  return total_ >= 2 * max_window_ || window_[i_] >= max_window_;
}

void CongestionWindow::send() noexcept {
  ++total_;
  ++window_[i_];
}

// Only the current slot is credited, and only if it has something: a response to a request
// sent in an older slot does not reopen the window early (the reference does the same).
void CongestionWindow::recv() noexcept {
  if (window_[i_] > 0) {
    --window_[i_];
    --total_;
  }
}

void CongestionWindow::drain() noexcept {
  i_ = (i_ + 1) & 3;
  total_ -= window_[i_];
  window_[i_] = 0;
}

void CongestionWindow::clear() noexcept {
  i_ = 0;
  total_ = 0;
  window_ = {};
}

}  // namespace hdht::dht
