#include "core/timer.hpp"

#include <vector>

namespace hdht::core {

struct Timer::State {
  // Bumped whenever what is pending is replaced, so an expiry armed earlier (and possibly
  // already queued by the backend) recognises itself as stale and does nothing.
  std::uint64_t generation = 0;
  TimePoint expiry{};
  bool armed = false;
  std::function<void()> callback;
  std::vector<std::function<void(std::error_code)>> waiters;
};

Timer::Timer(Runtime& runtime)
    : runtime_(&runtime),
      executor_(runtime.executor()),
      backend_(runtime.make_timer_backend()),
      state_(std::make_shared<State>()) {}

Timer::~Timer() {
  if (state_) abort_pending(false);
}

Timer::Timer(Timer&& other) noexcept = default;

Timer& Timer::operator=(Timer&& other) noexcept {
  if (this != &other) {
    if (state_) abort_pending(false);
    runtime_ = other.runtime_;
    executor_ = std::move(other.executor_);
    backend_ = std::move(other.backend_);
    state_ = std::move(other.state_);
  }
  return *this;
}

void Timer::expires_after(Duration d, std::function<void()> handler) {
  expires_at(runtime_->now() + d, std::move(handler));
}

void Timer::expires_at(TimePoint t, std::function<void()> handler) {
  expires_at(t);
  state_->callback = std::move(handler);
  if (state_->callback) arm();
}

void Timer::expires_after(Duration d) {
  expires_at(runtime_->now() + d);
}

void Timer::expires_at(TimePoint t) {
  abort_pending(true);
  state_->expiry = t;
}

std::size_t Timer::cancel() {
  return abort_pending(true);
}

bool Timer::pending() const noexcept {
  return state_ && state_->armed;
}

TimePoint Timer::expiry() const noexcept {
  return state_ ? state_->expiry : TimePoint{};
}

void Timer::add_waiter(std::function<void(std::error_code)> waiter) {
  state_->waiters.push_back(std::move(waiter));
  if (!state_->armed) arm();
}

void Timer::arm() {
  State& s = *state_;
  s.armed = true;
  backend_->arm(s.expiry, [weak = std::weak_ptr<State>(state_), generation = s.generation] {
    auto state = weak.lock();
    if (!state || state->generation != generation) return;
    ++state->generation;
    state->armed = false;
    // Moved out first: the callback may re-arm or destroy the Timer (the lock keeps State
    // alive until we return).
    auto waiters = std::move(state->waiters);
    state->waiters.clear();
    auto callback = std::move(state->callback);
    state->callback = nullptr;
    for (auto& w : waiters)
      w(std::error_code{});
    if (callback) callback();
  });
}

std::size_t Timer::abort_pending(bool complete_waiters) {
  State& s = *state_;
  ++s.generation;
  const bool was_armed = s.armed;
  s.armed = false;
  if (was_armed) backend_->cancel();
  // Destroyed outside the state: their captures' destructors may call back into this Timer.
  auto callback = std::move(s.callback);
  s.callback = nullptr;
  auto waiters = std::move(s.waiters);
  s.waiters.clear();
  const std::size_t n = waiters.size() + (callback ? 1 : 0);
  if (complete_waiters) {
    for (auto& w : waiters)
      w(std::make_error_code(std::errc::operation_canceled));
  }
  return n;
}

}  // namespace hdht::core
