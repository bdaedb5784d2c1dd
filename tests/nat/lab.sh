#!/usr/bin/env bash
# tests/nat/lab.sh: a small internet in network namespaces, for the NAT tests. Sourced, not run.
#
#   "internet"  ns $LAB-pub: a bridge, 10.99.0.0/24; the DHT's public nodes live at 10.99.0.1
#   router X    ns $LAB-rX: wan 10.99.0.(10+i) on the bridge, lan 192.168.(i).1/24, NAT by mode
#   host X      ns $LAB-hX: 192.168.(i).2, default route via its router
#   public X    ns $LAB-hX with 10.99.0.(100+i) directly on the bridge (no router): "open"
#
# Router modes (lab_router_mode X MODE [fw]):
#   consistent  iptables MASQUERADE: Linux keeps the source port when it is free, so one socket
#               keeps one public address:port for every destination (endpoint-independent)
#   random      MASQUERADE --random-fully: a fresh random public port per connection (tuple),
#               so every destination sees another port (what hyperdht calls RANDOM)
#   shifted     MASQUERADE --to-ports 20000-29999: consistent as above (Linux reuses a socket's
#               existing mapping for its next flows), but on a port below the kernel's ephemeral
#               range (32768-60999), so no socket keeps its own port: switching a consistent
#               router to shifted and flushing is a NAT rebinding that surely changes the port
#   fw          plus a stateful firewall on the router: inbound only for ESTABLISHED/RELATED
# The internet's distance: each router and public host drops, before connection tracking sees
# them, arriving packets whose TTL says they would have expired on the way (< 10 left; the lab's
# bridge is 0 hops). hyperdht opens NAT sessions with TTL-5 probes so that they leave our NAT
# but die before the remote's: without this rule they reach the remote router, whose conntrack
# then holds the reverse tuple, and a Linux NAT gives the remote's own later packet another
# port (the SNAT clash), so consistent NATs would fail to punch here though they do across a
# real internet.
# Every name carries $LAB (default hd$$) so concurrent labs do not collide; lab_down removes all.
# Needs root (CAP_NET_ADMIN) and iptables; lab_can_run says whether this machine can.

LAB=${LAB:-hd$$}
LAB_HOSTS=()

lab_can_run() {
  [ "$(id -u)" = 0 ] || { echo "not root"; return 1; }
  command -v iptables > /dev/null || { echo "no iptables"; return 1; }
  ip netns add "${LAB}-probe" 2> /dev/null || { echo "cannot create network namespaces (no CAP_NET_ADMIN?)"; return 1; }
  if ! ip netns exec "${LAB}-probe" iptables -t nat -L > /dev/null 2>&1; then
    ip netns del "${LAB}-probe"
    echo "iptables nat table unavailable in a namespace"
    return 1
  fi
  ip netns del "${LAB}-probe"
  return 0
}

lab_up() {
  ip netns add "${LAB}-pub"
  ip -n "${LAB}-pub" link set lo up
  ip -n "${LAB}-pub" link add br0 type bridge
  ip -n "${LAB}-pub" link set br0 up
  ip -n "${LAB}-pub" addr add 10.99.0.1/24 dev br0
}

# lab_router NAME INDEX: a router and the host behind it (192.168.INDEX.0/24)
lab_router() {
  local x=$1 i=$2 rt="${LAB}-r$1" h="${LAB}-h$1"
  ip netns add "$rt"
  ip netns add "$h"
  ip -n "$rt" link set lo up
  ip -n "$h" link set lo up
  ip link add "${LAB}w$x" type veth peer name "${LAB}W$x"
  ip link set "${LAB}w$x" netns "$rt"
  ip link set "${LAB}W$x" netns "${LAB}-pub"
  ip -n "${LAB}-pub" link set "${LAB}W$x" master br0 up
  ip -n "$rt" link set "${LAB}w$x" name wan
  ip -n "$rt" addr add "10.99.0.$((10 + i))/24" dev wan
  ip -n "$rt" link set wan up
  ip link add "${LAB}l$x" type veth peer name "${LAB}L$x"
  ip link set "${LAB}l$x" netns "$rt"
  ip link set "${LAB}L$x" netns "$h"
  ip -n "$rt" link set "${LAB}l$x" name lan
  ip -n "$rt" addr add "192.168.$i.1/24" dev lan
  ip -n "$rt" link set lan up
  ip -n "$h" link set "${LAB}L$x" name eth0
  ip -n "$h" addr add "192.168.$i.2/24" dev eth0
  ip -n "$h" link set eth0 up
  ip -n "$h" route add default via "192.168.$i.1"
  ip netns exec "$rt" sysctl -qw net.ipv4.ip_forward=1
  ip netns exec "$rt" iptables -t raw -A PREROUTING -i wan -m ttl --ttl-lt 10 -j DROP
  LAB_HOSTS+=("$x")
}

