#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: a narrated walkthrough, run inside the VM on the plain kernel.
. "$(dirname "$0")/lib.sh"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; eval "$@"; }

step "1. Load the transport, the simulator and the virtio personality"
echo "vmdev.ko is the transport (its own bus + an mdev driver), vmdev_sim.ko a software"
echo "virtio-net device, virtio_mdev.ko the virtio transport driver virtio_net binds through."
show modprobe mdev
show insmod "$M/vmdev.ko"
show insmod "$M/vmdev_sim.ko"
show insmod "$M/virtio_mdev.ko"

step "2. The simulator is an mdev parent offering a net type (and one for block, step 8)"
show ls /sys/class/mdev_bus/vmdev_sim/mdev_supported_types/
show cat "$SIM_TYPE/name" "$SIM_TYPE/description" "$SIM_TYPE/device_api" "$SIM_TYPE/available_instances"

step "3. Create an instance with the standard mdev interface"
uuid=$(new_uuid)
echo "Autoprobe is switched off first so the MAC and MTU can be set before a driver binds."
show "echo 0 > /sys/bus/vmdev/drivers_autoprobe"
show "echo $uuid > $SIM_TYPE/create"
v=$(vmdev_of "$uuid")
show ls /sys/bus/mdev/devices/$uuid/
show "echo 02:de:mo:00:00:01 > /sys/bus/vmdev/devices/$v/mac 2>&1 || echo '(refused: not a MAC)'"
show "echo 02:de:00:00:00:01 > /sys/bus/vmdev/devices/$v/mac"
show "echo 1400 > /sys/bus/vmdev/devices/$v/mtu"
show "echo 2 > /sys/bus/vmdev/devices/$v/max_queue_pairs"
show "grep -H . /sys/bus/vmdev/devices/$v/{device_class,device_id,mdev_uuid,mac,mtu,max_queue_pairs,link}"

step "4. Bind it to virtio_mdev: the kernel's unmodified virtio_net takes over"
show "echo $v > /sys/bus/vmdev/drivers/virtio_mdev/bind"
show "echo 1 > /sys/bus/vmdev/drivers_autoprobe"
wait_for 20 netdev_of "$uuid"
nd=$(netdev_of "$uuid")
show readlink /sys/class/net/$nd/device/driver
show ip link set dev $nd up
show ip -d link show dev $nd

step "5. Send traffic: frames to the device's MAC loop back, others are dropped"
show "$PKTLOOP $nd 02:de:00:00:00:01 60 1414"
show "$PKTLOOP $nd ff:ff:ff:ff:ff:ff 60 1414 50"
show "$PKTLOOP $nd 02:00:00:00:99:99 60 1414 100 --expect none"
show "grep -H . /sys/bus/vmdev/devices/$v/stats/*"
show ip -s link show dev $nd

step "6. virtio_net programs the receive filter through the control queue"
echo "Frames to another MAC were dropped above. Promiscuous mode and multicast groups are"
echo "commands virtio_net sends the device's control queue; the filter follows them."
show "ip link set dev $nd promisc on"
show "$PKTLOOP $nd 02:00:00:00:99:99 60 1414 100"
show "ip link set dev $nd promisc off"
show "ip maddr add 01:00:5e:01:02:03 dev $nd"
show "$PKTLOOP $nd 01:00:5e:01:02:03 60 1414 100"
show "grep -H . /sys/bus/vmdev/devices/$v/stats/ctrl_*"

echo "The number of queue pairs in use is a control command too. Each pair loops its own"
echo "frames: a pktloop pinned to each CPU sends on that CPU's pair, and they come back there."
show "ethtool -L $nd combined 2"
show "ethtool -l $nd | tail -5"
for cpu in 0 1; do show "taskset -c $cpu $PKTLOOP $nd 02:de:00:00:00:01 60 1414 50"; done
show "grep -H . /sys/bus/vmdev/devices/$v/stats/*_per_pair"

step "7. Link changes reach the driver through a config interrupt"
show "echo down > /sys/bus/vmdev/devices/$v/link; sleep 0.5; cat /sys/class/net/$nd/carrier"
show "echo up > /sys/bus/vmdev/devices/$v/link; sleep 0.5; cat /sys/class/net/$nd/carrier"
echo "The transport counts the interrupts it handed to the driver (queue and config ones), and"
echo "those it dropped because no driver was there yet or the device had been reset."
show "cat /sys/kernel/debug/vmdev/$v.callbacks"

step "8. A block device: the simulator's second class, on a parent of its own"
echo "The same transport carries virtio-blk: the kernel's unmodified virtio_blk binds through"
echo "virtio_mdev. Capacity, queues and serial are set per instance before the bind."
show ls /sys/class/mdev_bus/vmdev_sim_blk/mdev_supported_types/
buuid=$(new_uuid)
show "echo 0 > /sys/bus/vmdev/drivers_autoprobe"
show "echo $buuid > $BLK_TYPE/create"
show "echo 1 > /sys/bus/vmdev/drivers_autoprobe"
bv=$(vmdev_of "$buuid")
show "echo 256M > /sys/bus/vmdev/devices/$bv/capacity"
show "echo 2 > /sys/bus/vmdev/devices/$bv/num_queues"
show "echo demo-disk-0001 > /sys/bus/vmdev/devices/$bv/serial"
show "echo $bv > /sys/bus/vmdev/drivers/virtio_mdev/bind"
wait_for 20 disk_of "$buuid"
disk=$(disk_of "$buuid")
show "cat /sys/block/$disk/size; cat /sys/block/$disk/serial; echo; ls /sys/block/$disk/mq"
mnt=$(mktemp -d)
show "mkfs.ext4 -q /dev/$disk && mount /dev/$disk $mnt"
show "head -c 20000000 /dev/urandom > $mnt/data && sha256sum $mnt/data && umount $mnt"
show "e2fsck -f -n /dev/$disk | tail -1"
show "mount /dev/$disk $mnt && sha256sum $mnt/data && df -h $mnt | tail -1 && umount $mnt"
rmdir "$mnt"
echo "The disk takes only the memory written to it; a discard gives it back."
show "cat /sys/bus/vmdev/devices/$bv/stats/allocated_bytes; blkdiscard -f /dev/$disk 2>/dev/null; cat /sys/bus/vmdev/devices/$bv/stats/allocated_bytes"
show "grep -H . /sys/bus/vmdev/devices/$bv/stats/{reads,writes,flushes,discards,requests_per_queue}"

step "9. Tear down"
show "echo 1 > /sys/bus/mdev/devices/$uuid/remove"
show "echo 1 > /sys/bus/mdev/devices/$buuid/remove"
show "ls /sys/class/net/ /sys/block/"
show rmmod virtio_mdev vmdev_sim vmdev
echo
echo "Done: mdev instances became a virtio-net interface and a virtio-blk disk through the"
echo "register-style transport, carried traffic and a filesystem, and went away cleanly."
