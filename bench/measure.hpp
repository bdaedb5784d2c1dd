// Timing helper for the C++ side of the benchmarks, the counterpart of bench/js/measure.js:
// run fn in batches until `seconds` elapse; report operations per second and CPU seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <ctime>

namespace hdht::bench {

struct Measurement {
  double ops_per_sec = 0;
  double cpu_sec = 0;
  std::uint64_t ops = 0;
};

inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

template <class Fn>
Measurement measure(Fn&& fn, double seconds = 1.0, std::uint64_t batch = 1000) {
  for (std::uint64_t i = 0; i < batch; ++i) fn();
  const double cpu0 = cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t ops = 0;
  double elapsed = 0;
  while (elapsed < seconds) {
    for (std::uint64_t i = 0; i < batch; ++i) fn();
    ops += batch;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  return {static_cast<double>(ops) / elapsed, cpu_seconds() - cpu0, ops};
}

}  // namespace hdht::bench
