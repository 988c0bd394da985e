// SPDX-License-Identifier: GPL-2.0
//! Bringing a net device up to DRIVER_OK with an RX and a TX ring, the way DPDK and QEMU do,
//! and taking it down again.

use vhost_uapi::{
    IovaRange, BACKEND_IOTLB_BATCH, BACKEND_IOTLB_MSG_V2, BACKEND_IOTLB_PERSIST, BACKEND_RESUME,
    BACKEND_SUSPEND, VHOST_GET_BACKEND_FEATURES, VHOST_GET_FEATURES, VHOST_MSG_SIZE,
    VHOST_SET_BACKEND_FEATURES, VHOST_SET_FEATURES, VHOST_SET_OWNER, VHOST_SET_VRING_BASE,
    VHOST_SET_VRING_CALL, VHOST_SET_VRING_KICK, VHOST_SET_VRING_NUM, VHOST_VDPA_GET_CONFIG_SIZE,
    VHOST_VDPA_GET_DEVICE_ID, VHOST_VDPA_GET_STATUS, VHOST_VDPA_GET_VQS_COUNT,
    VHOST_VDPA_GET_VRING_NUM, VHOST_VDPA_SET_STATUS, VHOST_VDPA_SET_VRING_ENABLE,
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1,
};

use crate::ring::Vq;
use crate::sys::{
    batch, errno_name, invalidate, shared_region, step, update, Dev, EventFd, Region,
};

/// Virtio-net feature bit: the device has a MAC address in its config space.
pub(crate) const VIRTIO_NET_F_MAC: u32 = 5;
/// virtio-net device id.
pub(crate) const VIRTIO_ID_NET: u32 = 1;
/// Length of `struct virtio_net_hdr_v1` (VERSION_1, with `num_buffers`).
pub(crate) const NET_HDR_LEN: usize = 12;
/// Preferred IOVA of the memory map: deliberately not the virtual address, so a backend that
/// skips translation fails.
pub(crate) const PREFERRED_IOVA: u64 = 0x4000_0000;
/// Size of the shared memory of a [`Session`].
pub(crate) const MEM_LEN: usize = 4 << 20;
/// Largest ring the client uses.
pub(crate) const MAX_RING: u16 = 256;
/// Region offset of the RX ring.
pub(crate) const RX_RING_OFF: usize = 0;
/// Region offset of the TX ring.
pub(crate) const TX_RING_OFF: usize = 0x4000;
/// Region offset of the RX buffers.
pub(crate) const RX_BUF_OFF: usize = 0x1_0000;
/// Region offset of the TX buffers.
pub(crate) const TX_BUF_OFF: usize = 0x20_0000;
/// Distance between two buffers of one queue.
pub(crate) const BUF_STRIDE: usize = 0x1000;
/// Ethernet bytes an RX buffer holds after the virtio-net header.
pub(crate) const RX_FRAME_ROOM: usize = 2048;

/// Answers of the read-only ioctls, gathered during setup.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DevInfo {
    /// `VHOST_GET_FEATURES`.
    pub(crate) features: u64,
    /// Features written with `VHOST_SET_FEATURES`.
    pub(crate) driver_features: u64,
    /// `VHOST_GET_BACKEND_FEATURES`.
    pub(crate) backend_offered: u64,
    /// Backend features acked.
    pub(crate) backend_acked: u64,
    /// `VHOST_VDPA_GET_VQS_COUNT`.
    pub(crate) nvqs: u32,
    /// `VHOST_VDPA_GET_VRING_NUM`.
    pub(crate) vring_num_max: u16,
    /// `VHOST_VDPA_GET_CONFIG_SIZE`.
    pub(crate) config_size: u32,
    /// `VHOST_VDPA_GET_IOVA_RANGE`.
    pub(crate) iova_range: IovaRange,
}

