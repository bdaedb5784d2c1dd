'use strict'
// Loads every kinds module. Each exports { kindName: spec }, where spec is either
//   a codec: { random(rng) -> fields, encode(fields) -> Buffer, decode(Buffer) -> fields,
//              mutate?: false, examples?: [fields], bad?: [{ hex, note }] }
//   or an op: { op: true, random(rng) -> input, run(input) -> output, examples?: [input] }
// Family = file name; the vector generator writes one tests/vectors/<family>.json per family.
const fs = require('fs')
const path = require('path')

function loadFamilies (only = null) {
  const dir = path.join(__dirname, '..', 'kinds')
  const out = {}
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.js')) continue
    if (only && f !== only + '.js') continue
    out[f.slice(0, -3)] = require(path.join(dir, f))
  }
  return out
}

module.exports = { loadFamilies }
