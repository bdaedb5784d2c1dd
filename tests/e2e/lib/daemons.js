'use strict'
// What the e2e tests that drive hyperdhtd through hdhtctl share: the command line, the ok/FAIL
// lines and their totals, children with collected output, hdhtctl calls and daemons whose log
// lines are kept. Every wait is bounded.
const { spawn } = require('child_process')
const readline = require('readline')
const { withTimeout, until } = require('../../interop/lib/peer')

// `--daemon PATH --ctl PATH [...]`: exits 2 with a usage line when either is missing.
function cliArgs (script) {
  const args = process.argv.slice(2)
  const arg = (name) => { const i = args.indexOf(name); return i === -1 ? null : args[i + 1] }
  const daemon = arg('--daemon')
  const ctl = arg('--ctl')
  if (!daemon || !ctl) {
    console.error(`usage: ${script} --daemon PATH --ctl PATH`)
    process.exit(2)
  }
  return { arg, daemon, ctl }
}

// "ok NAME" / "FAIL NAME: detail" and the closing "N passed, N failed".
class Tally {
  constructor () {
    this.passed = 0
    this.failed = 0
  }

  check (name, ok, detail) {
    if (ok) {
      this.passed++
      console.log(`ok ${name}`)
    } else {
      this.failed++
      console.log(`FAIL ${name}${detail !== undefined ? ': ' + JSON.stringify(detail).slice(0, 800) : ''}`)
    }
    return ok
  }

  finish () {
    console.log(`${this.passed} passed, ${this.failed} failed`)
    process.exit(this.failed === 0 ? 0 : 1)
  }
}

// Children of one test: each collects its output; killAll() ends the ones still running.
class Children {
  constructor ({ daemon, ctl }) {
    this.daemonPath = daemon
    this.ctlPath = ctl
    this.list = []
  }

  // A child with its output in .out/.err; stdin is a pipe; .exited resolves {code, signal}.
  run (bin, argv) {
    const p = spawn(bin, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
    this.list.push(p)
    p.out = ''
    p.err = ''
    p.stdout.on('data', (d) => { p.out += d })
    p.stderr.on('data', (d) => { p.err += d })
    p.stdin.on('error', () => {})
    p.exited = new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal })))
    return p
  }

  // One hdhtctl command with stdin closed, killed after `ms`.
  async ctl (socket, argv, ms = 30000) {
    const p = this.run(this.ctlPath, ['--socket', socket, '--timeout', '20', ...argv])
    p.stdin.end()
    const r = await withTimeout(p.exited, ms, 'hdhtctl ' + argv.join(' '))
      .catch(() => { p.kill('SIGKILL'); return { code: null } })
    return { status: r.code, stdout: p.out, stderr: p.err }
  }

  // The same with --json; .json is the last stdout line parsed (null if it is not JSON).
  async ctlJson (socket, argv) {
    const r = await this.ctl(socket, ['--json', ...argv])
    try { r.json = JSON.parse(r.stdout.trim().split('\n').pop()) } catch { r.json = null }
    return r
  }

  // hyperdhtd with its log lines in .lines; booted() waits for the bootstrap line, stop() sends
  // SIGTERM and SIGKILLs after 8 s.
  startDaemon (argv) {
    const proc = spawn(this.daemonPath, [...argv, '--status-interval', '0'], { stdio: ['ignore', 'ignore', 'pipe'] })
    const d = { proc, lines: [] }
    d.exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })))
    readline.createInterface({ input: proc.stderr }).on('line', (l) => d.lines.push(l))
    d.booted = () => until(() => d.lines.some((l) => /all \d+ nodes bootstrapped/.test(l)), 20000)
    d.stop = async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      proc.kill('SIGTERM')
      await withTimeout(d.exited, 8000, 'exit').catch(() => proc.kill('SIGKILL'))
    }
    return d
  }

  killAll () {
    for (const p of this.list) if (p.exitCode === null) p.kill('SIGKILL')
  }
}

module.exports = { cliArgs, Tally, Children }
