#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Control queue, kernel personality: the unmodified virtio_net drives the simulator's rx mode,
# MAC tables, MAC address, VLAN filter and announcements through the control queue, and the
# looped frames follow: frames the filter refuses are dropped and counted, the rest come back
# bit-exact. No command may be refused along the way (ctrl_errors stays 0).
. "$(dirname "$0")/../lib.sh"
load_modules
[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"
ktap_plan 6
bad=0
sub() { [ "$1" = ok ] || bad=1; ktap_sub "$1" "$2"; }

MAC=02:c0:00:00:00:01
OTHER=02:c0:00:00:00:02
uuid=$(new_uuid)
nd=$(create_net "$uuid" $MAC 1500)
v=$(vmdev_of "$uuid")
D=/sys/bus/vmdev/devices/$v
feat=$(cat "/sys/class/net/$nd/device/features")
# (Linux's virtio_net has no use for CTRL_RX_EXTRA.)
for bit in 17 18 19 21 23; do
	[ "${feat:$bit:1}" = 1 ] || fail "virtio_net did not negotiate feature bit $bit ($feat)"
done
note "$nd on $v: virtio_net negotiated CTRL_VQ, CTRL_RX, CTRL_VLAN, GUEST_ANNOUNCE, CTRL_MAC_ADDR"

# Opening the interface programmed the rx mode (promiscuous off) through a work item.
wait_for 10 ctrl_ge "$v" 3 || fail "virtio_net sent no rx mode"
back() { "$PKTLOOP" "$@" >/dev/null 2>&1; }        # frames come back
none() { "$PKTLOOP" "$@" --expect none >/dev/null 2>&1; }  # none does

# 1. Promiscuous mode.
ok=ok
none "$nd" $OTHER 60 1514 97 || { ok=fail; note "frames to another MAC came back before promisc"; }
ctrl_after "$v" ip link set dev "$nd" promisc on
back "$nd" $OTHER 60 1514 97 || { ok=fail; note "promisc on: frames to another MAC did not come back"; }
ctrl_after "$v" ip link set dev "$nd" promisc off
none "$nd" $OTHER 60 1514 97 || { ok=fail; note "promisc off: frames to another MAC came back"; }
sub $ok promisc

# 2. Multicast groups (the multicast MAC table).
ok=ok
MG=01:00:5e:01:02:03
none "$nd" $MG 60 300 47 || { ok=fail; note "$MG came back before joining"; }
ctrl_after "$v" ip maddr add $MG dev "$nd"
back "$nd" $MG 60 300 47 || { ok=fail; note "$MG did not come back after ip maddr add"; }
ctrl_after "$v" ip maddr del $MG dev "$nd"
none "$nd" $MG 60 300 47 || { ok=fail; note "$MG came back after ip maddr del"; }
back "$nd" ff:ff:ff:ff:ff:ff 60 300 47 || { ok=fail; note "broadcast did not come back"; }
sub $ok multicast-table

# 3. All-multicast mode.
ok=ok
MG2=01:00:5e:7f:00:09
ctrl_after "$v" ip link set dev "$nd" allmulticast on
back "$nd" $MG2 60 300 47 || { ok=fail; note "allmulticast on: $MG2 did not come back"; }
ctrl_after "$v" ip link set dev "$nd" allmulticast off
none "$nd" $MG2 60 300 47 || { ok=fail; note "allmulticast off: $MG2 came back"; }
sub $ok allmulti

# 4. The MAC address, changed while the interface runs.
ok=ok
NEW=02:c0:00:00:00:99
ip link set dev "$nd" address $NEW || { ok=fail; note "ip link set address refused"; }
[ "$(cat $D/mac)" = $NEW ] || { ok=fail; note "device MAC is $(cat $D/mac), not $NEW"; }
back "$nd" $NEW 60 1514 97 || { ok=fail; note "frames to the new MAC did not come back"; }
none "$nd" $MAC 60 300 47 || { ok=fail; note "frames to the old MAC came back"; }
sub $ok mac-address

# 5. VLAN filtering: an 8021q interface adds its VLAN id to the device's filter.
ok=ok
ip link add link "$nd" name vl5 type vlan id 5 && ip link set dev vl5 up ||
	{ ok=fail; note "no VLAN interface"; }
back vl5 $NEW 60 1514 97 || { ok=fail; note "VLAN 5 frames did not come back"; }
d0=$(stat_of "$v" rx_drops)
none "$nd" $NEW 60 300 47 --vlan 7 || { ok=fail; note "VLAN 7 (not added) came back"; }
[ "$(stat_of "$v" rx_drops)" -gt "$d0" ] || { ok=fail; note "VLAN 7 frames not counted as dropped"; }
ip link del vl5
none "$nd" $NEW 60 300 47 --vlan 5 || { ok=fail; note "VLAN 5 came back after its interface went"; }
back "$nd" $NEW 60 300 47 || { ok=fail; note "untagged frames stopped"; }
sub $ok vlan-filter

# 6. The device asks the driver to announce itself; virtio_net does and acknowledges.
ok=ok
c0=$(stat_of "$v" ctrl_commands)
echo 1 >$D/announce || { ok=fail; note "announce refused"; }
wait_for 10 grep -qx 0 $D/announce || { ok=fail; note "virtio_net did not acknowledge the announcement"; }
[ "$(stat_of "$v" ctrl_commands)" -gt "$c0" ] || { ok=fail; note "no command for the announcement"; }
sub $ok announce

errs=$(stat_of "$v" ctrl_errors)
note "control queue: $(stat_of "$v" ctrl_commands) commands, $errs refused"
[ "$errs" = 0 ] || fail "the device refused $errs of virtio_net's commands"
mdev_remove "$uuid"
[ $bad = 0 ] || fail "a subtest failed"
exit 0
