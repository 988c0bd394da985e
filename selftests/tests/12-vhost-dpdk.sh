#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# DPDK: Debian's unmodified dpdk-testpmd (22.11) drives /dev/vhost-mdev-N through its
# virtio_user PMD, which recognises a vhost-vdpa node by the /proc/devices name of its major.
# io forwarding with --tx-first loops frames through the device for a few seconds; txonly and
# rxonly count frames, and the device's counters agree with testpmd's; with upstream's vhost_vdpa
# loaded after us, DPDK refuses our node, as documented.
. "$(dirname "$0")/../lib.sh"
load_modules
grep -q '^vhost_mdev ' /proc/modules || insmod "$M/vhost_mdev.ko" || fail "insmod vhost_mdev"
command -v dpdk-testpmd >/dev/null || fail "dpdk-testpmd not installed (scripts/setup.sh installs dpdk-dev)"
ulimit -l unlimited

# virtio_user takes the first /proc/devices line that starts with "vhost-vdpa": with upstream's
# vhost_vdpa loaded after us, that line is upstream's (Documentation/vhost-uapi.rst). Unload it
# for this test, as a user of our stack alone would have it.
if grep -q '^vhost_vdpa ' /proc/modules; then
	rmmod vhost_vdpa || fail "rmmod vhost_vdpa"
fi
grep -E 'vhost-vdpa' /proc/devices | sed 's/^/\/proc\/devices: /'

uuid=$(new_uuid)
dev=$(create_vhost "$uuid") || exit 1
find_vmdev "$uuid" || fail "no vmdev for $uuid"
v=$VMDEV
mac=$(cat "/sys/bus/vmdev/devices/$v/mac")
note "testpmd on $dev ($v, mac $mac)"

# testpmd MODE SECONDS [ARGS...]: runs testpmd non-interactively in MODE; once it forwards
# (it prints "Press enter to exit": starting DPDK takes several seconds under TCG), lets it run
# for SECONDS, then stops it with a line on its input. Leaves its output in /tmp/testpmd.MODE
# and sets PMD_RX and PMD_TX from its port 0 statistics and DEV_RX and DEV_TX from the
# device's counters (deltas).
testpmd() {
	local mode=$1 secs=$2 rx0 tx0 log=/tmp/testpmd.$1 fifo=/tmp/testpmd.in pid rc
	shift 2
	rx0=$(stat_of "$v" rx_packets) tx0=$(stat_of "$v" tx_packets)
	rm -f "$fifo"; mkfifo "$fifo"
	# Line-buffered: the start message must reach the log while testpmd runs.
	stdbuf -oL dpdk-testpmd -l 0-1 -n 1 --no-shconf --no-huge -m 64 --no-pci \
		--vdev "virtio_user0,path=$dev,queue_size=256" -- \
		--port-topology=loop --nb-cores=1 --total-num-mbufs=2048 --disable-link-check \
		--forward-mode="$mode" --eth-peer="0,$mac" "$@" <"$fifo" >"$log" 2>&1 &
	pid=$!
	exec 7>"$fifo"
	if wait_for 120 grep -q 'Press enter to exit' "$log"; then
		sleep "$secs"
	else
		note "$mode: testpmd did not start forwarding within 120 s"
	fi
	echo >&7
	exec 7>&-
	wait_for 60 sh -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid"
	wait "$pid"
	rc=$?
	DEV_RX=$(($(stat_of "$v" rx_packets) - rx0)) DEV_TX=$(($(stat_of "$v" tx_packets) - tx0))
	# The first "Forward statistics for port 0" block: RX-packets and TX-packets.
	PMD_RX=$(awk '/Forward statistics for port 0/ {f=1} f && /RX-packets:/ {print $2; exit}' "$log")
	PMD_TX=$(awk '/Forward statistics for port 0/ {f=1} f && /TX-packets:/ {print $2; exit}' "$log")
	note "$mode: testpmd rx ${PMD_RX:-?} tx ${PMD_TX:-?}, device rx $DEV_RX tx $DEV_TX (exit $rc)"
	if [ $rc != 0 ] || [ -z "$PMD_RX" ] || [ -z "$PMD_TX" ]; then
		grep -vE '^\s*$' "$log" | tail -40
		return 1
	fi
}

# within A B SLACK: |A - B| <= SLACK. Frames still in a ring when testpmd stops count on one
# side only; a ring holds 256.
within() { local d=$(($1 - $2)); [ ${d#-} -le "$3" ]; }

ktap_plan 4
bad=0

# io: the --tx-first burst keeps circling (device TX -> RX -> testpmd -> TX).
if testpmd io 4 --tx-first && [ "$PMD_RX" -ge 1000 ] && within "$PMD_TX" "$DEV_TX" 256 &&
	within "$PMD_RX" "$DEV_RX" 256; then
	ktap_sub ok "io-tx-first-loops"
else
	note "io: expected at least 1000 frames looped and counters within a ring of each other"
	ktap_sub fail "io-tx-first-loops"; bad=1
fi

# txonly: testpmd only sends and never reads; the device keeps taking frames from the TX
# ring and drops what finds no receive buffer once the RX ring is full.
drops0=$(stat_of "$v" rx_drops)
if testpmd txonly 3 && [ "$PMD_TX" -ge 1000 ] && within "$PMD_TX" "$DEV_TX" 256 &&
	[ "$DEV_RX" -le 256 ] && [ $(($(stat_of "$v" rx_drops) - drops0)) = $((DEV_TX - DEV_RX)) ]; then
	ktap_sub ok "txonly-counts"
else
	ktap_sub fail "txonly-counts"; bad=1
fi

# rxonly with one --tx-first burst: every frame sent comes back and is counted, exactly.
if testpmd rxonly 2 --tx-first && [ "$PMD_TX" -gt 0 ] && [ "$PMD_RX" = "$PMD_TX" ] &&
	[ "$DEV_TX" = "$PMD_TX" ] && [ "$DEV_RX" = "$PMD_RX" ]; then
	ktap_sub ok "rxonly-exact"
else
	ktap_sub fail "rxonly-exact"; bad=1
fi

# Upstream's vhost_vdpa loaded after us gets the lower major, so its /proc/devices line comes
# first and DPDK no longer recognises our node (the rule vhost-uapi.rst documents).
modprobe vhost_vdpa || fail "modprobe vhost_vdpa"
first=$(awk '$2 ~ /^vhost-vdpa/ {print $2; exit}' /proc/devices)
timeout 120 dpdk-testpmd -l 0-1 -n 1 --no-shconf --no-huge -m 64 --no-pci \
	--vdev "virtio_user0,path=$dev" -- --nb-cores=1 </dev/null >/tmp/testpmd.both 2>&1
rc=$?
refused=$(grep -c 'unable to determine backend type' /tmp/testpmd.both)
note "with vhost_vdpa loaded after vhost_mdev: first vhost-vdpa line '$first', testpmd exit $rc, refusals $refused"
if [ "$first" = vhost-vdpa ] && [ $rc != 0 ] && [ "$refused" -ge 1 ]; then
	ktap_sub ok "upstream-loaded-after-takes-the-name"
else
	ktap_sub fail "upstream-loaded-after-takes-the-name"; bad=1
fi
rmmod vhost_vdpa

mdev_remove "$uuid"
[ $bad = 0 ] || fail "see the subtests above"
exit 0
