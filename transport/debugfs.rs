// SPDX-License-Identifier: GPL-2.0
//! debugfs: `/sys/kernel/debug/vmdev/`, root only.
//!
//! - `vmdevN`, the register file: writing `r OFF`, `w OFF VALUE` or `c OFF LEN` performs that
//!   access through the same checked path drivers use; a refused access fails the write with
//!   its errno, and reading the file gives the value of the last successful read. Writes are
//!   refused with `EBUSY` while a driver is bound, so the file cannot disturb a running driver.
//! - `vmdevN.callbacks`: how many interrupts the transport handed to a driver (`delivered`)
//!   and how many it dropped (`dropped`: no driver bound or its state not published yet, or
//!   after a reset).

use super::device::VmdevDevice;
use super::driver_abi::{vmdev_config_read, vmdev_read, vmdev_write};
use super::kglue::cstatic::{zeroed, CStatic};
use super::kglue::debugfs::Entry;
use super::kglue::sys;
use super::kglue::sysfs::Cursor;
use super::vmdev_regs::debug::{self, Command};
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::code::{EBUSY, EFAULT, EINVAL};
use kernel::ffi::c_char;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::uaccess::UserSlice;

/// The `vmdev` directory while the module is loaded (null without debugfs); the module owns
/// it (`Root`), devices add their files to it.
static ROOT: AtomicPtr<sys::dentry> = AtomicPtr::new(ptr::null_mut());

/// The `vmdev` directory, removed (with whatever is left in it) on drop.
pub(crate) struct Root {
    _dir: Entry,
}

impl Root {
    /// Creates the directory and sets `module` as the owner of the files' operations.
    pub(crate) fn new(module: &'static ThisModule) -> Self {
        // SAFETY: before any device exists: nothing reads the tables yet.
        unsafe {
            (*REGS_FOPS.get()).owner = module.as_ptr().cast();
            (*CALLBACKS_FOPS.get()).owner = module.as_ptr().cast();
        }
        let dir = Entry::dir(c"vmdev", None);
        ROOT.store(dir.as_raw(), Ordering::Release);
        Root { _dir: dir }
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        ROOT.store(ptr::null_mut(), Ordering::Release);
    }
}

/// Runs one command on `v`, with its device lock held.
fn command(v: &VmdevDevice, cmd: Command) -> Result {
    let raw = v.as_raw();
    let mut out = v.debug_out.lock();
    let out = &mut *out;
    let r = match cmd {
        Command::Read(off) => {
            let mut val = 0;
            // SAFETY: a live instance; `val` is writable.
            let r = unsafe { vmdev_read(raw, off, &mut val) };
            if r == 0 {
                out.len = debug::format_u32(val, &mut out.buf);
            }
            r
        }
        Command::Write(off, val) => {
            if v.bound() {
                return Err(EBUSY);
            }
            // SAFETY: a live instance.
            unsafe { vmdev_write(raw, off, val) }
        }
        Command::Config(off, len) => {
            let mut buf = [0u8; 8];
            let piece = buf.get_mut(..len as usize).ok_or(EINVAL)?;
            // SAFETY: a live instance; `piece` holds `len` bytes.
            let r = unsafe { vmdev_config_read(raw, off, piece.as_mut_ptr().cast(), len) };
            if r == 0 {
                out.len = debug::format_bytes(piece, &mut out.buf);
            }
            r
        }
    };
    kernel::error::to_result(r)
}

/// # Safety
///
/// `file` must be one of our files, opened with `simple_open` (its data a live instance).
unsafe fn file_device<'a>(file: *mut sys::file) -> &'a VmdevDevice {
    // SAFETY: debugfs keeps the file's data (our device) alive while an operation runs:
    // `remove` removes the file, which waits for running operations, before the device goes.
    unsafe { &*(*file).private_data.cast::<VmdevDevice>() }
}

