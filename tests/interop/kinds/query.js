'use strict'
// The iterative query as an op kind: the REAL dht-rpc Query class (lib/query.js) runs against a
// fake `dht` whose requests are answered on a virtual clock from a scripted network, and the
// trace (every request in order with its time and fields, every emitted reply, the final closest
// replies, counters and outcome) is the output. tests/interop/query_sim.hpp is the C++ twin of
// this simulation; keep the two in step.
//
// The harness calls run() synchronously, but the Query is a streamx stream that needs the event
// loop. So the simulation runs in a worker thread and run() blocks on it (Atomics.wait, bounded)
// and takes the answer with receiveMessageOnPort.
const { Worker, MessageChannel, receiveMessageOnPort, isMainThread, workerData } = require('worker_threads')

const RUN_TIMEOUT_MS = 60000
const TIMEOUT = 1000 // ms per transmission, as io.js without adaptive timeouts

const A = (a) => `${a.host}:${a.port}`
const hex = (b) => (b ? Buffer.from(b).toString('hex') : '-')
const hex8 = (b) => (b ? Buffer.from(b).toString('hex').slice(0, 8) : '-')

const ERROR_NAMES = {
  'Too few nodes responded': 'TOO_FEW_NODES',
  'No token received for closest node': 'NO_TOKEN',
  'Node was destroyed': 'NODE_DESTROYED',
  'Node destroyed': 'NODE_DESTROYED'
}

function requestLine (r) {
  if (r.kind === 'C') return `${r.time} C ${A(r.to)}`
  return `${r.time} ${r.kind} ${A(r.to)} id=${hex8(r.to.id)} r=${r.retries} f=${r.force ? 1 : 0} ` +
    `i=${r.internal ? 1 : 0} c=${r.command} t=${hex8(r.target)} v=${hex(r.value)} k=${hex8(r.token)}`
}

