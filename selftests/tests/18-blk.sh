#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Block class: instances of vmdev_sim-blk take their settings before bind and refuse bad
# ones; the kernel's virtio_blk binds through virtio_mdev unchanged and sees them (size,
# serial, queues, read-only); an ext4 filesystem made on the disk survives unmount, fsck and
# remount with its files intact; discard and write-zeroes reach the device; what virtio_blk
# wrote reads back through vhost_mdev after a personality switch, where a userspace driver
# (vhost_client blk) also sends malformed requests that must be answered IOERR or UNSUPP;
# the same catalogue on upstream's vdpa_sim_blk over vhost_vdpa, compared; removal with the
# disk in use and module unload leave nothing behind.
. "$(dirname "$0")/../lib.sh"
load_modules
kmemleak_clear
ktap_plan 7

[ -d "$BLK_TYPE" ] || fail "mdev type directory $BLK_TYPE missing"
grep -qx "virtio-mdev" "$BLK_TYPE/device_api" || fail "device_api is not virtio-mdev"

# --- settings
uuid=$(new_uuid)
v=$(create_unbound "$uuid" "$BLK_TYPE") || exit 1
d=/sys/bus/vmdev/devices/$v
[ "$(cat $d/capacity)" = 134217728 ] || fail "default capacity $(cat $d/capacity)"
[ "$(cat $d/read_only)" = 0 ] || fail "default read_only $(cat $d/read_only)"
for bad in 0 511 513 5G 1X abc "" -1 18446744073709551616; do
	echo "$bad" >$d/capacity 2>/dev/null && fail "capacity '$bad' accepted"
done
for bad in 0 9 x ""; do
	echo "$bad" >$d/num_queues 2>/dev/null && fail "num_queues '$bad' accepted"
done
for bad in 2 maybe ""; do
	echo "$bad" >$d/read_only 2>/dev/null && fail "read_only '$bad' accepted"
done
for bad in 123456789012345678901 "has space" ""; do
	echo "$bad" >$d/serial 2>/dev/null && fail "serial '$bad' accepted"
done
echo 64M >$d/capacity || fail "capacity 64M refused"
echo 4G >$d/capacity || fail "capacity 4G refused"
echo 64M >$d/capacity || fail "capacity 64M refused"
echo 2 >$d/num_queues || fail "num_queues 2 refused"
echo vmdev-blk-selftest >$d/serial || fail "serial refused"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v"
wait_for 20 disk_of "$uuid" || fail "no disk for $uuid"
disk=$(disk_of "$uuid")
[ "$(cat /sys/block/$disk/size)" = 131072 ] || fail "$disk has $(cat /sys/block/$disk/size) sectors, expected 131072"
[ "$(cat /sys/block/$disk/serial)" = vmdev-blk-selftest ] || fail "$disk serial '$(cat /sys/block/$disk/serial)'"
nq=$(ls /sys/block/$disk/mq | wc -l)
[ "$nq" = 2 ] || fail "$disk has $nq hardware queues, expected 2"
[ "$(cat /sys/block/$disk/ro)" = 0 ] || fail "$disk is read-only"
echo 32M >$d/capacity 2>/dev/null && fail "capacity change accepted while virtio_blk runs"
note "settings: bad values refused; virtio_blk sees 64 MiB, serial, 2 queues; changes refused while bound"
ktap_sub ok settings

# --- a filesystem
mnt=$(mktemp -d)
mkfs.ext4 -q -F "/dev/$disk" || fail "mkfs.ext4 /dev/$disk"
mount -t ext4 "/dev/$disk" "$mnt" || fail "mount /dev/$disk"
mkdir "$mnt/dir"
for i in 1 2 3 4; do
	head -c $((i * 1500000 + 4321)) /dev/urandom >"$mnt/dir/file$i" || fail "write file$i"
