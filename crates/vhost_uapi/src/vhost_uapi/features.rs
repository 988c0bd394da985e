// SPDX-License-Identifier: GPL-2.0
//! Backend feature bits, virtio status bits and backend-feature negotiation.

use super::errno::{Errno, EINVAL, EOPNOTSUPP};

/// Backend feature bit number: IOTLB messages in the V2 format. Has no
/// effect on the vhost-vdpa write path (V2 is always accepted).
pub const VHOST_BACKEND_F_IOTLB_MSG_V2: u32 = 1;
/// Backend feature bit number: `BATCH_BEGIN` / `BATCH_END` hints.
pub const VHOST_BACKEND_F_IOTLB_BATCH: u32 = 2;
/// Backend feature bit number: `write()` honours the V2 `asid` field.
pub const VHOST_BACKEND_F_IOTLB_ASID: u32 = 3;
/// Backend feature bit number: `VHOST_VDPA_SUSPEND` is supported.
pub const VHOST_BACKEND_F_SUSPEND: u32 = 4;
/// Backend feature bit number: `VHOST_VDPA_RESUME` is supported.
pub const VHOST_BACKEND_F_RESUME: u32 = 5;
/// Backend feature bit number: vrings may be enabled after `DRIVER_OK`.
pub const VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK: u32 = 6;
/// Backend feature bit number: descriptors may have their own group/ASID.
pub const VHOST_BACKEND_F_DESC_ASID: u32 = 7;
/// Backend feature bit number: IOTLB maps survive a device reset.
pub const VHOST_BACKEND_F_IOTLB_PERSIST: u32 = 8;

/// Mask of [`VHOST_BACKEND_F_IOTLB_MSG_V2`].
pub const BACKEND_IOTLB_MSG_V2: u64 = 1 << VHOST_BACKEND_F_IOTLB_MSG_V2;
/// Mask of [`VHOST_BACKEND_F_IOTLB_BATCH`].
pub const BACKEND_IOTLB_BATCH: u64 = 1 << VHOST_BACKEND_F_IOTLB_BATCH;
/// Mask of [`VHOST_BACKEND_F_IOTLB_ASID`].
pub const BACKEND_IOTLB_ASID: u64 = 1 << VHOST_BACKEND_F_IOTLB_ASID;
/// Mask of [`VHOST_BACKEND_F_SUSPEND`].
pub const BACKEND_SUSPEND: u64 = 1 << VHOST_BACKEND_F_SUSPEND;
/// Mask of [`VHOST_BACKEND_F_RESUME`].
pub const BACKEND_RESUME: u64 = 1 << VHOST_BACKEND_F_RESUME;
/// Mask of [`VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK`].
pub const BACKEND_ENABLE_AFTER_DRIVER_OK: u64 = 1 << VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK;
/// Mask of [`VHOST_BACKEND_F_DESC_ASID`].
pub const BACKEND_DESC_ASID: u64 = 1 << VHOST_BACKEND_F_DESC_ASID;
/// Mask of [`VHOST_BACKEND_F_IOTLB_PERSIST`].
pub const BACKEND_IOTLB_PERSIST: u64 = 1 << VHOST_BACKEND_F_IOTLB_PERSIST;

/// `VHOST_VDPA_BACKEND_FEATURES`: what vhost-vdpa always offers
/// (MSG_V2 | BATCH | ASID = 0xE).
pub const VHOST_VDPA_BACKEND_FEATURES: u64 =
    BACKEND_IOTLB_MSG_V2 | BACKEND_IOTLB_BATCH | BACKEND_IOTLB_ASID;

/// Every bit `VHOST_SET_BACKEND_FEATURES` can accept at all: bits 1..=8
/// (0x1FE). Bit 0 and bits >= 9 are EOPNOTSUPP.
pub const BACKEND_KNOWN: u64 = VHOST_VDPA_BACKEND_FEATURES
    | BACKEND_SUSPEND
    | BACKEND_RESUME
    | BACKEND_ENABLE_AFTER_DRIVER_OK
    | BACKEND_DESC_ASID
    | BACKEND_IOTLB_PERSIST;

/// `VHOST_F_LOG_ALL`: dirty logging. vhost-vdpa never offers it; vhost_mdev offers it for a
/// device that logs the pages it writes (see [`super::check_set_features`]).
pub const VHOST_F_LOG_ALL: u32 = 26;

