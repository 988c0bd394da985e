#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# selftest-timeout: 1200
# vhost_mdev with a real client: Debian's unmodified QEMU runs in this VM with
# `-netdev vhost-vdpa,vhostdev=/dev/vhost-mdev-N,queues=2 -device virtio-net-pci,mq=on,...`
# and boots an inner guest (the plain test kernel and a busybox initramfs, two CPUs) under
# TCG. The device has two queue pairs; the inner guest's own virtio_net sees both, enables
# both (MQ_VQ_PAIRS_SET, one pair per CPU) and changes its MAC, both through the control
# queue, which QEMU 7.2 passes through to the device. Then pktloop, pinned to each inner CPU
# in turn, sends frames to the new MAC; the simulator loops them back on the pair they came
# from, and pktloop checks that each comes back bit-exact and once.
#
# QEMU sets the MAC given on its command line through VHOST_VDPA_SET_CONFIG, so the device
# keeps its own MAC until then; the guest's MAC change must then reach the device too, or
# the frames to the new MAC would not come back.
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
INNER_KERNEL=${VMDEV_INNER_KERNEL:-}
[ -f "$INNER_KERNEL" ] || fail "no inner guest kernel (VMDEV_INNER_KERNEL='$INNER_KERNEL'; scripts/kernel.sh plain builds it)"
[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"
command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed"
# QEMU pins all guest RAM through IOTLB updates.
ulimit -l unlimited
kmemleak_clear
MAC=02:11:22:33:44:99
NEW_MAC=02:11:22:33:44:aa
FRAMES=112  # pktloop 60..1514 step 13, per inner CPU

# The inner guest's root: busybox, pktloop with the libraries it links, and an init that
# runs the traffic and then prints its whole kernel log for the scan below.
root=/tmp/inner/root
rm -rf /tmp/inner; mkdir -p $root/bin $root/proc $root/sys $root/dev
cp /bin/busybox $root/bin/ || fail "no static busybox"
cp "$PKTLOOP" $root/bin/pktloop
for lib in $(ldd "$PKTLOOP" | grep -o '/[^ ]*'); do
	mkdir -p "$root$(dirname "$lib")" && cp -L "$lib" "$root$lib" || fail "copy $lib"
done
cat >$root/init <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "inner: \$(uname -r), booted in \$(cut -d' ' -f1 /proc/uptime)s"
for nd in \$(ls /sys/class/net); do
	[ "\$(basename "\$(readlink /sys/class/net/\$nd/device/driver)")" = virtio_net ] && break
	nd=
done
[ -n "\$nd" ] || { echo "inner: no virtio_net interface"; poweroff -f; }
echo "inner: \$nd, mac \$(cat /sys/class/net/\$nd/address), mtu \$(cat /sys/class/net/\$nd/mtu), \$(ls -d /sys/class/net/\$nd/queues/rx-* | wc -l) rx queues, \$(nproc) cpus"
ip link set dev \$nd address $NEW_MAC || echo "inner: MAC change failed"
ip link set dev \$nd up
rc=0
for cpu in 0 1; do
	echo "inner: traffic on cpu \$cpu from \$(cut -d' ' -f1 /proc/uptime)s"
	taskset -c \$cpu pktloop \$nd $NEW_MAC 60 1514 13 || rc=1
done
echo "inner: traffic done at \$(cut -d' ' -f1 /proc/uptime)s"
echo "inner: pktloop exit \$rc"
echo "inner: kernel log follows"
dmesg
poweroff -f
EOF
chmod +x $root/init
(cd $root && find . | cpio -o -H newc --quiet) >/tmp/inner/initramfs.cpio || fail "cpio"

uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
echo 2 >"/sys/bus/vmdev/devices/$v/max_queue_pairs" || fail "max_queue_pairs 2"
own_mac=$(cat "/sys/bus/vmdev/devices/$v/mac")
[ "$own_mac" != $MAC ] || fail "the device already has $MAC"
echo vhost_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $v to vhost_mdev"
n=$(ls "/sys/bus/vmdev/devices/$v/vhost-mdev" | head -1)
wait_for 5 test -c "/dev/$n" || fail "no /dev/$n"
note "device: $v on /dev/$n, own mac $own_mac"
tx0=$(stat_of "$v" tx_packets) rx0=$(stat_of "$v" rx_packets) p0=$(pins)

# romfile= skips the iPXE option ROM, which only slows the boot down. The inner guest runs
# under TCG inside this TCG guest: it boots in about 100 s here and was seen to take 2.5
# times as long on a busy CI machine, so the limit leaves room for that.
log=/tmp/inner/console.log
start=$(date +%s)
timeout -k 10 ${VMDEV_INNER_TIMEOUT:-1000} qemu-system-x86_64 -machine pc -accel tcg -m 256M -smp 2 \
	-nographic -no-reboot -nodefaults -serial file:$log \
	-kernel "$INNER_KERNEL" -initrd /tmp/inner/initramfs.cpio \
	-append "console=ttyS0 loglevel=5 pci=noacpi panic=-1 oops=panic rdinit=/init" \
	-netdev vhost-vdpa,vhostdev=/dev/$n,id=vdpa0,queues=2 \
	-device virtio-net-pci,netdev=vdpa0,mac=$MAC,mq=on,romfile= </dev/null >/tmp/inner/qemu.out 2>&1
rc=$?
el=$(( $(date +%s) - start ))
sed 's/^/qemu: /' /tmp/inner/qemu.out
grep -a '^inner: \|^pktloop' $log | grep -v 'kernel log follows'
[ $rc = 0 ] || { tail -40 $log; fail "QEMU exited with $rc after ${el}s"; }
[ -s /tmp/inner/qemu.out ] && fail "QEMU reported errors (above)"
grep -aq 'inner: pktloop exit 0' $log || { tail -60 $log; fail "traffic in the inner guest failed"; }
# The inner guest's kernel must not have complained either (a TX timeout is how a stalled
# device shows there).
"$VMDEV_REPO/scripts/check-guest-log.sh" $log || fail "the inner guest's kernel logged an error"
grep -aq 'NETDEV WATCHDOG' $log && fail "the inner guest saw a transmit timeout"

tx=$(( $(stat_of "$v" tx_packets) - tx0 )) rx=$(( $(stat_of "$v" rx_packets) - rx0 ))
note "QEMU ran ${el}s; the device counted $tx frames sent and $rx received"
[ $rx -ge $((2 * FRAMES)) ] || fail "the device looped only $rx frames"
grep -aq 'inner: .* 2 rx queues, 2 cpus' $log || fail "the inner guest does not use 2 queue pairs"
read -ra per <<<"$(stat_of "$v" tx_packets_per_pair)"
note "frames sent per pair: ${per[*]}"
[ "${per[0]}" -gt 0 ] && [ "${per[1]}" -gt 0 ] || fail "not both pairs carried frames"
now_mac=$(cat "/sys/bus/vmdev/devices/$v/mac")
[ "$now_mac" = $NEW_MAC ] || fail "the device MAC is $now_mac, not the inner guest's $NEW_MAC"
note "the device MAC: $own_mac, then $MAC from QEMU's SET_CONFIG, then $NEW_MAC from the inner guest over the control queue ($(stat_of "$v" ctrl_commands) commands, $(stat_of "$v" ctrl_errors) refused)"
[ "$(stat_of "$v" ctrl_errors)" = 0 ] || fail "the device refused a control command"
wait_for 10 pins_are "$p0" || fail "pins after QEMU exited: $(pins), before: $p0"
note "every page QEMU pinned was released at exit"
[ -e "/dev/$n" ] || fail "/dev/$n went away"
mdev_remove "$uuid" || fail "remove $uuid"
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || fail "kmemleak: $leaks leaks"
exit 0
