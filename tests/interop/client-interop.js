#!/usr/bin/env node
'use strict'
// The C++ client (core/peer_connect.hpp) against JS hyperdht 6.34 servers.
//   node client-interop.js --peer PATH/client_peer [--mib N]
// A mixed loopback testnet: a C++ bootstrapper, CPP_NODES persistent C++ nodes and JS_NODES
// persistent JS nodes; a firewalled, ephemeral C++ client node (tests/interop/client_peer.cpp)
// and firewalled, ephemeral JS endpoints (servers, and a JS client for comparison). Checks, each
// printed as "ok/FAIL <name>":
//   (1) default options: the LAN shortcut opens; (2) localConnection false: the holepunch opens;
//   (3) relayAddresses given (the server's announce relays): opens; each echoes N MiB (SHA-256
//   both ways) and shows the same handshake hash and keys on both sides;
//   (4) an unknown key: PEER_NOT_FOUND; (5) a server whose firewall rejects: PEER_CONNECTION_FAILED,
//   the same code a JS client gets; (6) the JS server ends the connection: the C++ stream closes
//   cleanly; (7) 50 sequential and 16 concurrent connects open and echo; (8) reusable-socket
//   routes: with reusableSocket on both sides (localConnection false: the holepunch), a second
//   connect to the JS server goes through the route the first left (the C++ stats show it) and
//   echoes; its open time is printed next to one without reusableSocket.
// Open times (median / p95) are printed as "# timing ..." lines. Every wait is bounded;
// "N passed, N failed" last; exit code 1 on any failure.
const crypto = require('crypto')
const HyperDHT = require('hyperdht')
const { CppPeer, withTimeout } = require('./lib/peer')
const { Checks } = require('./lib/checks')
const { startMixedTestnet } = require('./lib/mixed-testnet')

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const CONNECT_MS = 40000
const CPP_NODES = 6
const JS_NODES = 2
const SEQUENTIAL = 50
const CONCURRENT = 16

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
const MIB = Number(argOf('--mib') || 32)
if (!PEER) { console.error('usage: client-interop.js --peer PATH/client_peer [--mib N]'); process.exit(2) }

const checks = new Checks()
const check = checks.check.bind(checks)

const fin = (p, what, ms = WAIT_MS) => withTimeout(p, ms, what)
const seed = (n) => Buffer.alloc(32, n)

function stats (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))]
  return { n: s.length, median: +at(0.5).toFixed(1), p95: +at(0.95).toFixed(1), max: +s[s.length - 1].toFixed(1) }
}

let nextConn = 1

// Connects from the C++ client node; resolves with the connected or connect-error event.
async function cppConnect (cpp, node, publicKey, opts = {}) {
  const conn = nextConn++
  const seq = ++cpp.seq
  cpp.send({ op: 'connect', seq, node, conn, publicKey: publicKey.toString('hex'), opts })
  return cpp.wait((e) => e.conn === conn && (e.event === 'connected' || e.event === 'connect-error'),
    'C++ connect', CONNECT_MS)
}

// Sends `bytes` from C++ through the echo and waits until they all came back.
async function cppEcho (cpp, conn, bytes, ms) {
  const seq = ++cpp.seq
  cpp.send({ op: 'send', seq, conn, bytes, seed: conn * 7919 })
  const [sent, back] = await Promise.all([
    cpp.wait((e) => e.conn === conn && e.event === 'sent', 'C++ send', ms),
    cpp.wait((e) => e.conn === conn && e.event === 'received', 'C++ receive the echo', ms)
  ])
  return { sent, back }
}

async function cppDestroy (cpp, conn) {
  await cpp.call({ op: 'destroy', conn }, 'ok').catch(() => {})
}

// The error code a JS client's connect ends with (null if it opened).
async function jsConnectError (dht, publicKey) {
  const socket = dht.connect(publicKey)
  try {
    await fin(new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
      socket.once('close', () => reject(new Error('closed before open')))
    }), 'JS connect', CONNECT_MS)
    socket.destroy()
    return null
  } catch (err) {
    socket.destroy()
    return err.code || String(err)
  }
}

