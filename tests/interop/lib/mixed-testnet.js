'use strict'
// The loopback testnet the connection interop tests share: a C++ bootstrapper and persistent C++
// nodes started through a C++ peer (client_peer or server_peer: both run the "start" command of
// tests/interop/hyperdht_nodes), then persistent JS nodes. Every wait is bounded.
const HyperDHT = require('hyperdht')
const { withTimeout, until } = require('./peer')
const { freePort } = require('./sockets')

// Resolves with { bootstrap: [{host, port}], bport, cppNodes, persistent }: cppNodes the C++
// persistent nodes' indices in the peer, persistent false if a C++ node did not get an id within
// waitMs; the JS nodes are pushed to `dhts` (to destroy).
async function startMixedTestnet (cpp, dhts, { host, cppNodes, jsNodes, waitMs }) {
  const bport = await freePort()
  await cpp.call({ op: 'start', nodes: 1, bootstrapper: bport, host }, 'started', 'C++ bootstrapper', 30000)
  const bootstrap = [{ host, port: bport }]
  const started = await cpp.call({ op: 'start', nodes: cppNodes, bootstrap: `${host}:${bport}`, host, ephemeral: false, firewalled: false }, 'started', 'start C++ nodes', 90000)
  for (let i = 0; i < jsNodes; i++) {
    const d = new HyperDHT({ bootstrap, host, ephemeral: false, firewalled: false })
    dhts.push(d)
    await withTimeout(d.fullyBootstrapped(), waitMs, 'JS node bootstrap')
  }
  const persistent = await until(async () => {
    const s = (await cpp.call({ op: 'status' }, 'status')).nodes
    return s.every((n) => n.id) ? s : null
  }, waitMs)
  return { bootstrap, bport, cppNodes: started.nodes, persistent: !!persistent }
}

module.exports = { startMixedTestnet }
