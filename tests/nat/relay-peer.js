'use strict'
// The NAT lab's relayThrough roles (tests/nat/nat-matrix.sh, the random:random-via-relay row).
// One process per role; JS ends run hyperdht 6.34 themselves, C++ ends drive
// tests/interop/client_peer or server_peer over their JSON lines.
//   node relay-peer.js --role relay [--impl js|cpp] --bootstrap H:P [--host H] [--peer BIN]
//       a blind relay on a public, persistent node: JS (blind-relay's Server on a hyperdht
//       server, as its README) or C++ (server_peer's BlindRelayService); prints
//       {"ready":true,"publicKey":HEX}
//   node relay-peer.js --role server --impl js|cpp --bootstrap H:P --relay-through HEX [--peer BIN]
//       an echo server with relayThrough; prints {"ready":true,"publicKey":HEX}
//   node relay-peer.js --role client --impl js|cpp --bootstrap H:P --key HEX --relay-through HEX
//        [--peer BIN] [--timeout S]
//       one connect with relayThrough, 64 KiB echoed; prints {"ok":true,"ms":..} or
//       {"ok":false,"error":CODE}
// Every wait is bounded; servers and the relay run until SIGTERM.
const path = require('path')
const crypto = require('crypto')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', 'interop')
const HyperDHT = require(path.join(interop, 'node_modules', 'hyperdht'))
const { Server: BlindRelayServer } = require(path.join(interop, 'node_modules', 'blind-relay'))
const { CppPeer, withTimeout } = require(path.join(interop, 'lib', 'peer'))
const { opened, echo, sha256 } = require(path.join(interop, 'lib', 'sockets'))

const args = process.argv.slice(2)
const argOf = (name, def = null) => { const i = args.indexOf(name); return i === -1 ? def : args[i + 1] }
const role = argOf('--role')
const impl = argOf('--impl', 'js')
const bootstrapArg = argOf('--bootstrap')
const host = argOf('--host', '0.0.0.0')
const relayThrough = argOf('--relay-through')
const key = argOf('--key')
const peerBin = argOf('--peer')
const timeoutMs = Number(argOf('--timeout', 90)) * 1000
const ECHO_BYTES = 65536

const bootstrap = bootstrapArg.split(',').map((hp) => {
  const i = hp.lastIndexOf(':')
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
})
const print = (o) => console.log(JSON.stringify(o))

