#!/usr/bin/env node
'use strict'
// C++ secret streams (core/secret_stream on core/udx_stream) against @hyperswarm/secret-stream
// 6.9.2 on udx-native 1.21.3, on 127.0.0.1, with the C++ side as initiator and as responder.
//   node sstream-interop.js --peer PATH/sstream_peer [--big]
// Both sides start from one real handshake, run as hyperdht runs it (hyperdht/lib/noise-wrap.js:
// Noise IK, Ed25519, prologue NS_PEER_HANDSHAKE); the C++ peer (tests/interop/sstream_peer.cpp)
// gets its role's {tx, rx, hash, publicKey, remotePublicKey} as hex and the JS side creates
// `new NoiseSecretStream(isInitiator, udxStream, { handshake, keepAlive })` as hyperdht does.
// Checks per role: bulk each way (8 MiB, 64 MiB with --big) with SHA-256 on both ends, half
// close, many small writes with message boundaries, unordered messages both ways, keepalives
// (filtered, and keeping the other side's timeout from firing), DESTROY mid-transfer from either
// side, wrong keys / wrong hash on the C++ side (each rejected with the reference's error on one
// side, ECONNRESET on the other). Every wait is bounded. Prints one line per
// check, "N passed, N failed" last.
const crypto = require('crypto')
const UDX = require('udx-native')
const NoiseSecretStream = require('@hyperswarm/secret-stream')
const NoiseWrap = require('hyperdht/lib/noise-wrap')
const { CppPeer, withTimeout, until } = require('./lib/peer')

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const KEEP_ALIVE = 5000 // hyperdht's connectionKeepAlive

const argv = process.argv.slice(2)
const peerBin = argv[argv.indexOf('--peer') + 1]
const BIG = argv.includes('--big')
const BULK = (BIG ? 64 : 8) * 1024 * 1024
if (argv.indexOf('--peer') === -1 || !peerBin) {
  console.error('usage: sstream-interop.js --peer PATH [--big]')
  process.exit(2)
}

