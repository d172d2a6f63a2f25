#!/usr/bin/env bash
# test/faults/net/topology.sh -- the network fault suite's private network, built from the
# machine's own network namespaces. Needs root, `ip` and python3 (installed when missing).
#
#   up     (idempotent: removes leftovers first) namespaces trib-sw (the switch), trib-broker,
#          trib-influx, trib-redis, trib-w0, trib-w1, trib-w2; one TAP link per host from the
#          switch (test/faults/net/switch.py, run in trib-sw) named eth0 in its namespace; the root
#          namespace joins as host `ctl` on trib-ctl (the test process: publisher and queries).
#   down   kills every process left in those namespaces, deletes them and trib-ctl.
#   hup    tells the switch to re-read $STATE/rules.json.
#
# Addresses: $TRIB_NET.0/24 only (ctl .1, broker .10, influx .11, redis .12, w0..w2 .20-.22). No
# namespace has a default route or any other link, and the root namespace gets only the connected
# route of trib-ctl, so nothing sent on this network can leave the machine.
set -euo pipefail

TRIB_NET=${TRIB_NET:-10.213.77}
STATE=${TRIB_NET_STATE:-/tmp/tributary-netfaults}
HOSTS=(ctl broker influx redis w0 w1 w2)
MTU=${TRIB_NET_MTU:-1500}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

addr_of() {
  case $1 in
    ctl) echo "$TRIB_NET.1" ;; broker) echo "$TRIB_NET.10" ;; influx) echo "$TRIB_NET.11" ;;
    redis) echo "$TRIB_NET.12" ;; w0) echo "$TRIB_NET.20" ;; w1) echo "$TRIB_NET.21" ;; w2) echo "$TRIB_NET.22" ;;
  esac
}

namespaces() { echo trib-sw; for h in "${HOSTS[@]}"; do [[ $h == ctl ]] || echo "trib-$h"; done; }

down() {
  local ns pids
  for ns in $(namespaces); do
    ip netns list | grep -qw "^$ns" || continue
    pids=$(ip netns pids "$ns" || true)
    # Only processes inside our own namespaces: the switch, the services, workers, left behind.
    if [[ -n $pids ]]; then kill -CONT $pids 2>/dev/null || true; kill -KILL $pids 2>/dev/null || true; fi
  done
  sleep 0.2
  for ns in $(namespaces); do ip netns del "$ns" 2>/dev/null || true; done
  ip link del trib-ctl 2>/dev/null || true
  rm -f "$STATE/switch.ready" "$STATE/rules.applied"
}

python() {
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; return; fi
  if ! command -v python3 >/dev/null; then
    echo "[netfaults] installing python3 (the switch runs on it)" >&2
    { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3; } </dev/null >&2
  fi
  command -v python3
}

up() {
  down
  mkdir -p "$STATE"
  if ip -4 addr show | grep -q "inet $TRIB_NET\." || [[ -n $(ip route show "$TRIB_NET.0/24") ]]; then
    echo "[netfaults] $TRIB_NET.0/24 is already in use on this machine; set TRIB_NET to a free private /24" >&2
    exit 1
  fi
  local py
  py=$(python)
  echo '{"gen": 0}' >"$STATE/rules.json"
  local ns h
  for ns in $(namespaces); do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  done
  # The switch creates tt-<host> in trib-sw and holds the TAP file descriptors.
  ip netns exec trib-sw setsid "$py" "$HERE/switch.py" "$STATE" "${HOSTS[@]}" \
    </dev/null >>"$STATE/switch.log" 2>&1 &
  for _ in $(seq 100); do [[ -s $STATE/switch.ready ]] && break; sleep 0.05; done
  [[ -s $STATE/switch.ready ]] || { echo "switch did not start; see $STATE/switch.log" >&2; exit 1; }
  for h in "${HOSTS[@]}"; do
    if [[ $h == ctl ]]; then
      ip -n trib-sw link set "tt-$h" netns 1
      ip link set "tt-$h" name trib-ctl
      sysctl -qw net.ipv6.conf.trib-ctl.disable_ipv6=1
      # Ethernet's MTU, so that a lost frame is one lost packet as on a real link.
      ip link set trib-ctl mtu "$MTU" up
      ip addr add "$(addr_of "$h")/24" dev trib-ctl
    else
      ip -n trib-sw link set "tt-$h" netns "trib-$h"
      ip -n "trib-$h" link set "tt-$h" name eth0
      ip -n "trib-$h" link set eth0 mtu "$MTU" up
      ip -n "trib-$h" addr add "$(addr_of "$h")/24" dev eth0
    fi
  done
}

case ${1:-} in
  up) up ;;
  down) down ;;
  hup) kill -HUP "$(cat "$STATE/switch.ready")" ;;
  *) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