/// Picks the IOVA for a map of `len` bytes at virtual address `va`: [`PREFERRED_IOVA`] if the
/// device's range allows it, else the first 2 MiB boundary in the range, never equal to `va`.
pub(crate) fn choose_iova(range: IovaRange, len: u64, va: u64) -> Option<u64> {
    let fits = |iova: u64| {
        iova >= range.first
            && iova
                .checked_add(len - 1)
                .is_some_and(|last| last <= range.last)
    };
    let mut candidates = vec![PREFERRED_IOVA];
    if let Some(a) = range.first.checked_next_multiple_of(0x20_0000) {
        candidates.push(a);
        candidates.push(a.saturating_add(len.next_multiple_of(0x20_0000)));
    }
    candidates.into_iter().find(|&i| fits(i) && i != va)
}

/// The largest power of two that is at most `min(max, MAX_RING)`.
pub(crate) fn ring_size(max: u16) -> u16 {
    let m = max.min(MAX_RING);
    if m == 0 {
        0
    } else {
        1 << (15 - m.leading_zeros())
    }
}

/// Reads the status and checks it equals `want`.
pub(crate) fn expect_status(dev: &Dev, want: u8) -> Result<(), String> {
    let got = step("VHOST_VDPA_GET_STATUS", dev.get_u8(VHOST_VDPA_GET_STATUS))?;
    if got != want {
        return Err(format!(
            "VHOST_VDPA_GET_STATUS reads {got:#04x}, expected {want:#04x}"
        ));
    }
    Ok(())
}

/// Writes one IOTLB message and checks that `write()` returned 72.
pub(crate) fn iotlb_ok(dev: &Dev, what: &str, msg: &vhost_uapi::IotlbMsg) -> Result<(), String> {
    match dev.iotlb(msg) {
        Ok(VHOST_MSG_SIZE) => Ok(()),
        Ok(n) => Err(format!(
            "IOTLB {what}: write() returned {n}, expected {VHOST_MSG_SIZE}"
        )),
        Err(e) => Err(format!("IOTLB {what}: write() failed: {}", errno_name(e))),
    }
}

/// Writes one IOTLB message for address space `asid` and checks that `write()` returned 72.
pub(crate) fn iotlb_ok_in(
    dev: &Dev,
    asid: u32,
    what: &str,
    msg: &vhost_uapi::IotlbMsg,
) -> Result<(), String> {
    match dev.iotlb_in(asid, msg) {
        Ok(VHOST_MSG_SIZE) => Ok(()),
        Ok(n) => Err(format!(
            "IOTLB {what}: write() returned {n}, expected {VHOST_MSG_SIZE}"
        )),
        Err(e) => Err(format!("IOTLB {what}: write() failed: {}", errno_name(e))),
    }
}

/// Maps `[iova, iova + len)` to `va` with one UPDATE, inside BATCH_BEGIN/END if `batched`.
pub(crate) fn map(dev: &Dev, iova: u64, len: u64, va: u64, batched: bool) -> Result<(), String> {
    if batched {
        iotlb_ok(dev, "BATCH_BEGIN", &batch(true))?;
    }
    iotlb_ok(dev, "UPDATE", &update(iova, len, va))?;
    if batched {
        iotlb_ok(dev, "BATCH_END", &batch(false))?;
    }
    Ok(())
}

/// Opens the device, checks it is a net device, becomes owner and acks backend features
/// (`offered & (MSG_V2 | BATCH)`, as QEMU 7.2 and DPDK 22.11 do).
pub(crate) fn open_owned(path: &str) -> Result<(Dev, u64, u64), String> {
    open_owned_as(path, VIRTIO_ID_NET)
}

/// [`open_owned`] for a device of virtio device id `want`.
pub(crate) fn open_owned_as(path: &str, want: u32) -> Result<(Dev, u64, u64), String> {
    let dev = Dev::open(path).map_err(|e| format!("open {path} failed: {}", errno_name(e)))?;
    let id = step(
        "VHOST_VDPA_GET_DEVICE_ID",
        dev.get_u32(VHOST_VDPA_GET_DEVICE_ID),
    )?;
    if id != want {
        return Err(format!("device id is {id}, expected {want}"));
    }
    step("VHOST_SET_OWNER", dev.ioctl_none(VHOST_SET_OWNER))?;
    let offered = step(
        "VHOST_GET_BACKEND_FEATURES",
        dev.get_u64(VHOST_GET_BACKEND_FEATURES),
    )?;
    // SUSPEND and RESUME as QEMU 8 acks them (vhost-vdpa does not require them acked), and
    // IOTLB_PERSIST, without which vhost-vdpa has the parent drop its maps at every reset.
    let acked = offered
        & (BACKEND_IOTLB_MSG_V2
            | BACKEND_IOTLB_BATCH
            | BACKEND_SUSPEND
            | BACKEND_RESUME
            | BACKEND_IOTLB_PERSIST);
    step(
        "VHOST_SET_BACKEND_FEATURES",
        dev.set_u64(VHOST_SET_BACKEND_FEATURES, acked),
    )?;
    Ok((dev, offered, acked))
}

