'use strict'
// compact-encoding primitives. Each kind: random(rng) -> canonical fields,
// encode(fields) -> Buffer (with the real JS codec), decode(Buffer) -> canonical fields.
const c = require('compact-encoding')
const { canon, unhex } = require('../lib/canon')

function primitive (enc, random, toJs = (v) => v) {
  return {
    random: (rng) => ({ value: random(rng) }),
    encode: (f) => c.encode(enc, toJs(f.value)),
    decode: (buf) => ({ value: canon(c.decode(enc, buf)) })
  }
}

module.exports = {
  uint: primitive(c.uint, (rng) => rng.uint()),
  buffer: primitive(c.buffer, (rng) => rng.bufferAnySize().toString('hex'), unhex),
  // mutations would produce invalid UTF-8, which JS replaces and C++ keeps raw: not comparable
  string: { ...primitive(c.string, (rng) => rng.pick(['', 'a', 'hello world', 'ümlaut ✓ 日本', 'x'.repeat(rng.int(0, 400))])), mutate: false },
  fixed32: primitive(c.fixed32, (rng) => rng.bytes(32).toString('hex'), unhex),
  ipv4Address: primitive(c.ipv4Address, (rng) => rng.address()),
  ipv4AddressArray: primitive(c.array(c.ipv4Address), (rng) => rng.addresses(30))
}
