'use strict'
// hyperdht messages and records (hyperdht/lib/messages.js, hyperdht-address, lib/persistent.js).
// Kind names avoid generic words (the registry is shared by all families). Codec kinds use the
// real npm codecs; op kinds compute signables and signatures with the real
// Persistent.sign*/verify* and sodium.
const c = require('compact-encoding')
const sodium = require('sodium-native')
const m = require('hyperdht/lib/messages')
const { NS } = require('hyperdht/lib/constants')
const Persistent = require('hyperdht/lib/persistent')
const { createKeyPair } = require('hyperdht/lib/crypto')
const hcrypto = require('hypercore-crypto')
const hyperdhtAddress = require('hyperdht-address')
const { canon, unhex } = require('../lib/canon')

const hex = (b) => Buffer.from(b).toString('hex')
const h32 = (...parts) => { const out = Buffer.alloc(32); sodium.crypto_generichash_batch(out, parts.map((p) => Buffer.from(p))); return out }
const maybe = (rng, f) => (rng.bool() ? f() : null)
const addrJs = (a) => ({ host: a.host, port: a.port })

// Random generators (canonical JSON fields).
const rPeer = (rng) => ({ publicKey: hex(rng.bytes(32)), relayAddresses: rng.addresses(rng.pick([0, 1, 3, 5])) })
const rIpv6 = (rng) => {
  const g = []
  for (let i = 0; i < 8; i++) g.push(rng.bool(0.3) ? 0 : rng.pick([rng.int(0, 0xffff), rng.int(0, 0xf), 0xffff]))
  return { host: g.map((x) => x.toString(16)).join(':'), port: rng.int(0, 65535) }
}
const rUtf8 = (rng) => rng.pick(['', 'test', 'hyperswarm/plugin', 'ümlaut ✓ 日本 😀', 'x'.repeat(rng.int(0, 300)), hex(rng.buffer(10))])

// Canonical fields -> the objects the JS codecs take.
const peerJs = (p) => ({ publicKey: unhex(p.publicKey), relayAddresses: p.relayAddresses.map(addrJs) })

function codec (enc, random, toJs) {
  return {
    random,
    encode: (f) => c.encode(enc, toJs(f)),
    decode: (buf) => canon(c.decode(enc, buf))
  }
}

const noisePayloadJs = (f) => ({
  error: f.error,
  firewall: f.firewall,
  holepunch: f.holepunch && { id: f.holepunch.id, relays: f.holepunch.relays.map((r) => ({ relayAddress: addrJs(r.relayAddress), peerAddress: addrJs(r.peerAddress) })) },
  addresses4: f.addresses4.map(addrJs),
  addresses6: f.addresses6.map(addrJs),
  udx: f.udx && { reusableSocket: f.udx.reusableSocket, id: f.udx.id, seq: f.udx.seq },
  secretStream: f.secretStream && {},
  relayThrough: f.relayThrough && { publicKey: unhex(f.relayThrough.publicKey), token: unhex(f.relayThrough.token) },
  relayAddresses: f.relayAddresses && f.relayAddresses.map(addrJs)
})

const holepunchPayloadJs = (f) => ({
  error: f.error,
  firewall: f.firewall,
  round: f.round,
  connected: f.connected,
  punching: f.punching,
  addresses: f.addresses && f.addresses.map(addrJs),
  remoteAddress: f.remoteAddress && addrJs(f.remoteAddress),
  token: unhex(f.token),
  remoteToken: unhex(f.remoteToken)
})

function annInput (rng, withRefresh) {
  return {
    seed: hex(rng.bytes(32)),
    target: hex(rng.bytes(32)),
    token: hex(rng.bytes(32)),
    nodeId: hex(rng.bytes(32)),
    relayAddresses: rng.addresses(rng.pick([0, 1, 2, 3])),
    refresh: withRefresh && rng.bool() ? hex(rng.bytes(32)) : null
  }
}

function annRun (ns, signFn) {
  return (i) => {
    const kp = createKeyPair(unhex(i.seed))
    const peer = { publicKey: kp.publicKey, relayAddresses: i.relayAddresses.map(addrJs) }
    const ann = { peer, refresh: unhex(i.refresh), signature: null }
    const signable = Buffer.concat([ns, h32(unhex(i.target), unhex(i.nodeId), unhex(i.token), c.encode(m.peer, peer), ann.refresh || Buffer.alloc(0))])
    const signature = signFn(unhex(i.target), unhex(i.token), unhex(i.nodeId), ann, kp)
    return { signable: hex(signable), signature: hex(signature), verify: sodium.crypto_sign_verify_detached(signature, signable, kp.publicKey) }
  }
}

