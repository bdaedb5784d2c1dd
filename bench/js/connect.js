'use strict'
// The JS side of bench/suites/connect.sh: hyperdht 6.34 (the pinned interop modules), with the
// same command line and output as bench/connect_peer.cpp, so the suite can pair any two ends.
//
// --host H: the testnet's public address (its nodes bind 0.0.0.0 then), or the endpoints' bind
// address (default 127.0.0.1). The NAT lab (tests/nat) runs these roles in namespaces.
//   node bench/js/connect.js --role testnet [--nodes N]
//       hyperdht's createTestnet(N) on 127.0.0.1 (persistent, open nodes); prints
//       {"ready":true,"bootstrap":"127.0.0.1:P"} and runs until SIGTERM.
//   node bench/js/connect.js --role server --bootstrap HOST:PORT [--seed HEX]
//       an echo server on its own node; prints {"ready":true,"publicKey":HEX} once announced.
//   node bench/js/connect.js --role client --bootstrap HOST:PORT --key HEX
//        [--sequential N] [--concurrent C] [--total T] [--timeout S]
//       N sequential connects, then T connects C at a time; each connect waits for the stream to
//       open (the socket's 'connect': the raw stream is connected and the secret stream set up),
//       writes one byte, waits for its echo and destroys the socket. Prints one result line:
//       {"impl":"js","sequential":{"n","open_ms":{"median","p95","mean"},"echo_ms":{...}},
//        "concurrent":{"n","width","seconds","connects_per_s"},"failures":{CODE:n},
//        "cpu_s":client CPU over both phases}
//   node bench/js/connect.js --capabilities
const path = require('path')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const HyperDHT = require(path.join(interop, 'node_modules', 'hyperdht'))

let HOST = '127.0.0.1'

function parse (argv) {
  const o = { role: '', host: '', nodes: 4, bootstrap: '', seed: '', key: '', sequential: 100, concurrent: 16, total: 160, timeout: 120 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--capabilities') {
      console.log(JSON.stringify({ impl: 'js', roles: ['testnet', 'server', 'client'] }))
      process.exit(0)
    }
    const v = argv[++i]
    if (v === undefined) return null
    if (a === '--role') o.role = v
    else if (a === '--host') o.host = v
    else if (a === '--nodes') o.nodes = Number(v)
    else if (a === '--bootstrap') o.bootstrap = v
    else if (a === '--seed') o.seed = v
    else if (a === '--key') o.key = v
    else if (a === '--sequential') o.sequential = Number(v)
    else if (a === '--concurrent') o.concurrent = Number(v)
    else if (a === '--total') o.total = Number(v)
    else if (a === '--timeout') o.timeout = Number(v)
    else return null
  }
  if (!['testnet', 'server', 'client'].includes(o.role)) return null
  if (o.role !== 'testnet' && !o.bootstrap) return null
  if (o.role === 'client' && !/^[0-9a-f]{64}$/.test(o.key)) return null
  return o
}

function bootstrapList (s) {
  return s.split(',').map((hp) => {
    const i = hp.lastIndexOf(':')
    return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
  })
}

const hr = () => Number(process.hrtime.bigint()) / 1e6

function stats (xs) {
  if (xs.length === 0) return { median: null, p95: null, mean: null }
  const s = [...xs].sort((a, b) => a - b)
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  const round = (v) => Math.round(v * 1000) / 1000
  return { median: round(at(0.5)), p95: round(at(0.95)), mean: round(s.reduce((a, b) => a + b, 0) / s.length) }
}

