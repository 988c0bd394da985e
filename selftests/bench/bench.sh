#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark, guest side: runs inside the VM on the plain kernel (scripts/bench.sh boots
# it) and writes one sample per line to /tmp/out/samples.tsv:
#
#   round  section  row  variant  metric  value
#
# Variants are measured interleaved: in every round each row runs every variant, the order
# rotating from round to round, so slow drift of the host hits all variants alike.
# Environment: BENCH_ROUNDS (3), BENCH_SECONDS per traffic sample (5), BENCH_LOG_PAIRS (5,
# back-to-back pairs per round of the dirty-log rows), BENCH_MIGRATION (1: the migration rows),
# BENCH_ONLY (one section to run alone: control, kernel, vhost, block, logging, migration or
# multiqueue;
# the devices of every section are still set up, which takes seconds).
# Poll every 10 ms: wait_for's default 100 ms steps would dominate create-to-up.
WAIT_HZ=100
. "$(dirname "$0")/../lib.sh"
ROUNDS=${BENCH_ROUNDS:-3}
SECS=${BENCH_SECONDS:-5}
OUT=/tmp/out/samples.tsv
# rounds SECTION: the rounds of SECTION, none when BENCH_ONLY names another one.
rounds() {
	[ -n "${BENCH_ONLY:-}" ] && [ "$BENCH_ONLY" != "$1" ] && return 0
	seq 1 "$ROUNDS"
}
: >$OUT
sample() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>$OUT; }
now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc -l; }

OUR_MAC=02:be:00:00:00:01 UP_MAC=02:be:00:00:00:02
load_modules
# Both stacks with both front ends: virtio_vdpa for the kernel path, vhost_vdpa for the vhost
# path. Upstream's simulator pins (use_va=0), as vhost_mdev does, and both it and vhost_vdpa
# may hold as many IOTLB entries as ours (262144, not their default 2048), so that a 256 MiB
# map of scattered pages (a run per page) fits on upstream too.
modprobe vdpa_sim use_va=0 max_iotlb_entries=262144 || fail "modprobe vdpa_sim"
modprobe vhost_vdpa max_iotlb_entries=262144 || fail "modprobe vhost_vdpa"
load_vhost
modprobe virtio_vdpa || fail "modprobe virtio_vdpa"
modprobe pktgen || fail "modprobe pktgen"
modprobe dummy numdummies=0 || fail "modprobe dummy"

