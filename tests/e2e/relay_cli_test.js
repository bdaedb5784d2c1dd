#!/usr/bin/env node
'use strict'
// hyperdhtd as a blind relay, relayThrough through hdhtctl, the control socket's idle timeout and
// KEY_IN_USE, end to end on 127.0.0.1:
//   node relay_cli_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl
// Three daemons: "net" (--testnet 5, --control-idle-timeout 1), "relay" (a persistent,
// unfirewalled node with --blind-relay) and "node" (an ephemeral node whose --relay-through is
// the relay's key). `status` shows the relay key; `listen --relay-through` on net and `connect`
// on node (the daemon-wide default) carry text both ways (on loopback the holepunch usually wins
// before the relay pairs, so the relay's counters are printed, not asserted); a JS hyperdht
// client and server with punching vetoed echo bytes through the daemon's relay, whose counters
// must then show the sessions, the pairing and the relayed bytes. Then: bad relayThrough hex,
// relayThrough saved with a forward's intent, idle control clients closed (a listener not; with
// the default timeout none), keys.remove refused while a server uses the key, a missing relay key
// (exit 1) and an ephemeral relay (a warning), and a timed restart.
// Every wait is bounded. Prints "N passed, N failed" last.
const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const crypto = require('crypto')
const DHT = require(path.join(__dirname, '../interop/node_modules/hyperdht'))
const { withTimeout, sleep, until } = require('../interop/lib/peer')
const { sha256, opened, echo } = require('../interop/lib/sockets')
const { cliArgs, Tally, Children } = require('./lib/daemons')

const { daemon: DAEMON, ctl: CTL } = cliArgs('relay_cli_test.js')
const tally = new Tally()
const check = tally.check.bind(tally)
const kids = new Children({ daemon: DAEMON, ctl: CTL })
const run = kids.run.bind(kids)
const ctl = kids.ctl.bind(kids)
const ctlJson = kids.ctlJson.bind(kids)
const startDaemon = kids.startDaemon.bind(kids)
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-relay-'))
const NET_SOCK = path.join(TMP, 'net.sock')
const RELAY_SOCK = path.join(TMP, 'relay.sock')
const NODE_SOCK = path.join(TMP, 'node.sock')
const NODE_STATE = path.join(TMP, 'node-state')
const PORT = 20000 + crypto.randomInt(30000)

const joining = ['--bootstrap', `127.0.0.1:${PORT}`, '--host', '127.0.0.1', '--not-firewalled']
const startNode = (relayKey) => startDaemon([...joining, '--ephemeral', '--socket', NODE_SOCK,
  '--state-dir', NODE_STATE, '--relay-through', relayKey, '--log-level', 'debug'])

// A raw control connection: `lines` collects what the daemon sends, `gone` resolves on its close.
function rawClient (socket) {
  const c = net.createConnection(socket)
  c.lines = []
  let buf = ''
  c.on('data', (d) => {
    buf += d
    let nl
    while ((nl = buf.indexOf('\n')) !== -1) { c.lines.push(JSON.parse(buf.slice(0, nl))); buf = buf.slice(nl + 1) }
  })
  c.on('error', () => {})
  c.gone = new Promise((resolve) => c.on('close', () => resolve(Date.now())))
  c.call = (id, method, params) => c.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n')
  c.answer = (id, ms = 15000) => until(() => c.lines.find((l) => l.id === id), ms, 50)
  return c
}
async function rawCall (socket, method, params) {
  const c = rawClient(socket)
  c.call(7, method, params)
  const a = await c.answer(7)
  c.destroy()
  return a || null
}
const relayStatus = async () => ((await ctlJson(RELAY_SOCK, ['status'])).json || {}).blindRelay || null

async function relayRole (state) {
  const br = await until(async () => {
    const s = await relayStatus()
    return s && s.state === 'listening' && s
  }, 15000)
  if (!check('the relay daemon\'s status shows its blind relay listening', !!br, state.relay.lines.slice(-5))) return null
  const st = (await ctlJson(RELAY_SOCK, ['status'])).json
  check('the relay key is the daemon\'s default key (--blind-relay-key default)', br.publicKey === st.defaultKey && br.key === 'default', br)
  const text = await ctl(RELAY_SOCK, ['status'])
  check('hdhtctl status prints "blind relay: <key>" and the counters',
    text.status === 0 && text.stdout.includes(`blind relay: ${br.publicKey}`) && /sessions \d+ .*pairings \d+/.test(text.stdout), text.stdout)
  const m = (await ctlJson(RELAY_SOCK, ['metrics'])).json
  check('metrics carry the relay counters', m && /hyperdhtd_blind_relay_sessions_total 0/.test(m.text) &&
    /hyperdhtd_blind_relay_bytes_total/.test(m.text), m && m.text.split('\n').filter((l) => /blind_relay/.test(l)))
  const plain = (await ctlJson(NET_SOCK, ['status'])).json
  check('a daemon without --blind-relay shows none', plain && plain.blindRelay === null && plain.relayThrough === null, plain)
  return br.publicKey
}

