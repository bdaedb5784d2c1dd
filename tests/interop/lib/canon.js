'use strict'
// Canonical JSON of a JS value: Buffers/Uint8Arrays become lowercase hex, undefined becomes null,
// ipv4 addresses lose their constant `family`, everything else is kept.
// The C++ registry (codec_registry.hpp) emits the same shape.

function canon (v) {
  if (v === undefined) return null
  if (v === null) return null
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
  if (Array.isArray(v)) return v.map(canon)
  if (typeof v === 'bigint') return Number(v)
  if (typeof v === 'object') {
    const out = {}
    // ipv4Address decodes to {host, family: 4, port}; family is implied on this IPv4-only wire.
    const isAddress = 'host' in v && 'port' in v && v.family === 4
    for (const k of Object.keys(v)) if (!(isAddress && k === 'family')) out[k] = canon(v[k])
    return out
  }
  return v
}

// Inverse for the fields a kind declares as buffers: hex -> Buffer, recursively by path list.
function unhex (h) { return h === null || h === undefined ? h : Buffer.from(h, 'hex') }

// Deep equality on canonical JSON, reporting the first differing path.
function diff (a, b, path = '') {
  if (a === b) return null
  if (typeof a !== typeof b || a === null || b === null) return `${path || '.'}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: array vs non-array`
  if (typeof a === 'object') {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    for (const k of keys) {
      const d = diff(a[k], b[k], `${path}.${k}`)
      if (d) return d
    }
    return null
  }
  return `${path || '.'}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`
}

module.exports = { canon, unhex, diff }