done
(cd "$mnt/dir" && sha256sum file*) >/tmp/blk-sums
umount "$mnt" || fail "umount"
e2fsck -f -n "/dev/$disk" >/tmp/blk-fsck 2>&1 || { cat /tmp/blk-fsck; fail "fsck found errors"; }
echo 3 >/proc/sys/vm/drop_caches
mount -t ext4 "/dev/$disk" "$mnt" || fail "remount"
(cd "$mnt/dir" && sha256sum -c --quiet /tmp/blk-sums) || fail "files differ after remount"
writes=$(stat_of "$v" writes) reads=$(stat_of "$v" reads) flushes=$(stat_of "$v" flushes)
[ "$writes" -gt 0 ] && [ "$reads" -gt 0 ] || fail "counters: $reads reads, $writes writes"
read -r -a per <"$d/stats/requests_per_queue"
umount "$mnt"
note "ext4: 4 files (6 MB) written, fsck -f clean, same sha256 after remount; $reads reads, $writes writes, $flushes flushes; per queue: ${per[*]}"
ktap_sub ok filesystem

# --- discard and write-zeroes
alloc0=$(stat_of "$v" allocated_bytes)
blkdiscard -f "/dev/$disk" 2>/dev/null || fail "blkdiscard"
alloc1=$(stat_of "$v" allocated_bytes)
[ "$alloc1" -lt "$alloc0" ] || fail "discard freed nothing: $alloc0 then $alloc1 bytes"
[ "$(stat_of "$v" discards)" -gt 0 ] || fail "no discard reached the device"
head -c 1048576 /dev/urandom | dd of="/dev/$disk" bs=64k oflag=direct status=none || fail "write 1 MiB"
d0=$(stat_of "$v" discards)
blkdiscard -z -o 0 -l 1048576 "/dev/$disk" || fail "blkdiscard -z"
[ "$(stat_of "$v" discards)" -gt "$d0" ] || fail "write-zeroes did not reach the device (the kernel zeroed with writes?)"
cmp -n 1048576 "/dev/$disk" /dev/zero || fail "write-zeroes left data"
errs=$(stat_of "$v" errors) unsupp=$(stat_of "$v" unsupported)
[ "$errs" = 0 ] && [ "$unsupp" = 0 ] || fail "virtio_blk's requests failed: $errs errors, $unsupp unsupported"
note "discard: allocated $alloc0 -> $alloc1 bytes; write-zeroes read back as zeroes; no request failed"
ktap_sub ok discard

# --- the same instance through vhost_mdev: what virtio_blk wrote, and malformed requests
load_vhost
head -c 4194304 /dev/urandom >/tmp/blk-pattern
dd if=/tmp/blk-pattern of="/dev/$disk" bs=1M oflag=direct status=none || fail "write the pattern"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/unbind || fail "unbind virtio_mdev"
echo vhost_mdev >"$d/driver_override"
echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $v to vhost_mdev"
node=/dev/$(ls "$d/vhost-mdev" | head -1)
wait_for 5 test -c "$node" || fail "$node did not appear"
out=$(watchdog 60 "$VHOST_CLIENT" blk-read --dev "$node" --bytes 4194304 --out /tmp/blk-back 2>&1) ||
	{ echo "$out"; fail "blk-read"; }
cmp /tmp/blk-pattern /tmp/blk-back || fail "what virtio_blk wrote differs through vhost_mdev"
out=$(watchdog 60 "$VHOST_CLIENT" blk --dev "$node" --serial vmdev-blk-selftest 2>&1) ||
	{ echo "$out"; fail "vhost_client blk on ours"; }
ncase=$(grep -c '^ok ' <<<"$out")
errs=$(stat_of "$v" errors) unsupp=$(stat_of "$v" unsupported)
[ "$errs" -gt 0 ] && [ "$unsupp" -gt 0 ] || fail "the device did not count the refused requests: $errs errors, $unsupp unsupported"
note "vhost_mdev: 4 MiB written by virtio_blk read back the same; $ncase request cases answered as virtio 1.2 asks ($errs IOERR, $unsupp UNSUPP counted)"
ktap_sub ok vhost-personality

