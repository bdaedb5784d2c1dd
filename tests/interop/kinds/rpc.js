'use strict'
// dht-rpc datagrams, node ids and tokens, driven by the real dht-rpc 6.27.0 code.
//
// lib/io.js exports only the IO class; the request/response codecs live in its private
// `Request` class and `decodeReply` function. We load that same file verbatim as a separate
// module instance with one extra line that also exports those two, so every byte below is
// produced and parsed by the reference's own functions (no re-implementation).
//
// Canonical fields:
//   rpcRequest  {tid, to, id, token, internal, command, target, value}
//   rpcResponse {tid, to, id, token, closerNodes, error, value}
// `id` is the id as carried on the wire. The reference keeps only the *validated* id
// (from.id, checked against the UDP source), so the raw one is captured from the comparison
// validateId makes. closerNodes is [] when absent (the JS decoder yields null when the flag is
// clear and [] for a flagged empty list; both mean "none" to dht-rpc).
const fs = require('fs')
const path = require('path')
const Module = require('module')
const { unhex } = require('../lib/canon')

const ioPath = path.join(path.dirname(require.resolve('dht-rpc')), 'lib', 'io.js')
const ioModule = new Module(ioPath, module)
ioModule.filename = ioPath
ioModule.paths = Module._nodeModulePaths(path.dirname(ioPath))
ioModule._compile(
  fs.readFileSync(ioPath, 'utf8') + '\nmodule.exports.Request = Request\nmodule.exports.decodeReply = decodeReply\n',
  ioPath
)
const IO = ioModule.exports
const { Request, decodeReply } = IO
const peer = ioModule.require('./peer')
const b4a = ioModule.require('b4a')

const REQUEST_ID = 0x03
const RESPONSE_ID = 0x13

// Runs fn while recording the second argument of every b4a.equals call (validateId's claimed id).
function captureClaimedId (fn) {
  const equals = b4a.equals
  let claimed = null
  b4a.equals = (a, b) => { claimed = b; return equals(a, b) }
  try {
    return { result: fn(), claimed }
  } finally {
    b4a.equals = equals
  }
}

// io.js onmessage drops datagrams under 2 bytes and dispatches on byte 0 before decoding.
function checkDispatch (buf, type) {
  if (buf.byteLength < 2) throw new Error('datagram shorter than 2 bytes')
  if (buf[0] !== type) throw new Error('wrong type byte')
}

const addr = (a) => ({ host: a.host, port: a.port })
const SERVER = { name: 'server socket' }
const CLIENT = { name: 'client socket' }

// A stand-in IO with just what the encoders read: the sender is persistent (and so writes its
// id) only when it sends from its server socket.
function fakeIo (id, token, closerNodes) {
  return {
    ephemeral: id === null,
    serverSocket: SERVER,
    table: { id, closest: () => closerNodes },
    token: () => token
  }
}

function encodeRequest (f) {
  const id = unhex(f.id)
  const self = {
    _io: fakeIo(id, null, []),
    tid: f.tid,
    command: f.command,
    internal: f.internal,
    target: unhex(f.target)
  }
  return Request.prototype._encodeRequest.call(self, unhex(f.token), unhex(f.value), f.to, id ? SERVER : CLIENT)
}

function decodeRequest (buf) {
  checkDispatch(buf, REQUEST_ID)
  const from = { id: null, host: '0.0.0.0', port: 1 }
  const { result: req, claimed } = captureClaimedId(() =>
    Request.decode(null, null, from, { start: 1, end: buf.byteLength, buffer: buf })
  )
  if (req === null) throw new Error('dht-rpc dropped the request')
  return {
    tid: req.tid,
    to: addr(req.to),
    id: claimed,
    token: req.token,
    internal: req.internal,
    command: req.command,
    target: req.target,
    value: req.value
  }
}

function encodeResponse (f) {
  const id = unhex(f.id)
  const closer = f.closerNodes
  let out = null
  const socket = { trySend: (buf) => { out = buf } }
  const io = fakeIo(id, unhex(f.token), closer)
  if (id) io.serverSocket = socket // a persistent node writes its id only on its server socket
  const self = {
    _io: io,
    tid: f.tid,
    destroyed: false,
    // _sendReply only asks the table for closer nodes when the request had a target
    target: closer.length > 0 ? Buffer.alloc(32) : null,
    ttl: 0
  }
  Request.prototype._sendReply.call(self, f.error, unhex(f.value), f.token !== null, true, f.to, socket)
  return out
}

