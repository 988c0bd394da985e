#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# selftest-timeout: 1800
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
#
# Upstream's vdpa_sim_net offers no VHOST_F_LOG_ALL, and QEMU 7.2 refuses to migrate it
# without x-svq: checked on a QEMU that need not boot anything.
#
# Live migration without shadow virtqueues (issue 13) follows the traffic: the inner guest
# streams frames (pktloop --stream, broadcast, on CPU 0) while the test migrates it with QMP
# to a second QEMU, started with -incoming on a second instance B. The stream goes on on B
# and must see no frame altered or duplicated (frames lost in the downtime are counted).
# QEMU 7.2 replays no control-queue state to the destination without x-svq
# (net/vhost-vdpa.c), so B has the command line's MAC and one pair in use: the stream is
# broadcast, from CPU 0 (pair 0).
#
# Each destination starts paused (-S): once it has loaded the guest, the test compares both
# QEMUs' guest RAM page by page (pmemsave, selftests/ramdiff.py), which must be equal, and
# only then lets the guest run on.
#
# The devices have an MTU of 9000 (QEMU's host_mtu=9000) and the stream's frames run to 9014
# bytes. virtio_net then receives into chains of whole pages, and takes a frame longer than
# a page by copying its first 128 bytes and attaching the rest of its pages, which the guest
# never writes: pages only the device writes, which reach the destination only through the
# device's log. (A frame within one buffer page does not need the log: virtio_net writes
# its skb_shared_info into that page, and QEMU's own tracking resends it.)
#
# Then the control: the guest migrates on, from B back to A, with B's dirty_log_off knob on,
# and the RAM comparison must find pages that differ: the run shows the check can fail.
#
# VMDEV_QEMU_MIGRATION=0 skips the migrations, =1 the control.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../inner.sh"
load_modules
load_vhost
# QEMU pins all guest RAM through IOTLB updates.
ulimit -l unlimited
kmemleak_clear
MAC=02:11:22:33:44:99
NEW_MAC=02:11:22:33:44:aa
FRAMES=51  # pktloop 60..1514 step 29, per inner CPU
MIGRATE=${VMDEV_QEMU_MIGRATION:-2}  # 0: none, 1: A to B, 2: and the control back to A
[ $MIGRATE = 0 ] || INNER_MEM=$INNER_MIGRATION_MEM
# The stream the migrations run under: it must outlast them (about 25 s each here, and the
# RAM comparisons) and leave B two of its 5-second reports.
STREAM_SECS=0
[ $MIGRATE = 0 ] || STREAM_SECS=${VMDEV_STREAM_SECS:-150}
inner_initramfs $NEW_MAC $STREAM_SECS 9014

uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
echo 2 >"/sys/bus/vmdev/devices/$v/max_queue_pairs" || fail "max_queue_pairs 2"
echo 9000 >"/sys/bus/vmdev/devices/$v/mtu" || fail "mtu 9000"
own_mac=$(cat "/sys/bus/vmdev/devices/$v/mac")
[ "$own_mac" != $MAC ] || fail "the device already has $MAC"
echo vhost_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $v to vhost_mdev"
n=$(ls "/sys/bus/vmdev/devices/$v/vhost-mdev" | head -1)
wait_for 5 test -c "/dev/$n" || fail "no /dev/$n"
note "device: $v on /dev/$n, own mac $own_mac"
# B, the destination of the migration: the same kind of device.
uuid_b=$(new_uuid)
vb=$(create_unbound "$uuid_b") || exit 1
echo 2 >"/sys/bus/vmdev/devices/$vb/max_queue_pairs" || fail "max_queue_pairs 2 on B"
echo 9000 >"/sys/bus/vmdev/devices/$vb/mtu" || fail "mtu 9000 on B"
echo vhost_mdev >"/sys/bus/vmdev/devices/$vb/driver_override"
echo "$vb" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind $vb to vhost_mdev"
nb=$(ls "/sys/bus/vmdev/devices/$vb/vhost-mdev" | head -1)
wait_for 5 test -c "/dev/$nb" || fail "no /dev/$nb"
note "migration destination: $vb on /dev/$nb"
tx0=$(stat_of "$v" tx_packets) rx0=$(stat_of "$v" rx_packets) p0=$(base_pins)

log=$INNER_DIR/console.log logb=$INNER_DIR/console-b.log logc=$INNER_DIR/console-c.log
qmp_a=$INNER_DIR/qmp-a qmp_b=$INNER_DIR/qmp-b qmp_c=$INNER_DIR/qmp-c
NET_DEVICE=virtio-net-pci,mac=$MAC,mq=on,host_mtu=9000
net_on() { echo "vhost-vdpa,vhostdev=/dev/$1,queues=2"; }  # net_on NODE: the -netdev
start=$(date +%s)
inner_qemu $log $qmp_a "$(net_on $n)" $NET_DEVICE >$log.qemu 2>&1 &
qa=$!
# The guest has run its traffic checks (and started the stream), or QEMU ended.
while ! grep -aqs 'inner: stream start' $log; do
	kill -0 $qa 2>/dev/null || break
	sleep 1
