'use strict'
// Helpers the connection interop tests share (router, server, client): a free UDP port, and a
// hyperdht socket's open / error / echo as bounded promises.
const crypto = require('crypto')
const dgram = require('dgram')
const { withTimeout } = require('./peer')

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex')

// A port nothing is bound to right now on `host` (bind 0, read, close).
function freePort (host = '127.0.0.1') {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4')
    s.on('error', reject)
    s.bind(0, host, () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// Resolves with the socket once open, rejects with its error (or a close before open).
function opened (socket) {
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket))
    socket.once('error', reject)
    socket.once('close', () => reject(new Error('closed before open')))
  })
}

// The error a connect ends with within `ms` (null if it opened); the socket is destroyed.
async function connectError (socket, what, ms) {
  socket.on('error', () => {})
  try {
    await withTimeout(opened(socket), ms, what)
    socket.destroy()
    return null
  } catch (err) {
    socket.destroy()
    return err
  }
}

// Sends `data` in 64 KiB writes and resolves with what came back once as many bytes arrived.
function echo (socket, data) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let got = 0
    socket.on('data', (d) => {
      chunks.push(d)
      got += d.length
      if (got >= data.length) resolve(Buffer.concat(chunks))
    })
    socket.once('error', reject)
    socket.once('close', () => reject(new Error(`closed after ${got} bytes`)))
    for (let off = 0; off < data.length; off += 65536) socket.write(data.subarray(off, off + 65536))
  })
}

module.exports = { sha256, freePort, opened, connectError, echo }
