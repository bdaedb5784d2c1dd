#!/usr/bin/env bash
# bench/run records: the record operations over a loopback network, and the memory a storing
# node needs for its records (issue 4).
#
# Network part. The same network shape is built once with C++ nodes (bench/records_net --serve)
# and once with JS hyperdht nodes (bench/js/records_net.js --serve): RECORDS_BENCH_NODES nodes
# (default 200) in one process on 127.0.0.1, a bootstrapper and then persistent, not-firewalled
# nodes joining one after another (as hyperdht/testnet.js does). A seeding client in that
# process stores RECORDS_BENCH_RECORDS announces, immutable and mutable values of 128 B (default
# 50 of each). Node i listens on port P+i (P random, or RECORDS_BENCH_PORT) in both networks, so
# both have the same node ids (H(host:port)), hence the same shape. Then a C++ client
# (bench/records_net --client) and a JS client (bench/js/records_net.js --client), each in its
# own process, join and run RECORDS_BENCH_OPS timed operations of each kind (default 60, after 10
# untimed), one at a time; RECORDS_BENCH_REPEAT such client runs (default 3, each a new client,
# hence a new routing table) per client and network, samples pooled:
#   lookup            of an announced topic (the whole query; found = the announcer was seen)
#   immutable_get     of a stored hash (ends at the first valid value)
#   mutable_get       of a stored key (latest: the whole query)
# Per kind: ms_median, ms_p95 (wall clock per operation) and msgs (UDP datagrams the client's
# sockets sent plus received per operation, mean). "cpp" is the C++ client on the C++ network,
# "js" the JS client on the JS network; "cross" has the two mixed runs (C++ client on the JS
# network, JS client on the C++ network), which separate the client's share from the network's.
#
# Store part. One storing node alone (bench/records_store, node bench/js/records_store.js
# --serve) receives RECORDS_BENCH_STORE (default 10,000) mutable records of 128 B over the wire
# (MUTABLE_PUT requests from the same JS putter, bench/js/records_store.js --put, identical
# for both); its VmRSS is read before and after (the JS one after a full GC):
# store_growth_mib_10k = the growth in MiB.
#
# Ratios are oriented so > 1 means C++ is better: js/cpp for latencies, messages and memory.
# Environment (set by bench/run): HDHT_BUILD, HDHT_ROOT, HDHT_INTEROP.
set -euo pipefail
build=${HDHT_BUILD:?HDHT_BUILD not set}
root=${HDHT_ROOT:?HDHT_ROOT not set}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
nodes=${RECORDS_BENCH_NODES:-200}
records=${RECORDS_BENCH_RECORDS:-50}
ops=${RECORDS_BENCH_OPS:-60}
repeat=${RECORDS_BENCH_REPEAT:-3}
warmup=${RECORDS_BENCH_WARMUP:-10}
store_count=${RECORDS_BENCH_STORE:-10000}
port=${RECORDS_BENCH_PORT:-$((20000 + RANDOM % 30000))}  # the nodes take port..port+nodes
net_bin=$build/bench/records_net
store_bin=$build/bench/records_store
for f in "$net_bin" "$store_bin"; do
  [ -x "$f" ] || { echo "records.sh: missing $f (build the bench targets)" >&2; exit 1; }
done

tmp=$(mktemp -d)
server_pid=
stop_server() {
  exec 7>&-
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    for _ in $(seq 30); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 30); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT

# start_server NAME WAIT_S CMD...: runs CMD --port $port in the background, its stdin a FIFO
# held open on fd 7 (closing it stops the server), and waits up to WAIT_S for its ready line.
# A port may be taken on this shared machine: then it tries a few others.
start_server() {
  local name=$1 wait_s=$2; shift 2
  for _ in 1 2 3 4; do
    rm -f "$tmp/fifo"; mkfifo "$tmp/fifo"
    "$@" --port "$port" < "$tmp/fifo" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    server_pid=$!
    exec 7> "$tmp/fifo"
    for _ in $(seq $((wait_s * 5))); do
      grep -q '"ready"' "$tmp/$name.out" 2>/dev/null && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.2
    done
    if grep -q '"ready"' "$tmp/$name.out" 2>/dev/null; then
      echo "  $name: $(head -n1 "$tmp/$name.out")" >&2
      return 0
    fi
    echo "records.sh: $name did not start on port $port: $(tail -n2 "$tmp/$name.err" | tr '\n' ' ')" >&2
    stop_server
    port=$(( (port - 20000 + nodes + 7) % 30000 + 20000 ))  # past the ports the nodes took
  done
  exit 1
}

