'use strict'
// Noise IK, the holepunch secure payload, secret-stream framing and unordered messages. All ops:
// each runs the real JS (noise-handshake + noise-curve-ed through hyperdht's NoiseWrap,
// hyperdht's SecurePayload, @hyperswarm/secret-stream's NoiseSecretStream) with the randomness
// pinned, so the C++ must reproduce the bytes exactly.
const path = require('path')
const { EventEmitter } = require('events')
const c = require('compact-encoding')
const curve = require('noise-curve-ed')
const NoiseWrap = require('hyperdht/lib/noise-wrap')
const SecurePayload = require('hyperdht/lib/secure-payload')
const messages = require('hyperdht/lib/messages')
const { unhex } = require('../lib/canon')

// The copies the reference modules themselves loaded (nested installs would be other objects).
const fromDir = (mod, id) => require(require.resolve(id, { paths: [path.dirname(require.resolve(mod))] }))
const NoiseSecretStream = fromDir('hyperdht/lib/noise-wrap', '@hyperswarm/secret-stream')
const payloadSodium = fromDir('hyperdht/lib/secure-payload', 'sodium-universal')
const streamSodium = fromDir('@hyperswarm/secret-stream', 'sodium-universal')

const hex = (b) => (b === null || b === undefined ? null : Buffer.from(b).toString('hex'))

// Points libsodium's crypto_scalarmult_ed25519 refuses: identity, small order, non-canonical.
const BAD_POINTS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f'
]

// A NoiseSecretStream on a completed handshake over an inert raw stream that records writes.
class RawStream extends EventEmitter {
  constructor () { super(); this.written = [] }
  write (b) { this.written.push(Buffer.from(b)); return true }
  end () {}
  destroy () {}
  pause () {}
  resume () {}
}

function makeStream (isInitiator, hash, tx, rx, opts = {}) {
  const raw = new RawStream()
  const kp = { publicKey: Buffer.alloc(32), secretKey: Buffer.alloc(64) }
  const s = new NoiseSecretStream(isInitiator, raw, {
    ...opts,
    handshake: { tx, rx, hash, publicKey: kp.publicKey, remotePublicKey: Buffer.alloc(32) }
  })
  return { s, raw }
}

// Re-seeds the stream's push state from a chosen header: init_pull builds the same state that
// init_push builds after drawing that header (checked by the C++ tests and by sameStateCheck).
function pinHeader (s, tx, header) {
  streamSodium.crypto_secretstream_xchacha20poly1305_init_pull(s._encrypt.state, header, tx.subarray(0, 32))
}

function sameStateCheck () {
  const key = Buffer.alloc(32, 7)
  const a = Buffer.alloc(streamSodium.crypto_secretstream_xchacha20poly1305_STATEBYTES)
  const b = Buffer.alloc(a.length)
  const header = Buffer.alloc(24)
  streamSodium.crypto_secretstream_xchacha20poly1305_init_push(a, header, key)
  streamSodium.crypto_secretstream_xchacha20poly1305_init_pull(b, header, key)
  if (!a.equals(b)) throw new Error('init_pull does not rebuild the init_push state')
}
sameStateCheck()

function frames (isInitiator, hash, tx, header, msgs) {
  const { s, raw } = makeStream(isInitiator, hash, tx, Buffer.alloc(32))
  pinHeader(s, tx, header)
  const headerMessage = Buffer.concat([raw.written[0].subarray(0, 35), header])
  const out = []
  for (const m of msgs) {
    raw.written.length = 0
    let err = null
    s._write(Buffer.from(m), (e) => { err = e })
    if (err) throw err
    out.push(raw.written[0])
  }
  return { headerMessage, frames: out }
}

function randomHolepunchPayload (rng) {
  return {
    error: rng.int(0, 3),
    firewall: rng.int(0, 3),
    round: rng.int(0, 200),
    connected: rng.bool(),
    punching: rng.bool(),
    addresses: rng.bool() ? rng.addresses(3) : null,
    remoteAddress: rng.bool() ? rng.address() : null,
    token: rng.bool() ? rng.bytes(32) : null,
    remoteToken: rng.bool() ? rng.bytes(32) : null
  }
}

function withNonce (nonce, fn) {
  const orig = payloadSodium.randombytes_buf
  payloadSodium.randombytes_buf = (buf) => { buf.set(nonce) }
  try { return fn() } finally { payloadSodium.randombytes_buf = orig }
}

