#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Lifecycle stress, short round (make stress runs the long ones): `lifecycle` creates, binds,
# uses and removes instances in a loop, both personalities, with removals and unbinds under
# traffic and under an IOTLB update in flight, driver_override raced against bind,
# interrupts raised during probe, and every 25th cycle module unloads in the middle
# (vhost_mdev refused while a node is open, then unloaded with an instance bound;
# virtio_mdev unloaded under traffic). Then pins, kmemleak and (the runner's scan) the
# kernel log must be clean.
#
# VMDEV_STRESS_CYCLES (default 25), VMDEV_STRESS_JOBS (cycles at a time, each on its own
# instance; default 2) and VMDEV_STRESS_SEED (default 4242; "random" picks one;
# printed, and a seed replays the same scenarios).
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
LIFECYCLE=${VMDEV_REPO:-$PWD/..}/target/release/lifecycle
[ -x "$LIFECYCLE" ] || fail "$LIFECYCLE not built"
ulimit -l unlimited
kmemleak_clear
CYCLES=${VMDEV_STRESS_CYCLES:-25}
JOBS=${VMDEV_STRESS_JOBS:-2}
SEED=${VMDEV_STRESS_SEED:-4242}
[ "$SEED" = random ] && SEED=$(( (RANDOM << 15) | RANDOM ))
note "seed $SEED, $CYCLES cycles, $JOBS jobs (replay: make stress STRESS_SEED=$SEED STRESS_CYCLES=$CYCLES STRESS_JOBS=$JOBS)"
p0=$(base_pins)
bad=0
watchdog $((CYCLES * 30 + 300)) "$LIFECYCLE" --cycles "$CYCLES" --jobs "$JOBS" --seed "$SEED" --modules "$M" \
	>/tmp/lifecycle.out 2>&1 || bad=1
grep -E '^(lifecycle:|cycle )' /tmp/lifecycle.out
[ $bad = 0 ] || { note "lifecycle failed:"; tail -20 /tmp/lifecycle.out; }
# Every module is back (a failed cycle may have left one unloaded).
load_modules
load_vhost
wait_for 20 pins_are "$p0" || { note "pins after the stress: $(pins), before: $p0"; bad=1; }
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { note "kmemleak: $leaks leaks"; bad=1; }
[ $bad = 0 ] || fail "see above"
exit 0