# run_client OUT CMD...: one client run against the network that is up.
run_client() {
  local out=$1; shift
  local boot; boot=$(head -n1 "$tmp/$net.out" | jq -r .bootstrap)
  timeout 300 "$@" --client --bootstrap "$boot" --records "$records" --ops "$ops" \
    --warmup "$warmup" > "$tmp/$out.json" 2> "$tmp/$out.err" || {
      echo "records.sh: client $out failed: $(tail -n3 "$tmp/$out.err" | tr '\n' ' ')" >&2; exit 1; }
  echo "  $out: $(tail -n1 "$tmp/$out.json" | jq -c 'del(.[].samples?)')" >&2
}

echo "records: $nodes nodes, $records records of each kind, $repeat client runs x $ops ops (+$warmup warm-up) per kind; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for net in cpp_net js_net; do
  echo "records: $net" >&2
  if [ $net = cpp_net ]; then
    start_server $net 240 "$net_bin" --serve --nodes "$nodes" --records "$records"
  else
    start_server $net 240 node "$root/bench/js/records_net.js" --serve --nodes "$nodes" --records "$records"
  fi
  for round in $(seq "$repeat"); do
    run_client "cpp_client.$net.$round" "$net_bin"
    run_client "js_client.$net.$round" node "$root/bench/js/records_net.js"
  done
  stop_server
  # The rounds' samples pooled, then summarised.
  for client in cpp_client js_client; do
    jq -c -s '
      def q(p): sort | if length == 0 then null else
        ((length - 1) * p) as $pos | ($pos | floor) as $lo | ([$lo + 1, length - 1] | min) as $hi |
        .[$lo] + (.[$hi] - .[$lo]) * ($pos - $lo) end;
      def mean: if length == 0 then null else add / length end;
      . as $runs | reduce ("lookup", "immutable_get", "mutable_get") as $k ({};
        ([$runs[][$k].samples.ms[]]) as $ms | ([$runs[][$k].samples.msgs[]]) as $msgs |
        ([$runs[][$k].samples.sent[]]) as $sent |
        .[$k] = { ms_median: ($ms | q(0.5)), ms_p95: ($ms | q(0.95)), msgs_mean: ($msgs | mean),
                  msgs_median: ($msgs | q(0.5)), sent_mean: ($sent | mean),
                  found: ([$runs[][$k].found] | add), ops: ($ms | length) })' \
      "$tmp/$client.$net".*.json > "$tmp/$client.$net.json"
  done
done

# store_side NAME CMD...: a storing node alone, RSS before and after the puts.
store_side() {
  local name=$1; shift
  start_server "store_$name" 30 "$@"
  local sport; sport=$(head -n1 "$tmp/store_$name.out" | jq -r .port)
  sleep 1
  echo rss >&7
  timeout 300 node "$root/bench/js/records_store.js" --put "127.0.0.1:$sport" --count "$store_count" \
    > "$tmp/put_$name.json" 2> "$tmp/put_$name.err" || {
      echo "records.sh: putter failed: $(tail -n3 "$tmp/put_$name.err" | tr '\n' ' ')" >&2; exit 1; }
  sleep 1
  echo rss >&7
  for _ in $(seq 50); do [ "$(wc -l < "$tmp/store_$name.out")" -ge 3 ] && break; sleep 0.2; done
  echo "  store $name: put $(cat "$tmp/put_$name.json"); $(sed -n 2,3p "$tmp/store_$name.out" | tr '\n' ' ')" >&2
  stop_server
  jq -c -s '{ rss_before_mib: (.[1].rss_kib / 1024), rss_after_mib: (.[2].rss_kib / 1024),
              stored: .[2].mutables,
              store_growth_mib_10k: ((.[2].rss_kib - .[1].rss_kib) / 1024) }' \
    "$tmp/store_$name.out" > "$tmp/store_$name.json"
}
echo "records: store ($store_count mutable records of 128 B)" >&2
store_side cpp "$store_bin"
store_side js node --expose-gc "$root/bench/js/records_store.js" --serve
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "records: load after: $load_after" >&2

