// SPDX-License-Identifier: GPL-2.0
//! Driver memory that logs the device's writes: what a datapath pass runs over while the
//! VMM migrates its guest.
//!
//! [`LoggedMemory`] wraps the pass's [`GuestMemory`] and logs every write the device makes
//! through it, so the packet path and the rings need not know about logging, and a pass with
//! logging off runs over the plain memory at no cost. The order is the one vhost keeps
//! (`vhost_add_used_n`, then `log_used`):
//!
//! 1. a buffer or ring write happens, then its pages join the pass's pending set;
//! 2. before a ring index is published (`store_u16_release`), a full barrier, then the
//!    pending set is flushed into the log, so no page the index makes visible is unmarked
//!    when the driver sees it; a page whose bit is still set is only read
//!    ([`mark_missing`](super::mark_missing));
//! 3. the index store happens, then the index's own page is marked.
//!
//! A page is always marked after it is written, never only before: QEMU may read and clear
//! a word between a mark and a later write, and then the write would be lost. What is left
//! pending at the end of the pass is flushed by [`LoggedMemory::finish`] (or on drop), so a
//! pass that ends early, even on a ring error, leaves every page it wrote marked.
//!
//! Most writes of a pass land where an earlier one did since the last flush (a frame after
//! its header in one buffer, the next entry of a used ring), so each write first checks a few
//! device ranges known to be logged in pages already pending ([`Covered`]), and only a write
//! outside them works out its pages and joins the set. A flush forgets them with the set.
//! The next most common write, the first into a new buffer page (each received frame's
//! header), is taken without [`LogScope::locate`] when buffers are logged, the write stays in
//! one page that no ring of the scope touches, and the page's log word is the one the set
//! touched last (or the set is empty): the page joins that word. Any other write goes the
//! long way.
//!
//! A mark that fails (the log is too small for the address, or its memory faults) does not
//! stop the pass: the first failure is kept and [`LoggedMemory::finish`] returns it, so the
//! device can report that its log is incomplete.

use core::cell::{Cell, RefCell};

use super::virtqueue::{GuestMemory, MemError};
use super::{
    mark, DirtyPages, Full, LogError, LogWords, PageRange, RingLog, LOG_PAGE, LOG_PAGE_SHIFT,
};

/// Log words a pass keeps pending between publications before it flushes them early.
pub const PENDING_WORDS: usize = 16;

/// Slots of [`Covered`] ranges a pass keeps: one for the last buffer pages it wrote, one for
/// each of the first `HOT_SLOTS - 1` rings of its scope.
const HOT_SLOTS: usize = 4;

/// Device bytes `lo..hi` such that a write inside them (it starts at `lo` or later and ends
/// at `hi` or before) is logged, as [`LogScope::pages`] says, in pages the pending set holds:
/// the write needs nothing more before the next flush.
#[derive(Clone, Copy, Debug)]
struct Covered {
    lo: u64,
    hi: u64,
}

impl Covered {
    /// Covers nothing.
    const NONE: Covered = Covered {
        lo: u64::MAX,
        hi: 0,
    };

    #[inline]
    fn holds(&self, addr: u64, end: u64) -> bool {
        self.lo <= addr && end <= self.hi
    }

    /// Bytes `first << 12 .. (last + 1) << 12` of a page range, if they fit in 64 bits.
    fn of_pages(r: PageRange) -> Option<Covered> {
        let hi = r.last.checked_add(1)?.checked_mul(1 << LOG_PAGE_SHIFT)?;
        Some(Covered {
            lo: r.first << LOG_PAGE_SHIFT,
            hi,
        })
    }

    fn overlaps(&self, r: &RingLog) -> bool {
        r.used < self.hi && self.lo < r.used.saturating_add(r.len)
    }
}

/// What a pass logs.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogScope<'a> {
    /// Log every write outside `rings` at its own address (`VHOST_F_LOG_ALL`).
    pub buffers: bool,
    /// The used rings of the pass's queues that are logged at their `log_guest_addr`
    /// (`VHOST_VRING_F_LOG`). A write that starts in one of them is logged there whether or
    /// not `buffers` is set; a used ring not listed is driver memory like any other.
    pub rings: &'a [RingLog],
}

