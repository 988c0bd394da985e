// SPDX-License-Identifier: GPL-2.0
//! The address space of a device's owner: identity, pinned-page accounting and pinning.
//!
//! vhost binds a device to the `mm` of the task that called `SET_OWNER`: only that task may
//! change the device's mappings, the pages it maps are pinned for long-term device access
//! (`FOLL_LONGTERM`) and charged to its `RLIMIT_MEMLOCK` through `mm->pinned_vm`, as
//! vhost-vdpa does.

use super::sys;
use core::ptr::NonNull;
use kernel::error::code::{EFAULT, ENOMEM};
use kernel::prelude::*;

/// A grabbed `mm_struct` (the owner's): the struct stays, whatever the task does.
///
/// # Invariants
///
/// `0` holds an `mmgrab()` reference, dropped with `mmdrop()`.
pub struct OwnerMm(NonNull<sys::mm_struct>);

// SAFETY: `mm_struct` references may be used and dropped from any task.
unsafe impl Send for OwnerMm {}
// SAFETY: the accounting is atomic.
unsafe impl Sync for OwnerMm {}

impl OwnerMm {
    /// The calling task's mm; `EFAULT` for a task without one (a kernel thread).
    pub fn of_current() -> Result<Self> {
        // SAFETY: reads `current->mm`, the live mm of the calling task.
        let mm = NonNull::new(unsafe { sys::vmdev_helper_current_mm() }).ok_or(EFAULT)?;
        // SAFETY: the caller's live mm; the reference is dropped in `drop`.
        unsafe { sys::vmdev_helper_mmgrab(mm.as_ptr()) };
        // INVARIANT: grabbed just now.
        Ok(Self(mm))
    }

    /// Whether the calling task runs in this mm.
    pub fn is_current(&self) -> bool {
        // SAFETY: reads `current->mm`.
        self.0.as_ptr() == unsafe { sys::vmdev_helper_current_mm() }
    }

    /// Counts `pages` more pinned pages if the count stays within `limit`; returns whether it
    /// did. Check and charge are one atomic step, so pinners racing on one owner cannot
    /// exceed its limit together.
    pub fn try_add_pinned(&self, pages: u64, limit: u64) -> bool {
        let Ok(pages) = i64::try_from(pages) else {
            return false;
        };
        // SAFETY: the mm is live (held by this object).
        unsafe { sys::vmdev_helper_pinned_vm_try_add(self.0.as_ptr(), pages, limit) }
    }

    /// Counts `pages` fewer pinned pages.
    pub fn sub_pinned(&self, pages: u64) {
        // SAFETY: a grabbed mm (invariant).
        unsafe { sys::vmdev_helper_pinned_vm_add(self.0.as_ptr(), (pages as i64).wrapping_neg()) };
    }
}

impl Clone for OwnerMm {
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the mm grabbed; the new reference is dropped in `drop`.
        unsafe { sys::vmdev_helper_mmgrab(self.0.as_ptr()) };
        // INVARIANT: grabbed just now.
        Self(self.0)
    }
}

impl Drop for OwnerMm {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `of_current` (invariant).
        unsafe { sys::vmdev_helper_mmdrop(self.0.as_ptr()) };
    }
}

/// The calling task's `RLIMIT_MEMLOCK`, in pages (`u64::MAX` for no limit).
pub fn memlock_limit_pages() -> u64 {
    // SAFETY: reads the calling task's limit.
    unsafe { sys::vmdev_helper_memlock_limit_pages() }
}

/// Pins `pfns.len()` pages of the calling task's memory from user address `uaddr` for
/// long-term device access, writable if `write`, and stores their page frame numbers in
/// `pfns`. All or nothing: on error nothing stays pinned. The pins are released with
/// [`unpin_pages`].
pub fn pin_user_pages(uaddr: u64, write: bool, pfns: &mut [u64]) -> Result {
    let uaddr = usize::try_from(uaddr).map_err(|_| EFAULT)?;
    // SAFETY: `pfns` has room for `pfns.len()` entries; pinning acts on the caller's own
    // address space.
    let got =
        unsafe { sys::vmdev_helper_pin_user_pfns(uaddr, pfns.len(), write, pfns.as_mut_ptr()) };
    if got < 0 {
        return Err(Error::from_errno(got as i32));
    }
    if got as usize != pfns.len() {
        return Err(ENOMEM);
    }
    Ok(())
}

/// Releases the pins of the `npages` pages from page frame `pfn`, marking them dirty if the
/// device may have written them.
///
/// # Safety
///
/// Each of those pages must hold one pin taken by [`pin_user_pages`] that nothing else
/// releases, and no device may reach them any more.
pub unsafe fn unpin_pages(pfn: u64, npages: u64, dirty: bool) {
    // SAFETY: per the contract.
    unsafe { sys::vmdev_helper_unpin_pfns(pfn, npages, dirty) };
}
