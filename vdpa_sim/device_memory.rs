// SPDX-License-Identifier: GPL-2.0
//! The simulator's memory seam, for both personalities.
//!
//! A device address is either a DMA address (translation off: virtio_mdev, with dma-direct,
//! so a physical address) or an IOVA that the device's DMA table maps to pinned pages
//! (translation on: vhost_mdev). Either way the access ends up as page-bounded pieces of
//! physical memory, reached through [`RamPage`] (`kglue::ram`), which checks that each page is
//! RAM before it is touched, so a bad address from a driver reads as [`MemError::OutOfRange`]
//! instead of faulting. Values are copied, never borrowed: the driver writes the same memory
//! concurrently.
//!
//! The table is borrowed from the device state for one worker pass; the device changes it
//! only with its state locked for writing, which waits for every pass, so no mapping goes
//! away under an access.
//!
//! Each worker keeps a [`PageTlb`] of the pages it has resolved, so only the first access to
//! a page pays for the translation and the RAM check; a worker touches a few ring pages
//! and the buffers in flight thousands of times, and the same buffers come back pass after
//! pass. Pages the cache cannot hold (shared by several mappings, covered in part) take the
//! page-by-page path, which checks every piece as before. The cache lives as long as the
//! translations it holds: each address space counts the changes that remove mappings
//! ([`DmaSpace::epoch`]), and a pass that finds its cache filled at another count (or from
//! another address space) starts empty.

use super::iotlb::{self, perm, DmaTarget, Mapping, PageTlb, TlbSet};
use super::kglue::ram::RamPage;
use super::virtqueue::{GuestMemory, MemError};
use core::sync::atomic::{fence, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KVVec};

/// Address spaces of a device (the register map's `MAX_AS`): a DMA table and a page cache
/// each.
pub(crate) const MAX_AS: usize = super::vmdev_regs::MAX_AS as usize;

const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;

/// Sets (of two pages) of a datapath worker's cache: 512 pages, enough for the rings and
/// every buffer of two full rings of 256 frames of up to 1500 bytes (the selftest client's
/// and DPDK's layout: two buffers a page), so that a steady stream misses only on new
/// buffers. At 64 sets emptied every pass, every buffer page missed once a pass, and the
/// misses (a binary search of the DMA table, then the RAM check) were about a seventh of the
/// worker's time.
pub(crate) const DATAPATH_TLB_SETS: usize = 256;
/// Sets of a control worker's cache: a control queue's ring and a few command buffers.
pub(crate) const CONTROL_TLB_SETS: usize = 8;

/// Device page to the RAM page behind it.
type Pages = PageTlb<RamPage, KVVec<TlbSet<RamPage>>>;

/// Which table a worker's cache holds pages of: an address space, and how many times its
/// mappings had been removed or replaced when the cache was filled.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TlbTag {
    /// The address space.
    pub(crate) asid: u16,
    /// The address space's [`DmaSpace::epoch`].
    pub(crate) epoch: u64,
}

impl DmaSpace {
    /// Mappings in the table (none while translation is off).
    pub(crate) fn entries(&self) -> usize {
        self.table.as_ref().map_or(0, |t| t.len())
    }
}

/// One worker's page cache (16 KiB at [`DATAPATH_TLB_SETS`]). Each worker has its own, so
/// workers that run in parallel share no cache; each holds pages of one address space at a
/// time.
///
/// # Invariants
///
/// Every page in `pages` maps a whole page of RAM with the cached permission, as the DMA
/// table of address space `tag.asid` (or, with translation off, the physical address) said
/// at epoch `tag.epoch`.
pub(crate) struct DeviceTlb {
    pages: Pages,
    tag: TlbTag,
}

