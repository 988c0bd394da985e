# SPDX-License-Identifier: GPL-2.0
# Common settings for the host-side scripts. Sourced, not run.
# shellcheck shell=bash

export PATH="$HOME/.cargo/bin:/usr/lib/llvm-19/bin:$PATH"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Kernel builds are cached outside the repository, keyed by version, fragments and toolchain.
CACHE=${VMDEV_CACHE:-/var/cache/virtio-mdev}
LLVM_SUFFIX=-19
BINDGEN_VERSION=0.73.2
KPKG=linux-source-6.12

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# kbuild_dir KIND: prints the cached build directory for KIND (plain|debug).
kbuild_dir() {
	local kind=$1 kver hash
	kver=$(dpkg-query -W -f='${Version}' "$KPKG" 2>/dev/null) || die "$KPKG is not installed (run scripts/setup.sh)"
	hash=$( {
		cat "$REPO/kernel/base.config"
		[ "$kind" = debug ] && cat "$REPO/kernel/debug.config"
		rustc --version; bindgen --version 2>/dev/null; clang$LLVM_SUFFIX --version | head -1
	} | sha256sum | cut -c1-12)
	echo "$CACHE/build/$kver-$kind-$hash"
}

ksrc_dir() { echo "$CACHE/src/linux-source-6.12"; }

kmake() { make -C "$(ksrc_dir)" LLVM=$LLVM_SUFFIX "$@"; }
