#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Guest-side selftest runner: runs every selftests/tests/*.sh with a timeout (600 s, or the
# test's own "# selftest-timeout: SECS" header) and reports KTAP
# on the console and in /tmp/out/ktap.txt. A test exits 0 (pass), 4 (skip) or anything else
# (fail); its output becomes KTAP diagnostic lines, except the lines of a nested KTAP report
# of subtests (indented by four spaces, see ktap_sub in lib.sh), which are kept as they are.
cd "$(dirname "$0")"
TIMEOUT=${VMDEV_TEST_TIMEOUT:-600}
ktap=/tmp/out/ktap.txt
tests=(tests/[0-9]*.sh)
[ -n "${VMDEV_TESTS:-}" ] && tests=($VMDEV_TESTS)

emit() { echo "$*"; echo "$*" >>"$ktap"; }
: >"$ktap"
emit "KTAP version 1"
emit "1..${#tests[@]}"
n=0 failed=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	name=$(basename "$t" .sh); name=${name#[0-9][0-9]-}
	start=$(date +%s)
	# A test that needs longer (it boots a guest of its own) says so in a header line
	# "# selftest-timeout: SECS"; VMDEV_TEST_TIMEOUT, when set, overrides every test's.
	limit=$(sed -n 's/^# selftest-timeout: \([0-9][0-9]*\)$/\1/p' "$t" | head -1)
	[ -n "${VMDEV_TEST_TIMEOUT:-}" ] || [ -z "$limit" ] || TIMEOUT=$limit
	timeout -k 5 "$TIMEOUT" bash "$t" >/tmp/test.out 2>&1
	rc=$?
	sed -E '/^    (KTAP version 1|1\.\.[0-9]+|(not )?ok [0-9]+ .*)$/!s/^/# /' /tmp/test.out | tee -a "$ktap"
	el=$(( $(date +%s) - start ))
	case $rc in
	0) emit "ok $n $name # time=${el}s";;
	4) emit "ok $n $name # SKIP";;
	124) emit "not ok $n $name # TIMEOUT after ${TIMEOUT}s"; failed=$((failed + 1));;
	*) emit "not ok $n $name # exit=$rc time=${el}s"; failed=$((failed + 1));;
	esac
	TIMEOUT=${VMDEV_TEST_TIMEOUT:-600}
done
emit "# totals: $((n - failed)) passed, $failed failed"
[ $failed = 0 ]
