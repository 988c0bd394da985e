#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: boots the plain kernel, runs selftests/bench/bench.sh in the VM (both stacks
# side by side, interleaved), and reports: a table on stdout, results/bench/bench.json and
# results/bench/bench.svg.
#
#   scripts/bench.sh [--rounds N] [--seconds S] [--only SECTION] [--smoke] [--out DIR]
#
# --only runs one section's rows alone (control, kernel, vhost, block, logging, migration or
# multiqueue), for more rounds of it than a whole run affords.
#
# --smoke runs one short round and only checks that every row counted traffic (make check
# runs it so the benchmark cannot rot); it asserts no speed, and leaves out the migration rows
# (two inner guests booted per round; selftest vhost-qemu migrates in make check).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
rounds=3 secs=5 smoke=0 migration=1 pairs=5 only="" out="$REPO/results/bench"
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) rounds=$2; shift 2;;
	--seconds) secs=$2; shift 2;;
	--only) only=$2; shift 2;;
	--smoke) smoke=1 rounds=1 secs=1 migration=0 pairs=1; shift;;
	--out) out=$2; shift 2;;
	*) die "unknown option $1";;
	esac
done
[ "$rounds" -ge 1 ] 2>/dev/null || die "--rounds must be a positive number"
case $only in
""|control|kernel|vhost|block|logging|migration|multiqueue) ;;
*) die "--only takes control, kernel, vhost, block, logging, migration or multiqueue";;
esac
rm -rf "$out"; mkdir -p "$out"
# A migration round boots two inner guests (about 100 s each) and streams 60 s in each.
"$REPO/scripts/vm.sh" --kernel plain --quiet \
	--timeout $(( 300 + rounds * (28 * (secs + 4) + 120 + pairs * 40 + migration * 1200) )) \
	--out "$out/vm" -- "BENCH_ROUNDS=$rounds BENCH_SECONDS=$secs BENCH_MIGRATION=$migration BENCH_LOG_PAIRS=$pairs BENCH_ONLY=$only bash selftests/bench/bench.sh"
cp "$out/vm/samples.tsv" "$out/samples.tsv"
args=("$out/samples.tsv" --json "$out/bench.json" --svg "$out/bench.svg")
[ $smoke = 1 ] && args+=(--smoke)
python3 "$REPO/scripts/bench_report.py" "${args[@]}"
