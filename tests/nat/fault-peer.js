'use strict'
// The NAT lab's fault roles (tests/nat/nat-faults.sh): an echo server and a scripted client, JS
// (hyperdht 6.34 itself) or C++ (tests/interop/server_peer / client_peer over their JSON lines).
// One JSON line per event on stdout; every wait is bounded.
//   node fault-peer.js --role server --impl js|cpp --bootstrap H:P --seed HEX [--peer BIN]
//       an echo server on its own ephemeral node, key pair from --seed (the same key again
//       after a restart); prints {"ready":true,"publicKey":HEX,"pid":P} (P: the process that
//       holds the node, server_peer's for C++: the one to SIGKILL), then per connection
//       {"event":"conn-closed","bytes":B,"sha256":HEX|null,"error":CODE|null,"retransmits":n}
//       (C++: sha256 of what it received). Runs until SIGTERM, or until server_peer dies.
//   node fault-peer.js --role client --impl js|cpp --bootstrap H:P --key HEX [--peer BIN]
//        --steps transfer,kill,reconnect,hang [--bytes B] [--go FILE] [--end-timeout S]
//       the steps in order, on one node and one process throughout:
//       transfer   connect, echo B bytes (written at once, both ways concurrently), end;
//                  {"step":"transfer","ok":b,"openMs","ms","bytes","sent":HEX,"received":HEX,
//                   "retransmits":n,"error"?}
//       kill       connect, echo 256 KiB, then stream without end; prints {"step":"kill",
//                  "streaming":true,"t":epoch ms} (the script then SIGKILLs the server) and waits
//                  up to --end-timeout s for the stream to end: {"step":"kill","ended":b,
//                  "error":CODE|null,"t":epoch ms,"received":B}
//       reconnect  waits (90 s at most) for --go FILE to exist (the restarted server is
//                  announced), then connects until one succeeds (60 s at most) and runs a
//                  transfer: {"step":"reconnect","attempts":n,...as transfer}
//       hang       connect, echo 256 KiB, then stream without end; prints {"step":"hang",
//                  "streaming":true,"pid":P} (P: the process that holds the node, client_peer's
//                  for C++: the script SIGKILLs it) and waits (120 s at most)
const path = require('path')
const fs = require('fs')
const crypto = require('crypto')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', 'interop')
const HyperDHT = require(path.join(interop, 'node_modules', 'hyperdht'))
const { CppPeer, withTimeout, sleep } = require(path.join(interop, 'lib', 'peer'))
const { opened, sha256 } = require(path.join(interop, 'lib', 'sockets'))

const args = process.argv.slice(2)
const argOf = (name, def = null) => { const i = args.indexOf(name); return i === -1 ? def : args[i + 1] }
const role = argOf('--role')
const impl = argOf('--impl', 'js')
const bootstrapArg = argOf('--bootstrap')
const key = argOf('--key')
const seed = argOf('--seed')
const peerBin = argOf('--peer')
const steps = (argOf('--steps', 'transfer') || '').split(',')
const BYTES = Number(argOf('--bytes', 2 * 1048576))
const goFile = argOf('--go')
const endTimeoutMs = Number(argOf('--end-timeout', 60)) * 1000
const CONNECT_MS = 30000
const TRANSFER_MS = 120000
const PRIME = 262144

const bootstrap = bootstrapArg.split(',').map((hp) => {
  const i = hp.lastIndexOf(':')
  return { host: hp.slice(0, i), port: Number(hp.slice(i + 1)) }
})
const print = (o) => console.log(JSON.stringify({ t: Date.now(), ...o })) // t: epoch ms
const codeOf = (err) => err ? (err.code || String(err.message || err)) : null

// ---- JS ends ---------------------------------------------------------------------------------

async function jsNode () {
  const dht = new HyperDHT({ bootstrap, host: '0.0.0.0' })
  await withTimeout(dht.fullyBootstrapped(), 30000, 'bootstrap')
  return dht
}

