// SPDX-License-Identifier: GPL-2.0
//! Device access to RAM by physical address: what a software device does instead of DMA.
//!
//! A device address ends up as a physical address: directly (the kernel personality hands out
//! dma-direct addresses, which are physical) or through the device's DMA table (vhost, whose
//! table maps pinned user pages). [`RamPage::at`] checks that a struct page backs the address
//! and that it is not reserved, then gives access to that page through the kernel's direct map
//! only: nothing outside the page is reachable through it, and every access is bounds-checked
//! against the page.
//!
//! Values are copied in and out, never borrowed: the driver reads and writes the same memory
//! concurrently, as it does with a DMA-capable device, so a Rust reference into it would be a
//! data race. Ring indices are single volatile 16-bit accesses with the ordering the virtio
//! ring protocol asks for; bits of a shared bitmap are set with atomic ORs.

use super::sys;
use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use kernel::page::PAGE_SIZE;

/// A page of RAM in the kernel's direct map.
///
/// # Invariants
///
/// `base` is the page-aligned direct-map address of a page of RAM (a valid, non-reserved
/// struct page backs it), valid for reads and writes of `PAGE_SIZE` bytes.
#[derive(Clone, Copy)]
pub struct RamPage {
    base: NonNull<u8>,
}

// SAFETY: the direct map is the same on every CPU.
unsafe impl Send for RamPage {}
// SAFETY: all accesses are raw copies (see the module documentation).
unsafe impl Sync for RamPage {}

impl RamPage {
    /// The page at physical address `phys` (rounded down to its page), if RAM backs it.
    ///
    /// # Safety
    ///
    /// The caller must be a device entitled to the page, as a DMA-capable device is to memory
    /// its driver hands it: the page's owner expects it to be read and written concurrently,
    /// and nothing else in it is affected. Through a `RamPage` the kernel's own data could be
    /// overwritten, so where the address comes from decides whether that is sound.
    #[inline(never)]
    pub unsafe fn at(phys: u64) -> Option<Self> {
        let page = phys & !(PAGE_SIZE as u64 - 1);
        // SAFETY: the helper checks the pfn and the page before it computes an address; it
        // dereferences nothing.
        let p = unsafe { sys::vmdev_helper_phys_to_virt(page) };
        // INVARIANT: a non-null result is the direct-map address of a RAM page.
        NonNull::new(p.cast()).map(|base| Self { base })
    }

    /// Whether `len` bytes at `off` are inside the page.
    #[inline(always)]
    fn fits(off: usize, len: usize) -> bool {
        off <= PAGE_SIZE && len <= PAGE_SIZE - off
    }

    /// Copies `buf.len()` bytes at `off` into `buf`; false if that leaves the page.
    #[inline(always)]
    pub fn read(self, off: usize, buf: &mut [u8]) -> bool {
        if !Self::fits(off, buf.len()) {
            return false;
        }
        // SAFETY: in bounds of the page (invariant); `buf` is ours, so they do not overlap.
        unsafe {
            core::ptr::copy_nonoverlapping(self.base.as_ptr().add(off), buf.as_mut_ptr(), buf.len())
        };
        true
    }

    /// Copies `buf` to `off`; false if that leaves the page.
    #[inline(always)]
    pub fn write(self, off: usize, buf: &[u8]) -> bool {
        if !Self::fits(off, buf.len()) {
            return false;
        }
        // SAFETY: as in `read`, the other way.
        unsafe {
            core::ptr::copy_nonoverlapping(buf.as_ptr(), self.base.as_ptr().add(off), buf.len())
        };
        true
    }

    /// Copies `len` bytes from `src` at `src_off` to `self` at `off`; false if either range
    /// leaves its page. The two may overlap (a confused driver can make its RX buffer the TX
    /// buffer).
    #[inline(always)]
    pub fn copy_from(self, off: usize, src: RamPage, src_off: usize, len: usize) -> bool {
        if !Self::fits(off, len) || !Self::fits(src_off, len) {
            return false;
        }
        // SAFETY: both ranges are in bounds of their pages (invariant).
        unsafe {
            copy_ram(
                src.base.as_ptr().add(src_off),
                self.base.as_ptr().add(off),
                len,
            )
        };
        true
    }