function onTerm (fn) {
  const stop = () => Promise.resolve(fn()).finally(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

// The relay is a public host: reachable directly (firewall OPEN in its handshakes), as a relay
// must be for peers behind random NATs.
async function jsNode (opts = {}) {
  const dht = new HyperDHT({ bootstrap, host, ...opts })
  await withTimeout(dht.fullyBootstrapped(), 30000, 'bootstrap')
  return dht
}

async function relay () {
  if (impl === 'cpp') {
    // BlindRelayService on a persistent, public C++ node (server_peer's "relay" command).
    const peer = new CppPeer(peerBin, { name: 'server_peer' })
    await peer.call({ op: 'start', nodes: 1, bootstrap: bootstrapArg, host, ephemeral: false, firewalled: false }, 'started', 'start', 60000)
    const ev = await peer.call({ op: 'relay', node: 0, seed: crypto.randomBytes(32).toString('hex') }, 'relay', 'relay', 60000)
    if (ev.error) throw new Error('relay listen: ' + ev.error)
    print({ ready: true, publicKey: ev.publicKey })
    onTerm(() => peer.close())
    return
  }
  const dht = await jsNode({ ephemeral: false, firewalled: false })
  const r = new BlindRelayServer({ createStream: (o) => dht.createRawStream(o) })
  const server = dht.createServer((s) => {
    s.on('error', () => {})
    r.accept(s, { id: s.remotePublicKey }).on('error', () => {})
  })
  const kp = HyperDHT.keyPair(crypto.randomBytes(32))
  await withTimeout(server.listen(kp), 30000, 'listen')
  print({ ready: true, publicKey: kp.publicKey.toString('hex') })
  onTerm(() => dht.destroy())
}

async function cppStart (peer) {
  await peer.call({ op: 'start', nodes: 1, bootstrap: bootstrapArg, host, ephemeral: true }, 'started', 'start', 60000)
}

async function server () {
  if (impl === 'js') {
    const dht = await jsNode()
    const s = dht.createServer({ relayThrough: Buffer.from(relayThrough, 'hex') }, (socket) => {
      socket.on('error', () => {})
      socket.on('data', (d) => socket.write(d))
      socket.on('end', () => socket.end())
    })
    const kp = HyperDHT.keyPair(crypto.randomBytes(32))
    await withTimeout(s.listen(kp), 30000, 'listen')
    print({ ready: true, publicKey: kp.publicKey.toString('hex') })
    onTerm(() => dht.destroy())
    return
  }
  const peer = new CppPeer(peerBin, { name: 'server_peer' })
  await cppStart(peer)
  const ev = await peer.call({ op: 'listen', node: 0, seed: crypto.randomBytes(32).toString('hex'), relayThrough }, 'listen', 'listen', 60000)
  if (ev.error) throw new Error('listen: ' + ev.error)
  print({ ready: true, publicKey: ev.publicKey })
  onTerm(() => peer.close())
}

async function client () {
  const t0 = Date.now()
  if (impl === 'js') {
    const dht = await jsNode()
    const socket = dht.connect(Buffer.from(key, 'hex'), { relayThrough: Buffer.from(relayThrough, 'hex') })
    socket.on('error', () => {})
    try {
      await withTimeout(opened(socket), timeoutMs, 'connect')
      const data = crypto.randomBytes(ECHO_BYTES)
      const back = await withTimeout(echo(socket, data), 30000, 'echo')
      const good = sha256(back.subarray(0, ECHO_BYTES)) === sha256(data)
      print(good ? { ok: true, ms: Date.now() - t0 } : { ok: false, error: 'ECHO_MISMATCH' })
    } catch (err) {
      print({ ok: false, error: err.code || String(err.message || err) })
    }
    socket.destroy()
    await dht.destroy()
    return
  }
  const peer = new CppPeer(peerBin, { name: 'client_peer' })
  try {
    await cppStart(peer)
    peer.send({ op: 'connect', node: 0, conn: 1, publicKey: key, opts: { relayThrough } })
    const ev = await peer.wait((e) => e.conn === 1 && (e.event === 'connected' || e.event === 'connect-error'), 'connect', timeoutMs)
    if (ev.event !== 'connected') {
      print({ ok: false, error: ev.code, cause: ev.cause })
      return
    }
    peer.send({ op: 'send', conn: 1, bytes: ECHO_BYTES, seed: 7 })
    const [sent, back] = await Promise.all([
      peer.wait((e) => e.conn === 1 && e.event === 'sent', 'send', 30000),
      peer.wait((e) => e.conn === 1 && e.event === 'received', 'echo', 30000)
    ])
    print(back.sha256 === sent.sha256 ? { ok: true, ms: Date.now() - t0, path: ev.path } : { ok: false, error: 'ECHO_MISMATCH' })
  } catch (err) {
    print({ ok: false, error: String(err.message || err) })
  } finally {
    await peer.close()
  }
}

const roles = { relay, server, client }
if (!roles[role] || !bootstrapArg || (role !== 'relay' && !relayThrough) || (role === 'client' && !key) ||
    (impl === 'cpp' && !peerBin)) {
  console.error('usage: see the header of tests/nat/relay-peer.js')
  process.exit(2)
}
roles[role]().catch((err) => {
  console.error(err && err.stack ? err.stack : err)
  print({ ok: false, error: String(err.message || err) })
  process.exit(1)
})
