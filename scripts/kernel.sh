#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds (or reuses) a test kernel: scripts/kernel.sh plain|debug
# Prints the build directory on stdout. Only one kernel build runs at a time (flock).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kind=${1:?usage: kernel.sh plain|debug}
case $kind in plain|debug) ;; *) die "unknown kernel kind '$kind'";; esac

kb=$(kbuild_dir "$kind")
if [ -f "$kb/.vmdev-done" ]; then
	log "kernel ($kind) cached: $kb"
	echo "$kb"; exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/kernel-build.lock"
log "waiting for the kernel build lock"
flock 9
if [ -f "$kb/.vmdev-done" ]; then echo "$kb"; exit 0; fi

src=$(ksrc_dir)
if [ ! -f "$src/.vmdev-unpacked" ]; then
	log "unpacking the kernel source into $src"
	rm -rf "$src"; mkdir -p "$CACHE/src"
	tar -C "$CACHE/src" -xf /usr/src/linux-source-6.12.tar.xz
	touch "$src/.vmdev-unpacked"
fi

log "configuring the $kind kernel in $kb"
rm -rf "$kb"; mkdir -p "$kb"
frags=("$REPO/kernel/base.config")
[ "$kind" = debug ] && frags+=("$REPO/kernel/debug.config")
kmake O="$kb" tinyconfig >/dev/null
(cd "$kb" && KCONFIG_CONFIG=.config "$src/scripts/kconfig/merge_config.sh" -m -O "$kb" .config "${frags[@]}" >/dev/null)
kmake O="$kb" olddefconfig >/dev/null

# Every option the fragments ask for must have survived olddefconfig (a missing dependency
# silently drops it otherwise).
missing=0
for f in "${frags[@]}"; do
	while IFS= read -r line; do
		case $line in CONFIG_*=*) ;; *) continue;; esac
		opt=${line%%=*} val=${line#*=}
		if [ "$val" = n ]; then
			grep -q "^$opt=" "$kb/.config" && { log "config: $opt should be off"; missing=1; }
		else
			grep -qx "$opt=$val" "$kb/.config" || { log "config: $opt=$val did not stick ($(grep "^$opt=\|# $opt " "$kb/.config" || echo absent))"; missing=1; }
		fi
	done <"$f"
done
[ $missing = 0 ] || die "kernel config is missing options, see above"

log "building the $kind kernel (this takes several minutes)"
jobs=$(( $(nproc) + 1 ))
if ! kmake O="$kb" -j"$jobs" bzImage modules >"$kb/build.log" 2>&1; then
	tail -40 "$kb/build.log" >&2
	die "kernel build failed, log: $kb/build.log"
fi
kmake O="$kb" INSTALL_MOD_PATH="$kb/modroot" modules_install >/dev/null
touch "$kb/.vmdev-done"
log "kernel ($kind) built: $kb"
echo "$kb"
