#!/usr/bin/env bash
# Fails (exit 1) if a guest console log holds a kernel error report of any kind.
set -uo pipefail
logf=${1:?usage: check-guest-log.sh CONSOLE_LOG}
pat='BUG:|WARNING:|Oops|KASAN|UBSAN|kernel BUG|general protection fault|Kernel panic|'
pat+='possible recursive locking|possible circular locking|inconsistent lock state|'
pat+='suspicious RCU usage|lockdep|unreferenced object|suspected memory leak|'
pat+='rust_panic|panicked at|Call Trace:|hung_task|blocked for more than'
if grep -aE "$pat" "$logf" >/dev/null; then
	echo "---- kernel reports in $logf ----" >&2
	grep -anE -A25 "$pat" "$logf" | head -120 >&2
	exit 1
fi
exit 0