/// ACK, DRIVER, `SET_FEATURES(driver_features)`, FEATURES_OK, checked; returns the status.
pub(crate) fn negotiate(dev: &Dev, driver_features: u64) -> Result<u8, String> {
    let ack = VIRTIO_CONFIG_S_ACKNOWLEDGE;
    let drv = ack | VIRTIO_CONFIG_S_DRIVER;
    step("SET_STATUS(ACK)", dev.set_u8(VHOST_VDPA_SET_STATUS, ack))?;
    step(
        "SET_STATUS(ACK|DRIVER)",
        dev.set_u8(VHOST_VDPA_SET_STATUS, drv),
    )?;
    step(
        "VHOST_SET_FEATURES",
        dev.set_u64(VHOST_SET_FEATURES, driver_features),
    )?;
    let fok = drv | VIRTIO_CONFIG_S_FEATURES_OK;
    step(
        "SET_STATUS(FEATURES_OK)",
        dev.set_u8(VHOST_VDPA_SET_STATUS, fok),
    )?;
    let st = step("VHOST_VDPA_GET_STATUS", dev.get_u8(VHOST_VDPA_GET_STATUS))?;
    if st & VIRTIO_CONFIG_S_FEATURES_OK == 0 {
        return Err(format!(
            "status {st:#04x} after SET_STATUS({fok:#04x}) lacks FEATURES_OK: features refused"
        ));
    }
    Ok(fok)
}

/// Adds DRIVER_OK to status `fok` and checks that it stuck.
pub(crate) fn set_driver_ok(dev: &Dev, fok: u8) -> Result<(), String> {
    let ok = fok | VIRTIO_CONFIG_S_DRIVER_OK;
    step(
        "SET_STATUS(DRIVER_OK)",
        dev.set_u8(VHOST_VDPA_SET_STATUS, ok),
    )?;
    expect_status(dev, ok)
}

/// Sets up ring `q` (size, base 0, addresses, kick and call eventfds), and enables it unless
/// `enable` is false.
pub(crate) fn setup_ring(
    dev: &Dev,
    q: &Vq,
    kick: &EventFd,
    call: &EventFd,
    enable: bool,
) -> Result<(), String> {
    setup_ring_at(dev, q, kick, call, enable, 0)
}

/// [`setup_ring`] with the ring resuming at `base` (`SET_VRING_BASE`), as on the destination
/// of a migration.
pub(crate) fn setup_ring_at(
    dev: &Dev,
    q: &Vq,
    kick: &EventFd,
    call: &EventFd,
    enable: bool,
    base: u16,
) -> Result<(), String> {
    let n = q.index;
    let what = |s: &str| format!("{s} vq {n}");
    step(
        &what("VHOST_SET_VRING_NUM"),
        dev.set_state(VHOST_SET_VRING_NUM, n, u32::from(q.size)),
    )?;
    step(
        &what("VHOST_SET_VRING_BASE"),
        dev.set_state(VHOST_SET_VRING_BASE, n, u32::from(base)),
    )?;
    step(&what("VHOST_SET_VRING_ADDR"), dev.set_addr(&q.addr()))?;
    step(
        &what("VHOST_SET_VRING_KICK"),
        dev.set_file(VHOST_SET_VRING_KICK, n, kick.raw()),
    )?;
    step(
        &what("VHOST_SET_VRING_CALL"),
        dev.set_file(VHOST_SET_VRING_CALL, n, call.raw()),
    )?;
    if enable {
        enable_ring(dev, n, "")?;
    }
    Ok(())
}