async function simulate (input) {
  const Query = require('dht-rpc/lib/query')
  const peer = require('dht-rpc/lib/peer')
  const { DOWN_HINT } = require('dht-rpc/lib/commands')
  const RoutingTable = require('kademlia-routing-table')

  const addrs = input.addrs
  const script = new Map()
  input.nodes.forEach((n, i) => script.set(A(addrs[i]), n))
  const filtered = new Set(input.filtered.map((i) => A(addrs[i])))
  const table = new RoutingTable(Buffer.from(input.tableId, 'hex'), { k: input.k })
  for (const i of input.table) table.add({ id: peer.id(addrs[i].host, addrs[i].port), ...addrs[i] })

  let now = 0
  let seq = 0
  let created = 0
  const events = []
  const requests = []
  const data = []
  const commitFailures = []

  const schedule = (time, kind, req) => events.push({ time, seq: seq++, kind, req })
  const nextEvent = () => {
    let best = -1
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      if (best === -1 || e.time < events[best].time || (e.time === events[best].time && e.seq < events[best].seq)) best = i
    }
    return best === -1 ? null : events.splice(best, 1)[0]
  }
  const destroyed = () => input.destroyAfter !== null && created >= input.destroyAfter

  function send (req, kind, node, answers, latency) {
    created++
    req.kind = kind
    req.time = now
    req.sent = 1
    req.done = false
    requests.push(req)
    if (kind === 'h') return
    if (node && answers) schedule(now + latency, 'reply', req)
    schedule(now + TIMEOUT, 'cycle', req)
  }

  function reply (req) {
    const n = script.get(A(req.to))
    const from = { id: n.hasId ? peer.id(req.to.host, req.to.port) : null, host: req.to.host, port: req.to.port }
    const m = { tid: 0, rtt: 0, from, to: { host: '0.0.0.0', port: 0 }, token: null, closerNodes: null, error: 0, value: null }
    if (req.kind === 'c') return m
    m.token = n.token ? Buffer.from(n.token, 'hex') : null
    m.error = n.error
    m.closerNodes = n.hasCloser ? n.closer.map((i) => ({ host: addrs[i].host, port: addrs[i].port })) : null
    return m
  }

  class Session {
    constructor () { this.inflight = new Set() }
    destroy () {
      for (const req of [...this.inflight]) {
        if (req.done) continue
        req.done = true
        const err = new Error('REQUEST_DESTROYED')
        err.code = 'REQUEST_DESTROYED'
        req.onerror(err, req)
      }
      this.inflight.clear()
    }
  }

  const dht = {
    stats: { queries: { total: 0, active: 0 } },
    table,
    concurrency: input.defaultConcurrency,
    _filterNode: filtered.size ? (node) => !filtered.has(A(node)) : null,
    _downHintsRateLimit: input.downHintsRateLimit,
    _downHintsSentPerTick: input.downHintsSent,
    session: () => new Session(),
    _request (to, force, internal, command, target, value, session, onresponse, onerror) {
      // as index.js _request and io.createRequest
      if (internal && !input.sendDownHints && command === DOWN_HINT) return null
      if (destroyed()) return null
      const req = { to, force, internal, command, target, value, token: null, retries: 3, oncycle () {}, onresponse, onerror, session }
      if (session) session.inflight.add(req)
      const hint = internal && command === DOWN_HINT && target === null
      const n = script.get(A(to))
      send(req, hint ? 'h' : 'v', n, n && n.responds, n && n.latency)
      return req
    },
    async * _resolveBootstrapNodes () {
      for (const i of input.bootstrap) yield { id: peer.id(addrs[i].host, addrs[i].port), host: addrs[i].host, port: addrs[i].port }
    },
    request ({ token = null, command, target = null, value = null }, { host, port }) {
      // as index.js request() + _requestToPromise
      if (destroyed()) return Promise.reject(new Error('Node destroyed'))
      return new Promise((resolve, reject) => {
        const to = { id: null, host, port }
        const req = { to, force: false, internal: false, command, target, value, token, retries: 3, oncycle () {}, onresponse: resolve, onerror: reject, session: null }
        const n = script.get(A(to))
        send(req, 'c', n, n && n.commitOk, n && n.commitLatency)
      })
    }
  }

  const opts = { concurrency: input.concurrency }
  if (input.retries !== null) opts.retries = input.retries
  if (input.force) opts.force = true
  if (input.onlyClosestNodes) opts.onlyClosestNodes = true
  if (input.seeds) {
    opts.nodes = input.seeds.map((s) => ({ id: s.id ? Buffer.from(s.id, 'hex') : undefined, ...addrs[s.i] }))
  } else if (input.seedReplies) {
    opts.replies = input.seedReplies.map((s) => ({ from: { id: s.hasId ? peer.id(addrs[s.i].host, addrs[s.i].port) : null, ...addrs[s.i] } }))
  }
  if (input.commit === 'auto') opts.commit = true
  if (input.commit === 'fn') {
    opts.commit = (m) => new Promise((resolve, reject) => {
      const n = script.get(A(m.from))
      const req = { kind: 'C', time: now, to: m.from, done: false }
      requests.push(req)
      const ok = !n || n.commitOk
      if (!ok) commitFailures.push(A(m.from))
      req.settle = ok ? () => resolve() : () => reject(new Error('commit failed ' + A(m.from)))
      schedule(now + (n ? n.commitLatency : 50), 'commit', req)
    })
  }

  const value = input.value === null ? null : Buffer.from(input.value, 'hex')
  const q = new Query(dht, Buffer.from(input.target, 'hex'), input.internal, input.command, value, opts)

  let closed = false
  let error = null
  let doneAt = -1
  // Recorded as pushed, not as delivered: streamx drops buffered data when the stream is
  // destroyed in the same tick (a reply arriving just before "Node was destroyed").
  const push = q.push.bind(q)
  q.push = (m) => {
    if (m !== null) data.push(`${now} ${A(m.from)}`)
    return push(m)
  }
  q.on('data', () => {})
  q.on('error', (err) => { error = err })
  q.on('close', () => { closed = true; doneAt = now })

  const settle = async () => { for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve)) }
  await settle()

  let steps = 0
  while (!closed && steps++ < 200000) {
    const e = nextEvent()
    if (e === null) break
    const req = e.req
    if (e.kind !== 'commit' && req.done) continue
    now = e.time
    if (e.kind === 'commit') {
      req.settle()
    } else if (e.kind === 'reply') {
      req.done = true
      if (req.session) req.session.inflight.delete(req)
      req.onresponse(reply(req), req)
    } else {
      req.oncycle(req)
      if (req.sent > req.retries) {
        req.done = true
        if (req.session) req.session.inflight.delete(req)
        const err = new Error('REQUEST_TIMEOUT')
        err.code = 'REQUEST_TIMEOUT'
        req.onerror(err, req)
      } else {
        req.sent++
        schedule(now + TIMEOUT, 'cycle', req)
      }
    }
    await settle()
  }

  let result = 'stuck'
  if (closed) result = error ? (error.code || ERROR_NAMES[error.message] || error.message) : 'ok'
  return {
    requests: requests.map(requestLine),
    data,
    closest: q.closestReplies.map((m) => A(m.from)),
    successes: q.successes,
    errors: q.errors,
    result,
    time: doneAt
  }
}

// --- synchronous bridge to the worker ---

let bridge = null

function startBridge () {
  const flag = new Int32Array(new SharedArrayBuffer(4))
  const { port1, port2 } = new MessageChannel()
  const worker = new Worker(__filename, { workerData: { queryWorker: true, flag, port: port2 }, transferList: [port2] })
  worker.unref()
  port1.unref()
  return { flag, port: port1, worker }
}

function runSync (input) {
  if (bridge === null) bridge = startBridge()
  Atomics.store(bridge.flag, 0, 0)
  bridge.port.postMessage(input)
  if (Atomics.wait(bridge.flag, 0, 0, RUN_TIMEOUT_MS) === 'timed-out') throw new Error('query worker timed out')
  const msg = receiveMessageOnPort(bridge.port)
  if (!msg) throw new Error('query worker sent nothing')
  if (msg.message.error) throw new Error('query worker: ' + msg.message.error)
  return msg.message.output
}

