# SPDX-License-Identifier: GPL-2.0
# Helpers for the guest-side selftests. Sourced by each test.
# shellcheck shell=bash
set -u
M=${VMDEV_MODULES:?not in the test VM}
SIM_TYPE=/sys/class/mdev_bus/vmdev_sim/mdev_supported_types/vmdev_sim-net
BLK_TYPE=/sys/class/mdev_bus/vmdev_sim_blk/mdev_supported_types/vmdev_sim-blk

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "$*"; }
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
	local what=$1; shift
	"$@" || fail "$what"
}
# watch_pid SECS PID: waits for PID, a child of this shell, and returns its status; if it is
# still running after SECS seconds, prints to stderr where each of its threads sleeps in the
# kernel (the evidence a hang report needs), kills it and returns 124.
watch_pid() {
	local secs=$1 pid=$2 i t
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid"; return; }
		sleep 0.1
	done
	{
		echo "watchdog: pid $pid ($(tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null)) still running after ${secs}s; its kernel stacks:"
		for t in /proc/"$pid"/task/*; do
			echo "  task ${t##*/} ($(cat "$t/wchan" 2>/dev/null)):"
			sed 's/^/    /' "$t/stack" 2>/dev/null
		done
	} >&2
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 124
}
# watchdog SECS COMMAND...: runs the command under watch_pid.
watchdog() {
	local secs=$1; shift
	"$@" &
	watch_pid "$secs" $!
}

load_modules() {
	modprobe mdev || fail "modprobe mdev"
	grep -q '^vmdev ' /proc/modules || insmod "$M/vmdev.ko" || fail "insmod vmdev"
	grep -q '^vmdev_sim ' /proc/modules || insmod "$M/vmdev_sim.ko" || fail "insmod vmdev_sim"
	grep -q '^virtio_mdev ' /proc/modules || insmod "$M/virtio_mdev.ko" || fail "insmod virtio_mdev"
}

unload_modules() {
	local m
	for m in virtio_mdev vmdev_sim vmdev; do
		grep -q "^$m " /proc/modules && { rmmod "$m" || fail "rmmod $m"; }
	done
	return 0
}

new_uuid() { cat /proc/sys/kernel/random/uuid; }

# mdev_create UUID [TYPE]: creates a simulated device through the standard mdev sysfs
# interface; a net device unless TYPE (an mdev type directory, such as $BLK_TYPE) says else.
mdev_create() { echo "$1" >"${2:-$SIM_TYPE}/create"; }
mdev_remove() { echo 1 >"/sys/bus/mdev/devices/$1/remove"; }

