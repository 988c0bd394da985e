// SPDX-License-Identifier: GPL-2.0
//! Kick and call eventfds.
//!
//! A kick eventfd is watched the way vhost watches it: our wait-queue entry sits on the
//! eventfd's wait queue, so every `write()` or `eventfd_signal()` on it calls [`kick_wake`]
//! synchronously, inside the eventfd's wake-up (its queue lock held, interrupts off). The
//! callback only rings the device's doorbell (`QUEUE_NOTIFY`, the one register that may be
//! written from atomic context); the device processes the ring from its own worker. That is
//! also why a call eventfd is never signalled from here (`eventfd_signal()` refuses to nest in
//! an eventfd wake-up).
//!
//! A call eventfd is an `eventfd_ctx` the device's interrupt signals; see `IrqState` in
//! `vhost_mdev_main.rs`.

use super::sys;
use super::Window;
use core::ptr;
use kernel::error::from_err_ptr;
use kernel::prelude::*;

use super::vmdev_regs::map::Register;

const EPOLLIN: usize = 0x1;

/// One watched kick eventfd.
///
/// # Invariants
///
/// Lives in a `KBox` and never moves: `pt` and `wait` are registered with the eventfd by
/// address. `file` is a reference to an eventfd file, held until drop. While `wqh` is
/// non-null, `wait` is on that wait queue; drop takes it off before anything is freed, and
/// the owner drops the watch before `win` stops being valid.
#[repr(C)]
pub(crate) struct KickWatch {
    pt: sys::poll_table_struct,
    wait: sys::wait_queue_entry,
    wqh: *mut sys::wait_queue_head,
    file: *mut sys::file,
    win: Window,
    index: u32,
}

// SAFETY: the raw pointers are only used under the eventfd's wait-queue lock (callback) or by
// the owner with `Inner` locked (start and drop).
unsafe impl Send for KickWatch {}

/// # Safety
///
/// Called by `vfs_poll()` from `KickWatch::start` with the `pt` field of a live watch.
unsafe extern "C" fn kick_queue_proc(
    _file: *mut sys::file,
    wqh: *mut sys::wait_queue_head,
    pt: *mut sys::poll_table_struct,
) {
    // `pt` is the first field of a live `KickWatch` (`#[repr(C)]`).
    let w = pt.cast::<KickWatch>();
    // SAFETY: `w` is live and exclusively ours during `start`; `wqh` is the eventfd's queue,
    // which lives as long as the file we hold.
    unsafe {
        (*w).wqh = wqh;
        sys::add_wait_queue(wqh, ptr::addr_of_mut!((*w).wait));
    }
}

/// # Safety
///
/// Called by the eventfd's wake-up with the `wait` field of a live watch.
unsafe extern "C" fn kick_wake(
    wait: *mut sys::wait_queue_entry,
    _mode: u32,
    _sync: i32,
    key: *mut core::ffi::c_void,
) -> i32 {
    // SAFETY: `wait` is the `wait` field of a live `KickWatch`; drop removes it from the queue
    // (under the queue lock this callback runs in) before the watch goes away.
    let w = unsafe { &*kernel::container_of!(wait, KickWatch, wait) };
    if (key as usize) & EPOLLIN != 0 {
        w.win.notify(w.index);
    }
    0
}

