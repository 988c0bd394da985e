// SPDX-License-Identifier: GPL-2.0
//! debugfs directories and files, removed when dropped.
//!
//! debugfs is optional: a kernel without it, or a failed creation, gives an empty handle,
//! and everything else works the same.

use super::sys;
use core::ptr::NonNull;

/// A debugfs entry (directory or file), removed recursively on drop.
///
/// # Invariants
///
/// `0` is `None` or an entry this object created and removes once.
pub struct Entry(Option<NonNull<sys::dentry>>);

// SAFETY: debugfs entries may be removed from any task.
unsafe impl Send for Entry {}
// SAFETY: shared references allow nothing but reading the pointer.
unsafe impl Sync for Entry {}

fn entry(raw: *mut sys::dentry) -> Entry {
    // Errors come back as ERR_PTR values; debugfs users just go without.
    Entry(kernel::error::from_err_ptr(raw).ok().and_then(NonNull::new))
}

impl Entry {
    /// An entry that is not there.
    pub const fn none() -> Self {
        Entry(None)
    }

    /// The entry, for C (null if it is not there).
    pub fn as_raw(&self) -> *mut sys::dentry {
        self.0.map_or(core::ptr::null_mut(), NonNull::as_ptr)
    }

    /// Takes over `raw`, a result of a debugfs creation function (an entry, NULL or an
    /// ERR_PTR).
    ///
    /// # Safety
    ///
    /// An entry `raw` names must be the caller's, not removed by anything else.
    pub unsafe fn adopt(raw: *mut sys::dentry) -> Self {
        entry(raw)
    }

    /// Creates directory `name` under `parent` (the debugfs root if `None`).
    pub fn dir(name: &core::ffi::CStr, parent: Option<&Entry>) -> Self {
        let parent = parent
            .and_then(|p| p.0)
            .map_or(core::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: `name` is copied; `parent` is null or a live directory we own.
        entry(unsafe { sys::debugfs_create_dir(name.as_ptr().cast(), parent) })
    }

    /// Creates file `name` in this directory with `fops`, whose callbacks get `data`.
    ///
    /// # Safety
    ///
    /// `fops` must outlive the file, and `data` must be valid for its callbacks until the
    /// file is dropped (removal waits for running callbacks).
    pub unsafe fn file(
        &self,
        name: &core::ffi::CStr,
        mode: u16,
        data: *mut core::ffi::c_void,
        fops: *const sys::file_operations,
    ) -> Self {
        let Some(dir) = self.0 else {
            return Entry(None);
        };
        // SAFETY: per the contract; `dir` is a live directory we own.
        entry(unsafe {
            sys::debugfs_create_file(name.as_ptr().cast(), mode, dir.as_ptr(), data, fops)
        })
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(d) = self.0 {
            // SAFETY: created by us (invariant); removal waits for running file operations.
            unsafe { sys::debugfs_remove(d.as_ptr()) };
        }
    }
}
