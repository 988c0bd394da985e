// SPDX-License-Identifier: GPL-2.0
//! The simulator's memory seam for the kernel personality.
//!
//! Under virtio_mdev the device addresses in the rings are DMA addresses of a device with no
//! IOMMU (dma-direct), that is physical addresses. Each access is split at page boundaries
//! and every page is checked to be RAM before it is touched, so a bad address from a driver
//! reads as [`MemError::OutOfRange`] instead of faulting. Values are copied, never borrowed:
//! the driver writes the same memory concurrently.

use super::sys;
use super::virtqueue::{GuestMemory, MemError};
use core::sync::atomic::{fence, Ordering};

const PAGE_SIZE: u64 = 4096;

/// Driver memory reached by physical address.
pub(crate) struct PhysMemory;

impl PhysMemory {
    /// The kernel address of `len` bytes at `addr`, which must not cross a page.
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

    /// Calls `f(offset, addr, len)` for each page-bounded piece of `[addr, addr + len)`.
    fn for_each_piece(
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
}

impl GuestMemory for PhysMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        let dst = buf.as_mut_ptr();
        Self::for_each_piece(addr, buf.len() as u64, |off, a, n| {
            let src = Self::map(a, n)?;
            // SAFETY: `src` maps `n` bytes of RAM inside one page; `dst + off` has `n` bytes
            // left in `buf`. The regions cannot overlap (`buf` is ours).
            unsafe { core::ptr::copy_nonoverlapping(src, dst.add(off as usize), n as usize) };
            Ok(())
        })
    }

    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        let src = buf.as_ptr();
        Self::for_each_piece(addr, buf.len() as u64, |off, a, n| {
            let dst = Self::map(a, n)?;
            // SAFETY: as in `read`, with the roles swapped.
            unsafe { core::ptr::copy_nonoverlapping(src.add(off as usize), dst, n as usize) };
            Ok(())
        })
    }

    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        // Walk the destination by pages and, inside each piece, the source by pages.
        Self::for_each_piece(dst, len, |off, d, n| {
            let d_ptr = Self::map(d, n)?;
            Self::for_each_piece(src + off, n, |off2, s, m| {
                let s_ptr = Self::map(s, m)?;
                // SAFETY: both ranges are RAM inside one page each; `ptr::copy` tolerates the
                // overlap a confused driver could set up.
                unsafe { core::ptr::copy(s_ptr, d_ptr.add(off2 as usize), m as usize) };
                Ok(())
            })
        })
    }

    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        if addr % 2 != 0 {
            return Err(MemError::Fault);
        }
        let p = Self::map(addr, 2)?;
        // SAFETY: `p` maps two aligned bytes of RAM; a volatile read is one load the driver
        // may race with, which is the point of the index.
        let v = unsafe { core::ptr::read_volatile(p.cast::<u16>()) };
        fence(Ordering::Acquire);
        Ok(u16::from_le(v))
    }

    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        if addr % 2 != 0 {
            return Err(MemError::Fault);
        }
        let p = Self::map(addr, 2)?;
        fence(Ordering::Release);
        // SAFETY: as in `load_u16_acquire`.
        unsafe { core::ptr::write_volatile(p.cast::<u16>(), val.to_le()) };
        Ok(())
    }

    fn fence(&self) {
        fence(Ordering::SeqCst);
    }
}
