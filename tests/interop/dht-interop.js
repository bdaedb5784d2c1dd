#!/usr/bin/env node
'use strict'
// DhtNode against real dht-rpc 6.27.0 nodes on 127.0.0.1.
//   node dht-interop.js --peer PATH/dht_peer [--only NAME]
// The C++ side (tests/interop/dht_peer.cpp) runs DhtNodes and speaks JSON lines on
// stdin/stdout. Scenarios:
//   cpp-joins-js-testnet   a C++ node joins a JS testnet (built as hyperdht/testnet.js does),
//                          turns persistent, and the JS nodes put its id in their tables
//   js-joins-cpp-bootstrapper  JS nodes bootstrap off a C++ DHT.bootstrapper and find each other
//   mixed-closest          20+ JS and 20+ C++ nodes: FIND_NODE from either side returns (nearly,
//                          as the JS itself does) the true k closest persistent ids
//   tokens                 the C++ node's tokens as a JS requester sees them
//   gone-and-restarted     a C++ node goes away (JS lookups drop it) and comes back with its id
//   cpp-down-hints         a C++ query sends DOWN_HINTs for a gone node to the JS nodes that listed it
//   dns-bootstrap          bootstrap entries given by hostname (localhost), plain and suggested-IP forms
//   udx-shared-socket      UDX streams between a C++ and a JS node on their own DHT sockets, both
//                          ways, while both keep answering RPC on the same ports
// Every wait is bounded and each scenario has a global timeout. Prints "ok/FAIL <scenario>"
// lines and "N passed, N failed" last; exit code 1 on any failure.
const crypto = require('crypto')
const DHT = require('dht-rpc')
const peerId = require('dht-rpc/lib/peer').id
const { DOWN_HINT } = require('dht-rpc/lib/commands')
const { CppPeer, withTimeout, sleep, until } = require('./lib/peer')

const HOST = '127.0.0.1'
const WAIT_MS = 15000
const K = 20

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
const ONLY = argOf('--only')
if (!PEER) { console.error('usage: dht-interop.js --peer PATH/dht_peer [--only NAME]'); process.exit(2) }

let passed = 0
let failed = 0

// dht_peer's commands on top of the shared JSON-lines peer (lib/peer.js).
class DhtPeer extends CppPeer {
  constructor (bin) { super(bin, { waitMs: WAIT_MS, name: 'dht_peer' }) }

  // Starts n nodes one after another (as the JS testnet does) and waits for all to be ready.
  async start (n, opts, ms) {
    return (await this.call({ op: 'start', nodes: n, ...opts }, 'started', `start ${n} C++ nodes`, ms)).nodes
  }

  async status () { return (await this.call({ op: 'status' }, 'status', 'status')).nodes }

  async findNode (node, target) {
    const ev = await this.call({ op: 'find_node', node, target: target.toString('hex') }, 'find_node', `C++ find_node from ${node}`)
    if (ev.error) throw new Error(`C++ find_node failed: ${ev.error}`)
    return ev.closest
  }
}

// hyperdht/testnet.js with dht-rpc nodes: node 0 is {ephemeral:false, firewalled:false,
// bootstrap:[]} (it stays ephemeral: nothing to sample), the others join it one by one.
async function jsTestnet (size, bootstrap = []) {
  const nodes = []
  const first = new DHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST, port: 0 })
  nodes.push(first)
  await first.fullyBootstrapped()
  if (bootstrap.length === 0) bootstrap = [{ host: HOST, port: first.address().port }]
  while (nodes.length < size) {
    const node = new DHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST })
    nodes.push(node)
    await node.fullyBootstrapped()
  }
  return { nodes, bootstrap }
}

async function destroyAll (nodes) {
  for (let i = nodes.length - 1; i >= 0; i--) await nodes[i].destroy().catch(() => {})
}

const hex = (b) => b ? b.toString('hex') : null
const cppId = (st) => st.id ? Buffer.from(st.id, 'hex') : null

function xorCompare (target, a, b) {
  for (let i = 0; i < 32; i++) {
    const x = a[i] ^ target[i]
    const y = b[i] ^ target[i]
    if (x !== y) return x - y
  }
  return 0
}