# up_netdev NAME: the interface virtio_net made for an upstream vdpa device.
up_netdev() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*/net/*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done
	return 1
}
link_up() { [ "$(cat /sys/class/net/$1/operstate)" = up ]; }

# --- control path: create to interface up, and memory per device ---------------------------

# up_add NAME MAC DRIVER: an upstream device bound to DRIVER. Both virtio_vdpa and vhost_vdpa
# are loaded and either would take any new device, so it is added with autoprobe off and bound
# by driver_override.
up_add() {
	echo 0 >/sys/bus/vdpa/drivers_autoprobe
	vdpa dev add mgmtdev vdpasim_net name "$1" mac "$2"
	local rc=$?
	echo 1 >/sys/bus/vdpa/drivers_autoprobe
	[ $rc = 0 ] || fail "vdpa dev add $1"
	echo "$3" >"/sys/bus/vdpa/devices/$1/driver_override"
	echo "$1" >/sys/bus/vdpa/drivers_probe || fail "bind $1 to $3"
}

# ours_create / up_create ID MAC: create one device with that MAC, wait for the interface its
# driver makes and bring it up; print its name. Both do the same work: upstream passes the
# MAC with `vdpa dev add`, ours (create_net) writes it to sysfs between create and bind.
# One queue pair, the shape of upstream's vdpa_sim_net: virtio_net sizes its queues and
# buffers by the pairs a device offers (four by default here).
ours_create() { create_net "$1" "$2" "" 1; }
up_create() {
	up_add "$1" "$2" virtio_vdpa
	wait_for 20 up_netdev "$1" || fail "no interface for $1"
	local nd; nd=$(up_netdev "$1"); ip link set dev "$nd" up || fail "link up $nd"
	echo "$nd"
}
ours_remove() { mdev_remove "$1"; }
up_remove() { vdpa dev del "$1"; }

slab_kb() { awk '/^Slab:/ { print $2 }' /proc/meminfo; }
vmalloc_kb() { awk '/^VmallocUsed:/ { print $2 }' /proc/meminfo; }

for r in $(rounds control); do
	for variant in ours upstream; do
		# Create to up, one device at a time.
		for i in 1 2 3; do
			if [ $variant = ours ]; then id=$(new_uuid); else id=bench$r$i; fi
			t0=$(now)
			nd=$(${variant/upstream/up}_create "$id" 02:c0:00:00:0$r:0$i) || exit 1
			wait_for 20 link_up "$nd" || fail "$nd did not come up"
			t1=$(now)
			sample "$r" control create-to-up "$variant" seconds "$(elapsed "$t0" "$t1")"
			${variant/upstream/up}_remove "$id" || fail "remove $id"
		done
		# Memory: eight devices at once, created and up, against the moment before.
		sync; echo 3 >/proc/sys/vm/drop_caches
		s0=$(slab_kb) v0=$(vmalloc_kb) ids=()
		for i in 1 2 3 4 5 6 7 8; do
			if [ $variant = ours ]; then id=$(new_uuid); else id=mem$r$i; fi
			${variant/upstream/up}_create "$id" 02:c1:00:00:0$r:0$i >/dev/null || exit 1
			ids+=("$id")
		done
		sleep 1
		s1=$(slab_kb) v1=$(vmalloc_kb)
		sample "$r" memory slab-per-device "$variant" KiB "$(( (s1 - s0) / 8 ))"
		sample "$r" memory vmalloc-per-device "$variant" KiB "$(( (v1 - v0) / 8 ))"
		for id in "${ids[@]}"; do ${variant/upstream/up}_remove "$id" || fail "remove $id"; done
	done
done

# Module text: what each stack's kernel path loads.
ours_text=0
for f in vmdev.ko vmdev_sim.ko virtio_mdev.ko; do
	ours_text=$(( ours_text + $(size -A "$M/$f" | awk '$1 == ".text" { print $2 }') ))
done
up_text=0
for m in vdpa vdpa_sim vdpa_sim_net virtio_vdpa vringh vhost_iotlb; do
	f=$(modinfo -b "$VMDEV_MODROOT" -n "$m") || fail "modinfo $m"
	up_text=$(( up_text + $(size -A "$f" | awk '$1 == ".text" { print $2 }') ))
done
sample 0 memory module-text ours KiB "$(( ours_text / 1024 ))"
sample 0 memory module-text upstream KiB "$(( up_text / 1024 ))"

# --- kernel path: pktgen on each netdev, frames counted where they arrive --------------------

ours_nd=$(ours_create "$(new_uuid)" $OUR_MAC) || exit 1
up_nd=$(up_create benchup $UP_MAC) || exit 1
ip link add bench-dummy type dummy || fail "add dummy"
ip link set bench-dummy up
wait_for 20 link_up "$ours_nd" && wait_for 20 link_up "$up_nd" || fail "links not up"
note "kernel path: ours $ours_nd, upstream $up_nd, ceiling bench-dummy"

pg() { echo "$2" >"/proc/net/pktgen/$1" || fail "pktgen $1: $2"; }
counter() { cat "/sys/class/net/$1/statistics/$2"; }

# pktgen_run IFNAME DST_MAC SIZE: sends for SECS seconds after a one-second warm-up; prints
# "received-pps sent-pps". The dummy device receives nothing, so its sent count is its rate.
pktgen_run() {
	local nd=$1 mac=$2 size=$3 rx0 tx0 rx1 tx1 t0 t1 el
	pg kpktgend_0 rem_device_all
	pg kpktgend_0 "add_device $nd"
	pg "$nd" "count 0"
	pg "$nd" "pkt_size $size"
	pg "$nd" "dst_mac $mac"
	pg "$nd" "clone_skb 0"
	pg "$nd" "delay 0"
	(echo start >/proc/net/pktgen/pgctrl) 2>/dev/null &
	sleep 1
	rx0=$(counter "$nd" rx_packets) tx0=$(counter "$nd" tx_packets) t0=$(now)
	sleep "$SECS"
	rx1=$(counter "$nd" rx_packets) tx1=$(counter "$nd" tx_packets) t1=$(now)
	echo stop >/proc/net/pktgen/pgctrl 2>/dev/null
	wait
	el=$(elapsed "$t0" "$t1")
	echo "$(echo "($rx1 - $rx0) / $el" | bc -l) $(echo "($tx1 - $tx0) / $el" | bc -l)"
}

variants=(ours upstream dummy)
for r in $(rounds kernel); do
	for size in 64 512 1500 1514; do
		for k in 0 1 2; do
			variant=${variants[$(( (r + k) % 3 ))]}
			case $variant in
			ours) nd=$ours_nd mac=$OUR_MAC;;
			upstream) nd=$up_nd mac=$UP_MAC;;
			dummy) nd=bench-dummy mac=$OUR_MAC;;
			esac
			# (no process substitution: the guest has no /dev/fd)
			set -- $(pktgen_run "$nd" "$mac" "$size")
			rxpps=${1:?pktgen run failed} txpps=${2:?}
			[ $variant = dummy ] && rxpps=$txpps
			sample "$r" kernel "$size" "$variant" rx-pps "$rxpps"
			sample "$r" kernel "$size" "$variant" tx-pps "$txpps"
			note "round $r, $size B, $variant: $(printf '%.0f' "$rxpps") pps received, $(printf '%.0f' "$txpps") sent"
		done
	done
done
pg kpktgend_0 rem_device_all
ip link del bench-dummy

# --- vhost path: the selftest client looping frames through each vhost device ---------------

# up_vhost_create NAME MAC: an upstream device on vhost_vdpa; prints its device node.
up_vhost_create() {
	up_add "$1" "$2" vhost_vdpa
	vhost_vdpa_node "$1"
}

ours_vh=$(create_vhost "$(new_uuid)") || exit 1
up_vh=$(up_vhost_create benchvh 02:be:00:00:00:03) || exit 1
note "vhost path: ours $ours_vh, upstream $up_vh"
# field KEY TEXT: the word after KEY in the client's output.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$2"; }
field_after() { # field_after LINE-PREFIX KEY TEXT: as field, on the line starting with PREFIX
	field "$2" "$(grep "^$1" <<<"$3")"
}

variants=(ours upstream)
for r in $(rounds vhost); do
	for size in 64 512 1500 1514; do
		for k in 0 1; do
			variant=${variants[$(( (r + k) % 2 ))]}
			dev=$ours_vh; [ $variant = upstream ] && dev=$up_vh
			res=$("$VHOST_CLIENT" bench --dev "$dev" --size "$size" --seconds "$SECS" --batch 32) ||
				fail "vhost_client bench $variant $size B"
			fps=$(field fps "$res") ok=$(field open-to-driver-ok "$res")
			[ -n "$fps" ] && [ -n "$ok" ] || fail "unexpected vhost_client output: $res"
			sample "$r" vhost "$size" "$variant" fps "$fps"
			sample "$r" control open-to-driver-ok "$variant" seconds "$ok"
			note "round $r, vhost $size B, $variant: $fps frames/s, open to DRIVER_OK $ok s"
		done
	done
	# IOTLB: 64 maps of 16 pages, 20 times, one UPDATE per write(); batched or not.
	for batched in 0 1; do
		for k in 0 1; do
			variant=${variants[$(( (r + k) % 2 ))]}
			dev=$ours_vh; [ $variant = upstream ] && dev=$up_vh
			res=$("$VHOST_CLIENT" map-bench --dev "$dev" --maps 64 --pages 16 --rounds 20 \
				--batched $batched) || fail "vhost_client map-bench $variant batched=$batched"
			mps=$(field_after "map-bench: map " maps/s "$res")
			pps=$(field_after "map-bench: map " pages/s "$res")
			[ -n "$mps" ] && [ -n "$pps" ] || fail "unexpected vhost_client output: $res"
			row=iotlb-map-unbatched; [ $batched = 1 ] && row=iotlb-map-batched
			sample "$r" control "$row" "$variant" maps-per-s "$mps"
			sample "$r" control "$row" "$variant" pages-per-s "$pps"
			note "round $r, $row, $variant: $mps maps/s, $pps pages/s"
		done
	done
	# IOTLB: one map of 256 MiB scattered physically (a run per page, as a guest's RAM is),
	# mapped and invalidated 3 times: what QEMU does to a migrating guest's memory when it
	# starts and stops the device, the INVALIDATE inside the downtime. Batched, as QEMU does:
	# vdpa_sim then rebuilds its table once per batch rather than once per run.
	for k in 0 1; do
		variant=${variants[$(( (r + k) % 2 ))]}
		dev=$ours_vh; [ $variant = upstream ] && dev=$up_vh
		res=$("$VHOST_CLIENT" map-bench --dev "$dev" --maps 1 --pages 65536 --rounds 3 \
			--fragment 1 --batched 1) || fail "vhost_client map-bench $variant fragmented"
		map_ms=$(field_after "map-bench: per map" map-ms "$res")
		unmap_ms=$(field_after "map-bench: per map" unmap-ms "$res")
		[ -n "$map_ms" ] && [ -n "$unmap_ms" ] || fail "unexpected vhost_client output: $res"
		sample "$r" control iotlb-256MiB-scattered-map "$variant" ms "$map_ms"
		sample "$r" control iotlb-256MiB-scattered-unmap "$variant" ms "$unmap_ms"
		note "round $r, iotlb 256 MiB scattered, $variant: map $map_ms ms, unmap $unmap_ms ms ($(grep -o 'physical runs.*' <<<"$res"))"
	done
done

# --- block: fio through virtio_blk on each stack's disk ---------------------------------------

# Upstream's vdpa_sim_blk is a 128 MiB disk with one queue, on virtio_vdpa; ours is given the
# same shape (a block instance with one queue, through virtio_mdev), so the rows compare the
# devices and their transports, not queue counts.
modprobe vdpa_sim_blk || fail "modprobe vdpa_sim_blk"
up_disk_of() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*/block/*; do [ -e "$d" ] && echo "${d##*/}" && return 0; done
	return 1
}
ours_disk=$(create_blk "$(new_uuid)" capacity=128M num_queues=1) || exit 1
echo 0 >/sys/bus/vdpa/drivers_autoprobe
vdpa dev add mgmtdev vdpasim_blk name benchblk
rc=$?
echo 1 >/sys/bus/vdpa/drivers_autoprobe
[ $rc = 0 ] || fail "vdpa dev add vdpasim_blk"
echo virtio_vdpa >/sys/bus/vdpa/devices/benchblk/driver_override
echo benchblk >/sys/bus/vdpa/drivers_probe || fail "bind benchblk to virtio_vdpa"
wait_for 20 up_disk_of benchblk || fail "no disk for benchblk"
up_disk=$(up_disk_of benchblk)
# Written once, so that reads find data on both (ours reads a page no one wrote as zeroes
# without touching memory of its own, which would flatter it).
for d in "$ours_disk" "$up_disk"; do
	dd if=/dev/zero of="/dev/$d" bs=1M count=64 oflag=direct status=none || fail "fill $d"
