// SPDX-License-Identifier: GPL-2.0
//! Bounded, allocation-free walking of descriptor chains.

use super::error::Error;
use super::mem::GuestMemory;
use super::{
    DESC_SIZE, MAX_INDIRECT_ENTRIES, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};

/// One buffer of a descriptor chain, copied out of driver memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    /// Device address of the buffer.
    pub addr: u64,
    /// Length of the buffer in bytes; may be zero.
    pub len: u32,
    /// Whether the device may write the buffer (otherwise it may only read).
    pub writable: bool,
}

/// Total readable and writable bytes of a chain, from [`DescChain::lengths`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainLengths {
    /// Bytes in device-readable descriptors.
    pub readable: u32,
    /// Bytes in device-writable descriptors.
    pub writable: u32,
}

/// A descriptor chain taken from the available ring, walked lazily.
///
/// The walker holds only positions, never driver data, so it is cheap to
/// clone: a clone walks the same chain again (e.g. to measure it first).
/// Because the driver may rewrite descriptors at any time, a second walk is
/// not guaranteed to see what the first one saw; it is still validated.
///
/// The walk is bounded: at most `queue size` descriptors in the main table
/// plus at most the entry count of one indirect table. After an error every
/// further call returns that error again.
#[derive(Debug, Clone)]
pub struct DescChain {
    head: u16,
    queue_size: u16,
    // Table currently walked: the descriptor table, or the indirect table.
    table: u64,
    table_entries: u32,
    indirect: bool,
    next: Option<u16>,
    // Descriptors left before the walk of the current table counts as a loop.
    ttl: u32,
    seen_writable: bool,
    total_len: u32,
    error: Option<Error>,
    // The head descriptor as first read, kept so that measuring a chain and then walking it
    // read it once, and both walks see the same copy even if the driver rewrites it.
    head_raw: Option<[u8; 16]>,
}

impl DescChain {
    pub(super) fn new(desc_table: u64, queue_size: u16, head: u16) -> Self {
        DescChain {
            head,
            queue_size,
            table: desc_table,
            table_entries: u32::from(queue_size),
            indirect: false,
            next: Some(head),
            ttl: u32::from(queue_size),
            seen_writable: false,
            total_len: 0,
            error: None,
            head_raw: None,
        }
    }

    /// Index of the chain's head descriptor, which identifies the chain in
    /// the used ring.
    pub fn head(&self) -> u16 {
        self.head
    }

    /// Size of the queue the chain came from.
    pub fn queue_size(&self) -> u16 {
        self.queue_size
    }

    /// Whether the walk is currently inside an indirect table.
    pub fn is_indirect(&self) -> bool {
        self.indirect
    }