/// Device status bit: the guest noticed the device.
pub const VIRTIO_CONFIG_S_ACKNOWLEDGE: u8 = 1;
/// Device status bit: the guest knows how to drive the device.
pub const VIRTIO_CONFIG_S_DRIVER: u8 = 2;
/// Device status bit: the driver is ready.
pub const VIRTIO_CONFIG_S_DRIVER_OK: u8 = 4;
/// Device status bit: feature negotiation is complete.
pub const VIRTIO_CONFIG_S_FEATURES_OK: u8 = 8;
/// Device status bit: the device needs a reset.
pub const VIRTIO_CONFIG_S_NEEDS_RESET: u8 = 0x40;
/// Device status bit: the driver gave up on the device.
pub const VIRTIO_CONFIG_S_FAILED: u8 = 0x80;

/// Virtio feature bit number: virtio 1.x (both clients need it offered).
pub const VIRTIO_F_VERSION_1: u32 = 32;
/// Virtio feature bit number: addresses are IOVAs; both clients force it
/// in `SET_FEATURES`.
pub const VIRTIO_F_ACCESS_PLATFORM: u32 = 33;

/// What the parent device can do, as far as backend features depend on it
/// (the `vhost_vdpa_can_*()` / `has_*()` helpers of `drivers/vhost/vdpa.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BackendCaps {
    /// The parent has `ops->suspend` (`vhost_vdpa_can_suspend()`).
    pub suspend: bool,
    /// The parent has `ops->resume` (`vhost_vdpa_can_resume()`).
    pub resume: bool,
    /// The parent has `ops->get_vq_desc_group` (`vhost_vdpa_has_desc_group()`).
    pub desc_group: bool,
    /// Maps survive a reset (`vhost_vdpa_has_persistent_map()`).
    pub persist: bool,
    /// The parent's `get_backend_features()` reports ENABLE_AFTER_DRIVER_OK.
    pub enable_after_driver_ok: bool,
}

/// The `VHOST_GET_BACKEND_FEATURES` answer, built as in
/// `vhost_vdpa_unlocked_ioctl()`: MSG_V2 | BATCH | ASID, plus SUSPEND,
/// RESUME, DESC_ASID and IOTLB_PERSIST when the parent can, plus
/// ENABLE_AFTER_DRIVER_OK when the parent reports it. vdpa_sim_net gets
/// 0x17E.
pub fn offered_backend_features(caps: BackendCaps) -> u64 {
    let mut f = VHOST_VDPA_BACKEND_FEATURES;
    if caps.suspend {
        f |= BACKEND_SUSPEND;
    }
    if caps.resume {
        f |= BACKEND_RESUME;
    }
    if caps.desc_group {
        f |= BACKEND_DESC_ASID;
    }
    if caps.persist {
        f |= BACKEND_IOTLB_PERSIST;
    }
    if caps.enable_after_driver_ok {
        f |= BACKEND_ENABLE_AFTER_DRIVER_OK;
    }
    f
}

/// Validates a `VHOST_SET_BACKEND_FEATURES` value in the order of
/// `vhost_vdpa_unlocked_ioctl()`:
///
/// 1. any bit outside 1..=8 (bit 0, bits >= 9): EOPNOTSUPP;
/// 2. SUSPEND without `caps.suspend`: EOPNOTSUPP;
/// 3. RESUME without `caps.resume`: EOPNOTSUPP;
/// 4. DESC_ASID without IOTLB_ASID in the same request: EINVAL;
/// 5. DESC_ASID without `caps.desc_group`: EOPNOTSUPP;
/// 6. IOTLB_PERSIST without `caps.persist`: EOPNOTSUPP.
///
/// ENABLE_AFTER_DRIVER_OK is accepted even when not offered, and 0 is
/// always accepted. The caller reads the `u64` first (EFAULT) and stores the
/// value on success; it may do so at any time and without an owner.
pub fn check_backend_features(req: u64, caps: BackendCaps) -> Result<(), Errno> {
    if req & !BACKEND_KNOWN != 0 {
        return Err(EOPNOTSUPP);
    }
    if req & BACKEND_SUSPEND != 0 && !caps.suspend {
        return Err(EOPNOTSUPP);
    }
    if req & BACKEND_RESUME != 0 && !caps.resume {
        return Err(EOPNOTSUPP);
    }
    if req & BACKEND_DESC_ASID != 0 && req & BACKEND_IOTLB_ASID == 0 {
        return Err(EINVAL);
    }
    if req & BACKEND_DESC_ASID != 0 && !caps.desc_group {
        return Err(EOPNOTSUPP);
    }
    if req & BACKEND_IOTLB_PERSIST != 0 && !caps.persist {
        return Err(EOPNOTSUPP);
    }
    Ok(())
}
