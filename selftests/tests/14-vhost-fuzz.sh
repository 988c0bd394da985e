#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fuzzing, short round (make fuzz runs the long one): `vhost_client fuzz` on two vhost
# devices at once, four threads on one file and two on the other, seeded (a seed replays
# each thread's operations); the second device is removed while its fuzzer runs. Meanwhile
# `vhost_client regfuzz` writes the register window and the sysfs attributes of an instance
# with no driver and of one virtio_net drives with frames looping. Afterwards the driven
# instance still loops frames, every pin is released, nothing leaks (kmemleak), and the
# kernel log is clean (the runner's scan, on the debug kernel).
#
# VMDEV_FUZZ_SEED (default 12345; "random" picks one; printed), VMDEV_FUZZ_SECONDS (default 60) and
# VMDEV_FUZZ_OPS (operations per thread, default 1000000).
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
[ -x "$PKTLOOP" ] || fail "$PKTLOOP not built"
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

# The register window and the sysfs attributes (vhost_client regfuzz), at the same time: of
# an instance with no driver (register writes go through) and of one virtio_net drives
# (writes refused, reads go) while frames loop through it.
u=$(new_uuid) n=$(new_uuid)
vu=$(create_unbound "$u") || exit 1
nd=$(create_net "$n" 02:c0:00:00:00:14) || exit 1
vn=$(vmdev_of "$n")
for x in u n; do
	vx=vu; [ $x = n ] && vx=vn
	"$VHOST_CLIENT" regfuzz --regs "/sys/kernel/debug/vmdev/${!vx}" \
		--sysfs "/sys/bus/vmdev/devices/${!vx}" --seed $((SEED + 2000)) \
		--seconds $((SECS * 2 / 3)) >/tmp/regfuzz.$x 2>&1 &
	eval "r$x=\$!"
done
touch /tmp/fuzz.traffic
(while [ -e /tmp/fuzz.traffic ]; do "$PKTLOOP" "$nd" 02:c0:00:00:00:14 60 1514 97 >/dev/null 2>&1; done) &
traffic=$!

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
for x in u n; do
	pid=r$x
	watch_pid $((SECS + 120)) "${!pid}" || { note "regfuzz $x failed or hung:"; sed 's/^/  /' /tmp/regfuzz.$x; bad=1; }
	grep '^regfuzz:' /tmp/regfuzz.$x | sed "s/^/regs and sysfs, $x: /"
done
rm -f /tmp/fuzz.traffic
wait $traffic
# The driven instance still works: link up again (the fuzzer may have set it down), frames
# loop.
echo up >"/sys/bus/vmdev/devices/$vn/link"
wait_for 10 sh -c "[ \"\$(cat /sys/class/net/$nd/operstate)\" = up ]" || { note "$nd did not come back up"; bad=1; }
"$PKTLOOP" "$nd" 02:c0:00:00:00:14 60 1514 97 >/tmp/pktloop.out 2>&1 ||
	{ note "no traffic after the fuzzing:"; cat /tmp/pktloop.out; bad=1; }
mdev_remove "$u" || fail "remove $u"
mdev_remove "$n" || fail "remove $n"
mdev_remove "$a" || fail "remove $a"
wait_for 20 pins_are "$p0" || { note "pins after fuzzing: $(pins), before: $p0"; bad=1; }
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { note "kmemleak: $leaks leaks"; bad=1; }
[ $bad = 0 ] || fail "see above"
exit 0
