#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# PID 1 of the test VM. The root filesystem is the host's, read-only over 9p; everything that
# must be writable is a tmpfs. Runs /tmp/out/job.sh (or an interactive shell) and powers off.
export PATH=/tmp/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=${TERM:-linux}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm 2>/dev/null
mount -t devpts devpts /dev/pts
# Keep a view of the host root before covering directories with tmpfs, so host paths the run
# needs (the repository, the modules) stay reachable even if they live under /tmp or /root.
mkdir -p /dev/.hostroot
mount --bind / /dev/.hostroot
for d in /tmp /run /root /var/tmp /var/log /dev/shm; do mount -t tmpfs tmpfs "$d"; done
for p in "$VMDEV_REPO" "$VMDEV_MODULES" "$VMDEV_MODROOT"; do
	[ -d "$p" ] && continue
	mkdir -p "$p" && mount --bind "/dev/.hostroot$p" "$p"
done
mount -t debugfs debugfs /sys/kernel/debug
mkdir -p /tmp/out /tmp/bin
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vmdevout /tmp/out

# The host has no /lib/modules for this kernel; point modprobe at the kernel build's tree.
cat >/tmp/bin/modprobe <<EOS
#!/bin/sh
exec /usr/sbin/modprobe -d "$VMDEV_MODROOT" "\$@"
EOS
chmod +x /tmp/bin/modprobe
echo /tmp/bin/modprobe >/proc/sys/kernel/modprobe
hostname vmdev-vm
ip link set lo up
ulimit -c 0
cd "$VMDEV_REPO" || exit 1
echo "vmdev-guest: $(uname -r), $(nproc) cpus, booted in $(cut -d' ' -f1 /proc/uptime)s"
if [ "$VMDEV_LOAD" = 1 ]; then
	( . selftests/lib.sh && load_modules ) && echo "vmdev-guest: loaded $(cut -d' ' -f1 /proc/modules | grep -E '^(mdev|vmdev|vmdev_sim|virtio_mdev)$' | tr '\n' ' ')"
fi

if [ "$VMDEV_INTERACTIVE" = 1 ]; then
	echo "vmdev-guest: modules in \$VMDEV_MODULES=$VMDEV_MODULES; 'exit' powers the VM off"
	setsid -c bash -i </dev/ttyS0 >/dev/ttyS0 2>&1
else
	bash /tmp/out/job.sh </dev/null
	echo $? >/tmp/out/status.tmp
fi
dmesg >/tmp/out/dmesg.txt
[ -f /tmp/out/status.tmp ] && mv /tmp/out/status.tmp /tmp/out/status
sync
umount /tmp/out
echo "vmdev-guest: powering off"
busybox reboot -f
