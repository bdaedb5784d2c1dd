#!/usr/bin/env bash
# tests/nat/nat-matrix.sh [--impls "js-js cpp-cpp cpp-js js-cpp"] [--cases "..."]
# Connects across real NATs (iptables in network namespaces, tests/nat/lab.sh): a public
# hyperdht testnet of 4 JS nodes, a client host and a server host each behind its own router (or
# public), in the router modes of each case, and for each implementation pair (client-server) one
# connect + echo with bench/js/connect.js (JS) or bench/connect_peer (C++). The matrix prints as a
# table. Checks: JS -> JS connects where hyperdht must (consistent NATs, open sides) and fails with HOLEPUNCH_ABORTED when both are random (no relay is configured; the
# reference's probe round raises HOLEPUNCH_DOUBLE_RANDOMIZED_NATS there, but destroying the
# puncher first fires its onabort, which fails the socket with HOLEPUNCH_ABORTED, and that is
# what a JS user sees); every other pair ends as JS -> JS did in the same case (or better: a
# connect where a random punch's luck failed the JS pair is not a failure). A case with one random
# side that fails gets a second attempt, for every pair alike; there JS -> JS is only reported
# (the reference's random punch can lose twice) and C++ -> C++ must connect. Skips loudly (exit 77) without
# root, namespaces or iptables. Every wait is bounded. Last line: "N passed, N failed".
# The random:random row is also run via a blind relay (off with --no-relay): a JS blind relay
# (blind-relay's Server on a hyperdht server) and a C++ one (BlindRelayService), each on a
# public, persistent node of lab host R; the server and the client both set relayThrough to its
# key (tests/nat/relay-peer.js; the C++ ends are tests/interop/server_peer and client_peer);
# every pair must connect through it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${HDHT_BUILD:-$root/build}
export HDHT_INTEROP=${HDHT_INTEROP:-$root/tests/interop}
js_bin=$root/bench/js/connect.js
cpp_bin=$build/bench/connect_peer
impls="js-js cpp-cpp cpp-js js-cpp"
# client-server router modes; "open" = a public host, "+fw" = stateful firewall on the router
cases="consistent:consistent consistent+fw:consistent+fw random:consistent consistent:random random:random open:consistent consistent:open"
relay_row=1
relay_bin=$here/relay-peer.js
while [ $# -gt 0 ]; do
  case $1 in
    --impls) impls=$2; shift 2 ;;
    --cases) cases=$2; shift 2 ;;
    --no-relay) relay_row=0; shift ;;
    *) echo "usage: nat-matrix.sh [--impls LIST] [--cases LIST] [--no-relay]" >&2; exit 2 ;;
  esac
done

# shellcheck source=lab.sh
. "$here/lab.sh"
if ! why=$(lab_can_run); then
  echo "SKIPPED: the NAT lab needs root, network namespaces and iptables: $why"
  exit 77
fi
[ -f "$js_bin" ] || { echo "missing $js_bin"; exit 1; }

tmp=$(mktemp -d)
cleanup() { lab_down; rm -rf "$tmp"; }
trap cleanup EXIT
passed=0
failed=0
check() { # OK NAME [DETAIL]
  if [ "$1" = 1 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2 ${3:-}"; fi
}

lab_up
lab_router c 1
lab_router s 2
lab_public C 3
lab_public S 4
[ $relay_row = 1 ] && lab_public R 5

cmd_of() {
  case $1 in
    cpp) echo "$cpp_bin" ;;
    js) echo "node $js_bin" ;;
  esac
}
available() { # IMPL
  [ "$1" = js ] && return 0
  [ -x "$cpp_bin" ] && "$cpp_bin" --capabilities > /dev/null 2>&1
}

if ! lab_start_testnet "$js_bin" "$tmp" > "$tmp/why"; then
  echo "FAIL $(cat "$tmp/why")"
  echo "0 passed, 1 failed"
  exit 1
fi
bootstrap=$LAB_BOOTSTRAP
echo "# public testnet at $bootstrap"

# side SPEC -> "host mode fw": which lab host and router mode a case side uses
side_host() { case $1 in open) echo "$2" | tr 'cs' 'CS' ;; *) echo "$2" ;; esac; }
configure() { # SIDE(c|s) SPEC
  local spec=$2
  [ "$spec" = open ] && return 0
  local mode=${spec%+fw} fw=
  [ "$mode" != "$spec" ] && fw=fw
  lab_router_mode "$1" "$mode" $fw
}

