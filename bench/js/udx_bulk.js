'use strict'
// The JS side of bench/suites/udx.sh: bench/udx_bulk.cpp on udx-native (the pinned interop
// modules), with the same command line and output, so the suite can pair any two ends.
//
//   node bench/js/udx_bulk.js --role recv [--mode raw|secret] [--id I] [--remote-id R] [--key HEX]
//   node bench/js/udx_bulk.js --role send --connect PORT [--mode raw|secret] [--id I]
//        [--remote-id R] [--bytes N] [--seconds T] [--chunk C] [--key HEX] [--timeout S]
//   node bench/js/udx_bulk.js --capabilities
//
// The receiver binds 127.0.0.1:0, prints {"ready":true,"port":P,...} and connects its stream on
// the first packet (firewall hook, as hyperdht does); the sender writes C-byte chunks as fast as
// back-pressure allows (write() false -> 'drain') until N bytes or T seconds, then ends. Each
// prints one result line (see udx_bulk.cpp for the fields; "seconds" and CPU cover the transfer
// window only: sender first write -> close, receiver first byte -> end).
//
// "secret" puts @hyperswarm/secret-stream's NoiseSecretStream on the UDX stream with a
// handshake given to both ends (tx/rx/hash derived from --key exactly as udx_bulk.cpp's
// derive_handshake does: BLAKE2b(label, key=K)), so no Noise round trip is measured.
const path = require('path')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const modules = path.join(interop, 'node_modules')
const UDX = require(path.join(modules, 'udx-native'))
const NoiseSecretStream = require(path.join(modules, '@hyperswarm', 'secret-stream'))
const sodium = require(path.join(modules, 'sodium-universal'))

function parse (argv) {
  const o = { role: '', mode: 'raw', id: 0, remoteId: 0, connect: 0, bytes: 2 ** 30, seconds: 10, chunk: 65536, key: '', timeout: 0 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--capabilities') {
      console.log(JSON.stringify({ impl: 'js', modes: ['raw', 'secret'] }))
      process.exit(0)
    }
    const v = argv[++i]
    if (v === undefined) return null
    if (a === '--role') o.role = v
    else if (a === '--mode') o.mode = v
    else if (a === '--id') o.id = Number(v)
    else if (a === '--remote-id') o.remoteId = Number(v)
    else if (a === '--connect') o.connect = Number(v)
    else if (a === '--bytes') o.bytes = Number(v)
    else if (a === '--seconds') o.seconds = Number(v)
    else if (a === '--chunk') o.chunk = Number(v)
    else if (a === '--key') o.key = v
    else if (a === '--timeout') o.timeout = Number(v)
    else return null
  }
  if (o.role !== 'send' && o.role !== 'recv') return null
  if (o.mode !== 'raw' && o.mode !== 'secret') return null
  if (o.role === 'send' && !o.connect) return null
  if (!(o.chunk > 0 && o.chunk <= 2 ** 24)) return null
  if (!(o.timeout > 0)) o.timeout = o.seconds + 120
  // Defaults by role, as udx_bulk.cpp: receiver 1, sender 2.
  if (!o.id) o.id = o.role === 'recv' ? 1 : 2
  if (!o.remoteId) o.remoteId = o.role === 'recv' ? 2 : 1
  return o
}

// See derive_handshake in udx_bulk.cpp.
function deriveHandshake (keyHex, initiator) {
  const key = Buffer.from(keyHex, 'hex')
  const derive = (label, n) => {
    const out = Buffer.alloc(n)
    sodium.crypto_generichash(out, Buffer.from(label), key)
    return out
  }
  const a = derive('hdht-bench-udx/initiator', 32)
  const b = derive('hdht-bench-udx/responder', 32)
  return {
    tx: initiator ? a : b,
    rx: initiator ? b : a,
    hash: derive('hdht-bench-udx/hash', 64),
    publicKey: Buffer.alloc(32, initiator ? 1 : 2),
    remotePublicKey: Buffer.alloc(32, initiator ? 2 : 1)
  }
}

const cpuNow = () => process.cpuUsage()
const hr = () => Number(process.hrtime.bigint()) / 1e9

