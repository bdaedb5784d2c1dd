#!/usr/bin/env bash
# tests/nat/nat-faults.sh [--pairs "cpp-js js-cpp cpp-cpp"] [--kill-pairs "cpp-js js-cpp"]
#   [--bytes B] [--loss P] [--delay MS] [--reorder P] [--end-bound S] [--transfer-bound S] [--clean]
# Loss, reordering and a peer killed mid-stream in the NAT lab (tests/nat/lab.sh,
# docs/nat-lab.md#faults). A public testnet of 4 JS nodes; a client host behind router c and a
# server host behind router s, both consistent (the connection is a holepunch). The path between
# the two routers is impaired by a userspace wire (tests/nat/wire.py; this kernel has no
# sch_netem) spliced into router c's uplink: every packet between 10.99.0.11 and 10.99.0.12, both
# ways, is dropped with probability --loss (0.03), else held --delay ms (25), except a --reorder
# share (0.05) held 5 ms, which overtakes the 20 ms of packets before it. The DHT's own traffic
# (to and from the testnet) passes clean, so the faults hit the connection's path: the punch and
# the stream (the handshake travels through the DHT).
# For each pair CLIENT-SERVER (JS: hyperdht itself; C++: tests/interop client_peer/server_peer,
# both driven by tests/nat/fault-peer.js): the client connects by public key and echoes --bytes
# (2 MiB) through the server, both ways at once. Checks: the echo comes back within
# --transfer-bound s (60) with the SHA-256 the client sent, and the server received exactly those
# bytes (its own SHA-256). For the --kill-pairs, on the same client process: a second connection
# streams without end and the server process is SIGKILLed mid-stream. Checks: the client's stream
# ends with an error within --end-bound s (25; UDX gives up after its 7th RTO, 1 + 6 x 2 s ~ 13 s,
# the secret stream has no idle timeout) and the client process lives on; the server restarts on
# the same key, and the same client connects to it again and echoes --bytes intact. Then the
# other way round: a third connection streams, the client process is SIGKILLed mid-stream, the
# server's stream must end with an error within --end-bound s, and a fresh client process echoes
# --bytes through the same server process. How each server's stream closed after an echo is
# printed, not checked: with the last ack of an END lost, the side that sent that END times out
# (UDX has no TIME_WAIT, docs/nat-lab.md#faults).
# Skips loudly (exit 77) without root, namespaces, iptables or python3. Every wait is bounded.
# Last line: "N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${HDHT_BUILD:-$root/build}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
js_bin=$root/bench/js/connect.js
peer_js=$here/fault-peer.js
client_bin=$build/tests/client_peer
server_bin=$build/tests/server_peer
pairs="cpp-js js-cpp cpp-cpp"
kill_pairs="cpp-js js-cpp"
bytes=$((2 * 1048576))
loss=0.03
delay=25
reorder=0.05
reorder_delay=5
end_bound=25
transfer_bound=60
while [ $# -gt 0 ]; do
  case $1 in
    --pairs) pairs=$2; shift 2 ;;
    --kill-pairs) kill_pairs=$2; shift 2 ;;
    --bytes) bytes=$2; shift 2 ;;
    --loss) loss=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --reorder) reorder=$2; shift 2 ;;
    --end-bound) end_bound=$2; shift 2 ;;
    --transfer-bound) transfer_bound=$2; shift 2 ;;
    --client) client_bin=$2; shift 2 ;;
    --server) server_bin=$2; shift 2 ;;
    --clean) loss=0; delay=0; reorder=0; reorder_delay=0; shift ;;
    *) echo "usage: nat-faults.sh [--pairs LIST] [--kill-pairs LIST] [--bytes B] [--loss P] [--delay MS] [--reorder P] [--end-bound S] [--transfer-bound S] [--client BIN] [--server BIN] [--clean]" >&2; exit 2 ;;
  esac
done

