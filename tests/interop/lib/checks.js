'use strict'
// The "ok/FAIL <name>" lines and the closing "N passed, N failed" of the interop tests.
class Checks {
  constructor () {
    this.passed = 0
    this.failed = 0
  }

  // Prints and counts one check; returns cond.
  check (cond, name, detail) {
    if (cond) {
      this.passed++
      console.log('ok   ' + name)
    } else {
      this.failed++
      console.log('FAIL ' + name + (detail !== undefined ? ': ' + JSON.stringify(detail) : ''))
    }
    return cond
  }

  // Runs main, counts an exception as a failure, prints the totals and exits 1 on any failure.
  run (main) {
    main().catch((err) => {
      this.failed++
      console.log('FAIL unexpected: ' + (err && err.stack ? err.stack : err))
    }).finally(() => {
      console.log(`${this.passed} passed, ${this.failed} failed`)
      process.exit(this.failed ? 1 : 0)
    })
  }
}

module.exports = { Checks }
