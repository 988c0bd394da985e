// SPDX-License-Identifier: GPL-2.0
//! Queue errors.

use super::mem::MemError;

/// Why a queue operation failed.
///
/// Errors other than [`Error::BufferTooShort`] and [`Error::QueueNotReady`]
/// mean the driver handed over malformed rings or chains; the queue owner
/// should call [`super::SplitQueue::mark_broken`] (the queue does so itself
/// for errors it detects) and set `DEVICE_NEEDS_RESET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Driver memory could not be accessed.
    Mem(MemError),
    /// Queue size is zero, not a power of two, or larger than
    /// [`super::MAX_QUEUE_SIZE`].
    InvalidSize,
    /// A ring address violates the required alignment (descriptor table 16,
    /// available ring 2, used ring 4 bytes).
    Misaligned,
    /// A ring area would wrap around the end of the address space.
    RingOverflow,
    /// A descriptor index (ring entry or `next`) is outside its table.
    DescIndexOutOfRange,
    /// A chain visited more descriptors than its table holds, so it loops.
    ChainLoop,
    /// The total length of a chain does not fit in 32 bits, or a buffer
    /// wraps around the end of the address space.
    LengthOverflow,
    /// An indirect table contains another indirect descriptor.
    NestedIndirect,
    /// A descriptor has both `INDIRECT` and `NEXT`, which the spec forbids.
    IndirectWithNext,
    /// An indirect table length is zero, not a multiple of 16, or above
    /// [`super::MAX_INDIRECT_ENTRIES`] entries.
    IndirectBadLength,
    /// A device-readable descriptor follows a device-writable one.
    ReadableAfterWritable,
    /// The driver's available index moved ahead by more than the queue size.
    AvailIdxJump,
    /// The queue is not ready. Never produced by this crate; it is here for
    /// owners that keep a queue the driver has not enabled yet.
    QueueNotReady,
    /// The queue met malformed driver data earlier and refuses further work.
    Broken,
    /// The chain holds fewer bytes than a `read_exact`/`write_all` asked
    /// for. The chain itself is valid, so this does not break the queue.
    BufferTooShort,
}

impl From<MemError> for Error {
    fn from(e: MemError) -> Self {
        Error::Mem(e)
    }
}
