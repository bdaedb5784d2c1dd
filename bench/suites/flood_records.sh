#!/usr/bin/env bash
# bench/run flood_records: how a storing node holds up under a flood of record commands, C++
# against JS (issue 8).
#
# One storing hyperdht node alone on 127.0.0.1 (C++ bench/records_server, a HyperDhtNode; JS
# bench/js/records_server.js, hyperdht 6.34's HyperDHT.bootstrapper) is flooded by
# bench/flood_records from FLOOD_RECORDS_SOURCES (64) source addresses 127.4.x.y, each with the
# round token the node gave it: ANNOUNCE to fresh random topics (signed), MUTABLE_PUT under fresh
# key pairs, IMMUTABLE_PUT of fresh random values (FLOOD_RECORDS_VALUE_SIZE, 1000 bytes) and
# LOOKUP of random topics, a quarter each, open loop for FLOOD_RECORDS_DURATION (10) s; every one
# valid, so the node should acknowledge each. Meanwhile a legitimate client on 127.5.0.1 runs a
# put and the get that must return it (mutable, immutable, announce + lookup in turn) every
# 200 ms. Phases: idle 2 s, flood, after 3 s. Variants (FLOOD_RECORDS_VARIANTS,
# NAME:RATE:CAPS[:SOURCES]; RATE messages/s, 0 = as fast as one generator thread can; CAPS
# "default" or "small"; SOURCES default FLOOD_RECORDS_SOURCES):
#   default:4000:default  both nodes with the reference's caps (65536 entries per generation,
#                         values half of it; the C++ node also 32 MiB of records, 64 MiB per
#                         value store): the stores grow with the flood
#   small:4000:small      the C++ node with --max-size 1000 --max-record-bytes 1 MiB
#                         --max-value-bytes 1 MiB, the JS node with maxSize 1000 (it has no byte
#                         caps): both caps trip, the stores stay at them
#   max:0:small           as fast as possible, small caps: what each node answers when saturated
#   narrow:4000:small:4   the same 4000/s from 4 sources (1000/s each): over the C++ node's
#                         per-host request limit (500/s after a burst of 1000; the JS node has none)
# 64 sources at 4000/s is 62/s each, far below that limit: those variants measure the stores,
# not the limit.
#
# Per variant V and side (cpp, js), keys V_*:
#   flood_offered_rps, flood_acked_rps  messages/s sent, and acknowledged during the flood
#   acked_frac, errors, unanswered      of everything sent (late acks included); errors should be
#                                       0 (INVALID_TOKEN, SEQ_*), unanswered = lost or ignored
#   legit_{idle,flood,after}_{success,p50_ms,p99_ms}
#                                       the legitimate rounds that succeeded (both answers within
#                                       1 s and the get returned the put) and their latency (put
#                                       sent -> get answered); under flood the first 0.5 s is
#                                       left out (steady state)
#   server_cpu_flood, cpu_us_per_ack    the node's CPU during the flood (cores) and per ack
#   socket_drops                        datagrams the kernel dropped at the node's socket
#   rss_mib_{before,flood_end,after}, hwm_mib
#                                       VmRSS before the flood / at its end / 3 s after; VmHWM
#   records, mutables, immutables, topics
#                                       stored at the end; *_max the most seen in the node's
#                                       0.5 s samples
#   record_bytes, mutable_bytes, immutable_bytes, *_evicted, rate_limited, invalid_tokens
#                                       (C++ only) bytes held, entries the stores' rotations
#                                       dropped, requests dropped by the per-host limit or
#                                       refused for a bad token
#   heap_used_mib, array_buffers_mib    (JS only) V8's used heap (garbage included) and Buffer
#                                       memory as the node stops; rss_mib_gc, heap_used_mib_gc the
#                                       same after a full GC: what it retains, not just holds
# Ratios (> 1 = C++ better): flood_acked_rps cpp/js, legit_flood_success cpp/js,
# legit_flood_p50/p99 js/cpp, cpu_per_ack js/cpp, rss_growth (flood_end - before) js/cpp, hwm
# js/cpp.
#
# Environment (set by bench/run): HDHT_BUILD, HDHT_ROOT, HDHT_INTEROP. Knobs:
# FLOOD_RECORDS_DURATION, FLOOD_RECORDS_SOURCES, FLOOD_RECORDS_VALUE_SIZE,
# FLOOD_RECORDS_VARIANTS, FLOOD_RECORDS_PORT (first port tried; default random).
set -euo pipefail
build=${HDHT_BUILD:?HDHT_BUILD not set}
root=${HDHT_ROOT:?HDHT_ROOT not set}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
duration=${FLOOD_RECORDS_DURATION:-10}
sources=${FLOOD_RECORDS_SOURCES:-64}
value_size=${FLOOD_RECORDS_VALUE_SIZE:-1000}
variants=${FLOOD_RECORDS_VARIANTS-default:4000:default small:4000:small max:0:small narrow:4000:small:4}
port=${FLOOD_RECORDS_PORT:-$((20000 + RANDOM % 30000))}
small_cap=1000
small_bytes=$((1 << 20))
for f in records_server flood_records; do
  [ -x "$build/bench/$f" ] || { echo "flood_records.sh: missing $build/bench/$f (build the bench targets)" >&2; exit 1; }
