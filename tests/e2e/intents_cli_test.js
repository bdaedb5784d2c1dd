#!/usr/bin/env node
'use strict'
// Standing intents that survive a restart, end to end through hdhtctl, on 127.0.0.1 and a temp dir:
//   node intents_cli_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl
// One hyperdhtd runs the network (`--testnet 5`, "net"); another joins it as an ephemeral node
// with a state dir ("node": it stores nothing for others, so what the network holds is only
// what its puts and announces left there). With --reannounce-interval 2 the node keeps an
// immutable and a mutable record and an announce; `records` shows the re-puts; SIGTERM
// unannounces (a lookup through the net no longer finds it); the net is replaced by a fresh
// one and the node restarted on the same state dir: the intents are listed again, the announce
// is found and both records are readable (with the mutable seq) on the fresh network, which
// only the node's republishing can explain. `forget` and `unannounce` stay done after another
// restart; a key that vanished drops its entry with a warning; a damaged intents.json is kept
// as intents.json.bad and the daemon starts empty; a stop with the network gone is bounded by
// the unannounce deadline, and a second signal stops at once. Every wait is bounded. Prints
// "N passed, N failed" last.
const { spawn } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')
const crypto = require('crypto')
const readline = require('readline')
const { withTimeout, sleep, until } = require('../interop/lib/peer')

const args = process.argv.slice(2)
const arg = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
const DAEMON = arg('--daemon')
const CTL = arg('--ctl')
if (!DAEMON || !CTL) { console.error('usage: intents_cli_test.js --daemon PATH --ctl PATH'); process.exit(2) }

const { Tally } = require('./lib/daemons')
const tally = new Tally()
const check = tally.check.bind(tally)
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-intents-'))
const NET_SOCK = path.join(TMP, 'net.sock')
const NODE_SOCK = path.join(TMP, 'node.sock')
const STATE = path.join(TMP, 'state')
const INTENTS = path.join(STATE, 'intents.json')
const PORT = 20000 + crypto.randomInt(30000)
const INTERVAL_S = 2

function ctl (socket, argv) {
  return new Promise((resolve) => {
    const p = spawn(CTL, ['--socket', socket, '--timeout', '20', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => { out += d })
    p.stderr.on('data', (d) => { err += d })
    const kill = setTimeout(() => p.kill('SIGKILL'), 30000)
    p.on('close', (status) => { clearTimeout(kill); resolve({ status, stdout: out, stderr: err }) })
  })
}
async function ctlJson (socket, argv) {
  const r = await ctl(socket, ['--json', ...argv])
  const lines = r.stdout.split('\n').filter(Boolean)
  try { r.json = JSON.parse(lines[lines.length - 1]) } catch { r.json = null }
  return r
}
const node = (argv) => ctl(NODE_SOCK, argv)
const nodeJson = (argv) => ctlJson(NODE_SOCK, argv)
const net = (argv) => ctl(NET_SOCK, argv)
const netJson = (argv) => ctlJson(NET_SOCK, argv)

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
  d.log = (re) => d.lines.find((x) => re.test(x))
  d.alive = () => proc.exitCode === null && proc.signalCode === null
  // SIGTERM; resolves {code, signal, ms} (ms: from the signal to the exit), SIGKILL after 8 s.
  d.stop = async () => {
    const t0 = Date.now()
    if (!d.alive()) return { ...(await d.exited), ms: 0 }
    proc.kill('SIGTERM')
    const r = await withTimeout(d.exited, 8000, 'exit after SIGTERM').catch(() => { proc.kill('SIGKILL'); return { code: null } })
    return { ...r, ms: Date.now() - t0 }
  }
  return d
}

function startNet () {
  return startDaemon(['--testnet', '5', '--port', String(PORT), '--socket', NET_SOCK, '--status-interval', '0'])
}
function startNode () {
  return startDaemon(['--bootstrap', `127.0.0.1:${PORT}`, '--host', '127.0.0.1', '--ephemeral', '--not-firewalled',
    '--socket', NODE_SOCK, '--state-dir', STATE, '--status-interval', '0', '--reannounce-interval', String(INTERVAL_S)])
}
const booted = (d, what) => d.waitLog(/all \d+ nodes bootstrapped/, 20000, what)

