// SPDX-License-Identifier: GPL-2.0
//! vhost's dirty-page log, as a device keeps it while its guest migrates.
//!
//! The log is a bitmap in the VMM's memory: bit `p % 64` of the little-endian 64-bit word
//! `p / 64` stands for page `p` (4 KiB, `VHOST_LOG_PAGE`) of guest address. With no vIOMMU,
//! QEMU maps IOVA = guest physical address, so the device logs the IOVAs it writes. QEMU
//! reads and clears the words with an atomic exchange while the device runs
//! (`vhost_dev_sync_region`), so the device sets bits with atomic ORs and never keeps a
//! bit it saw set: it reads the word again at every flush ([`mark_missing`]).
//!
//! The rule a device follows: every page it writes while logging is on is marked before
//! the used index that makes the write visible is published; pages it only reads are not.
//! A datapath pass collects the pages it wrote in a [`DirtyPages`] (the log words to set and
//! their masks, a fixed number of them, so a pass of a few hundred frames in a few buffers'
//! pages costs a few word reads, and an atomic OR for a bit not set yet), and flushes it
//! into the log before it publishes.
//! Used-ring writes are logged at the ring's `log_guest_addr` ([`RingLog`]), which is what
//! `VHOST_VRING_F_LOG` asks for.
//!
//! Nothing here allocates or panics on any input: the same files are built into a kernel
//! module with overflow checks on. The log's memory is behind [`LogWords`], which the kernel
//! implements over the pinned pages of the VMM's bitmap and the tests over a vector.
#![forbid(unsafe_code)]

// The one place that names the sibling module; `logged` reaches it as `super::virtqueue`,
// which resolves the same in the kernel and in cargo.
use super::virtqueue;

mod logged;
#[cfg(test)]
mod logged_tests;
#[cfg(any(test, feature = "test-utils"))]
pub mod mock;
#[cfg(test)]
mod tests;

pub use self::logged::{LogScope, LoggedMemory, PENDING_WORDS};

/// log2 of the page size the log tracks.
pub const LOG_PAGE_SHIFT: u32 = 12;
/// The page size the log tracks (`VHOST_LOG_PAGE`).
pub const LOG_PAGE: u64 = 1 << LOG_PAGE_SHIFT;
/// Bits in a log word.
pub const WORD_BITS: u64 = 64;
/// Bytes in a log word.
pub const WORD_BYTES: u64 = 8;
/// Guest bytes one log word covers (`VHOST_LOG_CHUNK`).
pub const LOG_CHUNK: u64 = LOG_PAGE * WORD_BITS;

/// The pages `first..=last` (page numbers, not addresses) of a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageRange {
    /// First page written.
    pub first: u64,
    /// Last page written.
    pub last: u64,
}

impl PageRange {
    /// The pages a write of `len` bytes at `addr` touches: `None` for an empty write or one
    /// that runs past 2^64 (which no mapping can hold).
    pub fn of_write(addr: u64, len: u64) -> Option<PageRange> {
        let end = addr.checked_add(len.checked_sub(1)?)?;
        Some(PageRange {
            first: addr >> LOG_PAGE_SHIFT,
            last: end >> LOG_PAGE_SHIFT,
        })
    }

    /// Whether `other` overlaps this range or touches it end to end, so that their union is
    /// one range.
    pub fn joins(&self, other: &PageRange) -> bool {
        self.first <= other.last.saturating_add(1) && other.first <= self.last.saturating_add(1)
    }

    /// The pages in the range.
    pub fn pages(&self) -> u64 {
        // Page numbers are below 2^52, so this cannot wrap.
        self.last.wrapping_sub(self.first).wrapping_add(1)
    }
}

/// Bytes of log that cover every guest address up to `last` (inclusive): whole words, as
/// QEMU sizes the log (`vhost_get_log_size`: `last / VHOST_LOG_CHUNK + 1` words).
pub fn log_bytes_for(last: u64) -> u64 {
    // last / LOG_CHUNK < 2^46, so neither step overflows.
    (last / LOG_CHUNK + 1) * WORD_BYTES
}

/// The log words a page range sets bits in, each with its mask, in ascending order.
pub fn words(r: PageRange) -> Words {
    Words {
        next: r.first,
        last: r.last,
        done: r.first > r.last,
    }
}

/// Iterator of [`words`].
#[derive(Clone, Debug)]
pub struct Words {
    next: u64,
    last: u64,
    done: bool,
}

