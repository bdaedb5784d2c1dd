#!/usr/bin/env bash
# bench/run flood: how a node holds up under a request flood, C++ against JS (issue 8).
#
# Scenario "rpc" (rpc_VARIANT_*): one dht-rpc node (C++ bench/rpc_server, JS
# bench/js/rpc_server.js: the nodes of bench/run rpc, a routing table of ~180 synthetic nodes so
# FIND_NODE replies carry 20 closer nodes) is flooded by bench/flood_rpc from FLOOD_SOURCES (64)
# source addresses 127.1.x.y, half PING, half FIND_NODE with random targets, open loop, for
# FLOOD_DURATION (5) s, while a legitimate client on 127.3.0.1 pings at FLOOD_LEGIT_RATE (20)/s.
# Phases: idle (2 s, client alone), flood, after (2 s, client alone). Variants
# (FLOOD_RPC_VARIANTS, NAME:RATE[:SOURCES], SOURCES default FLOOD_SOURCES): "max" (RATE 0: as
# fast as one generator thread can send), "30k" (30000 requests/s: more than the JS node answers
# with one core, well below the C++ one) and "narrow" (as fast as possible from 4 sources: far
# above the C++ node's per-host request limit, 500/s after a burst of 1000, which the "max"
# flood from 64 sources also exceeds per source; the JS node has no limit).
#   legit_{idle,flood,after}_{success,p50_ms,p99_ms}
#                     the legitimate client's pings answered within 1 s (dht-rpc's timeout), and
#                     their latency; under flood the first 0.5 s is left out (steady state)
#   flood_offered_rps requests per second the generator got into the kernel
#   flood_answered_rps replies per second the flooding sources received during the flood
#   socket_drops      datagrams the kernel dropped at the node's socket (not read in time)
#   server_cpu_flood  the node's CPU use during the flood, in cores (1.0 = one full core)
#   rss_mib_*         the node's VmRSS before the flood / at its end / 2 s after; hwm_mib VmHWM
#   rate_limited      (C++ only) requests the node dropped by its per-host limit, whole run
# The same generator and bytes for both nodes. The machine is a shared 2-core box: the generator
# (one spinning thread at "max") and the node each get about one core, and the client's thread
# competes with them for scheduling (its latency includes that).
#
# Scenario "handshake" (hs_VARIANT_*): a hyperdht echo server (C++ bench/connect_peer --role server, a
# core::Server; JS bench/js/connect.js --role server, hyperdht 6.34's createServer) on its own
# node in a JS testnet (4 nodes) is flooded by bench/flood_handshake: PEER_HANDSHAKE requests
# sent straight to the server node's sockets, each with a random 144-byte Noise message 1 (a
# fresh ephemeral key, so nothing is deduplicated: each costs the server a DH before its AEAD
# fails), at FLOOD_HS_RATE (10000) per second for FLOOD_HS_DURATION (6) s. Variants
# (FLOOD_HS_VARIANTS, NAME:SOURCES): "wide" from 64 sources (156/s each: the C++ per-host limit,
# 128/s after a burst of 256, barely binds) and "narrow" from 4 (2500/s each: far above it).
# Meanwhile a legitimate C++ client (PeerConnect through the testnet, as any client) connects
# every 200 ms; phases idle 2 s / flood / after 3 s.
#   legit_{idle,flood,after}_{success,p50_ms,p99_ms}
#                     connects that opened within 5 s, and their open latency
#   server_cpu_flood, cpu_us_per_request, rss_mib_*, hwm_mib, socket_drops: as above
#   rate_limited, invalid, slots_full (C++ only, ServerStats): msg1 dropped by the per-host
#                     limit, msg1 that cost a Noise attempt and failed, msg1 dropped because the
#                     server held max_handshakes
#
# Ratios (> 1 = C++ better): flood_answered_rps cpp/js, legit_flood_success cpp/js,
# legit_flood_p50/p99 js/cpp, cpu_per_answer/request js/cpp, rss js/cpp.
#
# Environment (set by bench/run): HDHT_BUILD, HDHT_ROOT, HDHT_INTEROP (to run this suite alone on
# another build: HDHT_BUILD=DIR HDHT_ROOT=. bash bench/suites/flood.sh). Knobs: FLOOD_DURATION,
# FLOOD_SOURCES, FLOOD_LEGIT_RATE, FLOOD_RPC_VARIANTS ("max:0 30k:30000 narrow:0:4"), FLOOD_PORT
# (first port
# tried; default random), FLOOD_HS_RATE, FLOOD_HS_DURATION, FLOOD_HS_VARIANTS
# ("wide:64 narrow:4"). An empty variant list skips that scenario.
set -euo pipefail
build=${HDHT_BUILD:?HDHT_BUILD not set}
root=${HDHT_ROOT:?HDHT_ROOT not set}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
duration=${FLOOD_DURATION:-5}
sources=${FLOOD_SOURCES:-64}
legit_rate=${FLOOD_LEGIT_RATE:-20}
rpc_variants=${FLOOD_RPC_VARIANTS-max:0 30k:30000 narrow:0:4}
hs_rate=${FLOOD_HS_RATE:-10000}
hs_duration=${FLOOD_HS_DURATION:-6}
hs_variants=${FLOOD_HS_VARIANTS-wide:64 narrow:4}
port=${FLOOD_PORT:-$((20000 + RANDOM % 30000))}
for f in rpc_server flood_rpc flood_handshake connect_peer; do
  [ -x "$build/bench/$f" ] || { echo "flood.sh: missing $build/bench/$f (build the bench targets)" >&2; exit 1; }
