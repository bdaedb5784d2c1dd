#!/usr/bin/env node
'use strict'
// The hyperdht record layer against the pinned JS hyperdht 6.34 on 127.0.0.1.
//   node records-interop.js --peer PATH/records_peer
// One mixed testnet: JS storing nodes (built as hyperdht/testnet.js does), C++ storing nodes
// (tests/interop/records_peer.cpp, JSON lines on stdin/stdout) and an ephemeral JS client. With
// this few nodes every storing node is among the k closest of every target, so each put lands
// on the C++ nodes and the JS nodes alike. Checks, each printed as "ok/FAIL <name>":
//   records put by C++ read by JS and the reverse (immutable, mutable, seq increase), the
//   storing nodes' seq errors, latest across nodes, announce/lookup/unannounce/findPeer both
//   ways with relay addresses, C++ nodes storing and serving JS clients' records, tampered
//   requests answered by a C++ storing node exactly as by a JS one, and, on one C++ and one JS
//   node with maxSize 8 / maxAge 1.5 s, expiry within 4/3 maxAge and a flood kept under the cap.
// Every wait is bounded; "N passed, N failed" last; exit code 1 on any failure.
const c = require('compact-encoding')
const HyperDHT = require('hyperdht')
const m = require('hyperdht/lib/messages')
const Persistent = require('hyperdht/lib/persistent')
const { COMMANDS, ERROR } = require('hyperdht/lib/constants')
const peerId = require('dht-rpc/lib/peer').id
const { CppPeer, withTimeout, until } = require('./lib/peer')

const HOST = '127.0.0.1'
const WAIT_MS = 20000
const JS_NODES = 5
const CPP_NODES = 6
const INVALID_TOKEN = 2 // dht-rpc

const args = process.argv.slice(2)
const argOf = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const PEER = argOf('--peer')
if (!PEER) { console.error('usage: records-interop.js --peer PATH/records_peer'); process.exit(2) }

