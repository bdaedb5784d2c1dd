#!/usr/bin/env node
'use strict'
// Servers, connect and forwards of hyperdhtd, end to end through hdhtctl on 127.0.0.1:
//   node connections_cli_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl
// Two daemons: "net" (--testnet 5) and "node" (an ephemeral node joining it, with a state dir).
// The HyperDHT guide's two-peer chat as `hdhtctl listen` on one and `hdhtctl connect` on the
// other, text both ways and half-close; an HTTP server exposed with `listen --forward` and
// fetched with curl through `connect --listen`, again after the node restarted (a standing
// intent); the hostile cases: an unknown key (PEER_NOT_FOUND, exit 1, and the JSON-RPC error
// object), a key off the allow-list (PEER_CONNECTION_FAILED), a client vanishing mid-connect and
// mid-stream; after each, the connection counts in `status` return to 0. Every wait is bounded.
// Prints "N passed, N failed" last.
const { spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const http = require('http')
const crypto = require('crypto')
const { withTimeout, sleep, until } = require('../interop/lib/peer')
const { cliArgs, Tally, Children } = require('./lib/daemons')

const { arg, daemon: DAEMON, ctl: CTL } = cliArgs('connections_cli_test.js')
const CURL = arg('--curl') || '/usr/bin/curl'
const tally = new Tally()
const check = tally.check.bind(tally)
const kids = new Children({ daemon: DAEMON, ctl: CTL })
const run = kids.run.bind(kids)
const ctl = kids.ctl.bind(kids)
const ctlJson = kids.ctlJson.bind(kids)
const startDaemon = kids.startDaemon.bind(kids)
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-conn-'))
const NET_SOCK = path.join(TMP, 'net.sock')
const NODE_SOCK = path.join(TMP, 'node.sock')
const STATE = path.join(TMP, 'state')
const PORT = 20000 + crypto.randomInt(30000)

const startNet = () => startDaemon(['--testnet', '5', '--port', String(PORT), '--socket', NET_SOCK])
const startNode = () => startDaemon(['--bootstrap', `127.0.0.1:${PORT}`, '--host', '127.0.0.1', '--ephemeral',
  '--not-firewalled', '--socket', NODE_SOCK, '--state-dir', STATE])

// One raw JSON-RPC request on a fresh socket connection: resolves the first answer line.
function rawCall (socket, method, params) {
  return new Promise((resolve) => {
    const c = net.createConnection(socket)
    let buf = ''
    c.on('data', (d) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl !== -1) { c.destroy(); resolve(JSON.parse(buf.slice(0, nl))) }
    })
    c.on('error', () => resolve(null))
    c.write(JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }) + '\n')
  })
}
// Both daemons' `status` show no servers of `what` and no connections left.
async function drained (servers = { net: null, node: null }, ms = 10000) {
  return until(async () => {
    const a = (await ctlJson(NET_SOCK, ['status'])).json
    const b = (await ctlJson(NODE_SOCK, ['status'])).json
    return a && b && a.connections === 0 && b.connections === 0 &&
      (servers.net === null || a.servers === servers.net) && (servers.node === null || b.servers === servers.node)
  }, ms, 300)
}
async function untilAsync (pred, ms) {
  const end = Date.now() + ms
  while (Date.now() < end) { if (await pred()) return true; await sleep(200) }
  return false
}

async function chat () {
  const server = run(CTL, ['--socket', NET_SOCK, 'listen'])
  const m = await until(() => /listening on ([0-9a-f]{64})/.exec(server.err), 15000)
  if (!check('listen prints "listening on <key>" on stderr', !!m, server.err)) return
  const client = run(CTL, ['--socket', NODE_SOCK, 'connect', m[1]])
  check('connect reports the connection', await until(() => /connected to/.test(client.err) && /connection from/.test(server.err), 15000),
    { client: client.err, server: server.err })
  client.stdin.write('hello from the client\n')
  check('a line typed into connect comes out of listen', await until(() => server.out.includes('hello from the client\n'), 5000), server.out)
  server.stdin.write('hello from the server\n')
  check('a line typed into listen comes out of connect', await until(() => client.out.includes('hello from the server\n'), 5000), client.out)
  const conns = (await ctlJson(NET_SOCK, ['connections'])).json
  const c = conns && conns.connections[0]
  check('connections lists the inbound stream with bytes each way',
    c && c.direction === 'inbound' && c.state === 'piping' && c.bytesIn === 22 && c.bytesOut === 22, conns)
  client.stdin.end()
  check('connect\'s stdin ending ends listen\'s stdout', await until(() => server.stdout.readableEnded, 5000), server.out)
  server.stdin.write('after half-close\n')
  server.stdin.end()
  const [cs, ss] = await Promise.all([withTimeout(client.exited, 8000, 'client exit'), withTimeout(server.exited, 8000, 'server exit')])
    .catch(() => [{}, {}])
  check('both exit 0 after the half-close both ways; the late line arrived', cs.code === 0 && ss.code === 0 && client.out.endsWith('after half-close\n'),
    { cs, ss, out: client.out, err: client.err + server.err })
  check('no connections or servers left', await drained({ net: 0, node: 0 }))
}

