#!/usr/bin/env node
'use strict'
// Soak test of hyperdhtd (not in ctest: it runs for minutes; see docs/security.md, "Soak and
// valgrind"), end to end through hdhtctl on 127.0.0.1:
//   node soak_test.js --daemon PATH/hyperdhtd --ctl PATH/hdhtctl [--minutes M] [--slow F]
// Two daemons as in connections_cli_test.js: "net" (--testnet 5) and "node" (an ephemeral node
// joining it, with a state dir). For M minutes (default 2): short TCP connections through
// `hdhtctl connect --listen` on net to a `listen --forward` on node (an echo server behind it),
// direct `hdhtctl connect` pipes from node to a forward on net (some killed mid-stream), records
// churning (immutable put/get, mutable put with increasing seq, announce/unannounce) and the node
// daemon stopped and restarted every ~30 s. Every 5 s each daemon's open fds, VmRSS and threads
// (/proc) and its status/metrics gauges are sampled and printed as "# ..." lines. At the end, with
// every client gone and after a settle: no connections, no queries or record operations left,
// fds and threads back to the level measured after the warm-up, RSS growth between the first and
// last third of the run within a bound (see rssBound), a clean SIGTERM exit (0) of both daemons.
// --slow F multiplies the boot/stop/settle waits (valgrind: 10). Every wait is bounded.
// Prints "N passed, N failed" last.
const fs = require('fs')
const os = require('os')
const path = require('path')
const net = require('net')
const crypto = require('crypto')
const { withTimeout, sleep, until } = require('../interop/lib/peer')
const { cliArgs, Tally, Children } = require('./lib/daemons')

const { arg, daemon: DAEMON, ctl: CTL } = cliArgs('soak_test.js')
const MINUTES = Number(arg('--minutes') || 2)
const SLOW = Number(arg('--slow') || 1)
const RESTART_EVERY = 30000
const SAMPLE_EVERY = 5000
const tally = new Tally()
const check = tally.check.bind(tally)
const kids = new Children({ daemon: DAEMON, ctl: CTL })
const run = kids.run.bind(kids)
const ctl = kids.ctl.bind(kids)
const ctlJson = kids.ctlJson.bind(kids)
const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'hdht-soak-'))
const NET_SOCK = path.join(TMP, 'net.sock')
const NODE_SOCK = path.join(TMP, 'node.sock')
const STATE = path.join(TMP, 'state')
const PORT = 20000 + crypto.randomInt(30000)
const LOCAL = 20000 + ((PORT - 20000 + 15000) % 30000) // the connect --listen port, away from PORT..PORT+4
const MiB = 1024 * 1024

function startDaemon (argv) {
  const d = kids.startDaemon(argv)
  d.up = () => until(() => d.lines.some((l) => /all \d+ nodes bootstrapped/.test(l)), 20000 * SLOW)
  d.halt = async () => { // SIGTERM, SIGKILL after 8 s (x SLOW); resolves the exit
    if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill('SIGTERM')
    return withTimeout(d.exited, 8000 * SLOW, 'exit').catch(() => { d.proc.kill('SIGKILL'); return { code: null, signal: 'SIGKILL (timeout)' } })
  }
  return d
}
const startNet = () => startDaemon(['--testnet', '5', '--port', String(PORT), '--socket', NET_SOCK])
const startNode = () => startDaemon(['--bootstrap', `127.0.0.1:${PORT}`, '--host', '127.0.0.1', '--ephemeral',
  '--not-firewalled', '--socket', NODE_SOCK, '--state-dir', STATE])

// --- sampling -------------------------------------------------------------------------------
function procStats (pid) {
  try {
    const fds = fs.readdirSync(`/proc/${pid}/fd`).length
    const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
    const num = (k) => { const m = new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(st); return m ? Number(m[1]) : null }
    return { fds, rssKiB: num('VmRSS'), threads: num('Threads') }
  } catch { return null }
}
// Sums each metric over its labels.
function parseMetrics (text) {
  const out = {}
  for (const l of (text || '').split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(l)
    if (m) out[m[1]] = (out[m[1]] || 0) + Number(m[2])
  }
  return out
}
const GAUGES = ['hyperdhtd_connections', 'hyperdhtd_servers', 'hyperdhtd_record_operations', 'hyperdhtd_control_clients',
  'dht_queries_active', 'dht_inflight_requests', 'dht_nr_records', 'dht_nr_mutable_records', 'dht_nr_immutable_records']
