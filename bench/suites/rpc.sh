#!/usr/bin/env bash
# bench/run rpc: how many dht-rpc requests one node answers, per second and per CPU core, and
# its resident memory. One C++ node (bench/rpc_server) and one JS node (bench/js/rpc_server.js),
# each alone in its own process on 127.0.0.1 with a routing table of ~180 synthetic nodes (full
# buckets, so FIND_NODE replies carry 20 closer nodes), are driven in turn by the same C++ load
# generator (bench/rpc_load: a fixed window of outstanding requests from firewalled clients,
# identical bytes for both servers). The server's CPU time (utime+stime) is sampled over exactly
# the measured window; RSS at its end.
#
#   rps              answered requests per second (wall clock)
#   rps_per_core     rps / (server CPU seconds / wall seconds): the rate one fully busy server
#                    core would sustain, so a partly idle server is not penalised
#   cpu_us_per_req   server CPU microseconds (user + system) per answered request
#   user_us_per_req  the user-space part: the node's own work, without the kernel's UDP stack
#   rss_mib          the server's VmRSS after the FIND_NODE run
# "floor" is bench/udp_reflector, which answers with canned replies of the same sizes through the
# same batched socket calls and does nothing else: the kernel's share of a request, which no
# node can go below ("cpp_over_floor" = how much CPU per request the C++ node adds on top).
# Each figure is the median of RPC_BENCH_REPEAT rounds; a round runs the C++ then the JS server,
# so both see the same machine load (reported as loadavg: this is a shared 2-core machine).
#
# Environment (set by bench/run): HDHT_BUILD, HDHT_ROOT, HDHT_INTEROP. Optional knobs:
# RPC_BENCH_DURATION (s per run, default 5), RPC_BENCH_REPEAT (default 3), RPC_BENCH_WINDOW
# (outstanding requests, default 128), RPC_BENCH_PORT (first port tried; default random).
set -euo pipefail
build=${HDHT_BUILD:?HDHT_BUILD not set}
root=${HDHT_ROOT:?HDHT_ROOT not set}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
duration=${RPC_BENCH_DURATION:-5}
window=${RPC_BENCH_WINDOW:-128}
repeat=${RPC_BENCH_REPEAT:-3}
port=${RPC_BENCH_PORT:-$((20000 + RANDOM % 30000))}
load=$build/bench/rpc_load
for f in "$load" "$build/bench/rpc_server" "$build/bench/udp_reflector"; do
  [ -x "$f" ] || { echo "rpc.sh: missing $f (build the bench targets)" >&2; exit 1; }
done

tmp=$(mktemp -d)
server_pid=
target_port=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  server_pid=
}
trap 'stop_server; rm -rf "$tmp"' EXIT

# start_server NAME CMD...: runs CMD --port $port in the background and waits (bounded) for its
# ready line. The machine is shared, so a port may be taken: then it tries the next few ports.
# (Both servers of a round normally get the same port, hence the same node id and table.)
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
      echo "  $name server: $(head -n1 "$tmp/$name.out")" >&2
      target_port=$(head -n1 "$tmp/$name.out" | jq -r .port)
      return 0
    fi
    stop_server
    echo "rpc.sh: $name server did not start on port $port: $(tail -n1 "$tmp/$name.err")" >&2
    port=$(( (port - 20000 + 7) % 30000 + 20000 ))
  done
  exit 1
}

# run_side NAME ROUND CMD...: one server, PING then FIND_NODE; leaves $tmp/NAME.ROUND.json.
run_side() {
  local name=$1 round=$2; shift 2
  start_server "$name" "$@"
  local cmd
  for cmd in ping find_node; do
    timeout $((duration + 30)) "$load" --target "127.0.0.1:$target_port" --command "$cmd" \
      --window "$window" --duration "$duration" --server-pid "$server_pid" \
      > "$tmp/$name.$cmd.json"
    echo "  $name $cmd: $(cat "$tmp/$name.$cmd.json")" >&2
  done
  stop_server
  jq -c -s '
    def side(r): {
      rps: r.rps,
      rps_per_core: (if r.server_cpu_s > 0 then r.answered / r.server_cpu_s else null end),
      cpu_us_per_req: (if r.answered > 0 then r.server_cpu_s * 1e6 / r.answered else null end),
      user_us_per_req: (if r.answered > 0 then r.server_user_s * 1e6 / r.answered else null end),
      timeouts: r.timeouts };
    side(.[0]) as $p | side(.[1]) as $f |
    { ping_rps: $p.rps, ping_rps_per_core: $p.rps_per_core, ping_cpu_us_per_req: $p.cpu_us_per_req,
      ping_user_us_per_req: $p.user_us_per_req, ping_timeouts: $p.timeouts,
      find_node_rps: $f.rps, find_node_rps_per_core: $f.rps_per_core,
      find_node_cpu_us_per_req: $f.cpu_us_per_req, find_node_user_us_per_req: $f.user_us_per_req,
      find_node_timeouts: $f.timeouts, find_node_closer_nodes: .[1].closer_nodes_avg,
      rss_mib: .[1].server_rss_mib }' \
    "$tmp/$name.ping.json" "$tmp/$name.find_node.json" > "$tmp/$name.$round.json"
}