async function chat (relayKey) {
  const server = run(CTL, ['--socket', NET_SOCK, 'listen', '--relay-through', relayKey])
  const m = await until(() => /listening on ([0-9a-f]{64})/.exec(server.err), 15000)
  if (!check('listen --relay-through prints "listening on <key>"', !!m, server.err)) return
  // Longer than net's --control-idle-timeout (1 s): a listener is not idle.
  await sleep(2500)
  const sv = (await ctlJson(NET_SOCK, ['servers'])).json
  check('servers shows the relayThrough; the listener outlived the 1 s idle timeout',
    sv && sv.servers.length === 1 && sv.servers[0].relayThrough === relayKey && sv.servers[0].listeners === 1, sv)
  // No --relay-through: node's --relay-through is the default.
  const client = run(CTL, ['--socket', NODE_SOCK, '--json', 'connect', m[1]])
  const up = await until(() => /"connection"/.test(client.err) && /connection from/.test(server.err), 20000)
  check('connect (relayThrough from the daemon\'s default) reports the connection', up, { client: client.err, server: server.err })
  let res = null
  try { res = JSON.parse(client.err.trim().split('\n')[0]) } catch {}
  check('the connect result names the relay', res && res.relayThrough === relayKey, res)
  client.stdin.write('hello through the relay option\n')
  check('a line typed into connect comes out of listen', await until(() => server.out.includes('hello through the relay option\n'), 5000), server.out)
  server.stdin.write('and back\n')
  check('a line typed into listen comes out of connect', await until(() => client.out.includes('and back\n'), 5000), client.out)
  client.stdin.end()
  server.stdin.end()
  const [cs, ss] = await Promise.all([withTimeout(client.exited, 8000, 'client exit'), withTimeout(server.exited, 8000, 'server exit')])
    .catch(() => [{}, {}])
  check('both exit 0 after the half-close both ways', cs.code === 0 && ss.code === 0, { cs, ss, err: client.err + server.err })
  const br = await relayStatus()
  console.log(`# relay after the hdhtctl chat (path ${res && res.path}): sessions ${br.sessions}, pairings ${br.pairings}, ` +
    `requested ${br.pairingsRequested}, ${br.bytesRelayed} bytes relayed`)
}

// A JS client and server on the same testnet, punching vetoed on both sides and no LAN
// shortcut, so the daemon's relay is the only path.
async function jsThroughRelay (relayKey) {
  const opts = { bootstrap: [{ host: '127.0.0.1', port: PORT }], host: '127.0.0.1', ephemeral: true, quickFirewall: false }
  const serverDht = new DHT(opts)
  const clientDht = new DHT(opts)
  try {
    await withTimeout(Promise.all([serverDht.fullyBootstrapped(), clientDht.fullyBootstrapped()]), 20000, 'JS bootstrap')
    const before = await relayStatus()
    const kp = DHT.keyPair()
    const server = serverDht.createServer({ holepunch: () => false, shareLocalAddress: false }, (socket) => {
      socket.on('error', () => {})
      socket.on('data', (d) => socket.write(d))
      socket.on('end', () => socket.end())
    })
    await withTimeout(server.listen(kp), 20000, 'JS listen')
    const t = Date.now()
    const socket = clientDht.connect(kp.publicKey, {
      relayThrough: Buffer.from(relayKey, 'hex'), holepunch: () => false, fastOpen: false, localConnection: false
    })
    socket.on('error', () => {})
    const open = await withTimeout(opened(socket), 40000, 'JS connect').catch((err) => err)
    if (check('a JS client opens to a JS server through the daemon\'s blind relay', open === socket, String(open && (open.code || open.message)))) {
      console.log(`# JS connect through the relay: ${Date.now() - t} ms`)
      const data = crypto.randomBytes(256 * 1024)
      const back = await withTimeout(echo(socket, data), 30000, 'JS echo').catch((err) => err)
      check('256 KiB echoed both ways through it (SHA-256)', Buffer.isBuffer(back) && sha256(back.subarray(0, data.length)) === sha256(data),
        Buffer.isBuffer(back) ? back.length : String(back))
      const br = await relayStatus()
      check('the relay daemon counted the sessions, the pairing and the relayed bytes',
        br && br.sessions >= before.sessions + 2 && br.pairings >= before.pairings + 1 && br.bytesRelayed > data.length * 2,
        { before, after: br })
      console.log(`# relay after the JS echo: sessions ${br.sessions}, pairings ${br.pairings}, ${br.packetsRelayed} packets, ${br.bytesRelayed} bytes`)
      const m = (await ctlJson(RELAY_SOCK, ['metrics'])).json
      check('metrics show the relayed bytes', m && /hyperdhtd_blind_relay_pairings_matched_total [1-9]/.test(m.text), m && m.text.split('\n').filter((l) => /blind_relay/.test(l)))
    }
    socket.destroy()
    await withTimeout(server.close(), 10000, 'JS server close').catch(() => {})
  } finally {
    await Promise.all([serverDht.destroy(), clientDht.destroy()]).catch(() => {})
  }
}