impl DeviceTlb {
    /// An empty cache of `sets` sets (a power of two).
    pub(crate) fn new(sets: usize) -> Result<Self, kernel::alloc::AllocError> {
        let sets = KVVec::from_elem(iotlb::empty_set(), sets, GFP_KERNEL)?;
        Ok(Self {
            pages: PageTlb::new(sets),
            tag: TlbTag::default(),
        })
    }
}

/// One address space of a device: its DMA table, and a count of the changes that make
/// cached translations wrong.
#[derive(Default)]
pub(crate) struct DmaSpace {
    /// `None` while translation is off.
    pub(crate) table: Option<DmaTable>,
    /// Bumped whenever a mapping is removed or replaced, or translation is switched on or
    /// off; adding a mapping needs none, since caches hold only pages that were mapped, and
    /// mappings never overlap.
    pub(crate) epoch: u64,
}

/// The device's DMA translation table.
pub(crate) type DmaTable = iotlb::Table<DmaTarget, KVVec<Mapping<DmaTarget>>>;

/// Driver memory as the device sees it for one pass.
///
/// # Invariants
///
/// Every page in `tlb` maps a whole page of RAM with the cached permission, as `dma` (or,
/// with translation off, the physical address) says; neither changes while the accessor
/// lives.
pub(crate) struct DeviceMemory<'a> {
    /// `None` while translation is off.
    dma: Option<&'a DmaTable>,
    /// Device page to the RAM page behind it.
    tlb: &'a Pages,
}

/// Bytes from `addr` to the end of its page.
#[inline(always)]
fn page_left(addr: u64) -> u64 {
    PAGE_SIZE - addr % PAGE_SIZE
}

/// The offset of `addr` in its page.
#[inline(always)]
fn page_off(addr: u64) -> usize {
    (addr % PAGE_SIZE) as usize
}

impl<'a> DeviceMemory<'a> {
    /// An accessor for one pass over address space `asid` of the device's `spaces`, caching
    /// in `tlb`, a worker's cache, which it empties first if it holds pages of another space
    /// or of an older epoch of this one. An address space past the end is address space 0, as
    /// every queue's is after a reset.
    pub(crate) fn new(spaces: &'a [DmaSpace; MAX_AS], asid: u16, tlb: &'a mut DeviceTlb) -> Self {
        let (asid, space) = match spaces.get(usize::from(asid)) {
            Some(space) => (asid, space),
            None => (0, &spaces[0]),
        };
        let tag = TlbTag {
            asid,
            epoch: space.epoch,
        };
        if tlb.tag != tag {
            tlb.pages.clear();
            tlb.tag = tag;
        }
        Self {
            dma: space.table.as_ref(),
            tlb: &tlb.pages,
        }
    }

    /// The RAM page behind device address `addr`, for an access `need`, if the whole page
    /// can be cached; `None` sends the caller to the page-by-page path, which decides.
    ///
    /// Inlined into every accessor: a hit is a compare, with no call (under TCG a call and
    /// its return cost more than the compare).
    #[inline(always)]
    fn fast(&self, addr: u64, need: u8) -> Option<RamPage> {
        if let Some((page, _off)) = self.tlb.get(addr, need) {
            return Some(page);
        }
        self.miss(addr, need)
    }

    /// [`Self::fast`] for a page the cache does not hold: translates and caches it.
    #[inline(never)]
    fn miss(&self, addr: u64, need: u8) -> Option<RamPage> {
        let page = addr & !(PAGE_SIZE - 1);
        let (phys, p) = match self.dma {
            None => (page, perm::READ_WRITE),
            Some(t) => t.translate_page(page)?,
        };
        if p & need != need {
            return None;
        }
        // SAFETY: the page a driver gave the device (see `ram`).
        let ram = unsafe { RamPage::at(phys) }?;
        self.tlb.insert(page, p, ram);
        Some(ram)
    }