# run_case CLIENT_IMPL SERVER_IMPL CLIENT_SPEC SERVER_SPEC -> prints "ok" or the error code
run_case() {
  local ci=$1 si=$2 cspec=$3 sspec=$4 name="$1-$2.$3.$4"
  local ch sh
  ch=$(side_host "$cspec" c)
  sh=$(side_host "$sspec" s)
  # shellcheck disable=SC2046
  lab_exec "$sh" $(cmd_of "$si") --role server --bootstrap "$bootstrap" --host 0.0.0.0 \
    > "$tmp/$name.server" 2> "$tmp/$name.server.err" &
  local spid=$!
  if ! lab_wait_ready "$tmp/$name.server" "$spid" 60; then
    kill "$spid" 2> /dev/null
    echo "SERVER_DID_NOT_START"
    return
  fi
  local key
  key=$(grep '"ready"' "$tmp/$name.server" | head -n1 | jq -r .publicKey)
  # shellcheck disable=SC2046
  # --timeout 240: 60 s for the connect, past the ~35 s a random punch may take.
  timeout 260 ip netns exec "${LAB}-h$ch" $(cmd_of "$ci") --role client \
    --bootstrap "$bootstrap" --host 0.0.0.0 --key "$key" --sequential 1 --total 0 --timeout 240 \
    > "$tmp/$name.client" 2> "$tmp/$name.client.err"
  kill "$spid" 2> /dev/null
  wait "$spid" 2> /dev/null
  local r
  r=$(tail -n1 "$tmp/$name.client")
  if jq -e '.sequential.n == 1' <<< "$r" > /dev/null 2>&1; then
    echo "ok $(jq -c '{open_ms: .sequential.open_ms.median, punches, firewalled}' <<< "$r")"
  elif jq -e '.failures | length > 0' <<< "$r" > /dev/null 2>&1; then
    echo "$(jq -r '.failures | keys[0]' <<< "$r") $(jq -c '{punches, firewalled}' <<< "$r")"
  else
    echo "NO_RESULT $(tail -n2 "$tmp/$name.client.err" | tr '\n' ' ')"
  fi
}

# run_relay_case CLIENT_IMPL SERVER_IMPL RELAY_KEY -> "ok {...}" or the error, both ends behind
# their routers (random:random) with relayThrough = RELAY_KEY.
relay_available() { [ "$1" = js ] || [ -x "$build/tests/$2_peer" ]; } # IMPL client|server
relay_peer_of() { case $1 in cpp) echo "--impl cpp --peer $build/tests/$2_peer" ;; js) echo "--impl js" ;; esac; }
run_relay_case() {
  local ci=$1 si=$2 rkey=$3 name="relay.$1-$2"
  # shellcheck disable=SC2046
  lab_exec s node "$relay_bin" --role server $(relay_peer_of "$si" server) --bootstrap "$bootstrap" \
    --relay-through "$rkey" > "$tmp/$name.server" 2> "$tmp/$name.server.err" &
  local spid=$!
  if ! lab_wait_ready "$tmp/$name.server" "$spid" 60; then
    kill "$spid" 2> /dev/null
    echo "SERVER_DID_NOT_START"
    return
  fi
  local key r
  key=$(grep '"ready"' "$tmp/$name.server" | head -n1 | jq -r .publicKey)
  # shellcheck disable=SC2046
  timeout 120 ip netns exec "${LAB}-hc" node "$relay_bin" --role client $(relay_peer_of "$ci" client) \
    --bootstrap "$bootstrap" --key "$key" --relay-through "$rkey" --timeout 90 \
    > "$tmp/$name.client" 2> "$tmp/$name.client.err"
  kill "$spid" 2> /dev/null
  wait "$spid" 2> /dev/null
  r=$(tail -n1 "$tmp/$name.client")
  if jq -e '.ok == true' <<< "$r" > /dev/null 2>&1; then
    echo "ok $(jq -c '{ms, path}' <<< "$r")"
  else
    echo "$(jq -r '.error // "NO_RESULT"' <<< "$r" 2> /dev/null || echo NO_RESULT) $(tail -n2 "$tmp/$name.client.err" | tr '\n' ' ')"
  fi
}

