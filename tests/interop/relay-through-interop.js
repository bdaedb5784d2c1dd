#!/usr/bin/env node
'use strict'
// relayThrough (blind relay as a connection path) between the C++ implementation and JS
// hyperdht 6.34, both directions, on loopback.
//   node relay-through-interop.js --client PATH/client_peer --server PATH/server_peer [--mib N]
// A loopback testnet (C++ bootstrapper and persistent nodes from server_peer, two persistent JS
// nodes) and two blind relays: a JS hyperdht server running blind-relay's Server (as its README)
// and a C++ BlindRelayService on a persistent C++ node.
// Holepunching is off on both sides (client: the holepunch veto and no LAN shortcut; server:
// holepunch false / never_punch and no shared local address), so the relay is the only path.
// For each relay and relayThrough on the client only, the server only and both:
//   C++ client -> JS server: opens with path "relay", N MiB echoed (SHA-256);
//   JS client -> C++ server: opens, N MiB echoed, the C++ server counts a relay pairing.
// Without relayThrough the C++ client ends with HOLEPUNCH_ABORTED (what a JS client gets).
// "ok/FAIL <name>" per check, "N passed, N failed" last; every wait is bounded.
const crypto = require('crypto')
const HyperDHT = require('hyperdht')
const { Server: BlindRelayServer } = require('blind-relay')
const { CppPeer, withTimeout } = require('./lib/peer')
const { sha256, opened, connectError, echo } = require('./lib/sockets')
const { Checks } = require('./lib/checks')
const { startMixedTestnet } = require('./lib/mixed-testnet')

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const CONNECT_MS = 40000
const CPP_NODES = 5
const JS_NODES = 2

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const CLIENT = argOf('--client')
const SERVER = argOf('--server')
const MIB = Number(argOf('--mib') || 4)
if (!CLIENT || !SERVER) {
  console.error('usage: relay-through-interop.js --client PATH/client_peer --server PATH/server_peer [--mib N]')
  process.exit(2)
}

const checks = new Checks()
const check = checks.check.bind(checks)

const fin = (p, what, ms = WAIT_MS) => withTimeout(p, ms, what)
const seed = (n) => Buffer.alloc(32, n)
const noPunch = () => false
let nextConn = 1

async function cppConnect (cpp, node, publicKey, opts) {
  const conn = nextConn++
  cpp.send({ op: 'connect', seq: ++cpp.seq, node, conn, publicKey: publicKey.toString('hex'), opts })
  return cpp.wait((e) => e.conn === conn && (e.event === 'connected' || e.event === 'connect-error'),
    'C++ connect', CONNECT_MS)
}

async function cppEcho (cpp, conn, bytes) {
  cpp.send({ op: 'send', seq: ++cpp.seq, conn, bytes, seed: conn * 7919 })
  const [sent, back] = await Promise.all([
    cpp.wait((e) => e.conn === conn && e.event === 'sent', 'C++ send', 60000),
    cpp.wait((e) => e.conn === conn && e.event === 'received', 'C++ receive the echo', 60000)
  ])
  return { sent, back }
}

