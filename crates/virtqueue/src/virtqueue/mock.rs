// SPDX-License-Identifier: GPL-2.0
//! Test-only driver side: memory backed by a vector, and a builder that lays
//! out and fills split rings in it the way a driver would.

use core::cell::{Cell, RefCell};
use core::ops::Range;
use std::vec;
use std::vec::Vec;

use super::chain::Desc;
use super::error::Error;
use super::mem::{GuestMemory, MemError};
use super::split::SplitQueue;
use super::{
    DESC_SIZE, MAX_INDIRECT_ENTRIES, USED_ELEM_SIZE, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT,
    VRING_DESC_F_WRITE,
};

/// Driver memory covering `[base, base + len)`; anything else is out of range.
pub struct MockMemory {
    base: u64,
    data: RefCell<Vec<u8>>,
    fences: Cell<u32>,
}

impl MockMemory {
    /// Memory covering `[base, base + len)`, zero-filled.
    pub fn new(base: u64, len: usize) -> Self {
        MockMemory {
            base,
            data: RefCell::new(vec![0; len]),
            fences: Cell::new(0),
        }
    }

    /// First valid address.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// One past the last valid address.
    pub fn end(&self) -> u64 {
        self.base + self.data.borrow().len() as u64
    }

    /// How many times `fence` was called.
    pub fn fences(&self) -> u32 {
        self.fences.get()
    }

    fn range(&self, addr: u64, len: usize) -> Result<Range<usize>, MemError> {
        let off = addr.checked_sub(self.base).ok_or(MemError::OutOfRange)?;
        let off = usize::try_from(off).map_err(|_| MemError::OutOfRange)?;
        let end = off.checked_add(len).ok_or(MemError::OutOfRange)?;
        if end > self.data.borrow().len() {
            return Err(MemError::OutOfRange);
        }
        Ok(off..end)
    }

    /// Bytes at `addr`, for checking what the device wrote.
    pub fn bytes(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut v = vec![0; len];
        self.read(addr, &mut v).expect("mock read in range");
        v
    }

    /// Stores `bytes` at `addr`, as the driver would.
    pub fn set_bytes(&self, addr: u64, bytes: &[u8]) {
        self.write(addr, bytes).expect("mock write in range");
    }
}

impl GuestMemory for MockMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.data.borrow()[r]);
        Ok(())
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let r = self.range(addr, buf.len())?;
        self.data.borrow_mut()[r].copy_from_slice(buf);
        Ok(())
    }

    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        self.read_u16(addr)
    }

    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        self.write_u16(addr, val)
    }

    fn fence(&self) {
        self.fences.set(self.fences.get() + 1);
    }
}

/// Driver view of one split queue laid out in a [`MockMemory`].
pub struct MockSplitQueue<'a> {
    mem: &'a MockMemory,
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
}

impl<'a> MockSplitQueue<'a> {
    /// Lays out a queue of `size` entries starting at `addr` (rounded up to
    /// 16), with the rings packed behind the descriptor table.
    pub fn new(mem: &'a MockMemory, addr: u64, size: u16) -> Self {
        let n = u64::from(size);
        let desc = addr.next_multiple_of(16);
        let avail = desc + DESC_SIZE * n;
        let used = (avail + 6 + 2 * n).next_multiple_of(4);
        MockSplitQueue {
            mem,
            size,
            desc,
            avail,
            used,
        }
    }

    /// The used ring's address.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// First address after the rings, for placing buffers.
    pub fn end(&self) -> u64 {
        self.used + 6 + USED_ELEM_SIZE * u64::from(self.size)
    }

    /// A device-side queue over this ring, as a device would build it from the driver's registers.
    pub fn queue(&self, event_idx: bool) -> SplitQueue {
        SplitQueue::new(self.size, self.desc, self.avail, self.used, event_idx)
            .expect("mock layout is valid")
    }

    /// Writes descriptor `i` of the table.
    pub fn set_desc(&self, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        write_desc(self.mem, self.desc, i, addr, len, flags, next);
    }

    /// Writes an indirect table at `table`; entries are
    /// `(addr, len, flags, next)`.
    pub fn set_indirect(&self, table: u64, entries: &[(u64, u32, u16, u16)]) {
        for (i, &(addr, len, flags, next)) in entries.iter().enumerate() {
            write_desc(self.mem, table, i as u16, addr, len, flags, next);
        }
    }

    /// The driver's available index.
    pub fn avail_idx(&self) -> u16 {
        self.mem.read_u16(self.avail + 2).unwrap()
    }

    /// Sets the driver's available index directly (to test jumps).
    pub fn set_avail_idx(&self, idx: u16) {
        self.mem.write_u16(self.avail + 2, idx).unwrap();
    }

    /// Puts `head` in the next available slot and bumps the index.
    pub fn add_avail(&self, head: u16) {
        let idx = self.avail_idx();
        let slot = u64::from(idx % self.size);
        self.mem.write_u16(self.avail + 4 + 2 * slot, head).unwrap();
        self.set_avail_idx(idx.wrapping_add(1));
    }

