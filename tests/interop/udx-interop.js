#!/usr/bin/env node
'use strict'
// C++ UDX streams (core/udx_stream) against udx-native 1.21.3 on 127.0.0.1, both directions.
//   node udx-interop.js --peer PATH/udx_peer [--big]
// The C++ peer (tests/interop/udx_peer.cpp) speaks JSON lines on stdin/stdout. Checks: bulk
// transfer each way with SHA-256 compared on both ends (8 MiB; 64 MiB with --big), many small
// writes, END from either side with half-close, DESTROY mid-transfer from either side, unordered
// messages both ways, a C++ stream connected by its firewall hook on the first JS packet,
// changeRemote mid-transfer (C++ first / JS first). Every wait is bounded. Prints one line per
// check, "N passed, N failed" last.
const crypto = require('crypto')
const UDX = require('udx-native')
const { CppPeer, withTimeout, until } = require('./lib/peer')

const HOST = '127.0.0.1'
const WAIT_MS = 20000

const argv = process.argv.slice(2)
const peerBin = argv[argv.indexOf('--peer') + 1]
const BIG = argv.includes('--big')
const BULK = (BIG ? 64 : 8) * 1024 * 1024
if (argv.indexOf('--peer') === -1 || !peerBin) {
  console.error('usage: udx-interop.js --peer PATH [--big]')
  process.exit(2)
}