function decodeResponse (buf) {
  checkDispatch(buf, RESPONSE_ID)
  const from = { id: null, host: '0.0.0.0', port: 1 }
  const { result: res, claimed } = captureClaimedId(() =>
    decodeReply(from, { start: 1, end: buf.byteLength, buffer: buf })
  )
  if (res === null) throw new Error('dht-rpc dropped the response')
  return {
    tid: res.tid,
    to: addr(res.to),
    id: claimed,
    token: res.token,
    closerNodes: (res.closerNodes || []).map(addr),
    error: res.error,
    value: res.value
  }
}

const hex32 = (rng) => rng.bytes(32).toString('hex')
const maybe = (rng, gen) => (rng.bool() ? gen(rng) : null)
const value = (rng) => rng.bytes(rng.pick([0, 1, 2, 4, 6, 252, 253, rng.int(0, 1500)])).toString('hex')
const command = (rng) => (rng.bool() ? rng.int(0, 12) : rng.uint())

function randomRequest (rng) {
  return {
    tid: rng.int(0, 65535),
    to: rng.address(),
    id: maybe(rng, hex32),
    token: maybe(rng, hex32),
    internal: rng.bool(),
    command: command(rng),
    target: maybe(rng, hex32),
    value: maybe(rng, value)
  }
}

function randomResponse (rng) {
  return {
    tid: rng.int(0, 65535),
    to: rng.address(),
    id: maybe(rng, hex32),
    token: maybe(rng, hex32),
    closerNodes: rng.bool() ? rng.addresses(20) : [],
    error: rng.bool() ? 0 : rng.pick([1, 2, 16, 17, rng.uint() || 1]),
    value: maybe(rng, value)
  }
}

const Z32 = '00'.repeat(32)
const AA32 = 'aa'.repeat(32)
const TO = '0a02020249c2' // 10.2.2.2:49737

