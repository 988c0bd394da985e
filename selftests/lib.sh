# Helpers for the guest-side selftests. Sourced by each test.
# shellcheck shell=bash
set -u
M=${VMDEV_MODULES:?not in the test VM}
SIM_TYPE=/sys/class/mdev_bus/vmdev_sim/mdev_supported_types/vmdev_sim-net

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "$*"; }
expect() { # expect DESCRIPTION COMMAND...: the command must succeed
	local what=$1; shift
	"$@" || fail "$what"
}

load_modules() {
	modprobe mdev || fail "modprobe mdev"
	grep -q '^vmdev ' /proc/modules || insmod "$M/transport/vmdev.ko" || fail "insmod vmdev"
	grep -q '^vmdev_sim ' /proc/modules || insmod "$M/vdpa_sim/vmdev_sim.ko" || fail "insmod vmdev_sim"
	grep -q '^virtio_mdev ' /proc/modules || insmod "$M/virtio_mdev/virtio_mdev.ko" || fail "insmod virtio_mdev"
}

unload_modules() {
	local m
	for m in virtio_mdev vmdev_sim vmdev; do
		grep -q "^$m " /proc/modules && { rmmod "$m" || fail "rmmod $m"; }
	done
	return 0
}

new_uuid() { cat /proc/sys/kernel/random/uuid; }

# mdev_create UUID: creates a simulated net device through the standard mdev sysfs interface.
mdev_create() { echo "$1" >"$SIM_TYPE/create"; }
mdev_remove() { echo 1 >"/sys/bus/mdev/devices/$1/remove"; }

# vmdev_of UUID: the transport-bus device of an mdev instance (e.g. vmdev0).
vmdev_of() {
	local d
	for d in /sys/bus/mdev/devices/"$1"/vmdev*; do [ -e "$d" ] && basename "$d" && return 0; done
	return 1
}

# netdev_of UUID: the network interface virtio_net made for an instance, if any.
netdev_of() {
	local v d
	v=$(vmdev_of "$1") || return 1
	for d in /sys/bus/vmdev/devices/"$v"/virtio*/net/*; do [ -e "$d" ] && basename "$d" && return 0; done
	return 1
}

wait_for() { # wait_for SECONDS COMMAND...: polls until the command succeeds
	local t=$(( $1 * 10 )); shift
	while ! "$@" >/dev/null 2>&1; do
		t=$((t - 1)); [ $t -gt 0 ] || return 1
		sleep 0.1
	done
}

kmemleak_scan() { # prints the number of leak reports after a scan (needs kmemleak=on)
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] || { echo 0; return; }
	echo scan >$f; sleep 1; echo scan >$f
	grep -c '^unreferenced object' $f
}

kmemleak_clear() {
	local f=/sys/kernel/debug/kmemleak
	[ -w $f ] && { echo scan >$f; echo clear >$f; }
	return 0
}

PKTLOOP=${VMDEV_REPO:-$PWD/..}/target/release/pktloop

# create_unbound UUID: creates an instance with autoprobe off, so no driver binds it yet.
# Prints its vmdev device name.
create_unbound() {
	echo 0 >/sys/bus/vmdev/drivers_autoprobe
	mdev_create "$1" || { echo 1 >/sys/bus/vmdev/drivers_autoprobe; fail "create $1"; }
	echo 1 >/sys/bus/vmdev/drivers_autoprobe
	vmdev_of "$1" || fail "no vmdev device under mdev $1"
}

# create_net UUID [MAC] [MTU]: creates an unbound instance, configures it, binds it to
# virtio_mdev and waits for its interface. Prints the interface name.
create_net() {
	local uuid=$1 mac=${2:-} mtu=${3:-} v nd
	v=$(create_unbound "$uuid") || exit 1
	[ -n "$mac" ] && { echo "$mac" >/sys/bus/vmdev/devices/$v/mac || fail "set mac $mac"; }
	[ -n "$mtu" ] && { echo "$mtu" >/sys/bus/vmdev/devices/$v/mtu || fail "set mtu $mtu"; }
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v to virtio_mdev"
	wait_for 20 netdev_of "$uuid" || fail "no interface for $uuid"
	nd=$(netdev_of "$uuid")
	ip link set dev "$nd" up || fail "link up $nd"
	echo "$nd"
}

stat_of() { cat "/sys/bus/vmdev/devices/$1/stats/$2"; }
