'use strict'
// Shared timing helper for the JS side of the benchmarks: run fn in batches until `seconds`
// elapse; report operations per second and CPU seconds, as the C++ side does (bench/measure.hpp).
function measure (fn, { seconds = 1, batch = 1000 } = {}) {
  for (let i = 0; i < batch; i++) fn() // warm up the JIT
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  let ops = 0
  let elapsed = 0
  while (elapsed < seconds) {
    for (let i = 0; i < batch; i++) fn()
    ops += batch
    elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  }
  const cpu = process.cpuUsage(cpu0)
  return { ops_per_sec: Math.round(ops / elapsed), cpu_sec: (cpu.user + cpu.system) / 1e6, ops }
}

module.exports = { measure }