done
note "block: ours /dev/$ours_disk, upstream /dev/$up_disk"
# fio_run DISK RW BS: one job, queue depth 16, direct I/O over the first 64 MiB for $SECS s;
# prints IOPS and MB/s.
fio_run() {
	local dir=read
	case $2 in *write) dir=write;; esac
	fio --name=bench --filename="/dev/$1" --direct=1 --ioengine=libaio --iodepth=16 \
		--rw="$2" --bs="$3" --size=64M --runtime="$SECS" --time_based --output-format=json |
		python3 -c "import json, sys; j = json.load(sys.stdin)['jobs'][0]['$dir']; print(j['iops'], j['bw'] * 1024 / 1e6)"
}
for r in $(rounds block); do
	for job in 4k-randread:randread:4k 4k-randwrite:randwrite:4k 128k-seqread:read:128k 128k-seqwrite:write:128k; do
		IFS=: read -r row rw bs <<<"$job"
		for k in 0 1; do
			if (( (r + k) % 2 == 0 )); then variant=ours; else variant=upstream; fi
			if [ $variant = ours ]; then d=$ours_disk; else d=$up_disk; fi
			set -- $(fio_run "$d" "$rw" "$bs")
			iops=${1:?fio failed} mbps=${2:?}
			sample "$r" block "$row" "$variant" iops "$iops"
			sample "$r" block "$row" "$variant" MBps "$mbps"
			note "round $r, $row, $variant: $(printf '%.0f' "$iops") IOPS, $(printf '%.1f' "$mbps") MB/s"
		done
	done
