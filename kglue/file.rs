// SPDX-License-Identifier: GPL-2.0
//! File operations of a character device, as a safe trait.
//!
//! [`FileOps::open`] builds the state of an open file from the node's minor; the adapter keeps
//! it in the file's `private_data` until `release`, and every other operation borrows it.
//! User memory is reached only through `kernel::uaccess::UserSlice` on the addresses passed
//! in, and an mmap request is described by [`VmaRequest`] rather than a raw VMA.

use super::sys;
use kernel::error::code::{ENODEV, ENOTTY};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;

/// An mmap request, as far as a driver needs to check it.
pub struct VmaRequest {
    /// Length of the mapping in bytes.
    pub len: u64,
    /// Whether it is shared (`MAP_SHARED`).
    pub shared: bool,
    /// Whether it may be read.
    pub readable: bool,
    /// Page offset in the file.
    pub pgoff: u64,
}

/// What an open character device does.
pub trait FileOps: Sized + 'static {
    /// What every file of the region shares (given to the region).
    type Context: Send + Sync;
    /// The state of one open file.
    type Open: Send + Sync;

    /// Opens the node with minor `minor`.
    fn open(ctx: &Self::Context, minor: u32) -> Result<Self::Open>;

    /// The last close of the file; the state is dropped after this.
    fn release(_open: &Self::Open) {}

    /// `ioctl(cmd, arg)`; `arg` is a user address or a number, as `cmd` says.
    fn ioctl(_open: &Self::Open, _cmd: u32, _arg: usize) -> Result<isize> {
        Err(ENOTTY)
    }

    /// `write()` of `count` bytes at user address `buf`; returns what it consumed.
    fn write(_open: &Self::Open, _buf: usize, _count: usize) -> Result<usize> {
        Err(EINVAL)
    }

    /// Answers an mmap request. No driver has pages to map yet, so the answer is the error
    /// the caller sees.
    fn mmap(_open: &Self::Open, _vma: &VmaRequest) -> Error {
        ENODEV
    }
}

struct Adapter<F: FileOps>(core::marker::PhantomData<F>);

impl<F: FileOps> Adapter<F> {
    /// # Safety
    ///
    /// `file` must be one of ours, between a successful `open` and `release`.
    unsafe fn state<'a>(file: *mut sys::file) -> &'a F::Open {
        // SAFETY: `open` stored a `KBox<F::Open>` in `private_data`; `release` takes it back.
        unsafe { &*(*file).private_data.cast::<F::Open>() }
    }

    /// # Safety
    ///
    /// Called by the VFS to open one of our nodes.
    unsafe extern "C" fn open(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
        // SAFETY: a live inode of one of our nodes.
        let minor = super::chrdev::minor_of(unsafe { (*inode).i_rdev });
        // SAFETY: the VFS opens through the table of the node's region, which lives until
        // module exit (open files pin the module).
        let ctx = unsafe { super::chrdev::context_of::<F>((*file).f_op) };
        // The box first: once `open` succeeded, only `release` may undo it.
        let slot = match KBox::<F::Open>::new_uninit(GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => return Error::from(e).to_errno(),
        };
        let state = match F::open(ctx, minor) {
            Ok(s) => slot.write(s),
            Err(e) => return e.to_errno(),
        };
        // SAFETY: the file is being opened; nothing else uses `private_data` yet.
        unsafe {
            (*file).private_data = KBox::into_raw(state).cast();
            sys::nonseekable_open(inode, file)
        }
    }

    /// # Safety
    ///
    /// Called by the VFS once per successful `open`.
    unsafe extern "C" fn release(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
        // SAFETY: stored by `open`; no other operation runs on the file any more.
        let state = unsafe { KBox::from_raw((*file).private_data.cast::<F::Open>()) };
        F::release(&state);
        0
    }

    /// # Safety
    ///
    /// Called by the VFS for an open file of ours.
    unsafe extern "C" fn ioctl(file: *mut sys::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: an open file of ours.
        match F::ioctl(unsafe { Self::state(file) }, cmd, arg) {
            Ok(v) => v as c_long,
            Err(e) => e.to_errno() as c_long,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS for an open file of ours; `buf` is a user address.
    unsafe extern "C" fn write(
        file: *mut sys::file,
        buf: *const c_char,
        count: usize,
        _pos: *mut sys::loff_t,
    ) -> isize {
        // SAFETY: an open file of ours.
        match F::write(unsafe { Self::state(file) }, buf as usize, count) {
            Ok(n) => n as isize,
            Err(e) => e.to_errno() as isize,
        }
    }

    /// # Safety
    ///
    /// Called by the VFS for an open file of ours, with a VMA being set up.
    unsafe extern "C" fn mmap(file: *mut sys::file, vma: *mut sys::vm_area_struct) -> c_int {
        const VM_READ: c_ulong = 0x1;
        const VM_SHARED: c_ulong = 0x8;
        // SAFETY: the VMA being set up; the fields are plain numbers.
        let (start, end, flags, pgoff) = unsafe {
            (
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
                (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
                (*vma).__bindgen_anon_2.vm_flags,
                (*vma).vm_pgoff,
            )
        };
        let req = VmaRequest {
            len: end.wrapping_sub(start) as u64,
            shared: flags & VM_SHARED != 0,
            readable: flags & VM_READ != 0,
            pgoff: pgoff as u64,
        };
        // SAFETY: an open file of ours.
        F::mmap(unsafe { Self::state(file) }, &req).to_errno()
    }
}

/// The `file_operations` of `F`, owned by `module`.
pub(crate) fn table<F: FileOps>(module: &'static ThisModule) -> sys::file_operations {
    sys::file_operations {
        owner: module.as_ptr().cast(),
        open: Some(Adapter::<F>::open),
        release: Some(Adapter::<F>::release),
        unlocked_ioctl: Some(Adapter::<F>::ioctl),
        // No compat_ioctl: the kernels this runs on have no 32-bit userspace (CONFIG_COMPAT
        // off), and vhost's structures have the same layout there anyway.
        write: Some(Adapter::<F>::write),
        mmap: Some(Adapter::<F>::mmap),
        // SAFETY: the remaining fields are optional and valid zeroed.
        ..unsafe { super::cstatic::zeroed() }
    }
}
