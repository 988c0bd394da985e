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

step "2. The simulator is an mdev parent offering one type"
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

step "8. Tear down"
show "echo 1 > /sys/bus/mdev/devices/$uuid/remove"
show "ls /sys/class/net/"
show rmmod virtio_mdev vmdev_sim vmdev
echo
echo "Done: an mdev instance became a virtio-net interface through the register-style"
echo "transport, carried traffic, and went away cleanly."
