#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vhost uAPI fuzzing, short round (make fuzz runs the long one): `vhost_client fuzz` on two
# devices at once, four threads on one file and two on the other, seeded (a seed replays
# each thread's operations). The second device is removed while its fuzzer runs. Afterwards
# every pin is released, nothing leaks (kmemleak), and the kernel log is clean (the runner's
# scan, on the debug kernel).
#
# VMDEV_FUZZ_SEED (default 12345; "random" picks one; printed), VMDEV_FUZZ_SECONDS (default 60) and
# VMDEV_FUZZ_OPS (operations per thread, default 1000000).
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
ulimit -l unlimited
kmemleak_clear
# A fixed seed by default, so that make check replays the same operations each run; make
# fuzz passes a random one.
SEED=${VMDEV_FUZZ_SEED:-12345}
[ "$SEED" = random ] && SEED=$(( (RANDOM << 15) | RANDOM ))
SECS=${VMDEV_FUZZ_SECONDS:-60}
OPS=${VMDEV_FUZZ_OPS:-1000000}
note "seed $SEED, ${SECS} s (replay: make fuzz FUZZ_SEED=$SEED FUZZ_SECS=$SECS)"

p0=$(pins)
a=$(new_uuid) b=$(new_uuid)
dev_a=$(create_vhost "$a") || exit 1
dev_b=$(create_vhost "$b") || exit 1

"$VHOST_CLIENT" fuzz --dev "$dev_a" --seed "$SEED" --threads 4 --ops "$OPS" \
	--seconds "$SECS" >/tmp/fuzz.a 2>&1 &
fa=$!
"$VHOST_CLIENT" fuzz --dev "$dev_b" --seed $((SEED + 1000)) --threads 2 --ops "$OPS" \
	--seconds "$SECS" >/tmp/fuzz.b 2>&1 &
fb=$!
# Remove the second device a third of the way in, under its fuzzer.
sleep $((SECS / 3))
mdev_remove "$b" || fail "remove $b under the fuzzer"
note "device $b removed under its fuzzer"

bad=0
# Each fuzzer stops on time, or a little after (an operation in progress finishes).
for f in a b; do
	pid=fa; [ $f = b ] && pid=fb
	if ! watch_pid $((SECS + 120)) "${!pid}"; then
		note "fuzzer $f failed or hung:"; sed 's/^/  /' /tmp/fuzz.$f; bad=1
	fi
	grep '^fuzz:' /tmp/fuzz.$f | sed "s/^/$f: /"
done
mdev_remove "$a" || fail "remove $a"
wait_for 20 pins_are "$p0" || { note "pins after fuzzing: $(pins), before: $p0"; bad=1; }
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { note "kmemleak: $leaks leaks"; bad=1; }
[ $bad = 0 ] || fail "see above"
exit 0
