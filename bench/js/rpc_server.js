'use strict'
// The JS side of bench/suites/rpc.sh: one dht-rpc node (the pinned reference) bound to
// 127.0.0.1:PORT, persistent and not firewalled (DHT.bootstrapper), whose routing table is filled
// with the same synthetic nodes as bench/rpc_server.cpp, so FIND_NODE replies carry 20 closer
// nodes as in a big network.
//
//   node bench/js/rpc_server.js --port P [--nodes N]
//
// Prints {"ready":true,"pid":..,"port":..,"table_size":..} once the table is filled, then
// serves until SIGINT/SIGTERM.
const path = require('path')

const interop = process.env.HDHT_INTEROP || path.join(__dirname, '..', '..', 'tests', 'interop')
const modules = path.join(interop, 'node_modules')
const DHT = require(path.join(modules, 'dht-rpc'))
const peer = require(path.join(modules, 'dht-rpc', 'lib', 'peer.js'))

function arg (name, def) {
  const i = process.argv.indexOf(name)
  return i === -1 ? def : Number(process.argv[i + 1])
}

// The i-th synthetic node, the same list as bench/rpc_server.cpp: a Knuth multiplicative hash
// spreads i over 10.0.0.0/8 and the ports.
function syntheticAddress (i) {
  const x = Math.imul(i, 2654435761) >>> 0
  return { host: `10.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`, port: 1024 + (x % 60000) }
}

// Straight into the table, not through addNode(): these nodes do not exist, so they must not
// enter the recency list the ticks ping from. A full row is skipped before add(), which would
// otherwise emit 'full' and make the node re-ping the row.
function fillTable (dht, count) {
  const table = dht.table
  for (let i = 0; i < count; i++) {
    const { host, port } = syntheticAddress(i)
    const id = peer.id(host, port)
    const row = table.rows[table._diff(id)]
    if (row && row.nodes.length >= table.k) continue
    table.add({
      id, host, port, token: null, to: null, sampled: 0,
      added: dht._tick, pinged: dht._tick, seen: dht._tick, downHints: 0, prev: null, next: null
    })
  }
  return table.size
}

async function main () {
  const port = arg('--port', 0)
  const nodes = arg('--nodes', 5000)
  if (!port) {
    console.error('usage: node bench/js/rpc_server.js --port P [--nodes N]')
    process.exit(2)
  }
  const dht = DHT.bootstrapper(port, '127.0.0.1', { host: '127.0.0.1' })
  // The table's id is the persistent one only once bootstrapping is over.
  await dht.fullyBootstrapped()
  const tableSize = fillTable(dht, nodes)
  // The port actually bound: the node falls back to port+1..port+4 if it is taken.
  const bound = dht.io.serverSocket.address().port
  process.stdout.write(JSON.stringify({ ready: true, pid: process.pid, port: bound, table_size: tableSize }) + '\n')
  const stop = () => { dht.destroy().then(() => process.exit(0), () => process.exit(0)) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

main().catch((err) => {
  console.error('rpc_server.js:', err)
  process.exit(1)
})