# lab_public NAME INDEX: a host with a public address on the bridge (no NAT, no firewall)
lab_public() {
  local x=$1 i=$2 h="${LAB}-h$1"
  ip netns add "$h"
  ip -n "$h" link set lo up
  ip link add "${LAB}p$x" type veth peer name "${LAB}P$x"
  ip link set "${LAB}p$x" netns "$h"
  ip link set "${LAB}P$x" netns "${LAB}-pub"
  ip -n "${LAB}-pub" link set "${LAB}P$x" master br0 up
  ip -n "$h" link set "${LAB}p$x" name eth0
  ip -n "$h" addr add "10.99.0.$((100 + i))/24" dev eth0
  ip -n "$h" link set eth0 up
  ip netns exec "$h" iptables -t raw -A PREROUTING -i eth0 -m ttl --ttl-lt 10 -j DROP
  LAB_HOSTS+=("$x")
}

# lab_router_mode NAME consistent|random|shifted [fw]: (re)configures NAT and firewall, flushing the
# connection tracking so old mappings do not carry over between cases.
lab_router_mode() {
  local rt="${LAB}-r$1" mode=$2 fw=${3:-}
  ip netns exec "$rt" iptables -t nat -F
  ip netns exec "$rt" iptables -F FORWARD
  case $mode in
    consistent) ip netns exec "$rt" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE ;;
    random) ip netns exec "$rt" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully ;;
    shifted)
      # --to-ports needs a protocol; the rest (ICMP) is masqueraded as usual.
      ip netns exec "$rt" iptables -t nat -A POSTROUTING -o wan -p udp -j MASQUERADE --to-ports 20000-29999
      ip netns exec "$rt" iptables -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    *) echo "lab_router_mode: unknown mode $mode" >&2; return 2 ;;
  esac
  if [ "$fw" = fw ]; then
    ip netns exec "$rt" iptables -A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
    ip netns exec "$rt" iptables -A FORWARD -i wan -j DROP
  fi
  lab_flush_mappings "$1"
}

# Forgets every NAT mapping of the router (a NAT rebinding: the next packet gets a new one).
lab_flush_mappings() {
  local rt="${LAB}-r$1"
  if command -v conntrack > /dev/null; then
    ip netns exec "$rt" conntrack -F > /dev/null 2>&1 || true
  else
    # Without conntrack(8): toggling the NAT table's rules does not drop entries, but
    # re-adding the wan address does (entries bound to the old address go).
    local addr
    addr=$(ip -n "$rt" -4 -o addr show dev wan | awk '{print $4}')
    ip -n "$rt" addr flush dev wan
    ip -n "$rt" addr add "$addr" dev wan
  fi
}

# lab_exec NAME CMD...: run in host NAME's namespace ("pub" for the internet's own)
lab_exec() {
  local x=$1
  shift
  if [ "$x" = pub ]; then ip netns exec "${LAB}-pub" "$@"; else ip netns exec "${LAB}-h$x" "$@"; fi
}

# lab_wait_ready FILE PID SECONDS: until FILE holds a {"ready":true,...} line (0), the process
# exits or the time is up (1).
lab_wait_ready() {
  local n=$(($3 * 10))
  for _ in $(seq "$n"); do
    grep -q '"ready"' "$1" 2> /dev/null && return 0
    kill -0 "$2" 2> /dev/null || return 1
    sleep 0.1
  done
  return 1
}

# lab_start_testnet JS_BIN DIR: hyperdht's createTestnet(4) at 10.99.0.1 (bench/js/connect.js
# --role testnet) in the internet's namespace; sets LAB_BOOTSTRAP (host:port). Output in
# DIR/testnet{,.err}. Returns 1 with the reason on stdout if it did not come up in 60 s.
lab_start_testnet() {
  lab_exec pub node "$1" --role testnet --nodes 4 --host 10.99.0.1 > "$2/testnet" 2> "$2/testnet.err" &
  if ! lab_wait_ready "$2/testnet" $! 60; then
    echo "the public testnet did not start: $(tail -n3 "$2/testnet.err")"
    return 1
  fi
  LAB_BOOTSTRAP=$(grep '"ready"' "$2/testnet" | head -n1 | jq -r .bootstrap)
}

lab_down() {
  local ns
  for ns in $(ip netns list 2> /dev/null | awk '{print $1}' | grep "^${LAB}-" || true); do
    ip netns pids "$ns" 2> /dev/null | xargs -r kill -9 2> /dev/null || true
    ip netns del "$ns" 2> /dev/null || true
  done
}
