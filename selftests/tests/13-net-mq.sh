#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Multiqueue, kernel personality: an instance with max_queue_pairs 4 under the unmodified
# virtio_net. `ethtool -L combined N` sets the pairs in use through the control queue; frames
# sent from each CPU leave on that CPU's queue pair and come back on the same pair's receive
# queue, and the device's per-pair counters equal virtio_net's per-queue ones exactly.
# Then the vhost personality: the client brings a device up with two of its four pairs in use
# (MQ_VQ_PAIRS_SET on the control queue) and loops frames on both at once, one thread each.
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
command -v ethtool >/dev/null || fail "ethtool not installed (scripts/setup.sh installs it)"
/usr/bin/python3 -c 'import yaml' || fail "python3-yaml not installed (scripts/setup.sh installs it)"
ktap_plan 5
bad=0
sub() { [ "$1" = ok ] || bad=1; ktap_sub "$1" "$2"; }

MAC=02:c0:00:00:00:11
uuid=$(new_uuid)
v=$(create_unbound "$uuid")
D=/sys/bus/vmdev/devices/$v

# 1. The setting: 1 to 8 before a driver binds, then fixed.
ok=ok
for bad_n in 0 9 x; do
	echo $bad_n >"$D/max_queue_pairs" 2>/dev/null && { ok=fail; note "max_queue_pairs $bad_n accepted"; }
done
echo 4 >"$D/max_queue_pairs" || { ok=fail; note "max_queue_pairs 4 refused"; }
echo $MAC >"$D/mac" || fail "set mac"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v to virtio_mdev"
wait_for 20 netdev_of "$uuid" || fail "no interface for $uuid"
nd=$(netdev_of "$uuid")
# No IPv6 on it: the kernel's own multicast (router and neighbour solicitations, MLD) would
# keep the counters moving while they are compared.
sysctl -qw "net.ipv6.conf.$nd.disable_ipv6=1" || true
ip link set dev "$nd" up || fail "link up $nd"
echo 2 >"$D/max_queue_pairs" 2>/dev/null && { ok=fail; note "max_queue_pairs changed while bound"; }
max=$(ethtool -l "$nd" | awk '/maximums/ {m=1} m && /Combined/ {print $2; exit}')
[ "$max" = 4 ] || { ok=fail; note "virtio_net sees $max combined channels at most, expected 4"; }
sub $ok setting

per_pair() { cat "$D/stats/$1"; }
# virtio_net reports per-queue packets through the netdev netlink family (qstats), which the
# kernel tree's ynl client reads.
KSRC=$(readlink -f "$(dirname "$M")/source")