let passed = 0
let failed = 0
function check (name, ok, detail) {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail !== undefined ? ' ' + JSON.stringify(detail) : ''}`)
}

// Both roles' results of one Noise IK handshake, as hyperdht's connect/server produce them.
function handshake () {
  const kpI = NoiseSecretStream.keyPair()
  const kpR = NoiseSecretStream.keyPair()
  const i = new NoiseWrap(kpI, kpR.publicKey)
  const r = new NoiseWrap(kpR, null)
  const payload = { error: 0, firewall: 0 }
  r.recv(i.send(payload))
  i.recv(r.send(payload))
  return { initiator: i.final(), responder: r.final() }
}

const hex = (b) => Buffer.from(b).toString('hex')
const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

// A JS secret stream with everything it sees recorded.
function watch (ns) {
  const w = { hash: crypto.createHash('sha256'), bytes: 0, chunks: 0, digest: null, error: null, messages: [] }
  w.ended = new Promise((resolve) => ns.on('end', () => { w.digest = w.hash.digest('hex'); resolve() }))
  w.closed = new Promise((resolve) => ns.on('close', resolve))
  ns.on('data', (d) => { w.hash.update(d); w.bytes += d.length; w.chunks++ })
  ns.on('error', (err) => { w.error = err })
  ns.on('message', (m) => w.messages.push(Buffer.from(m)))
  return w
}

const errText = (err) => err ? (err.code || err.message) : null

async function main () {
  const cpp = new CppPeer(peerBin, { waitMs: WAIT_MS, name: 'sstream_peer' })
  const ready = await cpp.wait((e) => e.event === 'ready', 'ready')
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.bind(0, HOST)
  const bulkMs = BIG ? 240000 : 60000
  let nextId = 100

  // A JS UDX stream connected to a C++ one, then both secret streams. `cppInit`: the C++ side is
  // the initiator. `spoil(keys)` may damage the C++ side's keys.
  async function pair (cppInit, { keepAlive = KEEP_ALIVE, cppTimeout = 0, spoil = null, delayJsData = 0 } = {}) {
    const h = handshake()
    const jsKeys = cppInit ? h.responder : h.initiator
    const cppKeys = Object.assign({}, cppInit ? h.initiator : h.responder)
    if (spoil) spoil(cppKeys)
    const jsId = nextId++
    const cppId = nextId++
    const raw = udx.createStream(jsId)
    raw.connect(socket, cppId, ready.port, HOST)
    if (delayJsData) {
      // Holds back what the secret stream reads from UDX (it subscribes to 'data' on open).
      const on = raw.on.bind(raw)
      raw.on = (ev, fn) => on(ev, ev === 'data' ? (d) => setTimeout(() => fn(d), delayJsData) : fn)
    }
    await cpp.call({
      op: 'stream',
      id: cppId,
      remoteId: jsId,
      port: socket.address().port,
      initiator: cppInit,
      tx: hex(cppKeys.tx),
      rx: hex(cppKeys.rx),
      hash: hex(cppKeys.hash),
      publicKey: hex(cppKeys.publicKey),
      remotePublicKey: hex(cppKeys.remotePublicKey),
      keepAlive,
      timeout: cppTimeout
    }, 'ok', 'stream')
    const { tx, rx, hash, publicKey, remotePublicKey } = jsKeys
    const ns = new NoiseSecretStream(!cppInit, raw, { handshake: { tx, rx, hash, publicKey, remotePublicKey }, keepAlive })
    return { ns, raw, w: watch(ns), cppId }
  }

  async function writeAll (ns, total, chunk) {
    const hash = crypto.createHash('sha256')
    let sent = 0
    while (sent < total) {
      const n = Math.min(chunk, total - sent)
      const buf = crypto.randomBytes(n)
      hash.update(buf)
      sent += n
      if (!ns.write(buf)) await new Promise((resolve) => ns.once('drain', resolve))
    }
    return hash.digest('hex')
  }

  const cppClose = (id, ms) => cpp.wait((e) => e.event === 'close' && e.id === id, 'cpp close', ms)
  const cppEnd = (id, ms) => cpp.wait((e) => e.event === 'end' && e.id === id, 'cpp end', ms)

  for (const cppInit of [true, false]) {
    const role = cppInit ? '[C++ initiator]' : '[JS initiator]'
    try {
      // 1. C++ -> JS bulk, C++ ends first; JS writes after that (half close), then ends.
      {
        const { ns, w, cppId } = await pair(cppInit)
        const t0 = Date.now()
        cpp.send({ op: 'send', id: cppId, bytes: BULK, seed: 7, chunk: 65536, end: true })
        const sent = await cpp.wait((e) => e.event === 'sent' && e.id === cppId, 'cpp sent', bulkMs)
        await withTimeout(w.ended, bulkMs, 'js end')
        const secs = (Date.now() - t0) / 1000
        check(`${role} C++ -> JS bulk: byte count`, w.bytes === BULK, { got: w.bytes, want: BULK })
        check(`${role} C++ -> JS bulk: SHA-256 equal on both ends`, w.digest === sent.sha256, { js: w.digest, cpp: sent.sha256 })
        check(`${role} C++ -> JS bulk: one JS chunk per C++ message`, w.chunks === BULK / 65536, w.chunks)
        console.log(`     ${(BULK / 1e6 / secs).toFixed(1)} MB/s C++ -> JS`)
        const tail = crypto.randomBytes(5000)
        ns.end(tail)
        const end = await cppEnd(cppId)
        check(`${role} half close: C++ reads JS data after its own END`, end.sha256 === sha(tail) && end.messages === 1, end)
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} END/END: both close without error`, close.error === '' && !w.error, { cpp: close.error, js: errText(w.error) })
        console.log(`     C++ sender: ${close.retransmits} UDX retransmits`)
      }

      // 2. JS -> C++ bulk, JS ends first.
      {
        const { ns, w, cppId } = await pair(cppInit)
        const t0 = Date.now()
        const digest = await withTimeout(writeAll(ns, BULK, 65536), bulkMs, 'js writes')
        ns.end()
        const end = await cppEnd(cppId, bulkMs)
        const secs = (Date.now() - t0) / 1000
        check(`${role} JS -> C++ bulk: byte count`, end.bytes === BULK, { got: end.bytes, want: BULK })
        check(`${role} JS -> C++ bulk: SHA-256 equal on both ends`, end.sha256 === digest, { cpp: end.sha256, js: digest })
        check(`${role} JS -> C++ bulk: one C++ message per JS write`, end.messages === BULK / 65536, end.messages)
        console.log(`     ${(BULK / 1e6 / secs).toFixed(1)} MB/s JS -> C++`)
        cpp.send({ op: 'end', id: cppId })
        await withTimeout(w.ended, WAIT_MS, 'js end')
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} JS END first: both close without error`, close.error === '' && !w.error && w.bytes === 0, { cpp: close.error, js: errText(w.error) })
      }

      // 3. Many small writes both ways; unordered messages both ways.
      {
        const { ns, w, cppId } = await pair(cppInit)
        const hash = crypto.createHash('sha256')
        for (let i = 0; i < 3000; i++) {
          const b = crypto.randomBytes(1 + (i % 50))
          hash.update(b)
          ns.write(b)
          if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
        }
        ns.end()
        const cppHash = crypto.createHash('sha256')
        for (let i = 0; i < 300; i++) {
          const b = crypto.randomBytes(1 + (i % 20))
          cppHash.update(b)
          cpp.send({ op: 'write', id: cppId, hex: b.toString('hex') })
        }
        const end = await cppEnd(cppId)
        check(`${role} 3000 small JS writes: intact, 3000 C++ messages`, end.sha256 === hash.digest('hex') && end.messages === 3000, end.messages)
        const m1 = Buffer.from('unordered from js')
        ns.trySend(m1)
        ns.trySend(Buffer.alloc(0))
        const got1 = await cpp.wait((e) => e.event === 'message' && e.id === cppId && e.hex === hex(m1), 'cpp message')
        const got0 = await cpp.wait((e) => e.event === 'message' && e.id === cppId && e.hex === '', 'cpp empty message')
        check(`${role} JS -> C++ unordered messages (one empty)`, !!got1 && !!got0)
        const m2 = crypto.randomBytes(1500)
        await cpp.call({ op: 'message', id: cppId, hex: hex(m2) }, 'ok', 'cpp message')
        await cpp.call({ op: 'message', id: cppId, hex: '' }, 'ok', 'cpp empty message')
        const gotM = await until(() => w.messages.some((m) => m.equals(m2)) && w.messages.some((m) => m.length === 0), WAIT_MS, 5)
        check(`${role} C++ -> JS unordered messages (one empty)`, gotM, w.messages.map((m) => m.length))
        // A forged message on the JS side's UDX channel is dropped by the C++ side, as by JS.
        ns.rawStream.trySend(crypto.randomBytes(60))
        cpp.send({ op: 'end', id: cppId })
        await withTimeout(w.ended, WAIT_MS, 'js end')
        check(`${role} 300 small C++ writes: intact, 300 JS chunks`, w.digest === cppHash.digest('hex') && w.chunks === 300, w.chunks)
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} small writes: clean close; forged message dropped`, close.error === '' && !w.error && close.messagesReceived === 2 && close.messagesDropped === 1, close)
      }

      // 4. Keepalives: both sides 200 ms, idle 1.5 s. Each side runs a 700 ms timeout that only
      //    the other side's keepalives can keep from firing; nothing reaches the reader.
      {
        const { ns, w, cppId } = await pair(cppInit, { keepAlive: 200, cppTimeout: 700 })
        ns.setTimeout(700)
        await new Promise((resolve) => setTimeout(resolve, 1500))
        const st = await cpp.call({ op: 'stats', id: cppId }, 'stats')
        check(`${role} keepalive: C++ sent and received >= 4, filtered`, st.keepalivesSent >= 4 && st.keepalivesReceived >= 4 && st.headerReceived, st)
        check(`${role} keepalive: JS read C++ keepalives, none delivered, no timeout`, ns.rawBytesRead >= 4 * 17 && w.chunks === 0 && !w.error && !ns.destroying, { rawBytesRead: ns.rawBytesRead, chunks: w.chunks, error: errText(w.error) })
        ns.write(Buffer.from('after idle'))
        cpp.send({ op: 'end', id: cppId })
        ns.end()
        const end = await cppEnd(cppId)
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} keepalive: data after idle, clean close`, end.sha256 === sha(Buffer.from('after idle')) && close.error === '' && !w.error, { cpp: close.error, js: errText(w.error) })
      }

      // 5. C++ DESTROY mid-transfer: the JS secret stream errors with ECONNRESET and closes.
      {
        const { w, cppId } = await pair(cppInit)
        cpp.send({ op: 'send', id: cppId, bytes: 256 * 1024 * 1024, seed: 3, chunk: 65536, end: true })
        await withTimeout(until(() => w.bytes >= 1024 * 1024, WAIT_MS, 2), WAIT_MS, 'first MiB')
        cpp.send({ op: 'destroy', id: cppId })
        await withTimeout(w.closed, WAIT_MS, 'js close after destroy')
        check(`${role} C++ destroy mid-transfer: JS gets ECONNRESET`, !!w.error && w.error.code === 'ECONNRESET', errText(w.error))
        const close = await cppClose(cppId)
        check(`${role} C++ destroy: C++ closes without error`, close.error === '', close.error)
      }

      // 6. JS destroy mid-transfer: the C++ side sees ECONNRESET.
      {
        const { ns, cppId } = await pair(cppInit)
        const writing = writeAll(ns, 256 * 1024 * 1024, 65536).catch(() => {})
        await cpp.wait((e) => e.event === 'progress' && e.id === cppId, 'cpp progress')
        ns.destroy()
        const close = await cppClose(cppId)
        check(`${role} JS destroy mid-transfer: C++ gets ECONNRESET`, close.error === 'ECONNRESET', close.error)
        check(`${role} JS destroy: C++ had received part, not all`, close.bytes > 0 && close.bytes < 256 * 1024 * 1024, close.bytes)
        await withTimeout(Promise.race([writing, new Promise((resolve) => setTimeout(resolve, 100))]), WAIT_MS, 'writer')
      }

      // 7. Wrong keys on the C++ side.
      {
        // a. Wrong rx: the first JS frame fails on the C++ side ("pull failed"), whose DESTROY
        //    errors the JS stream.
        const { ns, w, cppId } = await pair(cppInit, { spoil: (k) => { k.rx = Buffer.from(k.rx); k.rx[0] ^= 1 } })
        ns.write(Buffer.from('hello'))
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} C++ with wrong rx: C++ "pull failed", JS ECONNRESET`, close.error === 'pull failed' && close.bytes === 0 && errText(w.error) === 'ECONNRESET', { cpp: close.error, js: errText(w.error) })
      }
      {
        // b. Wrong tx: the first C++ frame fails in JS (sodium-native "pull failed"), whose
        //    DESTROY errors the C++ side.
        const { w, cppId } = await pair(cppInit, { spoil: (k) => { k.tx = Buffer.from(k.tx); k.tx[0] ^= 1 } })
        cpp.send({ op: 'write', id: cppId, hex: hex(Buffer.from('hello')) })
        await withTimeout(w.closed, WAIT_MS, 'js close')
        const close = await cppClose(cppId)
        check(`${role} C++ with wrong tx: JS "pull failed", C++ ECONNRESET`, !!w.error && w.error.message === 'pull failed' && w.bytes === 0 && close.error === 'ECONNRESET', { cpp: close.error, js: errText(w.error) })
      }
      {
        // c. Wrong handshake hash: the header ids differ, so whichever side reads the other's
        //    header first destroys with "Invalid header received" and the other sees ECONNRESET.
        //    Here the JS side's incoming data is held back 300 ms, so the C++ check runs first.
        const { w, cppId } = await pair(cppInit, { spoil: (k) => { k.hash = crypto.randomBytes(64) }, delayJsData: 300 })
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        check(`${role} C++ with wrong hash: C++ "Invalid header received", JS ECONNRESET`, close.error === 'Invalid header received' && errText(w.error) === 'ECONNRESET', { cpp: close.error, js: errText(w.error) })
      }
      {
        // d. The same without the delay: JS usually reads the C++ header first.
        const { w, cppId } = await pair(cppInit, { spoil: (k) => { k.hash = crypto.randomBytes(64) } })
        const close = await cppClose(cppId)
        await withTimeout(w.closed, WAIT_MS, 'js close')
        const errs = [close.error, w.error && w.error.message, errText(w.error)]
        check(`${role} C++ with wrong hash, no delay: both error, one with "Invalid header received"`, close.error !== '' && !!w.error && errs.includes('Invalid header received'), { cpp: close.error, js: w.error && w.error.message })
      }
    } catch (err) {
      check(`${role} scenario`, false, String(err && err.stack ? err.stack : err))
    }
  }

  await cpp.close()
  await socket.close().catch(() => {})
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
}

main().catch((err) => { console.error(err); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1) })
