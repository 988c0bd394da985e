#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# vhost differential: the same vhost-vdpa client runs against /dev/vhost-mdev-N (ours) and
# /dev/vhost-vdpa-N (upstream vdpa_sim_net, pinning mode) in this VM. Traffic must loop
# bit-exact on both, through SUSPEND/RESUME in the middle of the burst, every bad-input case
# must give vhost-vdpa's errno on both, and every value that may legitimately differ is
# printed for both sides.
. "$(dirname "$0")/../lib.sh"
load_modules
load_vhost
[ -x "$VHOST_CLIENT" ] || fail "$VHOST_CLIENT not built"
ulimit -l unlimited

t0=$SECONDS
ours=$(create_vhost "$(new_uuid)") || exit 1
theirs=$(create_upstream_vhost 02:11:22:33:44:55) || exit 1
note "ours: $ours, upstream: $theirs (set up in $((SECONDS - t0)) s)"

# Each side's traffic and errno runs, and their agreement, are subtests in the KTAP output.
ktap_plan 9
bad=0
for side in ours theirs; do
	dev=${!side} label=${side/theirs/upstream} t0=$SECONDS
	# Suspended every 40 frames mid-burst: exact ring bases, nothing moves, nothing lost.
	# Upstream's vdpa_sim loses a kick whose work item runs after SUSPEND (it records only
	# kicks that arrive while suspended), so its client kicks again after each RESUME; ours
	# must go on without.
	kick=0; [ $side = theirs ] && kick=1
	if watchdog 120 "$VHOST_CLIENT" traffic --dev "$dev" --frames 120 --batch 16 \
		--suspend-every 40 --kick-after-resume $kick >/tmp/traffic.$side; then
		grep -E 'came back|features|ring base|suspended' /tmp/traffic.$side | sed "s/^/$label: /"
		ktap_sub ok "$label-traffic"
	else
		sed "s/^/$label: /" /tmp/traffic.$side
		ktap_sub fail "$label-traffic"; bad=1
	fi
	note "$label: traffic took $((SECONDS - t0)) s"
	# Rings enabled only after DRIVER_OK, as QEMU 8.2 does (ENABLE_AFTER_DRIVER_OK); then
	# two resets, each followed by a new run on the same IOTLB map (IOTLB_PERSIST acked).
	if watchdog 120 "$VHOST_CLIENT" traffic --dev "$dev" --frames 40 --late-enable 1 \
		--restarts 2 >/tmp/late.$side; then
		grep -E 'came back' /tmp/late.$side | sed "s/^/$label: late enable, persist: /"
		ktap_sub ok "$label-late-enable-and-persist"
	else
		sed "s/^/$label: late enable, persist: /" /tmp/late.$side
		ktap_sub fail "$label-late-enable-and-persist"; bad=1
	fi
	t0=$SECONDS
	# Each case is a few system calls: a watchdog turns a backend that hangs in one into a
	# failure with the kernel stack of the hang, instead of the whole test's timeout.
	watchdog 240 "$VHOST_CLIENT" errno --dev "$dev" >/tmp/errno.$side
	rc=$?
	note "$label: errno catalogue took $((SECONDS - t0)) s"
	grep -E '^(FAIL|slow|errno:)' /tmp/errno.$side | sed "s/^/$label: /"
	# A failure here means a bad-input case did not give vhost-vdpa's errno.
	if [ $rc = 0 ]; then ktap_sub ok "$label-errno"; else ktap_sub fail "$label-errno"; bad=1; fi
done
# The control queue moved to address space 1 (SET_GROUP_ASID, as QEMU 8 shadows it), its
# memory mapped there only, with other memory at the same IOVAs in address space 0: every
# command the device offers, well-formed and malformed. Upstream's simulator handles only
# MAC_ADDR_SET; the cases both answer must agree.
common="mac-addr-set mac-in-config mac-addr-set-short unknown-class mq-not-negotiated no-writable-ack mac-addr-restore"
for side in ours theirs; do
	dev=${!side} label=${side/theirs/upstream}
	watchdog 120 "$VHOST_CLIENT" ctrl --dev "$dev" >/tmp/ctrl.$side
	rc=$?
	grep -E '^(ctrl:|FAIL)' /tmp/ctrl.$side | sed "s/^/$label: /"
	missing=
	for c in $common; do grep -q "^ok $c " /tmp/ctrl.$side || missing+=" $c"; done
	if [ -n "$missing" ]; then
		note "$label: control queue cases not answered as expected:$missing"
		ktap_sub fail "$label-ctrl-asid1"; bad=1
	elif [ $side = ours ] && [ $rc != 0 ]; then
		ktap_sub fail "$label-ctrl-asid1"; bad=1
	else
		ktap_sub ok "$label-ctrl-asid1"
	fi
done
grep -q '^FAIL mac-kept-after-errors' /tmp/ctrl.theirs &&
	note "differs: upstream writes a short MAC_ADDR_SET's bytes into its MAC before it answers ERR; ours changes nothing"
# vhost_mdev keeps a running ring's position for GET_VRING_BASE across the reset that stops
# it (QEMU 7.2 reads its last rings after the reset); upstream answers 0 there.
grep -qE 'tx ring base read after the reset: ([0-9]+) \(\1 frames sent\)' /tmp/traffic.ours ||
	{ note "ours: ring base lost in the reset"; bad=1; }
# The same cases, the same answers.
for side in ours theirs; do
	grep -E '^(ok|FAIL) ' /tmp/errno.$side >/tmp/cases.$side
	grep '^info ' /tmp/errno.$side | cut -d' ' -f2- | sed 's/ /\t/' | sort -t$'\t' -k1,1 >/tmp/info.$side
done
if diff /tmp/cases.ours /tmp/cases.theirs >/tmp/errno.diff; then
	note "errno: $(grep -c '^ok ' /tmp/errno.ours) cases, identical on both backends"
	ktap_sub ok "errno-identical"
else
	cat /tmp/errno.diff
	ktap_sub fail "errno-identical"; bad=1
fi
# Values that may differ: print both sides where they do.
join -t$'\t' -j1 -a1 -a2 -e '-' -o 0,1.2,2.2 /tmp/info.ours /tmp/info.theirs |
	awk -F'\t' '$2 != $3 { print "differs: " $1 ": ours " $2 ", upstream " $3 }'
[ $bad = 0 ] || fail "see the subtests above"
exit 0
