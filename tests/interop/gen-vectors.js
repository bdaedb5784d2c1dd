#!/usr/bin/env node
'use strict'
// Writes tests/vectors/<family>.json from the pinned JS packages: per kind, the examples the
// kind declares, a few seeded random cases, the declared bad inputs and seeded mutations with the
// reference's accept/drop decision. Deterministic: re-running gives identical files.
//   node gen-vectors.js [--out DIR] [--per-kind N] [--family NAME]
const fs = require('fs')
const path = require('path')
const { Rng } = require('./lib/rng')
const { canon } = require('./lib/canon')
const { loadFamilies } = require('./lib/kinds')
const { mutate } = require('./lib/mutate')

const argv = process.argv.slice(2)
const out = argv.includes('--out') ? argv[argv.indexOf('--out') + 1] : path.join(__dirname, '..', 'vectors')
const perKind = argv.includes('--per-kind') ? Number(argv[argv.indexOf('--per-kind') + 1]) : 8
const onlyFamily = argv.includes('--family') ? argv[argv.indexOf('--family') + 1] : null
const SEED = 20261121

function versions () {
  const pkg = require('./package.json')
  const v = { node: process.version }
  for (const name of Object.keys(pkg.dependencies)) v[name] = pkg.dependencies[name]
  return v
}

function codecCase (spec, fields) {
  const bytes = spec.encode(fields)
  return { hex: bytes.toString('hex'), fields: canon(spec.decode(bytes)) }
}

for (const [family, kinds] of Object.entries(loadFamilies(onlyFamily))) {
  const cases = []
  for (const [kind, spec] of Object.entries(kinds)) {
    const rng = new Rng(SEED)
    if (spec.op) {
      const inputs = [...(spec.examples || [])]
      for (let i = 0; i < perKind; i++) inputs.push(spec.random(rng))
      for (const input of inputs) cases.push({ kind, input: canon(input), output: canon(spec.run(canon(input))) })
      continue
    }
    const fieldsList = [...(spec.examples || [])]
    for (let i = 0; i < perKind; i++) fieldsList.push(canon(spec.random(rng)))
    for (const f of fieldsList) cases.push({ kind, ...codecCase(spec, canon(f)) })
    const bad = [...(spec.bad || [])]
    if (spec.mutate !== false) {
      for (let i = 0; i < perKind; i++) bad.push({ hex: mutate(rng, spec.encode(canon(spec.random(rng)))).toString('hex'), note: 'seeded mutation' })
    }
    for (const b of bad) {
      let accept = true
      let fields
      try { fields = canon(spec.decode(Buffer.from(b.hex, 'hex'))) } catch { accept = false }
      cases.push(accept ? { kind, hex: b.hex, accept, fields, note: b.note } : { kind, hex: b.hex, accept, note: b.note })
    }
  }
  const file = path.join(out, family + '.json')
  fs.writeFileSync(file, JSON.stringify({ generatedBy: 'tests/interop/gen-vectors.js', seed: SEED, versions: versions(), cases }, null, 1) + '\n')
  console.log(`${file}: ${cases.length} cases`)
}
