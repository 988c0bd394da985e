#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Coverage-guided fuzzing of the pure crates on the host (fuzz/): builds the libFuzzer
# targets with the stable toolchain and runs each for SECS seconds.
#
#   scripts/fuzz-host.sh [SECS] [TARGET...]     (default: 60 s, every target)
#
# Corpora grow in results/fuzz-host/corpus/TARGET and persist between runs; a crash leaves
# its input in results/fuzz-host/artifacts/TARGET/, and replays with
#   target/fuzz/x86_64-unknown-linux-gnu/release/TARGET results/fuzz-host/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(iotlb_table virtqueue_chain vmdev_regs_protocol vhost_uapi_messages blksim_requests)
triple=x86_64-unknown-linux-gnu
# What cargo-fuzz passes for `--sanitizer none`: SanitizerCoverage's 8-bit counters, PC table,
# comparison tracing and stack depth, which is all libFuzzer needs for guidance; debug
# assertions on, so integer overflow panics as in the kernel build.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
-Cdebug-assertions -Coverflow-checks -Ccodegen-units=1"
export CARGO_TARGET_DIR=$PWD/target/fuzz
# --target keeps RUSTFLAGS off the build scripts (libfuzzer-sys compiles libFuzzer with cc).
cargo build --release --quiet --manifest-path fuzz/Cargo.toml --target "$triple"
out=results/fuzz-host
bad=0
for t in "${targets[@]}"; do
	mkdir -p "$out/corpus/$t" "$out/artifacts/$t"
	log="$out/$t.log"
	echo "fuzz-host: $t for ${secs}s"
	if ! "$CARGO_TARGET_DIR/$triple/release/$t" "$out/corpus/$t" \
		-max_total_time="$secs" -print_final_stats=1 -max_len=4096 \
		-artifact_prefix="$out/artifacts/$t/" >"$log" 2>&1; then
		echo "fuzz-host: $t FAILED (input in $out/artifacts/$t/):"
		grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -20 || tail -30 "$log"
		bad=1
		continue
	fi
	# The last status line and the final stats: executions, coverage, corpus.
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' || true)
	echo "fuzz-host: $t ok: $runs runs, $cov"
done
exit $bad
