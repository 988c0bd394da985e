#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The lifetime rules the glue layer and the transport enforce, each against the defect it
# fixes (Documentation/testing.rst, "Glue lifetimes"):
# - a failed transport init leaves nothing behind (debugfs directory, bus);
# - interrupts a device raises while its driver's probe runs (after DRIVER_OK) reach the
#   driver instead of being dropped;
# - a device that keeps interrupting after its reset (an asynchronous reset) reaches no
#   freed driver state, under both personalities, binding and unbinding repeatedly;
# - driver_override rewritten while the device is being bound and unbound (the match reads it
#   under its own lock);
# - an instance removed while its worker runs (a storm of late interrupts keeps it busy)
#   stops the worker before anything the worker uses goes.
. "$(dirname "$0")/../lib.sh"
ktap_plan 5
D=/sys/kernel/debug/vmdev

bad=0
sub() { # sub ok|fail NAME: reports a subtest; a failed one fails the group
	[ "$1" = ok ] || bad=1
	ktap_sub "$1" "$2"
}

callbacks() { # callbacks VMDEV FIELD: a counter of the transport's delivery
	awk -v f="$2" '$1 == f { print $2 }' "$D/$1.callbacks"
}

# 1. A failed init unwinds everything it set up.
for m in vhost_mdev virtio_mdev vmdev_sim vmdev; do
	grep -q "^$m " /proc/modules && { rmmod "$m" || fail "rmmod $m"; }
done
ok=ok
for step in 1 2; do
	insmod "$M/vmdev.ko" test_fail_init=$step 2>/dev/null && { ok=fail; note "init did not fail at step $step"; rmmod vmdev; }
	[ -e $D ] && { ok=fail; note "step $step: $D left behind"; }
	[ -e /sys/bus/vmdev ] && { ok=fail; note "step $step: /sys/bus/vmdev left behind"; }
done
load_modules
[ -d $D ] || { ok=fail; note "$D missing after a normal load"; }
sub $ok init-failure-unwinds

# 2. Interrupts at DRIVER_OK, while virtio_net's probe is still running, are delivered.
uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
echo 1 >"/sys/bus/vmdev/devices/$v/test/irq_at_driver_ok" || fail "set irq_at_driver_ok"
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v"
wait_for 20 netdev_of "$uuid" || fail "no interface for $uuid"
delivered=$(callbacks "$v" delivered) dropped=$(callbacks "$v" dropped)
note "interrupts raised at DRIVER_OK: delivered $delivered, dropped $dropped"
ok=ok
[ "$dropped" -eq 0 ] && [ "$delivered" -ge 3 ] || ok=fail
sub $ok irq-during-probe-delivered
mdev_remove "$uuid"

# 3. Interrupts that keep coming after every reset, for 1000 worker rounds, while the
#    device is bound and unbound under both personalities (each bind and unbind resets it,
#    so every driver instance after the first starts inside a storm).
load_vhost
uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
echo 1000 >"/sys/bus/vmdev/devices/$v/test/late_irqs" || fail "set late_irqs"
for i in 1 2 3; do
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind virtio_mdev ($i)"
	wait_for 20 netdev_of "$uuid" || fail "no interface ($i)"
	nd=$(netdev_of "$uuid")
	ip link set dev "$nd" up
	"$PKTLOOP" "$nd" "$(cat /sys/bus/vmdev/devices/$v/mac)" 60 200 47 || fail "traffic ($i)"
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/unbind || fail "unbind virtio_mdev ($i)"
done
echo vhost_mdev >"/sys/bus/vmdev/devices/$v/driver_override"
for i in 1 2; do
	echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/bind || fail "bind vhost_mdev ($i)"
	n=$(ls "/sys/bus/vmdev/devices/$v/vhost-mdev" | head -1)
	wait_for 5 test -c "/dev/$n" || fail "/dev/$n did not appear"
	"$VHOST_CLIENT" traffic --dev "/dev/$n" --frames 200 >/dev/null || fail "vhost traffic ($i)"
	echo "$v" >/sys/bus/vmdev/drivers/vhost_mdev/unbind || fail "unbind vhost_mdev ($i)"
