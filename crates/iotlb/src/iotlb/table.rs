// SPDX-License-Identifier: GPL-2.0
//! The sorted table of disjoint mappings.

use core::marker::PhantomData;
use core::ops::DerefMut;

/// The smallest capacity [`Table::insert_growing`] grows a table to.
pub const MIN_GROWN_CAPACITY: usize = 16;

/// One mapping: the inclusive address range `first..=last` and what it maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping<T> {
    /// First address of the range.
    pub first: u64,
    /// Last address of the range (inclusive, so `u64::MAX` is reachable).
    pub last: u64,
    /// What the range maps to; for a [`super::DmaTarget`], the target of `first`.
    pub value: T,
}

/// Why [`Table::insert`] refused a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertError {
    /// `first > last`.
    Invalid,
    /// The range shares at least one address with an existing mapping.
    Overlap,
    /// The table is at capacity (for [`Table::insert_growing`]: at its
    /// largest allowed capacity).
    Full,
    /// [`Table::insert_growing`] needed more storage and the caller's
    /// allocator returned none.
    NoMemory,
}

/// A table of non-overlapping mappings, sorted by `first`.
///
/// `S` is the caller's storage (a boxed slice, a `Vec`, a `&mut` slice...);
/// its length is the capacity and its initial contents are ignored. The table
/// never allocates: it grows only through [`Table::insert_growing`], with
/// storage the caller allocates.
///
/// The storage is a gap buffer: the live entries are a front part at the
/// start of the storage and a back part at its end, with the free slots
/// between them. An insertion moves the gap to its position first, so a run of
/// insertions at ascending positions (an IOTLB update over fragmented memory
/// arrives as thousands of adjacent runs, each just above the last) moves the
/// entries above the update once instead of once per run: `k` such insertions
/// into a table of `n` cost `O(k + n)` moves, not `O(k * n)`. A removal moves
/// the gap to the removed entries and widens it. Lookups are two binary
/// searches at most, one per part.
///
/// # Invariants
///
/// `len <= storage.len()` and `gap <= len`. The live entries, in order, are
/// `storage[..gap]` followed by `storage[storage.len() - (len - gap)..]`; they
/// are sorted by `first`, each has `first <= last`, and no two overlap.
pub struct Table<T, S> {
    storage: S,
    len: usize,
    gap: usize,
    /// Entries moved so far, for the tests that check the cost of an update.
    #[cfg(test)]
    pub(crate) moved: usize,
    _t: PhantomData<T>,
}

/// The live entries of a [`Table`], in ascending order.
pub type Iter<'a, T> = core::iter::Copied<
    core::iter::Chain<core::slice::Iter<'a, Mapping<T>>, core::slice::Iter<'a, Mapping<T>>>,
>;

impl<T: Copy, S: DerefMut<Target = [Mapping<T>]>> Table<T, S> {
    /// An empty table whose capacity is `storage.len()`.
    pub fn new(storage: S) -> Self {
        Self {
            storage,
            len: 0,
            gap: 0,
            #[cfg(test)]
            moved: 0,
            _t: PhantomData,
        }
    }

    /// Number of live mappings.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no mapping.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Largest number of mappings the table can hold.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// The two parts of the live entries: below the gap and above it.
    fn parts(&self) -> (&[Mapping<T>], &[Mapping<T>]) {
        let back = self.len.saturating_sub(self.gap);
        let front = self.storage.get(..self.gap).unwrap_or(&[]);
        let back = self
            .storage
            .len()
            .checked_sub(back)
            .and_then(|b| self.storage.get(b..))
            .unwrap_or(&[]);
        (front, back)
    }

