#!/usr/bin/env node
'use strict'
// Live check of the C++ UDX packet codec against libudx (udx-native 1.21.3): two real udx-native
// sockets on 127.0.0.1 talk through a small UDP forwarder that records every datagram both ways,
// drops ~5% of them and swaps a few neighbours (so SACKs and retransmissions appear). Every
// captured datagram must decode in C++ to the fields of the spec parser in kinds/udx.js and
// re-encode to the same bytes.
//   node udx-capture.js --tool PATH [--seed N] [--write-sample FILE]
// Loopback only; the whole run is bounded (every wait has a timeout). Last line: "N passed, N failed".
const dgram = require('dgram')
const fs = require('fs')
const UDX = require('udx-native')
const { Rng } = require('./lib/rng')
const { diff } = require('./lib/canon')
const { CodecTool } = require('./lib/tool')
const { udxPacket } = require('./kinds/udx')
const { sleep } = require('./lib/peer')

const HOST = '127.0.0.1'
// A hang guard, not a performance bar: the ASan-built codec tool needs ~15 s for the ~7,000
// captured datagrams on a 2-core machine (the plain build ~2 s).
const DEADLINE_MS = 60000

function args () {
  const a = { seed: 20261121, tool: null, sample: null }
  const v = process.argv.slice(2)
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '--tool') a.tool = v[++i]
    else if (v[i] === '--seed') a.seed = Number(v[++i])
    else if (v[i] === '--write-sample') a.sample = v[++i]
  }
  if (!a.tool) { console.error('usage: udx-capture.js --tool PATH [--seed N] [--write-sample FILE]'); process.exit(2) }
  return a
}

function withTimeout (p, ms, what) {
  let t
  return Promise.race([p, new Promise((resolve, reject) => { t = setTimeout(() => reject(new Error('timeout: ' + what)), ms) })]).finally(() => clearTimeout(t))
}
async function waitFor (cond) { while (!cond()) await sleep(5) }
const once = (em, ev) => new Promise((resolve) => em.once(ev, resolve))

// Two dgram sockets: A talks to `toA`'s port, B to `toB`'s port; each forwards to the other side.
async function forwarder (rng, captured) {
  const fa = dgram.createSocket('udp4')
  const fb = dgram.createSocket('udp4')
  await Promise.all([new Promise((resolve) => fa.bind(0, HOST, resolve)), new Promise((resolve) => fb.bind(0, HOST, resolve))])
  const peers = { a: null, b: null }
  // Losses stop before the closes: a lost last ack has no TIME_WAIT to repair it (13 s RTO limit).
  const ctl = { lossy: true }
  const held = { a: null, b: null }
  let count = 0
  function relay (from, out, dstKey, buf) {
    captured.push(Buffer.from(buf))
    count++
    const dst = peers[dstKey]
    if (!dst) return
    // Never drop DESTROY (it is not retransmitted) nor the first packets of the run.
    const droppable = ctl.lossy && count > 20 && buf.length >= 20 && !(buf[2] & 0x10)
    if (droppable && rng.bool(0.05)) return
    const send = (b) => out.send(b, dst.port, HOST)
    if (held[dstKey]) { // release a held packet after this one: a reordering
      const h = held[dstKey]
      held[dstKey] = null
      send(buf)
      send(h)
      return
    }
    if (droppable && rng.bool(0.01)) { held[dstKey] = buf; return }
    send(buf)
  }
  fa.on('message', (buf, rinfo) => { peers.a = rinfo; relay('a', fb, 'b', buf) })
  fb.on('message', (buf, rinfo) => { peers.b = rinfo; relay('b', fa, 'a', buf) })
  // A held packet must not be stranded when traffic stops.
  const flush = setInterval(() => {
    for (const [k, sock] of [['a', fa], ['b', fb]]) {
      if (held[k] && peers[k]) { sock.send(held[k], peers[k].port, HOST); held[k] = null }
    }
  }, 20)
  return {
    ctl,
    fa,
    fb,
    setPeers (a, b) { peers.a = a; peers.b = b },
    close () { clearInterval(flush); fa.close(); fb.close() }
  }
}

function pair (ua, ub, sa, sb, fwd, idA, idB, opts = {}) {
  const a = ua.createStream(idA, opts)
  const b = ub.createStream(idB, opts)
  a.connect(sa, idB, fwd.fa.address().port, HOST)
  b.connect(sb, idA, fwd.fb.address().port, HOST)
  for (const s of [a, b]) s.on('error', () => {})
  return { a, b }
}

function collect (stream) {
  let n = 0
  stream.on('data', (d) => { n += d.length })
  return { get bytes () { return n }, ended: once(stream, 'end'), closed: once(stream, 'close') }
}