function trueClosest (target, ids, k = K) {
  return ids.slice().sort((a, b) => xorCompare(target, a, b)).slice(0, k).map(hex)
}

async function jsFindNode (node, target) {
  const q = node.findNode(target)
  await withTimeout(q.finished(), WAIT_MS, 'JS findNode')
  return q.closestReplies.map((r) => ({ id: hex(r.from.id), host: r.from.host, port: r.from.port }))
}

// A check inside a scenario: throws so the scenario fails with the first broken expectation.
function expect (cond, what, detail) {
  if (!cond) throw new Error(what + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''))
}

// --- scenarios ---------------------------------------------------------------------------------

// Shared by cpp-joins-js-testnet and mixed-closest so the 20-node JS testnet is built once.
const shared = { js: null, cpp: null }

async function sharedTestnet () {
  if (!shared.js) shared.js = await jsTestnet(20)
  if (!shared.cpp) shared.cpp = new DhtPeer(PEER)
  return shared
}

async function cppJoinsJsTestnet () {
  const { js, cpp } = await sharedTestnet()
  const port = js.bootstrap[0].port
  const [i] = await cpp.start(1, { bootstrap: `${HOST}:${port}`, ephemeral: false, firewalled: false }, WAIT_MS)
  const [st] = (await cpp.status()).filter((s) => s.node === i)
  expect(st.bootstrapped, 'C++ node not bootstrapped', st)
  expect(!st.ephemeral && st.id, 'C++ node not persistent', st)
  expect(!st.firewalled, 'C++ node firewalled', st)
  const want = hex(peerId(HOST, st.serverPort))
  expect(st.id === want, 'C++ id is not id(127.0.0.1, serverPort)', { got: st.id, want })
  expect(st.tableSize >= 10, 'C++ table has fewer than 10 JS nodes', st.tableSize)

  // The JS nodes accept the id: it lands in their tables (requests from a persistent node carry
  // it) and a JS lookup for it ends at the C++ node.
  const id = Buffer.from(st.id, 'hex')
  const holders = await until(() => {
    const n = js.nodes.filter((d) => d.table.has(id)).length
    return n >= 10 ? n : 0
  }, 10000)
  expect(holders >= 10, 'C++ id in fewer than 10 of 20 JS tables',
    js.nodes.filter((d) => d.table.has(id)).length)
  const closest = await jsFindNode(js.nodes[5], id)
  expect(closest.length > 0 && closest[0].id === st.id && closest[0].port === st.serverPort,
    'JS findNode(C++ id) does not end at the C++ node', closest.slice(0, 3))
  return `C++ id in ${holders}/20 JS tables, C++ table ${st.tableSize}`
}

async function jsJoinsCppBootstrapper () {
  const cpp = new DhtPeer(PEER)
  const js = []
  try {
    let port = 0
    for (let attempt = 0; attempt < 5 && !port; attempt++) {
      const p = 20000 + crypto.randomInt(30000)
      const seq = ++cpp.seq
      cpp.send({ op: 'start', seq, nodes: 1, bootstrapper: `${HOST}:${p}`, port: p })
      const ev = await cpp.wait((e) => (e.event === 'started' && e.seq === seq) || e.event === 'start-error', 'C++ bootstrapper')
      if (ev.event === 'started') port = p
    }
    expect(port, 'C++ bootstrapper could not bind')
    const [bs] = await cpp.status()
    expect(bs.id === hex(peerId(HOST, port)) && !bs.ephemeral && !bs.firewalled,
      'C++ bootstrapper is not persistent with id(host, port)', bs)

    const bootstrap = [{ host: HOST, port }]
    while (js.length < 10) {
      const node = new DHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST })
      js.push(node)
      await withTimeout(node.fullyBootstrapped(), WAIT_MS, `JS node ${js.length} bootstrap`)
    }
    const persistent = js.filter((d) => !d.ephemeral && d.id).length
    expect(persistent === 10, 'JS nodes did not turn persistent off the C++ bootstrapper',
      js.map((d) => ({ id: hex(d.id), host: d.host, port: d.port })))
    for (const d of js) {
      expect(d.id.equals(peerId(HOST, d.address().port)), 'JS node learnt a wrong address', { host: d.host, port: d.port })
    }
    const [bs2] = await cpp.status()
    const inCpp = js.filter((d) => bs2.table.some((t) => t.id === hex(d.id))).length
    expect(inCpp >= 9, 'JS ids missing from the C++ bootstrapper table', { inCpp, size: bs2.tableSize })

    // JS nodes find each other through it.
    for (const [a, b] of [[0, 9], [9, 0], [3, 6]]) {
      const closest = await jsFindNode(js[a], js[b].id)
      expect(closest.length && closest[0].id === hex(js[b].id),
        `JS node ${a} findNode(JS node ${b}) does not end at it`, closest.slice(0, 3))
    }
    const viaCpp = await cpp.findNode(0, js[7].id)
    expect(viaCpp.length && viaCpp[0].id === hex(js[7].id), 'C++ find_node(JS node 7) does not end at it', viaCpp.slice(0, 3))
    return `10/10 JS persistent, ${inCpp}/10 in the C++ table`
  } finally {
    await destroyAll(js)
    await cpp.close()
  }
}

