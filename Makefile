# SPDX-License-Identifier: GPL-2.0
# virtio-mdev: top-level commands. Kbuild (not this file) drives the kernel module build.
#
#   make check   host unit tests + VM selftests on the debug kernel (what CI runs)
#   make demo    a narrated walkthrough in a VM on the plain kernel
#   make bench   both stacks side by side on the plain kernel: table, results/bench/*.json|svg
#                (ROUNDS=3 SECS=5 by default)
#   make fuzz    the vhost uAPI fuzzer on the debug kernel, long round (FUZZ_SECS=3600,
#                FUZZ_UNLOAD_EVERY=300: vhost_mdev is unloaded and reloaded that often,
#                FUZZ_SEED random; a seed replays each thread's operations)
#   make stress  the lifecycle stress, long round (STRESS_CYCLES=1000 on STRESS_KERNEL=debug,
#                STRESS_JOBS=2 cycles at a time; the plain kernel takes 10000:
#                make stress STRESS_KERNEL=plain STRESS_CYCLES=10000 STRESS_JOBS=8)
#   make fuzz-host  the coverage-guided fuzz targets of the pure crates (fuzz/, libFuzzer on
#                the stable toolchain), FUZZ_HOST_SECS=600 each; corpora in results/fuzz-host
#   make vm      an interactive shell in the VM with the modules loaded; make vm CMD='...' runs
#                one command there instead
#
# KERNEL=plain|debug picks the kernel for `make vm` (default: debug).

KERNEL ?= debug
CMD ?=

.PHONY: check demo bench fuzz fuzz-host stress vm setup host-test modules kernel-debug kernel-plain tools clean

check:
	@scripts/check.sh

demo:
	@scripts/setup.sh
	@cargo build --release -q -p vmdev_selftest_tools
	@scripts/vm.sh --kernel plain --timeout 900 --quiet --out results/demo -- bash selftests/demo.sh

ROUNDS ?= 3
SECS ?= 5
# One section alone: make bench ONLY=migration ROUNDS=8 (see scripts/bench.sh).
ONLY ?=

bench:
	@scripts/setup.sh
	@cargo build --release -q -p vmdev_selftest_tools
	@scripts/bench.sh --rounds $(ROUNDS) --seconds $(SECS) $(if $(ONLY),--only $(ONLY))

FUZZ_SECS ?= 3600
FUZZ_SEED ?= random
FUZZ_UNLOAD_EVERY ?= 300

fuzz:
	@scripts/setup.sh
	@cargo build --release -q -p vmdev_selftest_tools
	@scripts/vm.sh --kernel debug --timeout $$(( $(FUZZ_SECS) + 900 )) --out results/fuzz -- \
		'VMDEV_FUZZ_SEED=$(FUZZ_SEED) VMDEV_FUZZ_SECONDS=$(FUZZ_SECS) VMDEV_FUZZ_UNLOAD_EVERY=$(FUZZ_UNLOAD_EVERY) VMDEV_FUZZ_OPS=1000000000 VMDEV_TEST_TIMEOUT=$$(( $(FUZZ_SECS) + 600 )) VMDEV_TESTS=tests/14-vhost-fuzz.sh bash selftests/run.sh'

STRESS_CYCLES ?= 1000
FUZZ_HOST_SECS ?= 600

fuzz-host:
	@scripts/setup.sh
	@scripts/fuzz-host.sh $(FUZZ_HOST_SECS)

STRESS_SEED ?= random
STRESS_KERNEL ?= debug
STRESS_JOBS ?= 2

stress:
	@scripts/setup.sh
	@cargo build --release -q -p vmdev_selftest_tools
	@scripts/vm.sh --kernel $(STRESS_KERNEL) --timeout $$(( $(STRESS_CYCLES) * 30 + 900 )) --out results/stress -- \
		'VMDEV_STRESS_SEED=$(STRESS_SEED) VMDEV_STRESS_CYCLES=$(STRESS_CYCLES) VMDEV_STRESS_JOBS=$(STRESS_JOBS) VMDEV_TEST_TIMEOUT=$$(( $(STRESS_CYCLES) * 30 + 600 )) VMDEV_TESTS=tests/16-lifecycle-stress.sh bash selftests/run.sh'

vm:
	@scripts/setup.sh
	@cargo build --release -q -p vmdev_selftest_tools
ifeq ($(strip $(CMD)),)
	@scripts/vm.sh --kernel $(KERNEL) --load --out results/vm
else
	@scripts/vm.sh --kernel $(KERNEL) --load --out results/vm -- '$(CMD)'
endif

setup:
	@scripts/setup.sh

host-test:
	cargo test --workspace

modules:
	@scripts/modules.sh $(KERNEL)

kernel-debug:
	@scripts/kernel.sh debug

kernel-plain:
	@scripts/kernel.sh plain

tools:
	cargo build --release -p vmdev_selftest_tools

clean:
	cargo clean
	rm -rf results
