#!/usr/bin/env node
'use strict'
// The C++ hyperdht Server (core/hyperdht_server.hpp) with the pinned JS hyperdht 6.34 as client.
//   node server-interop.js --peer PATH/server_peer [--big]
// A mixed loopback testnet: a C++ bootstrapper, CPP_NODES persistent C++ nodes, JS_NODES
// persistent JS nodes, and as endpoints a firewalled, ephemeral C++ node running the servers
// (tests/interop/server_peer.cpp) and firewalled, ephemeral JS nodes (client, and a JS server for
// the reference's answers). Checks, each printed as "ok/FAIL <name>":
//   (1) dht.connect(publicKey) with default options (on loopback: the LAN shortcut raced with the
//       holepunch) and (2) with localConnection: false (the holepunch) open and echo 32 MiB
//       (8 MiB without --big) with SHA-256 checked; the keys and handshake hash agree on both
//       sides;
//   (3) a C++ server whose firewall rejects gives the JS client the same error as a JS server
//       whose firewall rejects (PEER_CONNECTION_FAILED);
//   (4) after close, connecting fails as it does for a closed JS server (same code), and the
//       close unannounced (findPeer finds nothing);
//   (5) 50 sequential and 16 concurrent connects all open and echo;
//   (6) dht.findPeer(publicKey) sees the C++ server's record;
//   (7) reusable-socket routes: a JS client with reusableSocket connects twice (holepunch) to a
//       C++ server with reusable_socket: after the first, both sides hold a route (the JS
//       client's dht._socketPool.routes, the C++ node's status), the second goes straight to
//       the server on it (a direct handshake on the C++ side) and echoes; its open time is
//       printed next to a connect without reusableSocket.
// Every wait is bounded; timings are printed; "N passed, N failed" last; exit 1 on any failure.
const crypto = require('crypto')
const HyperDHT = require('hyperdht')
const { CppPeer, withTimeout, until } = require('./lib/peer')
const sockets = require('./lib/sockets')
const { Checks } = require('./lib/checks')
const { sha256, freePort, opened, echo } = sockets

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const CONNECT_MS = 60000
const CPP_NODES = 6
const JS_NODES = 2

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
if (!PEER) { console.error('usage: server-interop.js --peer PATH/server_peer [--big]'); process.exit(2) }
const ECHO_BYTES = (args.includes('--big') ? 32 : 8) << 20

const checks = new Checks()
const check = checks.check.bind(checks)

const fin = (p, what, ms = WAIT_MS) => withTimeout(p, ms, what)
const seed = (n) => Buffer.alloc(32, n)
// connectError with this test's connect limit.
const connectError = (socket, what) => sockets.connectError(socket, what, CONNECT_MS)