async function jsServer () {
  const dht = await jsNode()
  const server = dht.createServer((socket) => {
    const h = crypto.createHash('sha256')
    let bytes = 0
    let error = null
    socket.on('error', (err) => { error = err })
    socket.on('data', (d) => {
      h.update(d)
      bytes += d.length
      if (!socket.write(d)) socket.pause()
    })
    socket.on('drain', () => socket.resume())
    socket.on('end', () => socket.end())
    socket.on('close', () => {
      print({ event: 'conn-closed', bytes, sha256: h.digest('hex'), error: codeOf(error), retransmits: socket.rawStream ? socket.rawStream.retransmits : null, t: Date.now() })
    })
  })
  await withTimeout(server.listen(HyperDHT.keyPair(Buffer.from(seed, 'hex'))), 30000, 'listen')
  print({ ready: true, publicKey: server.publicKey.toString('hex'), pid: process.pid })
  const stop = () => dht.destroy().finally(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

// A JS client's connection: open, echo, stream until it breaks.
class JsConn {
  static async open (dht) {
    const socket = dht.connect(Buffer.from(key, 'hex'))
    socket.on('error', () => {})
    const t0 = Date.now()
    try {
      await withTimeout(opened(socket), CONNECT_MS, 'connect')
    } catch (err) {
      socket.destroy()
      throw err
    }
    return new JsConn(socket, Date.now() - t0)
  }

  constructor (socket, openMs) {
    this.socket = socket
    this.openMs = openMs
    this.received = 0
    this.hash = null // of the bytes received during a transfer
    this.error = null
    this.onData = null
    socket.on('data', (d) => {
      this.received += d.length
      if (this.hash) this.hash.update(d)
      if (this.onData) this.onData()
    })
    this.closed = new Promise((resolve) => {
      socket.on('error', (err) => { this.error = err })
      socket.on('close', () => resolve(Date.now()))
    })
  }

  // Echoes `bytes` random bytes; resolves with the transfer's figures.
  async transfer (bytes) {
    const data = crypto.randomBytes(bytes)
    const t0 = Date.now()
    const want = this.received + bytes
    this.hash = crypto.createHash('sha256')
    const done = new Promise((resolve, reject) => {
      this.onData = () => { if (this.received >= want) resolve() }
      this.closed.then(() => reject(new Error(`closed after ${this.received} bytes: ${codeOf(this.error)}`)))
    })
    for (let off = 0; off < bytes; off += 65536) this.socket.write(data.subarray(off, off + 65536))
    await withTimeout(done, TRANSFER_MS, 'echo')
    this.onData = null
    const received = this.hash.digest('hex')
    this.hash = null
    return { ms: Date.now() - t0, bytes, sent: sha256(data), received, retransmits: this.socket.rawStream.retransmits }
  }

  // Writes without end (with back-pressure) until the stream closes.
  stream () {
    const block = crypto.randomBytes(65536)
    const pump = () => { while (!this.socket.destroyed && this.socket.write(block)); }
    this.socket.on('drain', pump)
    pump()
  }

  async end () {
    this.socket.end()
    await withTimeout(this.closed, 15000, 'close').catch(() => this.socket.destroy())
  }

  destroy () { this.socket.destroy() }
}

// ---- C++ ends (client_peer) ------------------------------------------------------------------

class CppConn {
  static async open (peer, conn) {
    const t0 = Date.now()
    peer.send({ op: 'connect', node: 0, conn, publicKey: key })
    const ev = await peer.wait((e) => e.conn === conn && (e.event === 'connected' || e.event === 'connect-error'), 'connect', CONNECT_MS)
    if (ev.event !== 'connected') {
      const err = new Error(ev.code)
      err.code = ev.code
      throw err
    }
    return new CppConn(peer, conn, Date.now() - t0)
  }

  constructor (peer, conn, openMs) {
    this.peer = peer
    this.conn = conn
    this.openMs = openMs
    this.closedEv = null
    this.closed = peer.wait((e) => e.conn === conn && e.event === 'closed', 'close', 3600000).then((ev) => {
      this.closedEv = ev
      return Date.now()
    })
  }

  async transfer (bytes) {
    const t0 = Date.now()
    this.peer.send({ op: 'send', conn: this.conn, bytes, seed: 1 + Math.floor(Math.random() * 1e9) })
    const broke = this.closed.then(() => { throw new Error(`closed: ${this.closedEv.error}`) })
    const [sent, back] = await withTimeout(Promise.race([broke, Promise.all([
      this.peer.wait((e) => e.conn === this.conn && e.event === 'sent', 'send', TRANSFER_MS),
      this.peer.wait((e) => e.conn === this.conn && e.event === 'received', 'echo', TRANSFER_MS)
    ])]), TRANSFER_MS, 'echo')
    return { ms: Date.now() - t0, bytes, sent: sent.sha256, received: back.sha256, retransmits: back.retransmits }
  }

  stream () {
    this.peer.send({ op: 'send', conn: this.conn, bytes: 1 << 30, seed: 3 })
  }

  get received () { return this.closedEv ? this.closedEv.received : null }
  get error () { return this.closedEv ? this.closedEv.error || null : null }

  async end () {
    this.peer.send({ op: 'end', conn: this.conn })
    await withTimeout(this.closed, 15000, 'close').catch(() => this.peer.send({ op: 'destroy', conn: this.conn }))
  }

  destroy () { this.peer.send({ op: 'destroy', conn: this.conn }) }
}

async function cppServer () {
  const peer = new CppPeer(peerBin, { name: 'server_peer' })
  peer.proc.on('exit', (code, signal) => {
    print({ event: 'exit', code, signal })
    process.exit(0)
  })
  await peer.call({ op: 'start', nodes: 1, bootstrap: bootstrapArg, host: '0.0.0.0', ephemeral: true }, 'started', 'start', 60000)
  const ev = await peer.call({ op: 'listen', node: 0, seed }, 'listen', 'listen', 60000)
  if (ev.error) throw new Error('listen: ' + ev.error)
  print({ ready: true, publicKey: ev.publicKey, pid: peer.proc.pid })
  const forward = () => {
    peer.wait((e) => e.event === 'conn-closed', 'conn-closed', 3600000).then((e) => {
      print({ event: 'conn-closed', bytes: e.bytes, sha256: e.sha256 || null, error: e.error, retransmits: e.retransmits, t: Date.now() })
      forward()
    }, () => {})
  }
  forward()
  const stop = () => peer.close().finally(() => process.exit(0))
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
}

// ---- the client's steps ----------------------------------------------------------------------

async function client () {
  let dht = null
  let peer = null
  let nextConn = 1
  if (impl === 'js') {
    dht = await jsNode()
  } else {
    peer = new CppPeer(peerBin, { name: 'client_peer' })
    await peer.call({ op: 'start', nodes: 1, bootstrap: bootstrapArg, host: '0.0.0.0', ephemeral: true }, 'started', 'start', 60000)
  }
  const open = () => impl === 'js' ? JsConn.open(dht) : CppConn.open(peer, nextConn++)

  async function transfer (step, extra = {}) {
    let c = null
    try {
      c = await open()
      const r = await c.transfer(BYTES)
      await c.end()
      print({ step, ok: r.sent === r.received, openMs: c.openMs, ...r, ...extra })
    } catch (err) {
      if (c) c.destroy()
      print({ step, ok: false, error: codeOf(err), ...extra })
    }
  }

  for (const step of steps) {
    if (step === 'transfer') {
      await transfer('transfer')
    } else if (step === 'kill') {
      let c
      try {
        c = await open()
        await c.transfer(PRIME)
      } catch (err) {
        if (c) c.destroy()
        print({ step, ended: false, error: 'NOT_STREAMING: ' + codeOf(err) })
        continue
      }
      c.stream()
      print({ step, streaming: true, t: Date.now() })
      let t = null
      try {
        t = await withTimeout(c.closed, endTimeoutMs, 'the stream to end')
      } catch {}
      if (t === null) {
        print({ step, ended: false, error: null, received: c.received })
        c.destroy()
      } else {
        print({ step, ended: true, error: codeOf(c.error), t, received: c.received })
      }
    } else if (step === 'hang') {
      let c
      try {
        c = await open()
        await c.transfer(PRIME)
      } catch (err) {
        if (c) c.destroy()
        print({ step, streaming: false, error: codeOf(err) })
        continue
      }
      c.stream()
      print({ step, streaming: true, pid: impl === 'js' ? process.pid : peer.proc.pid })
      await sleep(120000)
    } else if (step === 'reconnect') {
      const until = Date.now() + 90000
      while (!fs.existsSync(goFile) && Date.now() < until) await sleep(200)
      const deadline = Date.now() + 60000
      let attempts = 0
      let c = null
      let lastErr = null
      while (!c && Date.now() < deadline) {
        attempts++
        try {
          c = await open()
        } catch (err) {
          lastErr = err
          await sleep(1000)
        }
      }
      if (!c) {
        print({ step, ok: false, attempts, error: codeOf(lastErr) })
        continue
      }
      try {
        const r = await c.transfer(BYTES)
        await c.end()
        print({ step, ok: r.sent === r.received, attempts, openMs: c.openMs, ...r })
      } catch (err) {
        c.destroy()
        print({ step, ok: false, attempts, error: codeOf(err) })
      }
    }
  }
  if (dht) await withTimeout(dht.destroy(), 10000, 'destroy').catch(() => {})
  if (peer) await peer.close()
}

const roles = { server: impl === 'js' ? jsServer : cppServer, client }
if (!roles[role] || !bootstrapArg || (role === 'client' && !key) || (role === 'server' && !seed) ||
    (impl === 'cpp' && !peerBin)) {
  console.error('usage: see the header of tests/nat/fault-peer.js')
  process.exit(2)
}
roles[role]().then(() => { if (role === 'client') process.exit(0) }, (err) => {
  console.error(err && err.stack ? err.stack : err)
  print({ ok: false, error: String(err.message || err) })
  process.exit(1)
})
