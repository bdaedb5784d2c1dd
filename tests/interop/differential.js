#!/usr/bin/env node
'use strict'
// Live differential test: the pinned JS packages against the C++ codecs, both directions.
//   node differential.js --tool PATH [--seed N] [--count N] [--family F] [--kinds a,b] [--mutations N]
// For every codec kind, `count` random messages go JS -> C++ (C++ decodes JS bytes to the same
// fields and re-encodes the same bytes) and `count` go C++ -> JS (C++ encodes JS's random fields
// to the same bytes, which the JS decodes back), plus `mutations` corrupted encodings whose
// accept/drop decision and decoded fields must agree. Op kinds (hashes, signatures, Noise) run
// `count` random inputs on both sides. Prints "N passed, N failed" (one per kind) last.
const { Rng } = require('./lib/rng')
const { canon, diff } = require('./lib/canon')
const { CodecTool } = require('./lib/tool')
const { loadFamilies } = require('./lib/kinds')
const { mutate } = require('./lib/mutate')

function args () {
  const a = { seed: Date.now() >>> 0, count: 1000, mutations: 1000, kinds: null, family: null, tool: null }
  const v = process.argv.slice(2)
  for (let i = 0; i < v.length; i++) {
    const k = v[i].replace(/^--/, '')
    if (k === 'kinds') a.kinds = v[++i].split(',')
    else if (k === 'tool') a.tool = v[++i]
    else if (k === 'family') a.family = v[++i]
    else a[k] = Number(v[++i])
  }
  if (!a.tool) { console.error('usage: differential.js --tool PATH [--seed N] [--count N]'); process.exit(2) }
  return a
}

function tryDecode (spec, buf) {
  try { return { ok: true, fields: canon(spec.decode(buf)) } } catch (e) { return { ok: false, error: e.message } }
}

async function checkCodec (tool, name, spec, rng, a) {
  const failures = []
  const fail = (msg) => { if (failures.length < 5) failures.push(msg) }
  const jobs = []
  for (let i = 0; i < a.count; i++) {
    const f = canon(spec.random(rng))
    const bytes = spec.encode(f)
    const expected = canon(spec.decode(bytes))
    jobs.push(tool.request({ op: 'decode', kind: name, hex: bytes.toString('hex') }).then((r) => {
      if (!r.ok) return fail(`js->cpp #${i}: C++ rejected ${bytes.toString('hex')}: ${r.error}`)
      const d = diff(expected, r.fields)
      if (d) return fail(`js->cpp #${i}: fields differ at ${d} (hex ${bytes.toString('hex')})`)
      if (r.hex !== bytes.toString('hex')) fail(`js->cpp #${i}: re-encode ${r.hex} != ${bytes.toString('hex')}`)
    }))
  }
  for (let i = 0; i < a.count; i++) {
    const f = canon(spec.random(rng))
    const bytes = spec.encode(f)
    jobs.push(tool.request({ op: 'encode', kind: name, fields: f }).then((r) => {
      if (!r.ok) return fail(`cpp->js #${i}: C++ could not encode ${JSON.stringify(f)}: ${r.error}`)
      if (r.hex !== bytes.toString('hex')) return fail(`cpp->js #${i}: C++ bytes ${r.hex} != JS ${bytes.toString('hex')}`)
      const back = tryDecode(spec, Buffer.from(r.hex, 'hex'))
      if (!back.ok) return fail(`cpp->js #${i}: JS cannot decode C++ bytes: ${back.error}`)
      const d = diff(canon(spec.decode(bytes)), back.fields)
      if (d) fail(`cpp->js #${i}: JS decode of C++ bytes differs at ${d}`)
    }))
  }
  const nm = spec.mutate === false ? 0 : a.mutations
  for (let i = 0; i < nm; i++) {
    const bytes = mutate(rng, spec.encode(canon(spec.random(rng))))
    const js = tryDecode(spec, bytes)
    jobs.push(tool.request({ op: 'decode', kind: name, hex: bytes.toString('hex') }).then((r) => {
      if (js.ok !== r.ok) return fail(`mutation #${i}: JS ${js.ok ? 'accepts' : 'rejects (' + js.error + ')'} but C++ ${r.ok ? 'accepts' : 'rejects (' + r.error + ')'}: ${bytes.toString('hex')}`)
      if (js.ok) {
        const d = diff(js.fields, r.fields)
        if (d) fail(`mutation #${i}: fields differ at ${d} (hex ${bytes.toString('hex')})`)
      }
    }))
  }
  await Promise.all(jobs)
  return { failures, cases: 2 * a.count + nm }
}

async function checkOp (tool, name, spec, rng, a) {
  const failures = []
  const jobs = []
  const n = spec.count ? Math.min(spec.count, a.count) : a.count
  for (let i = 0; i < n; i++) {
    const input = canon(spec.random(rng))
    const expected = canon(spec.run(input))
    jobs.push(tool.request({ op: 'run', kind: name, input }).then((r) => {
      if (!r.ok) return failures.length < 5 && failures.push(`#${i}: C++ error ${r.error} for ${JSON.stringify(input)}`)
      const d = diff(expected, r.output)
      if (d && failures.length < 5) failures.push(`#${i}: output differs at ${d} for input ${JSON.stringify(input)}`)
    }))
  }
  await Promise.all(jobs)
  return { failures, cases: n }
}

async function main () {
  const a = args()
  console.log(`differential: seed ${a.seed}, ${a.count} cases per direction per kind, ${a.mutations} mutations`)
  const tool = new CodecTool(a.tool)
  let passed = 0
  let failed = 0
  for (const [family, kinds] of Object.entries(loadFamilies(a.family))) {
    for (const [name, spec] of Object.entries(kinds)) {
      if (a.kinds && !a.kinds.includes(name)) continue
      const rng = new Rng((a.seed ^ hashName(name)) >>> 0)
      const t = Date.now()
      const res = spec.op ? await checkOp(tool, name, spec, rng, a) : await checkCodec(tool, name, spec, rng, a)
      const ms = Date.now() - t
      if (res.failures.length) {
        failed++
        console.log(`FAIL ${family}/${name} (${res.cases} cases, ${ms} ms)`)
        for (const f of res.failures) console.log('   ' + f)
      } else {
        passed++
        console.log(`ok   ${family}/${name} (${res.cases} cases, ${ms} ms)`)
      }
    }
  }
  tool.close()
  if (passed + failed === 0) { console.log('no kinds ran'); failed = 1 }
  if (failed) console.log(`reproduce with: --seed ${a.seed}`)
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(failed ? 1 : 0)
}

function hashName (s) {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

main().catch((e) => { console.error(e); process.exit(1) })