function untilClosed (cleanup) {
  const stop = async () => {
    await cleanup().catch(() => {})
    process.exit(0)
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

// hyperdht's own createTestnet: the first node is the bootstrap, all persistent and open.
async function testnet (o) {
  const createTestnet = require(path.join(interop, 'node_modules', 'hyperdht', 'testnet.js'))
  if (o.host) HOST = o.host
  const tn = await createTestnet(o.nodes, { host: HOST })
  console.log(JSON.stringify({ ready: true, bootstrap: `${HOST}:${tn.bootstrap[0].port}` }))
  untilClosed(() => tn.destroy())
}

// As testnet.createNode(): ephemeral, on 127.0.0.1 (or --host: 0.0.0.0 in the NAT lab).
function endpoint (o) {
  return new HyperDHT({ bootstrap: bootstrapList(o.bootstrap), host: o.host || HOST, ephemeral: true })
}

async function server (o) {
  const dht = endpoint(o)
  await dht.fullyBootstrapped()
  const kp = o.seed ? HyperDHT.keyPair(Buffer.from(o.seed, 'hex')) : HyperDHT.keyPair()
  const srv = dht.createServer((socket) => {
    socket.on('data', (d) => socket.write(d))
    socket.on('error', () => {})
  })
  await srv.listen(kp)
  console.log(JSON.stringify({ ready: true, publicKey: kp.publicKey.toString('hex'), firewalled: dht.firewalled }))
  untilClosed(async () => { await srv.close(); await dht.destroy() })
}

function connectOnce (dht, publicKey, timeoutMs) {
  return new Promise((resolve) => {
    const t0 = hr()
    let openAt = 0
    let done = false
    const socket = dht.connect(publicKey)
    const timer = setTimeout(() => finish({ error: 'BENCH_TIMEOUT' }), timeoutMs)
    function finish (r) {
      if (done) return
      done = true
      clearTimeout(timer)
      socket.destroy()
      resolve(r)
    }
    socket.on('error', (err) => finish({ error: err.code || String(err.message || err) }))
    socket.on('close', () => finish({ error: 'CLOSED' }))
    socket.once('connect', () => {
      openAt = hr()
      socket.write(Buffer.from([7]))
    })
    socket.once('data', () => finish({ openMs: openAt - t0, echoMs: hr() - t0 }))
  })
}

async function client (o) {
  const started = hr()
  const dht = endpoint(o)
  await dht.fullyBootstrapped()
  console.error(`connect.js client: bootstrapped in ${Math.round(hr() - started)} ms`)
  const publicKey = Buffer.from(o.key, 'hex')
  const perConnectMs = Math.max(1000, o.timeout * 1000 / 4)
  const failures = {}
  const fail = (code) => { failures[code] = (failures[code] || 0) + 1 }
  const cpu0 = process.cpuUsage()

  const open = []
  const echo = []
  for (let i = 0; i < o.sequential; i++) {
    const r = await connectOnce(dht, publicKey, perConnectMs)
    if (r.error) fail(r.error)
    else { open.push(r.openMs); echo.push(r.echoMs) }
    if (i === 0) console.error('connect.js client: first connect ' + JSON.stringify(r))
  }

  let ok = 0
  let next = 0
  const t0 = hr()
  async function lane () {
    while (next < o.total) {
      next++
      const r = await connectOnce(dht, publicKey, perConnectMs)
      if (r.error) fail(r.error)
      else ok++
    }
  }
  await Promise.all(Array.from({ length: o.concurrent }, lane))
  const seconds = (hr() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)

  console.log(JSON.stringify({
    impl: 'js',
    sequential: { n: open.length, open_ms: stats(open), echo_ms: stats(echo) },
    concurrent: { n: ok, width: o.concurrent, seconds: Math.round(seconds * 1000) / 1000, connects_per_s: Math.round(ok / seconds * 10) / 10 },
    failures,
    firewalled: dht.firewalled,
    punches: dht.stats.punches,
    cpu_s: (cpu.user + cpu.system) / 1e6
  }))
  await dht.destroy()
}

async function main () {
  const o = parse(process.argv.slice(2))
  if (!o) {
    console.error('usage: connect.js --role testnet|server|client [--nodes N] [--bootstrap HOST:PORT] [--seed HEX] [--key HEX] [--sequential N] [--concurrent C] [--total T] [--timeout S] | --capabilities')
    process.exit(2)
  }
  const guard = setTimeout(() => { console.error('connect.js: timeout'); process.exit(3) }, o.timeout * 1000)
  if (o.role === 'testnet' || o.role === 'server') clearTimeout(guard)
  if (o.role === 'testnet') return testnet(o)
  if (o.role === 'server') return server(o)
  await client(o)
  clearTimeout(guard)
  process.exit(0)
}

main().catch((err) => { console.error(err); process.exit(1) })
