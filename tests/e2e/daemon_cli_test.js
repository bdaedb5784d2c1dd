#!/usr/bin/env node
'use strict'
// hyperdhtd's command line end to end, on 127.0.0.1 only.
//   node daemon_cli_test.js --daemon PATH/hyperdhtd
// --help exits 0; a bad option exits 2 with one line on stderr; `--testnet 10 --port P` logs
// every node bootstrapped and persistent, a real dht-rpc node joins it and completes a findNode,
// and SIGTERM makes it exit 0. Every wait is bounded. Prints "N passed, N failed" last.
const { spawn, spawnSync } = require('child_process')
const path = require('path')
const readline = require('readline')
const crypto = require('crypto')
const DHT = require(path.join(__dirname, '../interop/node_modules/dht-rpc'))
const { withTimeout } = require('../interop/lib/peer')

const args = process.argv.slice(2)
const i = args.indexOf('--daemon')
const DAEMON = i === -1 ? null : args[i + 1]
if (!DAEMON) { console.error('usage: daemon_cli_test.js --daemon PATH/hyperdhtd'); process.exit(2) }

const HOST = '127.0.0.1'
const NODES = 10
const { Tally } = require('./lib/daemons')
const tally = new Tally()
const check = tally.check.bind(tally)

function runSync (argv) {
  return spawnSync(DAEMON, argv, { encoding: 'utf8', timeout: 10000 })
}

async function testnet () {
  const port = 20000 + crypto.randomInt(30000)
  // --socket none: the default control socket is per user, and this test must not collide with a
  // daemon (or a parallel test run) already using it; e2e.control_socket covers the socket.
  const proc = spawn(DAEMON, ['--testnet', String(NODES), '--port', String(port), '--status-interval', '1', '--socket', 'none'],
    { stdio: ['ignore', 'inherit', 'pipe'] })
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  const lines = []
  let onLine = () => {}
  readline.createInterface({ input: proc.stderr }).on('line', (l) => { lines.push(l); onLine() })
  const waitLog = (re, ms, what) => withTimeout(new Promise((resolve) => {
    const test = () => { const l = lines.find((x) => re.test(x)); if (l) resolve(l); return !!l }
    if (!test()) onLine = test
  }), ms, what)
  let node = null
  try {
    await waitLog(new RegExp(`all ${NODES} nodes bootstrapped \\(${NODES} persistent\\)`), 20000, 'all nodes bootstrapped')
    const booted = lines.filter((l) => /node \d+ bootstrapped: .*firewalled=false, persistent=true/.test(l)).length
    check(`testnet: ${NODES} nodes logged bootstrapped, persistent, not firewalled`, booted === NODES, { booted })
    const status = await waitLog(/status: \d+ nodes/, 5000, 'status line')
    check('testnet: periodic status line', status.includes(`${NODES} nodes, ${NODES} bootstrapped, ${NODES} persistent`), status)

    node = new DHT({ ephemeral: false, firewalled: false, bootstrap: [{ host: HOST, port }], host: HOST })
    await withTimeout(node.fullyBootstrapped(), 15000, 'JS node bootstrap')
    check('JS node joins the testnet and turns persistent', !node.ephemeral && node.id !== null)
    const q = node.findNode(crypto.randomBytes(32))
    await withTimeout(q.finished(), 15000, 'JS findNode')
    const replies = q.closestReplies
    check(`JS findNode reaches all ${NODES} daemon nodes`, replies.length === NODES &&
      replies.every((r) => r.from.id !== null && r.from.host === HOST), replies.length)
    await node.destroy()
    node = null

    const t0 = Date.now()
    proc.kill('SIGTERM')
    const { code, signal } = await withTimeout(exited, 5000, 'exit after SIGTERM')
    check('SIGTERM: exits 0', code === 0, { code, signal, ms: Date.now() - t0 })
  } catch (err) {
    check('testnet', false, err.message)
    console.log(lines.slice(-20).join('\n'))
  } finally {
    if (node) await node.destroy().catch(() => {})
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL')
  }
}

async function main () {
  const help = runSync(['--help'])
  check('--help exits 0 with usage', help.status === 0 && /Usage: hyperdhtd/.test(help.stdout), help.status)
  const version = runSync(['--version'])
  check('--version exits 0', version.status === 0 && /hyperdhtd/.test(version.stdout), version.status)
  for (const bad of [['--bogus'], ['--port', 'x'], ['--bootstrapper'], ['--testnet', '3', '--bootstrap', '1.2.3.4:5'],
    ['--bootstrap', 'nope'], ['--log-level', 'loud']]) {
    const r = runSync(bad)
    const errLines = r.stderr.split('\n').filter(Boolean)
    check(`${bad.join(' ')}: exit 2, one line on stderr`, r.status === 2 && errLines.length === 1 && r.stdout === '',
      { status: r.status, stderr: r.stderr })
  }
  await testnet()
  tally.finish()
}

main().catch((err) => { console.log('FAIL harness: ' + err.stack); process.exit(1) })