    /// Returns the next descriptor, or `Ok(None)` at the end of the chain.
    ///
    /// Zero-length descriptors are returned like any other (with `len` 0)
    /// and count against the loop bound. Descriptors pointing to an indirect
    /// table are followed, not returned.
    #[inline]
    pub fn next_desc<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<Option<Desc>, Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let r = self.step(mem);
        if let Err(e) = r {
            self.error = Some(e);
            self.next = None;
        }
        r
    }

    #[inline]
    fn step<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<Option<Desc>, Error> {
        // At most two iterations: one may switch into the indirect table.
        loop {
            let Some(idx) = self.next else {
                return Ok(None);
            };
            if u32::from(idx) >= self.table_entries {
                return Err(Error::DescIndexOutOfRange);
            }
            if self.ttl == 0 {
                return Err(Error::ChainLoop);
            }
            self.ttl -= 1;

            let is_head = idx == self.head && !self.indirect;
            let raw = match self.head_raw {
                Some(raw) if is_head => raw,
                _ => {
                    // The table was checked not to wrap, and idx < entries.
                    let at = self.table.wrapping_add(DESC_SIZE * u64::from(idx));
                    let mut raw = [0u8; 16];
                    mem.read(at, &mut raw)?;
                    if is_head {
                        self.head_raw = Some(raw);
                    }
                    raw
                }
            };
            let [a0, a1, a2, a3, a4, a5, a6, a7, l0, l1, l2, l3, f0, f1, n0, n1] = raw;
            let addr = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
            let len = u32::from_le_bytes([l0, l1, l2, l3]);
            let flags = u16::from_le_bytes([f0, f1]);
            let next = u16::from_le_bytes([n0, n1]);

            if flags & VRING_DESC_F_INDIRECT != 0 {
                if self.indirect {
                    return Err(Error::NestedIndirect);
                }
                if flags & VRING_DESC_F_NEXT != 0 {
                    return Err(Error::IndirectWithNext);
                }
                let entries = len / DESC_SIZE as u32;
                if len == 0 || len & (DESC_SIZE as u32 - 1) != 0 || entries > MAX_INDIRECT_ENTRIES {
                    return Err(Error::IndirectBadLength);
                }
                if addr.checked_add(u64::from(len)).is_none() {
                    return Err(Error::LengthOverflow);
                }
                // The WRITE flag of the table descriptor itself is ignored,
                // as the spec requires.
                self.table = addr;
                self.table_entries = entries;
                self.indirect = true;
                self.ttl = entries;
                self.next = Some(0);
                continue;
            }

            let writable = flags & VRING_DESC_F_WRITE != 0;
            if !writable && self.seen_writable {
                return Err(Error::ReadableAfterWritable);
            }
            if addr.checked_add(u64::from(len)).is_none() {
                return Err(Error::LengthOverflow);
            }
            self.total_len = self
                .total_len
                .checked_add(len)
                .ok_or(Error::LengthOverflow)?;
            self.seen_writable |= writable;
            self.next = if flags & VRING_DESC_F_NEXT != 0 {
                Some(next)
            } else {
                None
            };
            return Ok(Some(Desc {
                addr,
                len,
                writable,
            }));
        }
    }

    /// Walks a copy of the chain to the end and sums its readable and
    /// writable bytes, validating every descriptor on the way.
    ///
    /// The chain keeps the head descriptor this walk read, so a later walk
    /// (a [`Reader`] or [`Writer`] made from it) does not read it again and
    /// sees the same values; the rest of the chain is read again.
    pub fn lengths<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<ChainLengths, Error> {
        let mut walk = self.clone();
        let r = Self::sum(&mut walk, mem);
        if self.head_raw.is_none() {
            self.head_raw = walk.head_raw;
        }
        r
    }

    fn sum<M: GuestMemory + ?Sized>(walk: &mut DescChain, mem: &M) -> Result<ChainLengths, Error> {
        let mut lens = ChainLengths::default();
        while let Some(d) = walk.next_desc(mem)? {
            // The walk already bounds the total by u32::MAX; checked anyway
            // so that no overflow path exists.
            let sum = if d.writable {
                &mut lens.writable
            } else {
                &mut lens.readable
            };
            *sum = sum.checked_add(d.len).ok_or(Error::LengthOverflow)?;
        }
        Ok(lens)
    }
}

/// One non-empty buffer of a gathered chain: where it is and how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// Device address of the buffer.
    pub addr: u64,
    /// Length in bytes, never zero.
    pub len: u32,
}

/// The buffers of one side (readable or writable) of a short chain, copied
/// out in one walk: at most `N` of them, zero-length descriptors left out.
///
/// This is the device's iovec. A chain of a few buffers, which is what
/// drivers post for network frames, is then read, written and copied
/// without walking its descriptors again; longer chains go through
/// [`Reader`] and [`Writer`].
#[derive(Debug, Clone, Copy)]
pub struct Spans<const N: usize> {
    spans: [Span; N],
    count: usize,
    bytes: u32,
}

impl<const N: usize> Default for Spans<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Spans<N> {
    /// No buffers.
    pub const fn new() -> Self {
        Spans {
            spans: [Span { addr: 0, len: 0 }; N],
            count: 0,
            bytes: 0,
        }
    }

    /// The buffers, in chain order.
    #[inline]
    pub fn as_slice(&self) -> &[Span] {
        self.spans.get(..self.count).unwrap_or(&[])
    }

    /// Total bytes of the buffers.
    #[inline]
    pub fn bytes(&self) -> u32 {
        self.bytes
    }

    // Appends a buffer; false if all `N` slots are taken.
    #[inline]
    fn push(&mut self, addr: u64, len: u32) -> bool {
        match self.spans.get_mut(self.count) {
            Some(s) => {
                *s = Span { addr, len };
                // `count < N`: the slot exists.
                self.count = self.count.wrapping_add(1);
                // The chain walk bounds the chain's total to u32.
                self.bytes = self.bytes.wrapping_add(len);
                true
            }
            None => false,
        }
    }