impl KickWatch {
    /// Watches eventfd `fd` and rings queue `index`'s doorbell on `win` for each signal,
    /// and once now if it is already signalled (as `vhost_poll_start()` does).
    ///
    /// Errors are those of `eventfd_fget()`: `EBADF` for a closed fd, `EINVAL` for a file
    /// that is not an eventfd.
    pub(crate) fn start(fd: i32, win: Window, index: u32) -> Result<KBox<Self>> {
        // SAFETY: no preconditions; returns a file reference or an ERR_PTR.
        let file = from_err_ptr(unsafe { sys::eventfd_fget(fd) })?;
        let watch = KBox::new(
            KickWatch {
                // SAFETY: both are plain C structs initialised below.
                pt: unsafe { core::mem::zeroed() },
                // SAFETY: as above.
                wait: unsafe { core::mem::zeroed() },
                wqh: ptr::null_mut(),
                file,
                win,
                index,
            },
            GFP_KERNEL,
        );
        let watch = match watch {
            Ok(w) => w,
            Err(e) => {
                // SAFETY: the reference from `eventfd_fget` above.
                unsafe { sys::fput(file) };
                return Err(e.into());
            }
        };
        let w = KBox::into_raw(watch);
        // SAFETY: `w` is a fresh, stable allocation; `file` is an eventfd we hold. `vfs_poll`
        // calls `kick_queue_proc` synchronously, which registers `wait`.
        let mask = unsafe {
            sys::vmdev_helper_init_poll_funcptr(ptr::addr_of_mut!((*w).pt), Some(kick_queue_proc));
            sys::vmdev_helper_init_waitqueue_func_entry(
                ptr::addr_of_mut!((*w).wait),
                Some(kick_wake),
            );
            sys::vmdev_helper_vfs_poll(file, ptr::addr_of_mut!((*w).pt))
        };
        // SAFETY: `w` came from `KBox::into_raw` above.
        let watch = unsafe { KBox::from_raw(w) };
        if mask as usize & EPOLLIN != 0 {
            win.notify(index);
        }
        Ok(watch)
    }
}

impl Drop for KickWatch {
    fn drop(&mut self) {
        // SAFETY: per the invariants; after `remove_wait_queue` returns, no wake-up can be
        // running `kick_wake` on this entry (both take the queue lock).
        unsafe {
            if !self.wqh.is_null() {
                sys::remove_wait_queue(self.wqh, &mut self.wait);
            }
            sys::fput(self.file);
        }
    }
}

/// A reference to an eventfd context (call, config and error eventfds).
///
/// # Invariants
///
/// `0` is a counted reference from `eventfd_ctx_fdget()`, put on drop.
pub(crate) struct EventCtx(*mut sys::eventfd_ctx);

// SAFETY: eventfd contexts are refcounted and thread-safe.
unsafe impl Send for EventCtx {}

impl EventCtx {
    /// The context of eventfd `fd`: `EBADF` for a closed fd, `EINVAL` for another file.
    pub(crate) fn get(fd: i32) -> Result<Self> {
        // SAFETY: no preconditions; returns a reference or an ERR_PTR.
        Ok(Self(from_err_ptr(unsafe { sys::eventfd_ctx_fdget(fd) })?))
    }

    /// Gives up ownership; the caller puts the reference with [`EventCtx::from_raw`].
    pub(crate) fn into_raw(self) -> *mut sys::eventfd_ctx {
        let p = self.0;
        core::mem::forget(self);
        p
    }

    /// # Safety
    ///
    /// `p` must come from [`EventCtx::into_raw`] and not be used again by the caller.
    pub(crate) unsafe fn from_raw(p: *mut sys::eventfd_ctx) -> Self {
        Self(p)
    }
}

impl Drop for EventCtx {
    fn drop(&mut self) {
        // SAFETY: per the invariants.
        unsafe { sys::eventfd_ctx_put(self.0) };
    }
}

/// Signals eventfd context `ctx` if there is one.
///
/// # Safety
///
/// `ctx` must be null or a context the caller keeps referenced for the call.
pub(crate) unsafe fn signal(ctx: *mut sys::eventfd_ctx) {
    if !ctx.is_null() {
        // SAFETY: per the contract.
        unsafe { sys::eventfd_signal_mask(ctx, 0) };
    }
}

impl Window {
    /// Rings the doorbell of queue `index`; used from the kick callback.
    pub(crate) fn notify(self, index: u32) {
        // Refused only for an out-of-range queue, which the ioctl already checked.
        let _ = self.write(Register::QUEUE_NOTIFY, index);
    }
}
