#!/usr/bin/env node
'use strict'
// hyperdhtd joining a network of JS hyperdht nodes, driven only through hdhtctl, on 127.0.0.1:
//   node js_testnet_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl
// A JS testnet (hyperdht's createTestnet, 5 nodes) and a JS client node run in this process; one
// hyperdhtd bootstraps from the JS bootstrap node. Each side reads what the other stored
// (immutable, mutable, announce/lookup, find-peer), a JS client connects to `hdhtctl listen` and
// `hdhtctl connect` reaches a JS server, text both ways. Every wait is bounded. Prints
// "N passed, N failed" last.
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const DHT = require(path.join(__dirname, '../interop/node_modules/hyperdht'))
const createTestnet = require(path.join(__dirname, '../interop/node_modules/hyperdht/testnet.js'))
const { withTimeout, until } = require('../interop/lib/peer')
const { freePort, opened } = require('../interop/lib/sockets')
const { cliArgs, Tally, Children } = require('./lib/daemons')

const { daemon: DAEMON, ctl: CTL } = cliArgs('js_testnet_test.js')
const tally = new Tally()
const check = tally.check.bind(tally)
const kids = new Children({ daemon: DAEMON, ctl: CTL })
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-jsnet-'))
const SOCK = path.join(TMP, 'hyperdhtd.sock')
const ctl = (argv) => kids.ctl(SOCK, argv)
const ctlJson = (argv) => kids.ctlJson(SOCK, argv)
const hex = (b) => b.toString('hex')

async function joined () {
  const st = await ctlJson(['status'])
  check('status: ready, not a testnet, JS nodes in the table', st.status === 0 && st.json && st.json.ready === true &&
    st.json.mode !== 'testnet' && st.json.nodes.length === 1 && st.json.nodes[0].tableSize >= 4, st.json)
  const n = await ctlJson(['nodes'])
  check('nodes: the JS testnet nodes', n.status === 0 && n.json && n.json.size >= 4, n.json)
  return st.json
}

async function records (js) {
  const put = await ctl(['immutable-put', 'stored by hyperdhtd'])
  const hash = put.stdout.trim()
  const got = put.status === 0 && await withTimeout(js.immutableGet(Buffer.from(hash, 'hex')), 15000, 'JS immutableGet').catch(() => null)
  check('JS immutableGet reads what hdhtctl immutable-put stored', got && got.value.toString() === 'stored by hyperdhtd', { put, got })
  const { hash: jsHash } = await withTimeout(js.immutablePut(Buffer.from('stored by JS')), 15000, 'JS immutablePut')
  const g = await ctl(['immutable-get', hex(jsHash)])
  check('hdhtctl immutable-get reads what JS stored', g.status === 0 && g.stdout === 'stored by JS', g)

  const mp = await ctlJson(['mutable-put', '--seq', '4', 'mutable from hyperdhtd'])
  const mg = mp.json && await withTimeout(js.mutableGet(Buffer.from(mp.json.publicKey, 'hex')), 15000, 'JS mutableGet').catch(() => null)
  check('JS mutableGet reads the hdhtctl record (seq 4)', mg && mg.seq === 4 && mg.value.toString() === 'mutable from hyperdhtd', { mp, seq: mg && mg.seq })
  const kp = DHT.keyPair()
  await withTimeout(js.mutablePut(kp, Buffer.from('mutable from JS'), { seq: 9 }), 15000, 'JS mutablePut')
  const mj = await ctlJson(['mutable-get', hex(kp.publicKey), '--latest'])
  check('hdhtctl mutable-get --latest reads the JS record', mj.status === 0 && mj.json && mj.json.seq === 9 &&
    mj.json.value.data === 'mutable from JS', mj)
}

async function announces (js, me) {
  const topic = crypto.randomBytes(32)
  const a = await ctl(['announce', hex(topic), '--relay', '127.0.0.1:7000'])
  const found = []
  if (a.status === 0) for await (const r of js.lookup(topic)) found.push(...r.peers)
  check('JS lookup finds the hdhtctl announce and its relay', found.some((p) => hex(p.publicKey) === me &&
    p.relayAddresses.some((x) => x.port === 7000)), { a, found: found.length })
  const kp = DHT.keyPair()
  const t2 = crypto.randomBytes(32)
  await withTimeout(js.announce(t2, kp, [{ host: '127.0.0.1', port: 6000 }]).finished(), 15000, 'JS announce')
  const l = await ctl(['lookup', hex(t2)])
  check('hdhtctl lookup finds the JS announce and its relay', l.status === 0 && l.stdout.trim() === `${hex(kp.publicKey)} 127.0.0.1:6000`, l)
  const u = await ctl(['unannounce', hex(topic)])
  const after = []
  if (u.status === 0) for await (const r of js.lookup(topic)) after.push(...r.peers)
  check('after hdhtctl unannounce, JS lookup finds nobody', u.status === 0 && after.length === 0, { u, after: after.length })
}