done
vdpa dev del benchblk

# --- dirty logging: ours with the log on against off -----------------------------------------
# No upstream device logs, so these rows compare ours with itself in the same round: the
# vhost client with the device's dirty log on (as QEMU turns it on to migrate), against off.
# Throughput on these machines drifts by 20% and more between samples seconds apart, so each
# round runs LOG_PAIRS pairs of short samples, off and on back to back (in alternating
# order), and the figure is the median of the pairs' ratios.
LOG_PAIRS=${BENCH_LOG_PAIRS:-5}
for r in $(rounds logging); do
	for size in 64 1514; do
		for p in $(seq 1 "$LOG_PAIRS"); do
			declare -A pair=()
			for k in 0 1; do
				log=$(( (r + p + k) % 2 ))
				res=$("$VHOST_CLIENT" bench --dev "$ours_vh" --size "$size" \
					--seconds "$(( (SECS + 1) / 2 ))" --batch 32 --log $log) ||
					fail "vhost_client bench --log $log, $size B"
				fps=$(field fps "$res")
				[ -n "$fps" ] || fail "unexpected vhost_client output: $res"
				variant=log-off; [ $log = 1 ] && variant=log-on
				sample "$r" log-vhost "$size" "$variant" fps "$fps"
				pair[$log]=$fps
			done
			sample "$r" log-vhost "$size" on-vs-off ratio "$(echo "${pair[1]} / ${pair[0]}" | bc -l)"
			note "round $r, vhost $size B, pair $p: log-off ${pair[0]}, log-on ${pair[1]} frames/s"
		done
	done
