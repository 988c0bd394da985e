// SPDX-License-Identifier: GPL-2.0
//! The simulator's virtio-blk request path, device side (virtio 1.2, 5.2).
//!
//! Each request the driver posts is a chain: a 16-byte header (type, reserved,
//! sector), the data, and a status byte at the very end of the writable part.
//! [`execute`] checks a request against the device's settings ([`BlkConfig`])
//! and carries it out on a [`Disk`], the backing store, which the kernel
//! module implements over RAM pages and the tests over a vector. [`run_pass`]
//! is one worker pass over a request queue.
//!
//! Everything the driver wrote is untrusted: a request that is malformed (a
//! short header, data that is not whole sectors, a range past the capacity,
//! too many segments) is answered [`VIRTIO_BLK_S_IOERR`] before anything is
//! done, one the device does not implement [`VIRTIO_BLK_S_UNSUPP`]. A buffer
//! the device cannot reach fails the request with `IOERR` when the data gets
//! there (a write may have written the sectors before it). No request
//! touches memory but the chain's own writable buffers. Only a chain the ring walk refuses (a loop, an
//! index out of range) breaks the queue, as on every other device class.
#![forbid(unsafe_code)]

use super::virtqueue;

mod config;
mod disk;
mod pass;
mod request;

#[cfg(test)]
mod tests;

pub use self::config::{BlkConfig, CONFIG_SIZE};
pub use self::disk::{Disk, DiskError};
pub use self::pass::{run_pass, PassEnd};
pub use self::request::{execute, BlkStats, Buffers, Done, Kind};

/// The unit of `sector` in requests and of `capacity`, whatever `blk_size` is.
pub const SECTOR_SIZE: u64 = 512;
/// Length of the request header (`struct virtio_blk_outhdr`).
pub const HDR_LEN: u64 = 16;
/// Length of one discard or write-zeroes segment.
pub const SEG_LEN: u64 = 16;
/// Length of the `GET_ID` answer.
pub const SERIAL_LEN: usize = 20;

/// Data buffers of one request at most (`seg_max`).
pub const SEG_MAX: u32 = 32;
/// Bytes of one data buffer at most (`size_max`).
pub const SIZE_MAX: u32 = 128 << 10;
/// Data bytes of one request at most: what `seg_max` buffers of `size_max` hold. A larger
/// request is refused, so that one request moves a bounded amount.
pub const MAX_REQUEST_BYTES: u64 = SEG_MAX as u64 * SIZE_MAX as u64;
/// Data bytes a pass moves before it ends and asks to run again, so that a worker lets
/// others run between a few milliseconds of copying.
pub const PASS_BYTES: u64 = 8 << 20;
/// Buffers of one side of a chain at most: the data and the header or the status.
pub const MAX_SPANS: usize = SEG_MAX as usize + 1;
/// Segments of one discard or write-zeroes request at most.
pub const MAX_DISCARD_SEG: u32 = 16;
/// Sectors of one discard or write-zeroes segment at most (32 MiB): a segment is carried
/// out in one go, so this bounds how long one request holds the worker.
pub const MAX_DISCARD_SECTORS: u32 = 1 << 16;

/// Request types.
pub const VIRTIO_BLK_T_IN: u32 = 0;
/// Write.
pub const VIRTIO_BLK_T_OUT: u32 = 1;
/// Flush the write cache.
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
/// The device's serial number.
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;
/// Deallocate ranges.
pub const VIRTIO_BLK_T_DISCARD: u32 = 11;
/// Zero ranges.
pub const VIRTIO_BLK_T_WRITE_ZEROES: u32 = 13;

/// Request status: done.
pub const VIRTIO_BLK_S_OK: u8 = 0;
/// Request status: failed, or malformed.
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
/// Request status: a request the device does not implement.
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// The `unmap` flag of a write-zeroes segment.
pub const VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP: u32 = 1;

/// Feature bits (virtio 1.2, 5.2.3): `size_max` is valid.
pub const VIRTIO_BLK_F_SIZE_MAX: u64 = 1 << 1;
/// `seg_max` is valid.
pub const VIRTIO_BLK_F_SEG_MAX: u64 = 1 << 2;
/// The device is read-only.
pub const VIRTIO_BLK_F_RO: u64 = 1 << 5;
/// `blk_size` is valid.
pub const VIRTIO_BLK_F_BLK_SIZE: u64 = 1 << 6;
/// The device takes `VIRTIO_BLK_T_FLUSH`.
pub const VIRTIO_BLK_F_FLUSH: u64 = 1 << 9;
/// `num_queues` is valid.
pub const VIRTIO_BLK_F_MQ: u64 = 1 << 12;
/// The device takes `VIRTIO_BLK_T_DISCARD`.
pub const VIRTIO_BLK_F_DISCARD: u64 = 1 << 13;
/// The device takes `VIRTIO_BLK_T_WRITE_ZEROES`.
pub const VIRTIO_BLK_F_WRITE_ZEROES: u64 = 1 << 14;

/// The block features the device offers (`VIRTIO_BLK_F_RO` comes with the setting).
pub const FEATURES: u64 = VIRTIO_BLK_F_SIZE_MAX
    | VIRTIO_BLK_F_SEG_MAX
    | VIRTIO_BLK_F_BLK_SIZE
    | VIRTIO_BLK_F_FLUSH
    | VIRTIO_BLK_F_MQ
    | VIRTIO_BLK_F_DISCARD
    | VIRTIO_BLK_F_WRITE_ZEROES;

/// The most request queues an instance may have.
pub const MAX_QUEUES: u16 = 8;
