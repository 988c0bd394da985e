#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Teardown under load: hot removal in the middle of a traffic burst, and module unload with
# devices present (bound and unbound), leave no splat (the host scans the kernel log).
. "$(dirname "$0")/../lib.sh"
load_modules
modprobe pktgen || fail "modprobe pktgen"

pg() { echo "$2" >"/proc/net/pktgen/$1" || fail "pktgen $1: $2"; }
burst() { # burst IFNAME DST_MAC: pktgen sends until stopped
	pg kpktgend_0 "rem_device_all"
	pg kpktgend_0 "add_device $1"
	pg "$1" "count 0"
	pg "$1" "pkt_size 1000"
	pg "$1" "dst_mac $2"
	(echo start >/proc/net/pktgen/pgctrl) 2>/dev/null &
}

uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:00:00:00:05:01 1500)
v=$(vmdev_of "$uuid")
burst "$nd" 02:00:00:00:05:01
sleep 2
tx=$(stat_of "$v" tx_packets)
mdev_remove "$uuid" || fail "hot remove during the burst"
echo stop >/proc/net/pktgen/pgctrl 2>/dev/null
wait
note "hot-removed $uuid after $tx frames of a running burst"
[ "$tx" -gt 0 ] || fail "the burst sent nothing before removal"

# Unload the simulator with one bound and one unbound instance.
u1=$(new_uuid); u2=$(new_uuid)
nd=$(create_net "$u1" 02:00:00:00:05:02 1500)
create_unbound "$u2" >/dev/null || exit 1
burst "$nd" 02:00:00:00:05:02
sleep 1
rmmod vmdev_sim || fail "rmmod vmdev_sim with instances present"
echo stop >/proc/net/pktgen/pgctrl 2>/dev/null
wait
[ -e "/sys/bus/mdev/devices/$u1" ] && fail "instance survived unloading its parent"
note "rmmod vmdev_sim with a bound instance under load and an unbound one: clean"

# Unload the personality driver with bound devices; the instances stay, unbound.
load_modules
u3=$(new_uuid)
nd=$(create_net "$u3" 02:00:00:00:05:03 1500)
rmmod virtio_mdev || fail "rmmod virtio_mdev with a bound device"
[ -e "/sys/class/net/$nd" ] && fail "interface survived unloading virtio_mdev"
[ -e "/sys/bus/mdev/devices/$u3" ] || fail "instance lost with its driver"
load_modules
wait_for 20 netdev_of "$u3" || fail "reloaded virtio_mdev did not bind the instance"
mdev_remove "$u3"
note "rmmod virtio_mdev with a bound device: interface gone, instance rebinds on reload"

rmmod pktgen
unload_modules
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { head -40 /sys/kernel/debug/kmemleak; fail "kmemleak found $leaks leaks"; }
exit 0
