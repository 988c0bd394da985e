#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Fails (exit 1) if the guest's kernel log holds an error report of any kind: BUG, WARNING,
# Oops, KASAN, UBSAN, lockdep, RCU, kmemleak, hung task, Rust panic.
# Reads the kernel's own lines of the console log (printk timestamps; test output is not
# scanned, so a test may print these words) and the guest's full dmesg saved beside it.
set -uo pipefail
logf=${1:?usage: check-guest-log.sh CONSOLE_LOG}
dmesgf="$(dirname "$logf")/dmesg.txt"
pat='BUG:|WARNING:|Oops|KASAN:|UBSAN:|kernel BUG|general protection fault|Kernel panic|'
pat+='possible recursive locking|possible circular locking|inconsistent lock state|'
pat+='suspicious RCU usage|detected stalls|unreferenced object|suspected memory leak|'
pat+='rust_panic|panicked at|Call Trace:|blocked for more than'
kernel_lines() {
	grep -aE '^\[ *[0-9]+\.[0-9]+\]' "$logf"
	if [ -f "$dmesgf" ]; then cat "$dmesgf"; fi
}
if kernel_lines | grep -aqE "$pat"; then
	echo "---- kernel reports in $logf ${dmesgf:+/ $dmesgf} ----" >&2
	kernel_lines | grep -anE -A25 "$pat" | head -120 >&2
	exit 1
fi
exit 0