async function badInput () {
  const some = crypto.randomBytes(32).toString('hex')
  for (const method of ['connect', 'listen']) {
    const e = await rawCall(NODE_SOCK, method, { publicKey: method === 'connect' ? some : undefined, relayThrough: 'xyz' })
    check(`${method} with a bad relayThrough: -32602 BAD_HEX naming it`,
      e && e.error && e.error.code === -32602 && e.error.data.name === 'BAD_HEX' && /relayThrough/.test(e.error.message), e)
  }
  const u = await ctl(NODE_SOCK, ['connect', some, '--relay-through', 'nothex'])
  check('hdhtctl connect --relay-through nothex: usage error, exit 2', u.status === 2 && /relay-through/.test(u.stderr), u)
  const bad = startDaemon(['--testnet', '1', '--socket', 'none', '--relay-through', 'abc'])
  const ex = await withTimeout(bad.exited, 5000, 'bad option exit').catch(() => ({}))
  check('hyperdhtd --relay-through abc: exit 2', ex.code === 2, { ex, lines: bad.lines })
  const nokey = startDaemon(['--testnet', '1', '--socket', 'none', '--blind-relay', '--blind-relay-key', 'nosuch'])
  const ex2 = await withTimeout(nokey.exited, 5000, 'no key exit').catch(() => ({}))
  check('hyperdhtd --blind-relay-key with no such key: exit 1, says so', ex2.code === 1 && nokey.lines.some((l) => /no key named 'nosuch'/.test(l)), { ex2, lines: nokey.lines })
  const eph = startDaemon([...joining, '--ephemeral', '--blind-relay', '--socket', 'none', '--state-dir', path.join(TMP, 'eph-state')])
  check('a blind relay on an ephemeral node warns', await until(() => eph.lines.some((l) => /warn.*blind relay: the node is ephemeral/.test(l)), 10000), eph.lines)
  await eph.stop()
}

async function forwardIntent (relayKey) {
  await ctl(NODE_SOCK, ['keygen', '--name', 'fw'])
  const l = await ctlJson(NODE_SOCK, ['listen', '--key', 'fw', '--forward', '127.0.0.1:9', '--relay-through', relayKey])
  check('listen --forward --relay-through answers with the relay', l.status === 0 && l.json.relayThrough === relayKey, l)
  let saved = null
  try { saved = JSON.parse(fs.readFileSync(path.join(NODE_STATE, 'intents.json'), 'utf8')) } catch {}
  check('intents.json keeps the forward\'s relayThrough', saved && saved.servers.some((s) => s.key === 'fw' && s.relayThrough === relayKey), saved)
  return l.json && l.json.publicKey
}

async function idleClients () {
  // net runs with --control-idle-timeout 1.
  const idle = rawClient(NET_SOCK)
  const t0 = Date.now()
  const closedAt = await withTimeout(idle.gone, 3000, 'idle close').catch(() => null)
  check('an idle control client is closed within 3 s (--control-idle-timeout 1)', closedAt !== null, closedAt)
  if (closedAt) console.log(`# idle client closed after ${closedAt - t0} ms`)
  const asked = rawClient(NET_SOCK)
  asked.call(1, 'status', {})
  const a = await asked.answer(1)
  const t1 = Date.now()
  const closed2 = await withTimeout(asked.gone, 3000, 'idle close').catch(() => null)
  check('a client idle after its answer is closed too', a && a.result && closed2 !== null, { a: !!a, ms: closed2 && closed2 - t1 })
  // A listener is busy, however quiet.
  const listener = rawClient(NET_SOCK)
  listener.call(2, 'listen', {})
  const la = await listener.answer(2)
  const gone = await withTimeout(listener.gone, 2500, 'listener').then(() => true).catch(() => false)
  check('a listen client is not closed while it listens', la && la.result && !gone, { la, gone })
  listener.destroy()
  // node keeps the default (300 s).
  const patient = rawClient(NODE_SOCK)
  const gone2 = await withTimeout(patient.gone, 1500, 'patient').then(() => true).catch(() => false)
  check('with the default timeout an idle client stays', !gone2)
  patient.destroy()
  const m = (await ctlJson(NET_SOCK, ['metrics'])).json
  check('metrics count the idle closes', m && /hyperdhtd_control_idle_closed_total [2-9]/.test(m.text), m && m.text.split('\n').filter((l) => /idle/.test(l)))
}