impl LogScope<'_> {
    /// Whether anything is logged at all.
    pub fn logs(&self) -> bool {
        self.buffers || !self.rings.is_empty()
    }

    /// The pages to mark for a write of `len` bytes at device address `addr`, if any.
    pub fn pages(&self, addr: u64, len: u64) -> Option<PageRange> {
        self.locate(addr, len).map(|(p, _)| p)
    }

    /// [`LogScope::pages`], with the index of the ring that logs the write (`None` for a
    /// buffer).
    fn locate(&self, addr: u64, len: u64) -> Option<(PageRange, Option<usize>)> {
        if let Some(p) = self
            .rings
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.pages(addr, len).map(|p| (p, Some(i))))
        {
            return Some(p);
        }
        if self.buffers {
            PageRange::of_write(addr, len).map(|p| (p, None))
        } else {
            None
        }
    }

    /// The slot and the device range that pages `p`, where a write the scope logs with
    /// `ring` landed, cover for later writes: every write inside the range is logged in `p`
    /// (for [`LoggedMemory`]'s cache).
    ///
    /// The range must be logged the same way throughout: a buffer's pages are covered only
    /// if no ring overlaps them, and a ring's only where no ring before it in the scope does
    /// (the first ring a write starts in logs it). Pages that wrap past 2^64 cover nothing.
    fn cover(&self, p: PageRange, ring: Option<usize>) -> Option<(usize, Covered)> {
        let image = Covered::of_pages(p)?;
        let Some(i) = ring else {
            return (!self.rings.iter().any(|r| image.overlaps(r))).then_some((0, image));
        };
        if i + 1 >= HOT_SLOTS {
            return None;
        }
        let r = self.rings.get(i)?;
        // Device byte `d` of the ring is logged at `log_addr + (d - used)`.
        let c = Covered {
            lo: r.used.checked_add(image.lo.saturating_sub(r.log_addr))?,
            hi: r
                .used
                .checked_add(image.hi.checked_sub(r.log_addr)?)?
                .min(r.used.checked_add(r.len)?),
        };
        let before = self.rings.get(..i).unwrap_or(&[]);
        (!before.iter().any(|b| c.overlaps(b))).then_some((i + 1, c))
    }
}

/// `M`, with every write the device makes through it logged in `L` as [`LogScope`] says.
pub struct LoggedMemory<'a, M: GuestMemory + ?Sized, L: LogWords + ?Sized> {
    mem: &'a M,
    log: &'a L,
    scope: LogScope<'a>,
    /// Pages written since the last publication.
    pending: RefCell<DirtyPages<PENDING_WORDS>>,
    /// Device ranges logged in pages `pending` holds; emptied with it.
    hot: [Cell<Covered>; HOT_SLOTS],
    /// Device bytes from the lowest ring of the scope to the end of the highest.
    rings: Covered,
    /// The first mark that failed.
    failed: Cell<Option<LogError>>,
}

impl<'a, M: GuestMemory + ?Sized, L: LogWords + ?Sized> LoggedMemory<'a, M, L> {
    /// `mem`, logging into `log` what `scope` says.
    pub fn new(mem: &'a M, log: &'a L, scope: LogScope<'a>) -> Self {
        Self {
            mem,
            log,
            scope,
            pending: RefCell::new(DirtyPages::new()),
            hot: [const { Cell::new(Covered::NONE) }; HOT_SLOTS],
            rings: scope.rings.iter().fold(Covered::NONE, |b, r| Covered {
                lo: b.lo.min(r.used),
                hi: b.hi.max(r.used.saturating_add(r.len)),
            }),
            failed: Cell::new(None),
        }
    }

