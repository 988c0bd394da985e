// SPDX-License-Identifier: GPL-2.0
//! The simulator's memory seam, for both personalities.
//!
//! A device address is either a DMA address (translation off: virtio_mdev, with dma-direct,
//! so a physical address) or an IOVA that the device's DMA table maps to pinned pages
//! (translation on: vhost_mdev). Either way the access ends up as page-bounded pieces of
//! physical memory, and every page is checked to be RAM before it is touched, so a bad
//! address from a driver reads as [`MemError::OutOfRange`] instead of faulting. Values are
//! copied, never borrowed: the driver writes the same memory concurrently.
//!
//! The table is borrowed from the device state for one worker pass; the device changes it
//! only with its state locked, so no mapping goes away under an access.
//!
//! Each device keeps a [`PageTlb`] of the pages it has resolved, so only the first access to
//! a page pays for the translation and the RAM check; the worker touches a few ring pages
//! and the buffers in flight thousands of times, and the same buffers come back pass after
//! pass. Pages the cache cannot hold (shared by several mappings, covered in part) take the
//! page-by-page path, which checks every piece as before. The cache lives as long as the
//! translations it holds: the device invalidates it whenever a mapping goes away
//! ([`DeviceTlb::invalidate`]), and the next pass starts empty.

use super::iotlb::{self, perm, DmaTarget, Mapping, PageTlb, TlbSet};
use super::sys;
use super::virtqueue::{GuestMemory, MemError};
use core::sync::atomic::{fence, Ordering};
use kernel::alloc::{flags::GFP_KERNEL, KVVec};

const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;

/// Sets (of two pages) the cache has: 512 pages, enough for the rings and every buffer of
/// two full rings of 256 frames of up to 1500 bytes (the selftest client's and DPDK's
/// layout: two buffers a page), so that a steady stream misses only on new buffers. At 64
/// sets emptied every pass, every buffer page missed once a pass, and the misses (a binary
/// search of the DMA table, then the RAM check) were about a seventh of the worker's time.
const TLB_SETS: usize = 256;

/// Device page to the kernel address of the page.
type Pages = PageTlb<*mut u8, KVVec<TlbSet<*mut u8>>>;

/// The device's page cache (16 KiB, allocated with the device).
///
/// # Invariants
///
/// Unless `stale`, every page in `pages` maps a whole page of RAM with the cached
/// permission, as the device's DMA table (or, with translation off, the physical address)
/// says now.
pub(crate) struct DeviceTlb {
    pages: Pages,
    stale: bool,
}

impl DeviceTlb {
    /// An empty cache.
    pub(crate) fn new() -> Result<Self, kernel::alloc::AllocError> {
        let sets = KVVec::from_elem(iotlb::empty_set(), TLB_SETS, GFP_KERNEL)?;
        Ok(Self {
            pages: PageTlb::new(sets),
            stale: false,
        })
    }

    /// Forgets every page before the next access: a mapping was removed or replaced, or
    /// translation was switched on or off. Adding a mapping needs none, since the cache
    /// holds only pages that were mapped, and mappings never overlap.
    pub(crate) fn invalidate(&mut self) {
        self.stale = true;
    }
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
    /// Device page to the kernel address of the page.
    tlb: &'a Pages,
}

impl<'a> DeviceMemory<'a> {
    /// An accessor for one pass over `dma`, the device's table, caching in `tlb`, the
    /// device's cache, which it empties first if it is stale.
    pub(crate) fn new(dma: Option<&'a DmaTable>, tlb: &'a mut DeviceTlb) -> Self {
        if tlb.stale {
            tlb.pages.clear();
            tlb.stale = false;
        }
        Self {
            dma,
            tlb: &tlb.pages,
        }
    }

    /// The kernel address of device address `addr`, valid up to the end of its page for an
    /// access `need`, if the whole page can be cached; `None` sends the caller to the
    /// page-by-page path, which decides.
    ///
    /// Inlined into every accessor: a hit is a compare and an add, with no call (under TCG a
    /// call and its return cost more than the compare).
    #[inline(always)]
    fn fast(&self, addr: u64, need: u8) -> Option<*mut u8> {
        if let Some((base, off)) = self.tlb.get(addr, need) {
            // SAFETY: `base` maps a whole page (type invariant) and `off < PAGE_SIZE`.
            return Some(unsafe { base.add(off as usize) });
        }
        self.miss(addr, need)
    }