async function mixedClosest () {
  const { js, cpp } = await sharedTestnet()
  const port = js.bootstrap[0].port
  const before = (await cpp.status()).length
  await cpp.start(20, { bootstrap: `${HOST}:${port}`, ephemeral: false, firewalled: false }, 120000)
  let status = await cpp.status()
  const cppNodes = status.filter((s) => !s.destroyed)
  expect(cppNodes.length >= 20, 'fewer than 20 C++ nodes', cppNodes.length)
  const notPersistent = cppNodes.filter((s) => s.ephemeral || !s.id)
  expect(notPersistent.length === 0, 'C++ nodes not persistent', notPersistent.map((s) => s.node))
  // Let the last joiners' own-id lookups settle into everyone's tables.
  await sleep(2000)
  status = await cpp.status()

  const ids = []
  for (const d of js.nodes) if (d.id) ids.push(d.id)
  for (const s of status) if (!s.destroyed && s.id) ids.push(cppId(s))
  expect(ids.length >= 39, 'fewer persistent ids than expected', ids.length)

  const summary = []
  const exact = { 'C++': 0, JS: 0 }
  const recall = { 'C++': 0, JS: 0 }
  const TARGETS = 10
  for (let t = 0; t < TARGETS; t++) {
    const target = crypto.randomBytes(32)
    // A lookup never visits its own node, so the truth for each side leaves the querier out.
    const cppNode = status.find((s) => s.node === before + (t % 20))
    const jsNode = js.nodes[1 + (t * 3) % 19]
    const wantCpp = trueClosest(target, ids.filter((x) => hex(x) !== cppNode.id))
    const wantJs = trueClosest(target, ids.filter((x) => !x.equals(jsNode.id)))
    const fromCpp = (await cpp.findNode(cppNode.node, target)).map((r) => r.id)
    const fromJs = (await jsFindNode(jsNode, target)).map((r) => r.id)
    const where = (x) => {
      const j = js.nodes.findIndex((d) => d.id && hex(d.id) === x)
      return j !== -1 ? `js${j}` : `cpp${status.find((s) => s.id === x)?.node}`
    }
    const diff = (got, want) => ({
      missing: want.filter((x) => !got.includes(x)).map((x) => `${where(x)} rank ${want.indexOf(x)}`),
      extra: got.filter((x) => !want.includes(x)).map((x) => `${where(x)} rank ${got.indexOf(x)}`),
      sameOrder: JSON.stringify(got) === JSON.stringify(want),
      querier: { cpp: where(cppNode.id), js: where(hex(jsNode.id)) }
    })
    // The reference's lookup is not exact: in a pure JS network of 40 persistent nodes about 1 in 5
    // lookups swaps one to four of the true ranks 16..19 for farther nodes (full buckets, table
    // replies in bucket order), and in CI both sides once missed the same four nodes. So C++ is
    // judged against the reference on the same target: k results in XOR order, only real ids,
    // the true 10 closest exactly, and no worse than the JS lookup (within 2 per target, within
    // 5 over all targets). The JS side must be well-formed; its own misses are only reported.
    const verdict = {}
    for (const [side, got, want] of [['C++', fromCpp, wantCpp], ['JS', fromJs, wantJs]]) {
      const sorted = got.slice().sort((a, b) => xorCompare(target, Buffer.from(a, 'hex'), Buffer.from(b, 'hex')))
      const overlap = got.filter((x) => want.includes(x)).length
      const wellFormed = got.length === K && JSON.stringify(sorted) === JSON.stringify(got) &&
        got.every((x) => ids.some((y) => hex(y) === x))
      const top10 = JSON.stringify(got.slice(0, 10)) === JSON.stringify(want.slice(0, 10))
      verdict[side] = { wellFormed, top10, overlap, ...diff(got, want) }
      if (JSON.stringify(got) === JSON.stringify(want)) exact[side]++
    }
    recall['C++'] += verdict['C++'].overlap
    recall.JS += verdict.JS.overlap
    const cppOk = verdict['C++'].wellFormed && verdict['C++'].top10 &&
      verdict['C++'].overlap >= Math.min(K, verdict.JS.overlap) - 2
    // Both sides are judged on the same target before failing, so a failure shows whether the
    // JS lookup did better in the same network.
    expect(cppOk && verdict.JS.wellFormed, `target ${t}: C++ k closest worse than the JS reference's`, verdict)
    summary.push(target.toString('hex').slice(0, 8))
  }
  expect(recall['C++'] >= recall.JS - 5, 'C++ lookups systematically worse than JS', recall)
  return `${ids.length} persistent ids, ${TARGETS} targets (${summary.join(',')}): C++ top 10 exact and no worse than JS; true-20 recall C++ ${recall['C++']}/${TARGETS * K}, JS ${recall.JS}/${TARGETS * K}; exactly the true k closest: C++ ${exact['C++']}/${TARGETS}, JS ${exact.JS}/${TARGETS}`
}