jq -c -n --slurpfile cc "$tmp/cpp_client.cpp_net.json" --slurpfile jj "$tmp/js_client.js_net.json" \
  --slurpfile cj "$tmp/cpp_client.js_net.json" --slurpfile jc "$tmp/js_client.cpp_net.json" \
  --slurpfile sc "$tmp/store_cpp.json" --slurpfile sj "$tmp/store_js.json" \
  --arg load "$load_after" --argjson nodes "$nodes" --argjson ops "$((ops * repeat))" --argjson count "$store_count" '
  def r2: if . == null then null else (. * 100 | round / 100) end;
  def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
  def side(x; s): {
    lookup_ms_median: (x.lookup.ms_median | r2), lookup_ms_p95: (x.lookup.ms_p95 | r2),
    lookup_msgs: (x.lookup.msgs_mean | r2), lookup_sent: (x.lookup.sent_mean | r2), lookup_found: x.lookup.found,
    immutable_get_ms_median: (x.immutable_get.ms_median | r2),
    immutable_get_ms_p95: (x.immutable_get.ms_p95 | r2),
    immutable_get_msgs: (x.immutable_get.msgs_mean | r2), immutable_get_sent: (x.immutable_get.sent_mean | r2), immutable_get_found: x.immutable_get.found,
    mutable_get_ms_median: (x.mutable_get.ms_median | r2), mutable_get_ms_p95: (x.mutable_get.ms_p95 | r2),
    mutable_get_msgs: (x.mutable_get.msgs_mean | r2), mutable_get_sent: (x.mutable_get.sent_mean | r2), mutable_get_found: x.mutable_get.found }
    + (if s == null then {} else {
    store_growth_mib_10k: (s.store_growth_mib_10k | r2), store_rss_before_mib: (s.rss_before_mib | r2),
    store_rss_after_mib: (s.rss_after_mib | r2), stored: s.stored } end);
  side($cc[0]; $sc[0]) as $c | side($jj[0]; $sj[0]) as $j |
  { bench: "records", nodes: $nodes, ops: $ops, store_records: $count, loadavg: $load,
    cpp: $c, js: $j,
    cross: { cpp_client_js_net: side($cj[0]; null), js_client_cpp_net: side($jc[0]; null) },
    ratio: {
      lookup_ms_median: ratio($j.lookup_ms_median; $c.lookup_ms_median),
      lookup_ms_p95: ratio($j.lookup_ms_p95; $c.lookup_ms_p95),
      lookup_msgs: ratio($j.lookup_msgs; $c.lookup_msgs),
      immutable_get_ms_median: ratio($j.immutable_get_ms_median; $c.immutable_get_ms_median),
      immutable_get_ms_p95: ratio($j.immutable_get_ms_p95; $c.immutable_get_ms_p95),
      immutable_get_msgs: ratio($j.immutable_get_msgs; $c.immutable_get_msgs),
      mutable_get_ms_median: ratio($j.mutable_get_ms_median; $c.mutable_get_ms_median),
      mutable_get_ms_p95: ratio($j.mutable_get_ms_p95; $c.mutable_get_ms_p95),
      mutable_get_msgs: ratio($j.mutable_get_msgs; $c.mutable_get_msgs),
      store_growth: ratio($j.store_growth_mib_10k; $c.store_growth_mib_10k) } }'
