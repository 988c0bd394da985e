// SPDX-License-Identifier: GPL-2.0
//! A net device brought up with several queue pairs (`VIRTIO_NET_F_MQ`), the way QEMU does
//! for `-netdev vhost-vdpa,queues=N`: every pair's rings and the control queue after the last
//! pair the device has (virtio 1.2, 5.1.2), DRIVER_OK, then `MQ_VQ_PAIRS_SET` on the control
//! queue, since a device uses only the first pair until told otherwise.
//!
//! Each pair lives in its own slice of one shared region, laid out as a single-pair
//! [`Session`](crate::setup::Session) lays out the whole region, so the pairs can be driven
//! from one thread each.

use std::time::Instant;

use vhost_uapi::{
    BACKEND_IOTLB_BATCH, VHOST_GET_FEATURES, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1,
};

use crate::ring::{Vq, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use crate::setup::{
    choose_iova, iotlb_ok, map, negotiate, new_eventfd, open_owned, ring_size, set_driver_ok,
    setup_ring, MEM_LEN, RX_RING_OFF, TX_RING_OFF, VIRTIO_NET_F_MAC,
};
use crate::sys::{
    errno_name, invalidate, poll_readable, shared_region, step, Dev, EventFd, Region,
};

/// `VIRTIO_NET_F_CTRL_VQ`.
const F_CTRL_VQ: u32 = 17;
/// `VIRTIO_NET_F_MQ`.
const F_MQ: u32 = 22;
/// `VIRTIO_NET_CTRL_MQ` and its `VQ_PAIRS_SET` command.
const CLASS_MQ: u8 = 4;
const MQ_VQ_PAIRS_SET: u8 = 0;
/// Offset of `max_virtqueue_pairs` in the config space.
const CONFIG_MAX_PAIRS: u32 = 8;
/// Region bytes of one pair: what a single-pair session uses for everything.
pub(crate) const PAIR_LEN: usize = MEM_LEN;
/// Region bytes of the control queue: its ring and one command.
const CVQ_LEN: usize = 0x1_0000;
const CVQ_RING: u16 = 64;
const CVQ_HDR: usize = 0x4000;
const CVQ_DATA: usize = 0x4100;
const CVQ_ACK: usize = 0x4200;
/// How long a control command may take.
const CVQ_WAIT_MS: i32 = 5000;

/// One queue pair: receive queue `2p`, transmit queue `2p + 1`.
pub(crate) struct Pair {
    /// Region offset of the pair's slice.
    pub(crate) base: usize,
    pub(crate) rx: Vq,
    pub(crate) tx: Vq,
    /// Kick eventfds of the RX and the TX queue.
    pub(crate) kick: [EventFd; 2],
    /// Call eventfds of the RX and the TX queue.
    pub(crate) call: [EventFd; 2],
}

/// A device at DRIVER_OK with `pairs.len()` queue pairs in use.
pub(crate) struct MqSession {
    /// The device fd; declared first so that it is closed before the memory is unmapped.
    pub(crate) dev: Dev,
    pub(crate) mem: Region,
    /// IOVA of region offset 0.
    pub(crate) iova: u64,
    /// The device MAC from config space.
    pub(crate) mac: [u8; 6],
    pub(crate) pairs: Vec<Pair>,
}

impl MqSession {
    /// Brings the device up with `n` queue pairs in use (1 needs no MQ and sends no command,
    /// but still negotiates MQ if the device offers it).
    pub(crate) fn start(path: &str, n: u16) -> Result<MqSession, String> {
        let (dev, _offered, acked) = open_owned(path)?;
        let features = step("VHOST_GET_FEATURES", dev.get_u64(VHOST_GET_FEATURES))?;
        let need = (1u64 << VIRTIO_F_VERSION_1) | (1 << F_CTRL_VQ) | (1 << F_MQ);
        if features & need != need {
            return Err(format!(
                "device features {features:#x} lack VERSION_1, CTRL_VQ or MQ"
            ));
        }
        let driver_features =
            need | (1 << VIRTIO_F_ACCESS_PLATFORM) | (features & (1 << VIRTIO_NET_F_MAC));
        let fok = negotiate(&dev, driver_features)?;
        let cfg = step("VHOST_VDPA_GET_CONFIG{0,10}", dev.get_config(0, 10))?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&cfg[..6]);
        let at = CONFIG_MAX_PAIRS as usize;
        let max_pairs = u16::from_le_bytes([cfg[at], cfg[at + 1]]);
        if n == 0 || n > max_pairs {
            return Err(format!(
                "{n} pairs asked for, the device has {max_pairs} (max_virtqueue_pairs)"
            ));
        }

        let len = PAIR_LEN * usize::from(n) + CVQ_LEN;
        let mem = shared_region(len)?;
        let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
        let iova = choose_iova(range, len as u64, mem.va())
            .ok_or_else(|| format!("no usable IOVA for {len:#x} bytes in the device range"))?;
        map(
            &dev,
            iova,
            len as u64,
            mem.va(),
            acked & BACKEND_IOTLB_BATCH != 0,
        )?;

        let vring_max = step(
            "VHOST_VDPA_GET_VRING_NUM",
            dev.get_u16(vhost_uapi::VHOST_VDPA_GET_VRING_NUM),
        )?;
        let size = ring_size(vring_max);
        if size < CVQ_RING {
            return Err(format!("VHOST_VDPA_GET_VRING_NUM is {vring_max}"));
        }
        let mut pairs = Vec::new();
        for p in 0..u32::from(n) {
            let base = PAIR_LEN * p as usize;
            let pair = Pair {
                base,
                rx: Vq::new(&mem, 2 * p, size, base + RX_RING_OFF, iova),
                tx: Vq::new(&mem, 2 * p + 1, size, base + TX_RING_OFF, iova),
                kick: [new_eventfd()?, new_eventfd()?],
                call: [new_eventfd()?, new_eventfd()?],
            };
            for (i, q) in [&pair.rx, &pair.tx].into_iter().enumerate() {
                setup_ring(&dev, q, &pair.kick[i], &pair.call[i], true)?;
            }
            pairs.push(pair);
        }
        let cvq_base = PAIR_LEN * usize::from(n);
        let mut cvq = Vq::new(&mem, 2 * u32::from(max_pairs), CVQ_RING, cvq_base, iova);
        let (cvq_kick, cvq_call) = (new_eventfd()?, new_eventfd()?);
        setup_ring(&dev, &cvq, &cvq_kick, &cvq_call, true)?;
        set_driver_ok(&dev, fok)?;

        if n > 1 {
            let ack = pairs_set(&mem, &mut cvq, cvq_base, &cvq_kick, &cvq_call, n)?;
            if ack != 0 {
                return Err(format!("MQ_VQ_PAIRS_SET({n}) answered {ack}, not OK"));
            }
        }
        Ok(MqSession {
            dev,
            mem,
            iova,
            mac,
            pairs,
        })
    }

    /// Resets the device, removes the map and closes the fd.
    pub(crate) fn teardown(self) -> Result<(), String> {
        step(
            "SET_STATUS(0)",
            self.dev.set_u8(vhost_uapi::VHOST_VDPA_SET_STATUS, 0),
        )?;
        iotlb_ok(
            &self.dev,
            "INVALIDATE",
            &invalidate(self.iova, self.mem.len() as u64),
        )?;
        drop(self.dev);
        Ok(())
    }
}