    /// Calls `f(buffer offset, address, length)` for each piece of the
    /// byte range `[off, off + len)` of the buffers, in order.
    ///
    /// Fails with [`Error::BufferTooShort`], before calling `f`, if the
    /// buffers hold fewer than `off + len` bytes.
    #[inline]
    pub fn for_each_piece(
        &self,
        off: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, u64) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match off.checked_add(len) {
            Some(end) if end <= u64::from(self.bytes) => {}
            _ => return Err(Error::BufferTooShort),
        }
        let (mut skip, mut done) = (off, 0u64);
        for s in self.as_slice() {
            if done == len {
                break;
            }
            let slen = u64::from(s.len);
            if skip >= slen {
                skip -= slen;
                continue;
            }
            let n = (slen - skip).min(len - done);
            // `skip + n <= len` of a buffer the walk checked not to wrap.
            f(done, s.addr.wrapping_add(skip), n)?;
            done += n;
            skip = 0;
        }
        Ok(())
    }

    /// Copies `buf.len()` bytes starting `off` bytes into the buffers out of
    /// driver memory.
    #[inline]
    pub fn read_at<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        off: u64,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let dst = buf;
        self.for_each_piece(off, dst.len() as u64, |at, addr, n| {
            // `for_each_piece` keeps `at + n` within `dst.len()`.
            let piece = dst
                .get_mut(at as usize..(at + n) as usize)
                .ok_or(Error::BufferTooShort)?;
            mem.read(addr, piece).map_err(Error::from)
        })
    }

    /// Copies `buf` into the buffers, starting `off` bytes in.
    #[inline]
    pub fn write_at<M: GuestMemory + ?Sized>(
        &self,
        mem: &M,
        off: u64,
        buf: &[u8],
    ) -> Result<(), Error> {
        self.for_each_piece(off, buf.len() as u64, |at, addr, n| {
            let piece = buf
                .get(at as usize..(at + n) as usize)
                .ok_or(Error::BufferTooShort)?;
            mem.write(addr, piece).map_err(Error::from)
        })
    }
}

impl DescChain {
    /// Walks a copy of the chain to the end, validating every descriptor as
    /// [`DescChain::lengths`] does, and collects into `out` the buffers of one
    /// side (`writable` or readable) if it has at most `N` that are not empty.
    /// Descriptors of the other side are checked and passed over, as a
    /// [`Reader`] or [`Writer`] does.
    ///
    /// `Ok(false)` means that side is longer (`out` then holds its first
    /// buffers, and the chain is not known to be valid); a [`Reader`] or
    /// [`Writer`] over the chain walks and checks it. The chain keeps the head
    /// descriptor this walk read, as with `lengths`.
    ///
    /// `out` is the caller's so that a loop over many chains fills the same
    /// one instead of building and returning a new one per chain.
    #[inline]
    pub fn gather<M: GuestMemory + ?Sized, const N: usize>(
        &mut self,
        mem: &M,
        writable: bool,
        out: &mut Spans<N>,
    ) -> Result<bool, Error> {
        out.count = 0;
        out.bytes = 0;
        let mut walk = self.clone();
        let r = loop {
            // The walk is a copy that is dropped: `step` need not make errors sticky.
            match walk.step(mem) {
                Ok(Some(d)) => {
                    if d.len != 0 && d.writable == writable && !out.push(d.addr, d.len) {
                        break Ok(false);
                    }
                }
                Ok(None) => break Ok(true),
                Err(e) => break Err(e),
            }
        };
        if self.head_raw.is_none() {
            self.head_raw = walk.head_raw;
        }
        r
    }
}

// Shared walking logic of Reader and Writer; `writable` selects the side.
#[derive(Debug, Clone)]
struct Cursor {
    chain: DescChain,
    writable: bool,
    addr: u64,
    left: u32,
    consumed: u64,
    done: bool,
}

impl Cursor {
    fn new(chain: DescChain, writable: bool) -> Self {
        Cursor {
            chain,
            writable,
            addr: 0,
            left: 0,
            consumed: 0,
            done: false,
        }
    }

    // Makes `left` non-zero, or returns false at the end of this side.
    #[inline]
    fn fill<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<bool, Error> {
        while self.left == 0 {
            if self.done {
                return Ok(false);
            }
            match self.chain.next_desc(mem)? {
                None => self.done = true,
                Some(d) if d.writable != self.writable => {
                    if self.writable {
                        // Readable prefix of a chain handed to a Writer.
                        continue;
                    }
                    // End of the readable part. Walk the rest so a readable
                    // descriptor after a writable one is reported rather than
                    // silently ignored; the walk is bounded.
                    while self.chain.next_desc(mem)?.is_some() {}
                    self.done = true;
                }
                Some(d) => {
                    self.addr = d.addr;
                    self.left = d.len;
                }
            }
        }
        Ok(true)
    }

    #[inline]
    fn next_span<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        max: u64,
    ) -> Result<Option<(u64, u64)>, Error> {
        if !self.fill(mem)? {
            return Ok(None);
        }
        let n = core::cmp::min(u64::from(self.left), max);
        let addr = self.addr;
        // n <= left, and addr + left was checked not to wrap.
        self.addr = self.addr.wrapping_add(n);
        self.left -= n as u32;
        self.consumed = self.consumed.wrapping_add(n);
        Ok(Some((addr, n)))
    }

    fn skip<M: GuestMemory + ?Sized>(&mut self, mem: &M, n: u64) -> Result<u64, Error> {
        let mut done = 0;
        while done < n {
            match self.next_span(mem, n - done)? {
                Some((_, len)) => done += len,
                None => break,
            }
        }
        Ok(done)
    }
}

