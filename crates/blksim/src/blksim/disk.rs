// SPDX-License-Identifier: GPL-2.0
//! The backing store of a block device.

use super::virtqueue::{GuestMemory, MemError};

/// Why a disk operation failed; the request is answered `VIRTIO_BLK_S_IOERR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// A buffer of the request is not driver memory the device can reach.
    Mem(MemError),
    /// The store could not take the data (no memory for it).
    NoSpace,
}

impl From<MemError> for DiskError {
    fn from(e: MemError) -> Self {
        DiskError::Mem(e)
    }
}

/// A disk, as the request path uses it. Offsets and lengths are in bytes and already
/// checked against the capacity; the store may be shared by several queues, so it keeps
/// itself consistent (`&self`).
pub trait Disk {
    /// Copies `len` bytes at `off` of the disk to driver memory at `addr`.
    fn read_to<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError>;

    /// Copies `len` bytes of driver memory at `addr` to the disk at `off`.
    fn write_from<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError>;

    /// Makes `len` bytes at `off` read as zeroes; `unmap` allows the store to release them.
    fn zero(&self, off: u64, len: u64, unmap: bool) -> Result<(), DiskError>;
}