    /// [`Self::fast`] for a page the cache does not hold: translates and caches it.
    #[inline(never)]
    fn miss(&self, addr: u64, need: u8) -> Option<*mut u8> {
        let page = addr & !(PAGE_SIZE - 1);
        let (phys, p) = match self.dma {
            None => (page, perm::READ_WRITE),
            Some(t) => t.translate_page(page)?,
        };
        if p & need != need {
            return None;
        }
        let base = Self::map(phys, PAGE_SIZE).ok()?;
        self.tlb.insert(page, p, base);
        // SAFETY: as above.
        Some(unsafe { base.add((addr - page) as usize) })
    }

    /// Bytes from `addr` to the end of its page.
    #[inline]
    fn page_left(addr: u64) -> u64 {
        PAGE_SIZE - addr % PAGE_SIZE
    }

    /// The kernel address of `len` bytes at physical `addr`, which must not cross a page.
    fn map(addr: u64, len: u64) -> Result<*mut u8, MemError> {
        debug_assert!(len <= PAGE_SIZE - addr % PAGE_SIZE);
        // SAFETY: the helper checks that a struct page backs `addr` before computing its
        // direct-map address; it dereferences nothing.
        let p = unsafe { sys::vmdev_helper_phys_to_virt(addr) };
        if p.is_null() {
            Err(MemError::OutOfRange)
        } else {
            Ok(p.cast())
        }
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
            let n = (PAGE_SIZE - a % PAGE_SIZE).min(len - done);
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

    /// The kernel address of the 2-byte ring index at device address `addr`.
    #[inline]
    fn map_index(&self, addr: u64, need: u8) -> Result<*mut u16, MemError> {
        if addr % 2 != 0 {
            return Err(MemError::Fault);
        }
        // Aligned, so both bytes are in the page `fast` returns.
        if let Some(p) = self.fast(addr, need) {
            return Ok(p.cast());
        }
        let mut out = Err(MemError::OutOfRange);
        // An aligned u16 never crosses a page or a mapping, so there is one piece.
        self.for_each_piece(addr, 2, need, |_, a, n| {
            if n == 2 {
                out = Self::map(a, 2).map(|p| p.cast());
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
            let n = Self::page_left(a).min((buf.len() - done) as u64) as usize;
            // Wrapping past the top of the address space goes to the slow path, which
            // refuses it.
            let Some(src) = self.fast(a, perm::READ).filter(|_| a >= addr) else {
                break;
            };
            // SAFETY: `src` has `n` bytes left in its page of RAM; `buf` has `n` bytes at
            // `done`, and is ours, so the two do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr().add(done), n) };
            done += n;
        }
        if done == buf.len() {
            return Ok(());
        }
        let buf = &mut buf[done..];
        let addr = addr.wrapping_add(done as u64);
        let dst = buf.as_mut_ptr();
        self.for_each_piece(addr, buf.len() as u64, perm::READ, |off, a, n| {
            let src = Self::map(a, n)?;
            // SAFETY: `src` maps `n` bytes of RAM inside one page; `dst + off` has `n` bytes
            // left in `buf`. The regions cannot overlap (`buf` is ours).
            unsafe { core::ptr::copy_nonoverlapping(src, dst.add(off as usize), n as usize) };
            Ok(())
        })
    }

    /// [`GuestMemory::write`] of a range that is not all in one cached page.
    #[inline(never)]
    fn write_pages(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let mut done = 0usize;
        while done < buf.len() {
            let a = addr.wrapping_add(done as u64);
            let n = Self::page_left(a).min((buf.len() - done) as u64) as usize;
            let Some(dst) = self.fast(a, perm::WRITE).filter(|_| a >= addr) else {
                break;
            };
            // SAFETY: as in `read`, with the roles swapped.
            unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr().add(done), dst, n) };
            done += n;
        }
        if done == buf.len() {
            return Ok(());
        }
        let buf = &buf[done..];
        let addr = addr.wrapping_add(done as u64);
        let src = buf.as_ptr();
        self.for_each_piece(addr, buf.len() as u64, perm::WRITE, |off, a, n| {
            let dst = Self::map(a, n)?;
            // SAFETY: as in `read`, with the roles swapped.
            unsafe { core::ptr::copy_nonoverlapping(src.add(off as usize), dst, n as usize) };
            Ok(())
        })
    }

    /// [`GuestMemory::copy`] of ranges that are not each in one cached page.
    #[inline(never)]
    fn copy_pages(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        let mut done = 0u64;
        while done < len {
            let (d, s) = (dst.wrapping_add(done), src.wrapping_add(done));
            let n = Self::page_left(d).min(Self::page_left(s)).min(len - done);
            let (Some(dp), Some(sp)) = (
                self.fast(d, perm::WRITE).filter(|_| d >= dst),
                self.fast(s, perm::READ).filter(|_| s >= src),
            ) else {
                break;
            };
            // SAFETY: both have `n` bytes left in their page of RAM.
            unsafe { copy_ram(sp, dp, n as usize) };
            done += n;
        }
        if done == len {
            return Ok(());
        }
        let (dst, src, len) = (dst.wrapping_add(done), src.wrapping_add(done), len - done);
        // Walk the destination by pages and, inside each piece, the source by pages.
        self.for_each_piece(dst, len, perm::WRITE, |off, d, n| {
            let d_ptr = Self::map(d, n)?;
            let s_addr = src.checked_add(off).ok_or(MemError::OutOfRange)?;
            self.for_each_piece(s_addr, n, perm::READ, |off2, s, m| {
                let s_ptr = Self::map(s, m)?;
                // SAFETY: both ranges are RAM inside one page each.
                unsafe { copy_ram(s_ptr, d_ptr.add(off2 as usize), m as usize) };
                Ok(())
            })
        })
    }
}

/// Copies `n` bytes of driver memory from `src` to `dst`, which may overlap: a confused driver
/// can make its RX buffer the TX buffer.
///
/// Both are direct-map addresses, so two ranges share memory exactly when their addresses
/// overlap. Disjoint ranges, the normal case, take `memcpy`: the kernel's `memmove` moves
/// bytes one at a time (`rep movsb`) on CPUs with ERMS but without FSRM, TCG's among them.
///
/// # Safety
///
/// `src` and `dst` must each be valid for `n` bytes.
#[inline]
unsafe fn copy_ram(src: *const u8, dst: *mut u8, n: usize) {
    let (s, d) = (src as usize, dst as usize);
    if s.checked_add(n).is_some_and(|e| e <= d) || d.checked_add(n).is_some_and(|e| e <= s) {
        // SAFETY: valid per the contract, and disjoint.
        unsafe { core::ptr::copy_nonoverlapping(src, dst, n) };
    } else {
        // SAFETY: valid per the contract.
        unsafe { core::ptr::copy(src, dst, n) };
    }
}

impl GuestMemory for DeviceMemory<'_> {
    // The accessors are inlined into their callers with only the one-page hit in them:
    // ring entries, descriptors and headers are a few bytes of one cached page, whose copy,
    // of a length the caller knows, compiles to a few moves instead of a call to memcpy.
    // Everything else goes to the out-of-line page walks below.
    #[inline(always)]
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        if Self::page_left(addr) >= buf.len() as u64 {
            if let Some(src) = self.fast(addr, perm::READ) {
                // SAFETY: `src` has `buf.len()` bytes left in its page of RAM; `buf` is ours.
                unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
                return Ok(());
            }
        }
        self.read_pages(addr, buf)
    }

    #[inline(always)]
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        if Self::page_left(addr) >= buf.len() as u64 {
            if let Some(dst) = self.fast(addr, perm::WRITE) {
                // SAFETY: as in `read`, with the roles swapped.
                unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
                return Ok(());
            }
        }
        self.write_pages(addr, buf)
    }

    #[inline(always)]
    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        if Self::page_left(dst) >= len && Self::page_left(src) >= len {
            if let (Some(dp), Some(sp)) = (self.fast(dst, perm::WRITE), self.fast(src, perm::READ))
            {
                // SAFETY: both have `len` bytes left in their page of RAM.
                unsafe { copy_ram(sp, dp, len as usize) };
                return Ok(());
            }
        }
        self.copy_pages(dst, src, len)
    }

    #[inline]
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        let p = self.map_index(addr, perm::READ)?;
        // SAFETY: `p` maps two aligned bytes of RAM; a volatile read is one load the driver
        // may race with, which is the point of the index.
        let v = unsafe { core::ptr::read_volatile(p) };
        fence(Ordering::Acquire);
        Ok(u16::from_le(v))
    }

    #[inline]
    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        let p = self.map_index(addr, perm::WRITE)?;
        fence(Ordering::Release);
        // SAFETY: as in `load_u16_acquire`.
        unsafe { core::ptr::write_volatile(p, val.to_le()) };
        Ok(())
    }

    fn fence(&self) {
        fence(Ordering::SeqCst);
    }
}