# snapshot: the device's per-pair counters (rx, dr, tx) and virtio_net's per-queue packets
# (krx, ktx), for pairs 0 to 3.
snapshot() {
	read -ra rx <<<"$(cat "$D/stats/rx_packets_per_pair")"
	read -ra dr <<<"$(cat "$D/stats/rx_drops_per_pair")"
	read -ra tx <<<"$(cat "$D/stats/tx_packets_per_pair")"
	local k
	k=$(/usr/bin/python3 "$KSRC/tools/net/ynl/cli.py" --no-schema --output-json \
		--spec "$KSRC/Documentation/netlink/specs/netdev.yaml" --dump qstats-get \
		--json "{\"ifindex\": $(cat /sys/class/net/$nd/ifindex), \"scope\": \"queue\"}" |
		/usr/bin/python3 -c 'import json, sys
n = {"rx": [0] * 4, "tx": [0] * 4}
for q in json.load(sys.stdin):
    if q["queue-id"] < 4:
        n[q["queue-type"]][q["queue-id"]] = q[q["queue-type"] + "-packets"]
print(*n["rx"], *n["tx"])')
	read -ra kq <<<"$k"
	krx=("${kq[@]:0:4}") ktx=("${kq[@]:4:4}")
}

# traffic: frames from every CPU, one pktloop pinned to each.
traffic() {
	local cpu
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		taskset -c "$cpu" "$PKTLOOP" "$nd" $MAC 60 1514 61 >/dev/null 2>&1 ||
			{ note "pktloop on CPU $cpu lost frames"; return 1; }
	done
}

# steered N [quiet]: every frame a pair transmitted was received or dropped (by the receive
# filter: the kernel's own multicast) on that same pair, virtio_net's per-queue counts equal
# the device's, only the first N pairs carry frames, and (N > 1) at least two do.
steered() {
	local n=$1 say=note p used=0 ok=0
	[ -n "${2:-}" ] && say=:
	snapshot
	for p in 0 1 2 3; do
		[ $((rx[p] + dr[p])) = "${tx[$p]}" ] ||
			{ $say "pair $p: rx ${rx[$p]} + dropped ${dr[$p]} != tx ${tx[$p]}"; ok=1; }
		[ "${tx[$p]}" -gt 0 ] && used=$((used + 1))
		if [ $p -ge "$n" ]; then
			[ "${tx[$p]}" = 0 ] || { $say "pair $p is not in use but carried ${tx[$p]}"; ok=1; }
		elif [ "${krx[$p]}" != "${rx[$p]}" ] || [ "${ktx[$p]}" != "${tx[$p]}" ]; then
			$say "pair $p: virtio_net counts rx ${krx[$p]} tx ${ktx[$p]}, the device rx ${rx[$p]} tx ${tx[$p]}"
			ok=1
		fi
	done
	[ "$n" = 1 ] || [ $used -ge 2 ] || { $say "only $used pair(s) carried frames"; ok=1; }
	return $ok
}

# settled N: steered N, allowing a few seconds for frames still in flight (virtio_net counts a
# transmitted frame when it reclaims its buffer).
settled() {
	local i
	for i in 1 2 3 4 5; do
		steered "$1" quiet && break
		sleep 1
	done
	steered "$1" && note "combined $1: per pair rx ${rx[*]}, dropped ${dr[*]}, tx ${tx[*]}"
}

# 2. Four pairs: each CPU's frames leave and come back on its own pair.
ok=ok
ethtool -L "$nd" combined 4 || { ok=fail; note "ethtool -L combined 4 failed"; }
traffic || ok=fail
settled 4 || ok=fail
sub $ok combined-4-steered

# 3. Back to one pair: new frames use pair 0 only.
ok=ok
ethtool -L "$nd" combined 1 || { ok=fail; note "ethtool -L combined 1 failed"; }
before=$(per_pair tx_packets_per_pair)
traffic || ok=fail
read -ra b <<<"$before"
read -ra a <<<"$(per_pair tx_packets_per_pair)"
for p in 1 2 3; do
	[ "${a[$p]}" = "${b[$p]}" ] || { ok=fail; note "pair $p carried frames with one pair in use"; }
done
[ "${a[0]}" -gt "${b[0]}" ] || { ok=fail; note "pair 0 carried nothing"; }
sub $ok combined-1

# 4. Every command virtio_net sent was accepted.
errs=$(stat_of "$v" ctrl_errors)
[ "$errs" = 0 ] && sub ok no-refused-commands || { note "ctrl_errors $errs"; sub fail no-refused-commands; }

mdev_remove "$uuid"

# 5. vhost: two pairs in use, each looping its own frames, in parallel.
ok=ok
uuid=$(new_uuid)
dev=$(create_vhost "$uuid") || exit 1
v=$(vmdev_of "$uuid")
ulimit -l unlimited
if res=$(watchdog 120 "$VHOST_CLIENT" bench --dev "$dev" --pairs 2 --size 256 --seconds 2); then
	note "vhost, 2 pairs: $(grep -E 'fps per pair' <<<"$res")"
	read -ra fps <<<"$(grep 'fps per pair' <<<"$res" | cut -d' ' -f5-)"
	[ "${#fps[@]}" = 2 ] && [ "${fps[0]}" -gt 0 ] && [ "${fps[1]}" -gt 0 ] ||
		{ ok=fail; note "not both pairs looped frames: $res"; }
else
	ok=fail; note "vhost_client bench --pairs 2 failed: $res"
fi
read -ra rx <<<"$(stat_of "$v" rx_packets_per_pair)"
read -ra dr <<<"$(stat_of "$v" rx_drops_per_pair)"
read -ra tx <<<"$(stat_of "$v" tx_packets_per_pair)"
note "vhost, 2 pairs: device per pair rx ${rx[*]}, dropped ${dr[*]}, tx ${tx[*]}"
for p in 0 1 2 3; do
	[ $((rx[p] + dr[p])) = "${tx[$p]}" ] || { ok=fail; note "pair $p: rx + dropped != tx"; }
	if [ $p -lt 2 ]; then
		[ "${rx[$p]}" -gt 0 ] || { ok=fail; note "pair $p received nothing"; }
	else
		[ "${tx[$p]}" = 0 ] || { ok=fail; note "pair $p is not in use but carried ${tx[$p]}"; }
	fi
done
sub $ok vhost-2-pairs-parallel
mdev_remove "$uuid"
[ $bad = 0 ] || fail "see the subtests above"
exit 0
