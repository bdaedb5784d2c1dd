#!/usr/bin/env node
'use strict'
// The C++ blind relay engine (core/blind_relay_*.hpp) against the pinned JS reference
// (hyperdht 6.34, blind-relay 1.6.1, protomux 3.12.1) on a mixed loopback testnet.
//   node relay-interop.js --peer PATH/relay_peer
// Checks, each printed as "ok/FAIL <name>":
//   (a) a C++ BlindRelayService relays a JS client to a JS server, both with relayThrough: the
//       C++ relay and holepunching vetoed (holepunch: () => false, localConnection: false), so the
//       relay is the only path; 4 MiB echoed with SHA-256; the C++ relay's stats show the pairing
//       and the relayed packets;
//   (b) C++ BlindRelayClients (two C++ nodes, each connected to the relay by key) pair two raw
//       UDX streams, one initiator and one not, through a JS blind-relay server, and through the
//       C++ relay for comparison; 2 MiB each way, SHA-256 checked;
//   (c) the reference's edge cases, against both relays: unpair cancels a pending pairing, a
//       session closing mid-pairing cancels it, the same token twice from one side pairs once.
// Every wait is bounded; timings are printed; "N passed, N failed" last; exit 1 on any failure.
const crypto = require('crypto')
const HyperDHT = require('hyperdht')
const BlindRelay = require('blind-relay')
const { CppPeer, withTimeout, until } = require('./lib/peer')
const { sha256, opened, echo } = require('./lib/sockets')
const { Checks } = require('./lib/checks')
const { startMixedTestnet } = require('./lib/mixed-testnet')

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const CPP_NODES = 4
const JS_NODES = 2
const ECHO_BYTES = 4 << 20
const TRANSFER_BYTES = 2 << 20
const QUIET_MS = 1500 // how long a pairing that must not complete is watched

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
if (!PEER) { console.error('usage: relay-interop.js --peer PATH/relay_peer'); process.exit(2) }

const checks = new Checks()
const check = checks.check.bind(checks)

const fin = (p, what, ms = WAIT_MS) => withTimeout(p, ms, what)
const seed = (n) => Buffer.alloc(32, n)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function main () {
  const cpp = new CppPeer(PEER, { waitMs: WAIT_MS, name: 'relay_peer' })
  const dhts = []
  const t0 = Date.now()
  try {
    const { bootstrap, bport, cppNodes } = await startMixedTestnet(cpp, dhts, { host: HOST, cppNodes: CPP_NODES, jsNodes: JS_NODES, waitMs: WAIT_MS })
    // C++ client endpoints: ephemeral and firewalled, like the JS ones.
    const ends = await cpp.call({ op: 'start', nodes: 2, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: true, firewalled: true, quick_firewall: false }, 'started', 'C++ endpoints', 60000)
    const endpoint = () => {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: true, quickFirewall: false })
      dhts.push(d)
      return d
    }
    const clientDht = endpoint()
    const serverDht = endpoint()
    await fin(Promise.all([clientDht.fullyBootstrapped(), serverDht.fullyBootstrapped()]), 'JS endpoints bootstrap')
    // Firewalled endpoints, so that no server connects straight to the client (hyperdht's OPEN
    // path); (a) needs the blind relay to be the only way in.
    check(clientDht.firewalled && serverDht.firewalled, 'the JS endpoints are firewalled')
    console.log(`# testnet up in ${Date.now() - t0} ms`)

    // The C++ relay service on a persistent C++ node.
    const rl = await cpp.call({ op: 'relay', node: cppNodes[0], seed: seed(5).toString('hex') }, 'relay', 'C++ relay listen', 60000)
    check(rl.error === null, 'the C++ blind relay service listens', rl)
    const cppRelayKey = Buffer.from(rl.publicKey, 'hex')

    // The JS relay: blind-relay's Server on a persistent JS node, as its README shows.
    const jsRelayDht = dhts[0]
    const jsRelay = new BlindRelay.Server({ createStream: (opts) => jsRelayDht.createRawStream(opts) })
    const jsRelayServer = jsRelayDht.createServer((socket) => {
      socket.on('error', () => {})
      // A relayed peer's DESTROY resets the relay stream: the session reports it as an error.
      jsRelay.accept(socket, { id: socket.remotePublicKey }).on('error', () => {})
    })
    const jsRelayKp = HyperDHT.keyPair(seed(6))
    await fin(jsRelayServer.listen(jsRelayKp), 'JS relay listen')

    await caseA(cpp, clientDht, serverDht, { name: 'C++ relay', key: cppRelayKey, port: rl.port, cpp: true })
    // The same through the JS relay, for comparison (timings only).
    await caseA(cpp, clientDht, serverDht, { name: 'JS relay', key: jsRelayKp.publicKey, port: jsRelayDht.io.serverSocket.address().port })
    const relays = [
      { name: 'JS relay', key: jsRelayKp.publicKey, stats: () => jsStats(jsRelay) },
      { name: 'C++ relay', key: cppRelayKey, stats: () => cppStats(cpp) }
    ]
    let client = 0
    for (const relay of relays) {
      const c = [client++, client++, client++]
      await connectClients(cpp, relay, ends.nodes, c)
      await caseB(cpp, relay, c)
      await caseC(cpp, relay, c)
    }
  } catch (err) {
    check(false, 'no exception', String(err && err.stack))
  } finally {
    await cpp.close()
    for (const d of dhts) await d.destroy().catch(() => {})
  }
  console.log(`# total ${Date.now() - t0} ms`)
}

