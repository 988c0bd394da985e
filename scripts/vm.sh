#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots a test kernel under QEMU with the host's filesystem as a read-only 9p root.
#
#   scripts/vm.sh [--kernel plain|debug] [--timeout SECS] [--out DIR] [--quiet] [--load] [-- COMMAND...]
#
# With a COMMAND, runs it in the guest (cwd = the repository, modules built and available as
# $VMDEV_MODULES), prints its output, and exits with its status. Without one, gives an
# interactive shell on the console. Either way the guest console log is kept in DIR
# (default results/vm-<time>) and scanned: any kernel BUG, WARNING, Oops, KASAN, UBSAN, lockdep
# or kmemleak report, or Rust panic, fails the run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

kind=debug timeout=1800 out="" accel=${VMDEV_ACCEL:-tcg} loglevel=6 load=0
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kind=$2; shift 2;;
	--timeout) timeout=$2; shift 2;;
	--out) out=$2; shift 2;;
	--quiet) loglevel=4; shift;;  # console shows warnings and worse; dmesg.txt keeps all
	--load) load=1; shift;;       # load mdev, vmdev, vmdev_sim and virtio_mdev before the command
	--) shift; break;;
	*) die "unknown option $1";;
	esac
done

kb=$("$REPO/scripts/kernel.sh" "$kind")
# The plain kernel, if built, boots the inner guest of the QEMU selftest (09-vhost-qemu).
inner=$(kbuild_dir plain)/arch/x86/boot/bzImage
[ -f "$(kbuild_dir plain)/.vmdev-done" ] || inner=""
# VMDEV_PREBUILT=DIR reuses modules built earlier (debugging the runner itself).
ext=${VMDEV_PREBUILT:-$("$REPO/scripts/modules.sh" "$kind")}
out=${out:-$REPO/results/vm-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$out"; out=$(cd "$out" && pwd)
rm -f "$out/status" "$out/job.sh" "$out/dmesg.txt" "$out/console.log"

interactive=0
if [ $# -gt 0 ]; then
	printf '%s\n' "$*" >"$out/job.sh"
else
	interactive=1
fi

# pci=noacpi: evaluating the ACPI PCI routing methods under TCG with KASAN times out after
# minutes; the MP table routes PCI interrupts instead. ACPI itself stays on, because only its
# MADT lists the second CPU (SeaBIOS's MP table has one). TCG is slow enough that RCU's
# default 21 s stall warning fires on a healthy guest, so it is raised, not disabled.
append="console=ttyS0 loglevel=$loglevel pci=noacpi rcupdate.rcu_cpu_stall_timeout=300 root=/dev/root rootfstype=9p"
append+=" rootflags=trans=virtio,version=9p2000.L,msize=262144,cache=loose ro"
append+=" init=$REPO/scripts/guest-init.sh panic=-1 oops=panic"
[ "$kind" = debug ] && append+=" panic_on_warn=1 kmemleak=on"
append+=" VMDEV_REPO=$REPO VMDEV_MODULES=$ext VMDEV_MODROOT=$kb/modroot VMDEV_INTERACTIVE=$interactive"
append+=" VMDEV_KIND=$kind VMDEV_LOAD=$load${inner:+ VMDEV_INNER_KERNEL=$inner}"

qemu=(qemu-system-x86_64 -machine pc -accel "$accel" -cpu max,la57=off -smp 2 -m 2G
	-nographic -no-reboot -nodefaults
	-kernel "$kb/arch/x86/boot/bzImage" -append "$append"
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=/dev/root
	-fsdev local,id=out,path="$out",security_model=none,multidevs=remap
	-device virtio-9p-pci,fsdev=out,mount_tag=vmdevout
	-chardev stdio,id=con,mux=on,signal=off,logfile="$out/console.log"
	-serial chardev:con)
[ $interactive = 1 ] && qemu+=(-mon chardev=con,mode=readline)

log "booting the $kind kernel (guest log: $out/console.log)"
rc=0
if [ $interactive = 1 ]; then
	"${qemu[@]}" || rc=$?
else
	timeout --foreground -k 10 "$timeout" "${qemu[@]}" </dev/null || rc=$?
	[ $rc = 124 ] && log "the VM timed out after ${timeout}s"
fi

"$REPO/scripts/check-guest-log.sh" "$out/console.log" || { log "kernel log check failed: $out/console.log"; exit 1; }
[ $interactive = 1 ] && exit 0
[ -f "$out/status" ] || { log "the guest did not report a status (crash or timeout): $out/console.log"; exit 1; }
exit "$(cat "$out/status")"
