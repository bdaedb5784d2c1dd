// A one-shot timer on a Runtime's clock, usable with a plain callback or as an Asio async
// operation (co_await timer.async_wait(asio::use_awaitable)).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <system_error>
#include <type_traits>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>

#include "core/runtime.hpp"

namespace hdht::core {

// Lifetime guarantees (the reason this class exists rather than a bare asio timer, whose
// already-queued handlers run after cancel() and after the timer is gone):
//  - callback flavour (expires_after(d, handler)): once cancel(), a new expiry or the destructor
//    has returned, the handler never runs, even if it was already due in the same tick.
//  - async_wait: cancel() or a new expiry completes pending waits with
//    std::errc::operation_canceled; the destructor drops them without completing them (a
//    co_awaiting coroutine is unwound, never resumed), so a wait can't outlive its owner.
// A fired callback may re-arm or destroy its own Timer.
//
// Not thread-safe: all calls on the runtime's executor. The Runtime must outlive the Timer.
// Completion signature of async_wait: void(std::error_code); success is an empty error_code.
class Timer {
 public:
  explicit Timer(Runtime& runtime);
  ~Timer();
  Timer(Timer&& other) noexcept;
  Timer& operator=(Timer&& other) noexcept;
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Sets the expiry and arms handler (run once, on the executor). Replaces what was pending,
  // as cancel() does.
  void expires_after(Duration d, std::function<void()> handler);
  void expires_at(TimePoint t, std::function<void()> handler);
  // Sets the expiry for async_wait. Replaces what was pending, as cancel() does.
  void expires_after(Duration d);
  void expires_at(TimePoint t);

  // Drops the pending handler and completes pending waits with operation_canceled. Returns how
  // many were pending.
  std::size_t cancel();
  bool pending() const noexcept;
  TimePoint expiry() const noexcept;

  template <class CompletionToken>
  auto async_wait(CompletionToken&& token) {
    return asio::async_initiate<CompletionToken, void(std::error_code)>(
        [this](auto handler) {
          using Handler = std::decay_t<decltype(handler)>;
          auto ex = asio::get_associated_executor(handler, executor_);
          // Shared so the type-erased waiter stays copyable for std::function; the handler
          // itself is still invoked at most once.
          auto h = std::make_shared<Handler>(std::move(handler));
          add_waiter([h, ex](std::error_code ec) {
            asio::post(ex, [h, ec]() mutable { std::move (*h)(ec); });
          });
        },
        token);
  }

 private:
  struct State;
  void add_waiter(std::function<void(std::error_code)> waiter);
  void arm();
  std::size_t abort_pending(bool complete_waiters);

  Runtime* runtime_;
  asio::any_io_executor executor_;
  std::unique_ptr<detail::TimerBackend> backend_;
  std::shared_ptr<State> state_;  // shared only with weak_ptrs held by armed expiries
};

}  // namespace hdht::core
