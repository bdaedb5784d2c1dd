'use strict'
// UDX packets, protomux frames and blind-relay messages.
//
// protomux does not export its frame codecs, so every protomux kind is encoded by a real Protomux
// instance writing to a recording fake stream (channel ids and message types are placed by
// pre-sizing its internal tables, which is how it allocates them). Decoding mirrors, with the same
// compact-encoding codecs, the stateless part of protomux's receive path (_ondata, _decode,
// _oncontrolsession, _onbatch, _onopensession): the bytes it would throw on. blind-relay's
// message codecs are exported and used directly.
//
// udxPacket: UDX headers are written by libudx in C, so there is no JS encoder to compare with.
// Its encode/decode here are a field parser written from the spec, used for the seeded random
// and mutation rounds; the live comparison against libudx bytes is tests/interop/udx-capture.js
// (thousands of datagrams captured between two udx-native streams), and a sample of those
// captured datagrams is committed as tests/vectors/udx-captured.json.
const EventEmitter = require('events')
const c = require('compact-encoding')
const Protomux = require('protomux')
const relay = require('blind-relay')
const { unhex } = require('../lib/canon')

// ---------------------------------------------------------------- protomux, encode side

class RecordingStream extends EventEmitter {
  constructor () {
    super()
    this.userData = null
    this.destroyed = false
    this.writes = []
  }

  write (buf) { this.writes.push(Buffer.from(buf)); return true }
  end () {}
  destroy () { this.destroyed = true }
  pause () {}
  resume () {}
}

function newMux () {
  const stream = new RecordingStream()
  return { stream, mux: new Protomux(stream) }
}

// A channel whose local id is `localId`: protomux takes the next id from its _local table.
function channelAt (mux, localId, opts = {}) {
  if (mux._local.length < localId - 1) {
    // via a huge length first so V8 keeps the table sparse instead of allocating every hole
    mux._local.length = 0xfffffff0
    mux._local.length = localId - 1
  }
  const ch = mux.createChannel({ protocol: 'test', id: null, ...opts, unique: false })
  ch.open(opts.handshakeValue)
  if (ch._localId !== localId) throw new Error('channel id placement failed')
  return ch
}

// A message sender of type `type` on `ch` (types are the index in the channel's message list).
function messageAt (ch, type) {
  if (ch.messages.length < type) {
    ch.messages.length = 0xfffffff0
    ch.messages.length = type
  }
  const m = ch.addMessage({ encoding: c.raw })
  if (m.type !== type) throw new Error('message type placement failed')
  return m
}

// ---------------------------------------------------------------- protomux, decode side

const MAX_BATCH_DEPTH = 64 // C++ cap; protomux recurses until the JS stack overflows

function rest (state) {
  const b = state.buffer.subarray(state.start, state.end)
  state.start = state.end
  return b
}

// What protomux would throw on for one message (type + payload) of `channel`.
function checkMessage (channel, state, depth) {
  const type = c.uint.decode(state)
  if (channel !== 0) return type
  if (type === 0) walkBatch(state, depth + 1, null)
  else if (type === 1) decodeOpen(state)
  else if (type === 2 || type === 3) c.uint.decode(state)
  return type
}

function decodeOpen (state) {
  return {
    localId: c.uint.decode(state),
    protocol: c.string.decode(state),
    id: c.optionalBuffer.decode(state),
    handshake: rest(state)
  }
}

function walkBatch (state, depth, out) {
  if (depth > MAX_BATCH_DEPTH) throw new Error('batch nesting too deep')
  const end = state.end
  let channel = c.uint.decode(state)
  const first = channel
  while (state.end > state.start) {
    const len = c.uint.decode(state)
    if (len === 0) {
      channel = c.uint.decode(state)
      continue
    }
    state.end = Math.min(state.start + len, end)
    const typeStart = state.start
    const type = checkMessage(channel, state, depth)
    if (out) {
      const s = { buffer: state.buffer, start: typeStart, end: state.end }
      c.uint.decode(s)
      out.push({ channel, type, payload: s.buffer.subarray(s.start, s.end) })
    }
    state.start = state.end
    state.end = end
  }
  return first
}

function frameState (buf) { return { buffer: buf, start: 0, end: buf.byteLength } }

function decodeFrame (buf) {
  const state = frameState(buf)
  const channel = c.uint.decode(state)
  const typeStart = state.start
  const type = checkMessage(channel, state, 0)
  const s = { buffer: buf, start: typeStart, end: buf.byteLength }
  c.uint.decode(s)
  return { channel, type, payload: buf.subarray(s.start) }
}

