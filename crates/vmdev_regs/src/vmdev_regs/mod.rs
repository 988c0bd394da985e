// SPDX-License-Identifier: GPL-2.0
//! The virtio-mdev register map, as the transport and every device see it.
//!
//! [`map`] is the specification: every register's offset, width and direction, and the check
//! the transport applies to each access before a device sees it. [`device`] is a register file
//! that implements the device side of the map (status and feature negotiation, per-queue
//! configuration) so that a device only has to act on the [`device::Effect`]s it reports.

pub mod debug;
pub mod device;
pub mod map;

pub use self::device::{DeviceInfo, Effect, QueueRegs, RegisterFile, Rejected};
pub use self::map::{check_config_access, check_reg_access, AccessError, Dir, Register};

/// virtio device status bits (virtio 1.2, 2.1).
pub mod status {
    /// The driver has noticed the device.
    pub const ACKNOWLEDGE: u8 = 1;
    /// The driver knows how to drive the device.
    pub const DRIVER: u8 = 2;
    /// The driver is set up and ready to drive the device.
    pub const DRIVER_OK: u8 = 4;
    /// The driver has acknowledged the features it understands; feature negotiation is over.
    pub const FEATURES_OK: u8 = 8;
    /// The device hit an error it cannot recover from without a reset.
    pub const DEVICE_NEEDS_RESET: u8 = 0x40;
    /// The driver gave up on the device.
    pub const FAILED: u8 = 0x80;
}

/// Transport-level virtio feature bits that the register file checks.
pub mod features {
    /// The device conforms to virtio 1.x (mandatory on this transport).
    pub const VERSION_1: u64 = 1 << 32;
    /// The device accesses memory through a platform-specific translation (DMA/IOVA).
    pub const ACCESS_PLATFORM: u64 = 1 << 33;
    /// The driver and device use event-index notification suppression.
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// The driver may use indirect descriptors.
    pub const RING_INDIRECT_DESC: u64 = 1 << 28;
}