module.exports = {
  rpcRequest: {
    random: randomRequest,
    encode: encodeRequest,
    decode: decodeRequest,
    examples: [
      { tid: 0x1234, to: { host: '10.2.2.2', port: 49737 }, id: null, token: null, internal: true, command: 0, target: null, value: null },
      { tid: 0, to: { host: '0.0.0.0', port: 0 }, id: AA32, token: Z32, internal: false, command: 300, target: AA32, value: '' },
      { tid: 65535, to: { host: '255.255.255.255', port: 65535 }, id: null, token: null, internal: false, command: Number.MAX_SAFE_INTEGER, target: null, value: '00' }
    ],
    bad: [
      { hex: '', note: 'empty datagram' },
      { hex: '03', note: 'one byte' },
      { hex: '0304', note: 'flags only' },
      { hex: '13' + '04' + '3412' + TO + '00', note: 'response type byte' },
      { hex: '23' + '04' + '3412' + TO + '00', note: 'unknown type byte' },
      { hex: '03' + '04' + '34', note: 'truncated tid' },
      { hex: '03' + '04' + '3412' + TO.slice(0, 10), note: 'truncated to' },
      { hex: '03' + '04' + '3412' + TO, note: 'missing command' },
      { hex: '03' + '05' + '3412' + TO + 'aa'.repeat(31), note: 'truncated id' },
      { hex: '03' + '06' + '3412' + TO + 'aa'.repeat(32), note: 'token but no command' },
      { hex: '03' + '0c' + '3412' + TO + '02' + 'aa'.repeat(31), note: 'truncated target' },
      { hex: '03' + '10' + '3412' + TO + '00' + '05' + 'aabbcc', note: 'value length past the end' },
      { hex: '03' + '10' + '3412' + TO + '00', note: 'value flag, no value' },
      { hex: '03' + 'e4' + '3412' + TO + '00', note: 'unknown flag bits 5-7 ignored' },
      { hex: '03' + 'fd0401' + '3412' + TO + '00', note: 'flags as a 3-byte varint with bit 8 set' },
      { hex: '03' + 'ff0400000001000000' + '3412' + TO + '00', note: 'flags above 2^32: only the low 32 bits count' },
      { hex: '03' + 'ff0000000000002000' + '3412' + TO + '00', note: 'flags varint above 2^53-1' },
      { hex: '03' + '04' + '3412' + TO + 'ffffffffffffff1f00', note: 'command 2^53-1' },
      { hex: '03' + '04' + '3412' + TO + 'ff0000000000002000', note: 'command 2^53' },
      { hex: '03' + '04' + '3412' + TO + 'fe01000000', note: 'non-minimal command' },
      { hex: '03' + '04' + '3412' + TO + '00' + 'deadbeef', note: 'trailing bytes ignored' }
    ]
  },
  rpcResponse: {
    random: randomResponse,
    encode: encodeResponse,
    decode: decodeResponse,
    examples: [
      { tid: 0x1234, to: { host: '10.1.1.1', port: 49737 }, id: null, token: null, closerNodes: [], error: 0, value: null },
      { tid: 1, to: { host: '1.2.3.4', port: 1 }, id: AA32, token: AA32, closerNodes: [{ host: '10.9.1.1', port: 20001 }], error: 2, value: '' }
    ],
    bad: [
      { hex: '13', note: 'one byte' },
      { hex: '03' + '00' + '3412' + TO, note: 'request type byte' },
      { hex: '13' + '00' + '3412' + TO.slice(0, 10), note: 'truncated to' },
      { hex: '13' + '00' + '3412' + TO, note: 'minimal response' },
      { hex: '13' + '04' + '3412' + TO + '00', note: 'flagged empty closerNodes' },
      { hex: '13' + '04' + '3412' + TO + '02' + TO, note: 'closerNodes count past the end' },
      { hex: '13' + '04' + '3412' + TO + 'fe01001000', note: 'closerNodes count above 0x100000' },
      { hex: '13' + '08' + '3412' + TO + '00', note: 'error flag with error 0' },
      { hex: '13' + '08' + '3412' + TO, note: 'error flag, no error' },
      { hex: '13' + '10' + '3412' + TO + 'fd0001', note: 'value length past the end' },
      { hex: '13' + 'e3' + '3412' + TO + 'aa'.repeat(64), note: 'unknown flag bits ignored' },
      { hex: '13' + '00' + '3412' + TO + 'ff', note: 'trailing bytes ignored' }
    ]
  },
  nodeId: {
    op: true,
    random: (rng) => rng.address(),
    run: (a) => ({ id: peer.id(a.host, a.port) }),
    examples: [{ host: '127.0.0.1', port: 49737 }, { host: '0.0.0.0', port: 0 }]
  },
  rpcToken: {
    op: true,
    random: (rng) => ({ host: rng.bool(0.9) ? rng.host() : rng.pick(['localhost', '::1', '']), secret0: hex32(rng), secret1: hex32(rng) }),
    run: (i) => {
      const io = { _secrets: [unhex(i.secret0), unhex(i.secret1)] }
      return { token0: IO.prototype.token.call(io, { host: i.host }, 0), token1: IO.prototype.token.call(io, { host: i.host }, 1) }
    },
    examples: [{ host: '1.2.3.4', secret0: '11'.repeat(32), secret1: '22'.repeat(32) }]
  },
  tokenRotate: {
    op: true,
    random: (rng) => ({ secret0: hex32(rng), secret1: hex32(rng), rotations: rng.int(0, 3) }),
    run: (i) => {
      const buf = Buffer.concat([unhex(i.secret0), unhex(i.secret1)])
      // the reference rotates on every 10th drain; stub the congestion window it also drains
      const io = {
        _secrets: [buf.subarray(0, 32), buf.subarray(32, 64)],
        _rotateSecrets: 10,
        congestion: { drain () {}, isFull: () => true }
      }
      for (let n = 0; n < 10 * i.rotations; n++) IO.prototype._drain.call(io)
      return { secret0: Buffer.from(io._secrets[0]), secret1: Buffer.from(io._secrets[1]) }
    },
    examples: [{ secret0: '11'.repeat(32), secret1: '22'.repeat(32), rotations: 1 }]
  }
}