async function tokens () {
  const { js, cpp } = await sharedTestnet()
  const [st] = (await cpp.status()).filter((s) => !s.destroyed && s.id)
  expect(st, 'no persistent C++ node')
  const to = { host: HOST, port: st.serverPort }
  const node = js.nodes[2]
  const target = crypto.randomBytes(32)
  // dht_peer echoes user command 99 with reply(value), which carries a round token; other user
  // commands get UNKNOWN_COMMAND. Forged tokens must get INVALID_TOKEN before any handler runs.
  const value = crypto.randomBytes(8)
  const first = await withTimeout(node.request({ command: 99, target, value }, to), WAIT_MS, 'request without token')
  expect(first.error === 0 && first.value && first.value.equals(value), 'echo without token failed', { error: first.error, value: hex(first.value) })
  expect(first.token && first.token.length === 32, 'no round token in the echo reply', hex(first.token))
  const good = await withTimeout(node.request({ command: 99, target, value, token: first.token }, to), WAIT_MS, 'request with token')
  expect(good.error === 0 && good.value && good.value.equals(value), 'valid token rejected', good.error)
  const forged = await withTimeout(node.request({ command: 99, target, value, token: crypto.randomBytes(32) }, to), WAIT_MS, 'forged token')
  expect(forged.error === DHT.ERROR_INVALID_TOKEN, 'forged token not rejected with INVALID_TOKEN', forged.error)
  expect(forged.token && forged.token.length === 32, 'INVALID_TOKEN reply without a fresh token (JS sends one)', hex(forged.token))
  const retry = await withTimeout(node.request({ command: 99, target, value, token: forged.token }, to), WAIT_MS, 'retry with fresh token')
  expect(retry.error === 0, 'fresh token from the INVALID_TOKEN reply rejected', retry.error)
  const unknown = await withTimeout(node.request({ command: 98, target }, to), WAIT_MS, 'unknown user command')
  expect(unknown.error === DHT.ERROR_UNKNOWN_COMMAND, 'unknown user command: expected UNKNOWN_COMMAND', unknown.error)
  return 'echo 0 + token, own token 0, forged 2 (+ fresh token that works), unknown command 1'
}

