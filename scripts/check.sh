#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: host unit tests, then the VM selftests on the debug kernel.
# Ends with the line "check: N passed, N failed" and exits non-zero on any failure.
set -uo pipefail
. "$(dirname "$0")/lib.sh"
cd "$REPO"
start=$(date +%s)
"$REPO/scripts/setup.sh" || die "setup failed"

out="$REPO/results/check"
rm -rf "$out"; mkdir -p "$out"

log "host unit tests (cargo test)"
cargo test --workspace 2>&1 | tee "$out/cargo-test.log"
host_rc=${PIPESTATUS[0]}
host_pass=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^passed;?$/) s+=$(i-1)} END {print s+0}' "$out/cargo-test.log")
host_fail=$(awk '/^test result:/ {for (i=1;i<=NF;i++) if ($i ~ /^failed;?$/) s+=$(i-1)} END {print s+0}' "$out/cargo-test.log")
[ "$host_rc" = 0 ] || [ "$host_fail" -gt 0 ] || host_fail=1

# The kernel-log scanner gates every VM run: check that it catches a report and ignores test
# output that merely mentions one.
log "guest log scanner self-test"
scan_dir=$(mktemp -d)
printf '[    1.000000] booting\n[    2.500000] BUG: KASAN: slab-use-after-free in f+0x1/0x2\n' >"$scan_dir/console.log"
if "$REPO/scripts/check-guest-log.sh" "$scan_dir/console.log" 2>/dev/null; then
	log "FAIL: the scanner missed a KASAN report"; host_fail=$((host_fail + 1))
else host_pass=$((host_pass + 1)); fi
printf '[    1.000000] booting\n# a test note about KASAN: and WARNING: words\n' >"$scan_dir/console.log"
if "$REPO/scripts/check-guest-log.sh" "$scan_dir/console.log" 2>/dev/null; then host_pass=$((host_pass + 1))
else log "FAIL: the scanner flagged test output"; host_fail=$((host_fail + 1)); fi
rm -rf "$scan_dir"

# A short round of each coverage-guided fuzz target (make fuzz-host runs the long one): the
# targets must build, and nothing they find in a few seconds may be left unfixed.
log "coverage-guided fuzz targets, short round"
"$REPO/scripts/fuzz-host.sh" "${VMDEV_FUZZ_HOST_SECS:-10}" 2>&1 | tee "$out/fuzz-host.log"
fuzz_ok=$(grep -c '^fuzz-host: .* ok:' "$out/fuzz-host.log")
fuzz_bad=$(grep -c '^fuzz-host: .* FAILED' "$out/fuzz-host.log")
[ "$fuzz_ok" -gt 0 ] || [ "$fuzz_bad" -gt 0 ] || fuzz_bad=1
host_pass=$((host_pass + fuzz_ok)) host_fail=$((host_fail + fuzz_bad))

log "building the selftest tools"
tools_rc=0
cargo build --release -q -p vmdev_selftest_tools || tools_rc=1

# The plain kernel boots the inner guest of the QEMU selftest (the debug kernel would take
# minutes to boot under nested TCG).
log "plain kernel for the nested QEMU guest"
"$REPO/scripts/kernel.sh" plain >/dev/null || tools_rc=1

vm_rc=0
if [ $tools_rc = 0 ]; then
	log "VM selftests on the debug kernel"
	"$REPO/scripts/vm.sh" --kernel debug --timeout 4200 --out "$out/vm" -- bash selftests/run.sh || vm_rc=$?
else
	vm_rc=1
fi

# One short round of the benchmark on the plain kernel, so that it cannot rot: it must run and
# count traffic on every row; no speed is asserted.
bench_rc=0
if [ $tools_rc = 0 ]; then
	log "benchmark smoke run on the plain kernel"
	"$REPO/scripts/bench.sh" --smoke --out "$out/bench" >"$out/bench.log" 2>&1 || bench_rc=1
	tail -20 "$out/bench.log"
else
	bench_rc=1
fi

ktap="$out/vm/ktap.txt"
vm_pass=0 vm_fail=0
if [ -f "$ktap" ]; then
	vm_pass=$(grep -cE '^ok [0-9]+ ' "$ktap")
	vm_fail=$(grep -cE '^not ok [0-9]+ ' "$ktap")
	planned=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$ktap" | head -1)
	ran=$((vm_pass + vm_fail))
	if [ -n "$planned" ] && [ "$ran" -lt "$planned" ]; then
		log "VM selftests: $ran of $planned tests reported"
		vm_fail=$((vm_fail + planned - ran))
	fi
fi
# A VM that crashed, timed out or logged a kernel error fails even if every test said ok.
if [ $vm_rc != 0 ] && [ $vm_fail = 0 ]; then vm_fail=1; fi

echo
echo "host unit tests: $host_pass passed, $host_fail failed"
echo "VM selftests (KTAP, $ktap): $vm_pass passed, $vm_fail failed"
[ -f "$ktap" ] && grep -E '^(not )?ok ' "$ktap" | sed 's/^/    /'
if [ $bench_rc = 0 ]; then echo "benchmark smoke run: ok ($out/bench.log)"; vm_pass=$((vm_pass + 1))
else echo "benchmark smoke run: FAILED ($out/bench.log)"; vm_fail=$((vm_fail + 1)); fi
echo "guest console log: $out/vm/console.log"
echo "elapsed: $(( $(date +%s) - start ))s"
pass=$((host_pass + vm_pass)) fail=$((host_fail + vm_fail))
echo "check: $pass passed, $fail failed"
[ $fail = 0 ]
