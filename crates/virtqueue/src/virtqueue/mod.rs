// SPDX-License-Identifier: GPL-2.0
//! Device side of a virtio 1.x split virtqueue.
//!
//! Everything here treats the rings and descriptors as untrusted: the driver
//! owns that memory and may rewrite it at any moment, so values are copied out
//! through [`GuestMemory`] and validated before use, indices use wrapping
//! arithmetic, and every chain walk is bounded. Nothing allocates and nothing
//! panics on any input, because the same files are built into a kernel module
//! with overflow checks enabled.
//!
//! A queue that met malformed driver data marks itself broken
//! ([`SplitQueue::is_broken`]); the owner then sets `DEVICE_NEEDS_RESET`.
#![forbid(unsafe_code)]

mod chain;
mod error;
mod mem;
mod split;

#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
#[cfg(test)]
mod tests;

pub use self::chain::{ChainLengths, Desc, DescChain, Reader, Span, Spans, Writer};
pub use self::error::Error;
pub use self::mem::{GuestMemory, MemError};
pub use self::split::{vring_need_event, SplitQueue};

/// Descriptor flag: the chain continues at the descriptor named by `next`.
pub const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable (otherwise device-readable).
pub const VRING_DESC_F_WRITE: u16 = 2;
/// Descriptor flag: the buffer holds a table of indirect descriptors.
pub const VRING_DESC_F_INDIRECT: u16 = 4;
/// Available-ring flag: the driver asks not to be interrupted (no `EVENT_IDX`).
pub const VRING_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// Used-ring flag: the device asks not to be kicked (no `EVENT_IDX`).
pub const VRING_USED_F_NO_NOTIFY: u16 = 1;
/// Largest queue size a split virtqueue may have.
pub const MAX_QUEUE_SIZE: u16 = 32768;
/// Size in bytes of one descriptor (`struct virtq_desc`).
pub const DESC_SIZE: u64 = 16;
/// Size in bytes of one used-ring element (`struct virtq_used_elem`).
pub const USED_ELEM_SIZE: u64 = 8;
/// Largest number of entries accepted in one indirect descriptor table.
///
/// The spec does not tie the table to the queue size; this bound only keeps
/// the walk finite and the table length within the 16-bit `next` field.
pub const MAX_INDIRECT_ENTRIES: u32 = 65535;