done
echo >"/sys/bus/vmdev/devices/$v/driver_override"
echo 0 >"/sys/bus/vmdev/devices/$v/test/late_irqs"
# The last storm ends by itself; its interrupts find no driver.
prev=-1
while cur=$(callbacks "$v" dropped); [ "$cur" != "$prev" ]; do prev=$cur; sleep 1; done
note "interrupts after resets: $(callbacks "$v" dropped) dropped, $(callbacks "$v" delivered) delivered"
ok=ok
[ "$(callbacks "$v" dropped)" -gt 0 ] || { ok=fail; note "the storm never ran"; }
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind after the storms"
wait_for 20 netdev_of "$uuid" || fail "no interface after the storms"
nd=$(netdev_of "$uuid"); ip link set dev "$nd" up
"$PKTLOOP" "$nd" "$(cat /sys/bus/vmdev/devices/$v/mac)" 60 1514 97 || { ok=fail; note "no traffic after the storms"; }
sub $ok late-irqs-after-reset
mdev_remove "$uuid"

# 4. driver_override rewritten while the device binds and unbinds.
uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
( end=$((SECONDS + 4)); while [ $SECONDS -lt $end ]; do
	for d in vhost_mdev virtio_mdev "" nosuchdriver; do
		echo "$d" >"/sys/bus/vmdev/devices/$v/driver_override" 2>/dev/null
	done
done ) &
writer=$!
end=$((SECONDS + 4)) binds=0
while [ $SECONDS -lt $end ]; do
	echo "$v" >/sys/bus/vmdev/drivers_probe 2>/dev/null && binds=$((binds + 1))
	for drv in virtio_mdev vhost_mdev; do
		[ -e "/sys/bus/vmdev/drivers/$drv/$v" ] && echo "$v" >"/sys/bus/vmdev/drivers/$drv/unbind"
	done
done
wait $writer
note "driver_override race: $binds probes"
echo >"/sys/bus/vmdev/devices/$v/driver_override"
for drv in virtio_mdev vhost_mdev; do
	[ -e "/sys/bus/vmdev/drivers/$drv/$v" ] && echo "$v" >"/sys/bus/vmdev/drivers/$drv/unbind"
done
ok=ok
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || ok=fail
wait_for 20 netdev_of "$uuid" || ok=fail
sub $ok driver-override-race
mdev_remove "$uuid"

# 5. Removal with the worker running: the instance's drop cancels it first. The knob is set
#    once the driver is bound, so the storm starts at the unbind's reset: binding inside a
#    storm is 3.'s case (and lifecycle-stress's kernel-irqs), and under a storm this long it
#    took about 40 s a round. The storm must be seen running when the removal comes.
ok=ok
for i in 1 2 3; do
	uuid=$(new_uuid)
	v=$(create_unbound "$uuid") || exit 1
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail "bind $v"
	wait_for 20 netdev_of "$uuid" || fail "no interface"
	echo 100000 >"/sys/bus/vmdev/devices/$v/test/late_irqs" || fail "set late_irqs"
	echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/unbind || fail "unbind $v"
	d0=$(callbacks "$v" dropped)
	wait_for 10 eval '[ "$(callbacks "$v" dropped)" -gt "$d0" ]' ||
		{ ok=fail; note "round $i: no storm after the unbind"; }
	d1=$(callbacks "$v" dropped) t0=$(date +%s%N)
	mdev_remove "$uuid" || { ok=fail; note "remove during the storm failed"; }
	note "round $i: removed in $(( ($(date +%s%N) - t0) / 1000000 )) ms, the storm running ($d1 interrupts dropped by then)"
done
sub $ok remove-with-worker-running

leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { head -40 /sys/kernel/debug/kmemleak; fail "kmemleak found $leaks leaks"; }
[ $bad = 0 ] || fail "a subtest failed"
exit 0