async function main () {
  const cpp = new CppPeer(PEER, { waitMs: WAIT_MS, name: 'client_peer' })
  const dhts = []
  try {
    const { bootstrap, bport, persistent } = await startMixedTestnet(cpp, dhts, { host: HOST, cppNodes: CPP_NODES, jsNodes: JS_NODES, waitMs: WAIT_MS })
    if (!check(persistent, 'C++ bootstrapper and nodes persistent')) return
    // The client: firewalled and ephemeral, as a user's node behind a NAT.
    const client = (await cpp.call({ op: 'start', nodes: 1, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: true, quickFirewall: false }, 'started', 'C++ client node', 30000)).nodes[0]
    const clientStatus = (await cpp.call({ op: 'status' }, 'status')).nodes[client]
    check(clientStatus.firewalled, 'the C++ client node is firewalled')

    const endpoint = () => {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: true, quickFirewall: false })
      dhts.push(d)
      return d
    }
    const serverDht = endpoint()
    const jsClientDht = endpoint()
    await fin(Promise.all([serverDht.fullyBootstrapped(), jsClientDht.fullyBootstrapped()]), 'JS endpoints bootstrap')

    // --- the echo server ---
    const kp = HyperDHT.keyPair(seed(1))
    const serverSide = new Map() // handshakeHash hex -> { remotePublicKey, publicKey, received sha }
    const server = serverDht.createServer((socket) => {
      const rec = { remotePublicKey: socket.remotePublicKey.toString('hex'), publicKey: socket.publicKey.toString('hex'), bytes: 0, hash: crypto.createHash('sha256') }
      serverSide.set(socket.handshakeHash.toString('hex'), rec)
      socket.on('data', (d) => { rec.bytes += d.length; rec.hash.update(d); socket.write(d) })
      socket.on('error', () => {})
    })
    await fin(server.listen(kp), 'JS server listen')

    const bytes = MIB << 20
    const echoCase = async (label, opts, wantPath) => {
      const ev = await cppConnect(cpp, client, kp.publicKey, opts)
      if (!check(ev.event === 'connected', `[${label}] C++ client connects to the JS server`, ev)) return
      console.log(`# [${label}] path ${ev.path}, relayed ${ev.relayed}, attempts ${ev.attempts}, handshakes ${ev.handshakes}, punch rounds ${ev.rounds}, handshake ${ev.handshakeMs.toFixed(1)} ms, open ${ev.openMs.toFixed(1)} ms`)
      if (wantPath) check(ev.path === wantPath, `[${label}] path is ${wantPath}`, ev.path)
      const t0 = Date.now()
      const r = await cppEcho(cpp, ev.conn, bytes, 180000).catch((err) => err)
      if (check(r.back && r.back.bytes === bytes && r.back.sha256 === r.sent.sha256,
        `[${label}] ${MIB} MiB echoed (SHA-256 equal)`, r.back ? { sent: r.sent, back: r.back } : String(r))) {
        console.log(`# [${label}] echo ${MIB} MiB in ${Date.now() - t0} ms (${(2 * MIB / ((Date.now() - t0) / 1000)).toFixed(1)} MiB/s both ways)`)
      }
      const rec = serverSide.get(ev.handshakeHash)
      check(rec && rec.remotePublicKey === ev.publicKey && rec.publicKey === ev.remotePublicKey &&
        ev.remotePublicKey === kp.publicKey.toString('hex') && ev.publicKey === ev.nodePublicKey,
      `[${label}] same handshake hash and keys on both sides`, { ev, rec: rec && { ...rec, hash: undefined } })
      check(rec && rec.bytes === bytes && r.sent && rec.hash.digest('hex') === r.sent.sha256,
        `[${label}] the JS server got the C++ bytes (SHA-256)`, rec && rec.bytes)
      await cppDestroy(cpp, ev.conn)
    }

    // (1)-(3): on loopback the LAN shortcut wins by default (bogon counts 127.0.0.1 as private);
    // without it the holepunch rounds connect the punch sockets.
    await echoCase('default (LAN shortcut)', {}, 'lan')
    await echoCase('localConnection false (holepunch)', { localConnection: false }, 'holepunch')
    check(server.relayAddresses.length > 0, 'the JS server announced to relays', server.relayAddresses)
    await echoCase('relayAddresses given', { relayAddresses: server.relayAddresses.map((a) => ({ host: a.host, port: a.port })) })

    // (4) a key nobody announced
    const nobody = HyperDHT.keyPair(seed(2)).publicKey
    let ev = await cppConnect(cpp, client, nobody)
    check(ev.event === 'connect-error' && ev.code === 'PEER_NOT_FOUND', 'unknown key: PEER_NOT_FOUND', ev)
    const jsNobody = await jsConnectError(jsClientDht, nobody)
    check(jsNobody === 'PEER_NOT_FOUND', 'unknown key, JS client: PEER_NOT_FOUND', jsNobody)

    // (5) a server whose firewall rejects every client
    const kp2 = HyperDHT.keyPair(seed(3))
    let asked = 0
    const rejecting = serverDht.createServer({ firewall: () => { asked++; return true } }, () => {})
    await fin(rejecting.listen(kp2), 'rejecting JS server listen')
    ev = await cppConnect(cpp, client, kp2.publicKey)
    check(ev.event === 'connect-error' && ev.code === 'PEER_CONNECTION_FAILED' && asked > 0,
      'firewall-rejecting server: PEER_CONNECTION_FAILED', { ev, asked })
    const jsRejected = await jsConnectError(jsClientDht, kp2.publicKey)
    check(jsRejected === 'PEER_CONNECTION_FAILED' && (ev.code === jsRejected),
      'the JS client gets the same code', { cpp: ev.code, js: jsRejected })

    // (6) the server ends the connection
    const kp3 = HyperDHT.keyPair(seed(4))
    const closing = serverDht.createServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', () => socket.end())
      socket.on('end', () => socket.end())
    })
    await fin(closing.listen(kp3), 'closing JS server listen')
    ev = await cppConnect(cpp, client, kp3.publicKey)
    if (check(ev.event === 'connected', 'C++ client connects to the closing server', ev)) {
      cpp.send({ op: 'send', conn: ev.conn, bytes: 16, seed: 1 })
      const closed = await cpp.wait((e) => e.conn === ev.conn && e.event === 'closed', 'C++ stream closes', WAIT_MS).catch((err) => String(err))
      check(closed.event === 'closed' && closed.error === '', 'the server ends: the C++ stream closes cleanly', closed)
    }

    // (7) many connects
    const opens = []
    let ok = 0
    const one = async () => {
      const e = await cppConnect(cpp, client, kp.publicKey)
      if (e.event !== 'connected') return e
      opens.push(e.openMs)
      const r = await cppEcho(cpp, e.conn, 1024, WAIT_MS).catch((err) => ({ err: String(err) }))
      await cppDestroy(cpp, e.conn)
      if (r.back && r.back.sha256 === r.sent.sha256) ok++
      return r.back ? null : r
    }
    let t0 = Date.now()
    const seqErrors = []
    for (let i = 0; i < SEQUENTIAL; i++) {
      const e = await one()
      if (e) seqErrors.push(e)
    }
    check(ok === SEQUENTIAL, `${SEQUENTIAL} sequential C++ connects open and echo`, { ok, errors: seqErrors.slice(0, 3) })
    console.log(`# timing sequential open ms ${JSON.stringify(stats(opens))}, total ${Date.now() - t0} ms`)
    const seqOpens = opens.splice(0)
    ok = 0
    t0 = Date.now()
    const conc = await Promise.all(Array.from({ length: CONCURRENT }, one))
    check(ok === CONCURRENT, `${CONCURRENT} concurrent C++ connects open and echo`, { ok, errors: conc.filter(Boolean).slice(0, 3) })
    console.log(`# timing concurrent open ms ${JSON.stringify(stats(opens))}, total ${Date.now() - t0} ms`)
    console.log('# timing json ' + JSON.stringify({ sequential: stats(seqOpens), concurrent: stats(opens) }))

    // (8) reusable-socket routes
    const kp5 = HyperDHT.keyPair(seed(5))
    const reusing = serverDht.createServer({ reusableSocket: true }, (socket) => {
      socket.on('error', () => {})
      socket.on('data', (d) => socket.write(d))
    })
    await fin(reusing.listen(kp5), 'reusable JS server listen')
    const reuse = { reusableSocket: true, localConnection: false }
    const e1 = await cppConnect(cpp, client, kp5.publicKey, reuse)
    if (check(e1.event === 'connected' && e1.routeAdded && !e1.routeRetried, '(8) [reusable] the first connect opens and leaves a route', e1)) {
      const r1 = await cppEcho(cpp, e1.conn, 1024, WAIT_MS).catch((err) => ({ err: String(err) }))
      check(r1.back && r1.back.sha256 === r1.sent.sha256, '(8) [reusable] the first connect echoes', r1)
      const e2 = await cppConnect(cpp, client, kp5.publicKey, reuse)
      check(e2.event === 'connected' && e2.routeRetried && e2.routeUsed && e2.path === 'direct' && e2.attempts === 0,
        '(8) [reusable] the second connect goes through the route (no FIND_PEER attempt)', e2)
      if (e2.event === 'connected') {
        const r2 = await cppEcho(cpp, e2.conn, 1024, WAIT_MS).catch((err) => ({ err: String(err) }))
        check(r2.back && r2.back.sha256 === r2.sent.sha256, '(8) [reusable] the second connect echoes', r2)
      }
      const e3 = await cppConnect(cpp, client, kp5.publicKey, { localConnection: false })
      check(e3.event === 'connected' && !e3.routeRetried, '(8) a connect without reusableSocket opens the usual way', e3)
      if (e2.event === 'connected' && e3.event === 'connected') {
        console.log(`# route: C++ client -> JS server, second connect with a route ${e2.openMs.toFixed(1)} ms, without (holepunch) ${e3.openMs.toFixed(1)} ms`)
      }
      for (const e of [e1, e2, e3]) if (e.event === 'connected') await cppDestroy(cpp, e.conn)
    }

    await fin(Promise.all([server.close(), rejecting.close(), closing.close(), reusing.close()]), 'JS servers close')
  } finally {
    await Promise.allSettled(dhts.map((d) => withTimeout(d.destroy(), 10000, 'JS destroy')))
    await cpp.close()
  }
}

checks.run(main)