fn enable_ring(dev: &Dev, n: u32, when: &str) -> Result<(), String> {
    step(
        &format!("VHOST_VDPA_SET_VRING_ENABLE vq {n}{when}"),
        dev.set_state(VHOST_VDPA_SET_VRING_ENABLE, n, 1),
    )
}

/// Sets up `qs` (size, base 0, addresses, eventfds), enables them and sets DRIVER_OK; with
/// `late_enable` the rings are enabled after DRIVER_OK (as QEMU 8.2 does with
/// ENABLE_AFTER_DRIVER_OK, which it does not need acked).
fn start_rings(
    dev: &Dev,
    qs: [&Vq; 2],
    kick: &[EventFd; 2],
    call: &[EventFd; 2],
    fok: u8,
    late_enable: bool,
) -> Result<(), String> {
    for (i, q) in qs.into_iter().enumerate() {
        setup_ring(dev, q, &kick[i], &call[i], !late_enable)?;
    }
    set_driver_ok(dev, fok)?;
    if late_enable {
        for q in qs {
            enable_ring(dev, q.index, " after DRIVER_OK")?;
        }
    }
    Ok(())
}

/// A device at DRIVER_OK with vq 0 (RX) and vq 1 (TX) running over one IOTLB map.
pub(crate) struct Session {
    /// The device fd; declared first so that it is closed before the memory is unmapped.
    pub(crate) dev: Dev,
    /// The shared memory, mapped at [`Session::iova`].
    pub(crate) mem: Region,
    /// IOVA of region offset 0.
    pub(crate) iova: u64,
    /// The device MAC from config space.
    pub(crate) mac: [u8; 6],
    /// What the device reported.
    pub(crate) info: DevInfo,
    /// vq 0.
    pub(crate) rx: Vq,
    /// vq 1.
    pub(crate) tx: Vq,
    /// Kick eventfds of vq 0 and vq 1.
    pub(crate) kick: [EventFd; 2],
    /// Call eventfds of vq 0 and vq 1.
    pub(crate) call: [EventFd; 2],
}

impl Session {
    /// Runs the whole bring-up; every failure names the step.
    pub(crate) fn start(path: &str) -> Result<Session, String> {
        Self::start_with(path, false)
    }

    /// The bring-up, with the rings enabled after DRIVER_OK if `late_enable` (as QEMU 8.2
    /// does with ENABLE_AFTER_DRIVER_OK, which it does not need acked).
    pub(crate) fn start_with(path: &str, late_enable: bool) -> Result<Session, String> {
        let (dev, backend_offered, backend_acked) = open_owned(path)?;
        let features = step("VHOST_GET_FEATURES", dev.get_u64(VHOST_GET_FEATURES))?;
        let nvqs = step(
            "VHOST_VDPA_GET_VQS_COUNT",
            dev.get_u32(VHOST_VDPA_GET_VQS_COUNT),
        )?;
        if nvqs < 2 {
            return Err(format!(
                "VHOST_VDPA_GET_VQS_COUNT is {nvqs}, need at least 2"
            ));
        }
        let vring_num_max = step(
            "VHOST_VDPA_GET_VRING_NUM",
            dev.get_u16(VHOST_VDPA_GET_VRING_NUM),
        )?;
        let config_size = step(
            "VHOST_VDPA_GET_CONFIG_SIZE",
            dev.get_u32(VHOST_VDPA_GET_CONFIG_SIZE),
        )?;
        let iova_range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;

        // Status and features.
        if features & (1 << VIRTIO_F_VERSION_1) == 0 {
            return Err(format!(
                "device features {features:#x} lack VIRTIO_F_VERSION_1 (the client needs the 12-byte header)"
            ));
        }
        let mut driver_features = (1u64 << VIRTIO_F_VERSION_1) | (1u64 << VIRTIO_F_ACCESS_PLATFORM);
        if features & (1 << VIRTIO_NET_F_MAC) != 0 {
            driver_features |= 1 << VIRTIO_NET_F_MAC;
        }
        let fok = negotiate(&dev, driver_features)?;

        // The MAC.
        let cfg = step("VHOST_VDPA_GET_CONFIG{0,6}", dev.get_config(0, 6))?;
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&cfg[..6]);

