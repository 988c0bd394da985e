#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Loopback: every frame size from 60 to MTU+14 comes back exactly once and bit-exact; frames
# to another unicast MAC are dropped and counted; broadcast and a joined multicast group come back; jumbo
# frames that span several pages come back too.
. "$(dirname "$0")/../lib.sh"
load_modules
[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"

uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:11:22:33:44:55 1500)
v=$(vmdev_of "$uuid")
# Opening the interface turned promiscuous mode off through the control queue.
wait_for 10 ctrl_ge "$v" 3 || fail "virtio_net sent no rx mode"
rx0=$(stat_of "$v" rx_packets)
"$PKTLOOP" "$nd" 02:11:22:33:44:55 60 1514 || fail "unicast to the device MAC"
rx1=$(stat_of "$v" rx_packets)
[ $((rx1 - rx0)) -ge 1455 ] || fail "rx_packets grew by $((rx1 - rx0)), expected >= 1455"

d0=$(stat_of "$v" rx_drops)
"$PKTLOOP" "$nd" 02:99:99:99:99:99 60 1514 97 --expect none || fail "frames to another MAC came back"
d1=$(stat_of "$v" rx_drops)
[ $((d1 - d0)) -ge 15 ] || fail "rx_drops grew by $((d1 - d0)), expected >= 15"
note "frames to another unicast MAC: dropped, rx_drops +$((d1 - d0))"

"$PKTLOOP" "$nd" ff:ff:ff:ff:ff:ff 60 1514 73 || fail "broadcast"
# virtio_net programs the device's multicast table (control queue): join the group first.
ctrl_after "$v" ip maddr add 01:00:5e:00:00:fb dev "$nd" || fail "ip maddr add"
"$PKTLOOP" "$nd" 01:00:5e:00:00:fb 60 1514 131 || fail "multicast"
mdev_remove "$uuid"

# Jumbo frames: receive buffers are chains of pages, frames span several descriptors.
uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:11:22:33:44:66 9000)
"$PKTLOOP" "$nd" 02:11:22:33:44:66 60 9014 149 || fail "jumbo frames"
"$PKTLOOP" "$nd" 02:11:22:33:44:66 9014 9014 || fail "largest frame"
mdev_remove "$uuid"
exit 0