    /// Flushes what is pending; the first mark that failed during the pass, if one did.
    pub fn finish(self) -> Result<(), LogError> {
        self.flush();
        match self.failed.get() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn fail(&self, r: Result<(), LogError>) {
        if let (Err(e), None) = (r, self.failed.get()) {
            self.failed.set(Some(e));
        }
    }

    /// Adds the pages of a write that happened to the pending set, unless they are there.
    ///
    /// The two writes nearly every frame makes, one inside a covered range and the first
    /// into a new buffer page, are taken here without a call: a call and its return cost
    /// more than the check itself where the device runs under emulation.
    #[inline(always)]
    fn wrote(&self, addr: u64, len: u64) {
        if let Some(end) = addr.checked_add(len) {
            if self.hot.iter().any(|c| c.get().holds(addr, end)) || self.wrote_in_page(addr, end) {
                return;
            }
        }
        self.wrote_elsewhere(addr, len);
    }

    /// The common write outside the covered ranges, done without [`LogScope::locate`]: with
    /// buffers logged, a write of `addr..end` within one page that no ring of the scope
    /// touches, whose log word is the one the set touched last (or the set is empty). The
    /// page joins the set and becomes the covered buffer range. `false` (nothing done) for
    /// any other write.
    #[inline(always)]
    fn wrote_in_page(&self, addr: u64, end: u64) -> bool {
        let page = addr >> LOG_PAGE_SHIFT;
        if !self.scope.buffers || end == addr || (end - 1) >> LOG_PAGE_SHIFT != page {
            return false;
        }
        let lo = page << LOG_PAGE_SHIFT;
        // The last page of the address space covers all but its last byte.
        let hi = lo.saturating_add(LOG_PAGE);
        // Outside the span of the rings at two compares, or else clear of each ring.
        let image = Covered { lo, hi };
        if !(hi <= self.rings.lo || lo >= self.rings.hi)
            && self.scope.rings.iter().any(|r| image.overlaps(r))
        {
            return false;
        }
        let Ok(mut p) = self.pending.try_borrow_mut() else {
            return false;
        };
        if !p.add_page_to_last(page) {
            return false;
        }
        self.hot[0].set(image);
        true
    }

    /// [`Self::wrote`] for a write outside the covered ranges that
    /// [`Self::wrote_in_page`] does not take.
    #[inline(never)]
    fn wrote_elsewhere(&self, addr: u64, len: u64) {
        let Some((pages, ring)) = self.scope.locate(addr, len) else {
            return;
        };
        // The set is borrowed only inside these methods, which do not call each other with
        // it borrowed, so the borrow cannot fail; if it did, marking at once is as right.
        let r = match self.pending.try_borrow_mut() {
            Ok(mut p) => {
                let r = match p.add(pages) {
                    Ok(()) => Ok(()),
                    // Full: the pending words go to the log early, to make room.
                    Err(Full) => {
                        let r = self.flush_set(&mut p);
                        match p.add(pages) {
                            Ok(()) => r,
                            // More words than the set holds (a write of megabytes, which
                            // no datapath makes): marked at once, after the write, and not
                            // covered, since a later write must be marked after it again.
                            Err(Full) => return self.fail(r.and(mark(self.log, pages))),
                        }
                    }
                };
                // `pages` are pending now, whichever way they got there.
                if let Some((slot, c)) = self.scope.cover(pages, ring) {
                    if let Some(h) = self.hot.get(slot) {
                        h.set(c);
                    }
                }
                r
            }
            Err(_) => mark(self.log, pages),
        };
        self.fail(r);
    }

    fn flush(&self) {
        if let Ok(mut p) = self.pending.try_borrow_mut() {
            if !p.is_empty() {
                let r = self.flush_set(&mut p);
                self.fail(r);
            }
        }
    }

    /// Marks and empties `p`, after the barrier [`DirtyPages::flush`] asks for: the pass's
    /// writes are visible before it reads a bit as already set.
    fn flush_set(&self, p: &mut DirtyPages<PENDING_WORDS>) -> Result<(), LogError> {
        for h in &self.hot {
            h.set(Covered::NONE);
        }
        self.mem.fence();
        p.flush(self.log)
    }
}

impl<M: GuestMemory + ?Sized, L: LogWords + ?Sized> Drop for LoggedMemory<'_, M, L> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl<M: GuestMemory + ?Sized, L: LogWords + ?Sized> GuestMemory for LoggedMemory<'_, M, L> {
    #[inline(always)]
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.mem.read(addr, buf)
    }

    // Inlined into the datapath as the accessors of the memory they wrap are, with the
    // common case of the log check (see `wrote`). A write that fails may have written a
    // prefix, so its pages are logged either way.
    #[inline(always)]
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let r = self.mem.write(addr, buf);
        self.wrote(addr, buf.len() as u64);
        r
    }

    #[inline(always)]
    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        let r = self.mem.copy(dst, src, len);
        self.wrote(dst, len);
        r
    }

    #[inline(always)]
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        self.mem.load_u16_acquire(addr)
    }

    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        self.flush();
        let r = self.mem.store_u16_release(addr, val);
        if let Some(pages) = self.scope.pages(addr, 2) {
            self.fail(mark(self.log, pages));
        }
        r
    }

    #[inline(always)]
    fn fence(&self) {
        self.mem.fence()
    }
}
