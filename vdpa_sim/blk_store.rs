// SPDX-License-Identifier: GPL-2.0
//! The block class's backing store: RAM, a page at a time as the driver writes it.
//!
//! A page no one has written (or that a discard gave back) is not allocated and reads as
//! zeroes, so an instance costs the memory of what was written to it, not its capacity.
//! Several request queues use the store at once: reads share it, and everything that
//! changes it (a write, a discard, a new capacity) has it alone, so no copy into a page
//! races with another access to it. Pages are plain heap memory; driver memory is reached
//! only through the queue's `GuestMemory`.

use super::blksim::{Disk, DiskError};
use super::kglue::ram::zeroed_page;
use super::kglue::rwsem::RwSem;
use super::virtqueue::GuestMemory;
use kernel::alloc::KVVec;
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;

/// The largest capacity an instance may have, in bytes (a table entry per page).
pub(crate) const MAX_BYTES: u64 = 4 << 30;

type Block = KBox<[u8; PAGE_SIZE]>;

/// What a read of a page no one wrote returns.
static ZEROES: [u8; PAGE_SIZE] = [0; PAGE_SIZE];

/// The pages of a disk: one slot per page of capacity.
struct Pages {
    slots: KVVec<Option<Block>>,
    /// Pages allocated now.
    allocated: u64,
}

/// A disk in RAM.
#[pin_data]
pub(crate) struct RamDisk {
    #[pin]
    pages: RwSem<Pages>,
}

/// Calls `f(page, offset in the page, offset in the range, length)` for each piece of the
/// byte range `[off, off + len)` that lies in one page.
fn for_each_page(
    off: u64,
    len: u64,
    mut f: impl FnMut(usize, usize, u64, usize) -> Result<(), DiskError>,
) -> Result<(), DiskError> {
    let page = PAGE_SIZE as u64;
    let mut done = 0u64;
    while done < len {
        let at = off + done;
        let in_page = (at % page) as usize;
        let n = (page - at % page).min(len - done);
        f((at / page) as usize, in_page, done, n as usize)?;
        done += n;
    }
    Ok(())
}

impl RamDisk {
    /// An empty disk of `bytes` (a multiple of the sector size, at most [`MAX_BYTES`]).
    pub(crate) fn new(bytes: u64) -> Result<Pin<KBox<Self>>> {
        let slots = Self::slots(bytes)?;
        KBox::pin_init(
            pin_init!(RamDisk {
                pages <- crate::new_rwsem!(Pages { slots, allocated: 0 }, "vmdev_sim::blk_pages"),
            }),
            GFP_KERNEL,
        )
    }

    fn slots(bytes: u64) -> Result<KVVec<Option<Block>>> {
        if bytes > MAX_BYTES {
            return Err(EINVAL);
        }
        let n = bytes.div_ceil(PAGE_SIZE as u64) as usize;
        let mut slots = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            slots.push(None, GFP_KERNEL)?;
        }
        Ok(slots)
    }

    /// Gives the disk a capacity of `bytes`, keeping what is written below it; the caller
    /// makes sure no request runs (the device is reset).
    pub(crate) fn resize(&self, bytes: u64) -> Result {
        let mut slots = Self::slots(bytes)?;
        let mut p = self.pages.write();
        let mut allocated = 0;
        for (new, old) in slots.iter_mut().zip(p.slots.iter_mut()) {
            *new = old.take();
            allocated += u64::from(new.is_some());
        }
        // A capacity that ends inside a page keeps that page: what lay past the end must not
        // come back if the disk grows again.
        let tail = (bytes % PAGE_SIZE as u64) as usize;
        if let Some(Some(last)) = slots.last_mut().filter(|_| tail != 0) {
            last[tail..].fill(0);
        }
        // The old table, and the pages past the new end with it, are freed here.
        p.slots = slots;
        p.allocated = allocated;
        Ok(())
    }

    /// Bytes of RAM the written pages take.
    pub(crate) fn allocated_bytes(&self) -> u64 {
        self.pages.read().allocated * PAGE_SIZE as u64
    }
}

impl Disk for RamDisk {
    fn read_to<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError> {
        let p = self.pages.read();
        for_each_page(off, len, |page, in_page, done, n| {
            let src = match p.slots.get(page) {
                Some(Some(b)) => &b[..],
                Some(None) => &ZEROES[..],
                None => return Err(DiskError::NoSpace),
            };
            let src = src.get(in_page..in_page + n).ok_or(DiskError::NoSpace)?;
            mem.write(addr + done, src).map_err(DiskError::Mem)
        })
    }

    fn write_from<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError> {
        let mut p = self.pages.write();
        let Pages { slots, allocated } = &mut *p;
        for_each_page(off, len, |page, in_page, done, n| {
            let slot = slots.get_mut(page).ok_or(DiskError::NoSpace)?;
            if slot.is_none() {
                *slot = Some(zeroed_page().map_err(|_| DiskError::NoSpace)?);
                *allocated += 1;
            }
            let dst = slot
                .as_mut()
                .and_then(|b| b.get_mut(in_page..in_page + n))
                .ok_or(DiskError::NoSpace)?;
            mem.read(addr + done, dst).map_err(DiskError::Mem)
        })
    }

    fn zero(&self, off: u64, len: u64, unmap: bool) -> Result<(), DiskError> {
        let mut p = self.pages.write();
        let Pages { slots, allocated } = &mut *p;
        for_each_page(off, len, |page, in_page, _, n| {
            let slot = slots.get_mut(page).ok_or(DiskError::NoSpace)?;
            if unmap && n == PAGE_SIZE {
                if slot.take().is_some() {
                    *allocated -= 1;
                }
            } else if let Some(b) = slot.as_mut() {
                b.get_mut(in_page..in_page + n)
                    .ok_or(DiskError::NoSpace)?
                    .fill(0);
            }
            Ok(())
        })
    }
}