async function forward () {
  const site = http.createServer((req, res) => res.end('hello over hyperdht ' + req.url))
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve))
  const key = (await ctlJson(NODE_SOCK, ['keygen', '--name', 'web'])).json.publicKey
  const l = await ctlJson(NODE_SOCK, ['listen', '--key', 'web', '--forward', `127.0.0.1:${site.address().port}`])
  check('listen --forward answers and exits 0', l.status === 0 && l.json.forward === `127.0.0.1:${site.address().port}` && l.json.keep === true, l)
  const local = 20000 + crypto.randomInt(30000)
  const tunnel = run(CTL, ['--socket', NET_SOCK, 'connect', key, '--listen', `127.0.0.1:${local}`])
  await until(() => /forwarding/.test(tunnel.err), 5000)
  const curl = async (p) => {
    const r = spawn(CURL, ['-s', '--max-time', '15', `http://127.0.0.1:${local}${p}`])
    let out = ''
    r.stdout.on('data', (d) => { out += d })
    const code = await new Promise((resolve) => r.on('close', resolve))
    return { code, out }
  }
  const r1 = await curl('/one')
  check('curl through connect --listen reaches the forwarded HTTP server', r1.code === 0 && r1.out === 'hello over hyperdht /one', { r1, err: tunnel.err })
  const s = (await ctlJson(NODE_SOCK, ['servers'])).json
  check('servers lists the forward', s && s.servers.some((x) => x.publicKey === key && x.forward && x.keep && x.connections >= 1), s)
  // The node runs --not-firewalled on 127.0.0.1: server.address() is that socket's address.
  const mine = s && s.servers.find((x) => x.publicKey === key)
  check('servers shows the server\'s address (server.address()) and its relays', mine && mine.address &&
    mine.address.host === '127.0.0.1' && mine.address.port > 0 && Array.isArray(mine.relayAddresses), mine)
  const rf = await ctl(NODE_SOCK, ['refresh', '--key', 'web'])
  check('refresh --key web: exit 0, re-announcing', rf.status === 0 && rf.stdout.trim() === `refreshing ${key}`, rf)
  const rfNone = await ctl(NODE_SOCK, ['refresh', crypto.randomBytes(32).toString('hex')])
  check('refresh of a key nobody listens on: exit 1, NO_SUCH_SERVER', rfNone.status === 1 && /NO_SUCH_SERVER/.test(rfNone.stderr), rfNone)
  check('both sides drained after the HTTP exchange', await drained({ net: 0, node: 1 }))
  return { site, key, curl, tunnel }
}

