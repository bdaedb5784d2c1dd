#!/usr/bin/env node
'use strict'
// examples/chat-server and examples/chat-client end to end, as a user runs them (the HyperDHT
// guide's two-peer chat): a JS hyperdht testnet on loopback; chat-server prints
// "listening on: <key>"; chat-client <key> connects; a line typed into each side comes out of
// the other; the client's stdin ending closes the connection and the client exits 0; a client
// for a key nobody serves exits 1 naming PEER_NOT_FOUND; SIGTERM stops the server.
//   node chat_examples_test.js --server PATH/chat-server --client PATH/chat-client
// Every wait is bounded. Last line: "N passed, N failed".
const path = require('path')
const { spawn } = require('child_process')

const argv = process.argv.slice(2)
const opt = (name) => { const i = argv.indexOf(name); return i === -1 ? null : argv[i + 1] }
const serverBin = opt('--server')
const clientBin = opt('--client')
if (!serverBin || !clientBin) {
  console.error('usage: chat_examples_test.js --server PATH --client PATH')
  process.exit(2)
}
const createTestnet = require(path.join(__dirname, '..', 'interop', 'node_modules', 'hyperdht', 'testnet.js'))

let passed = 0
let failed = 0
function check (ok, name, detail) {
  if (ok) passed++
  else failed++
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${detail !== undefined ? ' ' + JSON.stringify(detail) : ''}`)
  return ok
}

// A child whose stdout (and stderr) we can wait on.
function run (bin, args) {
  const p = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
  p.out = ''
  p.err = ''
  p.exited = new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal })))
  p.stdout.on('data', (d) => { p.out += d })
  p.stderr.on('data', (d) => { p.err += d })
  return p
}

async function until (pred, ms) {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const v = pred()
    if (v) return v
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return pred()
}

function timeout (p, ms) {
  return Promise.race([p, new Promise((resolve) => setTimeout(() => resolve(null), ms))])
}

async function main () {
  const tn = await createTestnet(4, { host: '127.0.0.1' })
  const bootstrap = `127.0.0.1:${tn.bootstrap[0].port}`
  const procs = []
  try {
    const server = run(serverBin, ['--bootstrap', bootstrap])
    procs.push(server)
    const m = await until(() => /listening on: ([0-9a-f]{64})/.exec(server.out), 30000)
    if (!check(!!m, 'chat-server prints "listening on: <public key hex>"', server.out + server.err)) return
    const key = m[1]

    const client = run(clientBin, [key, '--bootstrap', bootstrap])
    procs.push(client)
    const connected = await until(() => /connected to/.test(client.err) && /connection from/.test(server.err), 30000)
    check(connected, 'chat-client connects by key; the server sees the connection', { client: client.err, server: server.err })

    client.stdin.write('hello from the client\n')
    check(await until(() => server.out.includes('hello from the client\n'), 10000),
      'a line typed into the client comes out of the server', server.out)
    server.stdin.write('hello from the server\n')
    check(await until(() => client.out.includes('hello from the server\n'), 10000),
      'a line typed into the server comes out of the client', client.out)

    client.stdin.end()
    const ex = await timeout(client.exited, 15000)
    check(ex !== null && ex.code === 0, 'the client\'s stdin ending closes the connection; the client exits 0', ex)

    const nobody = run(clientBin, ['ab'.repeat(32), '--bootstrap', bootstrap])
    procs.push(nobody)
    const nx = await timeout(nobody.exited, 60000)
    check(nx !== null && nx.code === 1 && /PEER_NOT_FOUND/.test(nobody.err),
      'a client for a key nobody serves exits 1 naming PEER_NOT_FOUND', { exit: nx, stderr: nobody.err })

    const bad = run(clientBin, ['not-a-key'])
    procs.push(bad)
    const bx = await timeout(bad.exited, 10000)
    check(bx !== null && bx.code === 2 && /usage/.test(bad.err), 'a malformed key: usage, exit 2', { exit: bx })

    server.kill('SIGTERM')
    const sx = await timeout(server.exited, 15000)
    check(sx !== null && sx.code === 0, 'SIGTERM closes the server (unannounce) and it exits 0', sx)
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
    await tn.destroy()
  }
}

main().catch((err) => { console.error(err); failed++ }).finally(() => {
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 ? 0 : 1)
})
