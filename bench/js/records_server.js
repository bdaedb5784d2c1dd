'use strict'
// The JS storing node of bench/suites/flood_records.sh, the counterpart of
// bench/records_server.cpp: one hyperdht node (HyperDHT.bootstrapper: persistent, not
// firewalled) on 127.0.0.1:PORT, alone.
//
//   node bench/js/records_server.js --port P [--max-size N] [--stats-ms MS]
//
// --max-size is hyperdht's opts.maxSize (entries per generation; values get half each); the
// reference has no byte caps. Prints {"ready":true,"pid":..,"port":..}, then every --stats-ms
// (default 500) and once more on SIGTERM a line {"stats":{...}} with VmRSS, V8's used heap and
// Buffer memory (what of the RSS is live rather than not yet collected), and the stored counts,
// the same fields as the C++ node where the reference has them (no eviction counters, no byte
// counts, no request limit). Run with --expose-gc, it then also prints {"stats_gc":{...}} after
// a full GC as it stops: the memory the node really retains.
const path = require('path')
const fs = require('fs')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const HyperDHT = require(path.join(interop, 'node_modules', 'hyperdht'))

const HOST = '127.0.0.1'
const argv = process.argv.slice(2)
function arg (name, def) {
  const i = argv.indexOf(name)
  return i === -1 ? def : Number(argv[i + 1])
}

function rssKib () {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(line.split(/\s+/)[1])
}

async function main () {
  const port = arg('--port', 0)
  const maxSize = arg('--max-size', 0)
  const statsMs = arg('--stats-ms', 500)
  const opts = { host: HOST }
  if (maxSize > 0) opts.maxSize = maxSize
  const dht = HyperDHT.bootstrapper(port, HOST, opts)
  await dht.fullyBootstrapped()
  const start = Date.now()
  function stats (key = 'stats') {
    const p = dht._persistent
    const mem = process.memoryUsage()
    const s = {
      t_s: (Date.now() - start) / 1000,
      rss_kib: rssKib(),
      heap_used_kib: Math.round(mem.heapUsed / 1024),
      array_buffers_kib: Math.round(mem.arrayBuffers / 1024),
      storage: p !== null
    }
    if (p) {
      s.records = p.records.size
      s.topics = p.records._fresh.records.size + p.records._stale.records.size
      s.mutables = p.mutables.size
      s.immutables = p.immutables.size
      s.bumps = p.bumps.size
      s.refreshes = p.refreshes.size
    }
    process.stdout.write(JSON.stringify({ [key]: s }) + '\n')
  }
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, port: dht.address().port }) + '\n')
  const timer = setInterval(stats, statsMs)
  const stop = () => {
    clearInterval(timer)
    stats()
    if (global.gc) {
      global.gc()
      global.gc()
      stats('stats_gc')
    }
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err) => { console.error('records_server.js:', err); process.exit(1) })
