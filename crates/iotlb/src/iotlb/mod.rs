// SPDX-License-Identifier: GPL-2.0
//! Table of disjoint address mappings that never allocates by itself.
//!
//! Two users share it: `vhost_mdev` records the IOTLB updates userspace sends
//! through the vhost-vdpa uAPI (IOVA range to a run of pinned pages), and the
//! simulated device keeps its DMA translation table (IOVA range to physical
//! address and permission, see [`DmaTarget`]) and translates every ring and
//! buffer access through [`Table::translate`], with a [`PageTlb`] in front of it
//! for the pages a worker pass keeps touching.
//!
//! The caller hands over the storage, so nothing here allocates: a table
//! grows only when its owner passes an allocator to
//! [`Table::insert_growing`]. Entries stay sorted by their first address and never
//! overlap, which makes lookups a binary search and turns "every entry that
//! overlaps a range" into one contiguous run of the storage.
//!
//! All ranges are inclusive (`first..=last`), as in `vhost_iotlb`, so a
//! mapping may end at `u64::MAX`. Nothing here panics on any input, because
//! the same files are built into a kernel module with overflow checks enabled.
#![forbid(unsafe_code)]

mod dma;
mod table;
mod tlb;

#[cfg(any(test, feature = "test-utils"))]
pub mod model;
#[cfg(test)]
mod tests;

pub use self::dma::{perm, DmaTarget, Error, TranslateError};
pub use self::table::{InsertError, Iter, Mapping, Table, MIN_GROWN_CAPACITY};
pub use self::tlb::{empty_set, Entry, PageTlb, TlbSet, PAGE_SIZE};

/// Entries both users allocate when a table is created; it then grows with
/// [`Table::insert_growing`] up to the device's limit.
///
/// 2048 is the default of vdpa_sim's `max_iotlb_entries` module parameter,
/// enough for a guest whose memory arrives in 2 MiB (huge page) runs.
pub const DEFAULT_CAPACITY: usize = 2048;

/// The inclusive range a vhost-vdpa `VHOST_IOTLB_INVALIDATE {iova, size}`
/// message covers, as `(first, last)`.
///
/// The kernel does not validate invalidate messages; `vhost_vdpa_unmap()`
/// deletes `[iova, iova + size - 1]` computed in wrapping `u64` arithmetic,
/// and this returns exactly that pair, so a process sees the same effects as
/// on vhost-vdpa:
///
/// - `{iova: 0, size: 0}` wraps to `(0, u64::MAX)`, which removes everything
///   (userspace relies on this to flush the whole IOTLB);
/// - `{iova: 0, size: u64::MAX}` gives `(0, u64::MAX - 1)`, which spares an
///   entry that starts at `u64::MAX`;
/// - `{iova, size}` that wraps past the end gives `last < first`.
///
/// For `first > last` (any `size == 0` with `iova > 0`, or a wrapping range)
/// [`Table::remove_overlapping`] removes nothing. That is a deliberate
/// difference from the kernel's interval tree, whose search with
/// `start > last` matches any entry with `entry.start <= last` and
/// `start <= entry.last`, i.e. an entry that contains both `iova - 1` and
/// `iova` (for a wrapped range: one containing both `last` and `first`).
/// That match is an artefact of the tree walk, not a meaningful range, so an
/// empty or inverted range here never takes a mapping away.
pub fn invalidate_range(iova: u64, size: u64) -> (u64, u64) {
    (iova, iova.wrapping_add(size).wrapping_sub(1))
}