/// Walks the device-readable descriptors of a chain as a byte stream.
///
/// It ends at the first writable descriptor; the rest of the chain is then
/// still walked to reject a readable descriptor after a writable one
/// ([`Error::ReadableAfterWritable`]). Zero-length descriptors are skipped.
#[derive(Debug, Clone)]
pub struct Reader {
    cur: Cursor,
}

impl Reader {
    /// Creates a reader positioned at the start of `chain`.
    pub fn new(chain: DescChain) -> Self {
        Reader {
            cur: Cursor::new(chain, false),
        }
    }

    /// Returns up to `max` contiguous readable bytes at the current position
    /// as `(address, length)` and moves past them, or `Ok(None)` when no
    /// readable bytes are left. The span never crosses a descriptor, so a
    /// non-zero `max` always yields a non-zero length.
    pub fn next_span<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        max: u64,
    ) -> Result<Option<(u64, u64)>, Error> {
        self.cur.next_span(mem, max)
    }

    /// Fills `buf` from the chain, or fails with [`Error::BufferTooShort`]
    /// (after consuming what was there) if the chain holds fewer bytes.
    pub fn read_exact<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        buf: &mut [u8],
    ) -> Result<(), Error> {
        let mut rest = buf;
        while !rest.is_empty() {
            let Some((addr, n)) = self.cur.next_span(mem, rest.len() as u64)? else {
                return Err(Error::BufferTooShort);
            };
            // n <= rest.len(), so it fits in usize and the split cannot fail.
            let (now, later) = rest.split_at_mut(n as usize);
            mem.read(addr, now)?;
            rest = later;
        }
        Ok(())
    }

    /// Moves past up to `n` readable bytes; returns how many were skipped.
    pub fn skip<M: GuestMemory + ?Sized>(&mut self, mem: &M, n: u64) -> Result<u64, Error> {
        self.cur.skip(mem, n)
    }

    /// Bytes consumed so far.
    pub fn consumed(&self) -> u64 {
        self.cur.consumed
    }

    /// Head index of the underlying chain.
    pub fn head(&self) -> u16 {
        self.cur.chain.head()
    }
}

/// Walks the device-writable descriptors of a chain as a byte stream.
///
/// A readable prefix is skipped (a chain may carry a request before its
/// reply buffers); a readable descriptor after a writable one fails with
/// [`Error::ReadableAfterWritable`]. Zero-length descriptors are skipped.
#[derive(Debug, Clone)]
pub struct Writer {
    cur: Cursor,
}

impl Writer {
    /// Creates a writer positioned at the first writable byte of `chain`.
    pub fn new(chain: DescChain) -> Self {
        Writer {
            cur: Cursor::new(chain, true),
        }
    }

    /// Returns up to `max` contiguous writable bytes at the current position
    /// as `(address, length)` and moves past them, or `Ok(None)` when no
    /// writable bytes are left. The span never crosses a descriptor, so a
    /// non-zero `max` always yields a non-zero length.
    pub fn next_span<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        max: u64,
    ) -> Result<Option<(u64, u64)>, Error> {
        self.cur.next_span(mem, max)
    }

    /// Writes all of `buf` into the chain, or fails with
    /// [`Error::BufferTooShort`] (after writing what fitted) if the chain
    /// has less room.
    pub fn write_all<M: GuestMemory + ?Sized>(&mut self, mem: &M, buf: &[u8]) -> Result<(), Error> {
        let mut rest = buf;
        while !rest.is_empty() {
            let Some((addr, n)) = self.cur.next_span(mem, rest.len() as u64)? else {
                return Err(Error::BufferTooShort);
            };
            // n <= rest.len(), so it fits in usize and the split cannot fail.
            let (now, later) = rest.split_at(n as usize);
            mem.write(addr, now)?;
            rest = later;
        }
        Ok(())
    }

    /// Moves past up to `n` writable bytes without writing them; returns how
    /// many were skipped.
    pub fn skip<M: GuestMemory + ?Sized>(&mut self, mem: &M, n: u64) -> Result<u64, Error> {
        self.cur.skip(mem, n)
    }

    /// Bytes consumed (written or skipped) so far.
    pub fn consumed(&self) -> u64 {
        self.cur.consumed
    }

    /// Head index of the underlying chain.
    pub fn head(&self) -> u16 {
        self.cur.chain.head()
    }
}