function jsStats (relay) {
  const s = relay.stats
  return {
    pairings_requested: s.pairings.requested,
    pairings_matched: s.pairings.matched,
    pairings_cancelled: s.pairings.cancelled,
    pairings_pending: s.pairings.pending
  }
}

async function cppStats (cpp) {
  return cpp.call({ op: 'relay-stats', relay: 0 }, 'relay-stats')
}

// (a) JS client -> JS server through a relay, punching vetoed on both sides: the server's
// holepunch() says no, the client's too, and the client neither sends its local addresses
// (localConnection: false) nor opens a fast-open session (fastOpen: false; on loopback that
// probe alone would connect the two puncher sockets).
async function caseA (cpp, clientDht, serverDht, relay) {
  const before = relay.cpp ? await cppStats(cpp) : null
  const serverKp = HyperDHT.keyPair(seed(relay.cpp ? 9 : 10))
  const server = serverDht.createServer({ relayThrough: relay.key, holepunch: () => false, shareLocalAddress: false }, (socket) => {
    socket.on('error', () => {})
    socket.pipe(socket)
  })
  await fin(server.listen(serverKp), 'JS server listen')
  const t = Date.now()
  const socket = clientDht.connect(serverKp.publicKey, { relayThrough: relay.key, holepunch: () => false, localConnection: false, fastOpen: false })
  socket.on('error', () => {})
  try {
    await fin(opened(socket), 'relayed connect', 30000)
  } catch (err) {
    check(false, `(a) a JS client reaches a JS server through the ${relay.name}`, String(err))
    socket.destroy()
    await server.close()
    return
  }
  check(true, `(a) a JS client reaches a JS server through the ${relay.name} (${Date.now() - t} ms)`)
  const raw = socket.rawStream
  const data = crypto.randomBytes(ECHO_BYTES)
  const t2 = Date.now()
  const back = await fin(echo(socket, data), 'relayed echo', 60000).catch((err) => err)
  const ms = Date.now() - t2
  check(Buffer.isBuffer(back) && sha256(back) === sha256(data),
    `(a) ${ECHO_BYTES >> 20} MiB echoed intact through the ${relay.name} (SHA-256) in ${ms} ms (${(2 * ECHO_BYTES / 1048576 / (ms / 1000)).toFixed(1)} MiB/s both ways)`,
    Buffer.isBuffer(back) ? back.length : String(back))
  check(raw && raw.remotePort === relay.port, `(a) the client's stream goes to the ${relay.name}'s node (port ${raw && raw.remotePort})`)
  if (relay.cpp) {
    const s = await cppStats(cpp)
    check(s.pairings_matched === before.pairings_matched + 1 && s.streams_opened === before.streams_opened + 2,
      `(a) the C++ relay matched the pairing and opened two relay streams (${s.sessions} sessions)`, s)
    check(s.packets_relayed - before.packets_relayed > (2 * ECHO_BYTES) / 1500 && s.bytes_relayed - before.bytes_relayed > 2 * ECHO_BYTES,
      `(a) the C++ relay forwarded ${s.packets_relayed - before.packets_relayed} packets, ${((s.bytes_relayed - before.bytes_relayed) / 1048576).toFixed(1)} MiB`, s)
  }
  socket.destroy()
  await server.close()
}

// Three BlindRelayClients on the two C++ endpoints (the third for the same-side case).
async function connectClients (cpp, relay, nodes, c) {
  const t = Date.now()
  const res = await Promise.all(c.map((k, i) => cpp.call({ op: 'client', node: nodes[i % 2], client: k, publicKey: relay.key.toString('hex') }, 'client', `C++ client ${k}`, 45000)))
  check(res.every((r) => r.error === null), `C++ BlindRelayClients connect to the ${relay.name} (${Date.now() - t} ms)`, res)
}

