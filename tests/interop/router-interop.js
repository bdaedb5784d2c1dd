#!/usr/bin/env node
'use strict'
// The router (relay) role of C++ nodes, with the pinned JS hyperdht 6.34 as client and server.
//   node router-interop.js --peer PATH/records_peer
// A loopback testnet where every DHT node but the two endpoints is a C++ HyperDhtNode
// (tests/interop/records_peer.cpp: a bootstrapper and CPP_NODES persistent nodes). The endpoints
// are two firewalled, ephemeral JS nodes that only know the C++ network: a JS server listens
// (announcing itself to C++ nodes, which keep its forward) and a JS client connects to its key.
// Every handshake and holepunch message between them is relayed by C++ nodes. Checks, each
// printed as "ok/FAIL <name>":
//   the connection opens and echoes 1 MiB (SHA-256 checked), with the C++ routers' counters
//   showing the handshake (and holepunch) relayed; a key nobody announced gives PEER_NOT_FOUND,
//   also when the client is pointed at a C++ node without a route (the "help route" answer); a
//   server whose firewall rejects the client gives PEER_CONNECTION_FAILED, the C++ nodes having
//   relayed the handshakes it left unanswered.
// Every wait is bounded; "N passed, N failed" last; exit code 1 on any failure.
const crypto = require('crypto')
const HyperDHT = require('hyperdht')
const { CppPeer, withTimeout, until } = require('./lib/peer')
const sockets = require('./lib/sockets')
const { sha256, freePort, opened, echo } = sockets

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const CONNECT_MS = 60000
const CPP_NODES = 8
const ECHO_BYTES = 1 << 20

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
if (!PEER) { console.error('usage: router-interop.js --peer PATH/records_peer'); process.exit(2) }