# shellcheck source=lab.sh
. "$here/lab.sh"
if ! why=$(lab_can_run); then
  echo "SKIPPED: the NAT lab needs root, network namespaces and iptables: $why"
  exit 77
fi
if ! command -v python3 > /dev/null; then
  echo "SKIPPED: the impaired wire (tests/nat/wire.py) needs python3"
  exit 77
fi
[ -f "$js_bin" ] || { echo "missing $js_bin"; exit 1; }

tmp=$(mktemp -d)
wire_pid=
cleanup() {
  jobs -p | xargs -r kill 2> /dev/null
  lab_down
  # NAT_FAULTS_KEEP=1 keeps every process's output for a look afterwards.
  if [ -n "${NAT_FAULTS_KEEP:-}" ]; then echo "# logs in $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
passed=0
failed=0
check() { # OK NAME [DETAIL]
  if [ "$1" = 1 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2 ${3:-}"; fi
}
now_ms() { date +%s%3N; }
# wait_json FILE FILTER SECONDS [PID] [N]: prints the N-th (1st) JSON line of FILE that FILTER (jq)
# selects; 1 when there was none within SECONDS (or once PID is gone).
wait_json() {
  local end=$(($(date +%s) + $3)) line n=${5:-1}
  while :; do
    line=$(jq -cR "fromjson? | select($2)" "$1" 2> /dev/null | sed -n "${n}p")
    [ -n "$line" ] && { echo "$line"; return 0; }
    if [ -n "${4:-}" ] && ! kill -0 "$4" 2> /dev/null; then
      line=$(jq -cR "fromjson? | select($2)" "$1" 2> /dev/null | sed -n "${n}p")
      [ -n "$line" ] && { echo "$line"; return 0; }
      return 1
    fi
    [ "$(date +%s)" -ge "$end" ] && return 1
    sleep 0.2
  done
}
# stop PID SECONDS: SIGTERM, then SIGKILL if it outlives SECONDS; reaps it.
stop() {
  kill "$1" 2> /dev/null
  for _ in $(seq $(($2 * 10))); do kill -0 "$1" 2> /dev/null || break; sleep 0.1; done
  kill -9 "$1" 2> /dev/null
  wait "$1" 2> /dev/null
}
mib() { awk -v b="$1" 'BEGIN { printf "%g", b / 1048576 }'; }

lab_up
lab_router c 1
lab_router s 2
lab_router_mode c consistent
lab_router_mode s consistent

# The wire: router c's bridge port moves into namespace $LAB-wc, and a new veth joins that
# namespace to the bridge; wire.py carries every frame between the two.
wire_ns="${LAB}-wc"
ip netns add "$wire_ns"
ip -n "$wire_ns" link set lo up
ip -n "${LAB}-pub" link set "${LAB}Wc" nomaster
ip -n "${LAB}-pub" link set "${LAB}Wc" netns "$wire_ns"
ip link add "${LAB}xc" type veth peer name "${LAB}Xc"
ip link set "${LAB}xc" netns "$wire_ns"
ip link set "${LAB}Xc" netns "${LAB}-pub"
ip -n "${LAB}-pub" link set "${LAB}Xc" master br0 up
ip -n "$wire_ns" link set "${LAB}Wc" promisc on up
ip -n "$wire_ns" link set "${LAB}xc" promisc on up
ip netns exec "$wire_ns" python3 "$here/wire.py" --a "${LAB}Wc" --b "${LAB}xc" \
  --between 10.99.0.11,10.99.0.12 --loss "$loss" --delay "$delay" --reorder "$reorder" \
  --reorder-delay "$reorder_delay" > "$tmp/wire" 2> "$tmp/wire.err" &
wire_pid=$!
if ! lab_wait_ready "$tmp/wire" "$wire_pid" 10; then
  echo "FAIL the wire did not start: $(tail -n3 "$tmp/wire.err" | tr '\n' ' ')"
  echo "0 passed, 1 failed"
  exit 1
fi
echo "# wire between router c and router s: loss $loss each way, delay ${delay} ms each way, reorder $reorder (held ${reorder_delay} ms)"

if ! lab_start_testnet "$js_bin" "$tmp" > "$tmp/why"; then
  echo "FAIL $(cat "$tmp/why")"
  echo "0 passed, 1 failed"
  exit 1
fi
bootstrap=$LAB_BOOTSTRAP
echo "# public testnet at $bootstrap"

peer_of() { # IMPL client|server
  case $1 in
    cpp) if [ "$2" = client ]; then echo "--impl cpp --peer $client_bin"; else echo "--impl cpp --peer $server_bin"; fi ;;
    js) echo "--impl js" ;;
  esac
}
available() { [ "$1" = js ] || [ -x "$([ "$2" = client ] && echo "$client_bin" || echo "$server_bin")" ]; }