async function goneAndRestarted () {
  const { js, cpp } = await sharedTestnet()
  const status = (await cpp.status()).filter((s) => !s.destroyed && s.id)
  expect(status.length >= 2, 'need persistent C++ nodes')
  const victim = status[status.length - 1]
  const id = Buffer.from(victim.id, 'hex')
  const holdersBefore = js.nodes.filter((d) => d.table.has(id)).length
  await cpp.call({ op: 'destroy', node: victim.node }, 'destroyed', 'destroy')

  // A JS lookup for the gone id times out on it (and sends down hints to whoever listed it);
  // the gone node must not be among the replies.
  const closest = await jsFindNode(js.nodes[4], id)
  expect(!closest.some((r) => r.id === victim.id), 'a destroyed C++ node still replies', closest.slice(0, 3))
  // A JS lookup may end before its visit to the gone node times out (its session then cancels
  // the visit, so no down hint goes out); send DOWN_HINTs for it directly, as a JS query does, to
  // a C++ node and to a JS node that both hold it. Each must check it and drop it.
  const cppHolder = (await cpp.status()).find((s) => !s.destroyed && s.table.some((t) => t.id === victim.id))
  const jsHolder = js.nodes.find((d) => d.table.has(id))
  expect(cppHolder && jsHolder, 'no C++ and JS node holds the gone node', { cpp: !!cppHolder, js: !!jsHolder })
  const state = { start: 0, end: 6, buffer: Buffer.alloc(6) }
  require('dht-rpc/lib/peer').ipv4.encode(state, { host: HOST, port: victim.serverPort })
  const sender = js.nodes.find((d) => d !== jsHolder && d.id)
  const hint = (to) => withTimeout(new Promise((resolve, reject) => {
    const req = sender._request(to, true, true, DOWN_HINT, null, state.buffer, null, resolve, reject)
    if (req === null) reject(new Error('down hint not sent'))
  }), WAIT_MS, 'DOWN_HINT reply')
  const hintReply = await hint({ host: HOST, port: cppHolder.serverPort })
  expect(hintReply.error === 0, 'C++ node answered DOWN_HINT with an error', hintReply.error)
  await hint({ host: HOST, port: jsHolder.address().port })
  const cppDropped = await until(async () => {
    const st = (await cpp.status()).find((s) => s.node === cppHolder.node)
    return !st.table.some((t) => t.id === victim.id)
  }, 10000, 500)
  const jsDropped = await until(() => !jsHolder.table.has(id), 10000, 500)
  expect(cppDropped, 'C++ node kept the gone node after a DOWN_HINT')
  expect(jsDropped, 'JS node kept the gone node after a DOWN_HINT')
  const dropped = js.nodes.filter((d) => d.table.has(id)).length

  // Restarted on the same port: same id; a JS lookup ends at it again.
  // Drop the node's first 'ready' so the wait below sees the restarted node's.
  cpp.events = cpp.events.filter((e) => !(e.event === 'ready' && e.node === victim.node))
  await cpp.call({ op: 'restart', node: victim.node }, 'restarted', 'restart')
  await cpp.wait((e) => e.event === 'ready' && e.node === victim.node, 'restarted node ready')
  const [after] = (await cpp.status()).filter((s) => s.node === victim.node)
  expect(after.id === victim.id, 'restarted node has another id', { before: victim.id, after: after.id })
  const back = await until(async () => {
    const c = await jsFindNode(js.nodes[6], id)
    return c.length && c[0].id === victim.id
  }, 10000, 500)
  expect(back, 'JS lookups do not find the restarted node')
  return `held by ${holdersBefore} JS tables; DOWN_HINT dropped it on C++ node ${cppHolder.node} and a JS node (${dropped} JS tables left); restarted with the same id`
}