    /// The live mappings, in ascending order.
    pub fn iter(&self) -> Iter<'_, T> {
        let (front, back) = self.parts();
        front.iter().chain(back.iter()).copied()
    }

    /// The live entry at logical index `i`.
    fn get(&self, i: usize) -> Option<Mapping<T>> {
        let (front, back) = self.parts();
        match i.checked_sub(front.len()) {
            None => front.get(i).copied(),
            Some(j) => back.get(j).copied(),
        }
    }

    /// The number of live entries, in order, for which `pred` holds before it
    /// first fails (`pred` must be monotone, true then false, as for
    /// [`slice::partition_point`]).
    fn partition_point(&self, pred: impl Fn(&Mapping<T>) -> bool) -> usize {
        let (front, back) = self.parts();
        let p = front.partition_point(&pred);
        if p < front.len() {
            p
        } else {
            p.saturating_add(back.partition_point(&pred))
        }
    }

    /// Moves the gap so that it starts at logical index `to` (at most `len`):
    /// the entries between the old and the new position cross it.
    fn move_gap(&mut self, to: usize) {
        let cap = self.storage.len();
        let free = cap.saturating_sub(self.len);
        if to > self.len || to == self.gap {
            return;
        }
        let (src, dst, n) = if to < self.gap {
            // Entries `to..gap` of the front go to the bottom of the back part.
            (to, to.saturating_add(free), self.gap - to)
        } else {
            // The first `to - gap` entries of the back part join the front.
            (self.gap.saturating_add(free), self.gap, to - self.gap)
        };
        let end = src.max(dst).saturating_add(n);
        if free > 0 && end <= cap {
            self.storage.copy_within(src..src.saturating_add(n), dst);
            #[cfg(test)]
            {
                self.moved = self.moved.saturating_add(n);
            }
        }
        // With no free slot both parts are contiguous already: only the
        // boundary moves.
        self.gap = to;
    }

    /// The mapping that contains `addr`, if any.
    pub fn lookup(&self, addr: u64) -> Option<Mapping<T>> {
        // Entries are disjoint and sorted, so `last` is sorted too: the first
        // entry not ending before `addr` is the only candidate.
        let idx = self.partition_point(|m| m.last < addr);
        self.get(idx).filter(|m| m.first <= addr)
    }

    /// Whether any mapping shares an address with `first..=last`.
    ///
    /// An inverted range (`first > last`) overlaps nothing.
    pub fn overlaps(&self, first: u64, last: u64) -> bool {
        let (lo, hi) = self.overlap_run(first, last);
        lo < hi
    }

    /// Adds the mapping `first..=last -> value`, keeping the order.
    ///
    /// Mappings may touch (`[0, 9]` then `[10, 19]`) but not share an address.
    ///
    /// # Errors
    ///
    /// [`InsertError::Invalid`] if `first > last`, else [`InsertError::Overlap`]
    /// if the range shares an address with a mapping, else
    /// [`InsertError::Full`]. Overlap comes before Full so that a caller learns
    /// about the conflict rather than about the capacity. The table is
    /// unchanged on error.
    pub fn insert(&mut self, first: u64, last: u64, value: T) -> Result<(), InsertError> {
        if first > last {
            return Err(InsertError::Invalid);
        }
        let (pos, hi) = self.overlap_run(first, last);
        if pos < hi {
            return Err(InsertError::Overlap);
        }
        if self.len >= self.storage.len() {
            return Err(InsertError::Full);
        }
        self.move_gap(pos);
        if let Some(slot) = self.storage.get_mut(pos) {
            *slot = Mapping { first, last, value };
            // `len < storage.len()` was checked above, and `gap == pos <= len`.
            self.len = self.len.wrapping_add(1);
            self.gap = pos.wrapping_add(1);
        }
        Ok(())
    }

    /// [`Table::insert`], but a full table first moves to storage twice its
    /// capacity (at least [`MIN_GROWN_CAPACITY`], at most `max`), obtained from
    /// `alloc(n)`, which must return storage of at least `n` entries or `None`.
    ///
    /// This is how a table sized for the common case holds a guest's memory
    /// when it arrives as thousands of 4 KiB runs, without reserving the worst
    /// case up front.
    ///
    /// # Errors
    ///
    /// As [`Table::insert`]; [`InsertError::Full`] once the capacity has reached
    /// `max`, and [`InsertError::NoMemory`] if `alloc` gave nothing (or too
    /// little). The table is unchanged on error, old storage included.
    pub fn insert_growing(
        &mut self,
        first: u64,
        last: u64,
        value: T,
        max: usize,
        alloc: impl FnOnce(usize) -> Option<S>,
    ) -> Result<(), InsertError> {
        match self.insert(first, last, value) {
            Err(InsertError::Full) => {}
            other => return other,
        }
        let cap = self.capacity();
        if cap >= max {
            return Err(InsertError::Full);
        }
        let want = cap.saturating_mul(2).max(MIN_GROWN_CAPACITY).min(max);
        let storage = alloc(want).ok_or(InsertError::NoMemory)?;
        if storage.len() <= self.len {
            return Err(InsertError::NoMemory);
        }
        // The old storage is dropped here, after its entries moved.
        drop(self.replace_storage(storage));
        self.insert(first, last, value)
    }

    /// Moves the live entries into `storage` and returns the old storage.
    ///
    /// # Errors
    ///
    /// Gives `storage` back, and changes nothing, if it cannot hold the live
    /// entries.
    pub fn replace_storage(&mut self, mut storage: S) -> Result<S, S> {
        if storage.len() < self.len {
            return Err(storage);
        }
        // The entries land contiguous at the front, the gap above them (where
        // the next insertion of an ascending run goes).
        for (dst, src) in storage.iter_mut().zip(self.iter()) {
            *dst = src;
        }
        self.gap = self.len;
        Ok(core::mem::replace(&mut self.storage, storage))
    }

    /// Removes every mapping that shares an address with `first..=last`.
    ///
    /// Mappings are removed whole, never split: a range that touches one byte
    /// of a mapping removes all of it, which is what `vhost_iotlb_del_range()`
    /// does. `f` sees each removed mapping in ascending order, before the
    /// table is compacted. Returns how many were removed; an inverted range
    /// (`first > last`) removes nothing (see [`super::invalidate_range`]).
    pub fn remove_overlapping(
        &mut self,
        first: u64,
        last: u64,
        mut f: impl FnMut(Mapping<T>),
    ) -> usize {
        let (lo, hi) = self.overlap_run(first, last);
        let count = hi.saturating_sub(lo);
        if count == 0 {
            return 0;
        }
        // With the gap at `lo`, the removed entries are the bottom of the back
        // part: dropping them widens the gap.
        self.move_gap(lo);
        let (_, back) = self.parts();
        back.iter().take(count).copied().for_each(&mut f);
        self.len = self.len.saturating_sub(count);
        count
    }

    /// How many mappings [`Table::remove_overlapping`] would remove for
    /// `first..=last`: room to reserve before removing them.
    pub fn overlap_count(&self, first: u64, last: u64) -> usize {
        let (lo, hi) = self.overlap_run(first, last);
        hi.saturating_sub(lo)
    }

    /// The start of the first and the end of the last mapping that
    /// [`Table::remove_overlapping`] would remove for `first..=last`, if any.
    ///
    /// Mappings are sorted and disjoint, so `start..=end` holds those
    /// mappings and no other: a mirror of this table (a device's copy, entry
    /// for entry) drops the same set with one removal of that span.
    pub fn overlap_span(&self, first: u64, last: u64) -> Option<(u64, u64)> {
        let (lo, hi) = self.overlap_run(first, last);
        if hi <= lo {
            return None;
        }
        // `hi > lo >= 0`, so `hi - 1` does not wrap.
        Some((self.get(lo)?.first, self.get(hi - 1)?.last))
    }

    /// Removes every mapping, handing each to `f` in ascending order.
    pub fn clear(&mut self, f: impl FnMut(Mapping<T>)) {
        self.iter().for_each(f);
        self.len = 0;
        self.gap = 0;
    }

    /// The index run `lo..hi` of the live entries that overlap `first..=last`.
    ///
    /// Entries are sorted and disjoint, so both their `first` and `last`
    /// fields are ascending and the overlapping ones are contiguous: they
    /// start at the first entry not ending before `first` and stop at the
    /// first entry starting after `last`. An inverted range gives an empty run.
    fn overlap_run(&self, first: u64, last: u64) -> (usize, usize) {
        if first > last {
            return (0, 0);
        }
        let lo = self.partition_point(|m| m.last < first);
        let hi = self.partition_point(|m| m.first <= last);
        // Every entry before `lo` ends before `first <= last`, so it also
        // starts at or before `last` and `lo <= hi` holds; `max` only keeps a
        // broken invariant from producing a reversed run.
        (lo, hi.max(lo))
    }
}