/// # Safety
///
/// Called by the VFS for a register file, with a user buffer of `count` bytes.
unsafe extern "C" fn regs_write(
    file: *mut sys::file,
    ubuf: *const c_char,
    count: usize,
    _ppos: *mut sys::loff_t,
) -> isize {
    let mut tmp = [0u8; 64];
    let Some(input) = tmp.get_mut(..count).filter(|_| count > 0 && count < 64) else {
        return EINVAL.to_errno() as isize;
    };
    if UserSlice::new(ubuf as usize, count)
        .reader()
        .read_slice(input)
        .is_err()
    {
        return EFAULT.to_errno() as isize;
    }
    let Some(cmd) = debug::parse(input) else {
        return EINVAL.to_errno() as isize;
    };
    // SAFETY: one of our files.
    let v = unsafe { file_device(file) };
    // SAFETY: a live device; the lock keeps a driver from binding during the command.
    unsafe { sys::vmdev_helper_device_lock(v.dev()) };
    let r = command(v, cmd);
    // SAFETY: locked above.
    unsafe { sys::vmdev_helper_device_unlock(v.dev()) };
    match r {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// What reading one of our files shows.
trait Text {
    /// Writes the text of `v`'s file into `out`.
    fn text(v: &VmdevDevice, out: &mut Cursor<'_>);
}

/// The register file: the answer of the last read command.
struct Regs;

impl Text for Regs {
    fn text(v: &VmdevDevice, out: &mut Cursor<'_>) {
        let o = v.debug_out.lock();
        out.bytes(&o.buf[..o.len]);
    }
}

/// The callback counters.
struct Counters;

impl Text for Counters {
    fn text(v: &VmdevDevice, out: &mut Cursor<'_>) {
        let (delivered, dropped) = {
            let cb = v.callbacks.lock();
            (cb.delivered, cb.dropped)
        };
        let _ = out.line(format_args!("delivered {delivered}\ndropped {dropped}"));
    }
}

/// # Safety
///
/// Called by the VFS for one of our files, with a user buffer of `count` bytes.
unsafe extern "C" fn text_read<T: Text>(
    file: *mut sys::file,
    ubuf: *mut c_char,
    count: usize,
    ppos: *mut sys::loff_t,
) -> isize {
    let mut buf = [0u8; 64];
    let mut out = Cursor::new(&mut buf);
    // SAFETY: one of our files.
    T::text(unsafe { file_device(file) }, &mut out);
    let len = out.len();
    // SAFETY: copies at most `len` bytes of `buf` to the user buffer the VFS checked.
    unsafe { sys::simple_read_from_buffer(ubuf.cast(), count, ppos, buf.as_ptr().cast(), len) }
}

static REGS_FOPS: CStatic<sys::file_operations> = CStatic::new(sys::file_operations {
    open: Some(sys::simple_open),
    read: Some(text_read::<Regs>),
    write: Some(regs_write),
    // SAFETY: the remaining fields are optional and valid zeroed; `owner` is set by `Root`.
    ..unsafe { zeroed() }
});

static CALLBACKS_FOPS: CStatic<sys::file_operations> = CStatic::new(sys::file_operations {
    open: Some(sys::simple_open),
    read: Some(text_read::<Counters>),
    // SAFETY: as above.
    ..unsafe { zeroed() }
});

/// Adds the files of `v`, which was just added to the bus.
pub(crate) fn add(v: &VmdevDevice) {
    let root = ROOT.load(Ordering::Acquire);
    if root.is_null() {
        return;
    }
    // SAFETY: the name of a device that was added.
    let name = unsafe { core::ffi::CStr::from_ptr(sys::vmdev_helper_dev_name(v.dev()).cast()) };
    let Ok(cb_name) = CString::try_from_fmt(kernel::fmt!(
        "{}.callbacks",
        name.to_str().unwrap_or("vmdev")
    )) else {
        return;
    };
    let data = core::ptr::from_ref(v).cast_mut().cast();
    // SAFETY: `root` lives until module exit, after every device; the tables are statics; the
    // files' data is `v`, which outlives them (`remove` drops them before the device goes).
    let files = unsafe {
        (
            Entry::adopt(sys::debugfs_create_file(
                name.as_ptr().cast(),
                0o600,
                root,
                data,
                REGS_FOPS.get(),
            )),
            Entry::adopt(sys::debugfs_create_file(
                cb_name.as_char_ptr(),
                0o400,
                root,
                data,
                CALLBACKS_FOPS.get(),
            )),
        )
    };
    *v.debugfs.lock() = files;
}

/// Removes the files of `v`, waiting for operations in progress.
pub(crate) fn remove(v: &VmdevDevice) {
    let files = core::mem::replace(&mut *v.debugfs.lock(), (Entry::none(), Entry::none()));
    drop(files);
}
