'use strict'
// Shared by the interop tests: bounded waits and a C++ peer program driven by JSON lines on
// stdin/stdout (every command may carry "seq", echoed in its answer).
const { spawn } = require('child_process')
const readline = require('readline')

function withTimeout (p, ms, what) {
  let t
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((resolve, reject) => { t = setTimeout(() => reject(new Error(`timeout after ${ms} ms: ${what}`)), ms) })
  ])
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// Polls pred() until it returns a truthy value or ms pass; returns the last value.
async function until (pred, ms, every = 200) {
  const end = Date.now() + ms
  let v = await pred()
  while (!v && Date.now() < end) {
    await sleep(every)
    v = await pred()
  }
  return v
}

class CppPeer {
  constructor (bin, { waitMs = 15000, name = 'peer' } = {}) {
    this.proc = spawn(bin, [], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.events = []
    this.waiters = []
    this.seq = 0
    this.waitMs = waitMs
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let ev
      try { ev = JSON.parse(line) } catch { return }
      if (ev.event === 'bad-command') console.log(`${name} rejected a command: ${line}`)
      this.events.push(ev)
      for (const w of this.waiters.slice()) w()
    })
    this.exited = new Promise((resolve) => this.proc.on('exit', resolve))
  }

  wait (pred, what, ms = this.waitMs) {
    let test
    return withTimeout(new Promise((resolve) => {
      test = () => {
        const i = this.events.findIndex(pred)
        if (i === -1) return false
        const [ev] = this.events.splice(i, 1)
        this.waiters = this.waiters.filter((w) => w !== test)
        resolve(ev)
        return true
      }
      if (!test()) this.waiters.push(test)
    }), ms, what).catch((err) => {
      this.waiters = this.waiters.filter((w) => w !== test)
      throw err
    })
  }

  send (cmd) { this.proc.stdin.write(JSON.stringify(cmd) + '\n') }

  // Sends cmd and waits for its answer (event `answer` with the same seq, or a rejection).
  async call (cmd, answer, what, ms) {
    const seq = ++this.seq
    this.send({ ...cmd, seq })
    const ev = await this.wait((e) => e.seq === seq && (e.event === answer || e.event === 'bad-command' || e.event === 'start-error'), what || cmd.op, ms)
    if (ev.event !== answer) throw new Error(`${cmd.op} rejected: ${JSON.stringify(ev)}`)
    return ev
  }

  async close () {
    try { this.send({ op: 'quit' }); this.proc.stdin.end() } catch {}
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(t)
  }
}

module.exports = { CppPeer, withTimeout, sleep, until }
