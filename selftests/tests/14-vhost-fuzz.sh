#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fuzzing, short round (make fuzz runs the long one): `vhost_client fuzz` on three vhost
# devices at once, four threads on one file, two on the second and one on the third, seeded
# (a seed replays each thread's operations); the second device is removed and the third
# unbound while their fuzzers run, and vhost_mdev itself is unloaded and reloaded in the
# middle of the first fuzzer's run (which parks, closing its file, for the unload: an open
# file holds the module), every VMDEV_FUZZ_UNLOAD_EVERY seconds (default: once). Meanwhile
# `vhost_client regfuzz` writes the register window and the sysfs attributes of an instance
# with no driver and of one virtio_net drives with frames looping. Afterwards the driven
# instance still loops frames, every pin is released, nothing leaks (kmemleak), and the
# kernel log is clean (the runner's scan, on the debug kernel).
#
# VMDEV_FUZZ_SEED (default 12345; "random" picks one; printed), VMDEV_FUZZ_SECONDS (default 60),
# VMDEV_FUZZ_OPS (operations per thread, default 1000000) and VMDEV_FUZZ_UNLOAD_EVERY.
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
SECS=${VMDEV_FUZZ_SECONDS:-45}
OPS=${VMDEV_FUZZ_OPS:-1000000}
note "seed $SEED, ${SECS} s (replay: make fuzz FUZZ_SEED=$SEED FUZZ_SECS=$SECS)"

EVERY=${VMDEV_FUZZ_UNLOAD_EVERY:-$((SECS / 2))}

p0=$(base_pins)
a=$(new_uuid) b=$(new_uuid) c=$(new_uuid)
dev_a=$(create_vhost "$a") || exit 1
dev_b=$(create_vhost "$b") || exit 1
dev_c=$(create_vhost "$c") || exit 1
va=$(vmdev_of "$a") vc=$(vmdev_of "$c")
# The first fuzzer opens the device through a link that follows it across reloads.
ln -sf "$dev_a" /tmp/fuzz-dev-a

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

rm -f /tmp/fuzz.park
"$VHOST_CLIENT" fuzz --dev /tmp/fuzz-dev-a --seed "$SEED" --threads 4 --ops "$OPS" \
	--seconds "$SECS" --park /tmp/fuzz.park >/tmp/fuzz.a 2>&1 &
fa=$!
"$VHOST_CLIENT" fuzz --dev "$dev_b" --seed $((SEED + 1000)) --threads 2 --ops "$OPS" \
	--seconds "$SECS" >/tmp/fuzz.b 2>&1 &
fb=$!
"$VHOST_CLIENT" fuzz --dev "$dev_c" --seed $((SEED + 3000)) --threads 1 --ops "$OPS" \
	--seconds "$SECS" >/tmp/fuzz.c 2>&1 &
fc=$!
start=$SECONDS
bad=0

# Unloads vhost_mdev under the first fuzzer, parked, and loads it again: the module's load
# binds the instance again (its driver_override names vhost_mdev), and the fuzzer resumes
# on the new node.
unloads=0
unload_reload() {
	local n u0
	u0=$(grep -c '^unparked' /tmp/fuzz.a)
	touch /tmp/fuzz.park
	wait_for 30 grep -q '^parked' /tmp/fuzz.a || { note "the fuzzer did not park"; return 1; }
	# Other files may be closing (a fuzzer whose device went away).
	wait_for 30 rmmod vhost_mdev || { note "rmmod vhost_mdev: $(rmmod vhost_mdev 2>&1)"; return 1; }
	insmod "$M/vhost_mdev.ko" || { note "insmod vhost_mdev failed"; return 1; }
	wait_for 10 sh -c "ls /sys/bus/vmdev/devices/$va/vhost-mdev/ | grep -q ." ||
		{ note "$va did not bind again"; return 1; }
	n=$(ls "/sys/bus/vmdev/devices/$va/vhost-mdev" | head -1)
	wait_for 5 test -c "/dev/$n" || { note "/dev/$n did not appear"; return 1; }
	ln -sf "/dev/$n" /tmp/fuzz-dev-a
	rm -f /tmp/fuzz.park
	wait_for 30 sh -c "[ \$(grep -c '^unparked' /tmp/fuzz.a) -gt $u0 ]" ||
		{ note "the fuzzer did not resume"; return 1; }
	unloads=$((unloads + 1))
}

# Unbind the third device a quarter of the way in and remove the second a third of the
# way in, each under its fuzzer; unload the module every EVERY seconds.
sleep $((SECS / 4))
echo "$vc" >/sys/bus/vmdev/drivers/vhost_mdev/unbind || fail "unbind $vc under its fuzzer"
note "device $c unbound under its fuzzer"
sleep $((SECS / 3 - SECS / 4))
mdev_remove "$b" || fail "remove $b under the fuzzer"
note "device $b removed under its fuzzer"
next=$((start + EVERY))
while [ $SECONDS -lt $((start + SECS - 10)) ]; do
	if [ $SECONDS -ge $next ]; then
		unload_reload || { bad=1; rm -f /tmp/fuzz.park; break; }
		note "vhost_mdev unloaded and reloaded under the fuzzer ($unloads)"
		next=$((next + EVERY))
	fi
	sleep 1
done
[ $unloads -gt 0 ] || { note "vhost_mdev was never unloaded in the run"; bad=1; }

# Each fuzzer stops on time, or a little after (an operation in progress finishes).
for f in a b c; do
	pid=f$f
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
mdev_remove "$c" || fail "remove $c"
wait_for 20 pins_are "$p0" || { note "pins after fuzzing: $(pins), before: $p0"; bad=1; }
leaks=$(kmemleak_scan)
[ "$leaks" = 0 ] || { note "kmemleak: $leaks leaks"; bad=1; }
[ $bad = 0 ] || fail "see above"
exit 0