module.exports = {
  peerRecord: codec(m.peer, rPeer, peerJs),
  lookupRawReply: {
    random: (rng) => ({ peers: Array.from({ length: rng.pick([0, 1, 2, 5]) }, () => rPeer(rng)), bump: rng.pick([0, rng.uint()]) }),
    encode: (f) => c.encode(m.lookupRawReply, { peers: f.peers.map((p) => c.encode(m.peer, peerJs(p))), bump: f.bump }),
    decode: (buf) => canon(c.decode(m.lookupRawReply, buf)),
    bad: [{ hex: '', note: 'empty' }, { hex: '01', note: 'count past the bytes' }, { hex: 'fe00001000', note: 'array too big' }, { hex: '00', note: 'no bump -> 0' }]
  },
  announceMessage: {
    ...codec(m.announce, (rng) => ({
      peer: maybe(rng, () => rPeer(rng)),
      refresh: maybe(rng, () => hex(rng.bytes(32))),
      signature: maybe(rng, () => hex(rng.bytes(64))),
      bump: rng.pick([0, rng.uint()])
    }), (f) => ({ peer: f.peer && peerJs(f.peer), refresh: unhex(f.refresh), signature: unhex(f.signature), bump: f.bump })),
    bad: [{ hex: '', note: 'empty' }, { hex: 'f0', note: 'unknown flags only' }, { hex: '08', note: 'bump flag, no bump' }, { hex: '02' + 'cc'.repeat(31), note: 'short refresh' }]
  },
  mutableSignable: codec(m.mutableSignable, (rng) => ({ seq: rng.uint(), value: hex(rng.bufferAnySize()) }), (f) => ({ seq: f.seq, value: unhex(f.value) })),
  mutablePutRequest: codec(m.mutablePutRequest, (rng) => ({ publicKey: hex(rng.bytes(32)), seq: rng.uint(), value: hex(rng.bufferAnySize()), signature: hex(rng.bytes(64)) }),
    (f) => ({ publicKey: unhex(f.publicKey), seq: f.seq, value: unhex(f.value), signature: unhex(f.signature) })),
  mutableGetResponse: codec(m.mutableGetResponse, (rng) => ({ seq: rng.uint(), value: hex(rng.bufferAnySize()), signature: hex(rng.bytes(64)) }),
    (f) => ({ seq: f.seq, value: unhex(f.value), signature: unhex(f.signature) })),
  pluginRequest: {
    ...codec(m.pluginRequest, (rng) => ({ plugin: rUtf8(rng), version: rng.uint(), command: rng.uint(), value: maybe(rng, () => hex(rng.buffer(300))) }),
      (f) => ({ plugin: f.plugin, version: f.version, command: f.command, value: unhex(f.value) })),
    bad: [{ hex: '02ff41010200', note: 'invalid UTF-8 -> replacement character' }, { hex: '03e282010200', note: 'truncated 3-byte sequence' }, { hex: '0474657374010201', note: 'value flag, no value' }]
  },
  hyperdhtAddress: {
    random: (rng) => ({ key: hex(rng.bytes(32)), nodes: maybe(rng, () => rng.addresses(rng.pick([0, 1, 3]))) }),
    encode: (f) => hyperdhtAddress.encode(unhex(f.key), f.nodes && f.nodes.map(addrJs)),
    decode: (buf) => canon(hyperdhtAddress.decode(buf)),
    bad: [{ hex: '3b'.repeat(32), note: 'bare key, no flags' }, { hex: '3b'.repeat(31), note: 'short key' }, { hex: '3b'.repeat(32) + '01', note: 'nodes flag, no nodes' }]
  },
  peerHandshakeMessage: codec(m.handshake, (rng) => ({
    mode: rng.pick([0, 1, 2, 3, 4, rng.smallUint()]), // preencode reserves 1 byte: mode < 0xfd
    noise: hex(rng.bufferAnySize()),
    peerAddress: maybe(rng, () => rng.address()),
    relayAddress: maybe(rng, () => rng.address())
  }), (f) => ({ mode: f.mode, noise: unhex(f.noise), peerAddress: f.peerAddress && addrJs(f.peerAddress), relayAddress: f.relayAddress && addrJs(f.relayAddress) })),
  peerHolepunchMessage: codec(m.holepunch, (rng) => ({
    mode: rng.pick([0, 1, 2, 3, 4, rng.smallUint()]), // preencode reserves 1 byte: mode < 0xfd
    id: rng.uint(),
    payload: hex(rng.bufferAnySize()),
    peerAddress: maybe(rng, () => rng.address())
  }), (f) => ({ mode: f.mode, id: f.id, payload: unhex(f.payload), peerAddress: f.peerAddress && addrJs(f.peerAddress) })),
  noisePayload: {
    random: (rng) => ({
      version: 1,
      // preencode reserves one byte each for version, flags, error, firewall
      error: rng.pick([0, 1, 2, 3, rng.smallUint()]),
      firewall: rng.pick([0, 1, 2, 3, rng.smallUint()]),
      holepunch: maybe(rng, () => ({ id: rng.uint(), relays: Array.from({ length: rng.pick([0, 1, 3]) }, () => ({ relayAddress: rng.address(), peerAddress: rng.address() })) })),
      addresses4: rng.bool() ? [] : rng.addresses(4),
      addresses6: rng.bool(0.7) ? [] : Array.from({ length: rng.int(1, 3) }, () => rIpv6(rng)),
      udx: maybe(rng, () => ({ version: 1, reusableSocket: rng.bool(), id: rng.uint(), seq: rng.uint() })),
      secretStream: maybe(rng, () => ({ version: 1 })),
      relayThrough: maybe(rng, () => ({ version: 1, publicKey: hex(rng.bytes(32)), token: hex(rng.bytes(32)) })),
      relayAddresses: maybe(rng, () => rng.addresses(3))
    }),
    encode: (f) => c.encode(m.noisePayload, noisePayloadJs(f)),
    decode: (buf) => canon(c.decode(m.noisePayload, buf)),
    bad: [{ hex: '', note: 'empty' }, { hex: '02', note: 'version 2: defaults' }, { hex: '00ffffff', note: 'version 0: rest ignored' }, { hex: '0108000001', note: 'udx truncated' },
      { hex: '01ff000000', note: 'all flags, nothing after' }, { hex: '014000000a', note: 'relayAddresses count past the bytes' }]
  },
  holepunchPayload: {
    random: (rng) => ({
      // preencode reserves one byte each for flags, error, firewall, round
      error: rng.pick([0, 1, 2, 3, rng.smallUint()]),
      firewall: rng.pick([0, 1, 2, 3]),
      round: rng.smallUint(),
      connected: rng.bool(),
      punching: rng.bool(),
      addresses: maybe(rng, () => rng.addresses(4)),
      remoteAddress: maybe(rng, () => rng.address()),
      token: maybe(rng, () => hex(rng.bytes(32))),
      remoteToken: maybe(rng, () => hex(rng.bytes(32)))
    }),
    encode: (f) => c.encode(m.holepunchPayload, holepunchPayloadJs(f)),
    decode: (buf) => canon(c.decode(m.holepunchPayload, buf)),
    bad: [{ hex: '000000', note: 'no round' }, { hex: 'c0000000', note: 'unknown flags' }, { hex: '10000000' + '11'.repeat(31), note: 'short token' }]
  },

  keyPairFromSeed: {
    op: true,
    count: 1000,
    random: (rng) => ({ seed: hex(rng.bytes(32)) }),
    run: (i) => { const kp = createKeyPair(unhex(i.seed)); return { publicKey: hex(kp.publicKey), secretKey: hex(kp.secretKey) } }
  },
  announceSignable: { op: true, count: 1000, random: (rng) => annInput(rng, true), run: annRun(NS.ANNOUNCE, Persistent.signAnnounce) },
  unannounceSignable: { op: true, count: 1000, random: (rng) => annInput(rng, false), run: annRun(NS.UNANNOUNCE, Persistent.signUnannounce) },
  mutableSignature: {
    op: true,
    count: 1000,
    random: (rng) => ({ seed: hex(rng.bytes(32)), seq: rng.uint(), value: hex(rng.bufferAnySize()) }),
    run: (i) => {
      const kp = createKeyPair(unhex(i.seed))
      const value = unhex(i.value)
      const signable = Buffer.concat([NS.MUTABLE_PUT, h32(c.encode(m.mutableSignable, { seq: i.seq, value }))])
      const signature = Persistent.signMutable(i.seq, value, kp)
      return { signable: hex(signable), signature: hex(signature), verify: Persistent.verifyMutable(signature, i.seq, value, kp.publicKey) }
    }
  },
  immutableTarget: {
    op: true,
    random: (rng) => ({ value: hex(rng.bufferAnySize()) }),
    run: (i) => { const t = Buffer.alloc(32); sodium.crypto_generichash(t, unhex(i.value)); return { target: hex(t) } }
  },
  publicKeyTarget: {
    op: true,
    random: (rng) => ({ publicKey: hex(rng.bytes(32)) }),
    run: (i) => ({ target: hex(h32(unhex(i.publicKey))) })
  },
  hyperdhtNamespaces: {
    op: true,
    count: 1,
    random: () => ({}),
    run: () => {
      const [initiator, responder, send] = hcrypto.namespace('hyperswarm/secret-stream', 3)
      const out = {}
      for (const [k, v] of Object.entries(NS)) out[k] = hex(v)
      return { ...out, NS_INITIATOR: hex(initiator), NS_RESPONDER: hex(responder), NS_SEND: hex(send) }
    }
  }
}