async function main () {
  const cli = new CppPeer(CLIENT, { waitMs: WAIT_MS, name: 'client_peer' })
  const srv = new CppPeer(SERVER, { waitMs: WAIT_MS, name: 'server_peer' })
  const dhts = []
  try {
    const { bootstrap, bport, persistent } = await startMixedTestnet(srv, dhts, { host: HOST, cppNodes: CPP_NODES, jsNodes: JS_NODES, waitMs: WAIT_MS })
    if (!check(persistent, 'C++ bootstrapper and nodes persistent')) return
    // Firewalled, ephemeral endpoints on both sides, as users behind NATs.
    const cppClient = (await cli.call({ op: 'start', nodes: 1, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: true, quickFirewall: false }, 'started', 'C++ client node', 30000)).nodes[0]
    const cppServerNode = (await srv.call({ op: 'start', nodes: 1, bootstrap: `${HOST}:${bport}`, host: HOST, ephemeral: true, quick_firewall: false }, 'started', 'C++ server node', 30000)).nodes[0]
    const endpoint = () => {
      const d = new HyperDHT({ bootstrap, host: HOST, ephemeral: true, quickFirewall: false })
      dhts.push(d)
      return d
    }
    const relayDht = endpoint()
    const serverDht = endpoint()
    const clientDht = endpoint()
    await fin(Promise.all(dhts.map((d) => d.fullyBootstrapped())), 'JS endpoints bootstrap')

    // The JS blind relay (blind-relay's README).
    const jsRelay = new BlindRelayServer({ createStream: (o) => relayDht.createRawStream(o) })
    const relayServer = relayDht.createServer((s) => {
      s.on('error', () => {})
      // A relayed stream's peer resetting it surfaces as a session error: expected, not fatal.
      jsRelay.accept(s, { id: s.remotePublicKey }).on('error', () => {})
    })
    const jsRelayKp = HyperDHT.keyPair(seed(9))
    await fin(relayServer.listen(jsRelayKp), 'JS relay listen')
    // The C++ blind relay (BlindRelayService) on a persistent C++ node.
    const cppRelayEv = await srv.call({ op: 'relay', node: 1, seed: seed(10).toString('hex') }, 'relay', 'C++ relay listen', 30000)
    check(cppRelayEv.error === null, 'the C++ relay listens', cppRelayEv)
    const relays = [['JS relay', jsRelayKp.publicKey], ['C++ relay', Buffer.from(cppRelayEv.publicKey, 'hex')]]

    // JS echo servers (punching off), with and without their own relayThrough.
    const jsServer = async (n, relayThrough) => {
      const kp = HyperDHT.keyPair(seed(n))
      const s = serverDht.createServer({ holepunch: false, shareLocalAddress: false, relayThrough }, (socket) => {
        socket.on('error', () => {})
        socket.on('data', (d) => socket.write(d))
        socket.on('end', () => socket.end())
      })
      await fin(s.listen(kp), 'JS server listen')
      return { kp, s }
    }
    const cppServer = async (n, relayThrough) => {
      const opts = { op: 'listen', node: cppServerNode, seed: seed(n).toString('hex'), never_punch: true }
      if (relayThrough) opts.relayThrough = relayThrough
      const ev = await srv.call(opts, 'listen', 'C++ server listen', 30000)
      return { publicKey: Buffer.from(ev.publicKey, 'hex'), server: ev.server }
    }

    const bytes = MIB << 20
    // C++ client -> JS server
    const cppToJs = async (label, relayKey, clientRelay, serverRelay, n) => {
      const { kp, s } = await jsServer(n, serverRelay ? relayKey : null)
      const opts = { localConnection: false, holepunch: false }
      if (clientRelay) opts.relayThrough = relayKey.toString('hex')
      const ev = await cppConnect(cli, cppClient, kp.publicKey, opts)
      if (check(ev.event === 'connected' && ev.path === 'relay', `[C++ -> JS, ${label}] opens through the relay`, ev)) {
        const r = await cppEcho(cli, ev.conn, bytes).catch((err) => ({ err: String(err) }))
        check(r.back && r.back.bytes === bytes && r.back.sha256 === r.sent.sha256,
          `[C++ -> JS, ${label}] ${MIB} MiB echoed (SHA-256)`, r.back ? { sent: r.sent, back: r.back } : r)
        await cli.call({ op: 'destroy', conn: ev.conn }, 'ok').catch(() => {})
      }
      await fin(s.close(), 'JS server close')
    }
    // JS client -> C++ server
    const jsToCpp = async (label, relayKey, clientRelay, serverRelay, n) => {
      const { publicKey, server } = await cppServer(n, serverRelay ? relayKey.toString('hex') : null)
      const socket = clientDht.connect(publicKey, { localConnection: false, holepunch: noPunch, relayThrough: clientRelay ? relayKey : null })
      socket.on('error', () => {})
      const open = await fin(opened(socket), 'JS connect', CONNECT_MS).catch((err) => err)
      if (check(open === socket, `[JS -> C++, ${label}] opens`, String(open && open.code))) {
        const data = crypto.randomBytes(bytes)
        const back = await fin(echo(socket, data), 'JS echo', 60000).catch((err) => err)
        check(Buffer.isBuffer(back) && sha256(back.subarray(0, bytes)) === sha256(data),
          `[JS -> C++, ${label}] ${MIB} MiB echoed (SHA-256)`, Buffer.isBuffer(back) ? back.length : String(back))
        const st = await srv.call({ op: 'stats', server }, 'stats')
        check(st.relay_successes === 1 && st.connections === 1,
          `[JS -> C++, ${label}] the C++ server paired through the relay`, st)
      }
      socket.destroy()
      await srv.call({ op: 'close', server }, 'closed', 'C++ server close', 30000)
    }

    const cases = [['client relayThrough', true, false], ['server relayThrough', false, true], ['both', true, true]]
    let n = 20
    for (const [relayName, relayKey] of relays) {
      for (const [label, c, s] of cases) await cppToJs(`${relayName}, ${label}`, relayKey, c, s, n++)
      for (const [label, c, s] of cases) await jsToCpp(`${relayName}, ${label}`, relayKey, c, s, n++)
    }

    // No relay, no punch: the C++ client fails as a JS client does.
    const { kp, s } = await jsServer(n++, null)
    const ev = await cppConnect(cli, cppClient, kp.publicKey, { localConnection: false, holepunch: false })
    const jsErr = await connectError(clientDht.connect(kp.publicKey, { localConnection: false, holepunch: noPunch }), 'JS connect', CONNECT_MS)
    check(ev.event === 'connect-error' && ev.code === 'HOLEPUNCH_ABORTED' && jsErr && jsErr.code === ev.code,
      'no relay: HOLEPUNCH_ABORTED, as the JS client', { cpp: ev, js: jsErr && jsErr.code })
    await fin(s.close(), 'JS server close')
    await fin(relayServer.close(), 'JS relay close')
  } finally {
    await Promise.allSettled(dhts.map((d) => withTimeout(d.destroy(), 10000, 'JS destroy')))
    await Promise.allSettled([cli.close(), srv.close()])
  }
}

checks.run(main)