done

# --- live migration: a 256 MiB inner guest migrated under a stream of frames ----------------
# Debian's QEMU 7.2 migrates the inner guest (selftests/inner.sh) from one instance to a
# second while the guest streams frames through its virtio-net: ours with the device's dirty
# log (no shadow virtqueues), upstream's vdpa_sim_net with x-svq=on, the only way QEMU 7.2
# migrates it. One QEMU pair at a time; QEMU's own total time and downtime, and the stream's
# frames lost. BENCH_MIGRATION=0 (the smoke run) skips it: it boots two inner guests a round.
if [ "${BENCH_MIGRATION:-1}" = 1 ] && [ -n "$(rounds migration)" ]; then
	. "$(dirname "$0")/../inner.sh"
	ulimit -l unlimited
	MIG_STREAM=${BENCH_MIGRATION_STREAM:-60}
	INNER_MEM=$INNER_MIGRATION_MEM
	inner_initramfs "" "$MIG_STREAM"
	# mig_device VARIANT NAME: a one-pair device of that stack on vhost; prints its node.
	mig_device() {
		if [ "$1" = upstream ]; then up_vhost_create "$2" 02:be:00:00:01:00; else create_vhost "$2" 1; fi
	}
	mig_remove() { if [ "$1" = upstream ]; then vdpa dev del "$2"; else mdev_remove "$2"; fi; }
	variants=(ours upstream)
	for r in $(seq 1 "$ROUNDS"); do
		for k in 0 1; do
			variant=${variants[$(( (r + k) % 2 ))]}
			if [ $variant = ours ]; then ida=$(new_uuid) idb=$(new_uuid); svq=; else ida=miga$r idb=migb$r svq=,x-svq=on; fi
			da=$(mig_device $variant "$ida") || exit 1
			db=$(mig_device $variant "$idb") || exit 1
			dir=$INNER_DIR/$variant-$r; mkdir -p "$dir"
			dev=virtio-net-pci,mac=02:be:00:00:01:0$r
			inner_qemu "$dir/a.log" "$dir/qmp-a" "vhost-vdpa,vhostdev=$da$svq" "$dev" >"$dir/a.log.qemu" 2>&1 &
			qa=$!
			inner_wait_for 900 $qa "$dir/a.log" 'inner: stream start' ||
				{ tail -30 "$dir/a.log" "$dir/a.log.qemu"; fail "$variant: the inner guest did not start its stream"; }
			sleep 10  # the stream runs on the source first
			inner_migrate "$dir/qmp-a" "$dir/b.log" "$dir/qmp-b" "vhost-vdpa,vhostdev=$db$svq" "$dev" "$dir/mig.sock"
			qmp "$dir/qmp-a" quit >/dev/null 2>&1
			wait $qa
			sample "$r" migration 256MiB "$variant" downtime-ms "$inner_down"
			sample "$r" migration 256MiB "$variant" downtime-kb "$inner_down_kb"
			sample "$r" migration 256MiB "$variant" total-ms "$inner_total"
			# The stream ends MIG_STREAM s after it started, and the guest powers off. Upstream
			# with x-svq was seen to stall its TX queue on the destination (NETDEV WATCHDOG
			# every 5 s, nothing sent): that is counted for upstream, and fails ours.
			if ! inner_wait_for $((MIG_STREAM + 300)) $inner_to "$dir/b.log" 'inner: stream exit 0'; then
				tail -30 "$dir/b.log"
				kill $inner_to 2>/dev/null; wait $inner_to
				[ $variant = upstream ] || fail "$variant: the stream failed across the migration"
				sample "$r" migration 256MiB "$variant" stalled 1
				note "round $r, migration, $variant: total $inner_total ms, downtime $inner_down ms; the guest's stream stalled on the destination ($(grep -ac 'NETDEV WATCHDOG' "$dir/b.log") transmit timeouts)"
				mig_remove $variant "$ida" && mig_remove $variant "$idb" || fail "remove the $variant devices"
				continue
			fi
			wait $inner_to || { tail -30 "$dir/b.log"; fail "$variant: the destination QEMU failed"; }
			sample "$r" migration 256MiB "$variant" stalled 0
			stream=$(grep -a '^pktloop: stream' "$dir/b.log" | tail -1)
			lost=$(field lost "${stream//,/}") sent=$(field sent "${stream//,/}")
			[ -n "$lost" ] && [ -n "$sent" ] || fail "unexpected stream report: $stream"
			sample "$r" migration 256MiB "$variant" frames-lost "$lost"
			sample "$r" migration 256MiB "$variant" stream-fps "$(echo "$sent / $MIG_STREAM" | bc -l)"
			note "round $r, migration, $variant: total $inner_total ms, downtime $inner_down ms ($inner_down_kb KiB sent in it); ${stream#pktloop: }"
			mig_remove $variant "$ida" && mig_remove $variant "$idb" || fail "remove the $variant devices"
		done
	done
