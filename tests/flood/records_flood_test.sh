#!/usr/bin/env bash
# flood.records (ctest): a storing C++ node with small record caps under a flood of valid,
# token-carrying record commands from 64 source addresses on 127.0.0.1 (bench/flood_records
# against bench/records_server, the C++ side of bench/run flood_records). Asserts that:
#   * the node answered: every flood message valid, so no error replies, and >= 90 % acknowledged
#     (the rest can only be datagrams the kernel dropped at the node's socket on a loaded box);
#   * the caps hold at every 250 ms sample of the node: at most 2 x max_size + 1 topic records
#     (AnnounceStore rotates once a generation holds more than max_size), max_size mutable and
#     max_size immutable values (max_size / 2 per generation), and at most the byte cap in each;
#   * the caps tripped: each store's rotations dropped entries (the flood writes ~4500 of each
#     kind, several times the caps);
#   * memory stays bounded: VmHWM at most 8 MiB above VmRSS before the flood. The caps bound the
#     data to 3 MiB of entry weight (1 MiB of topic records, 1 MiB per value store) plus its
#     per-entry overhead (~300 B for each of <= 2001 topics, ~6 B of index per value, ~0.7 MiB)
#     and the allocator's slack; measured +3 MiB. The same flood without the small caps holds
#     ~4500 records of each kind, ~12 MiB more;
#   * a legitimate client's rounds (a put and the get that must return it, every 100 ms) succeed
#     >= 95 % under the flood and after it.
# --uncapped starts the node with the default caps, --server-caps "ARGS" with other caps (e.g.
# "--max-size 1000": entry caps only), but the assertions stay: they must fail (this is how the
# test was checked to be able to fail).
#
#   records_flood_test.sh --server PATH/records_server --flood PATH/flood_records
#                         [--uncapped | --server-caps "ARGS"]
set -uo pipefail
server_bin= flood_bin= server_caps=default
while [ $# -gt 0 ]; do
  case "$1" in
    --server) server_bin=$2; shift 2 ;;
    --flood) flood_bin=$2; shift 2 ;;
    --uncapped) server_caps=; shift ;;
    --server-caps) server_caps=$2; shift 2 ;;
    *) echo "usage: $0 --server BIN --flood BIN [--uncapped | --server-caps ARGS]" >&2; exit 2 ;;
  esac
done
[ -x "$server_bin" ] && [ -x "$flood_bin" ] || { echo "records_flood_test: missing binaries" >&2; exit 2; }
command -v jq > /dev/null || { echo "records_flood_test: jq is required" >&2; exit 2; }

cap=1000
cap_bytes=$((1 << 20))
rss_bound_mib=8
tmp=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill -9 "$server_pid" 2> /dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

caps=(--max-size "$cap" --max-record-bytes "$cap_bytes" --max-value-bytes "$cap_bytes")
if [ "$server_caps" != default ]; then
  read -r -a caps <<< "$server_caps"
  echo "# the node's caps: ${caps[*]:-(its defaults)}; the assertions expect the small ones"
fi
port=$((20000 + RANDOM % 30000))
for attempt in 1 2 3 4 5; do
  "$server_bin" --port "$port" --stats-ms 250 "${caps[@]}" > "$tmp/server.out" 2> "$tmp/server.err" &
  server_pid=$!
  for _ in $(seq 100); do
    grep -q '"ready"' "$tmp/server.out" 2> /dev/null && break
    kill -0 "$server_pid" 2> /dev/null || break
    sleep 0.1
  done
  grep -q '"ready"' "$tmp/server.out" 2> /dev/null && break
  kill -9 "$server_pid" 2> /dev/null; wait "$server_pid" 2> /dev/null
  server_pid=
  port=$(( (port - 20000 + 7) % 30000 + 20000 ))
done
[ -n "$server_pid" ] || { echo "FAIL: records_server did not start: $(tail -n2 "$tmp/server.err")"; exit 1; }
port=$(grep '"ready"' "$tmp/server.out" | head -n1 | jq -r .port)