// Down hints sent BY a C++ query: in a network smaller than k a query cannot end before its
// visit to a gone node fails, so the C++ node must send DOWN_HINT(gone address) to every JS node
// that listed it. The JS nodes here never send hints themselves, so every hint they see is the
// C++ node's; each receiver then checks the gone node and drops it, as the reference does.
async function cppDownHints () {
  const js = []
  const cpp = new DhtPeer(PEER)
  const seen = []
  try {
    const opts = { ephemeral: false, firewalled: false, host: HOST, sendDownHints: false }
    js.push(new DHT({ ...opts, bootstrap: [] }))
    await js[0].fullyBootstrapped()
    const bootstrap = [{ host: HOST, port: js[0].address().port }]
    while (js.length < 6) {
      const d = new DHT({ ...opts, bootstrap })
      js.push(d)
      await d.fullyBootstrapped()
    }
    const victim = js.pop()
    const gone = { host: HOST, port: victim.address().port }
    const goneId = peerId(HOST, gone.port)
    const holders = await until(() => js.filter((d) => d.table.has(goneId)).length, 10000)
    expect(holders >= 2, 'the node to remove is in fewer than 2 JS tables', holders)
    await victim.destroy()
    for (const d of js) {
      const orig = d.io.onrequest
      d.io.onrequest = (req, external) => {
        if (req.internal && req.command === DOWN_HINT && req.value && req.value.length >= 6) {
          const addr = require('dht-rpc/lib/peer').ipv4.decode({ start: 0, end: req.value.length, buffer: req.value })
          seen.push({ to: d, from: req.from, addr })
        }
        return orig(req, external)
      }
    }
    // The C++ node joins after the node went away, so it learns of it only from JS closerNodes.
    await cpp.start(1, { bootstrap: `${HOST}:${bootstrap[0].port}`, ephemeral: true, timers: { request_timeout_ms: 300 } }, WAIT_MS)
    const closest = await cpp.findNode(0, goneId)
    expect(!closest.some((c) => c.port === gone.port), 'the gone node is among the C++ results', closest.slice(0, 3))
    const hinted = await until(() => seen.filter((h) => h.addr.port === gone.port).length, 10000)
    expect(hinted > 0, 'no JS node received a DOWN_HINT for the gone node from the C++ query',
      seen.map((h) => ({ from: h.from.port, addr: h.addr.port })))
    const bad = seen.filter((h) => h.from.host !== HOST || h.addr.host !== HOST)
    expect(bad.length === 0, 'malformed DOWN_HINT', bad.map((h) => [h.from, h.addr]))
    const receivers = new Set(seen.filter((h) => h.addr.port === gone.port).map((h) => h.to))
    const dropped = await until(() => [...receivers].every((d) => !d.table.has(goneId)), 10000, 250)
    expect(dropped, 'a JS node that got the C++ DOWN_HINT kept the gone node')
    return `${holders} JS tables held it; ${hinted} DOWN_HINT(s) from the C++ query reached ${receivers.size} JS node(s), which dropped it`
  } finally {
    await cpp.close()
    await withTimeout(destroyAll(js), 10000, 'teardown').catch(() => {})
  }
}

// Bootstrap entries by name, in the reference's two forms: "hostname:port" (DNS) and
// "suggestedIP@hostname:port" (the suggested address is tried first).
async function dnsBootstrap () {
  const { js } = await sharedTestnet()
  const port = js.bootstrap[0].port
  const out = []
  for (const entry of [`localhost:${port}`, `127.0.0.1@localhost:${port}`]) {
    const cpp = new DhtPeer(PEER)
    try {
      await cpp.start(1, { bootstrap: entry, ephemeral: true }, WAIT_MS)
      const [st] = await cpp.status()
      expect(st.bootstrapped && st.tableSize >= 10, `bootstrap via ${entry} did not fill the table`, st)
      out.push(`${entry} -> ${st.tableSize} nodes`)
    } finally {
      await cpp.close()
    }
  }
  return out.join('; ')
}

const SCENARIOS = [
  ['cpp-joins-js-testnet', cppJoinsJsTestnet, 60000],
  ['js-joins-cpp-bootstrapper', jsJoinsCppBootstrapper, 60000],
  ['mixed-closest', mixedClosest, 150000],
  ['tokens', tokens, 30000],
  ['gone-and-restarted', goneAndRestarted, 60000],
  ['cpp-down-hints', cppDownHints, 60000],
  ['dns-bootstrap', dnsBootstrap, 60000],
  ['udx-shared-socket', udxSharedSocket, 60000]
]