fi

# --- multiqueue: ours with 1, 2 and 4 queue pairs -------------------------------------------
# Upstream's simulator has one pair, so these rows compare ours with itself: N pairs against
# one, in the same round.

# vhost path: one client thread per pair, each looping frames on its own pair.
mq_vh=$(create_vhost "$(new_uuid)") || exit 1
note "multiqueue vhost path: $mq_vh"
for r in $(rounds multiqueue); do
	for size in 64 1514; do
		for k in 0 1 2; do
			pairs=$(( 1 << ((r + k) % 3) ))
			res=$("$VHOST_CLIENT" bench --dev "$mq_vh" --size "$size" --seconds "$SECS" \
				--batch 32 --pairs "$pairs") || fail "vhost_client bench --pairs $pairs, $size B"
			fps=$(field fps "$res")
			[ -n "$fps" ] || fail "unexpected vhost_client output: $res"
			sample "$r" mq-vhost "$size" "$pairs-pairs" fps "$fps"
			note "round $r, vhost $size B, $pairs pairs: $fps frames/s ($(grep 'per pair' <<<"$res" || echo one pair))"
		done
	done
done

# Kernel path: pktgen from both CPUs, each thread cycling over its half of the queues in use
# (both on queue 0 with one pair), frames counted where they arrive.
mq_id=$(new_uuid)
mq_nd=$(create_net "$mq_id" 02:be:00:00:00:04 "" 4) || exit 1
mq_v=$(vmdev_of "$mq_id") || fail "no vmdev for $mq_id"
wait_for 20 link_up "$mq_nd" || fail "$mq_nd not up"
note "multiqueue kernel path: $mq_nd"
# pktgen_mq_run IFNAME DST_MAC SIZE PAIRS: prints received pps.
pktgen_mq_run() {
	local nd=$1 mac=$2 size=$3 n=$4 t lo hi rx0 rx1 t0 t1
	for t in 0 1; do
		pg kpktgend_$t rem_device_all
		pg kpktgend_$t "add_device $nd@$t"
		lo=0 hi=0
		[ "$n" -gt 1 ] && lo=$(( t * n / 2 )) hi=$(( (t + 1) * n / 2 - 1 ))
		pg "$nd@$t" "count 0"
		pg "$nd@$t" "pkt_size $size"
		pg "$nd@$t" "dst_mac $mac"
		pg "$nd@$t" "clone_skb 0"
		pg "$nd@$t" "delay 0"
		pg "$nd@$t" "queue_map_min $lo"
		pg "$nd@$t" "queue_map_max $hi"
	done
	(echo start >/proc/net/pktgen/pgctrl) 2>/dev/null &
	sleep 1
	rx0=$(counter "$nd" rx_packets) t0=$(now)
	sleep "$SECS"
	rx1=$(counter "$nd" rx_packets) t1=$(now)
	echo stop >/proc/net/pktgen/pgctrl 2>/dev/null
	wait
	for t in 0 1; do pg kpktgend_$t rem_device_all; done
	echo "($rx1 - $rx0) / $(elapsed "$t0" "$t1")" | bc -l
}
for r in $(rounds multiqueue); do
	for size in 64 1514; do
		for k in 0 1 2; do
			pairs=$(( 1 << ((r + k) % 3) ))
			ethtool -L "$mq_nd" combined "$pairs" || fail "ethtool -L $mq_nd combined $pairs"
			pps=$(pktgen_mq_run "$mq_nd" 02:be:00:00:00:04 "$size" "$pairs")
			sample "$r" mq-kernel "$size" "$pairs-pairs" rx-pps "$pps"
			note "round $r, kernel $size B, $pairs pairs: $(printf '%.0f' "$pps") pps received, device rx_packets per pair so far: $(stat_of "$mq_v" rx_packets_per_pair)"
		done
	done
done
exit 0
