'use strict'
// The JS side of bench/suites/records.sh, the counterpart of bench/records_net.cpp (same modes,
// same seeded records, same output):
//
//   node bench/js/records_net.js --serve --port P [--nodes N] [--records M]
//       N hyperdht nodes in this process on 127.0.0.1, built as hyperdht/testnet.js does (a
//       bootstrapper on port P, then N-1 persistent, not-firewalled nodes joining one after
//       another, on ports P+1, P+2, ... as bench/records_net.cpp does, so both networks have
//       the same node ids); a seeding client stores M announces, M immutable and M mutable values of
//       128 B; prints {"ready":true,"bootstrap":"127.0.0.1:P",...}; serves until stdin closes.
//   node bench/js/records_net.js --client --bootstrap H:P [--records M] [--ops K] [--warmup W]
//       An ephemeral client joins, runs W untimed and K timed lookups, immutableGets and
//       mutableGets one after another and prints per kind the median and p95 latency (ms) and
//       the UDP datagrams its sockets sent plus received per operation.
const path = require('path')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const HyperDHT = require(path.join(interop, 'node_modules', 'hyperdht'))

const HOST = '127.0.0.1'
const VALUE_SIZE = 128

const argv = process.argv.slice(2)
const has = (name) => argv.includes(name)
function arg (name, def) {
  const i = argv.indexOf(name)
  return i === -1 ? def : argv[i + 1]
}
const log = (s) => process.stderr.write('records_net.js: ' + s + '\n')

// The seeded records; bench/records_net.cpp derives the same ones.
const hashOf = (s) => HyperDHT.hash(Buffer.from(s))
function padded (s) {
  const v = Buffer.alloc(VALUE_SIZE, '.')
  v.write(s)
  return v
}
const topic = (i) => hashOf('records-bench topic ' + i)
const announcer = (i) => HyperDHT.keyPair(hashOf('records-bench announcer ' + i))
const immutableValue = (i) => padded('records-bench immutable ' + i)
const mutableKey = (i) => HyperDHT.keyPair(hashOf('records-bench mutable ' + i))
const mutableValue = (i) => padded('records-bench mutable ' + i)

function parseBootstrap (s) {
  return s.split(',').map((hp) => {
    const [host, port] = hp.split(':')
    return { host, port: Number(port) }
  })
}

// The client's datagrams, counted on its two UDX sockets (sends through trySend/send, receives
// as 'message' events).
function countDatagrams (dht) {
  const counter = { n: 0, sent: 0 }
  for (const socket of [dht.io.clientSocket, dht.io.serverSocket]) {
    if (!socket) continue
    for (const fn of ['trySend', 'send']) {
      const orig = socket[fn]
      socket[fn] = function (...args) { counter.n++; counter.sent++; return orig.apply(this, args) }
    }
    socket.on('message', () => { counter.n++ })
  }
  return counter
}

function quantile (v, q) {
  if (v.length === 0) return 0
  const s = [...v].sort((a, b) => a - b)
  const pos = q * (s.length - 1)
  const lo = Math.floor(pos)
  const hi = Math.min(lo + 1, s.length - 1)
  return s[lo] + (s[hi] - s[lo]) * (pos - lo)
}

async function drain (stream) {
  const out = []
  for await (const data of stream) out.push(data)
  return out
}

async function serve () {
  const port = Number(arg('--port', 0))
  const n = Number(arg('--nodes', 200))
  const m = Number(arg('--records', 16))
  const nodes = []
  const first = HyperDHT.bootstrapper(port, HOST, { host: HOST })
  await first.fullyBootstrapped()
  nodes.push(first)
  const bootstrap = [{ host: HOST, port: first.address().port }]
  log('bootstrapper on ' + HOST + ':' + bootstrap[0].port)
  const t0 = Date.now()
  while (nodes.length < n) {
    // Ports P+1, P+2, ...: the same ids, H(host:port), as the C++ network's.
    const node = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST, port: port + nodes.length })
    await node.fullyBootstrapped()
    nodes.push(node)
    if (nodes.length % 50 === 0) log(nodes.length + ' nodes joined')
  }
  log(nodes.length + ' nodes up in ' + (Date.now() - t0) / 1000 + ' s')

  const client = new HyperDHT({ bootstrap, host: HOST })
  await client.fullyBootstrapped()
  let failures = 0
  const tryOp = async (p) => { try { await p } catch { failures++ } }
  for (let i = 0; i < m; i++) await tryOp(client.announce(topic(i), announcer(i), []).finished())
  for (let i = 0; i < m; i++) await tryOp(client.immutablePut(immutableValue(i)))
  for (let i = 0; i < m; i++) await tryOp(client.mutablePut(mutableKey(i), mutableValue(i), { seq: 0 }))
  process.stdout.write(JSON.stringify({
    ready: true, pid: process.pid, bootstrap: HOST + ':' + bootstrap[0].port, nodes: nodes.length, records: m, seed_failures: failures
  }) + '\n')

  const stop = () => process.exit(0)
  process.stdin.on('end', stop)
  process.stdin.on('close', stop)
  process.stdin.resume()
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

async function client () {
  const bootstrap = parseBootstrap(arg('--bootstrap', ''))
  const m = Number(arg('--records', 16))
  const ops = Number(arg('--ops', 100))
  const warmup = Number(arg('--warmup', 10))
  const dht = new HyperDHT({ bootstrap, host: HOST })
  await dht.fullyBootstrapped()
  const counter = countDatagrams(dht)
  log('client bootstrapped; measuring')

  const kinds = {
    lookup: async (k) => {
      const want = announcer(k).publicKey
      const replies = await drain(dht.lookup(topic(k)))
      return replies.some((r) => r.peers.some((p) => p.publicKey.equals(want)))
    },
    immutable_get: async (k) => !!(await dht.immutableGet(HyperDHT.hash(immutableValue(k)))),
    mutable_get: async (k) => !!(await dht.mutableGet(mutableKey(k).publicKey))
  }
  const out = { side: 'js', ops }
  for (const [name, fn] of Object.entries(kinds)) {
    const ms = []
    const msgs = []
    const sent = []
    let found = 0
    for (let j = 0; j < warmup + ops; j++) {
      const k = j % m
      const t0 = process.hrtime.bigint()
      const d0 = counter.n
      const s0 = counter.sent
      let ok = false
      try { ok = await fn(k) } catch {}
      if (j < warmup) continue
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6)
      msgs.push(counter.n - d0)
      sent.push(counter.sent - s0)
      if (ok) found++
    }
    out[name] = {
      ms_median: quantile(ms, 0.5),
      ms_p95: quantile(ms, 0.95),
      msgs_mean: msgs.reduce((a, b) => a + b, 0) / (msgs.length || 1),
      msgs_median: quantile(msgs, 0.5),
      sent_mean: sent.reduce((a, b) => a + b, 0) / (sent.length || 1),
      found,
      samples: { ms, msgs, sent }
    }
  }
  process.stdout.write(JSON.stringify(out) + '\n')
  await dht.destroy()
  process.exit(0)
}

if (has('--serve') === has('--client') || (has('--client') && !arg('--bootstrap'))) {
  console.error('usage: records_net.js --serve --port P [--nodes N] [--records M]\n' +
    '       records_net.js --client --bootstrap H:P [--records M] [--ops K] [--warmup W]')
  process.exit(2)
}
;(has('--serve') ? serve() : client()).catch((err) => {
  console.error('records_net.js:', err)
  process.exit(1)
})
