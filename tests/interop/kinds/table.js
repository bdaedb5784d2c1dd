'use strict'
// dht-rpc's pure algorithms as op kinds, run with the real npm modules: the routing table
// (kademlia-routing-table), the NAT sampler (nat-sampler) and the adaptive timeout
// (adaptive-timeout on xache). Math.random is replaced by a list from the input where the module
// uses it, so both sides see the same randomness.
const RoutingTable = require('kademlia-routing-table')
const NatSampler = require('nat-sampler')
const AdaptiveTimeout = require('adaptive-timeout')

function withRandom (values, fn) {
  const saved = Math.random
  let i = 0
  Math.random = () => {
    if (i >= values.length) throw new Error('ran out of injected random values')
    return values[i++]
  }
  try { return fn() } finally { Math.random = saved }
}

// An id sharing its first `bits` bits with `base`, random after that (bit `bits` flipped so the
// prefix length is exact when bits < 256).
function idNear (rng, base, bits) {
  if (bits >= 256) return Buffer.from(base)
  const id = rng.bytes(32)
  const byte = bits >> 3
  base.copy(id, 0, 0, byte)
  const keep = bits & 7
  const mask = keep ? (0xff << (8 - keep)) & 0xff : 0
  const flip = 0x80 >> keep
  id[byte] = (base[byte] & mask) | (~base[byte] & flip) | (id[byte] & ~mask & ~flip & 0xff)
  return id
}

function randomId (rng, tableId, known) {
  switch (rng.int(0, 5)) {
    case 0: case 1: return rng.bytes(32)
    case 2: return idNear(rng, tableId, rng.int(0, 12))
    case 3: return idNear(rng, tableId, rng.int(0, 256))
    case 4: return known.length ? Buffer.from(rng.pick(known), 'hex') : rng.bytes(32)
    default: return rng.bool(0.1) ? Buffer.from(tableId) : idNear(rng, tableId, rng.int(0, 4))
  }
}

const nodeJson = (n) => ({ id: n.id.toString('hex'), host: n.host, port: n.port })

const routingTableClosest = {
  op: true,
  count: 300,
  random (rng) {
    const tableId = rng.bytes(32)
    const k = rng.pick([20, 20, 20, 2, 3, 8])
    const known = []
    const ops = []
    const n = rng.int(0, 300)
    for (let i = 0; i < n; i++) {
      if (known.length && rng.bool(0.08)) {
        ops.push({ remove: rng.bool(0.8) ? rng.pick(known) : rng.bytes(32).toString('hex') })
        continue
      }
      const id = randomId(rng, tableId, known).toString('hex')
      known.push(id)
      ops.push({ add: { id, ...rng.address() } })
    }
    const targets = []
    const nt = rng.int(1, 4)
    for (let i = 0; i < nt; i++) {
      const target = rng.bool(0.7) ? randomId(rng, tableId, known) : rng.bytes(32)
      targets.push({ target: target.toString('hex'), n: rng.pick([0, 20, 20, rng.int(1, 60), 1000]) })
    }
    const randoms = []
    for (let i = rng.int(0, 3); i > 0; i--) randoms.push(rng.float())
    return { id: tableId.toString('hex'), k, ops, targets, randoms }
  },
  run (input) {
    const table = new RoutingTable(Buffer.from(input.id, 'hex'), { k: input.k })
    const results = input.ops.map((o) => {
      if (o.remove !== undefined) return table.remove(Buffer.from(o.remove, 'hex')) ? 'removed' : 'absent'
      const before = table.size
      const node = { id: Buffer.from(o.add.id, 'hex'), host: o.add.host, port: o.add.port }
      if (!table.add(node)) return 'full'
      return table.size > before ? 'added' : 'updated'
    })
    const closest = input.targets.map((t) => table.closest(Buffer.from(t.target, 'hex'), t.n).map(nodeJson))
    const random = withRandom(input.randoms, () => input.randoms.map(() => {
      const n = table.random()
      return n ? nodeJson(n) : null
    }))
    return { results, size: table.size, closest, all: table.toArray().map(nodeJson), random }
  }
}

function samplePattern (rng) {
  const hosts = []
  for (let i = rng.int(1, 3); i > 0; i--) hosts.push(rng.host())
  const ports = []
  for (let i = rng.int(1, 4); i > 0; i--) ports.push(rng.int(1, 65535))
  const mode = rng.pick(['consistent', 'random', 'mixed', 'flip'])
  const n = rng.int(1, 60)
  const flipAt = rng.int(0, n)
  const samples = []
  for (let i = 0; i < n; i++) {
    if (mode === 'consistent') samples.push({ host: hosts[0], port: rng.bool(0.9) ? ports[0] : rng.pick(ports) })
    else if (mode === 'random') samples.push({ host: rng.bool(0.9) ? hosts[0] : rng.pick(hosts), port: rng.int(1, 65535) })
    else if (mode === 'flip') samples.push({ host: i < flipAt ? hosts[0] : hosts[hosts.length - 1], port: i < flipAt ? ports[0] : ports[ports.length - 1] })
    else samples.push({ host: rng.pick(hosts), port: rng.pick(ports) })
  }
  return { samples }
}

const natSamplerSequence = {
  op: true,
  random: samplePattern,
  run (input) {
    const s = new NatSampler()
    return input.samples.map(({ host, port }) => {
      const hits = s.add(host, port)
      return { hits, host: s.host, port: s.port, size: s.size, threshold: s._threshold }
    })
  }
}

const FALLBACKS = ['TimeoutExponential', 'TimeoutAggressive', 'TimeoutUShape', 'TimeoutFast']

const adaptiveTimeout = {
  op: true,
  random (rng) {
    const keys = []
    for (let i = rng.int(1, 6); i > 0; i--) keys.push(`${rng.host()}:${rng.int(0, 65535)}`)
    const opts = {
      maxSize: rng.pick([65536, rng.int(1, 5)]),
      min: rng.pick([300, 0, rng.int(0, 1000)]),
      max: rng.pick([4000, rng.int(1, 10000)]),
      jitter: rng.pick([256, 0, rng.int(1, 1000)]),
      fallback: AdaptiveTimeout[rng.pick(FALLBACKS)]
    }
    const steps = []
    const randoms = []
    for (let i = rng.int(1, 60); i > 0; i--) {
      const key = rng.pick(keys)
      switch (rng.int(0, 9)) {
        case 0: case 1: case 2: case 3: {
          const value = rng.bool(0.05) ? rng.int(0, 2 ** 33) : rng.int(0, rng.pick([50, 600, 5000]))
          steps.push({ put: key, value })
          break
        }
        case 4: case 5: case 6:
          steps.push({ get: key, attempt: rng.int(1, 7) })
          randoms.push(rng.float())
          break
        case 7: steps.push({ has: key }); break
        case 8: steps.push({ delete: key }); break
        default: steps.push({ getValue: key })
      }
    }
    return { opts, steps, randoms }
  },
  run (input) {
    const at = new AdaptiveTimeout(input.opts)
    const stats = (p) => p && { avg: p.avg, variance: p.variance }
    try {
      return withRandom(input.randoms, () => input.steps.map((s) => {
        if (s.put !== undefined) return stats(at.put(s.put, s.value))
        if (s.get !== undefined) return at.get(s.get, s.attempt)
        if (s.has !== undefined) return at.has(s.has)
        if (s.delete !== undefined) return at.delete(s.delete)
        return stats(at.getValue(s.getValue))
      }))
    } finally {
      at._cache.destroy()
    }
  }
}

module.exports = { routingTableClosest, natSamplerSequence, adaptiveTimeout }
