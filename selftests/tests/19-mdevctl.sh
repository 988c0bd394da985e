#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# mdevctl (Debian's, unmodified) configures instances: it writes a device's attributes to
# its mdev device right after creating it, where the transport mirrors the vendor's settings
# and rebinds virtio_mdev so that the driver comes up with them. A transient device started
# from a JSON file, a defined device started later, the vhost personality asked for with an
# attribute, and bad attributes (the device is removed again, nothing is left).
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
ktap_plan 5
# mdevctl keeps its definitions in /etc/mdevctl.d, read-only in the VM: a tmpfs for the run.
mount -t tmpfs tmpfs /etc/mdevctl.d || fail "tmpfs on /etc/mdevctl.d"
mkdir -p /etc/mdevctl.d/scripts.d/callouts /etc/mdevctl.d/scripts.d/notifiers
cleanup() { umount /etc/mdevctl.d 2>/dev/null; }
trap cleanup EXIT

# --- the types
types=$(mdevctl types) || fail "mdevctl types"
grep -q "vmdev_sim-net" <<<"$types" && grep -q "vmdev_sim-blk" <<<"$types" ||
	{ echo "$types"; fail "mdevctl types does not list both types"; }
note "mdevctl types: vmdev_sim-net on vmdev_sim, vmdev_sim-blk on vmdev_sim_blk"
ktap_sub ok types

# --- a transient net device with its settings
u1=$(new_uuid)
cat >/tmp/net.json <<JSON
{"mdev_type": "vmdev_sim-net", "start": "manual",
 "attrs": [{"mac": "02:dc:00:00:00:01"}, {"mtu": "9000"}, {"max_queue_pairs": "2"}]}
JSON
mdevctl start -u "$u1" -p vmdev_sim --jsonfile /tmp/net.json || fail "mdevctl start (net)"
mdevctl list | grep -q "$u1" || fail "mdevctl list does not show $u1"
wait_for 20 netdev_of "$u1" || fail "no interface for $u1"
nd=$(netdev_of "$u1")
[ "$(cat /sys/class/net/$nd/address)" = 02:dc:00:00:00:01 ] || fail "$nd has MAC $(cat /sys/class/net/$nd/address)"
[ "$(cat /sys/class/net/$nd/mtu)" = 9000 ] || fail "$nd has MTU $(cat /sys/class/net/$nd/mtu)"
max=$(ethtool -l "$nd" | awk '/maximums/ {m=1} m && /Combined/ {print $2; exit}')
[ "$max" = 2 ] || fail "$nd has $max combined channels at most, expected 2"
ip link set dev "$nd" up
"$PKTLOOP" "$nd" 02:dc:00:00:00:01 60 9014 40 >/tmp/pktloop.out 2>&1 || { cat /tmp/pktloop.out; fail "traffic on $nd"; }
v1=$(vmdev_of "$u1")
echo 1500 >"/sys/bus/vmdev/devices/$v1/mtu" 2>/dev/null && fail "the vmdev device took a setting while virtio_net runs"
# Through the mdev device: a bad value and the bound driver's own name change nothing, a
# good value comes back with the driver.
ifindex=$(cat "/sys/class/net/$nd/ifindex")
echo 12 >"/sys/bus/mdev/devices/$u1/mtu" 2>/dev/null && fail "MTU 12 accepted through the mdev device"
echo virtio_mdev >"/sys/bus/mdev/devices/$u1/personality" || fail "personality virtio_mdev"
[ "$(cat "/sys/class/net/$nd/ifindex" 2>/dev/null)" = "$ifindex" ] ||
	fail "a refused setting, or naming the bound driver, unbound virtio_net"
echo 1500 >"/sys/bus/mdev/devices/$u1/mtu" || fail "MTU 1500 through the mdev device"
wait_for 20 netdev_of "$u1" || fail "no interface for $u1 after the MTU change"
nd=$(netdev_of "$u1")
[ "$(cat /sys/class/net/$nd/mtu)" = 1500 ] && [ "$(cat /sys/class/net/$nd/address)" = 02:dc:00:00:00:01 ] ||
	fail "after the change $nd has MTU $(cat /sys/class/net/$nd/mtu), MAC $(cat /sys/class/net/$nd/address)"
mdevctl stop -u "$u1" || fail "mdevctl stop"
[ -e "/sys/bus/mdev/devices/$u1" ] && fail "$u1 still exists after stop"
note "transient: virtio_net came up with MAC 02:dc:00:00:00:01, MTU 9000, 2 queue pairs; jumbo frames loop; through the mdev device a bad MTU and the bound driver's name left it alone, MTU 1500 brought it back with the new MTU; stopped"
ktap_sub ok transient-net

