#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the out-of-tree modules against a test kernel: scripts/modules.sh plain|debug
# The sources are mirrored into the kernel's build directory so that the repository stays free
# of build products and the plain and debug builds do not overwrite each other.
# Prints the directory holding the .ko files.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kind=${1:?usage: modules.sh plain|debug}
kb=$(kbuild_dir "$kind")
[ -f "$kb/.vmdev-done" ] || kb=$("$REPO/scripts/kernel.sh" "$kind")
ext="$kb/vmdev-ext"
mkdir -p "$ext"
# Its stdout goes to stderr: this script's stdout is the directory it prints, which vm.sh puts
# on the kernel command line.
rsync -a --delete --exclude /target --exclude /fuzz/target --exclude /.git --exclude /results \
	--filter='P *.o' --filter='P .*.cmd' --filter='P *.ko' --filter='P *.mod*' \
	--filter='P *_generated.rs' --filter='P Module.symvers' --filter='P modules.order' \
	--filter='P *.d' --filter='P .*.d' "$REPO/" "$ext/" >&2
log "building modules against the $kind kernel"
# CLIPPY=1: the kernel's clippy lints (SAFETY comments, # Safety docs, ...) run on every build,
# and any warning fails it.
if ! make -C "$kb" M="$ext" LLVM=$LLVM_SUFFIX BINDGEN="$(command -v bindgen)" CLIPPY=1 -j"$(nproc)" modules \
	>"$ext/build.log" 2>&1; then
	grep -E 'error|warning' -A5 "$ext/build.log" | head -80 >&2
	die "module build failed, log: $ext/build.log"
fi
if grep -q 'warning' "$ext/build.log"; then
	grep 'warning' -A5 "$ext/build.log" | head -60 >&2
	die "module build has warnings, log: $ext/build.log"
fi
echo "$ext"