let passed = 0
let failed = 0
function check (name, ok, detail) {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail !== undefined ? ' ' + JSON.stringify(detail) : ''}`)
}

// udx_peer's request/answer on top of the shared JSON-lines peer (lib/peer.js).
class UdxPeer extends CppPeer {
  constructor (bin) { super(bin, { waitMs: WAIT_MS, name: 'udx_peer' }) }

  async request (cmd) {
    this.send(cmd)
    const ev = await this.wait((e) => (e.event === 'ok' || e.event === 'error') && e.op === cmd.op && e.id === cmd.id, cmd.op)
    if (ev.event !== 'ok') throw new Error(`${cmd.op}: ${ev.error}`)
  }
}

// A JS stream with everything it sees recorded: bytes and their hash, end, close, messages.
function watch (stream) {
  const w = { hash: crypto.createHash('sha256'), bytes: 0, digest: null, error: null, messages: [] }
  w.ended = new Promise((resolve) => stream.on('end', () => { w.digest = w.hash.digest('hex'); resolve() }))
  w.closed = new Promise((resolve) => stream.on('close', resolve))
  stream.on('data', (d) => { w.hash.update(d); w.bytes += d.length })
  stream.on('error', (err) => { w.error = err })
  stream.on('message', (m) => w.messages.push(Buffer.from(m)))
  return w
}

let nextId = 100
let cppReceived2 = 0 // the C++ peer's second socket's datagram count at the last close
async function pair (udx, socket, cpp, cppPort) {
  const jsId = nextId++
  const cppId = nextId++
  const js = udx.createStream(jsId)
  const w = watch(js)
  await cpp.request({ op: 'stream', id: cppId })
  js.connect(socket, cppId, cppPort, HOST)
  await cpp.request({ op: 'connect', id: cppId, remoteId: jsId, port: socket.address().port })
  return { js, w, cppId }
}

async function writeAll (stream, total, chunk) {
  const hash = crypto.createHash('sha256')
  let sent = 0
  while (sent < total) {
    const n = Math.min(chunk, total - sent)
    const buf = crypto.randomBytes(n)
    hash.update(buf)
    sent += n
    if (!stream.write(buf)) await new Promise((resolve) => stream.once('drain', resolve))
  }
  return hash.digest('hex')
}

// changeRemote mid-transfer (hyperdht's relay -> direct upgrade, spec §2.8): each side has a
// second socket of the same UDX instance; while 8 MiB flow each way both ends move their stream
// there (the C++ one first, or the JS one). The JS stream accepts packets on its old socket:
// udx-native runs the firewall for a packet that reaches a stream on a socket other than its
// own, and the default firewallAll would drop the old path's acks and retransmissions.
async function changeRemote (udx, socket, socket2, cpp, ready, cppFirst) {
  const label = cppFirst ? 'C++ changes first' : 'JS changes first'
  const jsId = nextId++
  const cppId = nextId++
  const js = udx.createStream(jsId, { firewall: () => false })
  // A failed check must not leave the stream open: its sockets would never close.
  try {
    await changeRemoteChecks(js, cpp, ready, socket, socket2, jsId, cppId, label, cppFirst)
  } catch (err) {
    js.destroy()
    cpp.send({ op: 'destroy', id: cppId })
    throw err
  }
}

async function changeRemoteChecks (js, cpp, ready, socket, socket2, jsId, cppId, label, cppFirst) {
  const size = 8 * 1024 * 1024
  const w = watch(js)
  let jsChanged = 0
  js.on('remote-changed', () => jsChanged++)
  await cpp.request({ op: 'stream', id: cppId })
  js.connect(socket, cppId, ready.port, HOST)
  await cpp.request({ op: 'connect', id: cppId, remoteId: jsId, port: socket.address().port })
  cpp.send({ op: 'send', id: cppId, bytes: size, seed: 11, chunk: 65536, end: true })
  const writing = writeAll(js, size, 65536)
  await cpp.wait((e) => e.event === 'progress' && e.id === cppId, 'cpp progress')
  check(`changeRemote (${label}): JS has data mid-transfer`, await until(() => w.bytes >= 1024 * 1024, WAIT_MS, 2), w.bytes)
  const rx2 = socket2.packetsReceived
  const cppChange = async () => {
    cpp.send({ op: 'change_remote', id: cppId, remoteId: jsId, port: socket2.address().port, socket: 2 })
    const ev = await cpp.wait((e) => (e.event === 'ok' || e.event === 'error') && e.op === 'change_remote' && e.id === cppId, 'cpp change_remote')
    if (ev.event !== 'ok') throw new Error(`change_remote: ${ev.error}`)
    return ev
  }
  let cppOk, jsChanging
  if (cppFirst) {
    cppOk = await cppChange()
    jsChanging = js.changeRemote(socket2, cppId, ready.port2, HOST)
  } else {
    jsChanging = js.changeRemote(socket2, cppId, ready.port2, HOST)
    cppOk = await cppChange()
  }
  if (!cppOk.immediate) await cpp.wait((e) => e.event === 'remote-changed' && e.id === cppId, 'cpp remote-changed')
  if (jsChanging) await withTimeout(jsChanging, WAIT_MS, 'js remote-changed')
  const digest = await withTimeout(writing, 60000, 'js writes')
  js.end()
  const sent = await cpp.wait((e) => e.event === 'sent' && e.id === cppId, 'cpp sent', 60000)
  const end = await cpp.wait((e) => e.event === 'end' && e.id === cppId, 'cpp end', 60000)
  await withTimeout(w.ended, 60000, 'js end')
  check(`changeRemote (${label}): C++ -> JS SHA-256 intact`, w.bytes === size && w.digest === sent.sha256, { bytes: w.bytes })
  check(`changeRemote (${label}): JS -> C++ SHA-256 intact`, end.bytes === size && end.sha256 === digest, { bytes: end.bytes })
  const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
  await withTimeout(w.closed, WAIT_MS, 'js close')
  const extra = cpp.events.filter((e) => e.event === 'remote-changed' && e.id === cppId).length
  check(`changeRemote (${label}): remote-changed once on each side`, jsChanged === 1 && extra === 0, { cppImmediate: cppOk.immediate, js: jsChanged, cppExtra: extra })
  check(`changeRemote (${label}): both sides use their second sockets`, js.remotePort === ready.port2 && socket2.packetsReceived > rx2 && close.received2 > cppReceived2, { js: socket2.packetsReceived - rx2, cpp: close.received2 - cppReceived2 })
  cppReceived2 = close.received2
  check(`changeRemote (${label}): clean close`, close.error === '' && !w.error, { cpp: close.error, js: w.error && w.error.code })
}

async function main () {
  const cpp = new UdxPeer(peerBin)
  const ready = await cpp.wait((e) => e.event === 'ready', 'ready')
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.bind(0, HOST)
  const bulkMs = BIG ? 240000 : 60000

  try {
    // 1. C++ -> JS bulk, C++ ends first; JS still writes after that (half close), then ends.
    {
      const { js, w, cppId } = await pair(udx, socket, cpp, ready.port)
      const t0 = Date.now()
      cpp.send({ op: 'send', id: cppId, bytes: BULK, seed: 7, chunk: 65536, end: true })
      const sent = await cpp.wait((e) => e.event === 'sent' && e.id === cppId, 'cpp sent', bulkMs)
      await withTimeout(w.ended, bulkMs, 'js end')
      const secs = (Date.now() - t0) / 1000
      check('C++ -> JS bulk: byte count', w.bytes === BULK, { got: w.bytes, want: BULK })
      check('C++ -> JS bulk: SHA-256 equal on both ends', w.digest === sent.sha256, { js: w.digest, cpp: sent.sha256 })
      console.log(`     ${(BULK / 1e6 / secs).toFixed(1)} MB/s C++ -> JS`)
      const tail = Buffer.from('after the C++ END, JS still writes')
      js.end(tail)
      const end = await cpp.wait((e) => e.event === 'end' && e.id === cppId, 'cpp end')
      check('half close: C++ reads JS data after its own END', end.sha256 === crypto.createHash('sha256').update(tail).digest('hex'))
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      await withTimeout(w.closed, WAIT_MS, 'js close')
      console.log(`     C++ sender: ${close.retransmits} retransmits, ${close.rtos} RTOs`)
      check('END/END: both close without error', close.error === '' && !w.error, { cpp: close.error, js: w.error && w.error.code })
    }

    // 2. JS -> C++ bulk, JS ends first.
    {
      const { js, w, cppId } = await pair(udx, socket, cpp, ready.port)
      const t0 = Date.now()
      const digest = await withTimeout(writeAll(js, BULK, 65536), bulkMs, 'js writes')
      js.end()
      const end = await cpp.wait((e) => e.event === 'end' && e.id === cppId, 'cpp end', bulkMs)
      const secs = (Date.now() - t0) / 1000
      check('JS -> C++ bulk: byte count', end.bytes === BULK, { got: end.bytes, want: BULK })
      check('JS -> C++ bulk: SHA-256 equal on both ends', end.sha256 === digest, { cpp: end.sha256, js: digest })
      console.log(`     ${(BULK / 1e6 / secs).toFixed(1)} MB/s JS -> C++ (JS sender: mtu ${js.mtu}, rtt ${js.rtt}, retransmits ${js.retransmits}, rtos ${js.rtoCount}, fast recoveries ${js.fastRecoveries})`)
      cpp.send({ op: 'end', id: cppId })
      await withTimeout(w.ended, WAIT_MS, 'js end')
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      await withTimeout(w.closed, WAIT_MS, 'js close')
      console.log('     C++ receiver', JSON.stringify(close))
      check('JS END first: both close without error', close.error === '' && !w.error && w.bytes === 0)
    }

    // 3. Many small writes both ways, and unordered messages both ways.
    {
      const { js, w, cppId } = await pair(udx, socket, cpp, ready.port)
      const hash = crypto.createHash('sha256')
      for (let i = 0; i < 3000; i++) {
        const b = crypto.randomBytes(1 + (i % 50))
        hash.update(b)
        js.write(b)
        if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
      }
      js.end()
      const cppHash = crypto.createHash('sha256')
      for (let i = 0; i < 300; i++) {
        const b = crypto.randomBytes(1 + (i % 20))
        cppHash.update(b)
        cpp.send({ op: 'write', id: cppId, hex: b.toString('hex') })
      }
      const end = await cpp.wait((e) => e.event === 'end' && e.id === cppId, 'cpp end')
      check('3000 small JS writes arrive intact', end.sha256 === hash.digest('hex'))
      // Messages while the stream is half closed (both still connected).
      const m1 = Buffer.from('message from js')
      js.trySend(m1)
      js.trySend(Buffer.alloc(0))
      const got1 = await cpp.wait((e) => e.event === 'message' && e.id === cppId && e.hex === m1.toString('hex'), 'cpp message')
      const got0 = await cpp.wait((e) => e.event === 'message' && e.id === cppId && e.hex === '', 'cpp empty message')
      check('JS -> C++ unordered messages (one empty)', !!got1 && !!got0)
      const m2 = crypto.randomBytes(1000)
      cpp.send({ op: 'message', id: cppId, hex: m2.toString('hex') })
      await withTimeout((async () => { while (!w.messages.some((m) => m.equals(m2))) await new Promise((resolve) => setTimeout(resolve, 5)) })(), WAIT_MS, 'js message')
      check('C++ -> JS unordered message', w.messages.some((m) => m.equals(m2)))
      cpp.send({ op: 'end', id: cppId })
      await withTimeout(w.ended, WAIT_MS, 'js end')
      check('300 small C++ writes arrive intact', w.digest === cppHash.digest('hex'))
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      await withTimeout(w.closed, WAIT_MS, 'js close')
      check('small writes: clean close', close.error === '' && !w.error)
    }

    // 3b. A C++ stream connected by its firewall hook on the first JS packet (hyperdht's way).
    {
      const jsId = nextId++
      const cppId = nextId++
      const js = udx.createStream(jsId)
      const w = watch(js)
      await cpp.request({ op: 'stream', id: cppId, accept: jsId })
      js.connect(socket, cppId, ready.port, HOST)
      const digest = await withTimeout(writeAll(js, 256 * 1024, 4096), WAIT_MS, 'js writes')
      js.end()
      const fw = await cpp.wait((e) => e.event === 'firewall' && e.id === cppId, 'cpp firewall')
      check('firewall hook connects the C++ stream to the JS source', fw.ok && fw.port === socket.address().port, fw)
      const end = await cpp.wait((e) => e.event === 'end' && e.id === cppId, 'cpp end')
      check('firewall-accepted stream: data intact', end.sha256 === digest && end.bytes === 256 * 1024)
      cpp.send({ op: 'end', id: cppId })
      await withTimeout(w.ended, WAIT_MS, 'js end')
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      await withTimeout(w.closed, WAIT_MS, 'js close')
      check('firewall-accepted stream: clean close', close.error === '' && !w.error)
    }

    // 4. C++ DESTROY mid-transfer: JS sees ECONNRESET.
    {
      const { w, cppId } = await pair(udx, socket, cpp, ready.port)
      cpp.send({ op: 'send', id: cppId, bytes: 64 * 1024 * 1024, seed: 3, chunk: 65536, end: true })
      await withTimeout((async () => { while (w.bytes < 1024 * 1024) await new Promise((resolve) => setTimeout(resolve, 2)) })(), WAIT_MS, 'first MiB')
      cpp.send({ op: 'destroy', id: cppId })
      await withTimeout(w.closed, WAIT_MS, 'js close after destroy')
      check('C++ DESTROY mid-transfer: JS gets ECONNRESET', !!w.error && w.error.code === 'ECONNRESET', w.error && w.error.code)
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      check('C++ DESTROY: C++ closes without error', close.error === '')
    }

    // 5. JS DESTROY mid-transfer: C++ sees ECONNRESET.
    {
      const { js, cppId } = await pair(udx, socket, cpp, ready.port)
      const writing = writeAll(js, 64 * 1024 * 1024, 65536).catch(() => {})
      await cpp.wait((e) => e.event === 'progress' && e.id === cppId, 'cpp progress')
      js.destroy()
      const close = await cpp.wait((e) => e.event === 'close' && e.id === cppId, 'cpp close')
      check('JS DESTROY mid-transfer: C++ gets ECONNRESET', close.error === 'ECONNRESET', close.error)
      check('JS DESTROY: C++ had received part, not all', close.bytes > 0 && close.bytes < 64 * 1024 * 1024, close.bytes)
      await withTimeout(Promise.race([writing, new Promise((resolve) => setTimeout(resolve, 100))]), WAIT_MS, 'writer')
    }

    // 6. changeRemote mid-transfer, C++ first and JS first.
    {
      const socket2 = udx.createSocket()
      socket2.bind(0, HOST)
      try {
        await changeRemote(udx, socket, socket2, cpp, ready, true)
        await changeRemote(udx, socket, socket2, cpp, ready, false)
      } finally {
        await withTimeout(socket2.close(), 5000, 'socket2 close').catch(() => {})
      }
    }
  } catch (err) {
    check('scenario', false, String(err && err.stack ? err.stack : err))
  }

  cpp.send({ op: 'exit' })
  cpp.proc.stdin.end()
  await withTimeout(cpp.exited, 5000, 'peer exit').catch(() => { cpp.proc.kill('SIGKILL') })
  await socket.close().catch(() => {})
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main().catch((err) => { console.error(err); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1) })
