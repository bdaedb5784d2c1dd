'use strict'
// The JS side of the store part of bench/suites/records.sh, and the putter for both sides.
//
//   node --expose-gc bench/js/records_store.js --serve --port P
//       One hyperdht storing node (HyperDHT.bootstrapper: persistent, not firewalled) on
//       127.0.0.1:P, alone. Prints {"ready":true,"pid":..,"port":..}; then each "rss" line on
//       stdin is answered with {"rss_kib":..,"mutables":..} (after a full GC when --expose-gc is
//       given), until stdin closes. bench/records_store.cpp is the same node in C++.
//   node bench/js/records_store.js --put H:P [--count 10000] [--window 64]
//       Puts COUNT mutable records of 128 B (seq 0, each under its own key pair) straight to
//       the storing node at H:P with MUTABLE_PUT requests (token from one MUTABLE_GET, refreshed
//       every 1000 puts), WINDOW at a time; prints {"put":..,"failed":..,"seconds":..}. The
//       same putter, with identical requests, serves both implementations.
const path = require('path')
const readline = require('readline')
const fs = require('fs')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const modules = path.join(interop, 'node_modules')
const HyperDHT = require(path.join(modules, 'hyperdht'))
const c = require(path.join(modules, 'compact-encoding'))
const m = require(path.join(modules, 'hyperdht', 'lib', 'messages'))
const Persistent = require(path.join(modules, 'hyperdht', 'lib', 'persistent'))
const { COMMANDS } = require(path.join(modules, 'hyperdht', 'lib', 'constants'))

const HOST = '127.0.0.1'
const argv = process.argv.slice(2)
function arg (name, def) {
  const i = argv.indexOf(name)
  return i === -1 ? def : argv[i + 1]
}

function rssKib () {
  const line = fs.readFileSync('/proc/self/status', 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
  return Number(line.split(/\s+/)[1])
}

async function serve () {
  const port = Number(arg('--port', 0))
  const dht = HyperDHT.bootstrapper(port, HOST, { host: HOST })
  await dht.fullyBootstrapped()
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, port: dht.address().port }) + '\n')
  const rl = readline.createInterface({ input: process.stdin })
  rl.on('line', (line) => {
    if (line.trim() !== 'rss') return
    if (global.gc) { global.gc(); global.gc() }
    const p = dht._persistent
    process.stdout.write(JSON.stringify({ rss_kib: rssKib(), mutables: p ? p.mutables.size : null }) + '\n')
  })
  rl.on('close', () => process.exit(0))
  process.once('SIGTERM', () => process.exit(0))
}

function padded (s) {
  const v = Buffer.alloc(128, '.')
  v.write(s)
  return v
}

async function put () {
  const [host, port] = arg('--put').split(':')
  const to = { host, port: Number(port) }
  const count = Number(arg('--count', 10000))
  const window = Number(arg('--window', 64))
  const dht = new HyperDHT({ bootstrap: [to], host: HOST })
  await dht.fullyBootstrapped()
  const t0 = Date.now()
  let token = null
  let failed = 0
  let next = 0
  async function refreshToken () {
    const res = await dht.request({ command: COMMANDS.MUTABLE_GET, target: HyperDHT.hash(Buffer.from('token')), value: c.encode(c.uint, 0) }, to)
    token = res.token
  }
  await refreshToken()
  async function worker () {
    while (next < count) {
      const i = next++
      if (i % 1000 === 0 && i > 0) await refreshToken()
      const keyPair = HyperDHT.keyPair(HyperDHT.hash(Buffer.from('records-bench store ' + i)))
      const value = padded('records-bench store value ' + i)
      const signature = Persistent.signMutable(0, value, keyPair)
      const req = {
        command: COMMANDS.MUTABLE_PUT,
        target: HyperDHT.hash(keyPair.publicKey),
        token,
        value: c.encode(m.mutablePutRequest, { publicKey: keyPair.publicKey, seq: 0, value, signature })
      }
      try {
        const res = await dht.request(req, to)
        if (res.error) failed++
      } catch { failed++ }
    }
  }
  await Promise.all(Array.from({ length: window }, worker))
  process.stdout.write(JSON.stringify({ put: count, failed, seconds: (Date.now() - t0) / 1000 }) + '\n')
  await dht.destroy()
  process.exit(0)
}

;(argv.includes('--serve') ? serve() : argv.includes('--put') ? put() : Promise.reject(new Error('usage: records_store.js --serve --port P | --put H:P [--count N]')))
  .catch((err) => { console.error('records_store.js:', err); process.exit(1) })
