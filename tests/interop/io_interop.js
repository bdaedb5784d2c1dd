#!/usr/bin/env node
'use strict'
// RpcIo against a real dht-rpc 6.27.0 node on 127.0.0.1, both directions.
//   node io_interop.js --peer PATH/rpc_io_peer
// The C++ peer (tests/interop/rpc_io_peer.cpp) runs one RpcIo and speaks JSON lines on
// stdin/stdout. Runs once with an ephemeral C++ node and once with a persistent one. Every wait
// is bounded. Prints "N passed, N failed" last.
const { spawn } = require('child_process')
const readline = require('readline')
const b4a = require('b4a')
const DHT = require('dht-rpc')
const peerId = require('dht-rpc/lib/peer').id

const HOST = '127.0.0.1'
const WAIT_MS = 5000

let passed = 0
let failed = 0
function check (name, ok, detail) {
  if (ok) passed++
  else {
    failed++
    console.log(`FAIL ${name}${detail !== undefined ? ': ' + JSON.stringify(detail) : ''}`)
  }
}

function withTimeout (p, ms, what) {
  let t
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((resolve, reject) => { t = setTimeout(() => reject(new Error(`timeout: ${what}`)), ms) })
  ])
}

class CppPeer {
  constructor (bin, args) {
    this.proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'inherit'] })
    this.events = []
    this.waiters = []
    this.seq = 0
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let ev
      try { ev = JSON.parse(line) } catch { return }
      this.events.push(ev)
      for (const w of this.waiters.slice()) w()
    })
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve))
  }

  wait (pred, what) {
    return withTimeout(new Promise((resolve) => {
      const test = () => {
        const i = this.events.findIndex(pred)
        if (i === -1) return false
        const [ev] = this.events.splice(i, 1)
        this.waiters = this.waiters.filter((w) => w !== test)
        resolve(ev)
        return true
      }
      if (!test()) this.waiters.push(test)
    }), WAIT_MS, what)
  }

  send (cmd) { this.proc.stdin.write(JSON.stringify(cmd) + '\n') }

  request (port, { internal = false, command, target = null, value = null, token = null, retries = 3 }) {
    const seq = ++this.seq
    this.send({ op: 'request', seq, port, internal, command, target: hex(target), value: hex(value), token: hex(token), retries })
    return this.wait((e) => e.seq === seq && (e.event === 'response' || e.event === 'error'), `cpp request ${command}`)
  }

  async token (host) {
    this.send({ op: 'token', host })
    return (await this.wait((e) => e.event === 'token', 'token')).token
  }

  async close () {
    try { this.send({ op: 'exit' }) } catch {}
    this.proc.stdin.end()
    const t = setTimeout(() => this.proc.kill('SIGKILL'), WAIT_MS)
    const code = await this.exited
    clearTimeout(t)
    return code
  }
}

function hex (b) { return b === null || b === undefined ? null : b4a.toString(b, 'hex') }
function buf (h) { return h === null ? null : b4a.from(h, 'hex') }

function jsFindNode (dht, to, target) {
  return new Promise((resolve, reject) => {
    dht._request({ id: null, host: to.host, port: to.port }, false, true, 2, target, null, null, resolve, reject)
  })
}

