#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vhost_mdev lifecycle: pins are released when a process dies holding them, a device removed
# under an open node fails the next call cleanly and frees everything at close, malicious
# rings neither hang nor crash the device, and one instance switches between virtio_mdev and
# vhost_mdev with traffic after each switch.
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
ulimit -l unlimited
kmemleak_clear


uuid=$(new_uuid)
dev=$(create_vhost "$uuid") || exit 1
v=$(vmdev_of "$uuid")

# A process that dies holding 16 MiB of pinned pages.
p0=$(base_pins)
"$VHOST_CLIENT" hold --dev "$dev" --mb 16 >/tmp/hold.out 2>&1 &
hold=$!
wait_for 30 grep -q mapped /tmp/hold.out || { cat /tmp/hold.out; fail "hold did not map"; }
p1=$(pins)
[ $((p1 - p0)) -ge 4000 ] || fail "16 MiB mapped but only $((p1 - p0)) pages pinned"
grep -q 'VmPin:[[:space:]]*16384 kB' /tmp/hold.out || fail "VmPin: $(grep VmPin /tmp/hold.out)"
kill -9 $hold; wait $hold 2>/dev/null
wait_for 10 pins_are "$p0" || fail "pins after SIGKILL: $(pins), before: $p0"
note "SIGKILL with 16 MiB mapped: $((p1 - p0)) pages pinned, all released"

# Permissions: the node is root's with mode 0600, and an unprivileged process can neither
# open it nor write any attribute of the device (the vmdev device's and the simulator's).
perm=$(stat -c '%a %U' "$dev")
[ "$perm" = "600 root" ] || fail "$dev is '$perm', expected '600 root'"
nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
nobody sh -c "exec 3<>'$dev'" 2>/dev/null && fail "an unprivileged process opened $dev"
writable=$(find "/sys/bus/vmdev/devices/$v/" "/sys/bus/mdev/devices/$uuid/" -maxdepth 2 \
	-type f -perm -u+w 2>/dev/null)
[ -n "$writable" ] || fail "no writable attribute found under $v"
n=0
for a in $writable; do
	nobody sh -c "echo 1 >'$a'" 2>/dev/null && fail "an unprivileged write to $a was accepted"
	n=$((n + 1))
done
world=$(find "/sys/bus/vmdev/devices/$v/" -maxdepth 2 -type f -perm /o+w)
[ -z "$world" ] || fail "world-writable attributes: $world"
note "permissions: $dev is 0600 root; an unprivileged process could not open it nor write any of $n attributes"

# RLIMIT_MEMLOCK across two devices of one owner, mapped from two threads at once, under a
# limit that holds one map: exactly one may pass in every round (before the pages were
# charged up front, both passed the check and pinned twice the limit).
uuid2=$(new_uuid)
dev2=$(create_vhost "$uuid2") || exit 1
out=$(watchdog 120 "$VHOST_CLIENT" memlock-race --dev "$dev" --dev2 "$dev2" --rounds 40 2>&1) ||
	{ echo "$out"; fail "memlock-race"; }
note "$(grep '^memlock-race' <<<"$out")"
# INVALIDATE leaves the unpinning to a worker and the pages charged until then: a map at
# once after it, on either device, must release them and pass, and with both devices still
# open every pin must go.
out=$(watchdog 300 "$VHOST_CLIENT" memlock-remap --dev "$dev" --dev2 "$dev2" --rounds 20 2>&1) ||
	{ echo "$out"; fail "memlock-remap"; }
note "$(grep '^memlock-remap' <<<"$out")"
mdev_remove "$uuid2" || fail "remove $uuid2"
wait_for 10 pins_are "$p0" || fail "pins after memlock-race: $(pins), before: $p0"

# A large map gives up when its owner is killed: SIGKILL once the map has started (VmPin,
# charged before the first page is pinned), then the process must be gone within seconds
# and every pin released (the pages of the run being built included).
"$VHOST_CLIENT" hold --dev "$dev" --mb 256 >/tmp/hold4.out 2>&1 &
hold=$!
wait_for 60 sh -c "grep -q '^VmPin:[[:space:]]*[1-9]' /proc/$hold/status 2>/dev/null" ||
	fail "the 256 MiB map did not start"
t0=$(date +%s%N)
kill -9 $hold; wait $hold 2>/dev/null
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
mapped=$(grep -c mapped /tmp/hold4.out)
[ $ms -lt 10000 ] || fail "a killed 256 MiB map took $ms ms to end"
wait_for 10 pins_are "$p0" || fail "pins after killing a map: $(pins), before: $p0"
note "SIGKILL during a 256 MiB map: gone after $ms ms (map finished first: $mapped), every pin released"

# A device that refuses to unmap (test knob dma_unmap_fails) may still reach the pages, so
# they stay pinned when their owner dies, until the device stops translating at removal.
uuid3=$(new_uuid)
dev3=$(create_vhost "$uuid3") || exit 1
v3=$(vmdev_of "$uuid3")
"$VHOST_CLIENT" hold --dev "$dev3" --mb 4 >/tmp/hold3.out 2>&1 &
hold=$!
wait_for 30 grep -q mapped /tmp/hold3.out || { cat /tmp/hold3.out; fail "hold did not map"; }
p1=$(pins)
echo 1 >"/sys/bus/vmdev/devices/$v3/test/dma_unmap_fails" || fail "set dma_unmap_fails"
kill -9 $hold; wait $hold 2>/dev/null
sleep 2
[ "$(pins)" -ge $((p0 + 1024)) ] ||
	fail "pins the device refused to unmap were released: $(pins), $p1 while mapped, $p0 before"