// The peers a lookup through the net finds for `topic` (public keys).
async function lookupFromNet (topic) {
  const r = await net(['lookup', topic])
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map((l) => l.split(' ')[0]) : null
}

async function helpTexts () {
  const bad = []
  for (const c of ['records', 'forget']) {
    const r = await ctl(NODE_SOCK, [c, '--help'])
    if (!(r.status === 0 && r.stdout.includes(`Usage: hdhtctl [global options] ${c}`))) bad.push(c)
  }
  for (const c of ['immutable-put', 'mutable-put']) {
    const r = await ctl(NODE_SOCK, [c, '--help'])
    if (!(r.status === 0 && r.stdout.includes('--keep'))) bad.push(c)
  }
  const top = await ctl(NODE_SOCK, ['--help'])
  if (!/\n {2}records /.test(top.stdout) || !/\n {2}forget /.test(top.stdout)) bad.push('--help')
  check('records, forget and the --keep flags have --help text', bad.length === 0, bad)
  const noArg = await ctl(NODE_SOCK, ['forget'])
  check('forget without an argument: exit 2', noArg.status === 2, noArg)
}

const state = {}

// First run: keep two records and an announce; watch them being refreshed; SIGTERM.
async function firstRun () {
  let d = startNode()
  try {
    await booted(d, 'node bootstrapped')
    const gen = await nodeJson(['keygen', '--name', 'writer'])
    state.writer = gen.json && gen.json.publicKey
    state.me = (await nodeJson(['status'])).json.defaultKey
    state.topic = crypto.randomBytes(32).toString('hex')

    const mp = await nodeJson(['mutable-put', '--key', 'writer', '--keep', 'kept v1'])
    check('mutable-put --keep: seq 0, keep true', mp.status === 0 && mp.json && mp.json.seq === 0 && mp.json.keep === true, mp)
    const ip = await nodeJson(['immutable-put', '--keep', 'kept immutable'])
    state.hash = ip.json && ip.json.hash
    check('immutable-put --keep: keep true', ip.status === 0 && ip.json && ip.json.keep === true && /^[0-9a-f]{64}$/.test(state.hash), ip)
    const ipText = await node(['immutable-put', '--keep', 'kept immutable'])
    check('immutable-put --keep (text): only the hash on stdout', ipText.status === 0 && ipText.stdout === state.hash + '\n', ipText)
    const plain = await nodeJson(['immutable-put', 'not kept'])
    check('immutable-put without --keep: keep false', plain.status === 0 && plain.json && plain.json.keep === false, plain)
    const ann = await nodeJson(['announce', state.topic, '--relay', '127.0.0.1:4100', '--keep'])
    check('announce --keep', ann.status === 0 && ann.json && ann.json.keep === true, ann)

    const list = await nodeJson(['records'])
    const recs = (list.json && list.json.records) || []
    check('records lists the kept immutable and mutable record', list.status === 0 && recs.length === 2 &&
      recs.some((r) => r.type === 'immutable' && r.hash === state.hash && r.size === 14) &&
      recs.some((r) => r.type === 'mutable' && r.publicKey === state.writer && r.key === 'writer' && r.seq === 0) &&
      list.json.intervalMs === INTERVAL_S * 1000, list.json)
    const human = await node(['records'])
    const lines = human.stdout.split('\n').filter(Boolean)
    check('records (text): one line per record', human.status === 0 && lines.length === 2 &&
      lines.some((l) => l.startsWith('immutable') && l.includes(state.hash)) &&
      lines.some((l) => l.startsWith('mutable') && l.includes(state.writer) && l.includes('seq 0')), human.stdout)

    // Re-puts on the interval: runs grow, nothing fails.
    const refreshed = await until(async () => {
      const l = await nodeJson(['records'])
      const rs = (l.json && l.json.records) || []
      return rs.length === 2 && rs.every((r) => r.runs >= 2 && r.failures === 0 && r.lastOkMs !== null && r.lastOkMs < 3 * INTERVAL_S * 1000) ? rs : null
    }, 6 * INTERVAL_S * 1000, 300)
    check('kept records are put again on the interval (runs >= 2, no failures)', !!refreshed, refreshed)
    const ann2 = await nodeJson(['announces'])
    const a0 = ann2.json && ann2.json.announces[0]
    check('the kept announce is re-announced on the same interval', a0 && a0.runs >= 1 && a0.failures === 0, a0)

    const m = await nodeJson(['metrics'])
    check('metrics: hyperdhtd_kept_records 2, hyperdhtd_standing_announces 1',
      /hyperdhtd_kept_records 2\b/.test(m.json && m.json.text) && /hyperdhtd_standing_announces 1\b/.test(m.json && m.json.text))

    // A later put under a kept key replaces the kept record, with or without --keep.
    const mp2 = await nodeJson(['mutable-put', '--key', 'writer', 'kept v2'])
    check('mutable-put (no --keep) under a kept key: seq 1, still kept', mp2.status === 0 && mp2.json && mp2.json.seq === 1 && mp2.json.keep === true, mp2)
    const l2 = await nodeJson(['records'])
    const mut = l2.json && l2.json.records.find((r) => r.type === 'mutable')
    check('records: the kept mutable record is now seq 1', mut && mut.seq === 1 && mut.size === 7, mut)

    const file = fs.readFileSync(INTENTS, 'utf8')
    const j = JSON.parse(file)
    const seed = fs.readFileSync(path.join(STATE, 'keys', 'writer.key'), 'utf8').trim()
    check('intents.json: mode 0600, version 1, the announce and both records', (fs.statSync(INTENTS).mode & 0o777) === 0o600 &&
      j.version === 1 && j.announces.length === 1 && j.announces[0].topic === state.topic && j.announces[0].key === 'default' &&
      j.announces[0].relays[0] === '127.0.0.1:4100' && j.records.length === 2 &&
      j.records.some((r) => r.type === 'mutable' && r.seq === 1 && r.key === 'writer' && r.value.data === 'kept v2'), j)
    check('intents.json holds no key material', seed.length === 64 && !file.toLowerCase().includes(seed.toLowerCase()))

    const found = await lookupFromNet(state.topic)
    check('a lookup through the net finds the announce', found && found.includes(state.me), found)
    const mg = await netJson(['mutable-get', state.writer])
    check('the net reads the kept mutable record (seq 1)', mg.status === 0 && mg.json && mg.json.seq === 1 && mg.json.value.data === 'kept v2', mg)

    const stopping = d
    const exit = await d.stop()
    d = null
    check(`SIGTERM: exit 0 within the unannounce deadline (${exit.ms} ms)`, exit.code === 0 && exit.ms < 4000, exit)
    const line = stopping.log(/unannounced/)
    check('the stop logged its unannounce ("unannounced 1 standing announces")', /unannounced 1 standing announces/.test(line || ''), stopping.lines.slice(-4))
  } finally {
    if (d) await d.stop()
  }
}