const short = (k) => k.replace(/^hyperdhtd_|^dht_/, '')
async function sample (name, d, sock) {
  const p = procStats(d.proc.pid)
  const st = (await ctlJson(sock, ['status'])).json
  const mt = (await ctlJson(sock, ['metrics'])).json
  const m = parseMetrics(mt && mt.text)
  const s = { t: Math.round((Date.now() - T0) / 1000), name, pid: d.proc.pid, ...(p || {}) }
  if (st) { s.connections = st.connections; s.servers = st.servers }
  for (const g of GAUGES) if (g in m) s[short(g)] = m[g]
  return s
}
const fmt = (s) => `# sample t=${s.t}s ${s.name} pid ${s.pid} fds ${s.fds} rss ${s.rssKiB} KiB threads ${s.threads}` +
  ` connections ${s.connections} servers ${s.servers} | ` + GAUGES.map(short).filter((k) => k in s).map((k) => `${k} ${s[k]}`).join(' ')

// --- load -------------------------------------------------------------------------------------
const counts = {}
const count = (what, ok) => { const c = counts[what] || (counts[what] = { ok: 0, fail: 0 }); c[ok ? 'ok' : 'fail']++ }

// One TCP connection through connect --listen: random bytes out, the same bytes back, end.
function tcpEcho (bytes) {
  return new Promise((resolve) => {
    const payload = crypto.randomBytes(bytes)
    const c = net.createConnection(LOCAL, '127.0.0.1')
    let got = Buffer.alloc(0)
    const done = (ok) => { clearTimeout(t); c.destroy(); resolve(ok) }
    const t = setTimeout(() => done(false), 15000)
    c.on('connect', () => c.write(payload))
    c.on('data', (d) => { got = Buffer.concat([got, d]); if (got.length >= payload.length) done(got.equals(payload)) })
    c.on('error', () => done(false))
    c.on('close', () => done(false))
  })
}
// A direct `hdhtctl connect` pipe from node to the echo forward on net; kill=true kills it
// mid-stream instead of ending stdin.
async function pipeEcho (key, kill) {
  const p = run(CTL, ['--socket', NODE_SOCK, '--timeout', '20', 'connect', key])
  const line = crypto.randomBytes(16).toString('hex') + '\n'
  p.stdin.write(line)
  const echoed = await until(() => p.out.includes(line) || p.exitCode !== null, 15000)
  if (kill || !p.out.includes(line)) {
    p.kill('SIGKILL')
    await withTimeout(p.exited, 5000, 'killed connect').catch(() => {})
    return kill && !!echoed && p.out.includes(line)
  }
  p.stdin.end()
  const r = await withTimeout(p.exited, 10000, 'connect exit').catch(() => { p.kill('SIGKILL'); return { code: null } })
  return r.code === 0
}
let seq = 0
async function records (sock, tag) {
  // Values from a pool of 256 per daemon: the stored records plateau, so RSS growth is not
  // mistaken for data the DHT was asked to hold.
  const v = `soak ${tag} value ${crypto.randomInt(256)}`
  const put = await ctl(sock, ['immutable-put', v])
  const hash = put.stdout.trim()
  count('immutable-put', put.status === 0 && /^[0-9a-f]{64}$/.test(hash))
  if (put.status === 0) {
    const get = await ctl(sock, ['immutable-get', hash])
    count('immutable-get', get.status === 0 && get.stdout === v)
  }
  seq++
  const mp = await ctl(sock, ['mutable-put', '--key', 'soak', '--seq', String(seq), `v${seq}`])
  count('mutable-put', mp.status === 0)
  const topic = `soak-topic-${crypto.randomInt(4)}`
  const an = await ctl(sock, ['announce', topic, '--key', 'soak'])
  count('announce', an.status === 0)
  const un = await ctl(sock, ['unannounce', topic, '--key', 'soak'])
  count('unannounce', un.status === 0)
}

// Both daemons: no connections, no record operations or queries running (bounded).
async function quiet (ms) {
  let last
  const ok = await until(async () => {
    const a = await sample('net', S.net, NET_SOCK)
    const b = await sample('node', S.node, NODE_SOCK)
    last = [a, b]
    return [a, b].every((s) => s.connections === 0 && !s.record_operations && !s.queries_active && !s.inflight_requests)
  }, ms, 500)
  return { ok: !!ok, last }
}

// --- the run ----------------------------------------------------------------------------------
const S = {}
let T0 = Date.now()
const series = []

