#!/usr/bin/env node
'use strict'
// hyperdhtd's record methods end to end through hdhtctl only, on 127.0.0.1 and a temp dir:
//   node records_cli_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl
// Starts `hyperdhtd --testnet 10` and checks immutable and mutable put/get (text and binary
// values, seq rules and their errors and exit codes), announce / lookup / unannounce with relay
// addresses, --keep and `announces`, find-peer, bad input, and interop with a JS hyperdht client
// on the same testnet (each reads what the other stored). Every wait is bounded. Prints
// "N passed, N failed" last.
const { spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const readline = require('readline')
const DHT = require(path.join(__dirname, '../interop/node_modules/hyperdht'))
const { withTimeout, sleep } = require('../interop/lib/peer')

const args = process.argv.slice(2)
const arg = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const DAEMON = arg('--daemon')
const CTL = arg('--ctl')
if (!DAEMON || !CTL) { console.error('usage: records_cli_test.js --daemon PATH --ctl PATH'); process.exit(2) }

const { Tally } = require('./lib/daemons')
const tally = new Tally()
const check = tally.check.bind(tally)
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-rec-'))
const SOCK = path.join(TMP, 'hyperdhtd.sock')
const STATE = path.join(TMP, 'state')
const PORT = 20000 + crypto.randomInt(30000)

// hdhtctl, asynchronously: the JS node in this process must keep answering the DHT meanwhile.
// stdout is kept as a Buffer (values are raw bytes).
function ctl (argv, opts = {}) {
  return new Promise((resolve) => {
    const p = spawn(CTL, ['--socket', SOCK, '--timeout', '20', ...argv], { stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    const out = []
    let err = ''
    p.stdout.on('data', (d) => out.push(d))
    p.stderr.on('data', (d) => { err += d })
    const kill = setTimeout(() => p.kill('SIGKILL'), 30000)
    if (opts.stdin) p.stdin.end(opts.stdin)
    p.on('close', (status) => {
      clearTimeout(kill)
      const raw = Buffer.concat(out)
      resolve({ status, raw, stdout: raw.toString('utf8'), stderr: err })
    })
  })
}
async function ctlJson (argv, opts) {
  const r = await ctl(['--json', ...argv], opts)
  const lines = r.stdout.split('\n').filter(Boolean)
  try { r.json = JSON.parse(lines[lines.length - 1]) } catch { r.json = null }
  r.notes = lines.slice(0, -1).map((l) => { try { return JSON.parse(l) } catch { return null } })
  return r
}
const oneLine = (s) => s.split('\n').filter(Boolean).length === 1

function startDaemon (argv) {
  const proc = spawn(DAEMON, argv, { stdio: ['ignore', 'ignore', 'pipe'] })
  const d = { proc, lines: [], waiters: [] }
  d.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
  readline.createInterface({ input: proc.stderr }).on('line', (l) => {
    d.lines.push(l)
    d.waiters = d.waiters.filter((w) => !(w.re.test(l) && (w.resolve(l), true)))
  })
  d.waitLog = (re, ms, what) => {
    const l = d.lines.find((x) => re.test(x))
    if (l) return Promise.resolve(l)
    return withTimeout(new Promise((resolve) => d.waiters.push({ re, resolve })), ms, what)
  }
  d.stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return d.exited
    proc.kill('SIGTERM')
    return withTimeout(d.exited, 5000, 'exit after SIGTERM').catch(() => { proc.kill('SIGKILL'); return { code: null } })
  }
  return d
}

function cliOnly () {
  return Promise.all(['immutable-put', 'immutable-get', 'mutable-put', 'mutable-get', 'announce', 'unannounce', 'announces', 'lookup', 'find-peer']
    .map(async (c) => {
      const r = await ctl([c, '--help'])
      return r.status === 0 && r.stdout.includes(`Usage: hdhtctl [global options] ${c}`) ? null : c
    })).then((bad) => check('every record command has --help', bad.every((b) => b === null), bad))
}

async function immutables () {
  const put = await ctl(['immutable-put', 'hello from hdhtctl'])
  const hash = put.stdout.trim()
  check('immutable-put VALUE: exit 0, prints the hash', put.status === 0 && /^[0-9a-f]{64}$/.test(hash), put)
  check('the hash is BLAKE2b-256 of the value (DHT.hash)', hash === DHT.hash(Buffer.from('hello from hdhtctl')).toString('hex'))
  const get = await ctl(['immutable-get', hash])
  check('immutable-get HASH: the value, raw', get.status === 0 && get.stdout === 'hello from hdhtctl', get)

  const bin = crypto.randomBytes(700)
  bin[0] = 0; bin[1] = 0xff; bin[2] = 10
  const file = path.join(TMP, 'bin.dat')
  fs.writeFileSync(file, bin)
  const putBin = await ctlJson(['immutable-put', '@' + file])
  check('immutable-put @FILE (binary): exit 0, hash + closest nodes', putBin.status === 0 && putBin.json &&
    putBin.json.hash === DHT.hash(bin).toString('hex') && putBin.json.closest.length > 0, putBin)
  const getBin = await ctl(['immutable-get', putBin.json && putBin.json.hash])
  check('immutable-get of a binary value: the same bytes on stdout', getBin.status === 0 && getBin.raw.equals(bin), getBin.raw.length)
  const stdinPut = await ctl(['immutable-put', '-'], { stdin: Buffer.from('from stdin') })
  check('immutable-put - reads stdin', stdinPut.status === 0 && stdinPut.stdout.trim() === DHT.hash(Buffer.from('from stdin')).toString('hex'), stdinPut)

  const missing = await ctl(['immutable-get', DHT.hash(crypto.randomBytes(8)).toString('hex')])
  check('immutable-get of an unknown hash: exit 1, NOT_FOUND on one stderr line', missing.status === 1 &&
    oneLine(missing.stderr) && /NOT_FOUND/.test(missing.stderr) && missing.stdout === '', missing)
  const badHex = await ctl(['immutable-get', 'xyz'])
  check('immutable-get with bad hex: exit 1, BAD_HEX', badHex.status === 1 && /BAD_HEX/.test(badHex.stderr), badHex)
  const noFile = await ctl(['immutable-put', '@' + path.join(TMP, 'nope')])
  check('immutable-put @missing-file: exit 2', noFile.status === 2 && oneLine(noFile.stderr), noFile)
  await valueLimit()
  return hash
}

// Values travel in one datagram that libudx reads into 2048 bytes: 1774 bytes is the most the
// daemon accepts (the mutable.get reply around it is 274 bytes).
async function valueLimit () {
  const biggest = crypto.randomBytes(1774)
  const bigFile = path.join(TMP, 'biggest.dat')
  fs.writeFileSync(bigFile, biggest)
  const putMax = await ctlJson(['immutable-put', '@' + bigFile])
  check('immutable-put of 1774 bytes: stored', putMax.status === 0 && putMax.json &&
    putMax.json.hash === DHT.hash(biggest).toString('hex'), putMax.stderr)
  const getMax = await ctl(['immutable-get', DHT.hash(biggest).toString('hex')])
  check('immutable-get of the 1774-byte value: the same bytes', getMax.status === 0 && getMax.raw.equals(biggest), getMax.raw.length)

  const tooBig = { encoding: 'base64', data: crypto.randomBytes(1775).toString('base64') }
  const isTooLarge = (r) => r.status === 1 && oneLine(r.stderr) && /VALUE_TOO_LARGE/.test(r.stderr) &&
    /1774/.test(r.stderr) && r.stdout === ''
  const rawImm = await ctl(['call', 'immutable.put', JSON.stringify({ value: tooBig })])
  check('immutable.put of 1775 bytes: VALUE_TOO_LARGE naming the limit (exit 1, one line)', isTooLarge(rawImm), rawImm)
  const rawMut = await ctl(['call', 'mutable.put', JSON.stringify({ value: tooBig, key: 'no-such-key' })])
  check('mutable.put of 1775 bytes: VALUE_TOO_LARGE, checked before the key', isTooLarge(rawMut), rawMut)
  const over = path.join(TMP, 'over.dat')
  fs.writeFileSync(over, crypto.randomBytes(1775))
  const ctlOver = await ctl(['immutable-put', '@' + over])
  check('immutable-put @FILE of 1775 bytes: exit 1, one line naming the limit', isTooLarge(ctlOver), ctlOver)
  const ctlMut = await ctl(['mutable-put', '@' + over])
  check('mutable-put @FILE of 1775 bytes: exit 1, one line naming the limit', isTooLarge(ctlMut), ctlMut)
}

async function mutables () {
  const gen = await ctlJson(['keygen', '--name', 'writer'])
  const pk = gen.json && gen.json.publicKey
  check('keygen writer', gen.status === 0 && /^[0-9a-f]{64}$/.test(pk), gen)
  const p1 = await ctlJson(['mutable-put', '--key', 'writer', 'v1'])
  check('mutable-put without --seq: seq 0 under the key', p1.status === 0 && p1.json && p1.json.seq === 0 &&
    p1.json.publicKey === pk && /^[0-9a-f]{128}$/.test(p1.json.signature), p1)
  const g1 = await ctl(['mutable-get', pk])
  check('mutable-get: v1', g1.status === 0 && g1.stdout === 'v1', g1)
  const p2 = await ctlJson(['mutable-put', '--key', 'writer', '--seq', '5', 'v5'])
  check('mutable-put --seq 5', p2.status === 0 && p2.json && p2.json.seq === 5, p2)
  const g2 = await ctlJson(['mutable-get', pk])
  check('mutable-get --json: v5 at seq 5, with signature and the answering node', g2.status === 0 && g2.json &&
    g2.json.seq === 5 && g2.json.value.data === 'v5' && g2.json.value.encoding === 'utf8' && g2.json.from && g2.json.from.port > 0, g2)
  const low = await ctlJson(['mutable-put', '--key', 'writer', '--seq', '3', 'stale'])
  check('mutable-put with a lower seq: exit 1, SEQ_TOO_LOW', low.status === 1 && /SEQ_TOO_LOW/.test(low.stderr) && oneLine(low.stderr), low)
  const reused = await ctl(['mutable-put', '--key', 'writer', '--seq', '5', 'other'])
  check('mutable-put reusing a seq with another value: exit 1, SEQ_REUSED', reused.status === 1 && /SEQ_REUSED/.test(reused.stderr), reused)
  const same = await ctlJson(['mutable-put', '--key', 'writer', '--seq', '5', 'v5'])
  check('mutable-put of the same value at the same seq is fine', same.status === 0 && same.json && same.json.seq === 5, same)
  const next = await ctlJson(['mutable-put', '--key', 'writer', 'v6'])
  check('mutable-put without --seq after seq 5: seq 6', next.status === 0 && next.json && next.json.seq === 6, next)
  const g3 = await ctl(['mutable-get', pk])
  check('mutable-get after the stale puts: the newest value', g3.status === 0 && g3.stdout === 'v6', g3)
  const gHigh = await ctl(['mutable-get', pk, '--seq', '7'])
  check('mutable-get --seq above the stored seq: exit 1, NOT_FOUND', gHigh.status === 1 && /NOT_FOUND/.test(gHigh.stderr), gHigh)
  const unknownKey = await ctl(['mutable-put', '--key', 'nobody', 'x'])
  check('mutable-put --key unknown: exit 1, KEY_NOT_FOUND', unknownKey.status === 1 && /KEY_NOT_FOUND/.test(unknownKey.stderr), unknownKey)
  const badSeq = await ctl(['mutable-put', '--seq', 'x', 'v'])
  check('mutable-put --seq x: exit 2', badSeq.status === 2, badSeq)
  const badPk = await ctl(['mutable-get', '12'])
  check('mutable-get with bad hex: exit 1, BAD_HEX', badPk.status === 1 && /BAD_HEX/.test(badPk.stderr), badPk)
  return pk
}

async function peers () {
  const st = await ctlJson(['status'])
  const me = st.json && st.json.defaultKey
  const topic = crypto.randomBytes(32).toString('hex')
  const ann = await ctlJson(['announce', topic, '--relay', '127.0.0.1:4000', '--relay', '127.0.0.2:4001'])
  check('announce TOPIC --relay x2: exit 0, our default key', ann.status === 0 && ann.json && ann.json.publicKey === me &&
    ann.json.closest.length > 0, ann)
  const look = await ctl(['lookup', topic])
  const lines = look.stdout.split('\n').filter(Boolean)
  check('lookup TOPIC: one line, our key and both relays', look.status === 0 && lines.length === 1 &&
    lines[0] === `${me} 127.0.0.1:4000 127.0.0.2:4001`, look)
  const lookJ = await ctlJson(['lookup', topic])
  check('lookup --json: data notifications, then the deduplicated peers', lookJ.status === 0 && lookJ.json &&
    lookJ.json.peers.length === 1 && lookJ.json.peers[0].publicKey === me && lookJ.json.replies >= 1 &&
    lookJ.notes.length === lookJ.json.replies && lookJ.notes.every((n) => n && n.method === 'lookup.data'), lookJ)

  await ctl(['keygen', '--name', 'other'])
  const ann2 = await ctlJson(['announce', 'some text topic', '--key', 'other', '--keep'])
  check('announce a text topic with --key and --keep', ann2.status === 0 && ann2.json && ann2.json.keep === true &&
    ann2.json.topic === DHT.hash(Buffer.from('some text topic')).toString('hex'), ann2)
  const list = await ctlJson(['announces'])
  check('announces lists the kept announce', list.status === 0 && list.json && list.json.announces.length === 1 &&
    list.json.announces[0].key === 'other' && list.json.announces[0].topic === ann2.json.topic, list)
  // The daemon runs with --reannounce-interval 1: the kept announce is re-announced.
  let kept = null
  for (let t = 0; t < 20; t++) {
    await sleep(250)
    const l = await ctlJson(['announces'])
    kept = l.json && l.json.announces[0]
    if (kept && kept.runs >= 1 && kept.lastOkMs !== null && kept.lastOkMs < 1000 && kept.failures === 0) break
  }
  check('a kept announce is re-announced on the interval', kept && kept.runs >= 1 && kept.failures === 0 && kept.lastOkMs < 1000, kept)
  const look2 = await ctl(['lookup', 'some text topic'])
  check('lookup of the text topic finds the other key', look2.status === 0 && look2.stdout.trim() === ann2.json.publicKey, look2)
  // A key in use by a standing intent cannot be removed (a restart could not restore the intent).
  const inUse = await ctl(['key-remove', 'other'])
  check('key-remove of a key a kept announce uses: exit 1, KEY_IN_USE saying what uses it', inUse.status === 1 &&
    oneLine(inUse.stderr) && /KEY_IN_USE/.test(inUse.stderr) && /1 standing announce/.test(inUse.stderr), inUse)
  await ctl(['keygen', '--name', 'kept-writer'])
  const keptPut = await ctlJson(['mutable-put', '--key', 'kept-writer', '--keep', 'kept value'])
  const recInUse = await ctl(['key-remove', 'kept-writer'])
  check('key-remove of a key a kept mutable record uses: exit 1, KEY_IN_USE', keptPut.status === 0 &&
    recInUse.status === 1 && oneLine(recInUse.stderr) && /KEY_IN_USE/.test(recInUse.stderr) &&
    /1 kept mutable record/.test(recInUse.stderr), { keptPut, recInUse })
  const forgot = await ctl(['forget', keptPut.json && keptPut.json.publicKey])
  const recFree = await ctl(['key-remove', 'kept-writer'])
  check('after forget the key can be removed', forgot.status === 0 && recFree.status === 0, { forgot, recFree })

  const un = await ctlJson(['unannounce', topic])
  check('unannounce TOPIC: exit 0', un.status === 0 && un.json && un.json.publicKey === me, un)
  const look3 = await ctl(['lookup', topic])
  check('lookup after unannounce: nobody', look3.status === 0 && look3.stdout === '', look3)
  const un2 = await ctlJson(['unannounce', 'some text topic', '--key', 'other'])
  check('unannounce of a kept announce stops keeping it', un2.status === 0 && un2.json && un2.json.wasKept === true, un2)
  const list2 = await ctlJson(['announces'])
  check('announces is empty again', list2.status === 0 && list2.json && list2.json.announces.length === 0, list2)
  const freed = await ctl(['key-remove', 'other'])
  check('after unannounce the key can be removed', freed.status === 0, freed)

  // find-peer: a peer record lives under H(publicKey) (a server announcing itself).
  const self = DHT.hash(Buffer.from(me, 'hex')).toString('hex')
  const annSelf = await ctl(['announce', self, '--relay', '127.0.0.1:5000'])
  check('announce on H(our key)', annSelf.status === 0, annSelf)
  const fp = await ctl(['find-peer', me])
  check('find-peer PUBKEY: our key and relay', fp.status === 0 && fp.stdout.trim() === `${me} 127.0.0.1:5000`, fp)
  const fpNone = await ctl(['find-peer', crypto.randomBytes(32).toString('hex')])
  check('find-peer of an unknown key: exit 1, NOT_FOUND', fpNone.status === 1 && /NOT_FOUND/.test(fpNone.stderr), fpNone)

  const badRelay = await ctl(['announce', topic, '--relay', 'nohost'])
  check('announce --relay nohost: exit 1, BAD_ADDRESS', badRelay.status === 1 && /BAD_ADDRESS/.test(badRelay.stderr), badRelay)
  const badKey = await ctl(['announce', topic, '--key', 'nobody'])
  check('announce --key unknown: exit 1, KEY_NOT_FOUND', badKey.status === 1 && /KEY_NOT_FOUND/.test(badKey.stderr), badKey)
  const noTopic = await ctl(['lookup'])
  check('lookup without a topic: exit 2', noTopic.status === 2, noTopic)
}

// A JS hyperdht client on the same testnet reads what hdhtctl stored and the other way round.
async function interop (hash, writerPk) {
  const node = new DHT({ bootstrap: [{ host: '127.0.0.1', port: PORT }], host: '127.0.0.1' })
  try {
    await withTimeout(node.ready(), 10000, 'JS node ready')
    const got = await withTimeout(node.immutableGet(Buffer.from(hash, 'hex')), 15000, 'JS immutableGet')
    check('JS immutableGet reads the hdhtctl value', got && got.value.toString() === 'hello from hdhtctl', got && got.value.toString())
    const mg = await withTimeout(node.mutableGet(Buffer.from(writerPk, 'hex')), 15000, 'JS mutableGet')
    check('JS mutableGet reads the hdhtctl record (seq 6)', mg && mg.seq === 6 && mg.value.toString() === 'v6', mg && { seq: mg.seq })

    const { hash: jsHash } = await withTimeout(node.immutablePut(Buffer.from('put by JS')), 15000, 'JS immutablePut')
    const g = await ctl(['immutable-get', jsHash.toString('hex')])
    check('hdhtctl immutable-get reads the JS value', g.status === 0 && g.stdout === 'put by JS', g)
    const kp = DHT.keyPair()
    await withTimeout(node.mutablePut(kp, Buffer.from('js mutable'), { seq: 3 }), 15000, 'JS mutablePut')
    const mj = await ctlJson(['mutable-get', kp.publicKey.toString('hex')])
    check('hdhtctl mutable-get reads the JS record', mj.status === 0 && mj.json && mj.json.seq === 3 && mj.json.value.data === 'js mutable', mj)

    const topic = crypto.randomBytes(32)
    await withTimeout(node.announce(topic, kp, [{ host: '127.0.0.1', port: 6000 }]).finished(), 15000, 'JS announce')
    const l = await ctl(['lookup', topic.toString('hex')])
    check('hdhtctl lookup finds the JS announce and its relay', l.status === 0 && l.stdout.trim() === `${kp.publicKey.toString('hex')} 127.0.0.1:6000`, l)
    const st = await ctlJson(['status'])
    const t2 = crypto.randomBytes(32)
    const a = await ctl(['announce', t2.toString('hex'), '--relay', '127.0.0.1:7000'])
    const found = []
    for await (const r of node.lookup(t2)) found.push(...r.peers)
    check('JS lookup finds the hdhtctl announce and its relay', a.status === 0 && found.some((p) =>
      p.publicKey.toString('hex') === st.json.defaultKey && p.relayAddresses.some((x) => x.port === 7000)), found.length)
  } finally {
    await node.destroy()
  }
}

// A client that goes away mid-operation: the daemon drops its operations (no answer to write,
// nothing left running) and goes on serving others.
async function disconnects () {
  const net = require('net')
  for (let i = 0; i < 5; i++) {
    await withTimeout(new Promise((resolve) => {
      const c = net.createConnection(SOCK)
      c.on('error', resolve)
      c.on('connect', () => {
        const line = (id, method, params) => JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\n'
        c.write(line(1, 'lookup', { topic: crypto.randomBytes(32).toString('hex') }) +
          line(2, 'immutable.get', { hash: crypto.randomBytes(32).toString('hex') }) +
          line(3, 'mutable.put', { value: { encoding: 'utf8', data: 'x' } }), () => { c.destroy(); resolve() })
      })
    }), 5000, 'connect and drop')
  }
  let ops = null
  for (let t = 0; t < 40; t++) {
    await sleep(250)
    const m = await ctlJson(['metrics'])
    const hit = /hyperdhtd_record_operations (\d+)/.exec((m.json && m.json.text) || '')
    ops = hit ? Number(hit[1]) : null
    if (ops === 0) break
  }
  check('operations of disconnected clients are dropped (record_operations back to 0)', ops === 0, ops)
  const st = await ctlJson(['status'])
  check('the daemon still answers after clients dropped mid-operation', st.status === 0 && st.json && st.json.ready, st)
}

async function main () {
  await cliOnly()
  const d = startDaemon(['--testnet', '10', '--port', String(PORT), '--socket', SOCK, '--state-dir', STATE, '--status-interval', '0', '--reannounce-interval', '1'])
  try {
    await d.waitLog(/all 10 nodes bootstrapped/, 30000, 'testnet bootstrapped')
    const hash = await immutables()
    const pk = await mutables()
    await peers()
    await interop(hash, pk)
    await disconnects()
    const m = await ctlJson(['metrics'])
    const text = (m.json && m.json.text) || ''
    check('metrics: dht_nr_records and the value counts per node', /dht_nr_records\{node="0"\} \d+/.test(text) &&
      /dht_nr_immutable_records\{node="\d+"\} [1-9]/.test(text) && /dht_nr_mutable_records\{node="\d+"\} [1-9]/.test(text), text.slice(0, 200))
  } catch (err) {
    check('harness', false, err.stack)
  } finally {
    const exit = await d.stop()
    check('daemon exits 0 on SIGTERM', exit.code === 0, exit)
  }
  fs.rmSync(TMP, { recursive: true, force: true })
  tally.finish()
}

main().catch((err) => { console.log('FAIL harness: ' + err.stack); process.exit(1) })