done
if [ $MIGRATE = 0 ]; then
	wait $qa
	rc=$?
fi
grep -a '^inner: \|^pktloop' $log | grep -v 'kernel log follows'
if ! grep -aq 'inner: pktloop exit 0' $log; then
	kill $qa 2>/dev/null; wait $qa
	sed 's/^/qemu: /' $log.qemu
	tail -60 $log
	fail "traffic in the inner guest failed ($(( $(date +%s) - start )) s)"
fi
el=$(( $(date +%s) - start ))
guest_logs=$log
if [ $MIGRATE != 0 ]; then
	note "the inner guest booted and ran its traffic in ${el}s; now it streams, and migrates"
	marks0=$(stat_of "$v" log_marks)
	inner_migrate $qmp_a $logb $qmp_b "$(net_on $nb)" $NET_DEVICE $INNER_DIR/migrate.sock paused
	qb=$inner_to total=$inner_total down=$inner_down
	marks=$(( $(stat_of "$v" log_marks) - marks0 ))
	note "the source device ORed bits into $marks words of QEMU's dirty log during the migration"
	[ $marks -gt 0 ] || fail "the source device logged nothing: QEMU did not turn its log on"
	# Both sides stopped: the destination's RAM must be the source's, every page of it.
	diff=$(inner_ramdiff $qmp_a $qmp_b)
	note "guest RAM after the migration, source against destination: $diff"
	[ "${diff%% *}" = 0 ] || fail "the destination's RAM is not the source's: $diff"
	qmp $qmp_b cont >/dev/null || fail "QMP cont on the destination"
	qmp $qmp_a quit >/dev/null 2>&1
	wait $qa
	sed 's/^/qemu: /' $log.qemu
	[ -s $log.qemu ] && fail "QEMU reported errors (above)"
	guest_logs="$log $logb"
fi
# The source device's figures, before anything else runs on it.
tx=$(( $(stat_of "$v" tx_packets) - tx0 )) rx=$(( $(stat_of "$v" rx_packets) - rx0 ))
note "the source device counted $tx frames sent and $rx received"
[ $rx -ge $((2 * FRAMES)) ] || fail "the device looped only $rx frames"
grep -aq 'inner: .* 2 rx queues, 2 cpus' $log || fail "the inner guest does not use 2 queue pairs"
grep -aq 'inner: .*, mtu 9000,' $log || fail "the inner guest's MTU is not the device's 9000"
read -ra per <<<"$(stat_of "$v" tx_packets_per_pair)"
note "frames sent per pair: ${per[*]}"
[ "${per[0]}" -gt 0 ] && [ "${per[1]}" -gt 0 ] || fail "not both pairs carried frames"
now_mac=$(cat "/sys/bus/vmdev/devices/$v/mac")
[ "$now_mac" = $NEW_MAC ] || fail "the device MAC is $now_mac, not the inner guest's $NEW_MAC"
note "the device MAC: $own_mac, then $MAC from QEMU's SET_CONFIG, then $NEW_MAC from the inner guest over the control queue ($(stat_of "$v" ctrl_commands) commands, $(stat_of "$v" ctrl_errors) refused)"
[ "$(stat_of "$v" ctrl_errors)" = 0 ] || fail "the device refused a control command"

if [ $MIGRATE = 1 ]; then
	wait $qb
	rc=$?
	sed 's/^/qemu (B): /' $logb.qemu
	grep -a '^inner: \|^pktloop' $logb | grep -v 'kernel log follows'
	[ $rc = 0 ] || { tail -40 $logb; fail "the destination QEMU exited with $rc"; }
	[ -s $logb.qemu ] && fail "the destination QEMU reported errors (above)"
	grep -aq 'inner: stream exit 0' $logb || { tail -60 $logb; fail "the stream failed across the migration"; }
	stream=$(grep -a '^pktloop: stream' $logb | tail -1)
elif [ $MIGRATE = 2 ]; then
	# The stream on B: two reports, the second at least 5 s after the switch.
	wait_for 120 eval '[ $(stream_reports $logb) -ge 2 ]' ||
		{ tail -40 $logb; fail "the stream made no progress on B"; }
	stream=$(grep -a '^pktloop: stream' $logb | tail -1)
	grep -a '^inner: \|^pktloop' $logb
	stream_clean "$stream" || fail "the stream went wrong across the migration: $stream"
fi
if [ $MIGRATE != 0 ]; then
	note "migration total ${total} ms, downtime ${down} ms (QEMU's figures); the guest's stream: ${stream#pktloop: }"