// One UDX stream between a C++ node's DHT socket and a JS node's DHT socket (dht.udx on
// dht.socket, as hyperdht connects direct peers), each way, with RPC traffic on the same ports.
async function udxSharedSocket () {
  const { js, cpp } = await sharedTestnet()
  const persistent = async () => (await cpp.status()).filter((s) => !s.destroyed && s.id && !s.firewalled)
  if ((await persistent()).length === 0) { // run alone (--only): join one
    await cpp.start(1, { bootstrap: `${HOST}:${js.bootstrap[0].port}`, ephemeral: false, firewalled: false }, WAIT_MS)
  }
  const [st] = await persistent()
  expect(st, 'no persistent C++ node')
  const node = js.nodes[3]
  const jsPort = node.address().port
  const cppAddr = { host: HOST, port: st.serverPort }
  const SIZE = 2 * 1024 * 1024
  const results = []

  for (const cppSends of [false, true]) {
    const jsId = crypto.randomBytes(4).readUInt32LE(0)
    const stream = node.udx.createStream(jsId)
    const rx = crypto.createHash('sha256')
    const tx = crypto.createHash('sha256')
    let received = 0
    const closed = new Promise((resolve) => stream.on('close', resolve))
    stream.on('error', () => {})
    stream.on('data', (d) => {
      received += d.length
      rx.update(d)
      if (cppSends) { tx.update(d); stream.write(d) }
    })
    stream.on('end', () => { if (cppSends) stream.end() })
    const ev = await cpp.call({ op: 'udx', node: st.node, remoteId: jsId, port: jsPort, send: cppSends ? SIZE : 0 }, 'udx', 'C++ udx stream')
    expect(ev.port === st.serverPort, 'C++ stream is not on the node\'s DHT socket', { stream: ev.port, dht: st.serverPort })
    stream.connect(node.socket, ev.id, ev.port, HOST)
    if (!cppSends) {
      const data = crypto.randomBytes(SIZE)
      tx.update(data)
      for (let off = 0; off < SIZE; off += 65536) stream.write(data.subarray(off, off + 65536))
      stream.end()
    }
    // RPC both ways on the same sockets while the stream runs.
    const pings = await withTimeout(Promise.all([0, 1, 2].map(() => node.ping(cppAddr))), WAIT_MS, 'JS pings the C++ node during the transfer')
    expect(pings.length === 3, 'pings')
    const closest = await cpp.findNode(st.node, node.id)
    expect(closest.some((c) => c.port === jsPort), 'C++ find_node during the transfer did not reach the JS node', closest.length)
    const done = await cpp.wait((e) => e.event === 'udx-closed' && e.id === ev.id, 'C++ stream closed', 30000)
    await withTimeout(closed, 10000, 'JS stream closed')
    const txHex = tx.digest('hex')
    const rxHex = rx.digest('hex')
    expect(done.error === '', 'C++ stream closed with an error', done.error)
    if (cppSends) {
      expect(received === SIZE && rxHex === done.sentSha256, 'JS received other bytes than C++ sent', { received, rxHex, sent: done.sentSha256 })
      expect(done.received === SIZE && done.receivedSha256 === txHex, 'C++ got another echo back', done)
    } else {
      expect(done.received === SIZE && done.receivedSha256 === txHex, 'C++ received other bytes than JS sent', done)
      expect(received === SIZE && rxHex === txHex, 'JS got another echo back', { received })
    }
    results.push(`${cppSends ? 'C++ -> JS' : 'JS -> C++'} 2 MiB echoed intact`)
  }
  // Both nodes still route: a JS lookup through the C++ node's port completes.
  const after = await jsFindNode(js.nodes[5], crypto.randomBytes(32))
  expect(after.length > 0, 'JS lookup after the transfers found nothing')
  return results.join(', ') + '; pings and FIND_NODE answered on the same sockets meanwhile'
}

async function main () {
  for (const [name, fn, ms] of SCENARIOS) {
    if (ONLY && ONLY !== name) continue
    const t0 = Date.now()
    try {
      const detail = await withTimeout(fn(), ms, `scenario ${name}`)
      passed++
      console.log(`ok ${name} (${Date.now() - t0} ms)${detail ? ': ' + detail : ''}`)
    } catch (err) {
      failed++
      console.log(`FAIL ${name} (${Date.now() - t0} ms): ${err.message}`)
    }
  }
  if (shared.cpp) await shared.cpp.close()
  if (shared.js) await withTimeout(destroyAll(shared.js.nodes), 10000, 'teardown').catch(() => {})
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed || passed === 0 ? 1 : 0)
}

main().catch((err) => {
  console.log('FAIL harness: ' + err.stack)
  process.exit(1)
})