# start_server IMPL NAME SEED: sets srv_pid (the fault-peer.js process), srv_kill (the process that
# holds the node) and srv_key; 1 when it did not announce within 60 s.
start_server() {
  # shellcheck disable=SC2046
  lab_exec s node "$peer_js" --role server $(peer_of "$1" server) --bootstrap "$bootstrap" \
    --seed "$3" > "$tmp/$2" 2> "$tmp/$2.err" &
  srv_pid=$!
  lab_wait_ready "$tmp/$2" "$srv_pid" 60 || return 1
  local r
  r=$(grep '"ready"' "$tmp/$2" | head -n1)
  srv_key=$(jq -r .publicKey <<< "$r")
  srv_kill=$(jq -r .pid <<< "$r")
}

# transfer_checks LABEL CLIENT_LINE SERVER_FILE [N]: the echo's checks and figures; the server's
# report is the N-th (1st) conn-closed line in SERVER_FILE.
transfer_checks() {
  local label=$1 r=$2 sc ok secs
  ok=$(jq -r --argjson b "$bytes" --argjson lim "$((transfer_bound * 1000))" \
    'if .ok == true and .bytes == $b and .ms <= $lim then 1 else 0 end' <<< "$r")
  secs=$(jq -r '(.ms // 0) / 1000' <<< "$r")
  check "$ok" "$label: $(mib "$bytes") MiB echoed intact within ${transfer_bound}s" \
    "($(jq -c '{ok, error, ms, sent, received}' <<< "$r"))"
  sc=$(wait_json "$tmp/$3" '.event == "conn-closed"' 20 "" "${4:-1}") || sc='{"none":"no conn-closed line in 20 s"}'
  ok=$(jq -r --argjson b "$bytes" --arg h "$(jq -r .sent <<< "$r")" \
    'if .bytes == $b and .sha256 == $h then 1 else 0 end' <<< "$sc" 2> /dev/null)
  check "${ok:-0}" "$label: the server received exactly the client's $(mib "$bytes") MiB (SHA-256)" \
    "(server: $sc)"
  echo "# $label: open $(jq -r '.openMs | floor' <<< "$r") ms, $(mib "$bytes") MiB each way in ${secs}s" \
    "($(awk -v b="$bytes" -v s="$secs" 'BEGIN { if (s > 0) printf "%.2f", b / 1048576 / s; else printf "?" }') MiB/s each way)," \
    "retransmits: client $(jq -r '.retransmits // "?"' <<< "$r"), server $(jq -r '.retransmits // "?"' <<< "$sc");" \
    "the server's stream closed $(jq -r 'if .none then "?" elif .error == null then "cleanly" else "with \(.error)" end' <<< "$sc")"
}