    /// Loads the little-endian 16-bit ring index at `off` (even), then an acquire fence: what
    /// follows in the ring protocol (entries the index publishes) is read after it.
    #[inline(always)]
    pub fn load_u16_acquire(self, off: usize) -> Option<u16> {
        if off % 2 != 0 || !Self::fits(off, 2) {
            return None;
        }
        // SAFETY: an aligned 2-byte access inside the page; volatile, because the driver
        // writes it concurrently.
        let v = unsafe { core::ptr::read_volatile(self.base.as_ptr().add(off).cast::<u16>()) };
        fence(Ordering::Acquire);
        Some(u16::from_le(v))
    }

    /// A release fence, then stores the little-endian 16-bit ring index at `off` (even): the
    /// entries it publishes are visible before it.
    #[inline(always)]
    pub fn store_u16_release(self, off: usize, val: u16) -> bool {
        if off % 2 != 0 || !Self::fits(off, 2) {
            return false;
        }
        fence(Ordering::Release);
        // SAFETY: as in `load_u16_acquire`.
        unsafe {
            core::ptr::write_volatile(self.base.as_ptr().add(off).cast::<u16>(), val.to_le())
        };
        true
    }

    /// Reads the little-endian 64-bit word at `off` (8-aligned) with one load, unordered;
    /// `None` if it is not an aligned word of the page. The word may change under it: the
    /// page's owner writes it concurrently, with atomic operations.
    #[inline]
    pub fn load_u64(self, off: usize) -> Option<u64> {
        if off & 7 != 0 || !Self::fits(off, 8) {
            return None;
        }
        // SAFETY: an aligned 8-byte word inside the page (invariant), which lives as long as
        // the page; every access to it, ours and the owner's, is atomic.
        let word = unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast::<u64>()) };
        Some(u64::from_le(word.load(Ordering::Relaxed)))
    }

    /// Atomically ORs `mask` into the little-endian 64-bit word at `off` (8-aligned); false
    /// if the word is not an aligned word of the page. For a bitmap the page's owner reads
    /// and clears with atomic exchanges while the device sets bits in it (vhost's dirty log).
    #[inline]
    pub fn fetch_or_u64(self, off: usize, mask: u64) -> bool {
        if off & 7 != 0 || !Self::fits(off, 8) {
            return false;
        }
        // SAFETY: an aligned 8-byte word inside the page (invariant), which lives as long as
        // the page; the owner accesses it only atomically too, and a locked OR is atomic
        // against any access.
        let word = unsafe { AtomicU64::from_ptr(self.base.as_ptr().add(off).cast::<u64>()) };
        // Release: the writes the mark stands for are visible to whoever sees the bit.
        word.fetch_or(mask.to_le(), Ordering::Release);
        true
    }
}

/// Copies `n` bytes from `src` to `dst`, which may overlap.
///
/// Both are direct-map addresses, so two ranges share memory exactly when their addresses
/// overlap. Disjoint ranges, the normal case, take `memcpy`: the kernel's `memmove` moves
/// bytes one at a time (`rep movsb`) on CPUs with ERMS but without FSRM, TCG's among them.
///
/// # Safety
///
/// `src` and `dst` must each be valid for `n` bytes.
#[inline(always)]
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

/// A page of zeroes on the heap (a RAM disk's block), allocated zeroed instead of built on
/// the stack and moved. Reclaim may not start I/O for it (a `memalloc_noio` scope): a disk's
/// write path allocates it, and reclaim that wrote back to that same disk would wait for
/// the write that is waiting for it.
pub fn zeroed_page() -> Result<kernel::alloc::KBox<[u8; PAGE_SIZE]>, kernel::alloc::AllocError> {
    use kernel::alloc::flags::{GFP_KERNEL, __GFP_NOWARN, __GFP_ZERO};
    // SAFETY: a scope flag of the current task, restored below.
    let scope = unsafe { sys::vmdev_helper_memalloc_noio_save() };
    let b = kernel::alloc::KBox::<[u8; PAGE_SIZE]>::new_uninit(GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
    // SAFETY: the value the save above returned.
    unsafe { sys::vmdev_helper_memalloc_noio_restore(scope) };
    // SAFETY: `__GFP_ZERO` zeroed the allocation, and zero bytes are a valid `[u8; N]`.
    Ok(unsafe { b?.assume_init() })
}