function tamperMessage (msg, t) {
  if (!t) return Buffer.from(msg)
  const b = Buffer.from(msg)
  if (t.kind === 'xor') { if (b.length) b[t.offset % b.length] ^= t.xor; return b }
  if (t.kind === 'truncate') return b.subarray(0, Math.min(t.length, b.length))
  if (t.kind === 'ephemeral') { Buffer.from(t.key, 'hex').copy(b, 0); return b }
  if (t.kind === 'extend') return Buffer.concat([b, Buffer.alloc(t.length, 0xaa)])
  throw new Error('unknown tamper ' + t.kind)
}

// A seeded stream of header message + frames, then one mutation, cut into random chunks.
function randomStream (rng) {
  const isInitiator = rng.bool()
  const hash = rng.bytes(64)
  const key = rng.bytes(32)
  const header = rng.bytes(24)
  const msgs = []
  for (let i = rng.int(0, 6); i > 0; i--) msgs.push(rng.pick([rng.bytes(0), rng.buffer(40), rng.buffer(3000)]))
  const sent = frames(isInitiator, hash, key, header, msgs)
  const parts = [sent.headerMessage, ...sent.frames]
  const mut = rng.int(0, 9)
  const pick = () => rng.int(0, parts.length - 1)
  if (mut === 1) { const i = pick(); parts[i] = Buffer.from(parts[i]); parts[i][rng.int(3, parts[i].length - 1)] ^= rng.int(1, 255) } // tamper
  else if (mut === 2 && parts.length > 2) { const i = rng.int(1, parts.length - 2); [parts[i], parts[i + 1]] = [parts[i + 1], parts[i]] } // reorder
  else if (mut === 3 && parts.length > 1) { const i = rng.int(1, parts.length - 1); parts.splice(i, 0, parts[i]) } // replay
  else if (mut === 4) parts[0] = Buffer.from(rng.pick(['370000', '390000', '000000']) + sent.headerMessage.subarray(3).toString('hex'), 'hex') // header size
  else if (mut === 5) { parts[0] = Buffer.from(parts[0]); parts[0][rng.int(3, 34)] ^= 1 } // header id
  else if (mut === 6) parts.splice(rng.int(1, parts.length), 0, Buffer.concat([Buffer.from([16, 0, 0]), rng.bytes(16)])) // body < 17
  else if (mut === 7) parts.push(rng.bytes(rng.int(1, 40))) // trailing junk
  else if (mut === 8) parts.push(Buffer.from([0, 0, 0])) // zero-length body
  const all = Buffer.concat(parts)
  const chunks = []
  for (let at = 0; at < all.length;) {
    const n = rng.pick([1, 2, 3, rng.int(1, 64), rng.int(1, 5000), all.length])
    chunks.push(all.subarray(at, at + n).toString('hex'))
    at += n
  }
  return { isInitiator: !isInitiator, hash: hash.toString('hex'), rx: key.toString('hex'), filterEmpty: rng.bool(), chunks }
}