done

tmp=$(mktemp -d)
server_pid=
testnet_pid=
target_port=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
cleanup() {
  stop_server
  if [ -n "$testnet_pid" ]; then kill "$testnet_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# wait_ready FILE PID: up to 15 s for a "ready" line from PID.
wait_ready() {
  for _ in $(seq 150); do
    grep -q '"ready"' "$1" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# ---- scenario "rpc" ----
# start_rpc_server NAME CMD...: CMD --port $port in the background; tries the next ports if taken.
start_rpc_server() {
  local name=$1 attempt; shift
  for attempt in 1 2 3 4 5; do
    "$@" --port "$port" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    server_pid=$!
    if wait_ready "$tmp/$name.out" "$server_pid"; then
      target_port=$(head -n1 "$tmp/$name.out" | jq -r .port)
      return 0
    fi
    stop_server
    echo "flood.sh: $name node did not start on port $port: $(tail -n1 "$tmp/$name.err")" >&2
    port=$(( (port - 20000 + 7) % 30000 + 20000 ))
  done
  return 1
}

# rpc_side IMPL VARIANT RATE SOURCES CMD...: one node under the RPC flood; leaves
# $tmp/IMPL.rpc.VARIANT.json (the generator's line, plus "server_stats" for C++).
rpc_side() {
  local impl=$1 variant=$2 rate=$3 nsrc=$4 out=$tmp/$1.rpc.$2.json; shift 4
  echo '{}' > "$out"
  start_rpc_server "$impl" "$@" || return 0
  if ! timeout $((duration + 40)) "$build/bench/flood_rpc" --target "127.0.0.1:$target_port" \
      --server-pid "$server_pid" --sources "$nsrc" --rate "$rate" --legit-rate "$legit_rate" \
      --idle 2 --flood "$duration" --after 2 > "$out.tmp"; then
    echo "flood.sh: $impl rpc flood failed" >&2
  else
    mv "$out.tmp" "$out"
  fi
  kill -0 "$server_pid" 2>/dev/null || echo "flood.sh: the $impl node died under the flood" >&2
  stop_server  # the C++ node prints its counters as it stops
  local stats
  stats=$(grep '"stats"' "$tmp/$impl.out" 2>/dev/null | tail -n1 | jq -c .stats 2>/dev/null || true)
  [ -n "$stats" ] || stats=null
  jq -c --argjson s "$stats" '. + {server_stats: $s}' "$out" > "$out.tmp" && mv "$out.tmp" "$out"
  echo "  $impl rpc flood ($variant, $nsrc sources): $(cat "$out")" >&2
}

if [ -n "$rpc_variants" ]; then
  echo "flood rpc: $sources sources, ${duration}s, legit $legit_rate/s; variants: $rpc_variants; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  for v in $rpc_variants; do
    IFS=: read -r vname vrate vsrc <<< "$v"
    rpc_side cpp "$vname" "$vrate" "${vsrc:-$sources}" "$build/bench/rpc_server"
    rpc_side js "$vname" "$vrate" "${vsrc:-$sources}" node "$root/bench/js/rpc_server.js"
  done
fi

# ---- scenario "handshake" ----
# hs_side IMPL VARIANT SOURCES: one server on the testnet under the PEER_HANDSHAKE flood; leaves
# $tmp/IMPL.hs.VARIANT.json (the generator's line, plus "server_stats" for C++).
hs_side() {
  local impl=$1 variant=$2 nsrc=$3 out=$tmp/$1.hs.$2
  echo '{}' > "$out.json"
  if [ "$impl" = cpp ]; then
    "$build/bench/connect_peer" --role server --bootstrap "$bootstrap" > "$out.server" 2> "$out.server.err" &
  else
    node "$root/bench/js/connect.js" --role server --bootstrap "$bootstrap" > "$out.server" 2> "$out.server.err" &
  fi
  server_pid=$!
  if ! wait_ready "$out.server" "$server_pid"; then
    echo "flood.sh: $impl handshake server did not start: $(tail -n2 "$out.server.err")" >&2
    stop_server
    return 0
  fi
  local key
  key=$(grep '"ready"' "$out.server" | head -n1 | jq -r .publicKey)
  if ! timeout $((hs_duration + 50)) "$build/bench/flood_handshake" --bootstrap "$bootstrap" \
      --key "$key" --server-pid "$server_pid" --sources "$nsrc" --rate "$hs_rate" \
      --idle 2 --flood "$hs_duration" --after 3 > "$out.gen" 2> "$out.gen.err"; then
    echo "flood.sh: $impl handshake flood failed: $(tail -n2 "$out.gen.err")" >&2
    echo '{}' > "$out.gen"
  fi
  kill -0 "$server_pid" 2>/dev/null || echo "flood.sh: the $impl server died under the flood" >&2
  stop_server
  local stats=null
  if [ "$impl" = cpp ]; then
    stats=$(grep '"stats"' "$out.server" | tail -n1 | jq -c .stats 2>/dev/null || true)
    [ -n "$stats" ] || stats=null
  fi
  jq -c --argjson s "$stats" '. + {server_stats: $s}' "$out.gen" > "$out.json"
  echo "  $impl handshake flood ($variant, $nsrc sources): $(cat "$out.json")" >&2
}

if [ -n "$hs_variants" ]; then
  echo "flood handshake: JS testnet of 4 nodes; $hs_rate/s for ${hs_duration}s; variants: $hs_variants" >&2
  node "$root/bench/js/connect.js" --role testnet --nodes 4 > "$tmp/testnet" 2> "$tmp/testnet.err" &
  testnet_pid=$!
  if wait_ready "$tmp/testnet" "$testnet_pid"; then
    bootstrap=$(grep '"ready"' "$tmp/testnet" | head -n1 | jq -r .bootstrap)
    for v in $hs_variants; do
      hs_side cpp "${v%%:*}" "${v##*:}"
      hs_side js "${v%%:*}" "${v##*:}"
    done
  else
    echo "flood.sh: testnet did not start: $(tail -n2 "$tmp/testnet.err")" >&2
  fi
  kill "$testnet_pid" 2>/dev/null || true
  testnet_pid=
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the result line ----
flatten_rpc() { # VARIANT FILE
  jq -c --arg p "rpc_$1_" '
    def r2: if . == null then null elif . >= 1000 then round else (. * 100 | round / 100) end;
    if has("legit_idle") | not then {} else
    { flood_offered_rps: .flood_offered_rps, flood_answered_rps: .flood_answered_rps,
      socket_drops: .server_socket_drops,
      legit_idle_success: .legit_idle.success, legit_idle_p50_ms: (.legit_idle.p50_ms | r2),
      legit_idle_p99_ms: (.legit_idle.p99_ms | r2),
      legit_flood_success: .legit_flood.success, legit_flood_p50_ms: (.legit_flood.p50_ms | r2),
      legit_flood_p99_ms: (.legit_flood.p99_ms | r2),
      legit_after_success: .legit_after.success, legit_after_p99_ms: (.legit_after.p99_ms | r2),
      server_cpu_flood: .server_cpu_flood, cpu_us_per_answer: (.server_cpu_us_per_answer | r2),
      rss_mib_before: (.rss_mib_before | r2), rss_mib_flood_end: (.rss_mib_flood_end | r2),
      rss_mib_after: (.rss_mib_after | r2), hwm_mib: (.hwm_mib | r2), gen_cpu: .gen_cpu,
      rate_limited: .server_stats.rate_limited_requests }
    | with_entries(.key = $p + .key) end' "$2"
}
flatten_hs() { # VARIANT FILE
  jq -c --arg p "hs_$1_" '
    if has("legit_idle") | not then {} else
    { flood_offered_rps: .flood_offered_rps, socket_drops: .server_socket_drops,
      legit_idle_success: .legit_idle.success, legit_idle_p50_ms: .legit_idle.p50_ms,
      legit_idle_p99_ms: .legit_idle.p99_ms,
      legit_flood_success: .legit_flood.success, legit_flood_p50_ms: .legit_flood.p50_ms,
      legit_flood_p99_ms: .legit_flood.p99_ms, legit_flood_failures: .legit_flood.failures,
      legit_after_success: .legit_after.success, legit_after_p99_ms: .legit_after.p99_ms,
      server_cpu_flood: .server_cpu_flood, cpu_us_per_request: .server_cpu_us_per_request,
      rss_mib_before: .rss_mib_before, rss_mib_flood_end: .rss_mib_flood_end,
      rss_mib_after: .rss_mib_after, hwm_mib: .hwm_mib,
      rate_limited: .server_stats.rate_limited, invalid: .server_stats.invalid,
      slots_full: .server_stats.handshake_slots_full }
    | with_entries(.key = $p + .key) end' "$2"
}
for impl in cpp js; do
  {
    echo '{}'
    for v in $rpc_variants; do flatten_rpc "${v%%:*}" "$tmp/$impl.rpc.${v%%:*}.json"; done
    for v in $hs_variants; do flatten_hs "${v%%:*}" "$tmp/$impl.hs.${v%%:*}.json"; done
  } | jq -c -s 'add' > "$tmp/$impl.json"
done

names() { local v out=""; for v in $1; do out+="${v%%:*} "; done; echo "$out"; }
jq -c -n --slurpfile c "$tmp/cpp.json" --slurpfile j "$tmp/js.json" --arg load "$load_after" \
  --arg rpc "$rpc_variants" --arg hs "$hs_variants" --arg rpc_names "$(names "$rpc_variants")" \
  --arg hs_names "$(names "$hs_variants")" --argjson duration "$duration" \
  --argjson sources "$sources" --argjson hs_rate "$hs_rate" --argjson hs_duration "$hs_duration" '
  def ratio(a; b): if a != null and b != null and a >= 0 and b > 0 then (a / b * 100 | round / 100) else null end;
  def words(s): s | split(" ") | map(select(length > 0));
  $c[0] as $c | $j[0] as $j |
  { bench: "flood", loadavg: $load,
    rpc: { variants: $rpc, sources: $sources, flood_s: $duration },
    hs: { variants: $hs, rate: $hs_rate, flood_s: $hs_duration },
    cpp: $c, js: $j,
    ratio: (
      (reduce words($rpc_names)[] as $v ({}; ("rpc_" + $v + "_") as $p | . + {
        ($p + "flood_answered_rps"): ratio($c[$p + "flood_answered_rps"]; $j[$p + "flood_answered_rps"]),
        ($p + "legit_flood_success"): ratio($c[$p + "legit_flood_success"]; $j[$p + "legit_flood_success"]),
        ($p + "legit_flood_p50"): ratio($j[$p + "legit_flood_p50_ms"]; $c[$p + "legit_flood_p50_ms"]),
        ($p + "legit_flood_p99"): ratio($j[$p + "legit_flood_p99_ms"]; $c[$p + "legit_flood_p99_ms"]),
        ($p + "cpu_per_answer"): ratio($j[$p + "cpu_us_per_answer"]; $c[$p + "cpu_us_per_answer"]),
        ($p + "hwm"): ratio($j[$p + "hwm_mib"]; $c[$p + "hwm_mib"]) }))
      + (reduce words($hs_names)[] as $v ({}; ("hs_" + $v + "_") as $p | . + {
        ($p + "legit_flood_success"): ratio($c[$p + "legit_flood_success"]; $j[$p + "legit_flood_success"]),
        ($p + "legit_flood_p50"): ratio($j[$p + "legit_flood_p50_ms"]; $c[$p + "legit_flood_p50_ms"]),
        ($p + "legit_flood_p99"): ratio($j[$p + "legit_flood_p99_ms"]; $c[$p + "legit_flood_p99_ms"]),
        ($p + "cpu_per_request"): ratio($j[$p + "cpu_us_per_request"]; $c[$p + "cpu_us_per_request"]),
        ($p + "hwm"): ratio($j[$p + "hwm_mib"]; $c[$p + "hwm_mib"]) }))) }'