fi
if [ $MIGRATE = 2 ]; then
	# The control: B's device stops logging, and the guest migrates back to A.
	echo 1 >"/sys/bus/vmdev/devices/$vb/test/dirty_log_off" || fail "set dirty_log_off on B"
	marks0=$(stat_of "$vb" log_marks)
	inner_migrate $qmp_b $logc $qmp_c "$(net_on $n)" $NET_DEVICE $INNER_DIR/migrate-back.sock paused
	qc=$inner_to
	note "B ORed bits into $(( $(stat_of "$vb" log_marks) - marks0 )) words of the log (its knob is on)"
	note "the control migration (B logging nothing): total ${inner_total} ms, downtime ${inner_down} ms"
	diff=$(inner_ramdiff $qmp_b $qmp_c)
	note "guest RAM after the control migration, source against destination: $diff"
	[ "${diff%% *}" = 0 ] || caught="the destination's RAM is not the source's: $diff"
	qmp $qmp_c cont >/dev/null || fail "QMP cont on the control's destination"
	grep -aq 'inner: stream exit' $logb &&
		fail "the stream ended before the control migration did (VMDEV_STREAM_SECS=$STREAM_SECS is too short here)"
	qmp $qmp_b quit >/dev/null 2>&1
	wait $qb
	sed 's/^/qemu (B): /' $logb.qemu
	[ -s $logb.qemu ] && fail "QEMU B reported errors (above)"
	# The guest runs on for two of its stream's reports (up to 20 s), for the record of what
	# it notices: the frames in flight at the stop were received into pages of the source
	# that the destination has stale.
	wait_for 20 eval '[ $(stream_reports $logc) -ge 2 ]'
	qmp $qmp_c quit >/dev/null 2>&1
	wait $qc
	grep -a '^inner: \|^pktloop' $logc | grep -v 'kernel log follows'
	if grep -aq 'came back altered\|came back twice' $logc; then
		noticed="the stream saw $(grep -ac 'came back altered\|came back twice' $logc) frames altered or duplicated"
	elif ! "$VMDEV_REPO/scripts/check-guest-log.sh" $logc >/dev/null 2>&1; then
		noticed="the guest's kernel logged an error"
	fi
	note "the guest after the control migration: ${noticed:-noticed nothing}"
	[ -n "${caught:-}" ] || fail "the control migration, with B logging nothing, went unnoticed: the checks above could not have failed"
	note "the control migration was caught, as it must be: $caught"
	echo 0 >"/sys/bus/vmdev/devices/$vb/test/dirty_log_off"
fi
if [ $MIGRATE = 0 ]; then
	sed 's/^/qemu: /' $log.qemu
	[ $rc = 0 ] || { tail -40 $log; fail "QEMU exited with $rc after ${el}s"; }
	[ -s $log.qemu ] && fail "QEMU reported errors (above)"
fi
note "QEMU ran $(( $(date +%s) - start ))s in all"
# The inner guest's kernel must not have complained (a TX timeout is how a stalled device
# shows there) while the migrations that must work ran.
for l in $guest_logs; do
	"$VMDEV_REPO/scripts/check-guest-log.sh" $l || fail "the inner guest's kernel logged an error ($l)"
	grep -aq 'NETDEV WATCHDOG' $l && fail "the inner guest saw a transmit timeout ($l)"
done
wait_for 10 pins_are "$p0" || fail "pins after QEMU exited: $(pins), before: $p0"
note "every page QEMU pinned was released at exit"
# Upstream's simulator on vhost_vdpa offers no VHOST_F_LOG_ALL: QEMU 7.2 refuses to migrate
# it without x-svq (vhost_dev_init()'s migration blocker), which takes no guest to show.
up=$(create_upstream_vhost 02:11:22:33:44:66) || exit 1
timeout -k 10 120 qemu-system-x86_64 -machine pc -accel tcg -m 64M -nographic -nodefaults -S \
	-qmp unix:$INNER_DIR/qmp-up,server=on,wait=off \
	-netdev vhost-vdpa,vhostdev=$up,id=vdpa0 -device virtio-net-pci,netdev=vdpa0,romfile= \
	</dev/null >$INNER_DIR/qemu-up.out 2>&1 &
qu=$!
wait_for 30 test -S $INNER_DIR/qmp-up || fail "QEMU on $up did not start: $(cat $INNER_DIR/qemu-up.out)"
err=$(qmp $INNER_DIR/qmp-up migrate "{\"uri\": \"unix:$INNER_DIR/nowhere.sock\"}" 2>&1) &&
	fail "QEMU 7.2 started migrating upstream's vhost-vdpa device without x-svq"
qmp $INNER_DIR/qmp-up quit >/dev/null 2>&1
wait $qu
grep -q VHOST_F_LOG_ALL <<<"$err" || fail "QEMU refused the migration, but not for the log: $err"
note "upstream's vdpa_sim_net without x-svq: QEMU 7.2 refuses to migrate: $err"
for d in /sys/bus/vdpa/devices/*; do
	[ -e "$d/$(basename "$up")" ] && vdpa dev del "$(basename "$d")"
done

[ -e "/dev/$n" ] || fail "/dev/$n went away"
mdev_remove "$uuid" || fail "remove $uuid"
mdev_remove "$uuid_b" || fail "remove $uuid_b"
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || fail "kmemleak: $leaks leaks"
exit 0
