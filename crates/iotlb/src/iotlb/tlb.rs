// SPDX-License-Identifier: GPL-2.0
//! A small cache of whole-page translations, for one pass of a device worker.
//!
//! A worker pass touches the same few pages over and over: the three parts of each ring and
//! the buffers of the frames in flight. Walking [`Table::translate`] (a binary search) and
//! then checking that the physical page is RAM, for every two-byte index load, costs more
//! than the copy of a small frame. [`PageTlb`] remembers, per page, where the page landed
//! and what the device may do there, so that the second access to a page is one compare.
//!
//! Only whole pages are cached: a page that several mappings share, that a mapping covers
//! only in part, or whose physical address is not page aligned is never entered, and its
//! accesses take the slow path through [`Table::translate`]. The cache is therefore exact,
//! never a looser check than the table it caches.
//!
//! The cache has no invalidation. Its owner must drop it whenever the table or the memory
//! behind it may change; the simulator keeps one per worker pass, during which the device
//! state (and so the table) is locked.

use core::cell::Cell;
use core::ops::{Deref, DerefMut};

use super::dma::{perm, DmaTarget};
use super::table::{Mapping, Table};

/// Size of the pages the cache works in.
pub const PAGE_SIZE: u64 = 4096;

/// One cached page: its device address, the permission bits, and the caller's value for it.
#[derive(Clone, Copy)]
pub struct Entry<P> {
    page: u64,
    perm: u8,
    value: P,
}

/// One set of a [`PageTlb`]: two pages, most recently used first.
pub type TlbSet<P> = [Cell<Option<Entry<P>>>; 2];

/// A two-way set-associative cache of page translations over the caller's storage `S` of
/// sets (an array, or a heap allocation for a large cache); the value `P` is what the
/// owner needs to reach the page (the simulator stores the page's kernel address).
///
/// Two ways per set, each set kept in most-recently-used order, so that the ring pages a
/// worker touches for every frame survive the stream of buffer pages that the frames
/// bring. Only the first power of two of the sets is used, so that a page's set is a mask
/// away. Interior mutability lets a cache live inside a `&self` memory accessor.
pub struct PageTlb<P: Copy, S: Deref<Target = [TlbSet<P>]>> {
    sets: S,
    // Sets used, minus one: a power of two minus one, or all ones for no sets.
    mask: usize,
}

/// A set with nothing cached, to fill the storage of a [`PageTlb`] with.
pub const fn empty_set<P: Copy>() -> TlbSet<P> {
    [Cell::new(None), Cell::new(None)]
}

impl<P: Copy, S: Deref<Target = [TlbSet<P>]>> PageTlb<P, S> {
    /// A cache over `sets`, which it empties.
    pub fn new(sets: S) -> Self {
        let n = sets.len();
        // The largest power of two at most `n`; zero sets cache nothing.
        let used = if n == 0 {
            0
        } else {
            1usize << (usize::BITS - 1 - n.leading_zeros())
        };
        let tlb = Self {
            sets,
            mask: used.wrapping_sub(1),
        };
        tlb.clear();
        tlb
    }

    #[inline]
    fn set(&self, page: u64) -> Option<&TlbSet<P>> {
        // Consecutive pages land in different sets. With no sets `mask` is all ones and the
        // lookup fails.
        let i = (page / PAGE_SIZE) as usize & self.mask;
        self.sets.get(i)
    }

    /// The value cached for the page holding `addr`, and the offset of `addr` in that page,
    /// if the page is cached with every bit of `need`.
    #[inline]
    pub fn get(&self, addr: u64, need: u8) -> Option<(P, u64)> {
        let page = addr & !(PAGE_SIZE - 1);
        let [mru, lru] = self.set(page)?;
        let hit = |e: Entry<P>| (e.page == page).then_some(e);
        let e = match mru.get().and_then(hit) {
            Some(e) => e,
            None => {
                let e = lru.get().and_then(hit)?;
                lru.swap(mru);
                e
            }
        };
        (e.perm & need == need).then_some((e.value, addr - page))
    }

    /// Caches `value` for the page at `page` (page aligned), with permission bits `perm`,
    /// evicting the least recently used page of its set. An unaligned `page` is ignored.
    #[inline]
    pub fn insert(&self, page: u64, perm: u8, value: P) {
        if page & (PAGE_SIZE - 1) != 0 {
            return;
        }
        if let Some([mru, lru]) = self.set(page) {
            let new = Some(Entry { page, perm, value });
            // Re-caching a page replaces it rather than keeping two copies.
            if mru.get().is_some_and(|e| e.page == page) {
                mru.set(new);
            } else {
                lru.set(mru.replace(new));
            }
        }
    }

    /// Forgets every page.
    pub fn clear(&self) {
        for s in self.sets.iter().flatten() {
            s.set(None);
        }
    }
}

impl<S: DerefMut<Target = [Mapping<DmaTarget>]>> Table<DmaTarget, S> {
    /// The physical address and permission bits of the whole page at `page`, if one mapping
    /// covers all of it, lands it on a page-aligned physical address and grants some access.
    ///
    /// `None` does not mean the page is unusable, only that it cannot be cached as a page;
    /// [`Table::translate`] still decides every access.
    pub fn translate_page(&self, page: u64) -> Option<(u64, u8)> {
        if page & (PAGE_SIZE - 1) != 0 {
            return None;
        }
        let last = page.checked_add(PAGE_SIZE - 1)?;
        let m = self.lookup(page)?;
        let p = m.value.perm & perm::READ_WRITE;
        if m.last < last || p == 0 {
            return None;
        }
        let phys = m.value.addr.checked_add(page - m.first)?;
        phys.checked_add(PAGE_SIZE - 1)?;
        (phys & (PAGE_SIZE - 1) == 0).then_some((phys, p))
    }
}