echo "rpc: window $window, ${duration}s per run after 1s warm-up, $repeat rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for round in $(seq "$repeat"); do
  echo "rpc: round $round" >&2
  # The load comes from one address flat out: the per-host request limit (500/s) is off, as
  # this measures throughput (bench/run flood measures the limit).
  run_side cpp "$round" "$build/bench/rpc_server" --request-rate-limit 0
  run_side js "$round" node "$root/bench/js/rpc_server.js"
  run_side floor "$round" "$build/bench/udp_reflector"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "rpc: load after: $load_after" >&2

# The median of every figure over the rounds, rounded for reading.
median_side() {
  jq -c -s '
    def median: map(select(. != null)) | sort | if length == 0 then null
      else (if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end) end;
    def tidy: if . == null then null elif . >= 1000 then round else (. * 100 | round / 100) end;
    . as $rounds | ($rounds[0] | keys_unsorted) as $keys |
    reduce $keys[] as $k ({}; .[$k] = ([$rounds[][$k]] | median | tidy))' "$@"
}
median_side "$tmp"/cpp.*.json > "$tmp/cpp.json"
median_side "$tmp"/js.*.json > "$tmp/js.json"
median_side "$tmp"/floor.*.json > "$tmp/floor.json"

jq -c -n --slurpfile c "$tmp/cpp.json" --slurpfile j "$tmp/js.json" --slurpfile f "$tmp/floor.json" \
  --arg load "$load_after" --argjson window "$window" --argjson duration "$duration" \
  --argjson repeat "$repeat" '
  def ratio(a; b): if a != null and b != null and b > 0 then (a / b * 100 | round / 100) else null end;
  $c[0] as $c | $j[0] as $j | $f[0] as $f |
  { bench: "rpc", window: $window, duration_s: $duration, rounds: $repeat, loadavg: $load,
    cpp: $c, js: $j,
    floor: { ping_cpu_us_per_req: $f.ping_cpu_us_per_req,
             find_node_cpu_us_per_req: $f.find_node_cpu_us_per_req,
             ping_rps_per_core: $f.ping_rps_per_core, find_node_rps_per_core: $f.find_node_rps_per_core,
             cpp_over_floor_ping_us: (if $c.ping_cpu_us_per_req != null and $f.ping_cpu_us_per_req != null
               then (($c.ping_cpu_us_per_req - $f.ping_cpu_us_per_req) * 100 | round / 100) else null end),
             cpp_over_floor_find_node_us: (if $c.find_node_cpu_us_per_req != null and $f.find_node_cpu_us_per_req != null
               then (($c.find_node_cpu_us_per_req - $f.find_node_cpu_us_per_req) * 100 | round / 100) else null end) },
    ratio: {
      ping_rps: ratio($c.ping_rps; $j.ping_rps),
      ping_rps_per_core: ratio($c.ping_rps_per_core; $j.ping_rps_per_core),
      ping_cpu_per_req: ratio($j.ping_cpu_us_per_req; $c.ping_cpu_us_per_req),
      ping_user_cpu_per_req: ratio($j.ping_user_us_per_req; $c.ping_user_us_per_req),
      find_node_rps: ratio($c.find_node_rps; $j.find_node_rps),
      find_node_rps_per_core: ratio($c.find_node_rps_per_core; $j.find_node_rps_per_core),
      find_node_cpu_per_req: ratio($j.find_node_cpu_us_per_req; $c.find_node_cpu_us_per_req),
      find_node_user_cpu_per_req: ratio($j.find_node_user_us_per_req; $c.find_node_user_us_per_req),
      rss: ratio($j.rss_mib; $c.rss_mib) } }'
