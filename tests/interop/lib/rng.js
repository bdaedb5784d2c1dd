'use strict'
// Seeded PRNG (xorshift128+ on BigInt-free 32-bit halves: sfc32) so that a failing differential
// case is reproducible from its seed alone. Not for keys: keys come from seeds it draws.

function sfc32 (a, b, c, d) {
  return function () {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0
    let t = (a + b) | 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) | 0
    c = (c << 21) | (c >>> 11)
    d = (d + 1) | 0
    t = (t + d) | 0
    c = (c + t) | 0
    return (t >>> 0) / 4294967296
  }
}

class Rng {
  constructor (seed) {
    this.seed = seed >>> 0
    this._next = sfc32(0x9e3779b9, 0x243f6a88, 0xb7e15162, this.seed)
    for (let i = 0; i < 15; i++) this._next()
  }

  float () { return this._next() }
  // integer in [lo, hi] inclusive (hi - lo < 2^32)
  int (lo, hi) { return lo + Math.floor(this._next() * (hi - lo + 1)) }
  bool (p = 0.5) { return this._next() < p }
  pick (arr) { return arr[this.int(0, arr.length - 1)] }
  bytes (n) {
    const b = Buffer.alloc(n)
    for (let i = 0; i < n; i++) b[i] = this.int(0, 255)
    return b
  }
  // A uint spread over every varint size class, up to 2^53 - 1.
  uint () {
    switch (this.int(0, 4)) {
      case 0: return this.int(0, 0xfc)
      case 1: return this.int(0xfd, 0xffff)
      case 2: return this.int(0x10000, 0xffffffff)
      case 3: return this.int(0, 0x1fffff) * 0x100000000 + this.int(0, 0xffffffff)
      default: return this.pick([0, 1, 0xfc, 0xfd, 0xffff, 0x10000, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER])
    }
  }
  smallUint () { return this.int(0, 0xfc) }
  host () { return [this.int(0, 255), this.int(0, 255), this.int(0, 255), this.int(0, 255)].join('.') }
  address () { return { host: this.host(), port: this.int(0, 65535) } }
  addresses (max) { const n = this.int(0, max); const a = []; for (let i = 0; i < n; i++) a.push(this.address()); return a }
  buffer (max) { return this.bytes(this.int(0, max)) }
  // Lengths near the varint size-class edges matter for buffers too.
  bufferAnySize () { return this.bytes(this.pick([0, 1, 3, 252, 253, 254, 300, 1000, this.int(0, 2000)])) }
}

module.exports = { Rng }