async function afterStop () {
  const found = await lookupFromNet(state.topic)
  check('after SIGTERM the net no longer finds the announce (unannounced on stop)', Array.isArray(found) && !found.includes(state.me), found)
  check('intents.json still lists the announce after the stop', JSON.parse(fs.readFileSync(INTENTS, 'utf8')).announces.length === 1)
}

// Second run on a fresh network: everything comes back, only from the node's intents.
async function secondRun () {
  let d = startNode()
  try {
    await booted(d, 'node bootstrapped again')
    const restored = await d.waitLog(/intents: restored/, 10000, 'restore log').catch((e) => e.message)
    check('start-up logs "restored 1 announces and 2 records"', /restored 1 announces and 2 records/.test(restored), restored)
    const list = await nodeJson(['records'])
    const recs = (list.json && list.json.records) || []
    check('records lists both again after the restart', recs.length === 2 &&
      recs.some((r) => r.type === 'immutable' && r.hash === state.hash) &&
      recs.some((r) => r.type === 'mutable' && r.publicKey === state.writer && r.seq === 1), recs)
    const anns = await nodeJson(['announces'])
    check('announces lists the standing announce again', anns.json && anns.json.announces.length === 1 &&
      anns.json.announces[0].topic === state.topic && anns.json.announces[0].relayAddresses[0] === '127.0.0.1:4100', anns.json)

    const found = await until(async () => {
      const f = await lookupFromNet(state.topic)
      return f && f.includes(state.me) ? f : null
    }, 8000, 300)
    check('the fresh net finds the restored announce', !!found, found)
    const mg = await until(async () => {
      const r = await netJson(['mutable-get', state.writer])
      return r.status === 0 && r.json && r.json.seq === 1 ? r : null
    }, 8000, 300)
    check('the fresh net reads the kept mutable record with its seq (1)', mg && mg.json.value.data === 'kept v2', mg && mg.json)
    const ig = await until(async () => {
      const r = await net(['immutable-get', state.hash])
      return r.status === 0 ? r : null
    }, 8000, 300)
    check('the fresh net reads the kept immutable record', ig && ig.stdout === 'kept immutable', ig)

    const f1 = await nodeJson(['forget', state.hash])
    check('forget HASH: forgotten true', f1.status === 0 && f1.json && f1.json.forgotten === true && f1.json.target === state.hash, f1)
    const f2 = await node(['forget', state.hash])
    check('forget HASH again: "was not kept", exit 0', f2.status === 0 && /was not kept/.test(f2.stdout), f2)
    const fBad = await node(['forget', 'xyz'])
    check('forget with bad hex: exit 1, BAD_HEX', fBad.status === 1 && /BAD_HEX/.test(fBad.stderr), fBad)
    const un = await nodeJson(['unannounce', state.topic])
    check('unannounce of the restored announce: wasKept', un.status === 0 && un.json && un.json.wasKept === true, un)
    const j = JSON.parse(fs.readFileSync(INTENTS, 'utf8'))
    check('intents.json after forget and unannounce: only the mutable record', j.announces.length === 0 &&
      j.records.length === 1 && j.records[0].type === 'mutable', j)
    const exit = await d.stop()
    d = null
    check('second run: SIGTERM exits 0', exit.code === 0, exit)
  } finally {
    if (d) await d.stop()
  }
}