impl Iterator for Words {
    /// A word index and the bits to set in it.
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        if self.done {
            return None;
        }
        let word = self.next / WORD_BITS;
        let lo = self.next % WORD_BITS;
        // The last page in this word: the range's end or the word's last bit.
        let word_last = word * WORD_BITS + (WORD_BITS - 1);
        let end = self.last.min(word_last);
        let hi = end % WORD_BITS;
        // Bits lo..=hi.
        let mask = (u64::MAX >> (WORD_BITS - 1 - hi)) & (u64::MAX << lo);
        if end >= self.last {
            self.done = true;
        } else {
            self.next = end + 1;
        }
        Some((word, mask))
    }
}

/// Why a page could not be marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogError {
    /// The page's word lies past the end of the log: the VMM's log does not cover the
    /// address. The words before it were marked.
    OutOfLog,
    /// The word's memory could not be reached.
    Fault,
}

/// The log's words, wherever they live.
pub trait LogWords {
    /// Number of words in the log.
    fn words(&self) -> u64;

    /// Reads word `word` (below [`LogWords::words`]) with a single load, unordered: the
    /// caller orders it (see [`mark_missing`]).
    fn load(&self, word: u64) -> Result<u64, LogError>;

    /// Atomically ORs `mask` into word `word` (below [`LogWords::words`]), as QEMU clears
    /// words with an atomic exchange at the same time.
    fn fetch_or(&self, word: u64, mask: u64) -> Result<(), LogError>;
}

/// Marks every page of `r` in `log`.
///
/// # Errors
///
/// [`LogError::OutOfLog`] if part of the range lies past the log (the part inside is
/// marked), or the first [`LogError::Fault`] of the word accesses.
pub fn mark<L: LogWords + ?Sized>(log: &L, r: PageRange) -> Result<(), LogError> {
    let n = log.words();
    for (word, mask) in words(r) {
        if word >= n {
            return Err(LogError::OutOfLog);
        }
        log.fetch_or(word, mask)?;
    }
    Ok(())
}

/// Marks the pages of `r` whose bits are not set yet: a word whose bits are all set already
/// is only read. Between two syncs of the VMM the pages a device writes are mostly the same
/// few (the rings, the recycled buffers), so most marks cost a load, not a locked OR.
///
/// # Ordering
///
/// The caller puts a full barrier between the writes the marks stand for and this call. A
/// bit seen set was then read before the VMM's exchange that clears it, so that exchange,
/// and the VMM's read of the page after it, come after the writes: the page is sent with
/// them. Without the barrier a write still in a store buffer could miss both the bit and
/// the copy.
///
/// # Errors
///
/// As [`mark`].
pub fn mark_missing<L: LogWords + ?Sized>(log: &L, r: PageRange) -> Result<(), LogError> {
    let n = log.words();
    words(r).try_for_each(|(word, mask)| mark_word_missing(log, n, word, mask))
}

/// [`mark_missing`] for the bits `mask` of word `word` of a log of `n` words.
fn mark_word_missing<L: LogWords + ?Sized>(
    log: &L,
    n: u64,
    word: u64,
    mask: u64,
) -> Result<(), LogError> {
    if word >= n {
        return Err(LogError::OutOfLog);
    }
    if log.load(word)? & mask != mask {
        log.fetch_or(word, mask)?;
    }
    Ok(())
}

/// The set is full: flush it and add again (or mark the range at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// The pages a datapath pass wrote, to be marked before it publishes, kept as the log
/// words to set and their masks: at most `N` words, each covering 64 pages (256 KiB of
/// guest). A page joins the set with an OR into the word the set touched last, most of the
/// time (the next buffer page, a used ring), and a flush reads each word once.
///
/// # Invariants
///
/// `len <= N`; the words of `words[..len]` are distinct; `last < len`, or `len == 0`.
#[derive(Clone, Debug)]
pub struct DirtyPages<const N: usize> {
    words: [(u64, u64); N],
    len: usize,
    last: usize,
}

impl<const N: usize> Default for DirtyPages<N> {
    fn default() -> Self {
        Self {
            words: [(0, 0); N],
            len: 0,
            last: 0,
        }
    }
}