# --- a defined block device, started later
u2=$(new_uuid)
cat >/tmp/blk.json <<JSON
{"mdev_type": "vmdev_sim-blk", "start": "manual",
 "attrs": [{"capacity": "48M"}, {"serial": "mdevctl-disk-2"}, {"num_queues": "1"}]}
JSON
mdevctl define -u "$u2" -p vmdev_sim_blk --jsonfile /tmp/blk.json || fail "mdevctl define (blk)"
[ -f "/etc/mdevctl.d/vmdev_sim_blk/$u2" ] || fail "no saved definition for $u2"
[ -e "/sys/bus/mdev/devices/$u2" ] && fail "define started the device"
mdevctl list -d | grep -q "$u2" || fail "mdevctl list -d does not show $u2"
mdevctl start -u "$u2" || fail "mdevctl start (defined blk)"
wait_for 20 disk_of "$u2" || fail "no disk for $u2"
disk=$(disk_of "$u2")
[ "$(cat /sys/block/$disk/size)" = 98304 ] || fail "$disk has $(cat /sys/block/$disk/size) sectors, expected 98304"
[ "$(cat /sys/block/$disk/serial)" = mdevctl-disk-2 ] || fail "$disk serial '$(cat /sys/block/$disk/serial)'"
[ "$(ls /sys/block/$disk/mq | wc -l)" = 1 ] || fail "$disk does not have 1 queue"
mdevctl stop -u "$u2" || fail "mdevctl stop (blk)"
mdevctl undefine -u "$u2" || fail "mdevctl undefine"
[ -e "/etc/mdevctl.d/vmdev_sim_blk/$u2" ] && fail "undefine left the definition"
note "defined: virtio_blk came up with 48 MiB, serial mdevctl-disk-2, 1 queue; stopped and undefined"
ktap_sub ok defined-blk

# --- the vhost personality, asked for with an attribute
u3=$(new_uuid)
cat >/tmp/vhost.json <<JSON
{"mdev_type": "vmdev_sim-net", "start": "manual",
 "attrs": [{"personality": "vhost_mdev"}, {"mac": "02:dc:00:00:00:03"}, {"max_queue_pairs": "1"}]}
JSON
mdevctl start -u "$u3" -p vmdev_sim --jsonfile /tmp/vhost.json || fail "mdevctl start (vhost)"
[ "$(cat /sys/bus/mdev/devices/$u3/personality)" = vhost_mdev ] ||
	fail "personality is $(cat /sys/bus/mdev/devices/$u3/personality)"
v3=$(vmdev_of "$u3")
node=/dev/$(ls "/sys/bus/vmdev/devices/$v3/vhost-mdev" | head -1)
wait_for 5 test -c "$node" || fail "$node did not appear"
out=$(watchdog 60 "$VHOST_CLIENT" traffic --dev "$node" --frames 64 2>&1) || { echo "$out"; fail "traffic through $node"; }
grep -q "02:dc:00:00:00:03" <<<"$out" || { echo "$out"; fail "the vhost client does not see the MAC"; }
mdevctl stop -u "$u3" || fail "mdevctl stop (vhost)"
note "personality: vhost_mdev bound, $node carries traffic with MAC 02:dc:00:00:00:03"
ktap_sub ok vhost-personality

# --- bad attributes: mdevctl fails and removes the device
for bad in '{"mtu": "12"}' '{"mac": "ff:ff:ff:ff:ff:ff"}' '{"no_such_setting": "1"}' '{"personality": "no_such_driver"}'; do
	u=$(new_uuid)
	printf '{"mdev_type": "vmdev_sim-net", "start": "manual", "attrs": [%s]}\n' "$bad" >/tmp/bad.json
	mdevctl start -u "$u" -p vmdev_sim --jsonfile /tmp/bad.json >/dev/null 2>&1 && fail "mdevctl accepted $bad"
	[ -e "/sys/bus/mdev/devices/$u" ] && fail "a device with $bad was left behind"
done
[ -z "$(ls /sys/bus/mdev/devices/)" ] || fail "devices left: $(ls /sys/bus/mdev/devices/)"
note "bad attributes (MTU 12, broadcast MAC, unknown name, unknown driver): mdevctl failed and nothing was left"
ktap_sub ok bad-attributes
exit 0
