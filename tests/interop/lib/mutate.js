'use strict'
// Byte-level mutations of a valid encoding: truncation, bit flips, appended bytes, a varint
// prefix forced to a larger size class. Used to compare accept/drop decisions with C++.
function mutate (rng, buf) {
  const b = Buffer.from(buf)
  switch (rng.int(0, 4)) {
    case 0: return b.subarray(0, rng.int(0, Math.max(0, b.length - 1)))
    case 1: {
      if (b.length === 0) return Buffer.from([rng.int(0, 255)])
      const n = rng.int(1, 3)
      for (let i = 0; i < n; i++) b[rng.int(0, b.length - 1)] ^= 1 << rng.int(0, 7)
      return b
    }
    case 2: return Buffer.concat([b, rng.bytes(rng.int(1, 8))])
    case 3: {
      if (b.length === 0) return b
      b[rng.int(0, b.length - 1)] = rng.pick([0xfd, 0xfe, 0xff, 0x00, 0xfc])
      return b
    }
    default: return rng.bytes(rng.int(0, Math.min(64, b.length + 4)))
  }
}

module.exports = { mutate }