declare -A result
table=()
for case_ in $cases; do
  cspec=${case_%%:*}
  sspec=${case_#*:}
  configure c "$cspec"
  configure s "$sspec"
  for pair in $impls; do
    ci=${pair%-*}
    si=${pair#*-}
    if ! available "$ci" || ! available "$si"; then
      result["$case_/$pair"]="SKIPPED"
      continue
    fi
    lab_flush_mappings c
    lab_flush_mappings s
    t0=$(date +%s.%N)
    out=$(run_case "$ci" "$si" "$cspec" "$sspec")
    # A punch with one random side is a lottery (random ports against 256 birthday sockets):
    # it usually wins in seconds, and can lose, in both implementations (locally a C++ -> C++
    # and, in CI, a JS -> C++ pair lost a draw each; JS -> JS lost two running in an earlier
    # CI). Such a case gets up to three draws, for every pair; a lost draw costs ~38 s.
    draw=1
    while [ "${out%% *}" != ok ] && [ $draw -lt 3 ] && [[ "$case_" == *random* ]] &&
          [ "$case_" != random:random ]; do
      echo "# $cspec -> $sspec, $ci -> $si: draw $draw: $out; drawing again"
      draw=$((draw + 1))
      lab_flush_mappings c
      lab_flush_mappings s
      out=$(run_case "$ci" "$si" "$cspec" "$sspec")
    done
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    result["$case_/$pair"]=${out%% *}
    echo "# $cspec -> $sspec, $ci -> $si: $out (${secs}s)"
  done
done

# relay_row IMPL(js|cpp) NAME: a blind relay on the public host R, then every pair once through
# it with both routers random; the checks are added at once.
relay_row() {
  local impl=$1 label=$2 case_=random:random+$1-relay relay_pid relay_key got
  table_cases="$table_cases $case_"
  if ! relay_available "$impl" server; then
    for pair in $impls; do result["$case_/$pair"]=SKIPPED; done
    echo "SKIPPED $label: tests/interop server_peer is not built"
    return
  fi
  # shellcheck disable=SC2046
  lab_exec R node "$relay_bin" --role relay $(relay_peer_of "$impl" server) --bootstrap "$bootstrap" \
    > "$tmp/relay.$impl" 2> "$tmp/relay.$impl.err" &
  relay_pid=$!
  if ! lab_wait_ready "$tmp/relay.$impl" "$relay_pid" 60; then
    check 0 "the $label starts" "$(tail -n3 "$tmp/relay.$impl.err" | tr '\n' ' ')"
    kill "$relay_pid" 2> /dev/null
    return
  fi
  relay_key=$(grep '"ready"' "$tmp/relay.$impl" | head -n1 | jq -r .publicKey)
  echo "# $label $relay_key"
  configure c random
  configure s random
  for pair in $impls; do
    ci=${pair%-*}
    si=${pair#*-}
    if ! relay_available "$ci" client || ! relay_available "$si" server; then
      result["$case_/$pair"]="SKIPPED"
      echo "SKIPPED $pair, $case_: tests/interop client_peer / server_peer are not built"
      continue
    fi
    lab_flush_mappings c
    lab_flush_mappings s
    t0=$(date +%s.%N)
    out=$(run_relay_case "$ci" "$si" "$relay_key")
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    got=${out%% *}
    result["$case_/$pair"]=$got
    echo "# random -> random via the $label, $ci -> $si: $out (${secs}s)"
    check "$([ "$got" = ok ] && echo 1 || echo 0)" "$pair, client random:random server via the $label: connects" "(got $got)"
  done
  kill "$relay_pid" 2> /dev/null
  wait "$relay_pid" 2> /dev/null
}

table_cases=$cases
if [ $relay_row = 1 ]; then
  relay_row js "JS blind relay"
  relay_row cpp "C++ blind relay"
fi

# The expectations. With no random side, JS -> JS must connect (random:random: fail with
# HOLEPUNCH_ABORTED) and every other pair must end as JS -> JS did. With one random side the
# reference's own punch is a lottery that JS -> JS can lose twice running (seen in CI: its
# consistent client's random probes missed the server's birthday sockets in both draws while
# all three pairs with a C++ end connected), so there JS -> JS is reported, not asserted; the
# C++ -> C++ pair must connect, and the mixed pairs must end as JS -> JS did or connect.
for case_ in $cases; do
  js=${result["$case_/js-js"]:-SKIPPED}
  lottery=0
  [[ "$case_" == *random* ]] && [ "$case_" != random:random ] && lottery=1
  case $case_ in
    random:random) want=HOLEPUNCH_ABORTED ;;
    *) want=ok ;;
  esac
  if [[ " $impls " == *" js-js "* ]]; then
    if [ $lottery = 1 ]; then
      echo "# JS -> JS, client $case_ server: $js (reported: one random side)"
    else
      check "$([ "$js" = "$want" ] && echo 1 || echo 0)" "JS -> JS, client $case_ server: $want" "(got $js)"
    fi
  fi
  for pair in $impls; do
    [ "$pair" = js-js ] && continue
    got=${result["$case_/$pair"]}
    if [ "$got" = SKIPPED ]; then
      echo "SKIPPED $pair, $case_: bench/connect_peer (the C++ side) is not built"
      continue
    fi
    ok=0
    if [ $lottery = 1 ] && [ "$pair" = cpp-cpp ]; then
      [ "$got" = ok ] && ok=1
      check "$ok" "$pair, client $case_ server: connects (random punch, 3 draws at most)" "(got $got)"
      continue
    fi
    [ "$got" = "$js" ] && ok=1
    [ "$got" = ok ] && [ "$want" = ok ] && ok=1
    check "$ok" "$pair, client $case_ server: as JS -> JS ($js)" "(got $got)"
  done
done

echo
printf '%-28s' "client:server"
for pair in $impls; do printf '%-34s' "$pair"; done
echo
for case_ in $table_cases; do
  printf '%-28s' "$case_"
  for pair in $impls; do printf '%-34s' "${result["$case_/$pair"]}"; done
  echo
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