    /// Calls `f(offset, phys, len)` for each page-bounded piece of physical
    /// `[addr, addr + len)`.
    fn for_each_page(
        addr: u64,
        len: u64,
        mut f: impl FnMut(u64, u64, u64) -> Result<(), MemError>,
    ) -> Result<(), MemError> {
        addr.checked_add(len).ok_or(MemError::OutOfRange)?;
        let mut done = 0;
        while done < len {
            let a = addr + done;
            let n = page_left(a).min(len - done);
            f(done, a, n)?;
            done += n;
        }
        Ok(())
    }

    /// Calls `f(offset, phys, len)` for each page-bounded physical piece of device range
    /// `[addr, addr + len)`, which the device accesses as `need` (`perm` bits).
    fn for_each_piece(
        &self,
        addr: u64,
        len: u64,
        need: u8,
        mut f: impl FnMut(u64, u64, u64) -> Result<(), MemError>,
    ) -> Result<(), MemError> {
        let Some(table) = self.dma else {
            return Self::for_each_page(addr, len, f);
        };
        table
            .translate(addr, len, need, |phys, n, off| {
                Self::for_each_page(phys, n, |off2, a, m| f(off + off2, a, m))
            })
            .map_err(|e| match e {
                iotlb::Error::Caller(e) => e,
                // Unmapped, refused by the mapping's permission, or wrapping: to the queue
                // all of these are a driver address the device cannot use.
                iotlb::Error::Translate(_) => MemError::OutOfRange,
            })
    }

    /// The RAM page of physical `phys`, which must be RAM.
    fn ram(phys: u64) -> Result<RamPage, MemError> {
        // SAFETY: the device reaches the pages its driver gave it, as DMA would: with
        // translation off (virtio_mdev), the DMA addresses the kernel's virtio core mapped for
        // its rings and buffers; with translation on (vhost_mdev), only pages vhost_mdev pinned
        // and entered in the DMA table, which this device state cannot outlive.
        unsafe { RamPage::at(phys) }.ok_or(MemError::OutOfRange)
    }

    /// The RAM page and offset of the 2-byte ring index at device address `addr`.
    #[inline]
    fn index_at(&self, addr: u64, need: u8) -> Result<(RamPage, usize), MemError> {
        if addr % 2 != 0 {
            return Err(MemError::Fault);
        }
        // Aligned, so both bytes are in the page.
        if let Some(p) = self.fast(addr, need) {
            return Ok((p, page_off(addr)));
        }
        let mut out = Err(MemError::OutOfRange);
        // An aligned u16 never crosses a page or a mapping, so there is one piece.
        self.for_each_piece(addr, 2, need, |_, a, n| {
            if n == 2 {
                out = Self::ram(a).map(|p| (p, page_off(a)));
            }
            Ok(())
        })?;
        out
    }