async function hostile (webKey) {
  const unknown = crypto.randomBytes(32).toString('hex')
  const t0 = Date.now()
  const r = await ctl(NODE_SOCK, ['connect', unknown])
  check('connect to an unknown key: exit 1, PEER_NOT_FOUND on stderr', r.status === 1 && /PEER_NOT_FOUND/.test(r.stderr), { r, ms: Date.now() - t0 })
  const e = await rawCall(NODE_SOCK, 'connect', { publicKey: unknown })
  check('the JSON-RPC error carries data.name PEER_NOT_FOUND', e && e.error && e.error.code === -32010 && e.error.data.name === 'PEER_NOT_FOUND', e)

  await ctl(NET_SOCK, ['keygen', '--name', 'guarded'])
  const other = crypto.randomBytes(32).toString('hex')
  const g = await ctlJson(NET_SOCK, ['listen', '--key', 'guarded', '--allow', other, '--forward', '127.0.0.1:9'])
  const guarded = g.json && g.json.publicKey
  const t1 = Date.now()
  const denied = await ctl(NODE_SOCK, ['connect', guarded])
  check('a key off the allow-list gets PEER_CONNECTION_FAILED (exit 1)', denied.status === 1 && /PEER_CONNECTION_FAILED/.test(denied.stderr), { denied, ms: Date.now() - t1 })
  console.log(`# allow-list refusal took ${Date.now() - t1} ms`)
  const sv = (await ctlJson(NET_SOCK, ['servers'])).json
  check('the server counts the refusal', sv && sv.servers.some((x) => x.publicKey === guarded && x.rejected >= 1), sv)

  // Mid-connect: the request goes out, the client goes away before the answer.
  const c = net.createConnection(NODE_SOCK)
  c.write(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'connect', params: { publicKey: guarded } }) + '\n')
  const seen = await untilAsync(async () => ((await ctlJson(NODE_SOCK, ['status'])).json || {}).connections === 1, 3000)
  c.destroy()
  const t2 = Date.now()
  // Within 3 s: left alone, a connect to the guarded server takes ~8 s to fail.
  check('a client vanishing mid-connect: its connect is dropped at once', seen && await drained(undefined, 3000), { seen, ms: Date.now() - t2 })

  // Mid-stream: a piping connect killed outright.
  const victim = run(CTL, ['--socket', NODE_SOCK, 'connect', webKey])
  const up = await until(() => /connected to/.test(victim.err), 15000)
  victim.kill('SIGKILL')
  const t3 = Date.now()
  check('a client vanishing mid-stream: both daemons drain', up && await drained(), { up, ms: Date.now() - t3, err: victim.err })
  const st = (await ctlJson(NODE_SOCK, ['status'])).json
  check('status shows the counts', st && st.connections === 0 && st.servers === 1, st)
}

async function restart (state) {
  state.node.proc.kill('SIGTERM')
  await withTimeout(state.node.exited, 8000, 'node exit').catch(() => state.node.proc.kill('SIGKILL'))
  state.node = startNode()
  await state.node.booted()
  const s = await until(async () => {
    const j = (await ctlJson(NODE_SOCK, ['servers'])).json
    return j && j.servers.find((x) => x.publicKey === state.fw.key && x.state === 'listening')
  }, 15000)
  check('after a restart the forward listens again (standing intent)', !!s, state.node.lines.slice(-5))
  const r2 = await state.fw.curl('/two')
  check('curl through the restarted forward', r2.code === 0 && r2.out === 'hello over hyperdht /two', r2)
  const un = await ctlJson(NODE_SOCK, ['unlisten', '--key', 'web'])
  const after = (await ctlJson(NODE_SOCK, ['servers'])).json
  check('unlisten closes the forward', un.status === 0 && after && after.servers.length === 0, { un, after })
}

async function main () {
  const state = {}
  state.net = startNet()
  try {
    if (!check('net bootstrapped', await state.net.booted())) return
    state.node = startNode()
    if (!check('node bootstrapped', await state.node.booted())) return
    const h = await ctl(NODE_SOCK, ['listen', '--help'])
    check('listen --help and connect --help', h.status === 0 && /--forward/.test(h.stdout) &&
      /--listen/.test((await ctl(NODE_SOCK, ['connect', '--help'])).stdout), h)
    const t = Date.now()
    await chat()
    console.log(`# chat ${Date.now() - t} ms`)
    state.fw = await forward()
    console.log(`# forward ${Date.now() - t} ms`)
    await hostile(state.fw.key)
    console.log(`# hostile ${Date.now() - t} ms`)
    await restart(state)
    console.log(`# restart ${Date.now() - t} ms`)
    state.fw.site.close()
  } catch (e) {
    check('no exception', false, e.stack)
  } finally {
    kids.killAll()
    if (state.node) await state.node.stop()
    await state.net.stop()
    fs.rmSync(TMP, { recursive: true, force: true })
  }
}
// finish() after the finally block also when main returned early (a failed boot check).
main().catch((e) => check('no exception', false, e.stack)).finally(() => tally.finish())