impl<const N: usize> DirtyPages<N> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether no page has been added since the last flush.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The words held, each with the bits to set in it, in the order they joined.
    pub fn pending(&self) -> &[(u64, u64)] {
        self.words.get(..self.len).unwrap_or(&[])
    }

    /// Adds the pages of `r` (with `first <= last`; anything else is ignored).
    ///
    /// # Errors
    ///
    /// [`Full`] if the words of `r` the set does not hold yet outnumber its free slots
    /// (always so for a range over more than `N` words); nothing changes then.
    pub fn add(&mut self, r: PageRange) -> Result<(), Full> {
        if r.first > r.last {
            return Ok(());
        }
        let (first, last) = (r.first / WORD_BITS, r.last / WORD_BITS);
        if first == last {
            // Within one word, as nearly every write is: bits `r.first % 64 ..= r.last % 64`.
            let (lo, hi) = (r.first % WORD_BITS, r.last % WORD_BITS);
            return self.add_word(first, (u64::MAX >> (WORD_BITS - 1 - hi)) & (u64::MAX << lo));
        }
        let held = self
            .pending()
            .iter()
            .filter(|(w, _)| (first..=last).contains(w));
        let missing = (last - first + 1).saturating_sub(held.count() as u64);
        if missing > (N - self.len.min(N)) as u64 {
            return Err(Full);
        }
        words(r).try_for_each(|(word, mask)| self.add_word(word, mask))
    }

    /// Adds page `page` if its word is the one the set touched last, or the set is empty:
    /// the case nearly every datapath write is, done in a few instructions. `false` (and
    /// nothing changes) otherwise, and [`DirtyPages::add`] takes the page.
    #[inline(always)]
    pub fn add_page_to_last(&mut self, page: u64) -> bool {
        let (word, mask) = (page / WORD_BITS, 1 << (page % WORD_BITS));
        match self.len {
            // An empty set has room (unless N is 0): the word takes the first slot.
            0 => self.add_word(word, mask).is_ok(),
            _ => self.or_into_last(word, mask),
        }
    }

    /// ORs `mask` into the word touched last, if that is word `word`.
    #[inline(always)]
    fn or_into_last(&mut self, word: u64, mask: u64) -> bool {
        match self
            .words
            .get_mut(..self.len.min(N))
            .and_then(|w| w.get_mut(self.last))
        {
            Some(e) if e.0 == word => {
                e.1 |= mask;
                true
            }
            _ => false,
        }
    }

    #[inline]
    fn add_word(&mut self, word: u64, mask: u64) -> Result<(), Full> {
        if self.or_into_last(word, mask) {
            return Ok(());
        }
        let len = self.len.min(N);
        if let Some((i, e)) = self
            .words
            .iter_mut()
            .take(len)
            .enumerate()
            .find(|(_, e)| e.0 == word)
        {
            e.1 |= mask;
            self.last = i;
            return Ok(());
        }
        let slot = self.words.get_mut(len).ok_or(Full)?;
        *slot = (word, mask);
        self.last = len;
        self.len = len + 1;
        Ok(())
    }

    /// Sets the pending bits in `log` and empties the set: each word is read, and ORed only
    /// if a bit is missing ([`mark_missing`]'s rule).
    ///
    /// # Ordering
    ///
    /// As [`mark_missing`]: a full barrier separates the writes from the flush.
    ///
    /// # Errors
    ///
    /// [`LogError::OutOfLog`] for a word past the log, or the first [`LogError::Fault`];
    /// every word is still attempted, and the set is emptied either way.
    pub fn flush<L: LogWords + ?Sized>(&mut self, log: &L) -> Result<(), LogError> {
        let n = log.words();
        let mut first_err = Ok(());
        for &(word, mask) in self.pending() {
            first_err = first_err.and(mark_word_missing(log, n, word, mask));
        }
        self.len = 0;
        self.last = 0;
        first_err
    }
}

/// Where a ring's writes are logged: vhost logs the used ring at the `log_guest_addr` of
/// `VHOST_SET_VRING_ADDR` (with `VHOST_VRING_F_LOG`), which need not be the ring's IOVA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RingLog {
    /// The used ring's device address.
    pub used: u64,
    /// The used ring's bytes ([`used_ring_bytes`]).
    pub len: u64,
    /// Its guest address for the log.
    pub log_addr: u64,
}

/// Bytes of a split ring's used ring of `num` entries, `avail_event` included (the device
/// writes it with `VIRTIO_F_EVENT_IDX`): what vhost logs of it.
pub fn used_ring_bytes(num: u16) -> u64 {
    6 + 8 * u64::from(num)
}

impl RingLog {
    /// The pages to mark for a write of `len` bytes at device address `addr` that starts
    /// inside the used ring: the same offset from `log_addr`. `None` for an empty write, one
    /// that starts outside the ring, or one whose log address runs past 2^64.
    ///
    /// A write that starts in the ring and runs past its end (only a confused driver's
    /// buffers overlap its own used ring) is logged from `log_addr` on for its whole length,
    /// as vhost logs it.
    pub fn pages(&self, addr: u64, len: u64) -> Option<PageRange> {
        let off = addr.checked_sub(self.used)?;
        if off >= self.len {
            return None;
        }
        PageRange::of_write(self.log_addr.checked_add(off)?, len)
    }
}
