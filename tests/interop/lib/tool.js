'use strict'
// Talks to the C++ hdht-codec-tool over stdin/stdout, one JSON object per line each way.
const { spawn } = require('child_process')
const readline = require('readline')

class CodecTool {
  constructor (path) {
    this.proc = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.waiting = []
    this.exited = null
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      const w = this.waiting.shift()
      if (w) w.resolve(JSON.parse(line))
    })
    this.proc.on('exit', (code, signal) => {
      this.exited = `codec tool exited (code ${code}, signal ${signal})`
      for (const w of this.waiting.splice(0)) w.reject(new Error(this.exited))
    })
  }

  request (req) {
    if (this.exited) return Promise.reject(new Error(this.exited))
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject })
      this.proc.stdin.write(JSON.stringify(req) + '\n')
    })
  }

  close () { this.proc.stdin.end() }
}

module.exports = { CodecTool }