async function main () {
  const cpp = new CppPeer(PEER, { waitMs: WAIT_MS, name: 'server_peer' })
  const dhts = []
  try {
    const t0 = Date.now()
    const bport = await freePort()
    await cpp.call({ op: 'start', nodes: 1, bootstrapper: bport, host: HOST }, 'started', 'C++ bootstrapper', 30000)
    const bootstrap = [{ host: HOST, port: bport }]
    await cpp.call({ op: 'start', nodes: CPP_NODES, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: false, firewalled: false }, 'started', 'C++ nodes', 90000)
    for (let i = 0; i < JS_NODES; i++) {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: false, firewalled: false })
      dhts.push(d)
      await fin(d.fullyBootstrapped(), 'JS node bootstrap')
    }
    // The C++ server's node: a firewalled, ephemeral endpoint like the JS ones.
    const started = await cpp.call({ op: 'start', nodes: 1, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: true, firewalled: true, quick_firewall: false }, 'started', 'C++ server node', 60000)
    const serverNode = started.nodes[0]
    const endpoint = () => {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: true, quickFirewall: false })
      dhts.push(d)
      return d
    }
    const clientDht = endpoint()
    const jsServerDht = endpoint()
    await fin(Promise.all([clientDht.fullyBootstrapped(), jsServerDht.fullyBootstrapped()]), 'JS endpoints bootstrap')
    const st = (await cpp.call({ op: 'status' }, 'status')).nodes
    check(st[serverNode].firewalled && !st[serverNode].id, 'the C++ server node is firewalled and ephemeral', st[serverNode])
    console.log(`# testnet up in ${Date.now() - t0} ms`)

    // --- listen --- (with the default per-host handshake limit: every client here is 127.0.0.1,
    // and the 66 connects of (5) stay within its burst of 256)
    let t = Date.now()
    const ls = await cpp.call({ op: 'listen', node: serverNode, seed: seed(1).toString('hex') }, 'listen', 'C++ listen', 60000)
    check(ls.error === null, `C++ server listens (${Date.now() - t} ms)`, ls)
    const publicKey = Buffer.from(ls.publicKey, 'hex')
    check(publicKey.equals(HyperDHT.keyPair(seed(1)).publicKey), 'the C++ server key is DHT.keyPair(seed)')
    check(ls.relayAddresses.length > 0, 'the C++ server has relay addresses', ls.relayAddresses)

    // (6) findPeer sees the record
    t = Date.now()
    const found = []
    for await (const r of clientDht.findPeer(publicKey)) found.push(r)
    check(found.length > 0 && found.every((r) => r.peer.publicKey.equals(publicKey)),
      `(6) JS findPeer sees the C++ server's record (${found.length} nodes, ${Date.now() - t} ms)`, found.length)

    // (1), (2): a big echo and the same keys on both sides
    const connectAndEcho = async (opts, label) => {
      const t1 = Date.now()
      const socket = clientDht.connect(publicKey, opts)
      socket.on('error', () => {})
      let open = null
      try {
        open = await fin(opened(socket), `connect (${label})`, CONNECT_MS)
      } catch (err) {
        check(false, `[${label}] the JS client connects to the C++ server`, String(err))
        socket.destroy()
        return
      }
      check(true, `[${label}] the JS client connects to the C++ server (${Date.now() - t1} ms)`)
      const conn = await cpp.wait((e) => e.event === 'connection' && e.remotePublicKey === open.publicKey.toString('hex'), 'C++ connection event')
      check(conn.publicKey === open.remotePublicKey.toString('hex') &&
        conn.remotePublicKey === open.publicKey.toString('hex') &&
        conn.handshakeHash === open.handshakeHash.toString('hex'),
      `[${label}] publicKey, remotePublicKey and handshakeHash agree on both sides`)
      const data = crypto.randomBytes(ECHO_BYTES)
      const t2 = Date.now()
      const back = await fin(echo(socket, data), `echo (${label})`, 120000).catch((err) => err)
      const ms = Date.now() - t2
      check(Buffer.isBuffer(back) && back.length === data.length && sha256(back) === sha256(data),
        `[${label}] ${ECHO_BYTES >> 20} MiB echoed intact (SHA-256) in ${ms} ms (${(2 * ECHO_BYTES / 1048576 / (ms / 1000)).toFixed(1)} MiB/s both ways)`,
        Buffer.isBuffer(back) ? back.length : String(back))
      const raw = socket.rawStream
      const onDhtSocket = raw && raw.socket === clientDht.io.serverSocket
      console.log(`# [${label}] client stream on the ${onDhtSocket ? 'dht socket (LAN shortcut)' : 'punch socket (holepunch)'}`)
      socket.destroy()
    }
    await connectAndEcho({}, 'default: LAN shortcut raced with holepunch')
    await connectAndEcho({ localConnection: false }, 'localConnection: false (holepunch)')

    // (3) firewall rejection, C++ vs JS
    const rej = await cpp.call({ op: 'listen', node: serverNode, seed: seed(3).toString('hex'), reject: true }, 'listen', 'C++ rejecting listen', 60000)
    check(rej.error === null, 'rejecting C++ server listens')
    const kpJsRej = HyperDHT.keyPair(seed(13))
    const jsRejecting = jsServerDht.createServer({ firewall: () => true }, () => {})
    await fin(jsRejecting.listen(kpJsRej), 'rejecting JS server listen')
    t = Date.now()
    const errCpp = await connectError(clientDht.connect(Buffer.from(rej.publicKey, 'hex')), 'connect to rejecting C++ server')
    const tCpp = Date.now() - t
    t = Date.now()
    const errJs = await connectError(clientDht.connect(kpJsRej.publicKey), 'connect to rejecting JS server')
    const tJs = Date.now() - t
    console.log(`# rejected: C++ server ${errCpp && errCpp.code} in ${tCpp} ms, JS server ${errJs && errJs.code} in ${tJs} ms`)
    check(errCpp && errJs && errCpp.code === errJs.code && errCpp.code === 'PEER_CONNECTION_FAILED',
      '(3) a rejecting C++ server fails the connect as a rejecting JS server does (PEER_CONNECTION_FAILED)',
      { cpp: errCpp && errCpp.code, js: errJs && errJs.code })
    const rs = await cpp.call({ op: 'stats', server: rej.server }, 'stats')
    check(rs.firewall_rejected > 0 && rs.connections === 0, 'the C++ firewall was asked and rejected', rs)

    // (4) after close, C++ vs JS
    const cl = await cpp.call({ op: 'listen', node: serverNode, seed: seed(4).toString('hex') }, 'listen', 'C++ listen (to close)', 60000)
    const kpJsCl = HyperDHT.keyPair(seed(14))
    const jsClosing = jsServerDht.createServer(() => {})
    await fin(jsClosing.listen(kpJsCl), 'JS listen (to close)')
    t = Date.now()
    const closed = await cpp.call({ op: 'close', server: cl.server }, 'closed', 'C++ close', 30000)
    check(closed.on_close, `C++ server close completes with on_close (${Date.now() - t} ms)`)
    await fin(jsClosing.close(), 'JS close')
    const foundAfter = []
    for await (const r of clientDht.findPeer(Buffer.from(cl.publicKey, 'hex'))) foundAfter.push(r)
    check(foundAfter.length === 0, 'the close unannounced: findPeer finds no record', foundAfter.length)
    t = Date.now()
    const errClosedCpp = await connectError(clientDht.connect(Buffer.from(cl.publicKey, 'hex')), 'connect to a closed C++ server')
    const tc = Date.now() - t
    t = Date.now()
    const errClosedJs = await connectError(clientDht.connect(kpJsCl.publicKey), 'connect to a closed JS server')
    console.log(`# closed: C++ server ${errClosedCpp && errClosedCpp.code} in ${tc} ms, JS server ${errClosedJs && errClosedJs.code} in ${Date.now() - t} ms`)
    check(errClosedCpp && errClosedJs && errClosedCpp.code === errClosedJs.code,
      `(4) a closed C++ server fails the connect as a closed JS server does (${errClosedJs && errClosedJs.code})`,
      { cpp: errClosedCpp && errClosedCpp.code, js: errClosedJs && errClosedJs.code })

    // (5) many connects
    const small = async (opts) => {
      const socket = clientDht.connect(publicKey, opts)
      socket.on('error', () => {})
      try {
        await fin(opened(socket), 'connect', CONNECT_MS)
        const data = crypto.randomBytes(64)
        const back = await fin(echo(socket, data), 'small echo', 20000)
        return back.equals(data)
      } catch (err) {
        return String(err)
      } finally {
        socket.destroy()
      }
    }
    t = Date.now()
    let okSeq = 0
    const seqErrors = []
    for (let i = 0; i < 50; i++) {
      const r = await small(i % 2 ? { localConnection: false } : {})
      if (r === true) okSeq++
      else seqErrors.push(r)
    }
    check(okSeq === 50, `(5) 50 sequential connects open and echo (${Date.now() - t} ms)`, { okSeq, seqErrors: seqErrors.slice(0, 3) })
    t = Date.now()
    const conc = await Promise.all(Array.from({ length: 16 }, (_, i) => small(i % 2 ? { localConnection: false } : {})))
    const okConc = conc.filter((r) => r === true).length
    check(okConc === 16, `(5) 16 concurrent connects open and echo (${Date.now() - t} ms)`, { okConc, errors: conc.filter((r) => r !== true).slice(0, 3) })

    const ss = await until(async () => {
      const s = await cpp.call({ op: 'stats', server: ls.server }, 'stats')
      return s.open === 0 ? s : null
    }, 10000) || await cpp.call({ op: 'stats', server: ls.server }, 'stats')
    console.log('# C++ server stats: ' + JSON.stringify(ss))
    check(ss.connections >= 68 && ss.open === 0, 'the C++ server counted the connections and closed them all', ss)
    // (7) reusable-socket routes
    const ru = await cpp.call({ op: 'listen', node: serverNode, seed: seed(7).toString('hex'), reusableSocket: true }, 'listen', 'C++ reusable listen', 60000)
    check(ru.error === null, 'reusable C++ server listens', ru)
    const ruKey = Buffer.from(ru.publicKey, 'hex')
    const timedConnect = async (opts, label) => {
      const t1 = Date.now()
      const socket = clientDht.connect(ruKey, opts)
      socket.on('error', () => {})
      try {
        await fin(opened(socket), `connect (${label})`, CONNECT_MS)
        const data = crypto.randomBytes(1024)
        const back = await fin(echo(socket, data), `echo (${label})`, 20000)
        return { socket, ok: back.equals(data), ms: Date.now() - t1 }
      } catch (err) {
        socket.destroy()
        return { socket: null, ok: false, err: String(err) }
      }
    }
    const reuse = { reusableSocket: true, localConnection: false }
    const r1 = await timedConnect(reuse, 'reusable, first')
    check(r1.ok, `(7) [reusable] the first connect opens and echoes (${r1.ms} ms)`, r1.err)
    const jsRoute = clientDht._socketPool.routes.get(ruKey)
    check(!!jsRoute, '(7) [reusable] the JS client holds a route to the C++ server', jsRoute && jsRoute.address)
    const clientKeyHex = clientDht.defaultKeyPair.publicKey.toString('hex')
    const cppRoutes = (await cpp.call({ op: 'status' }, 'status')).nodes[serverNode].routes
    check(cppRoutes.some((r) => r.publicKey === clientKeyHex), '(7) [reusable] the C++ server node holds a route to the JS client', cppRoutes)
    const before = await cpp.call({ op: 'stats', server: ru.server }, 'stats')
    const r2 = await timedConnect(reuse, 'reusable, second')
    check(r2.ok, `(7) [reusable] the second connect opens and echoes (${r2.ms} ms)`, r2.err)
    const after = await cpp.call({ op: 'stats', server: ru.server }, 'stats')
    check(after.direct_handshakes === before.direct_handshakes + 1 && after.routes_added >= 1,
      '(7) [reusable] the second handshake came straight through the route', { before, after })
    const r3 = await timedConnect({ localConnection: false }, 'not reusable')
    check(r3.ok, `(7) a connect without reusableSocket still opens (${r3.ms} ms)`, r3.err)
    console.log(`# route: JS client -> C++ server, second connect with a route ${r2.ms} ms, without (holepunch) ${r3.ms} ms`)
    for (const r of [r1, r2, r3]) if (r.socket) r.socket.destroy()

    console.log(`# total ${Date.now() - t0} ms`)
    await fin(jsRejecting.close(), 'JS rejecting close')
  } finally {
    await Promise.allSettled(dhts.map((d) => withTimeout(d.destroy(), 10000, 'JS destroy')))
    await cpp.close()
  }
}

checks.run(main)