let streamSeq = 0
const pairCmd = (client, initiator, token) => ({ op: 'pair', client, stream: streamSeq++, initiator, token: token.toString('hex') })

// (b) two raw C++ streams paired through the relay, data both ways.
async function caseB (cpp, relay, c) {
  const token = BlindRelay.token()
  const t = Date.now()
  const [pa, pb] = await Promise.all([
    cpp.call(pairCmd(c[0], true, token), 'paired', 'pair initiator', 20000).catch((e) => e),
    cpp.call(pairCmd(c[1], false, token), 'paired', 'pair follower', 20000).catch((e) => e)
  ])
  if (!check(pa.event === 'paired' && pb.event === 'paired', `(b) C++ BlindRelayClients pair two raw streams through the ${relay.name} (${Date.now() - t} ms)`, [String(pa.message || ''), String(pb.message || '')])) return
  const [ab, ba] = await Promise.all([
    cpp.call({ op: 'transfer', from: pa.stream, to: pb.stream, bytes: TRANSFER_BYTES }, 'transferred', 'transfer a->b', 70000),
    cpp.call({ op: 'transfer', from: pb.stream, to: pa.stream, bytes: TRANSFER_BYTES }, 'transferred', 'transfer b->a', 70000)
  ])
  check(ab.ok && ba.ok, `(b) ${TRANSFER_BYTES >> 20} MiB each way between the C++ streams through the ${relay.name} intact (SHA-256; ${ab.ms} / ${ba.ms} ms)`, [ab, ba])
  const s = await relay.stats()
  console.log(`# (b) ${relay.name} stats: ${JSON.stringify(s)}`)
}

// Resolves with the pair answer, or null if none came within QUIET_MS.
async function pairQuietly (cpp, cmd, ms = QUIET_MS) {
  const seq = ++cpp.seq
  cpp.send({ ...cmd, seq })
  return cpp.wait((e) => e.seq === seq, 'quiet pair', ms).catch(() => null)
}

// (c) the reference's edge cases.
async function caseC (cpp, relay, c) {
  const before = await relay.stats()
  // unpair cancels: the initiator pairs and unpairs; the follower then waits in vain.
  const t1 = BlindRelay.token()
  const first = pairQuietly(cpp, pairCmd(c[0], true, t1))
  await sleep(300)
  await cpp.call({ op: 'unpair', client: c[0], token: t1.toString('hex') }, 'unpaired')
  await sleep(300)
  const late = await pairQuietly(cpp, pairCmd(c[1], false, t1))
  const s1 = await relay.stats()
  check(late === null && (await first) === null && s1.pairings_cancelled === before.pairings_cancelled + 1,
    `(c) ${relay.name}: unpair cancels a pending pairing (the other side never pairs)`, { late, s1, before })
  await cpp.call({ op: 'unpair', client: c[1], token: t1.toString('hex') }, 'unpaired')

  // The same token twice from one side: the second initiator is ignored.
  const t2 = BlindRelay.token()
  const one = cpp.call(pairCmd(c[0], true, t2), 'paired', 'pair first initiator', 20000).catch((e) => e)
  await sleep(300)
  const two = pairQuietly(cpp, pairCmd(c[2], true, t2))
  await sleep(300)
  const follower = await cpp.call(pairCmd(c[1], false, t2), 'paired', 'pair follower', 20000).catch((e) => e)
  const [r1, r2] = await Promise.all([one, two])
  check(r1.event === 'paired' && follower.event === 'paired' && r2 === null,
    `(c) ${relay.name}: the same token twice from one side pairs only the first`, { r1, r2, follower })

  // A session closing mid-pairing (the client ends its relay connection): the relay cancels the
  // pairing, the client's pair fails, and the follower never pairs.
  const t3 = BlindRelay.token()
  const doomed = pairQuietly(cpp, pairCmd(c[2], true, t3), 8000)
  await sleep(300)
  const pending = await relay.stats()
  await cpp.call({ op: 'client-end', client: c[2] }, 'client-ended')
  const gone = await until(async () => (await relay.stats()).pairings_pending === pending.pairings_pending - 1, 5000)
  const after = await pairQuietly(cpp, pairCmd(c[1], false, t3))
  const s3 = await relay.stats()
  const d = await doomed
  check(gone && after === null && d && d.event === 'pair-error' && s3.pairings_cancelled > pending.pairings_cancelled,
    `(c) ${relay.name}: a session closing mid-pairing cancels it (the client's pair fails: ${d && d.error})`, { d, after, pending, s3 })
}

checks.run(main)
