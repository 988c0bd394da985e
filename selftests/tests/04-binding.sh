#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Binding: unbind from virtio_mdev and bind again, and traffic works again; driver_override
# is honoured.
. "$(dirname "$0")/../lib.sh"
load_modules
uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:00:00:00:04:01 1500)
v=$(vmdev_of "$uuid")
drv=/sys/bus/vmdev/drivers/virtio_mdev
"$PKTLOOP" "$nd" 02:00:00:00:04:01 60 1514 211 || fail "traffic before unbind"

echo "$v" >$drv/unbind || fail unbind
[ -e /sys/bus/vmdev/devices/$v/driver ] && fail "still bound after unbind"
netdev_of "$uuid" >/dev/null && fail "interface survived unbind"
echo "$v" >$drv/bind || fail rebind
wait_for 20 netdev_of "$uuid" || fail "no interface after rebind"
nd=$(netdev_of "$uuid"); ip link set dev "$nd" up
"$PKTLOOP" "$nd" 02:00:00:00:04:01 60 1514 211 || fail "traffic after rebind"
note "unbind/bind: interface went and came back, traffic flows"

echo "$v" >$drv/unbind || fail unbind
echo no_such_driver >/sys/bus/vmdev/devices/$v/driver_override
echo "$v" >/sys/bus/vmdev/drivers_probe 2>/dev/null
[ -e /sys/bus/vmdev/devices/$v/driver ] && fail "bound despite driver_override=no_such_driver"
echo "$v" >$drv/bind 2>/dev/null && fail "manual bind ignored driver_override"
echo virtio_mdev >/sys/bus/vmdev/devices/$v/driver_override
echo "$v" >/sys/bus/vmdev/drivers_probe || fail "drivers_probe with driver_override=virtio_mdev"
wait_for 20 netdev_of "$uuid" || fail "driver_override=virtio_mdev did not bind"
[ "$(cat /sys/bus/vmdev/devices/$v/driver_override)" = virtio_mdev ] || fail "driver_override readback"
echo >/sys/bus/vmdev/devices/$v/driver_override
[ -z "$(cat /sys/bus/vmdev/devices/$v/driver_override)" ] || fail "driver_override not cleared"
note "driver_override: foreign name keeps it unbound, own name binds, empty clears"
mdev_remove "$uuid"
exit 0