done

tmp=$(mktemp -d)
server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT

# start_server NAME CMD...: CMD --port $port in the background, up to 15 s for its ready line;
# tries the next ports if one is taken. Sets server_pid and target_port.
start_server() {
  local name=$1 attempt; shift
  for attempt in 1 2 3 4 5; do
    "$@" --port "$port" > "$tmp/$name.out" 2> "$tmp/$name.err" &
    server_pid=$!
    for _ in $(seq 150); do
      grep -q '"ready"' "$tmp/$name.out" 2>/dev/null && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if grep -q '"ready"' "$tmp/$name.out" 2>/dev/null; then
      target_port=$(grep '"ready"' "$tmp/$name.out" | head -n1 | jq -r .port)
      return 0
    fi
    stop_server
    echo "flood_records.sh: $name node did not start on port $port: $(tail -n1 "$tmp/$name.err")" >&2
    port=$(( (port - 20000 + 7) % 30000 + 20000 ))
  done
  return 1
}

# side IMPL VARIANT RATE CAPS SOURCES: one node under the flood; leaves $tmp/IMPL.VARIANT.json
# (the generator's line plus "store": the node's last stats and the maxima over its samples).
side() {
  local impl=$1 variant=$2 rate=$3 caps=$4 nsrc=$5 out=$tmp/$1.$2.json
  local -a cmd
  echo '{}' > "$out"
  if [ "$impl" = cpp ]; then
    cmd=("$build/bench/records_server")
    [ "$caps" = small ] && cmd+=(--max-size "$small_cap" --max-record-bytes "$small_bytes" --max-value-bytes "$small_bytes")
  else
    cmd=(node --expose-gc "$root/bench/js/records_server.js")
    [ "$caps" = small ] && cmd+=(--max-size "$small_cap")
  fi
  start_server "$impl.$variant" "${cmd[@]}" || return 0
  # The JS node's pid is node's own, which is the one started (no wrapper).
  if ! timeout $((duration + 60)) "$build/bench/flood_records" --target "127.0.0.1:$target_port" \
      --server-pid "$server_pid" --sources "$nsrc" --rate "$rate" --value-size "$value_size" \
      --idle 2 --flood "$duration" --after 3 > "$out.tmp" 2> "$tmp/$impl.$variant.gen.err"; then
    echo "flood_records.sh: $impl flood ($variant) failed: $(tail -n2 "$tmp/$impl.$variant.gen.err")" >&2
  else
    mv "$out.tmp" "$out"
  fi
  kill -0 "$server_pid" 2>/dev/null || echo "flood_records.sh: the $impl node died under the flood" >&2
  stop_server  # both nodes print their last stats line as they stop
  local store
  store=$(grep '"stats"' "$tmp/$impl.$variant.out" | jq -s -c '
    map(.stats) | . as $s | ($s | last) + {
      records_max: ($s | map(.records // 0) | max), mutables_max: ($s | map(.mutables // 0) | max),
      immutables_max: ($s | map(.immutables // 0) | max),
      rss_kib_max: ($s | map(.rss_kib) | max) }' 2>/dev/null || true)
  [ -n "$store" ] || store=null
  local gc
  gc=$(grep '"stats_gc"' "$tmp/$impl.$variant.out" | tail -n1 | jq -c .stats_gc 2>/dev/null || true)
  [ -n "$gc" ] || gc=null
  jq -c --argjson s "$store" --argjson g "$gc" '. + {store: $s, store_gc: $g}' "$out" > "$out.tmp" && mv "$out.tmp" "$out"
  echo "  $impl records flood ($variant, rate $rate, caps $caps, $nsrc sources): $(jq -c 'del(.kinds)' "$out")" >&2
}

echo "flood records: $sources sources, ${duration}s, values ${value_size} B; variants: $variants; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for v in $variants; do
  IFS=: read -r vname vrate vcaps vsrc <<< "$v"
  side cpp "$vname" "$vrate" "$vcaps" "${vsrc:-$sources}"
  side js "$vname" "$vrate" "$vcaps" "${vsrc:-$sources}"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- the result line ----
flatten() { # VARIANT FILE
  jq -c --arg p "$1_" '
    def r2: if . == null then null elif . >= 1000 then round else (. * 100 | round / 100) end;
    if has("legit_idle") | not then {} else
    { flood_offered_rps: (.flood_offered_rps | round), flood_acked_rps: (.flood_acked_rps | round),
      acked_frac: (.flood_acked_frac | . * 10000 | round / 10000), errors: .flood_errors,
      unanswered: .flood_unanswered, socket_drops: .server_socket_drops,
      legit_idle_success: .legit_idle.success, legit_idle_p50_ms: (.legit_idle.p50_ms | r2),
      legit_idle_p99_ms: (.legit_idle.p99_ms | r2),
      legit_flood_success: (.legit_flood.success | . * 1000 | round / 1000),
      legit_flood_p50_ms: (.legit_flood.p50_ms | r2), legit_flood_p99_ms: (.legit_flood.p99_ms | r2),
      legit_after_success: .legit_after.success, legit_after_p99_ms: (.legit_after.p99_ms | r2),
      server_cpu_flood: (.server_cpu_flood | r2), cpu_us_per_ack: (.server_cpu_us_per_ack | r2),
      gen_cpu: (.gen_cpu | r2),
      rss_mib_before: (.rss_mib_before | r2), rss_mib_flood_end: (.rss_mib_flood_end | r2),
      rss_mib_after: (.rss_mib_after | r2), hwm_mib: (.hwm_mib | r2),
      records: .store.records, records_max: .store.records_max, topics: .store.topics,
      mutables: .store.mutables, mutables_max: .store.mutables_max,
      immutables: .store.immutables, immutables_max: .store.immutables_max,
      record_bytes: .store.record_bytes, mutable_bytes: .store.mutable_bytes,
      immutable_bytes: .store.immutable_bytes, records_evicted: .store.records_evicted,
      mutables_evicted: .store.mutables_evicted, immutables_evicted: .store.immutables_evicted,
      rate_limited: .store.rate_limited_requests, invalid_tokens: .store.invalid_tokens,
      heap_used_mib: (if .store.heap_used_kib then .store.heap_used_kib / 1024 | r2 else null end),
      array_buffers_mib: (if .store.array_buffers_kib then .store.array_buffers_kib / 1024 | r2 else null end),
      rss_mib_gc: (if .store_gc then .store_gc.rss_kib / 1024 | r2 else null end),
      heap_used_mib_gc: (if .store_gc then .store_gc.heap_used_kib / 1024 | r2 else null end) }
    | with_entries(select(.value != null) | .key = $p + .key) end' "$2"
}
for impl in cpp js; do
  {
    echo '{}'
    for v in $variants; do flatten "${v%%:*}" "$tmp/$impl.${v%%:*}.json"; done
  } | jq -c -s 'add' > "$tmp/$impl.json"
done

names=""
for v in $variants; do names+="${v%%:*} "; done
jq -c -n --slurpfile c "$tmp/cpp.json" --slurpfile j "$tmp/js.json" --arg load "$load_after" \
  --arg variants "$variants" --arg names "$names" --argjson duration "$duration" \
  --argjson sources "$sources" --argjson value_size "$value_size" \
  --argjson small_cap "$small_cap" --argjson small_bytes "$small_bytes" '
  def ratio(a; b): if a != null and b != null and a >= 0 and b > 0 then (a / b * 100 | round / 100) else null end;
  def growth(p): if .[p + "rss_mib_flood_end"] != null and .[p + "rss_mib_before"] != null
    then .[p + "rss_mib_flood_end"] - .[p + "rss_mib_before"] else null end;
  $c[0] as $c | $j[0] as $j |
  { bench: "flood_records", loadavg: $load, variants: $variants, flood_s: $duration,
    sources: $sources, value_size: $value_size,
    small_caps: { max_size: $small_cap, max_record_bytes: $small_bytes, max_value_bytes: $small_bytes },
    cpp: $c, js: $j,
    ratio: (reduce ($names | split(" ") | map(select(length > 0)))[] as $v ({}; ($v + "_") as $p | . + {
      ($p + "flood_acked_rps"): ratio($c[$p + "flood_acked_rps"]; $j[$p + "flood_acked_rps"]),
      ($p + "legit_flood_success"): ratio($c[$p + "legit_flood_success"]; $j[$p + "legit_flood_success"]),
      ($p + "legit_flood_p50"): ratio($j[$p + "legit_flood_p50_ms"]; $c[$p + "legit_flood_p50_ms"]),
      ($p + "legit_flood_p99"): ratio($j[$p + "legit_flood_p99_ms"]; $c[$p + "legit_flood_p99_ms"]),
      ($p + "cpu_per_ack"): ratio($j[$p + "cpu_us_per_ack"]; $c[$p + "cpu_us_per_ack"]),
      ($p + "rss_growth"): ratio($j | growth($p); $c | growth($p)),
      ($p + "hwm"): ratio($j[$p + "hwm_mib"]; $c[$p + "hwm_mib"]) })) }'