        // Memory: one map at an IOVA that is not the virtual address.
        let mem = shared_region(MEM_LEN)?;
        let iova = choose_iova(iova_range, MEM_LEN as u64, mem.va()).ok_or_else(|| {
            format!(
                "no usable IOVA for {MEM_LEN:#x} bytes in the device range {:#x}..={:#x}",
                iova_range.first, iova_range.last
            )
        })?;
        let batched = backend_acked & BACKEND_IOTLB_BATCH != 0;
        map(&dev, iova, MEM_LEN as u64, mem.va(), batched)?;

        // Rings.
        let size = ring_size(vring_num_max);
        if size == 0 {
            return Err("VHOST_VDPA_GET_VRING_NUM is 0".to_string());
        }
        let rx = Vq::new(&mem, 0, size, RX_RING_OFF, iova);
        let tx = Vq::new(&mem, 1, size, TX_RING_OFF, iova);
        let kick = [new_eventfd()?, new_eventfd()?];
        let call = [new_eventfd()?, new_eventfd()?];
        start_rings(&dev, [&rx, &tx], &kick, &call, fok, late_enable)?;

        Ok(Session {
            dev,
            mem,
            iova,
            mac,
            info: DevInfo {
                features,
                driver_features,
                backend_offered,
                backend_acked,
                nvqs,
                vring_num_max,
                config_size,
                iova_range,
            },
            rx,
            tx,
            kick,
            call,
        })
    }

    /// Resets the device and brings it up again with fresh rings, keeping the IOTLB map
    /// (which must survive the reset: IOTLB_PERSIST).
    pub(crate) fn restart(&mut self) -> Result<(), String> {
        step("SET_STATUS(0)", self.dev.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
        expect_status(&self.dev, 0)?;
        let fok = negotiate(&self.dev, self.info.driver_features)?;
        self.rx = Vq::new(&self.mem, 0, self.rx.size, RX_RING_OFF, self.iova);
        self.tx = Vq::new(&self.mem, 1, self.tx.size, TX_RING_OFF, self.iova);
        start_rings(
            &self.dev,
            [&self.rx, &self.tx],
            &self.kick,
            &self.call,
            fok,
            false,
        )
    }

    /// Kicks vq `q` (0 = RX, 1 = TX) by writing 1 to its kick eventfd.
    pub(crate) fn kick(&self, q: usize) -> Result<(), String> {
        step("kick eventfd write", self.kick[q].signal())
    }

    /// Region offset of RX buffer `id`.
    pub(crate) fn rx_buf(id: u16) -> usize {
        RX_BUF_OFF + BUF_STRIDE * usize::from(id)
    }

    /// Region offset of TX buffer `id`.
    pub(crate) fn tx_buf(id: u16) -> usize {
        TX_BUF_OFF + BUF_STRIDE * usize::from(id)
    }

    /// Makes RX descriptor `id` a device-writable buffer for one frame and publishes it.
    pub(crate) fn post_rx(&mut self, id: u16) {
        let off = Self::rx_buf(id);
        let iova = self.rx.iova(off);
        self.rx.write_desc(
            &self.mem,
            id,
            iova,
            (NET_HDR_LEN + RX_FRAME_ROOM) as u32,
            crate::ring::VRING_DESC_F_WRITE,
            0,
        );
        self.rx.publish(&self.mem, id);
    }

    /// Resets the device, checks the status reads 0, removes the map and closes the fd.
    pub(crate) fn teardown(self) -> Result<(), String> {
        step("SET_STATUS(0)", self.dev.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
        expect_status(&self.dev, 0)?;
        iotlb_ok(
            &self.dev,
            "INVALIDATE",
            &invalidate(self.iova, self.mem.len() as u64),
        )?;
        drop(self.dev);
        Ok(())
    }
}

/// A new eventfd, or an error naming the step.
pub(crate) fn new_eventfd() -> Result<EventFd, String> {
    EventFd::new().map_err(|e| format!("eventfd: {}", errno_name(e)))
}

/// `aa:bb:cc:dd:ee:ff`.
pub(crate) fn fmt_mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
