#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Registers: bad accesses through the transport get a defined answer and never crash. Uses the
# transport's debugfs register file, which goes through the same checked path as drivers.
. "$(dirname "$0")/../lib.sh"
load_modules

uuid=$(new_uuid)
v=$(create_unbound "$uuid") || exit 1
R=/sys/kernel/debug/vmdev/$v
[ -w "$R" ] || fail "no debugfs register file $R"

ok() { echo "$1" >"$R" 2>/dev/null || fail "'$1' refused"; }
refused() { # refused ERRNO-TEXT COMMAND: the write must fail with that error
	local err
	err=$( { echo "$2" >"$R"; } 2>&1 ) && fail "'$2' accepted"
	case $err in *"$1"*) ;; *) fail "'$2': expected '$1', got '$err'";; esac
}
val() { ok "r $1"; cat "$R"; }

[ "$(val 0x000)" = 0x74726976 ] || fail "MAGIC_VALUE reads $(cat $R)"
[ "$(val 0x004)" = 0x00000001 ] || fail "VERSION"
[ "$(val 0x008)" = 0x00000001 ] || fail "DEVICE_ID"
[ "$(val 0x0c4)" = 0x00000009 ] || fail "NUM_QUEUES (4 pairs, control)"
[ "$(val 0x064)" = 0x00000002 ] || fail "NUM_GROUPS"
[ "$(val 0x068)" = 0x00000002 ] || fail "NUM_AS"
[ "$(val 0x0b8)" = 0x00000003 ] || fail "DEVICE_CAPS (suspend, dirty log): $(val 0x0b8)"
# Before a driver negotiates MQ the control queue is queue 2, alone in group 1.
for q in 0:0 2:1 8:0; do
	ok "w 0x030 ${q%:*}"
	[ "$(val 0x06c)" = 0x0000000${q#*:} ] || fail "QUEUE_GROUP of queue ${q%:*}: $(cat $R)"
done
ok "w 0x030 0"
ok "w 0x0bc 1"                            # SUSPEND before DRIVER_OK: refused by the device
[ "$(val 0x0bc)" = 0x00000000 ] || fail "suspended before DRIVER_OK"
[ "$(val 0x0c8)" = 0x00000018 ] || fail "CONFIG_SIZE"

refused "Invalid argument" "r 0x03c"      # reserved gap
refused "Invalid argument" "r 0x100"      # past the registers
refused "Invalid argument" "r 0xfffffffc" # far past the window
refused "Invalid argument" "r 0x062"      # misaligned
refused "Invalid argument" "r 0x050"      # write-only QUEUE_NOTIFY
refused "Invalid argument" "w 0x000 1"    # read-only MAGIC_VALUE
refused "Invalid argument" "w 0x034 8"    # read-only QUEUE_NUM_MAX
refused "Invalid argument" "bogus"
refused "Invalid argument" "r 0x1000000000"
[ "$(val 0x000)" = 0x74726976 ] || fail "MAGIC_VALUE changed"
note "refused with EINVAL: reserved, past-the-end, misaligned, write-only reads, read-only writes, garbage"

# Queue index out of range: selecting is allowed, the queue reads as absent and refuses setup.
ok "w 0x030 9"
[ "$(val 0x034)" = 0x00000000 ] || fail "QUEUE_NUM_MAX of queue 9"
ok "w 0x038 16"
[ "$(val 0x038)" = 0x00000000 ] || fail "QUEUE_NUM of queue 9 took a value"
ok "w 0x050 9"                            # doorbell of a queue that does not exist: ignored
ok "w 0x050 0xffffffff"
note "queue 9 of 9: QUEUE_NUM_MAX 0, QUEUE_NUM write ignored, stray doorbells ignored"

# Status rules through the window: no DRIVER_OK before FEATURES_OK, no clearing bits.
ok "w 0x060 1"; ok "w 0x060 3"
ok "w 0x060 7"                            # DRIVER_OK without FEATURES_OK: refused by the device
[ "$(val 0x060)" = 0x00000003 ] || fail "DRIVER_OK accepted before FEATURES_OK: $(cat $R)"
ok "w 0x060 0"
[ "$(val 0x060)" = 0x00000000 ] || fail "reset"
note "status: DRIVER_OK before FEATURES_OK ignored, reset clears"

# Config space: bounded by CONFIG_SIZE (24), widths 1, 2, 4, 8.
refused "Invalid argument" "c 0 6"
refused "Numerical result out of range" "c 23 2"
refused "Numerical result out of range" "c 24 1"
refused "Numerical result out of range" "c 0xfffffffe 4"
refused "Invalid argument" "c 0 3"
refused "Invalid argument" "c 0 16"
ok "c 0 8"; mac8=$(cat "$R")
mac=$(cat /sys/bus/vmdev/devices/$v/mac | tr -d :)
[ "$(echo "$mac8" | tr -d ' ' | cut -c1-12)" = "$mac" ] || fail "config bytes '$mac8' do not start with MAC $mac"
note "config: past-the-end -> ERANGE, odd widths -> EINVAL, bytes 0-5 are the MAC"

# DMA translation table: commands and their results (Documentation/register-map.rst).
[ "$(val 0x0f0)" = 0x00040000 ] || fail "DMA_MAX_ENTRIES $(cat $R)"
dma() { # dma IOVA SIZE ADDR PERM CMD: stage and run one command, print the result
	ok "w 0x0d0 $(( $1 & 0xffffffff ))"; ok "w 0x0d4 $(( ($1 >> 32) & 0xffffffff ))"
	ok "w 0x0d8 $(( $2 & 0xffffffff ))"; ok "w 0x0dc $(( ($2 >> 32) & 0xffffffff ))"
	ok "w 0x0e0 $(( $3 & 0xffffffff ))"; ok "w 0x0e4 $(( ($3 >> 32) & 0xffffffff ))"
	ok "w 0x0e8 $4"; ok "w 0x0ec $5"; val 0x0ec
}
[ "$(dma 0x1000 0x1000 0x100000 3 1)" = 0x00000006 ] || fail "MAP with translation off: $(cat $R)"
[ "$(dma 0 0 0 0 3)" = 0x00000000 ] || fail "TRANSLATE_ON: $(cat $R)"
[ "$(dma 0x10000 0x4000 0x100000 3 1)" = 0x00000000 ] || fail "MAP: $(cat $R)"
[ "$(dma 0x13000 0x2000 0x200000 1 1)" = 0x00000002 ] || fail "overlapping MAP: $(cat $R)"
[ "$(dma 0x14000 0x1000 0x200000 1 1)" = 0x00000000 ] || fail "adjacent MAP: $(cat $R)"
[ "$(dma 0x20000 0 0x200000 1 1)" = 0x00000001 ] || fail "MAP of size 0: $(cat $R)"
[ "$(dma 0xfffffffffffff000 0x2000 0x200000 1 1)" = 0x00000001 ] || fail "wrapping MAP: $(cat $R)"
ok "w 0x0e8 4"                            # unknown permission bit: refused by the device
[ "$(val 0x0e8)" = 0x00000001 ] || fail "DMA_PERM took an unknown bit: $(cat $R)"
ok "w 0x0ec 77"; [ "$(val 0x0ec)" = 0x00000001 ] || fail "unknown DMA command"
[ "$(dma 0x11000 1 0 0 2)" = 0x00000000 ] || fail "UNMAP: $(cat $R)"
[ "$(dma 0x10000 0x1000 0x300000 3 1)" = 0x00000000 ] || fail "UNMAP did not remove the whole mapping"
ok "w 0x060 0"                            # reset keeps the table...
[ "$(dma 0x10000 0x1000 0x300000 3 1)" = 0x00000002 ] || fail "reset dropped the table: $(cat $R)"
[ "$(dma 0 0 0 0 4)" = 0x00000000 ] || fail "TRANSLATE_OFF: $(cat $R)"
[ "$(dma 0x10000 0x1000 0x300000 3 1)" = 0x00000006 ] || fail "table survived TRANSLATE_OFF"
note "DMA table: up to 262144 entries; off/overlap/size 0/wrap/unknown refused with their results; unmap removes whole mappings; reset keeps the table"

# While a driver is bound, the file is read-only.
echo "$v" >/sys/bus/vmdev/drivers/virtio_mdev/bind || fail bind
wait_for 20 netdev_of "$uuid" || fail "no interface"
refused "Device or resource busy" "w 0x060 0"
[ "$(val 0x060)" = 0x0000000f ] || fail "bound device status $(cat $R)"
note "bound: writes refused with EBUSY, status reads 0xf (DRIVER_OK)"
mdev_remove "$uuid"
[ -e "$R" ] && fail "register file outlived its device"
exit 0
