# SPDX-License-Identifier: GPL-2.0
# An inner guest for the tests and the benchmark that run Debian's unmodified QEMU on a vhost
# device: the plain test kernel and a busybox initramfs with pktloop, two CPUs, under TCG,
# with a QMP socket; and live migration between two such QEMUs. Sourced after lib.sh.
# shellcheck shell=bash
INNER_KERNEL=${VMDEV_INNER_KERNEL:-}
INNER_DIR=/tmp/inner
INNER_MEM=${VMDEV_INNER_MEM:-256M}
# QEMU 7.2 under TCG loses guest writes during a migration when a RAM block is a multiple
# of 256 KiB: the aligned fast path of cpu_physical_memory_sync_dirty_bitmap() clears the
# dirty bits without resetting the TCG TLB (include/exec/ram_addr.h; fixed in QEMU 9.0 by
# 03bfc2188f). 256 MiB + 8 KiB takes the slow path, which resets it.
INNER_MIGRATION_MEM=${VMDEV_INNER_MEM:-262152k}

qmp() { /usr/bin/python3 "$VMDEV_REPO/selftests/qmp.py" "$@"; }

# inner_initramfs TRAFFIC_MAC STREAM_SECS [STREAM_MAX_LEN]: builds $INNER_DIR/initramfs.cpio.
# Its init finds the virtio_net interface; with TRAFFIC_MAC, sets that MAC and loops frames to
# it with pktloop on each CPU in turn ("inner: pktloop exit RC"); with STREAM_SECS > 0, then
# streams broadcast frames of 60 to STREAM_MAX_LEN (1514) bytes from CPU 0 for that long
# ("inner: stream start", "inner: stream exit RC"); then prints its kernel log and powers
# off.
inner_initramfs() {
	local mac=$1 secs=$2 max_len=${3:-1514} root=$INNER_DIR/root lib
	[ -f "$INNER_KERNEL" ] || fail "no inner guest kernel (VMDEV_INNER_KERNEL='$INNER_KERNEL'; scripts/kernel.sh plain builds it)"
	[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"
	command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed"
	rm -rf $INNER_DIR; mkdir -p $root/bin $root/proc $root/sys $root/dev
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
if [ -n "$mac" ]; then
	ip link set dev \$nd address $mac || echo "inner: MAC change failed"
fi
ip link set dev \$nd up
if [ -n "$mac" ]; then
	rc=0
	for cpu in 0 1; do
		echo "inner: traffic on cpu \$cpu from \$(cut -d' ' -f1 /proc/uptime)s"
		taskset -c \$cpu pktloop \$nd $mac 60 1514 29 || rc=1
	done
	echo "inner: traffic done at \$(cut -d' ' -f1 /proc/uptime)s"
	echo "inner: pktloop exit \$rc"
fi
if [ $secs -gt 0 ]; then
	echo "inner: stream start"
	taskset -c 0 pktloop \$nd ff:ff:ff:ff:ff:ff --stream $secs --max-len $max_len
	echo "inner: stream exit \$?"
fi
echo "inner: kernel log follows"
dmesg
poweroff -f
EOF
	chmod +x $root/init
	(cd $root && find . | cpio -o -H newc --quiet) >$INNER_DIR/initramfs.cpio || fail "cpio"
}

# inner_qemu SERIAL QMP NETDEV DEVICE [ARGS...]: runs QEMU with the inner guest, its console
# in file SERIAL, QMP on socket QMP, `-netdev NETDEV,id=vdpa0 -device DEVICE,netdev=vdpa0`.
# romfile= skips the iPXE option ROM, which only slows the boot down. The inner guest runs
# under TCG inside a TCG guest: it boots in about 100 s on the debug kernel and was seen to
# take 2.5 times as long on a busy CI machine; the limit leaves room for that.
inner_qemu() {
	local serial=$1 sock=$2 netdev=$3 device=$4
	shift 4
	timeout -k 10 ${VMDEV_INNER_TIMEOUT:-1000} qemu-system-x86_64 -machine pc -accel tcg \
		-m $INNER_MEM -smp 2 -nographic -no-reboot -nodefaults -serial file:$serial \
		-qmp unix:$sock,server=on,wait=off \
		-kernel "$INNER_KERNEL" -initrd $INNER_DIR/initramfs.cpio \
		-append "console=ttyS0 loglevel=5 pci=noacpi panic=-1 oops=panic rdinit=/init" \
		-netdev "$netdev,id=vdpa0" -device "$device,netdev=vdpa0,romfile=" "$@" </dev/null
}

# inner_wait_for SECS PID FILE PATTERN: waits until FILE has a line matching PATTERN; fails
# (1) if process PID ends first or SECS pass.
inner_wait_for() {
	local secs=$1 pid=$2 file=$3 pat=$4 t0
	t0=$(date +%s)
	until grep -aqs "$pat" "$file"; do
		kill -0 "$pid" 2>/dev/null || return 1
		[ $(( $(date +%s) - t0 )) -lt "$secs" ] || return 1
		sleep 1
	done
}

# inner_migrate FROM_QMP SERIAL QMP NETDEV DEVICE SOCKET [paused]: starts a destination QEMU
# (its pid in $inner_to) listening on unix socket SOCKET, and migrates the guest of the QEMU
# on FROM_QMP to it; sets $inner_total and $inner_down (QEMU's total time and downtime, ms)
# and $inner_down_kb (what QEMU sent while the guest was stopped, KiB).
# With "paused" the destination is started with -S, and is left paused once it has loaded
# the guest (QMP cont runs it), so that both QEMUs' RAM can be compared (inner_ramdiff).
inner_migrate() {
	local from=$1 serial=$2 to=$3 netdev=$4 device=$5 sock=$6 paused=${7:-} m0 info status
	local args=(-incoming unix:$sock)
	[ "$paused" = paused ] && args+=(-S)
	inner_qemu $serial $to "$netdev" "$device" "${args[@]}" >$serial.qemu 2>&1 &
	inner_to=$!
	wait_for 60 test -S $sock || fail "the destination QEMU does not listen: $(cat $serial.qemu)"
	m0=$(date +%s)
	qmp $from migrate "{\"uri\": \"unix:$sock\"}" >/dev/null || fail "QMP migrate refused"
	status=
	while [ $(( $(date +%s) - m0 )) -lt 600 ]; do
		info=$(qmp $from query-migrate) || break
		status=$(/usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("status"))' "$info")
		case $status in completed|failed|cancelled) break;; esac
		sleep 1
	done
	note "migration: $status after $(( $(date +%s) - m0 )) s: $info"
	if [ "$status" != completed ]; then
		kill $(jobs -p) 2>/dev/null; wait
		sed 's/^/qemu (destination): /' $serial.qemu
		fail "the migration did not complete"
	fi
	read -r inner_total inner_down inner_down_kb <<<"$(/usr/bin/python3 -c 'import json,sys; m=json.loads(sys.argv[1]); print(m.get("total-time"), m.get("downtime"), m.get("ram", {}).get("downtime-bytes", 0) // 1024)' "$info")"
	if [ "$paused" = paused ]; then
		# The source has sent everything; the destination is done when it leaves inmigrate.
		m0=$(date +%s)
		until qmp $to query-status | grep -q '"status": "paused"'; do
			[ $(( $(date +%s) - m0 )) -lt 120 ] || fail "the destination did not finish loading: $(qmp $to query-status)"
			sleep 1
		done
	fi
}

# inner_ramdiff FROM_QMP TO_QMP: after a migration to a paused destination, compares the
# guest RAM of both QEMUs page by page; prints "N of M pages differ[: first addresses]".
# Nothing runs on either side then, so a correct migration leaves no page different.
inner_ramdiff() {
	local bytes
	case $INNER_MEM in
	*k) bytes=$(( ${INNER_MEM%k} * 1024 ));;
	*M) bytes=$(( ${INNER_MEM%M} * 1024 * 1024 ));;
	*) fail "inner_ramdiff: cannot read INNER_MEM=$INNER_MEM";;
	esac
	/usr/bin/python3 "$VMDEV_REPO/selftests/ramdiff.py" $bytes "$1" "$2" || fail "ramdiff failed"
}

# stream_reports SERIAL: how many of its 5-second reports the stream printed there.
stream_reports() { grep -ac '^pktloop: stream' "$1"; }
# stream_clean LINE: nothing altered or duplicated in a stream report.
stream_clean() { grep -q 'duplicated 0, altered 0,' <<<"$1"; }
