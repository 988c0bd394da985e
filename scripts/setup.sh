#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Installs everything the build and the VM tests need on a fresh Debian 12 machine.
# Idempotent and quiet when everything is already there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(linux-source-6.12 clang-19 lld-19 llvm-19 libclang-19-dev flex bison bc libelf-dev
      libssl-dev busybox-static qemu-system-x86 cpio kmod rsync iproute2 xz-utils make gcc g++
      dpdk-dev librte-net-virtio23 librte-mempool-ring23 ethtool python3-yaml e2fsprogs
      util-linux fio mdevctl iperf3)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	log "installing rustup component rust-src"
	rustup component add rust-src
fi

if [ "$(bindgen --version 2>/dev/null | awk '{print $2}')" != "$BINDGEN_VERSION" ]; then
	log "installing bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet "bindgen-cli@$BINDGEN_VERSION"
fi