# --- differential: the catalogue on upstream's vdpa_sim_blk over vhost_vdpa
modprobe vdpa_sim_blk || fail "modprobe vdpa_sim_blk"
vdpa dev add mgmtdev vdpasim_blk name upblk || fail "vdpa dev add vdpasim_blk"
upnode=$(vhost_vdpa_node upblk) || exit 1
ours=$(watchdog 60 "$VHOST_CLIENT" blk --dev "$node" --report 1 2>&1) || { echo "$ours"; fail "report on ours"; }
theirs=$(watchdog 60 "$VHOST_CLIENT" blk --dev "$upnode" --report 1 2>&1) || { echo "$theirs"; fail "report on upstream"; }
vdpa dev del upblk
same=0 differ=0
while read -r tag case got; do
	[ "$tag" = got ] || continue
	up=$(awk -v c="$case" '$1 == "got" && $2 == c { print $3 }' <<<"$theirs")
	if [ "$up" = "$got" ]; then
		same=$((same + 1))
	else
		differ=$((differ + 1))
		note "differs: $case: ours $got, upstream ${up:-absent}"
		# Well-formed requests both implement must agree.
		case $case in write-8k|read-8k|read-split-buffers|flush|get-id|read-after-errors)
			fail "upstream and ours disagree on a well-formed request: $case";;
		esac
	fi
done <<<"$ours"
note "differential with vdpa_sim_blk: $same cases answered alike, $differ differ"
ktap_sub ok differential

# --- read-only
uuid2=$(new_uuid)
disk2=$(create_blk "$uuid2" capacity=1M read_only=1 num_queues=1) || exit 1
[ "$(cat /sys/block/$disk2/ro)" = 1 ] || fail "$disk2 not read-only to the kernel"
dd if=/dev/zero of="/dev/$disk2" bs=4k count=1 oflag=direct status=none 2>/dev/null && fail "a write to a read-only disk succeeded"
dd if="/dev/$disk2" of=/dev/null bs=4k count=1 iflag=direct status=none || fail "read from read-only disk"
# The device itself refuses writes: a userspace driver does not stop at the kernel's ro flag.
v2=$(vmdev_of "$uuid2")
echo "$v2" >/sys/bus/vmdev/drivers/virtio_mdev/unbind || fail "unbind $v2"
echo vhost_mdev >"/sys/bus/vmdev/devices/$v2/driver_override"
echo "$v2" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $v2 to vhost_mdev"
node2=/dev/$(ls "/sys/bus/vmdev/devices/$v2/vhost-mdev" | head -1)
wait_for 5 test -c "$node2" || fail "$node2 did not appear"
out=$(watchdog 60 "$VHOST_CLIENT" blk --dev "$node2" 2>&1) || { echo "$out"; fail "vhost_client blk on the read-only disk"; }
grep -qx "ok write-8k 1" <<<"$out" || { echo "$out"; fail "a write through vhost was not refused"; }
note "read-only: the kernel sees ro=1 (VIRTIO_BLK_F_RO) and refuses writes; the device refuses them from userspace (IOERR)"
ktap_sub ok read-only

# --- teardown with the disk and the vhost node open, then unload
uuid3=$(new_uuid)
disk3=$(create_blk "$uuid3" capacity=1M) || exit 1
exec 7<"/dev/$disk3" 8<"$node"
mdev_remove "$uuid3" || fail "remove $uuid3 with its disk open"
mdev_remove "$uuid" || fail "remove $uuid with its vhost node open"
exec 7<&- 8<&-
mdev_remove "$uuid2"
rmdir "$mnt"
rm -f /tmp/blk-pattern /tmp/blk-back /tmp/blk-sums /tmp/blk-fsck
rmmod vhost_mdev
unload_modules
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { head -40 /sys/kernel/debug/kmemleak; fail "kmemleak found $leaks leaks"; }
note "removed with a disk and a vhost node open; modules unloaded; kmemleak: 0"
ktap_sub ok teardown
exit 0