# vmdev_of UUID: the transport-bus device of an mdev instance (e.g. vmdev0).
# find_vmdev UUID: the same, left in VMDEV instead of printed (no fork for the caller).
find_vmdev() {
	local d
	VMDEV=""
	for d in /sys/bus/mdev/devices/"$1"/vmdev*; do [ -e "$d" ] && VMDEV=${d##*/} && return 0; done
	return 1
}
vmdev_of() { find_vmdev "$1" && echo "$VMDEV"; }

# netdev_of UUID: the network interface virtio_net made for an instance, if any.
# Globs and parameter expansion only: the benchmark times create-to-up through these, and a
# fork or exec per poll costs milliseconds under TCG.
netdev_of() {
	local d
	for d in /sys/bus/mdev/devices/"$1"/vmdev*/virtio*/net/*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done
	return 1
}

# wait_for SECONDS COMMAND...: polls until the command succeeds, WAIT_HZ times a second (10;
# the benchmark polls faster, so that the step does not dominate a latency it measures).
WAIT_HZ=${WAIT_HZ:-10}
wait_for() {
	local t=$(( $1 * WAIT_HZ )) ms=$(( 1000 / WAIT_HZ )) step
	step=$(( ms / 1000 )).$(printf '%03d' $(( ms % 1000 ))); shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1)); [ $t -gt 0 ] || return 1
		sleep "$step"
	done
}

# kmemleak_scan: prints the number of leak reports after two scans (needs kmemleak=on). An
# object is reported only by a scan after the one that first saw it, and only once it is
# 5 s old; one scan takes over 10 s on the debug kernel under TCG, so the second scan comes
# late enough for whatever the test leaked before the first.
kmemleak_scan() {
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] || { echo 0; return; }
	echo scan >$f; echo scan >$f
	grep -c '^unreferenced object' $f
}

# kmemleak_clear: forgets the reports so far, so that kmemleak_scan counts the test's own.
# No scan first (it costs over 10 s): a leak from before that a later scan reports is still
# printed in the kernel log ("suspected memory leaks"), which fails the run.
kmemleak_clear() {
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] && echo clear >$f
	return 0
}

PKTLOOP=${VMDEV_REPO:-$PWD/..}/target/release/pktloop

# create_unbound UUID [TYPE]: creates an instance (of TYPE, as mdev_create) with autoprobe
# off, so no driver binds it yet. Prints its vmdev device name, and leaves it in VMDEV for
# callers that run it without a command substitution (one fork less in a timed path).
create_unbound() {
	echo 0 >/sys/bus/vmdev/drivers_autoprobe
	mdev_create "$1" "${2:-}" || { echo 1 >/sys/bus/vmdev/drivers_autoprobe; fail "create $1"; }
	echo 1 >/sys/bus/vmdev/drivers_autoprobe
	find_vmdev "$1" || fail "no vmdev device under mdev $1"
	echo "$VMDEV"
}

# create_net UUID [MAC] [MTU] [PAIRS]: creates an unbound instance, configures it (an empty
# MAC or MTU keeps the default), binds it to virtio_mdev and waits for its interface. Prints
# the interface name.
create_net() {
	local uuid=$1 mac=${2:-} mtu=${3:-} pairs=${4:-} v nd
	create_unbound "$uuid" >/dev/null || exit 1
	v=$VMDEV
	[ -n "$mac" ] && { echo "$mac" >/sys/bus/vmdev/devices/$v/mac || fail "set mac $mac"; }
	[ -n "$mtu" ] && { echo "$mtu" >/sys/bus/vmdev/devices/$v/mtu || fail "set mtu $mtu"; }
	[ -n "$pairs" ] && { echo "$pairs" >/sys/bus/vmdev/devices/$v/max_queue_pairs ||
		fail "set max_queue_pairs $pairs"; }
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v to virtio_mdev"
	wait_for 20 netdev_of "$uuid" || fail "no interface for $uuid"
	nd=$(netdev_of "$uuid")
	ip link set dev "$nd" up || fail "link up $nd"
	echo "$nd"
}

stat_of() { cat "/sys/bus/vmdev/devices/$1/stats/$2"; }

# disk_of UUID: the block device virtio_blk made for an instance, if any.
disk_of() {
	local d
	for d in /sys/bus/mdev/devices/"$1"/vmdev*/virtio*/block/*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done
	return 1
}

# create_blk UUID [ATTR=VALUE...]: creates an unbound block instance, writes each setting,
# binds it to virtio_mdev and waits for its disk. Prints the disk's name (vda, ...).
create_blk() {
	local uuid=$1 v kv; shift
	create_unbound "$uuid" "$BLK_TYPE" >/dev/null || exit 1
	v=$VMDEV
	for kv in "$@"; do
		echo "${kv#*=}" >"/sys/bus/vmdev/devices/$v/${kv%%=*}" || fail "set $kv on $v"
	done
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v to virtio_mdev"
	wait_for 20 disk_of "$uuid" || fail "no disk for $uuid"
	disk_of "$uuid"
}

# ctrl_after VMDEV COMMAND...: runs the command, then waits until the device has executed
# the control commands it makes virtio_net send. Changes of the rx mode and the multicast list
# reach the device from a work item (PROMISC, ALLMULTI, MAC_TABLE_SET: three commands), so
# a frame sent right after `ip maddr add` could still meet the old filter.
ctrl_after() {
	local v=$1 c0; shift
	c0=$(stat_of "$v" ctrl_commands)
	"$@" || return 1
	wait_for 10 test "$(stat_of "$v" ctrl_commands)" -ge $((c0 + 3))
}
ctrl_ge() { [ "$(stat_of "$1" ctrl_commands)" -ge "$2" ]; }

VHOST_CLIENT=${VMDEV_REPO:-$PWD/..}/target/release/vhost_client

# Loads vhost_mdev, and upstream's vDPA simulator and vhost_vdpa for differential runs. The
# upstream simulator pins memory (use_va=0), as vhost_mdev does. virtio_vdpa stays unloaded so
# that upstream devices bind to vhost_vdpa.
load_vhost() {
	grep -q '^vhost_mdev ' /proc/modules || insmod "$M/vhost_mdev.ko" || fail "insmod vhost_mdev"
	grep -q '^vdpa_sim ' /proc/modules || modprobe vdpa_sim use_va=0 || fail "modprobe vdpa_sim"
	modprobe vdpa_sim_net || fail "modprobe vdpa_sim_net"
	modprobe vhost_vdpa || fail "modprobe vhost_vdpa"
}

# create_vhost UUID [PAIRS]: an instance (with PAIRS queue pairs) bound to vhost_mdev;
# prints its device node.
create_vhost() {
	local v n
	v=$(create_unbound "$1") || return 1
	[ -n "${2:-}" ] && { echo "$2" >"/sys/bus/vmdev/devices/$v/max_queue_pairs" ||
		fail "set max_queue_pairs $2"; }
	echo vhost_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
	echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $v to vhost_mdev"
	n=$(ls "/sys/bus/vmdev/devices/$v/vhost-mdev" 2>/dev/null | head -1)
	[ -n "$n" ] || fail "no vhost-mdev class device under $v"
	wait_for 5 test -c "/dev/$n" || fail "/dev/$n did not appear"
	echo "/dev/$n"
}

# create_upstream_vhost MAC: a vdpa_sim_net device on vhost_vdpa; prints its device node.
create_upstream_vhost() {
	local name=up$RANDOM
	vdpa dev add mgmtdev vdpasim_net name "$name" mac "$1" || fail "vdpa dev add"
	vhost_vdpa_node "$name"
}

# vhost_vdpa_node NAME: the device node of vdpa device NAME, which must be bound to vhost_vdpa.
vhost_vdpa_node() {
	local n
	n=$(cd "/sys/bus/vdpa/devices/$1" && ls -d vhost-vdpa-* 2>/dev/null | head -1)
	[ -n "$n" ] || fail "upstream $1 did not bind to vhost_vdpa"
	wait_for 5 test -c "/dev/$n" || fail "/dev/$n did not appear"
	echo "/dev/$n"
}

pins() { # pages pinned (FOLL_PIN) and not yet released, system-wide
	awk '/^nr_foll_pin_acquired/ { a = $2 } /^nr_foll_pin_released/ { r = $2 } END { print a - r }' /proc/vmstat
}
pins_are() { [ "$(pins)" -eq "$1" ]; }
# The pin count to measure from: the lowest seen over 100 ms, since other activity in the VM
# holds pins for moments and a base taken during one would offset every later comparison.
base_pins() {
	local low n i
	low=$(pins)
	for i in $(seq 20); do
		sleep 0.005
		n=$(pins)
		[ "$n" -lt "$low" ] && low=$n
	done
	echo "$low"
}

# Nested KTAP: a test with parts reports each as a subtest, which run.sh keeps in the KTAP
# output above the test's own result. ktap_plan N first, then ktap_sub ok|fail NAME per part.
KTAP_SUB=0
ktap_plan() { echo "    KTAP version 1"; echo "    1..$1"; }
ktap_sub() {
	KTAP_SUB=$((KTAP_SUB + 1))
	case $1 in
	ok) echo "    ok $KTAP_SUB $2";;
	*) echo "    not ok $KTAP_SUB $2";;
	esac
}