async function scenario (bin, persistent) {
  const tag = persistent ? 'persistent' : 'ephemeral'
  const dht = new DHT({ bootstrap: [], host: HOST, ephemeral: true })
  dht.on('request', (req) => {
    // User commands: answer with "js:" + value (token on by default).
    req.reply(b4a.concat([b4a.from('js:'), req.value || b4a.alloc(0)]))
  })
  await withTimeout(dht.ready(), WAIT_MS, 'js ready')
  for (let p = 41001; p <= 41004; p++) dht.addNode({ host: HOST, port: p })
  const jsPort = dht.io.serverSocket.address().port
  const jsClientPort = dht.io.clientSocket.address().port

  const cpp = new CppPeer(bin, persistent ? ['--persistent'] : [])
  try {
    const ready = await cpp.wait((e) => e.event === 'ready', 'cpp ready')
    const cppServer = { host: HOST, port: ready.serverPort }
    const cppClientPort = ready.clientPort
    const cppId = persistent ? peerId(HOST, ready.serverPort) : null
    if (persistent) check(`${tag}: announced id is id(host, port)`, ready.id === hex(cppId), ready.id)

    // --- C++ -> JS ---
    const ping = await cpp.request(jsPort, { internal: true, command: 0 })
    check(`${tag}: C++ PING -> JS answered`, ping.event === 'response' && ping.error === 0, ping)
    check(`${tag}: PING reply from the JS server socket`, ping.from && ping.from.port === jsPort, ping.from)
    const expectTo = persistent ? ready.serverPort : cppClientPort
    check(`${tag}: PING reply 'to' is our socket`, ping.to && ping.to.port === expectTo && ping.to.host === HOST, ping.to)
    check(`${tag}: PING reply has no token/closer/value`, ping.token === null && ping.closerNodes === null && ping.value === null, ping)
    check(`${tag}: ephemeral JS sends no id`, ping.fromId === null, ping.fromId)
    if (persistent) {
      // Our request carried a valid id from our server socket: the JS node added us.
      check(`${tag}: JS added the C++ node to its table`, dht.table.get(cppId) !== null)
    }

    const target = b4a.alloc(32, 0x42)
    const fn = await cpp.request(jsPort, { internal: true, command: 2, target })
    const want = dht.table.closest(target).map((n) => `${n.host}:${n.port}`)
    const got = (fn.closerNodes || []).map((n) => `${n.host}:${n.port}`)
    check(`${tag}: C++ FIND_NODE -> JS closerNodes`, fn.error === 0 && want.length >= 4 && JSON.stringify(got) === JSON.stringify(want), { got, want })

    const value = b4a.from('hello')
    const user = await cpp.request(jsPort, { command: 42, value })
    check(`${tag}: C++ user command -> JS reply value`, user.event === 'response' && user.value === hex(b4a.from('js:hello')), user)
    const jsToken = dht.io.token({ host: HOST }, 1)
    check(`${tag}: JS reply token is JS token(host, 1)`, user.token === hex(jsToken), user.token)

    let seen = null
    dht.once('request', (req) => { seen = req })
    const withToken = await cpp.request(jsPort, { command: 43, token: buf(user.token) })
    check(`${tag}: valid token accepted by JS`, withToken.error === 0 && seen !== null && hex(seen.token) === user.token, { withToken, token: seen && hex(seen.token) })

    const bad = await cpp.request(jsPort, { command: 44, token: b4a.alloc(32, 0xee), target })
    check(`${tag}: bad token -> INVALID_TOKEN from JS`, bad.error === 2, bad)
    check(`${tag}: INVALID_TOKEN carries a fresh token`, bad.token === hex(jsToken), bad.token)
    check(`${tag}: INVALID_TOKEN carries closerNodes (target)`, bad.closerNodes !== null && bad.closerNodes.length >= 4, bad.closerNodes)

    const unknown = await cpp.request(jsPort, { internal: true, command: 99 })
    check(`${tag}: unknown internal command -> error 1`, unknown.error === 1, unknown)

    const dead = await cpp.request(41999, { internal: true, command: 0, retries: 0 })
    check(`${tag}: no answer -> REQUEST_TIMEOUT`, dead.event === 'error' && dead.code === 'REQUEST_TIMEOUT', dead)

    // --- JS -> C++ ---
    const jp = await withTimeout(dht.ping(cppServer), WAIT_MS, 'js ping')
    check(`${tag}: JS PING -> C++ answered`, jp.error === 0 && jp.from.port === cppServer.port, { error: jp.error, from: jp.from })
    check(`${tag}: C++ PING reply 'to' is the JS client socket`, jp.to.host === HOST && jp.to.port === jsClientPort, jp.to)
    check(`${tag}: C++ PING reply: no token/closer/value`, jp.token === null && jp.closerNodes === null && jp.value === null)
    check(`${tag}: C++ id on the wire only when persistent`, persistent ? b4a.equals(jp.from.id || b4a.alloc(0), cppId) : jp.from.id === null, jp.from.id && hex(jp.from.id))
    const pingEv = await cpp.wait((e) => e.event === 'request' && e.internal && e.command === 0, 'cpp saw ping')
    check(`${tag}: C++ saw the JS PING from the JS client socket`, pingEv.from.port === jsClientPort && pingEv.fromId === null, pingEv)

    const cppToken = await cpp.token(HOST)
    const ju = await withTimeout(dht.request({ command: 7, value: b4a.from('abc') }, cppServer), WAIT_MS, 'js request')
    check(`${tag}: JS user command -> C++ echo`, ju.error === 0 && ju.value && b4a.toString(ju.value) === 'abc', ju.value && hex(ju.value))
    check(`${tag}: C++ reply token is C++ token(host, 1)`, ju.token !== null && hex(ju.token) === cppToken, ju.token && hex(ju.token))
    check(`${tag}: user reply has no closerNodes without a target`, ju.closerNodes === null)

    const jt = await withTimeout(dht.request({ command: 8, token: ju.token, target }, cppServer), WAIT_MS, 'js token request')
    check(`${tag}: C++ accepts its own token`, jt.error === 0, jt.error)
    check(`${tag}: C++ echo with target has closerNodes`, jt.closerNodes !== null && jt.closerNodes.length === 3, jt.closerNodes)
    const tokEv = await cpp.wait((e) => e.event === 'request' && e.command === 8, 'cpp saw token request')
    check(`${tag}: C++ handler sees the valid token`, tokEv.token === cppToken, tokEv.token)

    const jb = await withTimeout(dht.request({ command: 9, token: b4a.alloc(32, 1), target }, cppServer), WAIT_MS, 'js bad token')
    check(`${tag}: C++ answers a bad token with INVALID_TOKEN`, jb.error === 2, jb.error)
    check(`${tag}: C++ INVALID_TOKEN has a fresh token`, jb.token !== null && hex(jb.token) === cppToken)
    check(`${tag}: C++ INVALID_TOKEN has closerNodes`, jb.closerNodes !== null && jb.closerNodes.length === 3)
    check(`${tag}: C++ INVALID_TOKEN has no value`, jb.value === null)

    const jf = await withTimeout(jsFindNode(dht, cppServer, target), WAIT_MS, 'js find_node')
    const cppNodes = (jf.closerNodes || []).map((n) => n.port).sort()
    check(`${tag}: JS FIND_NODE -> C++ closerNodes`, JSON.stringify(cppNodes) === '[40001,40002,40003]', cppNodes)
  } catch (err) {
    check(`${tag}: ${err.message}`, false)
  } finally {
    const code = await cpp.close()
    check(`${tag}: C++ peer exits cleanly`, code === 0, code)
    await dht.destroy()
  }
}

async function main () {
  const i = process.argv.indexOf('--peer')
  if (i === -1) { console.error('usage: io_interop.js --peer PATH'); process.exit(2) }
  const bin = process.argv[i + 1]
  const overall = setTimeout(() => { console.log('FAIL overall timeout'); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1) }, 60000)
  await scenario(bin, false)
  await scenario(bin, true)
  clearTimeout(overall)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed === 0 && passed > 0 ? 0 : 1)
}

main().catch((err) => { console.log(`FAIL ${err.stack}`); console.log(`${passed} passed, ${failed + 1} failed`); process.exit(1) })