# kill_client CLIENT_IMPL SERVER_IMPL NAME LABEL: the client's last step ("hang") streams; the
# process holding its node is SIGKILLed mid-stream. The server's stream must end with an error
# within end_bound, and a fresh client process must then connect to the same server and echo.
kill_client() {
  local ci=$1 si=$2 name=$3 label=$4 h e tk secs ok r
  if ! h=$(wait_json "$tmp/$name.client" '.step == "hang"' 60 "$cpid") || [ "$(jq -r .streaming <<< "$h")" != true ]; then
    check 0 "$label: a third connection streams" "(${h:-no line}; $(tail -n2 "$tmp/$name.client.err" | tr '\n' ' '))"
    return
  fi
  sleep 1
  disown "$cpid" 2> /dev/null  # no "Killed" job notice: the kill is the test
  kill -9 "$(jq -r .pid <<< "$h")"
  tk=$(now_ms)
  echo "# $label: SIGKILLed the $ci client (pid $(jq -r .pid <<< "$h")) mid-stream"
  stop "$cpid" 5
  # The server's 2nd connection (after the reconnect's echo, whose line transfer_checks waited for).
  if e=$(wait_json "$tmp/$name.server2" '.event == "conn-closed"' $((end_bound + 30)) "$srv_pid" 2); then
    secs=$(jq -r --argjson tk "$tk" '((.t // 0) - $tk) / 1000' <<< "$e")
    ok=$(jq -r --argjson tk "$tk" --argjson lim "$((end_bound * 1000))" \
      'if .error != null and .t >= $tk and .t - $tk <= $lim then 1 else 0 end' <<< "$e")
    check "$ok" "$label: the server's stream ends with an error within ${end_bound}s of the client's SIGKILL" \
      "($(jq -c '{error, bytes}' <<< "$e"), ${secs}s)"
    echo "# $label: the server's stream ended ${secs}s after the client's SIGKILL: $(jq -r .error <<< "$e")"
  else
    check 0 "$label: the server's stream ends with an error after the client's SIGKILL" \
      "(none within $((end_bound + 30))s; $(tail -n2 "$tmp/$name.server2.err" | tr '\n' ' '))"
  fi
  # shellcheck disable=SC2046
  timeout $((transfer_bound + 90)) ip netns exec "${LAB}-hc" node "$peer_js" --role client \
    $(peer_of "$ci" client) --bootstrap "$bootstrap" --key "$srv_key" --steps transfer \
    --bytes "$bytes" > "$tmp/$name.client2" 2> "$tmp/$name.client2.err"
  if r=$(wait_json "$tmp/$name.client2" '.step == "transfer"' 1); then
    transfer_checks "$label, a fresh client after the kill" "$r" "$name.server2" 3
  else
    check 0 "$label, a fresh client after the kill: a result" "($(tail -n3 "$tmp/$name.client2.err" | tr '\n' ' '))"
  fi
}

