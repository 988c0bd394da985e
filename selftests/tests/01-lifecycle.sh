#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lifecycle: an instance created through mdev sysfs appears as a network interface with the
# configured MAC and MTU, and disappears on remove; 50 create/remove cycles leak nothing.
. "$(dirname "$0")/../lib.sh"
load_modules

[ -d "$SIM_TYPE" ] || fail "mdev type directory $SIM_TYPE missing"
grep -qx "virtio-mdev" "$SIM_TYPE/device_api" || fail "device_api is not virtio-mdev"
avail=$(cat "$SIM_TYPE/available_instances")
note "type vmdev_sim-net: $avail instances available, device_api $(cat $SIM_TYPE/device_api)"

uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:aa:bb:cc:dd:01 1400)
v=$(vmdev_of "$uuid")
[ "$(cat /sys/class/net/$nd/address)" = 02:aa:bb:cc:dd:01 ] || fail "interface MAC $(cat /sys/class/net/$nd/address)"
[ "$(cat /sys/class/net/$nd/mtu)" = 1400 ] || fail "interface MTU $(cat /sys/class/net/$nd/mtu)"
[ "$(cat /sys/bus/vmdev/devices/$v/mdev_uuid)" = "$uuid" ] || fail "mdev_uuid attribute"
[ "$(cat /sys/bus/vmdev/devices/$v/device_class)" = net ] || fail "device_class attribute"
[ "$(cat "$SIM_TYPE/available_instances")" = $((avail - 1)) ] || fail "available_instances did not drop"
note "created $uuid: $v, interface $nd, MAC and MTU as configured"

echo "$uuid" >"$SIM_TYPE/create" 2>/dev/null && fail "a duplicate UUID was accepted"
mdev_remove "$uuid" || fail "remove $uuid"
[ -e "/sys/class/net/$nd" ] && fail "interface $nd still present after remove"
[ -e "/sys/bus/vmdev/devices/$v" ] && fail "$v still present after remove"
[ "$(cat "$SIM_TYPE/available_instances")" = "$avail" ] || fail "available_instances not restored"
note "removed: interface and bus device gone"

# Leak check. Release of the transport device and of the virtio device is proven by their
# numbers being reused (vmdevN and virtioN come from IDAs freed only in the release callbacks);
# unreferenced allocations by kmemleak. The slab total only gets a loose bound: KASAN keeps
# freed objects in its quarantine, where they still count as slab.
probe_names() { # creates and removes one instance; prints "vmdevN virtioM"
	local u v vd
	u=$(new_uuid); mdev_create "$u" || fail "create"
	wait_for 20 netdev_of "$u" || fail "no interface"
	v=$(vmdev_of "$u"); vd=$(basename /sys/bus/vmdev/devices/$v/virtio*)
	mdev_remove "$u" || fail "remove"
	echo "$v $vd"
}
before=$(probe_names)
kmemleak_clear
slab_before=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
for i in $(seq 50); do
	u=$(new_uuid)
	mdev_create "$u" || fail "cycle $i: create"
	wait_for 20 netdev_of "$u" || fail "cycle $i: no interface"
	mdev_remove "$u" || fail "cycle $i: remove"
done
slab_after=$(awk '/^Slab:/ {print $2}' /proc/meminfo)
after=$(probe_names)
leaks=$(kmemleak_scan)
note "50 create/remove cycles: device names before '$before', after '$after'"
note "Slab ${slab_before} kB -> ${slab_after} kB (KASAN quarantine included), kmemleak reports: $leaks"
[ "$before" = "$after" ] || fail "device numbers not reused: a vmdev or virtio device was never released"
[ "$leaks" = 0 ] || { head -40 /sys/kernel/debug/kmemleak; fail "kmemleak found $leaks leaks"; }
[ $((slab_after - slab_before)) -lt 10240 ] || fail "slab grew by $((slab_after - slab_before)) kB over 50 cycles"
exit 0