let passed = 0
let failed = 0
function check (cond, name, detail) {
  if (cond) {
    passed++
    console.log('ok   ' + name)
  } else {
    failed++
    console.log('FAIL ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''))
  }
  return cond
}

const hex = (b) => b ? b.toString('hex') : null
const buf = (h) => Buffer.from(h, 'hex')
const seed = (n) => Buffer.alloc(32, n)
const key = (s) => HyperDHT.hash(Buffer.from(s))
const addrKey = (a) => `${a.host}:${a.port}`
const fin = (p, what) => withTimeout(p, WAIT_MS, what)

async function jsLookup (dht, topic) {
  const out = []
  const q = dht.lookup(topic)
  await fin((async () => { for await (const data of q) out.push(data) })(), 'JS lookup')
  return out
}

async function jsFindPeer (dht, publicKey) {
  const out = []
  const q = dht.findPeer(publicKey)
  await fin((async () => { for await (const data of q) out.push(data) })(), 'JS findPeer')
  return out
}

// A direct request's outcome as the requester sees it: 'silence', 'error N' or 'ok'.
async function outcome (dht, to, req) {
  try {
    const res = await dht.request(req, to, { retry: false })
    return res.error ? `error ${res.error}` : 'ok'
  } catch (err) {
    return err.code === 'REQUEST_TIMEOUT' || /TIMEOUT/.test(String(err)) ? 'silence' : 'rejected ' + err.message
  }
}

async function tokenOf (dht, to, target) {
  const res = await dht.request({ command: COMMANDS.LOOKUP, target }, to)
  return res.token
}

function signedAnnounce (topic, token, id, keyPair, relayAddresses = [], forge = false) {
  const ann = { peer: { publicKey: keyPair.publicKey, relayAddresses }, refresh: null, signature: null }
  ann.signature = Persistent.signAnnounce(topic, token, id, ann, keyPair)
  if (forge) ann.signature[0] ^= 1
  return c.encode(m.announce, ann)
}

function signedMutable (keyPair, seq, value, forge = false) {
  const signature = Persistent.signMutable(seq, value, keyPair)
  if (forge) signature[0] ^= 1
  return c.encode(m.mutablePutRequest, { publicKey: keyPair.publicKey, seq, value, signature })
}

async function main () {
  const js = []
  const first = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap: [], host: HOST, port: 0 })
  js.push(first)
  await fin(first.fullyBootstrapped(), 'JS bootstrap node')
  const bootstrap = [{ host: HOST, port: first.address().port }]
  while (js.length < JS_NODES) {
    const node = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST })
    js.push(node)
    await fin(node.fullyBootstrapped(), 'JS node')
  }

  const cpp = new CppPeer(PEER, { waitMs: WAIT_MS, name: 'records_peer' })
  let client = null
  try {
    await cpp.call({ op: 'start', nodes: CPP_NODES, bootstrap: `${HOST}:${bootstrap[0].port}`, host: HOST, ephemeral: false, firewalled: false }, 'started', 'start C++ nodes', 60000)
    const st = await until(async () => {
      const s = (await cpp.call({ op: 'status' }, 'status')).nodes
      return s.every((n) => n.id) ? s : null
    }, WAIT_MS)
    if (!check(!!st, 'C++ nodes persistent')) return
    for (const n of st) check(n.id === hex(peerId(HOST, n.port)), `C++ node ${n.node} id is id(host, port)`)
    const cppAddrs = st.map((n) => ({ host: HOST, port: n.port, id: buf(n.id), node: n.node }))
    const cppPorts = new Set(st.map((n) => n.port))
    const jsAddrs = js.map((d) => ({ host: HOST, port: d.address().port, id: d.id }))

    // The JS tables learn the C++ nodes from their requests; give them a moment to settle.
    await until(() => js.every((d) => cppAddrs.filter((a) => d.table.has(a.id)).length >= CPP_NODES - 1), 10000)

    client = new HyperDHT({ ephemeral: true, bootstrap, host: HOST })
    await fin(client.fullyBootstrapped(), 'JS client')
    const C = 0 // the C++ node acting as client

    // --- immutable ---
    const v1 = Buffer.from('immutable put by C++')
    const ip = await cpp.call({ op: 'immutable_put', node: C, value: hex(v1) }, 'immutable_put')
    check(!ip.error && ip.hash === hex(HyperDHT.hash(v1)), 'C++ immutablePut hash = H(value)', ip)
    const g1 = await fin(client.immutableGet(buf(ip.hash)), 'JS immutableGet')
    check(g1 && g1.value.equals(v1), 'C++ immutable put -> JS immutableGet', g1 && hex(g1.value))

    const v2 = Buffer.from('immutable put by JS')
    const jp = await fin(client.immutablePut(v2), 'JS immutablePut')
    const g2 = await cpp.call({ op: 'immutable_get', node: C, hash: hex(jp.hash) }, 'immutable_get')
    check(g2.found && g2.value === hex(v2), 'JS immutable put -> C++ immutable_get', g2)
    // The C++ storing nodes hold it and serve it to a JS requester.
    let held = 0
    let served = 0
    for (const a of cppAddrs) {
      const s = await cpp.call({ op: 'stored', node: a.node, kind: 'immutable', key: hex(jp.hash) }, 'stored')
      if (s.present && s.value === hex(v2)) held++
      const res = await client.request({ command: COMMANDS.IMMUTABLE_GET, target: jp.hash }, a)
      if (res.value && res.value.equals(v2)) served++
    }
    check(held >= CPP_NODES - 1 && served === held, 'C++ storing nodes hold and serve a JS immutable record', { held, served })
    const missing = await cpp.call({ op: 'immutable_get', node: C, hash: hex(key('nothing here')) }, 'immutable_get')
    check(!missing.error && !missing.found, 'C++ immutable_get of an absent hash: null', missing)

    // --- mutable ---
    const kp = HyperDHT.keyPair(seed(1))
    const mp0 = await cpp.call({ op: 'mutable_put', node: C, seed: hex(seed(1)), value: hex(Buffer.from('c0')), mseq: 0 }, 'mutable_put')
    check(!mp0.error && mp0.publicKey === hex(kp.publicKey), 'keyPair(seed) identical (C++ mutable_put public key)', mp0)
    check(mp0.signature === hex(Persistent.signMutable(0, Buffer.from('c0'), kp)), 'C++ mutable signature = JS signMutable')
    let mg = await fin(client.mutableGet(kp.publicKey), 'JS mutableGet')
    check(mg && mg.seq === 0 && mg.value.equals(Buffer.from('c0')), 'C++ mutable put -> JS mutableGet', mg && { seq: mg.seq })

    await fin(client.mutablePut(kp, Buffer.from('j1'), { seq: 1 }), 'JS mutablePut')
    let mheld = 0
    for (const a of cppAddrs) {
      const s = await cpp.call({ op: 'stored', node: a.node, kind: 'mutable', key: hex(HyperDHT.hash(kp.publicKey)) }, 'stored')
      if (s.present && c.decode(m.mutableGetResponse, buf(s.value)).seq === 1) mheld++
    }
    check(mheld >= CPP_NODES - 1, 'C++ storing nodes hold the JS mutable record', mheld)
    let cg = await cpp.call({ op: 'mutable_get', node: C, publicKey: hex(kp.publicKey) }, 'mutable_get')
    check(cg.found && cg.mseq === 1 && cg.value === hex(Buffer.from('j1')), 'JS mutable put seq 1 -> C++ mutable_get', cg)

    await cpp.call({ op: 'mutable_put', node: C, seed: hex(seed(1)), value: hex(Buffer.from('c2')), mseq: 2 }, 'mutable_put')
    mg = await fin(client.mutableGet(kp.publicKey), 'JS mutableGet')
    check(mg && mg.seq === 2 && mg.value.equals(Buffer.from('c2')), 'C++ mutable put seq 2 -> JS mutableGet', mg && { seq: mg.seq })

    // Seq rules on every storing node that holds seq 2: same answers from C++ and JS nodes.
    const target = HyperDHT.hash(kp.publicKey)
    const errors = { cpp: [], js: [] }
    for (const [side, list] of [['cpp', cppAddrs], ['js', jsAddrs]]) {
      for (const a of list) {
        const res = await client.request({ command: COMMANDS.MUTABLE_GET, target, value: c.encode(c.uint, 0) }, a)
        // Only the nodes holding seq 2 (the C++ putter never stores its own put).
        if (!res.value || c.decode(m.mutableGetResponse, res.value).seq !== 2) continue
        const stale = await outcome(client, a, { command: COMMANDS.MUTABLE_PUT, target, token: res.token, value: signedMutable(kp, 1, Buffer.from('j1')) })
        const reused = await outcome(client, a, { command: COMMANDS.MUTABLE_PUT, target, token: res.token, value: signedMutable(kp, 2, Buffer.from('other')) })
        errors[side].push(stale + '/' + reused)
      }
    }
    const want = `error ${ERROR.SEQ_TOO_LOW}/error ${ERROR.SEQ_REUSED}`
    check(errors.cpp.length >= CPP_NODES - 1 && errors.cpp.every((e) => e === want), 'C++ storing nodes: stale seq SEQ_TOO_LOW, reused seq SEQ_REUSED', errors.cpp)
    check(errors.js.length >= JS_NODES - 1 && errors.js.every((e) => e === want), 'JS storing nodes answer the same', errors.js)

    // latest: one C++ node alone holds seq 5, then one JS node alone holds seq 6.
    const lone = cppAddrs[2]
    const t5 = (await client.request({ command: COMMANDS.MUTABLE_GET, target, value: c.encode(c.uint, 0) }, lone)).token
    check(await outcome(client, lone, { command: COMMANDS.MUTABLE_PUT, target, token: t5, value: signedMutable(kp, 5, Buffer.from('five')) }) === 'ok', 'seq 5 stored on one C++ node')
    mg = await fin(client.mutableGet(kp.publicKey), 'JS mutableGet latest')
    check(mg && mg.seq === 5 && mg.from.port === lone.port, 'JS mutableGet (latest) picks seq 5 from the C++ node', mg && { seq: mg.seq, from: mg.from })
    cg = await cpp.call({ op: 'mutable_get', node: C, publicKey: hex(kp.publicKey) }, 'mutable_get')
    check(cg.found && cg.mseq === 5, 'C++ mutable_get (latest default) picks seq 5', cg)
    const jlone = jsAddrs[3]
    const t6 = (await client.request({ command: COMMANDS.MUTABLE_GET, target, value: c.encode(c.uint, 0) }, jlone)).token
    check(await outcome(client, jlone, { command: COMMANDS.MUTABLE_PUT, target, token: t6, value: signedMutable(kp, 6, Buffer.from('six')) }) === 'ok', 'seq 6 stored on one JS node')
    cg = await cpp.call({ op: 'mutable_get', node: C, publicKey: hex(kp.publicKey) }, 'mutable_get')
    check(cg.found && cg.mseq === 6 && cg.from.port === jlone.port, 'C++ mutable_get (latest) picks seq 6 from the JS node', cg)
    cg = await cpp.call({ op: 'mutable_get', node: C, publicKey: hex(kp.publicKey), mseq: 7 }, 'mutable_get')
    check(!cg.error && !cg.found, 'C++ mutable_get with seq 7: null', cg)
    cg = await cpp.call({ op: 'mutable_get', node: C, publicKey: hex(kp.publicKey), latest: false }, 'mutable_get')
    check(cg.found && cg.mseq >= 2, 'C++ mutable_get latest=false returns a valid record', cg)

    // --- announce / lookup / unannounce ---
    const relays = [1, 2, 3, 4].map((p) => ({ host: '10.1.2.3', port: 1000 + p }))
    const kpC = HyperDHT.keyPair(seed(2))
    const t1 = key('topic announced by C++')
    const ca = await cpp.call({ op: 'announce', node: C, topic: hex(t1), seed: hex(seed(2)), relays }, 'announce')
    check(!ca.error && ca.closest.length >= JS_NODES + CPP_NODES - 2, 'C++ announce committed', { error: ca.error, closest: ca.closest.length })
    let found = (await jsLookup(client, t1)).filter((d) => d.peers.some((p) => p.publicKey.equals(kpC.publicKey)))
    const rels = found.map((d) => d.peers.find((p) => p.publicKey.equals(kpC.publicKey)).relayAddresses)
    check(found.length >= JS_NODES + CPP_NODES - 2, 'C++ announce -> JS lookup finds the public key', found.length)
    const bad = rels.filter((rel) => !(rel.length === 3 && rel.every((r, i) => r.host === relays[i].host && r.port === relays[i].port)))
    check(bad.length === 0, 'relay addresses (first 3 kept by every storing node)', bad)
    check(found.some((d) => cppPorts.has(d.from.port)) && found.some((d) => !cppPorts.has(d.from.port)), 'found on C++ and on JS storing nodes')

    const kpJ = HyperDHT.keyPair(seed(3))
    const t2 = key('topic announced by JS')
    await fin(client.announce(t2, kpJ, relays.slice(0, 2)).finished(), 'JS announce')
    let cl = await cpp.call({ op: 'lookup', node: C, topic: hex(t2) }, 'lookup')
    let cfound = cl.replies.filter((r) => r.peers.some((p) => p.publicKey === hex(kpJ.publicKey)))
    check(!cl.error && cfound.length >= JS_NODES + CPP_NODES - 2, 'JS announce -> C++ lookup finds the public key', cfound.length)
    check(cfound.length && cfound[0].peers[0].relayAddresses.length === 2 && cfound[0].peers[0].relayAddresses[1].port === relays[1].port, 'relay addresses seen by C++', cfound[0])
    // C++ storing nodes serve the JS client's lookup.
    found = (await jsLookup(client, t2)).filter((d) => cppPorts.has(d.from.port) && d.peers.some((p) => p.publicKey.equals(kpJ.publicKey)))
    check(found.length >= CPP_NODES - 1, 'C++ storing nodes serve a JS announce to a JS lookup', found.length)

    // announce with clear: the old record is unannounced first on every node (JS ones included),
    // so the new relay list replaces it everywhere.
    await cpp.call({ op: 'announce', node: C, topic: hex(t1), seed: hex(seed(2)), relays: relays.slice(3), clear: true }, 'announce')
    found = (await jsLookup(client, t1)).filter((d) => d.peers.some((p) => p.publicKey.equals(kpC.publicKey)))
    const stale = found.filter((d) => { const r = d.peers.find((p) => p.publicKey.equals(kpC.publicKey)).relayAddresses; return !(r.length === 1 && r[0].port === relays[3].port) })
    check(found.length >= JS_NODES + CPP_NODES - 2 && stale.length === 0, 'C++ announce with clear replaces the record on C++ and JS nodes', { found: found.length, stale: stale.map((d) => d.from) })

    const cu = await cpp.call({ op: 'unannounce', node: C, topic: hex(t1), seed: hex(seed(2)) }, 'unannounce')
    check(!cu.error, 'C++ unannounce finished', cu.error)
    found = (await jsLookup(client, t1)).filter((d) => d.peers.some((p) => p.publicKey.equals(kpC.publicKey)))
    check(found.length === 0, 'C++ unannounce -> JS lookup no longer finds it', found.map((d) => d.from))

    await fin(client.unannounce(t2, kpJ), 'JS unannounce')
    cl = await cpp.call({ op: 'lookup', node: C, topic: hex(t2) }, 'lookup')
    cfound = cl.replies.filter((r) => r.peers.some((p) => p.publicKey === hex(kpJ.publicKey)))
    check(cfound.length === 0, 'JS unannounce -> C++ lookup no longer finds it (C++ nodes dropped it)', cfound.map((r) => r.from))

    // --- findPeer: announcing on H(publicKey) ---
    await fin(client.announce(HyperDHT.hash(kpJ.publicKey), kpJ, relays.slice(0, 1)).finished(), 'JS announce self')
    const fp = await cpp.call({ op: 'find_peer', node: C, publicKey: hex(kpJ.publicKey) }, 'find_peer')
    check(!fp.error && fp.replies.length >= JS_NODES + CPP_NODES - 2 && fp.replies.every((r) => r.peer.publicKey === hex(kpJ.publicKey)), 'JS announce self -> C++ find_peer', fp.replies.length)
    check(fp.replies.filter((r) => cppPorts.has(r.from.port)).length >= CPP_NODES - 1, 'C++ nodes hold the forward and answer FIND_PEER')
    await cpp.call({ op: 'announce', node: C, topic: hex(HyperDHT.hash(kpC.publicKey)), seed: hex(seed(2)), relays: relays.slice(0, 1) }, 'announce')
    const jf = await jsFindPeer(client, kpC.publicKey)
    check(jf.length >= JS_NODES + CPP_NODES - 2 && jf.every((d) => d.peer.publicKey.equals(kpC.publicKey) && d.peer.relayAddresses[0].port === relays[0].port), 'C++ announce self -> JS findPeer', jf.length)

    // --- tampering: a C++ storing node answers exactly as a JS one ---
    const tt = key('tamper topic')
    const kpT = HyperDHT.keyPair(seed(4))
    async function tamper (Y, X) {
      const tokY = await tokenOf(client, Y, tt)
      const tokX = await tokenOf(client, X, tt)
      const v = Buffer.from('not the preimage')
      const [forged, otherSig, replay, badHash, badMutable, forgedUnann, good] = await Promise.all([
        outcome(client, Y, { command: COMMANDS.ANNOUNCE, target: tt, token: tokY, value: signedAnnounce(tt, tokY, Y.id, kpT, [], true) }),
        outcome(client, Y, { command: COMMANDS.ANNOUNCE, target: tt, token: tokY, value: signedAnnounce(tt, tokX, X.id, kpT) }),
        outcome(client, Y, { command: COMMANDS.ANNOUNCE, target: tt, token: tokX, value: signedAnnounce(tt, tokX, X.id, kpT) }),
        outcome(client, Y, { command: COMMANDS.IMMUTABLE_PUT, target: tt, token: tokY, value: v }),
        outcome(client, Y, { command: COMMANDS.MUTABLE_PUT, target: HyperDHT.hash(kpT.publicKey), token: tokY, value: signedMutable(kpT, 0, v, true) }),
        outcome(client, Y, { command: COMMANDS.UNANNOUNCE, target: tt, token: tokY, value: (() => { const u = { peer: { publicKey: kpT.publicKey, relayAddresses: [] }, refresh: null, signature: null }; u.signature = Persistent.signUnannounce(tt, tokY, Y.id, u, kpT); u.signature[1] ^= 1; return c.encode(m.announce, u) })() }),
        outcome(client, Y, { command: COMMANDS.ANNOUNCE, target: tt, token: tokY, value: signedAnnounce(tt, tokY, Y.id, kpT) })
      ])
      return { forged, otherSig, replay, badHash, badMutable, forgedUnann, good }
    }
    const onCpp = await tamper(cppAddrs[1], jsAddrs[1])
    const onJs = await tamper(jsAddrs[2], cppAddrs[3])
    const expected = { forged: 'silence', otherSig: 'silence', replay: `error ${INVALID_TOKEN}`, badHash: 'silence', badMutable: 'silence', forgedUnann: 'silence', good: 'ok' }
    for (const k of Object.keys(expected)) {
      check(onCpp[k] === onJs[k] && onCpp[k] === expected[k], `tamper ${k}: C++ node ${onCpp[k]}, JS node ${onJs[k]}`)
    }
    const rec = await cpp.call({ op: 'stored', node: cppAddrs[1].node, kind: 'record', key: hex(tt), publicKey: hex(kpT.publicKey) }, 'stored')
    check(rec.present, 'the untampered announce is stored on the C++ node')
    const notStored = await cpp.call({ op: 'stored', node: cppAddrs[1].node, kind: 'mutable', key: hex(HyperDHT.hash(kpT.publicKey)) }, 'stored')
    check(!notStored.present, 'the forged mutable record is not stored')

    // --- cache window and caps, side by side: one C++ and one JS storing node with
    // maxSize 8 (4 values per generation) and maxAge 1.5 s (rotation every 1 s) ---
    const small = new HyperDHT({ ephemeral: false, firewalled: false, bootstrap, host: HOST, maxSize: 8, maxAge: 1500 })
    js.push(small)
    await fin(small.fullyBootstrapped(), 'small JS node')
    const [si] = (await cpp.call({ op: 'start', nodes: 1, bootstrap: `${HOST}:${bootstrap[0].port}`, host: HOST, ephemeral: false, firewalled: false, max_size: 8, max_age_ms: 1500 }, 'started', 'start the small C++ node', 60000)).nodes
    const sst = await until(async () => (await cpp.call({ op: 'status' }, 'status')).nodes.find((n) => n.node === si && n.id), WAIT_MS)
    if (check(!!sst, 'small C++ node persistent')) {
      const smallCpp = { host: HOST, port: sst.port }
      const smallJs = { host: HOST, port: small.address().port }
      const present = async (to, hash) => {
        const res = await client.request({ command: COMMANDS.IMMUTABLE_GET, target: hash }, to)
        return !!res.value
      }
      const putTo = async (to, value) => {
        const hash = HyperDHT.hash(value)
        const token = (await client.request({ command: COMMANDS.IMMUTABLE_GET, target: hash }, to)).token
        return outcome(client, to, { command: COMMANDS.IMMUTABLE_PUT, target: hash, token, value })
      }
      const v = Buffer.from('short-lived value')
      const puts = [await putTo(smallCpp, v), await putTo(smallJs, v)]
      const now = [await present(smallCpp, HyperDHT.hash(v)), await present(smallJs, HyperDHT.hash(v))]
      check(puts.every((o) => o === 'ok') && now.every(Boolean), 'small nodes store a value', { puts, now })
      await new Promise((resolve) => setTimeout(resolve, 2300)) // > 2 rotations (4/3 maxAge)
      const later = [await present(smallCpp, HyperDHT.hash(v)), await present(smallJs, HyperDHT.hash(v))]
      check(!later[0] && !later[1], 'the value expired within 4/3 maxAge on both (C++, JS)', later)

      // Sizes are sampled after every put (C++: status; JS: its immutables cache); 42 puts so the
      // latest generation is never empty at the end, whatever the timer does meanwhile.
      const cppSize = async () => (await cpp.call({ op: 'status' }, 'status')).nodes.find((n) => n.node === si).immutables
      const jsSize = () => small._persistent.immutables.size
      const max = [0, 0]
      const last = [0, 0]
      for (let i = 0; i < 42; i++) {
        const fv = Buffer.from(`flood value ${i}`)
        await putTo(smallCpp, fv)
        await putTo(smallJs, fv)
        last[0] = await cppSize()
        last[1] = jsSize()
        max[0] = Math.max(max[0], last[0])
        max[1] = Math.max(max[1], last[1])
      }
      check(max[0] <= 8 && max[1] <= 8 && last[0] > 0 && last[1] > 0, 'a flood of 42 puts stays within 2 x 4 values on both (C++, JS)', { max, last })
    }
  } finally {
    if (client) await client.destroy().catch(() => {})
    await cpp.close()
    for (let i = js.length - 1; i >= 0; i--) await js[i].destroy().catch(() => {})
  }
}

const started = Date.now()
withTimeout(main(), 240000, 'records interop')
  .catch((err) => { failed++; console.log('FAIL ' + (err && err.stack ? err.stack : err)) })
  .finally(() => {
    console.log(`${passed} passed, ${failed} failed (${((Date.now() - started) / 1000).toFixed(1)} s)`)
    process.exit(failed ? 1 : 0)
  })