function controlPayload (buf, wanted) {
  const f = decodeFrame(buf) // validates the whole frame first
  if (f.channel !== 0 || f.type !== wanted) throw new Error('not the expected control message')
  return { buffer: buf, start: buf.byteLength - f.payload.byteLength, end: buf.byteLength }
}

// ---------------------------------------------------------------- random fields

function randomProtocol (rng) {
  return rng.pick(['blind-relay', 'hypercore/alpha', '', 'ümlaut ✓ 日本', 'p'.repeat(rng.int(0, 300))])
}
function randomId (rng) {
  return rng.pick([null, rng.bytes(32).toString('hex'), rng.buffer(40).toString('hex')])
}
function randomLocalId (rng) {
  return rng.pick([1, 2, rng.int(1, 0xfc), rng.int(0xfd, 0xffff), rng.int(0x10000, 0xfffff000)])
}
function randomType (rng) {
  return rng.pick([0, 1, 2, rng.int(0, 0xfc), rng.int(0xfd, 0x2ffff)])
}

// ---------------------------------------------------------------- udx packets (spec parser)

const UDX_HEADER = 20

function udxEncode (f) {
  const padding = Buffer.from(f.padding, 'hex')
  if (padding.length !== f.dataOffset) throw new Error('padding length != dataOffset')
  const h = Buffer.alloc(UDX_HEADER)
  h[0] = 0xff
  h[1] = 1
  h[2] = f.type
  h[3] = f.dataOffset
  h.writeUInt32LE(f.id, 4)
  h.writeUInt32LE(f.rwnd, 8)
  h.writeUInt32LE(f.seq, 12)
  h.writeUInt32LE(f.ack, 16)
  return Buffer.concat([h, padding, Buffer.from(f.payload, 'hex')])
}

function udxDecode (buf) {
  if (buf.length < UDX_HEADER) throw new Error('short')
  if (buf[0] !== 0xff || buf[1] !== 1) throw new Error('magic/version')
  const type = buf[2]
  const dataOffset = buf[3]
  const restLen = buf.length - UDX_HEADER
  if (dataOffset > restLen) throw new Error('data offset past the end')
  const sacks = []
  if (type & 0x04) {
    const area = dataOffset > 0 && dataOffset < restLen ? dataOffset : restLen
    for (let i = 0; i + 8 <= area; i += 8) {
      sacks.push([buf.readUInt32LE(UDX_HEADER + i), buf.readUInt32LE(UDX_HEADER + i + 4)])
    }
  }
  return {
    type,
    dataOffset,
    id: buf.readUInt32LE(4),
    rwnd: buf.readUInt32LE(8),
    seq: buf.readUInt32LE(12),
    ack: buf.readUInt32LE(16),
    sacks,
    padding: buf.subarray(UDX_HEADER, UDX_HEADER + dataOffset).toString('hex'),
    payload: buf.subarray(UDX_HEADER + dataOffset).toString('hex')
  }
}

function udxRandom (rng) {
  const type = rng.pick([0, 1, 2, 3, 4, 8, 0x10, 0x20, rng.int(0, 255)])
  const u32 = () => rng.pick([0, 1, 0xffffffff, rng.int(0, 0xffffffff)])
  let payload
  if (type & 0x04) {
    const blocks = []
    for (let i = rng.int(0, 50); i > 0; i--) {
      const b = Buffer.alloc(8)
      b.writeUInt32LE(u32(), 0)
      b.writeUInt32LE(u32(), 4)
      blocks.push(b)
    }
    blocks.push(rng.bool(0.2) ? rng.bytes(rng.int(1, 7)) : Buffer.alloc(0))
    payload = Buffer.concat(blocks)
  } else {
    payload = rng.bytes(rng.pick([0, 1, 5, 1132, 1152, 1452, rng.int(0, 2028)]))
  }
  const dataOffset = rng.bool(0.8) ? 0 : rng.pick([32, 44, 64, rng.int(1, 255)])
  const padding = rng.bool(0.7) ? Buffer.alloc(dataOffset) : rng.bytes(dataOffset)
  const f = {
    type,
    dataOffset,
    id: u32(),
    rwnd: rng.pick([4194304, u32()]),
    seq: u32(),
    ack: u32(),
    sacks: [],
    padding: padding.toString('hex'),
    payload: payload.toString('hex')
  }
  return udxDecode(udxEncode(f))
}

