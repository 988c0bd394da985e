#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Config: what virtio_net sees (MAC, MTU, link) matches the device; link changes reach the
# driver through config interrupts; bad settings are refused with an error.
. "$(dirname "$0")/../lib.sh"
load_modules

uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
d=/sys/bus/vmdev/devices/$v
for bad in 0 67 65536 abc ""; do
	echo "$bad" >$d/mtu 2>/dev/null && fail "MTU '$bad' accepted"
done
for bad in 01:00:00:00:00:01 ff:ff:ff:ff:ff:ff 00:00:00:00:00:00 02:00:00:00:00 zz:00:00:00:00:00; do
	echo "$bad" >$d/mac 2>/dev/null && fail "MAC '$bad' accepted"
done
echo bogus >$d/link 2>/dev/null && fail "link 'bogus' accepted"
note "refused: MTU 0/67/65536/abc/empty, multicast/broadcast/zero/short/garbage MAC, bad link value"
echo 9000 >$d/mtu || fail "MTU 9000 refused"
echo 02:de:ad:be:ef:01 >$d/mac || fail "valid MAC refused"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail bind
wait_for 20 netdev_of "$uuid" || fail "no interface"
nd=$(netdev_of "$uuid")
[ "$(cat /sys/class/net/$nd/address)" = 02:de:ad:be:ef:01 ] || fail "driver sees MAC $(cat /sys/class/net/$nd/address)"
[ "$(cat /sys/class/net/$nd/mtu)" = 9000 ] || fail "driver sees MTU $(cat /sys/class/net/$nd/mtu)"
echo 1500 >$d/mtu 2>/dev/null && fail "MTU change accepted while the driver runs"
echo 02:de:ad:be:ef:02 >$d/mac 2>/dev/null && fail "MAC change accepted while the driver runs"
note "driver sees MAC 02:de:ad:be:ef:01 MTU 9000; changes while bound refused"

ip link set dev "$nd" up
wait_for 10 grep -qx 1 /sys/class/net/$nd/carrier || fail "no carrier with link up"
echo down >$d/link
wait_for 10 grep -qx 0 /sys/class/net/$nd/carrier || fail "carrier still up after link down"
echo up >$d/link
wait_for 10 grep -qx 1 /sys/class/net/$nd/carrier || fail "carrier did not return"
note "link down/up reached virtio_net (carrier followed)"
mdev_remove "$uuid"
exit 0