// `hdhtctl listen` on the daemon, a JS client by public key.
async function jsClientToListen (js) {
  const server = kids.run(CTL, ['--socket', SOCK, 'listen'])
  const m = await until(() => /listening on ([0-9a-f]{64})/.exec(server.err), 15000)
  if (!check('hdhtctl listen prints its key', !!m, server.err)) return
  const s = js.connect(Buffer.from(m[1], 'hex'))
  s.on('error', () => {})
  const open = await withTimeout(opened(s), 15000, 'JS connect').then(() => true, () => false)
  check('a JS client connects to hdhtctl listen', open, server.err)
  let fromDaemon = ''
  s.on('data', (d) => { fromDaemon += d })
  s.write('hello from JS\n')
  check('a line from the JS client comes out of listen', await until(() => server.out.includes('hello from JS\n'), 5000), server.out)
  server.stdin.write('hello from hdhtctl\n')
  check('a line typed into listen reaches the JS client', await until(() => fromDaemon.includes('hello from hdhtctl\n'), 5000), fromDaemon)
  s.end()
  server.stdin.end()
  const exit = await withTimeout(server.exited, 8000, 'listen exit').catch(() => ({}))
  check('listen exits 0 after the half-close both ways', exit.code === 0, { exit, err: server.err })
  s.destroy()
}

// A JS server; `hdhtctl find-peer` and `hdhtctl connect` by its public key.
async function connectToJsServer (js) {
  const kp = DHT.keyPair()
  const jsServer = js.createServer((sock) => {
    sock.on('error', () => {})
    sock.on('data', (d) => sock.write('echo: ' + d))
    sock.on('end', () => sock.end())
  })
  await withTimeout(jsServer.listen(kp), 15000, 'JS listen')
  try {
    const fp = await ctl(['find-peer', hex(kp.publicKey)])
    check('hdhtctl find-peer sees the JS server', fp.status === 0 && fp.stdout.startsWith(hex(kp.publicKey)), fp)
    const client = kids.run(CTL, ['--socket', SOCK, 'connect', hex(kp.publicKey)])
    check('hdhtctl connect reaches the JS server', await until(() => /connected to/.test(client.err), 15000), client.err)
    client.stdin.write('ping\n')
    check('the JS server\'s answer comes out of connect', await until(() => client.out.includes('echo: ping\n'), 5000), client.out)
    client.stdin.end()
    const exit = await withTimeout(client.exited, 8000, 'connect exit').catch(() => ({}))
    check('connect exits 0 when the JS server ends too', exit.code === 0, { exit, err: client.err })
  } finally {
    await jsServer.close()
  }
}

async function main () {
  const tn = await createTestnet(5, { host: '127.0.0.1' })
  const js = new DHT({ bootstrap: tn.bootstrap, host: '127.0.0.1' })
  const port = await freePort()
  const d = kids.startDaemon(['--bootstrap', `127.0.0.1:${tn.bootstrap[0].port}`, '--host', '127.0.0.1', '--port', String(port),
    '--not-firewalled', '--socket', SOCK, '--state-dir', path.join(TMP, 'state')])
  try {
    await withTimeout(js.ready(), 10000, 'JS node ready')
    if (!check('hyperdhtd bootstrapped from the JS testnet', await d.booted(), d.lines.slice(-5))) return
    const st = await joined()
    await records(js)
    await announces(js, st.defaultKey)
    await jsClientToListen(js)
    await connectToJsServer(js)
  } finally {
    kids.killAll()
    await d.stop()
    await js.destroy()
    await tn.destroy()
    fs.rmSync(TMP, { recursive: true, force: true })
  }
}
// finish() after the finally block also when main returned early (a failed boot check).
main().catch((e) => check('no exception', false, e.stack)).finally(() => tally.finish())