    /// [`GuestMemory::read`] of a range that is not all in one cached page: page by page
    /// through the cache while it hits, then through the table.
    #[inline(never)]
    fn read_pages(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let n = page_left(a).min((buf.len() - done) as u64) as usize;
            // Wrapping past the top of the address space goes to the slow path, which
            // refuses it.
            let Some(src) = self.fast(a, perm::READ).filter(|_| a >= addr) else {
                break;
            };
            if !src.read(page_off(a), &mut buf[done..done + n]) {
                return Err(MemError::OutOfRange);
            }
            done += n;
        }
        if done == buf.len() {
            return Ok(());
        }
        let buf = &mut buf[done..];
        let addr = addr.wrapping_add(done as u64);
        self.for_each_piece(addr, buf.len() as u64, perm::READ, |off, a, n| {
            let (off, n) = (off as usize, n as usize);
            match Self::ram(a)?.read(page_off(a), &mut buf[off..off + n]) {
                true => Ok(()),
                false => Err(MemError::OutOfRange),
            }
        })
    }

    /// [`GuestMemory::write`] of a range that is not all in one cached page.
    #[inline(never)]
    fn write_pages(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let n = page_left(a).min((buf.len() - done) as u64) as usize;
            let Some(dst) = self.fast(a, perm::WRITE).filter(|_| a >= addr) else {
                break;
            };
            if !dst.write(page_off(a), &buf[done..done + n]) {
                return Err(MemError::OutOfRange);
            }
            done += n;
        }
        if done == buf.len() {
            return Ok(());
        }
        let buf = &buf[done..];
        let addr = addr.wrapping_add(done as u64);
        self.for_each_piece(addr, buf.len() as u64, perm::WRITE, |off, a, n| {
            let (off, n) = (off as usize, n as usize);
            match Self::ram(a)?.write(page_off(a), &buf[off..off + n]) {
                true => Ok(()),
                false => Err(MemError::OutOfRange),
            }
        })
    }

    /// [`GuestMemory::copy`] of ranges that are not each in one cached page.
    #[inline(never)]
    fn copy_pages(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        let mut done = 0u64;
        while done < len {
            let (d, s) = (dst.wrapping_add(done), src.wrapping_add(done));
            let n = page_left(d).min(page_left(s)).min(len - done);
            let (Some(dp), Some(sp)) = (
                self.fast(d, perm::WRITE).filter(|_| d >= dst),
                self.fast(s, perm::READ).filter(|_| s >= src),
            ) else {
                break;
            };
            if !dp.copy_from(page_off(d), sp, page_off(s), n as usize) {
                return Err(MemError::OutOfRange);
            }
            done += n;
        }
        if done == len {
            return Ok(());
        }
        let (dst, src, len) = (dst.wrapping_add(done), src.wrapping_add(done), len - done);
        // Walk the destination by pages and, inside each piece, the source by pages.
        self.for_each_piece(dst, len, perm::WRITE, |off, d, n| {
            let d_page = Self::ram(d)?;
            let s_addr = src.checked_add(off).ok_or(MemError::OutOfRange)?;
            self.for_each_piece(s_addr, n, perm::READ, |off2, s, m| {
                let to = page_off(d) + off2 as usize;
                match d_page.copy_from(to, Self::ram(s)?, page_off(s), m as usize) {
                    true => Ok(()),
                    false => Err(MemError::OutOfRange),
                }
            })
        })
    }
}

impl GuestMemory for DeviceMemory<'_> {
    // The accessors are inlined into their callers with only the one-page hit in them:
    // ring entries, descriptors and headers are a few bytes of one cached page, whose copy,
    // of a length the caller knows, compiles to a few moves instead of a call to memcpy.
    // Everything else goes to the out-of-line page walks above.
    #[inline(always)]
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if page_left(addr) >= buf.len() as u64 {
            if let Some(src) = self.fast(addr, perm::READ) {
                if src.read(page_off(addr), buf) {
                    return Ok(());
                }
            }
        }
        self.read_pages(addr, buf)
    }

    #[inline(always)]
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        if page_left(addr) >= buf.len() as u64 {
            if let Some(dst) = self.fast(addr, perm::WRITE) {
                if dst.write(page_off(addr), buf) {
                    return Ok(());
                }
            }
        }
        self.write_pages(addr, buf)
    }

    #[inline(always)]
    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        if page_left(dst) >= len && page_left(src) >= len {
            if let (Some(dp), Some(sp)) = (self.fast(dst, perm::WRITE), self.fast(src, perm::READ))
            {
                if dp.copy_from(page_off(dst), sp, page_off(src), len as usize) {
                    return Ok(());
                }
            }
        }
        self.copy_pages(dst, src, len)
    }

    #[inline]
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        let (page, off) = self.index_at(addr, perm::READ)?;
        page.load_u16_acquire(off).ok_or(MemError::Fault)
    }

    #[inline]
    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        let (page, off) = self.index_at(addr, perm::WRITE)?;
        match page.store_u16_release(off, val) {
            true => Ok(()),
            false => Err(MemError::Fault),
        }
    }

    fn fence(&self) {
        fence(Ordering::SeqCst);
    }
}