let passed = 0
let failed = 0
function check (cond, name, detail) {
  if (cond) {
    passed++
    console.log('ok   ' + name)
  } else {
    failed++
    console.log('FAIL ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''))
  }
  return cond
}

const fin = (p, what, ms = WAIT_MS) => withTimeout(p, ms, what)
const seed = (n) => Buffer.alloc(32, n)
// The sum of every C++ node's router counters.
async function routerTotals (cpp) {
  const out = {}
  for (const n of (await cpp.call({ op: 'status' }, 'status')).nodes) {
    for (const [k, v] of Object.entries(n.router)) out[k] = (out[k] || 0) + v
  }
  return out
}

function delta (a, b) {
  const out = {}
  for (const k of Object.keys(b)) out[k] = b[k] - (a[k] || 0)
  return out
}

// connectError with this test's connect limit.
const connectError = (socket, what) => sockets.connectError(socket, what, CONNECT_MS)

async function connectAndEcho (cpp, clientDht, serverDht, publicKey, opts, label) {
  const before = await routerTotals(cpp)
  const punchesBefore = { ...clientDht.stats.punches }
  const t0 = Date.now()
  const socket = clientDht.connect(publicKey, opts)
  socket.on('error', () => {})
  let open = null
  try {
    open = await fin(opened(socket), 'JS connect through C++ routers', CONNECT_MS)
  } catch (err) {
    check(false, `[${label}] JS client connects to the JS server through C++ routers`, String(err))
  }
  if (open) {
    check(true, `[${label}] JS client connects to the JS server through C++ routers (${Date.now() - t0} ms)`)
    const data = crypto.randomBytes(ECHO_BYTES)
    const back = await fin(echo(socket, data), 'echo 1 MiB', 30000).catch((err) => err)
    check(Buffer.isBuffer(back) && back.length === data.length && sha256(back) === sha256(data),
      `[${label}] the connection echoes 1 MiB (SHA-256)`, Buffer.isBuffer(back) ? back.length : String(back))
    const raw = socket.rawStream
    const onDhtSocket = raw && raw.socket === clientDht.io.serverSocket
    console.log(`# [${label}] client punches ${JSON.stringify(delta(punchesBefore, clientDht.stats.punches))}, ` +
      `stream on the client's ${onDhtSocket ? 'dht server socket (LAN shortcut)' : 'punch socket (holepunch)'}`)
  }
  socket.destroy()
  // The punch can complete before the server's FROM_SERVER round reaches the relay (the server
  // probes the client as soon as the relayed round arrives, and replies after), so the counters
  // are read until they show both directions or a bounded wait ends.
  const relayedBoth = (u) => u.handshake_from_client > 0 && u.handshake_from_server > 0 &&
    u.holepunch_from_client > 0 && u.holepunch_from_server > 0
  const used = await until(async () => {
    const u = delta(before, await routerTotals(cpp))
    return relayedBoth(u) ? u : null
  }, 3000, 100) || delta(before, await routerTotals(cpp))
  console.log(`# [${label}] C++ routers: ` + JSON.stringify(used))
  check(used.handshake_from_client > 0 && used.handshake_from_server > 0,
    `[${label}] C++ routers relayed the handshake (FROM_CLIENT -> FROM_RELAY, FROM_SERVER -> REPLY)`, used)
  check(used.holepunch_from_client > 0 && used.holepunch_from_server > 0,
    `[${label}] C++ routers relayed the holepunch rounds`, used)
}

async function main () {
  const cpp = new CppPeer(PEER, { waitMs: WAIT_MS, name: 'records_peer' })
  const dhts = []
  try {
    const bport = await freePort()
    await cpp.call({ op: 'start', nodes: 1, bootstrapper: bport, host: HOST }, 'started', 'C++ bootstrapper', 30000)
    const bootstrap = [{ host: HOST, port: bport }]
    await cpp.call({ op: 'start', nodes: CPP_NODES, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: false, firewalled: false }, 'started', 'start C++ nodes', 90000)
    const st = await until(async () => {
      const s = (await cpp.call({ op: 'status' }, 'status')).nodes
      return s.every((n) => n.id) ? s : null
    }, WAIT_MS)
    if (!check(!!st, 'C++ bootstrapper and nodes persistent')) return
    const cppPorts = new Set(st.map((n) => n.port))

    // The endpoints: firewalled and ephemeral (no quick firewall test, so they stay so on
    // loopback), knowing only the C++ network.
    const endpoint = () => {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: true, quickFirewall: false })
      dhts.push(d)
      return d
    }
    const serverDht = endpoint()
    const clientDht = endpoint()
    await fin(Promise.all([serverDht.fullyBootstrapped(), clientDht.fullyBootstrapped()]), 'JS endpoints bootstrap')
    check(serverDht.firewalled && clientDht.firewalled && serverDht.ephemeral && clientDht.ephemeral,
      'JS endpoints are firewalled and ephemeral')
    const tableNodes = [...serverDht.table.toArray(), ...clientDht.table.toArray()]
    check(tableNodes.length > 0 && tableNodes.every((n) => cppPorts.has(n.port)),
      'the JS endpoints know C++ nodes only', tableNodes.map((n) => n.port))

    // --- a connection routed by C++ nodes, echoing 1 MiB ---
    const kp = HyperDHT.keyPair(seed(1))
    const server = serverDht.createServer((socket) => {
      socket.on('data', (d) => socket.write(d))
      socket.on('error', () => {})
    })
    await fin(server.listen(kp), 'JS server listen (announce to C++ nodes)')
    const target = HyperDHT.hash(kp.publicKey)
    let forwards = 0
    for (const n of st) {
      const s = await cpp.call({ op: 'stored', node: n.node, kind: 'forward', key: target.toString('hex') }, 'stored')
      if (s.present) forwards++
    }
    check(forwards > 0, 'C++ nodes hold the JS server\'s forward', forwards)

    // On loopback the client's LAN shortcut (a PING to the server's 127.0.0.1 address, which
    // bogon counts as private) races the holepunch and wins; without it (localConnection:
    // false) the server replies from its punch socket and the holepunch rounds connect.
    await connectAndEcho(cpp, clientDht, serverDht, kp.publicKey, {}, 'LAN shortcut raced with holepunch')
    await connectAndEcho(cpp, clientDht, serverDht, kp.publicKey, { localConnection: false }, 'holepunch only')

    // --- a key nobody announced ---
    const nobody = HyperDHT.keyPair(seed(2)).publicKey
    let err = await connectError(clientDht.connect(nobody), 'connect to an unknown key')
    check(err && err.code === 'PEER_NOT_FOUND', 'unknown key: PEER_NOT_FOUND', err && err.code)

    // ... and through a C++ node named as relay, which has no route: closer nodes only.
    const b2 = await routerTotals(cpp)
    const relayAddresses = [{ host: HOST, port: st[1].port }]
    err = await connectError(clientDht.connect(nobody, { relayAddresses }), 'connect via a C++ relay without route')
    const noRoute = delta(b2, await routerTotals(cpp))
    check(err && err.code === 'PEER_NOT_FOUND', 'unknown key via a C++ relay: PEER_NOT_FOUND', err && err.code)
    check(noRoute.handshake_no_route > 0 && noRoute.handshake_from_client === 0,
      'the C++ relay answered "help route" (closer nodes, no value)', noRoute)

    // --- a server whose firewall rejects every client ---
    const kp2 = HyperDHT.keyPair(seed(3))
    let asked = 0
    const rejecting = serverDht.createServer({ firewall: () => { asked++; return true } }, () => {})
    await fin(rejecting.listen(kp2), 'rejecting JS server listen')
    const b3 = await routerTotals(cpp)
    err = await connectError(clientDht.connect(kp2.publicKey), 'connect to a rejecting server')
    const rej = delta(b3, await routerTotals(cpp))
    console.log('# C++ routers, rejected connect: ' + JSON.stringify(rej))
    check(err && err.code === 'PEER_CONNECTION_FAILED', 'firewall-rejecting server: PEER_CONNECTION_FAILED', err && err.code)
    check(asked > 0 && rej.handshake_from_client > 0 && rej.handshake_from_server === 0,
      'the rejected handshakes reached the server through C++ relays, which got no answer', { asked, rej })

    await fin(Promise.all([server.close(), rejecting.close()]), 'JS servers close')
  } finally {
    await Promise.allSettled(dhts.map((d) => withTimeout(d.destroy(), 10000, 'JS destroy')))
    await cpp.close()
  }
}

main().catch((err) => {
  failed++
  console.log('FAIL unexpected: ' + (err && err.stack ? err.stack : err))
}).finally(() => {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
})