    /// Writes raw slot `slot` of the available ring without touching idx.
    pub fn set_avail_slot(&self, slot: u16, head: u16) {
        let at = self.avail + 4 + 2 * u64::from(slot);
        self.mem.write_u16(at, head).unwrap();
    }

    /// Sets the available ring's flags (`VRING_AVAIL_F_NO_INTERRUPT`).
    pub fn set_avail_flags(&self, flags: u16) {
        self.mem.write_u16(self.avail, flags).unwrap();
    }

    /// Sets `used_event` (read by the device with EVENT_IDX).
    pub fn set_used_event(&self, v: u16) {
        let at = self.avail + 4 + 2 * u64::from(self.size);
        self.mem.write_u16(at, v).unwrap();
    }

    /// The used ring's flags the device wrote.
    pub fn used_flags(&self) -> u16 {
        self.mem.read_u16(self.used).unwrap()
    }

    /// The used index the device published.
    pub fn used_idx(&self) -> u16 {
        self.mem.read_u16(self.used + 2).unwrap()
    }

    /// `(id, len)` of used entry `idx` (taken modulo the size).
    pub fn used_elem(&self, idx: u16) -> (u32, u32) {
        let at = self.used + 4 + USED_ELEM_SIZE * u64::from(idx % self.size);
        (
            self.mem.read_u32(at).unwrap(),
            self.mem.read_u32(at + 4).unwrap(),
        )
    }

    /// `avail_event` as the device wrote it (EVENT_IDX).
    pub fn avail_event(&self) -> u16 {
        let at = self.used + 4 + USED_ELEM_SIZE * u64::from(self.size);
        self.mem.read_u16(at).unwrap()
    }
}

fn write_desc(mem: &MockMemory, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&addr.to_le_bytes());
    raw[8..12].copy_from_slice(&len.to_le_bytes());
    raw[12..14].copy_from_slice(&flags.to_le_bytes());
    raw[14..].copy_from_slice(&next.to_le_bytes());
    mem.set_bytes(table + DESC_SIZE * u64::from(i), &raw);
}

/// The chain rules of the virtio spec (2.7.5, 2.7.5.3), written as a plain loop over a `Vec`
/// with 64-bit sums: the descriptors a walk of the chain at `head` returns, and how it ends.
///
/// The reference [`DescChain`](super::DescChain) is checked against, by the unit tests and by
/// the coverage-guided fuzz target (`fuzz/fuzz_targets/virtqueue_chain.rs`). It reads only
/// through [`GuestMemory::read`], as the walker does.
pub fn model_walk(
    mem: &MockMemory,
    table: u64,
    size: u16,
    head: u16,
) -> (Vec<Desc>, Result<(), Error>) {
    let mut out = Vec::new();
    let (mut tbl, mut entries, mut budget) = (table, u32::from(size), u32::from(size));
    let (mut idx, mut inside, mut seen_w, mut total) = (u32::from(head), false, false, 0u64);
    loop {
        if idx >= entries {
            return (out, Err(Error::DescIndexOutOfRange));
        }
        if budget == 0 {
            return (out, Err(Error::ChainLoop));
        }
        budget -= 1;
        let mut raw = [0u8; 16];
        if let Err(e) = mem.read(tbl + 16 * u64::from(idx), &mut raw) {
            return (out, Err(Error::Mem(e)));
        }
        let addr = u64::from_le_bytes(raw[0..8].try_into().unwrap_or_default());
        let len = u32::from_le_bytes(raw[8..12].try_into().unwrap_or_default());
        let flags = u16::from_le_bytes(raw[12..14].try_into().unwrap_or_default());
        let next = u16::from_le_bytes(raw[14..16].try_into().unwrap_or_default());
        let end = u128::from(addr) + u128::from(len);
        if flags & VRING_DESC_F_INDIRECT != 0 {
            let e = if inside {
                Error::NestedIndirect
            } else if flags & VRING_DESC_F_NEXT != 0 {
                Error::IndirectWithNext
            } else if len == 0 || len % 16 != 0 || len / 16 > MAX_INDIRECT_ENTRIES {
                Error::IndirectBadLength
            } else if end > u128::from(u64::MAX) {
                Error::LengthOverflow
            } else {
                (tbl, entries, budget, idx, inside) = (addr, len / 16, len / 16, 0, true);
                continue;
            };
            return (out, Err(e));
        }
        let writable = flags & VRING_DESC_F_WRITE != 0;
        if !writable && seen_w {
            return (out, Err(Error::ReadableAfterWritable));
        }
        total += u64::from(len);
        if end > u128::from(u64::MAX) || total > u64::from(u32::MAX) {
            return (out, Err(Error::LengthOverflow));
        }
        seen_w |= writable;
        out.push(Desc {
            addr,
            len,
            writable,
        });
        if flags & VRING_DESC_F_NEXT == 0 {
            return (out, Ok(()));
        }
        idx = u32::from(next);
    }
}

/// xorshift64: deterministic pseudo-random numbers for tests (garbage rings, payloads).
pub struct XorShift(pub u64);

impl XorShift {
    /// The next number; the seed must not be 0.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (which must not be 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