async function workload (rng, ua, ub, sa, sb, fwd) {
  const log = []
  // 1. many small writes, a few MB, END from each side
  {
    const { a, b } = pair(ua, ub, sa, sb, fwd, 0x01020304, 0x0a0b0c0d)
    const ra = collect(a)
    const rb = collect(b)
    let sent = 0
    for (let i = 0; i < 300; i++) {
      const buf = rng.bytes(rng.int(1, 200))
      sent += buf.length
      a.write(buf)
      if (i % 25 === 0) await sleep(1)
    }
    for (let i = 0; i < 40; i++) b.write(rng.bytes(rng.int(1, 50)))
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61)
    for (let off = 0; off < big.length; off += 65536) {
      if (!a.write(big.subarray(off, off + 65536))) await withTimeout(once(a, 'drain'), 8000, 'drain')
    }
    sent += big.length
    await withTimeout(waitFor(() => rb.bytes === sent), 8000, 'bulk delivery')
    fwd.ctl.lossy = false
    a.end()
    await withTimeout(rb.ended, 10000, 'b end')
    b.end()
    await withTimeout(Promise.all([ra.closed, rb.closed]), 5000, 'close 1')
    log.push(`bulk: ${rb.bytes}/${sent} bytes delivered`)
    if (rb.bytes !== sent) throw new Error('bulk transfer incomplete')
  }
  // 2. unordered messages both ways, keepalive heartbeats, then DESTROY
  {
    fwd.ctl.lossy = true
    const { a, b } = pair(ua, ub, sa, sb, fwd, 0x11223344, 0x55667788)
    let got = 0
    b.on('message', () => { got++ })
    a.on('message', () => { got++ })
    a.setKeepalive(40)
    for (let i = 0; i < 60; i++) {
      const buf = rng.bytes(rng.pick([0, 1, 16, 500, 1000, 1400]))
      if (i % 2) await a.send(buf); else a.trySend(buf)
      if (i % 5 === 0) b.trySend(rng.bytes(rng.int(0, 64)))
    }
    a.write(Buffer.from('x'))
    fwd.ctl.lossy = false
    await sleep(250) // idle: keepalive HEARTBEATs and their acks
    const closed = once(b, 'close')
    a.destroy()
    await withTimeout(closed, 3000, 'destroy')
    log.push(`messages: ${got} delivered`)
  }
  return log
}

async function main () {
  const a = args()
  const rng = new Rng(a.seed)
  const captured = []
  const fwd = await forwarder(rng, captured)
  const ua = new UDX()
  const ub = new UDX()
  const sa = ua.createSocket()
  const sb = ub.createSocket()
  sa.bind(0, HOST)
  sb.bind(0, HOST)
  fwd.setPeers({ port: sa.address().port }, { port: sb.address().port })
  const deadline = setTimeout(() => { console.log('deadline reached'); console.log('0 passed, 1 failed'); process.exit(1) }, DEADLINE_MS)

  let failed = 0
  let passed = 0
  const fail = (msg) => { failed++; if (failed <= 10) console.log('FAIL ' + msg) }
  try {
    for (const line of await workload(rng, ua, ub, sa, sb, fwd)) console.log(line)
  } catch (err) {
    fail('workload: ' + err.message)
  }
  await sleep(50)
  fwd.close()
  await Promise.race([Promise.all([sa.close(), sb.close()]), sleep(1000)])

  const tool = new CodecTool(a.tool)
  const types = new Map()
  const sample = []
  await Promise.all(captured.map((buf, i) => tool.request({ op: 'decode', kind: 'udxPacket', hex: buf.toString('hex') }).then((r) => {
    const hex = buf.toString('hex')
    let expected
    try { expected = udxPacket.decode(buf) } catch (e) { return fail(`#${i}: spec parser rejects libudx bytes ${hex.slice(0, 80)}: ${e.message}`) }
    if (!r.ok) return fail(`#${i}: C++ rejects ${hex.slice(0, 80)}: ${r.error}`)
    const d = diff(expected, r.fields)
    if (d) return fail(`#${i}: fields differ at ${d}`)
    if (r.hex !== hex) return fail(`#${i}: re-encode differs for ${hex.slice(0, 80)}`)
    passed++
    const key = expected.type + (expected.dataOffset ? '+pad' : '')
    types.set(key, (types.get(key) || 0) + 1)
    sample.push({ i, key, hex, fields: expected })
  })))
  tool.close()

  console.log(`captured ${captured.length} datagrams; by type: ${[...types].map(([k, n]) => `${k}:${n}`).join(' ')}`)
  // The workload must have produced every packet kind libudx sends, or the run proves less.
  const need = { 0: 'state', 1: 'DATA', 2: 'END', 4: 'SACK', 8: 'MESSAGE', 16: 'DESTROY', 32: 'HEARTBEAT' }
  for (const [t, name] of Object.entries(need)) {
    if (!types.has(t) && !types.has(Number(t))) fail(`no ${name} packet captured`)
  }
  if (![...types.keys()].some((k) => String(k).endsWith('+pad'))) console.log('note: no MTU probe (padded DATA) captured')
  if (captured.length < 1000) fail(`only ${captured.length} datagrams captured`)

  if (a.sample) writeSample(a.sample, sample)
  clearTimeout(deadline)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

// A few hundred captured datagrams for tests/vectors: every packet kind, small DATA preferred.
function writeSample (file, sample) {
  sample.sort((x, y) => x.i - y.i)
  const limits = { 0: 40, 4: 60, 8: 30, 1: 50, bigdata: 8, probe: 12 }
  const taken = new Map()
  const cases = []
  for (const s of sample) {
    const type = Number(s.key.split('+')[0])
    const k = s.key.endsWith('+pad') ? 'probe' : (type & 1) && s.hex.length > 400 ? 'bigdata' : String(type)
    const limit = limits[k] || 40
    const n = taken.get(k) || 0
    if (n >= limit) continue
    taken.set(k, n + 1)
    cases.push({ kind: 'udxPacket', hex: s.hex, fields: s.fields })
  }
  fs.writeFileSync(file, JSON.stringify({
    generatedBy: 'tests/interop/udx-capture.js --write-sample (datagrams captured between udx-native peers)',
    versions: { node: process.version, 'udx-native': require('udx-native/package.json').version },
    cases
  }, null, 1) + '\n')
  console.log(`${file}: ${cases.length} cases`)
}

main().catch((e) => { console.error(e); console.log('0 passed, 1 failed'); process.exit(1) })