async function keyInUse (fwKey) {
  const r = await ctl(NODE_SOCK, ['key-remove', 'fw'])
  check('key-remove of a forward\'s key: exit 1, KEY_IN_USE naming the server', r.status === 1 && /KEY_IN_USE/.test(r.stderr) && /server/.test(r.stderr), r)
  const e = await rawCall(NODE_SOCK, 'keys.remove', { name: 'fw' })
  check('keys.remove answers -32005 KEY_IN_USE', e && e.error && e.error.code === -32005 && e.error.data.name === 'KEY_IN_USE', e)
  // A server held by a listener only.
  await ctl(NODE_SOCK, ['keygen', '--name', 'chat'])
  const listener = rawClient(NODE_SOCK)
  listener.call(1, 'listen', { key: 'chat' })
  await listener.answer(1)
  const e2 = await rawCall(NODE_SOCK, 'keys.remove', { name: 'chat' })
  check('a listener\'s key is in use too', e2 && e2.error && e2.error.data.name === 'KEY_IN_USE', e2)
  listener.destroy()
  const freed = await until(async () => ((await ctlJson(NODE_SOCK, ['servers'])).json || { servers: [1, 1] }).servers.length === 1, 5000)
  const ok2 = await ctl(NODE_SOCK, ['key-remove', 'chat'])
  check('once its last listener left, the key can be removed', freed && ok2.status === 0, ok2)
  const un = await ctl(NODE_SOCK, ['unlisten', fwKey])
  const ok = await ctl(NODE_SOCK, ['key-remove', 'fw'])
  check('after unlisten, key-remove works', un.status === 0 && ok.status === 0 && /removed/.test(ok.stdout), { un, ok })
}

async function timedRestart (state, relayKey) {
  state.node.proc.kill('SIGTERM')
  const t0 = Date.now()
  await withTimeout(state.node.exited, 8000, 'node exit').catch(() => state.node.proc.kill('SIGKILL'))
  const t1 = Date.now()
  state.node = startNode(relayKey)
  const ready = await until(async () => {
    const s = (await ctlJson(NODE_SOCK, ['status'])).json
    return s && s.ready && s.tableSize.min > 0
  }, 20000, 50)
  const t2 = Date.now()
  check('the node restarts ready with a routing table', ready)
  console.log(`# restart: stop ${t1 - t0} ms, start to ready ${t2 - t1} ms`)
}

async function main () {
  const state = {}
  state.net = startDaemon(['--testnet', '5', '--port', String(PORT), '--socket', NET_SOCK, '--control-idle-timeout', '1'])
  try {
    if (!check('net bootstrapped', await state.net.booted())) return
    state.relay = startDaemon([...joining, '--persistent', '--blind-relay', '--socket', RELAY_SOCK, '--state-dir', path.join(TMP, 'relay-state')])
    if (!check('relay bootstrapped', await state.relay.booted())) return
    const relayKey = await relayRole(state)
    if (!relayKey) return
    state.node = startNode(relayKey)
    if (!check('node bootstrapped', await state.node.booted())) return
    const st = (await ctlJson(NODE_SOCK, ['status'])).json
    check('status shows the daemon-wide relayThrough', st && st.relayThrough === relayKey, st)
    const t = Date.now()
    await chat(relayKey)
    console.log(`# chat ${Date.now() - t} ms`)
    await jsThroughRelay(relayKey)
    console.log(`# js relay ${Date.now() - t} ms`)
    await badInput()
    const fw = await forwardIntent(relayKey)
    await idleClients()
    console.log(`# idle ${Date.now() - t} ms`)
    await keyInUse(fw)
    await timedRestart(state, relayKey)
  } catch (e) {
    check('no exception', false, e.stack)
  } finally {
    kids.killAll()
    for (const d of [state.node, state.relay, state.net]) if (d) await d.stop()
    fs.rmSync(TMP, { recursive: true, force: true })
  }
}
// finish() after the finally block also when main returned early (a failed boot check).
main().catch((e) => check('no exception', false, e.stack)).finally(() => tally.finish())