if ! timeout 40 "$flood_bin" --target "127.0.0.1:$port" --server-pid "$server_pid" --sources 64 \
    --rate 3000 --idle 1 --flood 6 --after 1 --legit-ms 100 > "$tmp/gen.json" 2> "$tmp/gen.err"; then
  echo "FAIL: flood_records failed: $(tail -n2 "$tmp/gen.err")"
  exit 1
fi
alive=1
kill -0 "$server_pid" 2> /dev/null || alive=0
kill "$server_pid" 2> /dev/null
for _ in $(seq 50); do kill -0 "$server_pid" 2> /dev/null || break; sleep 0.1; done
server_pid=
grep '"stats"' "$tmp/server.out" | jq -s -c 'map(.stats | select(.storage))' > "$tmp/stats.json"

echo "# generator: $(jq -c 'del(.kinds)' "$tmp/gen.json")"
echo "# node, last sample: $(jq -c 'last' "$tmp/stats.json")"

failed=0
check() { # NAME JQ_EXPR (over {gen, stats, cap, cap_bytes, bound}) -> true/false
  local name=$1 expr=$2 result
  result=$(jq -n --slurpfile g "$tmp/gen.json" --slurpfile s "$tmp/stats.json" --argjson cap "$cap" \
    --argjson cap_bytes "$cap_bytes" --argjson bound "$rss_bound_mib" \
    "\$g[0] as \$gen | \$s[0] as \$stats | ($expr)" 2>&1)
  if [ "$result" = true ]; then
    echo "ok: $name"
  else
    echo "FAIL: $name ($result)"
    failed=1
  fi
}
[ "$alive" = 1 ] && echo "ok: node alive after the flood" || { echo "FAIL: the node died"; failed=1; }
check "no error replies" '$gen.flood_errors == 0'
check "node acknowledged >= 90 % ($(jq .flood_acked_frac "$tmp/gen.json"))" '$gen.flood_acked_frac >= 0.9'
check "flood wrote several times the caps" '[$gen.kinds[] | .sent] | min > 3 * $cap'
check "node sampled" '($stats | length) >= 10'
check "records <= 2 x max_size + 1 (max $(jq 'map(.records) | max' "$tmp/stats.json"))" \
  '$stats | map(.records) | max <= 2 * $cap + 1'
check "mutables <= max_size (max $(jq 'map(.mutables) | max' "$tmp/stats.json"))" \
  '$stats | map(.mutables) | max <= $cap'
check "immutables <= max_size (max $(jq 'map(.immutables) | max' "$tmp/stats.json"))" \
  '$stats | map(.immutables) | max <= $cap'
check "bytes within the byte caps" \
  '$stats | map([.record_bytes, .mutable_bytes, .immutable_bytes] | max) | max <= $cap_bytes'
check "caps tripped (evicted: $(jq -c 'last | [.records_evicted, .mutables_evicted, .immutables_evicted]' "$tmp/stats.json"))" \
  '$stats | last | .records_evicted > 0 and .mutables_evicted > 0 and .immutables_evicted > 0'
check "VmHWM - VmRSS before <= ${rss_bound_mib} MiB ($(jq '.hwm_mib - .rss_mib_before | . * 100 | round / 100' "$tmp/gen.json") MiB)" \
  '$gen.hwm_mib > 0 and $gen.hwm_mib - $gen.rss_mib_before <= $bound'
check "legitimate rounds under flood >= 95 % ($(jq -c '.legit_flood | [.ok, .rounds]' "$tmp/gen.json"))" \
  '$gen.legit_flood.rounds >= 20 and $gen.legit_flood.success >= 0.95'
check "legitimate rounds after the flood >= 95 %" \
  '$gen.legit_after.rounds >= 5 and $gen.legit_after.success >= 0.95'
exit $failed