function main () {
  const o = parse(process.argv.slice(2))
  if (!o) {
    console.error('usage: udx_bulk.js --role recv|send [--connect PORT] [--mode raw|secret] [--id I] [--remote-id R] [--bytes N] [--seconds T] [--chunk C] [--key HEX] [--timeout S] | --capabilities')
    process.exit(2)
  }
  if (o.mode === 'secret' && !/^[0-9a-f]{64}$/i.test(o.key)) {
    console.error('udx_bulk.js: --mode secret needs --key (64 hex digits)')
    process.exit(2)
  }
  const udx = new UDX()
  const socket = udx.createSocket()
  socket.bind(0, '127.0.0.1')

  let raw = null
  let pipe = null // what the benchmark writes to / reads from: the raw stream or the secret stream
  let bytes = 0
  let t0 = hr()
  let cpu0 = cpuNow()
  let window = null // { seconds, cpu } once measured
  let finished = false

  function result (error) {
    const seconds = window ? window.seconds : (bytes > 0 || o.role === 'send' ? hr() - t0 : 0)
    const cpu = window ? window.cpu : process.cpuUsage(cpu0)
    const user = cpu.user / 1e6
    const sys = cpu.system / 1e6
    const gib = bytes / 2 ** 30
    const j = {
      impl: 'js',
      role: o.role,
      mode: o.mode,
      bytes,
      seconds,
      cpu_user_s: user,
      cpu_sys_s: sys,
      mbps: seconds > 0 ? bytes / seconds / 1e6 : 0,
      cpu_s_per_gib: gib > 0 ? (user + sys) / gib : 0,
      cpu_util: seconds > 0 ? (user + sys) / seconds : 0
    }
    if (raw) {
      // libudx keeps retransmit_count in a uint16: beyond 65535 this wraps.
      j.retransmits = raw.retransmits
      j.rtos = raw.rtoCount
      j.fast_recoveries = raw.fastRecoveries
      j.packets_sent = raw.packetsTransmitted
      j.mtu = raw.mtu
      j.srtt_ms = raw.rtt
    }
    if (o.mode === 'secret' && pipe) j.pipe = { raw_bytes_written: pipe.rawBytesWritten, raw_bytes_read: pipe.rawBytesRead }
    if (error) j.error = error
    return j
  }

  function finish (error) {
    if (finished) return
    finished = true
    process.stdout.write(JSON.stringify(result(error)) + '\n', () => process.exit(error ? 1 : 0))
  }

  const deadline = setTimeout(() => finish('timeout'), o.timeout * 1000)
  deadline.unref()

  function ready () {
    process.stdout.write(JSON.stringify({ ready: true, impl: 'js', role: o.role, mode: o.mode, port: socket.address().port, id: o.id }) + '\n')
  }

  // Wires the benchmark to the raw stream, or to a secret stream on it, once connected.
  function open () {
    if (o.mode === 'secret') {
      pipe = new NoiseSecretStream(o.role === 'send', raw, { handshake: deriveHandshake(o.key, o.role === 'send') })
    } else {
      pipe = raw
    }
    pipe.on('error', (err) => finish('stream: ' + (err.code || err.message)))
    pipe.on('data', (d) => {
      if (bytes === 0) t0 = hr()
      bytes += d.byteLength
    })
    pipe.on('end', () => {
      if (o.role === 'recv') {
        window = { seconds: hr() - t0, cpu: process.cpuUsage(cpu0) }
        // Measured; the close is bookkeeping, so do not wait for it for long.
        setTimeout(() => finish(''), 3000).unref()
      }
      pipe.end()
    })
    pipe.on('close', () => finish(''))
  }

  if (o.role === 'recv') {
    raw = udx.createStream(o.id, {
      firewall (sock, port, host) {
        raw.connect(sock, o.remoteId, port, host)
        open()
        return false
      }
    })
    raw.on('error', () => {}) // reported through the pipe
    ready()
    cpu0 = cpuNow()
    return
  }

  raw = udx.createStream(o.id)
  raw.on('error', () => {})
  raw.connect(socket, o.remoteId, o.connect, '127.0.0.1')
  open()
  ready()
  const chunk = Buffer.alloc(o.chunk)
  sodium.randombytes_buf(chunk)
  cpu0 = cpuNow()
  t0 = hr()
  let sent = 0
  const pump = () => {
    for (;;) {
      if (sent >= o.bytes || hr() - t0 >= o.seconds) {
        pipe.end()
        return
      }
      const n = Math.min(chunk.length, o.bytes - sent)
      sent += n
      bytes = sent
      if (!pipe.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        pipe.once('drain', pump)
        return
      }
    }
  }
  pump()
}

main()