async function main () {
  S.net = startNet()
  if (!check('net bootstrapped', await S.net.up())) return
  S.node = startNode()
  if (!check('node bootstrapped', await S.node.up())) return
  const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s) })
  await new Promise((resolve) => echo.listen(0, '127.0.0.1', resolve))
  S.echo = echo
  const ECHO = `127.0.0.1:${echo.address().port}`
  const nodeKey = (await ctlJson(NODE_SOCK, ['keygen', '--name', 'echo'])).json.publicKey
  await ctl(NODE_SOCK, ['keygen', '--name', 'soak'])
  await ctl(NET_SOCK, ['keygen', '--name', 'soak'])
  const netKey = (await ctlJson(NET_SOCK, ['keygen', '--name', 'echo'])).json.publicKey
  const l1 = await ctlJson(NODE_SOCK, ['listen', '--key', 'echo', '--forward', ECHO])
  const l2 = await ctlJson(NET_SOCK, ['listen', '--key', 'echo', '--forward', ECHO])
  if (!check('forwards to the echo server on both daemons', l1.status === 0 && l2.status === 0, { l1, l2 })) return

  const startTunnel = () => {
    const t = run(CTL, ['--socket', NET_SOCK, 'connect', nodeKey, '--listen', `127.0.0.1:${LOCAL}`])
    return until(() => /forwarding/.test(t.err), 10000).then(() => t)
  }
  const stopTunnel = async (t) => { t.kill('SIGTERM'); await withTimeout(t.exited, 5000, 'tunnel').catch(() => t.kill('SIGKILL')) }

  // One round of load: a few TCP connections through the tunnel in parallel, a direct pipe
  // (every 5th killed mid-stream) and a record round on each daemon.
  let round = 0
  const loadRound = async () => {
    round++
    const tcp = Promise.all([1, 2, 3].map(() => tcpEcho(256 + crypto.randomInt(8192)).then((ok) => count('tcp via connect --listen', ok))))
    const pipe = pipeEcho(netKey, round % 5 === 0).then((ok) => count(round % 5 === 0 ? 'connect killed mid-stream' : 'connect pipe', ok))
    await Promise.all([tcp, pipe, records(NET_SOCK, 'net'), records(NODE_SOCK, 'node')])
  }
  const loadFor = async (ms, onTick) => {
    const end = Date.now() + ms
    let nextSample = 0
    while (Date.now() < end) {
      if (Date.now() >= nextSample) {
        nextSample = Date.now() + SAMPLE_EVERY
        for (const [name, d, sock] of [['net', S.net, NET_SOCK], ['node', S.node, NODE_SOCK]]) {
          const s = await sample(name, d, sock)
          series.push(s)
          console.log(fmt(s))
        }
      }
      await withTimeout(loadRound(), 60000, 'load round').catch((e) => count('load round', false))
      if (onTick) await onTick()
    }
  }

  // Warm-up: a quarter of the run (at most 30 s), then every client away and a settle: the
  // baseline.
  const total = MINUTES * 60000
  const warm = Math.min(30000, total / 4)
  T0 = Date.now()
  let tunnel = await startTunnel()
  await loadFor(warm)
  await stopTunnel(tunnel)
  const q0 = await quiet(15000 * SLOW)
  await sleep(2000 * SLOW)
  const base = { net: procStats(S.net.proc.pid), node: procStats(S.node.proc.pid) }
  console.log(`# baseline after warm-up: net ${JSON.stringify(base.net)} node ${JSON.stringify(base.node)} (quiet: ${q0.ok})`)

  // The soak: load, and the node restarted every ~30 s (a restart starts at the first load round
  // 30 s after the previous one started).
  tunnel = await startTunnel()
  const mainStart = Date.now()
  let lastRestart = Date.now()
  let restarts = 0
  let restartFails = 0
  // The restart runs alongside the load: connections and record calls meet a node going away.
  let restarting = null
  const restart = async () => {
    const r = await S.node.halt()
    S.node = startNode()
    const up = await S.node.up()
    restarts++
    if (!(r.code === 0 && up)) restartFails++
    console.log(`# node restarted (exit ${JSON.stringify(r)}, booted ${!!up}) at t=${Math.round((Date.now() - T0) / 1000)}s`)
  }
  await loadFor(total - warm, async () => {
    if (restarting || Date.now() - lastRestart < RESTART_EVERY) return
    lastRestart = Date.now()
    restarting = restart().finally(() => { restarting = null })
  })
  if (restarting) await restarting
  const mainEnd = Date.now()
  await stopTunnel(tunnel)

  // Settle and the final checks.
  kids.killAll()
  const q = await quiet(20000 * SLOW)
  await sleep(2000 * SLOW)
  const fin = { net: procStats(S.net.proc.pid), node: procStats(S.node.proc.pid) }
  console.log(`# final after settle: net ${JSON.stringify(fin.net)} node ${JSON.stringify(fin.node)}`)
  for (const s of q.last) console.log(fmt({ ...s, t: Math.round((Date.now() - T0) / 1000) }))
  for (const [k, c] of Object.entries(counts)) console.log(`# ${k}: ${c.ok} ok, ${c.fail} failed`)

  const ok = (k) => (counts[k] || { ok: 0 }).ok
  check('the load ran: TCP through the tunnel, pipes, every record operation succeeded at least once',
    ['tcp via connect --listen', 'connect pipe', 'immutable-put', 'immutable-get', 'mutable-put', 'announce', 'unannounce']
      .every((k) => ok(k) > 0), counts)
  check(`node restarted ${restarts} times, each a clean exit 0 and a new bootstrap`, restarts >= Math.floor((total - warm) / (RESTART_EVERY * 1.5)) && restartFails === 0,
    { restarts, restartFails })
  const [ln, lo] = q.last
  check('after the settle: connections 0 on both daemons', ln.connections === 0 && lo.connections === 0, q.last)
  check('after the settle: no record operations, queries or in-flight requests left', q.ok, q.last)
  check('servers: the two forwards remain, nothing else', ln.servers === 1 && lo.servers === 1, q.last)
  // fds: the control client sampling is gone at this point; a margin of 2 for a timer or socket
  // that is reopened lazily.
  check(`net fds back to the baseline (${base.net.fds} -> ${fin.net.fds}, margin 2)`, fin.net.fds <= base.net.fds + 2, { base, fin })
  check(`net threads back to the baseline (${base.net.threads} -> ${fin.net.threads})`, fin.net.threads <= base.net.threads, { base, fin })
  check(`node fds back to the level of its first incarnation (${base.node.fds} -> ${fin.node.fds}, margin 2)`, fin.node.fds <= base.node.fds + 2, { base, fin })

  // RSS of net (the daemon that lives through the whole run): mean of the first third of the
  // samples after warm-up vs the last third. Growth allowed: 8 MiB (allocator arenas and
  // fragmentation, caches filling to their caps; a 2-minute run is still partly warm-up) + 1 KiB
  // per record the testnet's nodes store in addition (stored records are data the DHT is asked
  // to hold; an immutable record here is ~20 B of value, a 32-byte key and a cache entry, a few
  // hundred bytes; with the value pool they plateau early, so over a long run the bound is ~8 MiB).
  const mains = series.filter((s) => s.name === 'net' && s.t * 1000 >= mainStart - T0 && s.t * 1000 <= mainEnd - T0)
  const third = Math.max(1, Math.floor(mains.length / 3))
  const first = mains.slice(0, third)
  const last = mains.slice(-third)
  const mean = (a, k) => a.reduce((x, s) => x + (s[k] || 0), 0) / a.length
  const stored = (a) => mean(a, 'nr_records') + mean(a, 'nr_mutable_records') + mean(a, 'nr_immutable_records')
  const growth = (mean(last, 'rssKiB') - mean(first, 'rssKiB')) * 1024
  const bound = 8 * MiB + 1024 * Math.max(0, stored(last) - stored(first))
  console.log(`# net rss series (KiB): ${mains.map((s) => s.rssKiB).join(' ')}`)
  console.log(`# net fds series: ${mains.map((s) => s.fds).join(' ')}`)
  console.log(`# net stored records series: ${mains.map((s) => (s.nr_records || 0) + (s.nr_mutable_records || 0) + (s.nr_immutable_records || 0)).join(' ')}`)
  console.log(`# net rss first third ${(mean(first, 'rssKiB') / 1024).toFixed(1)} MiB, last third ${(mean(last, 'rssKiB') / 1024).toFixed(1)} MiB, growth ${(growth / MiB).toFixed(2)} MiB, bound ${(bound / MiB).toFixed(2)} MiB`)
  check('net RSS growth (first third -> last third) within the bound', mains.length >= 3 && growth <= bound, { growth, bound, n: mains.length })

  await ctl(NODE_SOCK, ['unlisten', '--key', 'echo'])
  await ctl(NET_SOCK, ['unlisten', '--key', 'echo'])
  const a = (await ctlJson(NET_SOCK, ['status'])).json
  const b = (await ctlJson(NODE_SOCK, ['status'])).json
  check('after unlisten: servers 0 on both', a && b && a.servers === 0 && b.servers === 0, { a, b })
}

async function shutdown () {
  kids.killAll()
  if (S.echo) S.echo.close()
  const r = []
  if (S.node) r.push(['node', await S.node.halt()])
  if (S.net) r.push(['net', await S.net.halt()])
  check('both daemons exit 0 on SIGTERM', r.length === 2 && r.every(([, x]) => x.code === 0), r)
  fs.rmSync(TMP, { recursive: true, force: true })
}

main().catch((e) => check('no exception', false, e.stack))
  .finally(() => shutdown().catch((e) => check('shutdown', false, e.stack)))
  .finally(() => tally.finish())