module.exports = {
  noiseIK: {
    op: true,
    count: 1000,
    random (rng) {
      const t = rng.int(0, 7)
      let tamper = null
      const msg = rng.pick([1, 2])
      if (t === 1 || t === 2) tamper = { msg, kind: 'xor', offset: rng.int(0, 400), xor: rng.int(1, 255) }
      else if (t === 3) tamper = { msg, kind: 'truncate', length: rng.pick([0, 31, 32, 47, 79, 80, 95, rng.int(0, 200)]) }
      else if (t === 4) tamper = { msg, kind: 'ephemeral', key: rng.pick(BAD_POINTS) }
      else if (t === 5) tamper = { msg, kind: 'extend', length: rng.int(1, 20) }
      const size = () => rng.pick([0, 1, 18, 39, rng.int(0, 400), rng.int(0, 400), rng.bool(0.1) ? rng.pick([65519, 65520]) : 5])
      return {
        initiatorSeed: rng.bytes(32).toString('hex'),
        responderSeed: rng.bytes(32).toString('hex'),
        initiatorEphemeralSeed: rng.bytes(32).toString('hex'),
        responderEphemeralSeed: rng.bytes(32).toString('hex'),
        // The initiator may be handed a key libsodium refuses as the server's static key.
        responderStaticOverride: t === 6 ? rng.pick(BAD_POINTS) : null,
        payload1: rng.bytes(size()).toString('hex'),
        payload2: rng.bytes(size()).toString('hex'),
        tamper
      }
    },
    run (input) {
      const out = {
        msg1: null, payload1: null, remoteStatic: null, msg2: null, payload2: null, error: null,
        hash: null, initiatorTx: null, initiatorRx: null, responderTx: null, responderRx: null,
        holepunchSecret: null, streamIdInitiator: null, streamIdResponder: null,
        sendKeyInitiator: null, sendKeyResponder: null
      }
      const ikp = curve.generateKeyPair(unhex(input.initiatorSeed))
      const rkp = curve.generateKeyPair(unhex(input.responderSeed))
      const remote = input.responderStaticOverride ? unhex(input.responderStaticOverride) : rkp.publicKey
      const ini = new NoiseWrap(ikp, remote)
      ini.handshake.e = curve.generateKeyPair(unhex(input.initiatorEphemeralSeed))
      const rsp = new NoiseWrap(rkp, null)
      rsp.handshake.e = curve.generateKeyPair(unhex(input.responderEphemeralSeed))
      const t = input.tamper

      let m1
      try { m1 = ini.handshake.send(unhex(input.payload1)) } catch { out.error = 'write1'; return out }
      out.msg1 = hex(m1)
      try {
        out.payload1 = hex(rsp.handshake.recv(tamperMessage(m1, t && t.msg === 1 ? t : null)))
      } catch { out.error = 'read1'; return out }
      out.remoteStatic = hex(rsp.handshake.rs)
      let m2
      try { m2 = rsp.handshake.send(unhex(input.payload2)) } catch { out.error = 'write2'; return out }
      out.msg2 = hex(m2)
      try {
        out.payload2 = hex(ini.handshake.recv(tamperMessage(m2, t && t.msg === 2 ? t : null)))
      } catch { out.error = 'read2'; return out }

      const fi = ini.final()
      const fr = rsp.final()
      if (!fi.hash.equals(fr.hash) || !fi.holepunchSecret.equals(fr.holepunchSecret)) throw new Error('sides disagree')
      out.hash = hex(fi.hash)
      out.initiatorTx = hex(fi.tx)
      out.initiatorRx = hex(fi.rx)
      out.responderTx = hex(fr.tx)
      out.responderRx = hex(fr.rx)
      out.holepunchSecret = hex(fi.holepunchSecret)
      out.streamIdInitiator = hex(NoiseSecretStream.id(fi.hash, true))
      out.streamIdResponder = hex(fi.remoteId)
      const { s } = makeStream(true, fi.hash, fi.tx, fi.rx)
      out.sendKeyInitiator = hex(s._sendState.subarray(0, 32))
      out.sendKeyResponder = hex(s._sendState.subarray(32, 64))
      return out
    }
  },

  securePayloadEncrypt: {
    op: true,
    count: 1000,
    random (rng) {
      return {
        key: rng.bytes(32).toString('hex'),
        nonce: rng.bytes(24).toString('hex'),
        plaintext: c.encode(messages.holepunchPayload, randomHolepunchPayload(rng)).toString('hex'),
        localSecret: rng.bytes(32).toString('hex'),
        host: rng.pick([rng.host(), '', 'example.org', 'ümlaut'])
      }
    },
    run (input) {
      const sp = new SecurePayload(unhex(input.key))
      sp._localSecret = unhex(input.localSecret)
      const payload = c.decode(messages.holepunchPayload, unhex(input.plaintext))
      const wire = withNonce(unhex(input.nonce), () => sp.encrypt(payload))
      return { wire: hex(wire), token: hex(sp.token({ host: input.host, port: 1 })) }
    }
  },

  // Plaintexts are canonical holepunchPayload encodings, so "accepted" plaintext bytes equal the
  // re-encoding of what the JS decoded. Decoding the payload is the messages layer's job.
  securePayloadDecrypt: {
    op: true,
    count: 1000,
    random (rng) {
      const key = rng.bytes(32)
      const plain = rng.bool(0.1) ? Buffer.alloc(0) : c.encode(messages.holepunchPayload, randomHolepunchPayload(rng))
      const sp = new SecurePayload(key)
      let wire = withNonce(rng.bytes(24), () => {
        // SecurePayload.encrypt takes an object; an empty plaintext is sealed directly.
        if (plain.length) return sp.encrypt(c.decode(messages.holepunchPayload, plain))
        const w = Buffer.alloc(40)
        payloadSodium.randombytes_buf(w.subarray(0, 24))
        payloadSodium.crypto_secretbox_easy(w.subarray(24), plain, w.subarray(0, 24), key)
        return w
      })
      const mut = rng.int(0, 5)
      if (mut === 1) { wire = Buffer.from(wire); wire[rng.int(0, wire.length - 1)] ^= rng.int(1, 255) }
      else if (mut === 2) wire = wire.subarray(0, rng.int(0, wire.length - 1))
      else if (mut === 3) return { key: rng.bytes(32).toString('hex'), wire: wire.toString('hex') }
      return { key: key.toString('hex'), wire: wire.toString('hex') }
    },
    run (input) {
      const sp = new SecurePayload(unhex(input.key))
      const res = sp.decrypt(Buffer.from(unhex(input.wire)))
      return { plaintext: res === null ? null : hex(c.encode(messages.holepunchPayload, res)) }
    }
  },

  secretStreamFrames: {
    op: true,
    count: 1000,
    random (rng) {
      const msgs = []
      for (let i = rng.int(0, 8); i > 0; i--) msgs.push(rng.pick([rng.bytes(0), rng.buffer(64), rng.buffer(4000)]).toString('hex'))
      return {
        isInitiator: rng.bool(),
        hash: rng.bytes(64).toString('hex'),
        tx: rng.bytes(32).toString('hex'),
        header: rng.bytes(24).toString('hex'),
        messages: msgs
      }
    },
    run (input) {
      const r = frames(input.isInitiator, unhex(input.hash), unhex(input.tx), unhex(input.header), input.messages.map(unhex))
      return { headerMessage: hex(r.headerMessage), frames: r.frames.map(hex) }
    }
  },

  // The receiving side: `isInitiator` is the receiver's role, so it expects the other role's id.
  secretStreamOpen: {
    op: true,
    count: 1000,
    random: randomStream,
    run (input) {
      const hash = unhex(input.hash)
      const { s } = makeStream(input.isInitiator, hash, Buffer.alloc(32), unhex(input.rx), {
        filterZeroByteMessages: input.filterEmpty
      })
      const out = { messages: [], error: null }
      s.push = (p) => { if (out.error === null) out.messages.push(hex(p)); return true }
      s.destroy = (err) => {
        if (out.error !== null) return
        // sodium-native's pull failure has no reference-level text; name it like the C++.
        out.error = err.message === 'pull failed' ? 'Decryption failed' : err.message
      }
      for (const ch of input.chunks) {
        if (out.error !== null) break
        s._onrawdata(unhex(ch))
      }
      return out
    }
  },

  unorderedEnvelope: {
    op: true,
    count: 1000,
    random (rng) {
      const wrap = rng.bool(0.2)
      const counter = wrap ? 'fdffffffffffffff' : rng.bytes(8).toString('hex')
      const msgs = []
      for (let i = rng.int(1, 5); i > 0; i--) msgs.push(rng.buffer(rng.pick([0, 30, 1200])).toString('hex'))
      return {
        isInitiator: rng.bool(),
        hash: rng.bytes(64).toString('hex'),
        counter,
        initial: wrap ? '0000000000000000' : counter,
        messages: msgs
      }
    },
    run (input) {
      const { s } = makeStream(input.isInitiator, unhex(input.hash), Buffer.alloc(32), Buffer.alloc(32))
      s._sendState.set(unhex(input.counter), 64)
      s._sendState.set(unhex(input.initial), 72)
      let exhausted = false
      s.destroy = () => { exhausted = true }
      const envelopes = []
      for (const m of input.messages) {
        const e = s._boxMessage(unhex(m))
        if (exhausted) break
        envelopes.push(hex(e))
      }
      return { envelopes, exhausted, key: hex(s._sendState.subarray(0, 32)) }
    }
  },

  unorderedOpen: {
    op: true,
    count: 1000,
    random (rng) {
      const hash = rng.bytes(64)
      const { s } = makeStream(true, hash, Buffer.alloc(32), Buffer.alloc(32))
      s._sendState.set(rng.bytes(8), 64)
      let env = s._boxMessage(rng.buffer(rng.pick([0, 10, 300])))
      const mut = rng.int(0, 4)
      if (mut === 1) { env = Buffer.from(env); env[rng.int(0, env.length - 1)] ^= rng.int(1, 255) }
      else if (mut === 2) env = env.subarray(0, rng.int(0, env.length - 1))
      // The responder opens what the initiator sent; as the initiator it would use the wrong key.
      return { isInitiator: rng.bool(0.2), hash: hash.toString('hex'), envelope: env.toString('hex') }
    },
    run (input) {
      const { s } = makeStream(input.isInitiator, unhex(input.hash), Buffer.alloc(32), Buffer.alloc(32))
      let got = null
      s.on('message', (m) => { got = hex(m) })
      s._onmessage(Buffer.from(unhex(input.envelope)))
      return { message: got }
    }
  }
}
