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
//! A mark that fails (the log is too small for the address, or its memory faults) does not
//! stop the pass: the first failure is kept and [`LoggedMemory::finish`] returns it, so the
//! device can report that its log is incomplete.

use core::cell::{Cell, RefCell};

use super::virtqueue::{GuestMemory, MemError};
use super::{mark, DirtyPages, Full, LogError, LogWords, PageRange, RingLog};

/// Runs of pages a pass keeps pending between publications before it flushes some early.
pub const PENDING_RUNS: usize = 16;

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
        if let Some(p) = self.rings.iter().find_map(|r| r.pages(addr, len)) {
            return Some(p);
        }
        if self.buffers {
            PageRange::of_write(addr, len)
        } else {
            None
        }
    }
}

/// `M`, with every write the device makes through it logged in `L` as [`LogScope`] says.
pub struct LoggedMemory<'a, M: GuestMemory + ?Sized, L: LogWords + ?Sized> {
    mem: &'a M,
    log: &'a L,
    scope: LogScope<'a>,
    /// Pages written since the last publication.
    pending: RefCell<DirtyPages<PENDING_RUNS>>,
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

    /// Adds the pages of a write that happened to the pending set.
    #[inline]
    fn wrote(&self, addr: u64, len: u64) {
        let Some(pages) = self.scope.pages(addr, len) else {
            return;
        };
        // The set is borrowed only inside these methods, which do not call each other with
        // it borrowed, so the borrow cannot fail; if it did, marking at once is as right.
        let r = match self.pending.try_borrow_mut() {
            Ok(mut p) => match p.add(pages) {
                Ok(()) => Ok(()),
                // Full: the pending runs go to the log early, to make room.
                Err(Full) => {
                    let r = self.flush_set(&mut p);
                    // An empty set takes any range.
                    let _ = p.add(pages);
                    r
                }
            },
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
    fn flush_set(&self, p: &mut DirtyPages<PENDING_RUNS>) -> Result<(), LogError> {
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
    #[inline]
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.mem.read(addr, buf)
    }

    // A write that fails may have written a prefix, so its pages are logged either way.
    #[inline]
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let r = self.mem.write(addr, buf);
        self.wrote(addr, buf.len() as u64);
        r
    }

    #[inline]
    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        let r = self.mem.copy(dst, src, len);
        self.wrote(dst, len);
        r
    }

    #[inline]
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

    #[inline]
    fn fence(&self) {
        self.mem.fence()
    }
}