/// Sends `MQ_VQ_PAIRS_SET(n)` on the control queue and returns the device's ack byte.
fn pairs_set(
    mem: &Region,
    cvq: &mut Vq,
    base: usize,
    kick: &EventFd,
    call: &EventFd,
    n: u16,
) -> Result<u8, String> {
    mem.write_bytes(base + CVQ_HDR, &[CLASS_MQ, MQ_VQ_PAIRS_SET]);
    mem.write_bytes(base + CVQ_DATA, &n.to_le_bytes());
    mem.w8(base + CVQ_ACK, 0xaa);
    let parts = [
        (base + CVQ_HDR, 2, VRING_DESC_F_NEXT),
        (base + CVQ_DATA, 2, VRING_DESC_F_NEXT),
        (base + CVQ_ACK, 1, VRING_DESC_F_WRITE),
    ];
    for (i, (off, len, flags)) in parts.into_iter().enumerate() {
        let iova = cvq.iova(off);
        cvq.write_desc(mem, i as u16, iova, len, flags, i as u16 + 1);
    }
    cvq.publish(mem, 0);
    step("kick eventfd write", kick.signal())?;
    let start = Instant::now();
    loop {
        if let Some((id, _len)) = cvq.pop_used(mem) {
            if id != 0 {
                return Err(format!("control queue used entry {id}, sent 0"));
            }
            return Ok(mem.r8(base + CVQ_ACK));
        }
        let left = CVQ_WAIT_MS - start.elapsed().as_millis() as i32;
        if left <= 0 {
            return Err(format!(
                "MQ_VQ_PAIRS_SET({n}): no answer within {} s",
                CVQ_WAIT_MS / 1000
            ));
        }
        poll_readable(&[call.raw()], left).map_err(|e| format!("poll: {}", errno_name(e)))?;
        let _ = call.drain();
    }
}