run_pair() { # CLIENT_IMPL SERVER_IMPL KILL(0|1)
  local ci=$1 si=$2 kill_=$3 name="$1-$2" label seed steps cpid r e tk secs ok
  label="$ci client -> $si server"
  label=${label//cpp/C++}
  label=${label//js/JS}
  if ! available "$ci" client || ! available "$si" server; then
    echo "SKIPPED $name: tests/interop client_peer / server_peer are not built ($client_bin, $server_bin)"
    return
  fi
  seed=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  lab_flush_mappings c
  lab_flush_mappings s
  if ! start_server "$si" "$name.server" "$seed"; then
    check 0 "$label: the server starts" "($(tail -n3 "$tmp/$name.server.err" | tr '\n' ' '))"
    stop "$srv_pid" 5
    return
  fi
  steps=transfer
  [ "$kill_" = 1 ] && steps=transfer,kill,reconnect,hang
  local t0
  t0=$(now_ms)
  # shellcheck disable=SC2046
  timeout 400 ip netns exec "${LAB}-hc" node "$peer_js" --role client $(peer_of "$ci" client) \
    --bootstrap "$bootstrap" --key "$srv_key" --steps "$steps" --bytes "$bytes" \
    --go "$tmp/$name.go" --end-timeout $((end_bound + 20)) > "$tmp/$name.client" 2> "$tmp/$name.client.err" &
  cpid=$!
  if r=$(wait_json "$tmp/$name.client" '.step == "transfer"' $((transfer_bound + 90)) "$cpid"); then
    transfer_checks "$label" "$r" "$name.server"
  else
    check 0 "$label: a transfer result" "($(tail -n3 "$tmp/$name.client.err" | tr '\n' ' '))"
  fi
  if [ "$kill_" = 1 ]; then
    if ! r=$(wait_json "$tmp/$name.client" '.step == "kill"' 60 "$cpid") || [ "$(jq -r .streaming <<< "$r")" != true ]; then
      check 0 "$label: a second connection streams" "(${r:-no line}; $(tail -n2 "$tmp/$name.client.err" | tr '\n' ' '))"
    else
      sleep 1
      kill -9 "$srv_kill"
      tk=$(now_ms)
      echo "# $label: SIGKILLed the $si server (pid $srv_kill) mid-stream"
      if e=$(wait_json "$tmp/$name.client" '.step == "kill" and has("ended")' $((end_bound + 30)) "$cpid"); then
        secs=$(jq -r --argjson tk "$tk" '((.t // 0) - $tk) / 1000' <<< "$e")
        ok=$(jq -r --argjson tk "$tk" --argjson lim "$((end_bound * 1000))" \
          'if .ended == true and .error != null and .t >= $tk and .t - $tk <= $lim then 1 else 0 end' <<< "$e")
        check "$ok" "$label: the client's stream ends with an error within ${end_bound}s of the server's SIGKILL" \
          "($(jq -c '{ended, error, received}' <<< "$e"), ${secs}s)"
        echo "# $label: the stream ended ${secs}s after the SIGKILL: $(jq -r .error <<< "$e"), $(mib "$(jq -r '.received // 0' <<< "$e")") MiB received on it"
      else
        check 0 "$label: the client reports its stream's end" "($(tail -n2 "$tmp/$name.client.err" | tr '\n' ' '))"
      fi
      check "$(kill -0 "$cpid" 2> /dev/null && echo 1 || echo 0)" "$label: the client process lives on"
      stop "$srv_pid" 5
      local old_key=$srv_key
      if ! start_server "$si" "$name.server2" "$seed"; then
        check 0 "$label: the server restarts" "($(tail -n3 "$tmp/$name.server2.err" | tr '\n' ' '))"
      else
        check "$([ "$srv_key" = "$old_key" ] && echo 1 || echo 0)" "$label: the restarted server has the same key"
        touch "$tmp/$name.go"
        if r=$(wait_json "$tmp/$name.client" '.step == "reconnect"' $((transfer_bound + 120)) "$cpid"); then
          echo "# $label: reconnected after $(jq -r .attempts <<< "$r") attempt(s)"
          transfer_checks "$label, after the restart" "$r" "$name.server2"
        else
          check 0 "$label, after the restart: a result" "($(tail -n3 "$tmp/$name.client.err" | tr '\n' ' '))"
        fi
        kill_client "$ci" "$si" "$name" "$label"
      fi
    fi
  fi
  stop "$cpid" 20
  stop "$srv_pid" 5
  echo "# $label: $(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')s"
}

for pair in $pairs; do
  k=0
  [[ " $kill_pairs " == *" $pair "* ]] && k=1
  run_pair "${pair%-*}" "${pair#*-}" "$k"
done

stop "$wire_pid" 5
w=$(grep '"wire"' "$tmp/wire" | tail -n1)
if [ -n "$w" ]; then
  echo "# wire, router c -> router s: $(jq -c '.wire.up | {impaired, dropped, reordered}' <<< "$w");" \
    "router s -> router c: $(jq -c '.wire.down | {impaired, dropped, reordered}' <<< "$w")"
  # The impairment must have happened: with loss > 0, something was dropped.
  if awk -v l="$loss" 'BEGIN { exit !(l > 0) }'; then
    check "$(jq -r 'if .wire.up.dropped > 0 and .wire.down.dropped > 0 then 1 else 0 end' <<< "$w")" \
      "the wire dropped packets both ways"
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