// ---------------------------------------------------------------- kinds

module.exports = {
  udxPacket: {
    random: udxRandom,
    encode: udxEncode,
    decode: udxDecode,
    examples: [
      // from ../shared/spec/udx.md §1.1 and §1.3
      udxDecode(Buffer.from('ff01000004030201000040000000000001000000', 'hex')),
      udxDecode(Buffer.from('ff0104000403020100004000000000000100000002000000030000000400000005000000', 'hex'))
    ],
    bad: [
      { hex: 'ff0100000403020100004000000000000100', note: '18 bytes: short header' },
      { hex: 'fe01000004030201000040000000000001000000', note: 'wrong magic' },
      { hex: 'ff02000004030201000040000000000001000000', note: 'wrong version' },
      { hex: 'ff01010104030201000040000000000001000000', note: 'data offset 1 past an empty rest' },
      { hex: 'ff01c00004030201000040000000000001000000', note: 'unknown type bits 0xc0: accepted' },
      { hex: 'ff010400040302010000400000000000010000000200000003000000aabbcc', note: 'SACK with trailing partial block' },
      { hex: 'ff010408040302010000400000000000010000000200000003000000aabbcc', note: 'SACK area bounded by data offset 8' }
    ]
  },

  protomuxMessage: {
    random: (rng) => ({ channel: randomLocalId(rng), type: randomType(rng), payload: rng.bufferAnySize().toString('hex') }),
    encode: (f) => {
      const { stream, mux } = newMux()
      const ch = channelAt(mux, f.channel)
      messageAt(ch, f.type).send(unhex(f.payload))
      return stream.writes[stream.writes.length - 1]
    },
    decode: decodeFrame,
    bad: [
      { hex: '', note: 'empty frame (protomux ignores it; not a message)' },
      { hex: '01', note: 'no type' },
      { hex: '0002', note: 'control reject without id' },
      { hex: '0009aa', note: 'unknown control type: ignored' },
      { hex: '000001020001', note: 'batch entry len 2 clamped to the end' }
    ]
  },

  protomuxOpen: {
    random: (rng) => ({
      localId: randomLocalId(rng),
      protocol: randomProtocol(rng),
      id: randomId(rng),
      handshake: rng.bool(0.5) ? '' : rng.buffer(64).toString('hex')
    }),
    encode: (f) => {
      const { stream, mux } = newMux()
      const hs = unhex(f.handshake)
      channelAt(mux, f.localId, {
        protocol: f.protocol,
        id: unhex(f.id),
        handshake: hs.length ? c.raw : null,
        handshakeValue: hs.length ? hs : undefined
      })
      return stream.writes[0]
    },
    decode: (buf) => decodeOpen(controlPayload(buf, 1)),
    examples: [{ localId: 1, protocol: 'blind-relay', id: 'ab'.repeat(32), handshake: '' }],
    bad: [
      { hex: '0001010b626c696e642d72656c6179', note: 'open without the id field' },
      { hex: '0001000000', note: 'local id 0: decodes; protomux then destroys the stream (its reject call throws)' },
      { hex: '0101010000', note: 'not on the control channel' }
    ]
  },

  protomuxReject: {
    random: (rng) => ({ remoteId: randomLocalId(rng) }),
    encode: (f) => {
      const { stream, mux } = newMux()
      mux._remote[f.remoteId - 1] = { state: null, pending: null, session: null }
      mux._rejectSession(null, f.remoteId)
      return stream.writes[0]
    },
    decode: (buf) => ({ remoteId: c.uint.decode(controlPayload(buf, 2)) })
  },

  protomuxClose: {
    random: (rng) => ({ localId: randomLocalId(rng) }),
    encode: (f) => {
      const { stream, mux } = newMux()
      channelAt(mux, f.localId).close()
      return stream.writes[stream.writes.length - 1]
    },
    decode: (buf) => ({ localId: c.uint.decode(controlPayload(buf, 3)) })
  },

  protomuxBatch: {
    random: (rng) => {
      // Replayed by encode: messages on pre-opened channels, channels opened and closed inside
      // the batch (control entries on channel 0).
      const channels = [...new Set(Array.from({ length: rng.int(1, 4) }, () => randomLocalId(rng)))].sort((a, b) => a - b)
      const actions = []
      for (let i = rng.int(1, 12); i > 0; i--) {
        const r = rng.float()
        if (r < 0.1) actions.push({ op: 'open', protocol: randomProtocol(rng), id: randomId(rng) })
        else if (r < 0.15) actions.push({ op: 'close' })
        else actions.push({ op: 'send', channel: rng.pick(channels), type: rng.int(0, 5), payload: rng.buffer(rng.pick([4, 300])).toString('hex') })
      }
      return batchFields(channels, actions)
    },
    encode: (f) => {
      // Replays the decoded entries through a real corked Protomux.
      const { stream, mux } = newMux()
      const chans = new Map()
      const senders = new Map()
      const ids = [...new Set(f.entries.filter((e) => e.channel !== 0).map((e) => e.channel))].sort((a, b) => a - b)
      for (const id of ids) chans.set(id, channelAt(mux, id))
      for (const [id, ch] of chans) {
        const types = [...new Set(f.entries.filter((e) => e.channel === id).map((e) => e.type))].sort((a, b) => a - b)
        for (const t of types) senders.set(id + ':' + t, messageAt(ch, t))
      }
      const before = stream.writes.length
      mux.cork()
      for (const e of f.entries) {
        if (e.channel !== 0) { senders.get(e.channel + ':' + e.type).send(unhex(e.payload)); continue }
        // control entries: replay the raw control message through _write0, as open/close do
        mux._write0(Buffer.concat([Buffer.from([0]), c.encode(c.uint, e.type), unhex(e.payload)]))
      }
      mux.uncork()
      if (stream.writes.length !== before + 1) throw new Error('expected one batch frame')
      return stream.writes[before]
    },
    decode: (buf) => {
      const state = controlPayload(buf, 0)
      const entries = []
      const channel = walkBatch(state, 1, entries)
      return { channel, entries }
    },
    bad: [
      { hex: '000001', note: 'batch with no entries: accepted' },
      { hex: '00000100', note: 'channel switch without the channel' },
      { hex: '0000010a0203', note: 'entry length clamped to the end' },
      { hex: '000000060000040101056162', note: 'nested batch: truncated open inside' },
      { hex: '000001020001', note: 'one entry: type 0 on channel 1, payload 01' }
    ]
  },

  blindRelayPair: {
    random: (rng) => ({ isInitiator: rng.bool(), token: rng.bytes(32).toString('hex'), id: rng.uint(), seq: rng.pick([0, rng.uint()]) }),
    encode: (f) => c.encode(relay.messages.pair, { ...f, token: unhex(f.token) }),
    decode: (buf) => c.decode(relay.messages.pair, buf),
    bad: [
      { hex: 'fd0100' + '11'.repeat(32) + '0500', note: 'wide (16-bit) bitfield form' },
      { hex: '7e' + '11'.repeat(32) + '0500', note: 'other flag bits ignored' },
      { hex: '01' + '11'.repeat(31), note: 'short token' }
    ]
  },

  blindRelayUnpair: {
    random: (rng) => ({ token: rng.bytes(32).toString('hex') }),
    encode: (f) => c.encode(relay.messages.unpair, { token: unhex(f.token) }),
    decode: (buf) => c.decode(relay.messages.unpair, buf)
  }
}

// Runs the random actions of protomuxBatch through a real corked Protomux and returns the
// decoded fields of the batch frame it wrote.
function batchFields (channels, actions) {
  const { stream, mux } = newMux()
  const open = new Map()
  for (const id of channels) open.set(id, { ch: channelAt(mux, id), msgs: new Map() })
  // create message senders in ascending type order so that placement works
  for (const [, o] of open) for (let t = 0; t <= 5; t++) o.msgs.set(t, messageAt(o.ch, t))
  const before = stream.writes.length
  const opened = []
  mux.cork()
  for (const a of actions) {
    if (a.op === 'send') open.get(a.channel).msgs.get(a.type).send(unhex(a.payload))
    else if (a.op === 'open') {
      const ch = mux.createChannel({ protocol: a.protocol, id: unhex(a.id), unique: false })
      ch.open()
      opened.push(ch)
    } else if (a.op === 'close' && opened.length) opened.pop().close()
  }
  // guarantee a non-empty batch
  open.get(channels[0]).msgs.get(0).send(Buffer.from('end'))
  mux.uncork()
  const frame = stream.writes[before]
  return module.exports.protomuxBatch.decode(frame)
}