mdev_remove "$uuid3" || fail "remove $uuid3"
wait_for 10 pins_are "$p0" || fail "pins after removing the refusing device: $(pins), before: $p0"
note "a device that refused the unmap kept its $((p1 - p0)) pages pinned past the owner's death, released at removal"

# Malicious rings: none may hang or crash; the device stays usable after a reset.
for c in loop unmapped huge-len avail-jump aliased; do
	out=$(timeout 60 "$VHOST_CLIENT" malicious --dev "$dev" --case $c 2>&1) ||
		{ echo "$out"; fail "malicious $c"; }
	st=$(echo "$out" | grep -o 'status 0x[0-9a-f]*' | tail -1)
	note "malicious $c: $st"
done
# The aliased frame (RX buffer overlapping the TX buffer) is legal: it must be delivered, and
# the device must not ask for a reset (DEVICE_NEEDS_RESET, 0x40).
grep -q 'used entries appeared: yes' <<<"$out" || fail "aliased frame not completed: $out"
(( ${st#status } & 0x40 )) && fail "aliased frame broke the device: $st"

"$VHOST_CLIENT" traffic --dev "$dev" --frames 40 >/dev/null || fail "traffic after malicious rings"
# Polled, like every pin check here: the FOLL_PIN counters are per-CPU deltas that
# /proc/vmstat shows only once vmstat folds them in (within vm.stat_interval, 1 s).
wait_for 10 pins_are "$p0" || fail "pins leaked by the malicious cases: $(pins), before: $p0"

# Removal under an open node: the next call fails with ENODEV, close works, pins released.
"$VHOST_CLIENT" hold --dev "$dev" --mb 4 >/tmp/hold.out 2>&1 &
hold=$!
wait_for 30 grep -q mapped /tmp/hold.out || fail "hold did not map"
mdev_remove "$uuid" || fail "remove with the node open"
[ -e "$dev" ] && fail "$dev outlived its device"
wait_for 10 pins_are "$p0" || fail "pins after removal: $(pins), before: $p0"
kill -9 $hold; wait $hold 2>/dev/null
note "removed with the node open: node gone, pins released before close"
python3 - "$VMDEV_REPO" <<'PY' || fail "call after removal"
import errno, fcntl, os, subprocess, sys, uuid
u = str(uuid.uuid4())
t = "/sys/class/mdev_bus/vmdev_sim/mdev_supported_types/vmdev_sim-net/create"
open("/sys/bus/vmdev/drivers_autoprobe", "w").write("0")
open(t, "w").write(u)
open("/sys/bus/vmdev/drivers_autoprobe", "w").write("1")
v = [d for d in os.listdir(f"/sys/bus/mdev/devices/{u}") if d.startswith("vmdev")][0]
open(f"/sys/bus/vmdev/devices/{v}/driver_override", "w").write("vhost_mdev")
open("/sys/bus/vmdev/drivers/vhost_mdev/bind", "w").write(v)
node = os.listdir(f"/sys/bus/vmdev/devices/{v}/vhost-mdev")[0]
fd = os.open(f"/dev/{node}", os.O_RDWR)
fcntl.ioctl(fd, 0xAF01)                         # VHOST_SET_OWNER
open(f"/sys/bus/mdev/devices/{u}/remove", "w").write("1")
try:
    fcntl.ioctl(fd, 0x8004AF70, bytearray(4))    # VHOST_VDPA_GET_DEVICE_ID
    sys.exit("ioctl after removal succeeded")
except OSError as e:
    if e.errno != errno.ENODEV:
        sys.exit(f"ioctl after removal: {errno.errorcode[e.errno]}, expected ENODEV")
try:
    os.write(fd, bytes(72))
    sys.exit("write after removal succeeded")
except OSError as e:
    if e.errno != errno.ENODEV:
        sys.exit(f"write after removal: {errno.errorcode[e.errno]}, expected ENODEV")
os.close(fd)
print("ioctl and write after removal: ENODEV; close: fine")
PY

# Switching personalities on one instance: virtio_mdev -> vhost_mdev -> virtio_mdev.
uuid=$(new_uuid)
nd=$(create_net "$uuid" 02:11:22:33:44:66 1500)
v=$(vmdev_of "$uuid")
"$PKTLOOP" "$nd" 02:11:22:33:44:66 60 1514 7 || fail "traffic under virtio_mdev"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/unbind || fail "unbind virtio_mdev"
echo vhost_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind vhost_mdev"
n=$(ls "/sys/bus/vmdev/devices/$v/vhost-mdev" | head -1)
wait_for 5 test -c "/dev/$n" || fail "no /dev/$n"
"$VHOST_CLIENT" traffic --dev "/dev/$n" --frames 40 | grep 'came back' || fail "traffic under vhost_mdev"
echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/unbind || fail "unbind vhost_mdev"
echo virtio_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind virtio_mdev again"
wait_for 20 netdev_of "$uuid" || fail "no interface after switching back"
nd=$(netdev_of "$uuid")
ip link set "$nd" up
"$PKTLOOP" "$nd" 02:11:22:33:44:66 60 1514 7 || fail "traffic under virtio_mdev after the switch"
note "virtio_mdev -> vhost_mdev -> virtio_mdev: traffic after each switch"
mdev_remove "$uuid"
[ "$(kmemleak_scan)" = 0 ] || fail "kmemleak reports"
exit 0