// Third run: forget/unannounce stayed done; an entry whose key is gone is dropped with a warning.
async function thirdRun () {
  const j = JSON.parse(fs.readFileSync(INTENTS, 'utf8'))
  j.announces.push({ topic: crypto.randomBytes(32).toString('hex'), key: 'ghost', publicKey: crypto.randomBytes(32).toString('hex'), relays: [] })
  j.records.push({ type: 'mutable', key: 'ghost', publicKey: crypto.randomBytes(32).toString('hex'), seq: 3, value: { encoding: 'utf8', data: 'x' } })
  j.records.push({ type: 'bogus' })
  fs.writeFileSync(INTENTS, JSON.stringify(j))
  let d = startNode()
  try {
    await booted(d, 'node bootstrapped (third run)')
    const restored = await d.waitLog(/intents: restored/, 10000, 'restore log').catch((e) => e.message)
    check('third run: restored 0 announces and 1 records', /restored 0 announces and 1 records/.test(restored), restored)
    check('entries of a missing key are dropped with a warning', !!d.log(/no key named 'ghost'/), d.lines.filter((l) => /intents/.test(l)))
    check('an entry of an unknown type is dropped with a warning', !!d.log(/records\[\d\] dropped: unknown type/), d.lines.filter((l) => /intents/.test(l)))
    const list = await nodeJson(['records'])
    check('forget stayed done across the restart', list.json && list.json.records.length === 1 &&
      list.json.records[0].type === 'mutable' && list.json.records[0].seq === 1, list.json)
    const anns = await nodeJson(['announces'])
    check('unannounce stayed done across the restart', anns.json && anns.json.announces.length === 0, anns.json)
    const exit = await d.stop()
    d = null
    check('third run: SIGTERM exits 0', exit.code === 0, exit)
  } finally {
    if (d) await d.stop()
  }
}

