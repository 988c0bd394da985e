#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Live migration on the vhost personality (issue 13, Documentation/vhost-uapi.rst, "Live
# migration"): the device keeps vhost's dirty log itself.
# 1. The client acts as the migrating VMM: with traffic running it turns logging on and off
#    and replaces the log, as QEMU does, and the pages marked must be exactly the pages the
#    device wrote (RX buffers used, used rings at their log address), never a page only read.
# 2. The same with the device's test knob dirty_log_off (it accepts the log and marks
#    nothing): the check must fail, so it is shown to catch a device that forgets to log.
# 3. The client migrates itself from instance A to instance B as QEMU 7.2 migrates a
#    vhost-vdpa guest without shadow virtqueues: log on, a first copy and rounds of logged
#    pages while frames loop, the stop (GET_VRING_BASE while running, then the reset), the
#    last sync, and B resuming each ring where A stopped. Every frame before, during and
#    after comes back bit-exact and once; the RX buffers reach B only through the log.
# 4. The same with dirty_log_off on A: frames A completed just before the stop arrive on B
#    stale, and the migration must fail.
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
ktap_plan 4
bad=0
sub() { [ "$1" = ok ] || bad=1; ktap_sub "$1" "$2"; }
ulimit -l unlimited
kmemleak_clear
p0=$(base_pins)
uuid=$(new_uuid)
dev=$(create_vhost "$uuid") || exit 1
v=$(vmdev_of "$uuid")

knob=/sys/bus/vmdev/devices/$v/test/dirty_log_off
# passes DESCRIPTION COMMAND...: a subtest that COMMAND passes; its output follows.
passes() {
	local what=$1 out rc
	shift
	out=$(watchdog 300 "$@" 2>&1)
	rc=$?
	if [ $rc = 0 ]; then sub ok "$what"; else sub fail "$what"; fi
	note "$out"
}
# caught DESCRIPTION PATTERN COMMAND...: with the source's dirty_log_off knob on, COMMAND must
# fail, with PATTERN in its output.
caught() {
	local what=$1 pat=$2 out rc
	shift 2
	echo 1 >"$knob" || fail "set $knob"
	out=$(watchdog 300 "$@" 2>&1)
	rc=$?
	echo 0 >"$knob"
	note "with dirty_log_off: exit $rc: $(tail -1 <<<"$out")"
	if [ $rc != 0 ] && grep -q "$pat" <<<"$out"; then sub ok "$what"; else sub fail "$what"; fi
}

passes "the dirty log is exactly the pages the device wrote" \
	"$VHOST_CLIENT" dirty-log --dev "$dev" --frames 300 --seed "$RANDOM"
caught "a device that does not log is caught" 'written but not marked' \
	"$VHOST_CLIENT" dirty-log --dev "$dev" --frames 50

uuid2=$(new_uuid)
dev2=$(create_vhost "$uuid2") || exit 1
passes "a client migrates from A to B with the device's log" \
	"$VHOST_CLIENT" migrate --dev "$dev" --dev2 "$dev2" --frames 600 --seed "$RANDOM"
caught "a migration whose source does not log is caught" 'not the same\|not in flight' \
	"$VHOST_CLIENT" migrate --dev "$dev" --dev2 "$dev2" --frames 150
mdev_remove "$uuid2" || fail "remove $uuid2"

mdev_remove "$uuid" || fail "remove $uuid"
wait_for 20 pins_are "$p0" || { note "pins at the end: $(pins), before: $p0"; bad=1; }
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { note "kmemleak: $leaks leaks"; bad=1; }
[ $bad = 0 ] || fail "see above"
exit 0