if (!isMainThread && workerData && workerData.queryWorker) {
  const { flag, port } = workerData
  port.on('message', (input) => {
    simulate(input).then(
      (output) => port.postMessage({ output }),
      (err) => port.postMessage({ error: err.stack || String(err) })
    ).finally(() => {
      Atomics.store(flag, 0, 1)
      Atomics.notify(flag, 0)
    })
  })
}

// --- random scripted networks ---

function randomInput (rng) {
  const peer = require('dht-rpc/lib/peer')
  const k = rng.pick([20, 20, 20, 8, 3])
  const n = rng.int(0, rng.pick([10, 40, 90]))
  const extra = rng.int(0, 8) // addresses nobody answers for
  const seen = new Set()
  const addrs = []
  while (addrs.length < n + extra) {
    // a few /24s so that hosts repeat with different ports, as on a real network
    const a = { host: rng.bool(0.5) ? `10.0.${rng.int(0, 3)}.${rng.int(1, 254)}` : rng.host(), port: rng.int(1, 65535) }
    if (seen.has(A(a))) continue
    seen.add(A(a))
    addrs.push(a)
  }
  const ids = addrs.map((a) => peer.id(a.host, a.port))
  const target = n > 0 && rng.bool(0.3) ? ids[rng.int(0, n - 1)] : rng.bytes(32)
  const tableId = n > 0 && rng.bool(0.15) ? ids[rng.int(0, n - 1)] : rng.bytes(32)
  const dist = (i) => {
    const d = Buffer.alloc(32)
    for (let j = 0; j < 32; j++) d[j] = ids[i][j] ^ target[j]
    return d
  }
  const byDistance = (a, b) => Buffer.compare(dist(a), dist(b))
  const indexList = (max) => {
    const out = []
    for (let i = rng.int(0, max); i > 0 && addrs.length; i--) out.push(rng.int(0, addrs.length - 1))
    return out
  }

  const nodes = []
  for (let i = 0; i < n; i++) {
    let closer = [...new Set(indexList(rng.pick([5, 30, 60])))]
    if (!rng.bool(0.15)) closer.sort(byDistance)
    closer = closer.slice(0, rng.pick([20, 20, 5, rng.int(0, 30)]))
    nodes.push({
      responds: !rng.bool(0.15),
      latency: rng.pick([rng.int(1, 300), rng.int(1, 999), rng.int(1000, 2999), rng.int(3000, 8000)]),
      error: rng.bool(0.08) ? rng.int(1, 3) : 0,
      hasId: !rng.bool(0.08),
      token: rng.bool(0.85) ? rng.bytes(32).toString('hex') : null,
      hasCloser: !rng.bool(0.05),
      closer,
      commitLatency: rng.int(1, 3000),
      commitOk: !rng.bool(0.2)
    })
  }

  const seedMode = rng.pick(['none', 'none', 'nodes', 'replies'])
  const seedList = indexList(rng.pick([3, 25]))
  const cmd = rng.pick([{ internal: true, command: 2 }, { internal: false, command: 9 }, { internal: true, command: 3 }, { internal: false, command: 5 }])
  return {
    addrs,
    nodes,
    k,
    tableId: tableId.toString('hex'),
    target: target.toString('hex'),
    table: indexList(rng.pick([3, 10, 40])),
    bootstrap: indexList(rng.pick([0, 3, 6])),
    filtered: rng.bool(0.2) ? indexList(3) : [],
    seeds: seedMode === 'nodes' ? seedList.map((i) => ({ i, id: rng.bool(0.1) ? rng.bytes(32).toString('hex') : null })) : null,
    seedReplies: seedMode === 'replies' ? seedList.map((i) => ({ i, hasId: !rng.bool(0.2) })) : null,
    concurrency: rng.pick([0, 0, 10, 2, 3, 1, 16]),
    defaultConcurrency: rng.pick([10, 10, 4]),
    retries: rng.pick([null, null, 0, 1, 2, 5]),
    force: rng.bool(0.1),
    internal: cmd.internal,
    command: cmd.command,
    value: rng.bool(0.3) ? rng.bytes(rng.int(0, 8)).toString('hex') : null,
    onlyClosestNodes: rng.bool(0.05),
    downHintsRateLimit: rng.pick([50, -1, 0, 1, 3]),
    downHintsSent: rng.pick([0, 0, 2]),
    // a DOWN_HINT query on a node with sendDownHints false fails in _request ("Node was
    // destroyed"), a quirk of the node, not of the query: keep hints on for those
    sendDownHints: cmd.command === 3 || !rng.bool(0.1),
    destroyAfter: rng.bool(0.05) ? rng.int(0, 30) : null,
    commit: rng.pick([null, null, 'fn', 'auto'])
  }
}

const queryTrace = {
  op: true,
  count: 300, // each case is a whole simulated lookup: keep the default 1000-case run short
  random: randomInput,
  run: runSync
}

module.exports = { queryTrace }