// A damaged intents.json: logged, kept as .bad, not overwritten until the next change.
async function damagedFile () {
  const garbage = '{"version": 1, "records": [ this is not json'
  fs.writeFileSync(INTENTS, garbage)
  let d = startNode()
  try {
    await booted(d, 'node bootstrapped (damaged intents)')
    check('a damaged intents.json is logged', !!d.log(/intents: .*intents\.json is damaged \(not valid JSON\)/), d.lines.filter((l) => /intents/.test(l)))
    check('its copy is kept as intents.json.bad', fs.existsSync(INTENTS + '.bad') && fs.readFileSync(INTENTS + '.bad', 'utf8') === garbage)
    check('intents.json is not overwritten before a change', fs.readFileSync(INTENTS, 'utf8') === garbage)
    const list = await nodeJson(['records'])
    check('the daemon starts with no kept records', list.status === 0 && list.json && list.json.records.length === 0, list)
    state.topic2 = crypto.randomBytes(32).toString('hex')
    const ann = await nodeJson(['announce', state.topic2, '--keep'])
    check('a change after the damage works (announce --keep)', ann.status === 0 && ann.json && ann.json.keep === true, ann)
    const j = JSON.parse(fs.readFileSync(INTENTS, 'utf8'))
    check('the change rewrote intents.json; the .bad copy stays', j.announces.length === 1 && j.announces[0].topic === state.topic2 &&
      fs.readFileSync(INTENTS + '.bad', 'utf8') === garbage, j)
    return d
  } catch (err) {
    await d.stop()
    throw err
  }
}

async function main () {
  let netd = startNet()
  try {
    await booted(netd, 'net bootstrapped')
    await helpTexts()
    await firstRun()
    await afterStop()
    // A fresh network: what it holds after the restart can only come from the node's intents.
    await netd.stop()
    netd = startNet()
    await booted(netd, 'fresh net bootstrapped')
    await secondRun()
    await thirdRun()
    // Bounded stops: with the network gone, the unannounce cannot finish.
    let d = await damagedFile()
    await netd.stop()
    const exit = await d.stop()
    check(`with the network gone, the stop ends at the unannounce deadline (${exit.ms} ms, exit 0)`,
      exit.code === 0 && exit.ms >= 1000 && exit.ms < 6000 && !!d.log(/unannounced 0 of 1 standing announces/), { exit, log: d.lines.slice(-4) })
    // A second signal while the unannounces run stops at once.
    netd = startNet()
    await booted(netd, 'net for the second-signal run')
    d = startNode()
    await booted(d, 'node for the second-signal run')
    await d.waitLog(/intents: restored 1 announces/, 10000, 'restore log (second-signal run)')
    await netd.stop()
    const t0 = Date.now()
    d.proc.kill('SIGTERM')
    await sleep(300)
    const stillUnannouncing = d.alive()
    d.proc.kill('SIGINT')
    const r = await withTimeout(d.exited, 5000, 'exit after the second signal').catch(() => { d.proc.kill('SIGKILL'); return { code: null } })
    const ms = Date.now() - t0
    check(`a second signal stops at once (${ms} ms after the first, exit 0)`, stillUnannouncing && r.code === 0 && ms < 2000 &&
      !!d.log(/stopping now/), { stillUnannouncing, r, ms, log: d.lines.slice(-4) })
  } catch (err) {
    check('harness', false, err.stack)
  } finally {
    await netd.stop()
  }
  fs.rmSync(TMP, { recursive: true, force: true })
  tally.finish()
}

main().catch((err) => { console.log('FAIL harness: ' + err.stack); process.exit(1) })
