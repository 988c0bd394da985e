// SPDX-License-Identifier: GPL-2.0
//! The virtio-mdev register map, as the transport and every device see it.
//!
//! [`map`] is the specification: every register's offset, width and direction, and the check
//! the transport applies to each access before a device sees it. [`device`] is a register file
//! that implements the device side of the map (status and feature negotiation, per-queue
//! configuration) so that a device only has to act on the [`device::Effect`]s it reports.
#![forbid(unsafe_code)]

pub mod debug;
pub mod device;
pub mod map;

#[cfg(any(test, feature = "test-utils"))]
pub mod model;
#[cfg(test)]
mod model_tests;

pub use self::device::{
    DeviceInfo, DmaRequest, Effect, GroupLayout, LogConfig, QueueRegs, RegisterFile, Rejected,
    MAX_AS,
};
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

/// `DEVICE_CAPS` bits.
pub mod caps {
    /// The device implements `SUSPEND`: writing 1 stops it touching rings and raising
    /// interrupts, writing 0 lets it go on where it stopped.
    pub const SUSPEND: u32 = 1 << 0;
    /// The device logs the pages it writes (`LOG_*` registers, the log address space
    /// `log::ASID`, `QUEUE_USED_LOG_*`).
    pub const DIRTY_LOG: u32 = 1 << 1;
    /// Every bit this revision of the map defines.
    pub const ALL: u32 = SUSPEND | DIRTY_LOG;
}

/// Dirty logging (`caps::DIRTY_LOG`), for live migration: the device marks every page it
/// writes in a bitmap in the driver's memory, in vhost's format (bit `p % 64` of the
/// little-endian 64-bit word `p / 64` for the 4 KiB page `p` of device address).
pub mod log {
    /// `LOG_CTRL`: mark every page the device writes through its queues' buffers (vhost's
    /// `VHOST_F_LOG_ALL`). Used-ring writes are logged per queue (`QUEUE_LOG_USED`).
    pub const ALL: u32 = 1 << 0;
    /// `LOG_STATUS`: a write could not be logged (its page lies past `LOG_SIZE`, or the log
    /// word was not mapped writable in the log address space).
    pub const STATUS_OVERFLOW: u32 = 1 << 0;
    /// `QUEUE_USED_LOG_LOW` bit 0: log the queue's used-ring writes at the address in the
    /// rest of the register pair (vhost's `VHOST_VRING_F_LOG` with `log_guest_addr`).
    pub const QUEUE_LOG_USED: u32 = 1 << 0;
    /// The address space `DMA_ASID` names to map the log: its device addresses are the ones
    /// `LOG_BASE` names. It is always translated; `CMD_TRANSLATE_ON` and `_OFF` empty it.
    pub const ASID: u32 = 0x8000;
}

/// `DMA_CMD` commands and results.
///
/// A device with a translation table (`DMA_MAX_ENTRIES` > 0) starts with translation off: it
/// treats ring and buffer addresses as DMA addresses, as the kernel personality needs. A
/// driver that hands the device addresses it does not control (vhost_mdev: user IOVAs) turns
/// translation on first; from then on only mapped ranges are reachable. Device reset
/// (`STATUS` = 0) leaves the table and the mode alone.
pub mod dma {
    /// Map `[DMA_IOVA, DMA_IOVA + DMA_SIZE)` to physical `DMA_ADDR` with `DMA_PERM`.
    /// `DMA_ADDR` must have the same offset in its page ([`PAGE_SIZE`]) as `DMA_IOVA`, so
    /// that every naturally aligned device access (a ring index) is aligned in memory too.
    pub const CMD_MAP: u32 = 1;
    /// The page size of the DMA table's alignment rule.
    pub const PAGE_SIZE: u64 = 4096;
    /// Remove every mapping that overlaps `[DMA_IOVA, DMA_IOVA + DMA_SIZE)`, in full.
    pub const CMD_UNMAP: u32 = 2;
    /// Empty the table and translate every device address through it.
    pub const CMD_TRANSLATE_ON: u32 = 3;
    /// Empty the table and use device addresses as DMA addresses again.
    pub const CMD_TRANSLATE_OFF: u32 = 4;

    /// The command succeeded.
    pub const OK: u32 = 0;
    /// Bad arguments: size 0, a range that wraps, an address whose offset in its page is not
    /// the IOVA's, unknown permission bits or command.
    pub const ERR_INVAL: u32 = 1;
    /// The range overlaps an existing mapping.
    pub const ERR_EXIST: u32 = 2;
    /// The table is full.
    pub const ERR_NOSPC: u32 = 3;
    /// The device could not allocate its table.
    pub const ERR_NOMEM: u32 = 4;
    /// The device has no translation table.
    pub const ERR_NOTSUPP: u32 = 5;
    /// `CMD_MAP` or `CMD_UNMAP` while translation is off.
    pub const ERR_OFF: u32 = 6;

    /// Device may read the range.
    pub const PERM_READ: u32 = 1;
    /// Device may write the range.
    pub const PERM_WRITE: u32 = 2;

    /// The errno a driver reports for result `r` (positive; 0 for [`OK`]).
    pub const fn errno(r: u32) -> i32 {
        match r {
            OK => 0,
            ERR_EXIST => 17,   // EEXIST
            ERR_NOSPC => 28,   // ENOSPC
            ERR_NOMEM => 12,   // ENOMEM
            ERR_NOTSUPP => 95, // EOPNOTSUPP
            _ => 22,           // EINVAL
        }
    }
}
