// SPDX-License-Identifier: GPL-2.0
//! eventfds: contexts a driver signals, and eventfds it watches.
//!
//! An [`EventCtx`] is a counted reference to an eventfd context (vhost's call, config and
//! error eventfds), signalled from any context but an eventfd wake-up.
//!
//! A [`KickWatch`] watches an eventfd the way vhost watches a kick eventfd: its wait-queue
//! entry sits on the eventfd's wait queue, so every `write()` or `eventfd_signal()` on it calls
//! [`Kick::kick`] synchronously, inside the eventfd's wake-up (its queue lock held, interrupts
//! off). That is why a kick may only do something atomic (ring a doorbell), and why an
//! eventfd must never be signalled from a kick (`eventfd_signal()` refuses to nest).

use super::sys;
use core::pin::Pin;
use core::ptr::{self, NonNull};
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::types::Opaque;

const EPOLLIN: usize = 0x1;

/// A counted reference to an eventfd context.
///
/// # Invariants
///
/// `0` is a reference from `eventfd_ctx_fdget()`, put on drop.
pub struct EventCtx(NonNull<sys::eventfd_ctx>);

// SAFETY: eventfd contexts are refcounted and thread-safe.
unsafe impl Send for EventCtx {}
// SAFETY: signalling is thread-safe.
unsafe impl Sync for EventCtx {}

impl EventCtx {
    /// The context of eventfd `fd`: `EBADF` for a closed fd, `EINVAL` for another file.
    pub fn get(fd: i32) -> Result<Self> {
        // SAFETY: no preconditions; returns a reference or an ERR_PTR.
        let raw = from_err_ptr(unsafe { sys::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: a reference we own.
        Ok(Self(NonNull::new(raw).ok_or(EINVAL)?))
    }

    /// Adds one to the eventfd's counter, waking its readers. Not from a [`Kick`].
    pub fn signal(&self) {
        // SAFETY: referenced (invariant).
        unsafe { sys::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventCtx {
    fn drop(&mut self) {
        // SAFETY: the reference we own (invariant).
        unsafe { sys::eventfd_ctx_put(self.0.as_ptr()) };
    }
}

/// What a [`KickWatch`] does when its eventfd is signalled: runs in the eventfd's wake-up,
/// with interrupts off, and must not sleep or signal an eventfd.
pub trait Kick: Send + Sync + 'static {
    /// The eventfd was signalled.
    fn kick(&self);
}

/// The parts of a watch the eventfd's wait queue points into.
///
/// # Invariants
///
/// `pt` is first (the queue callback finds the watch from it). Pinned: `pt` and `wait` are
/// registered with the eventfd by address. While `wqh` is non-null, `wait` is on that queue.
#[repr(C)]
struct Watch<K: Kick> {
    pt: Opaque<sys::poll_table_struct>,
    wait: Opaque<sys::wait_queue_entry>,
    wqh: *mut sys::wait_queue_head,
    kick: K,
}

/// An eventfd being watched.
///
/// # Invariants
///
/// `file` is a reference to an eventfd file, held until drop; drop takes `watch.wait` off the
/// eventfd's queue before anything is freed.
pub struct KickWatch<K: Kick> {
    watch: Pin<KBox<Watch<K>>>,
    file: NonNull<sys::file>,
}

// SAFETY: the raw pointers are used only under the eventfd's queue lock (the callback) or by
// the owner (start and drop).
unsafe impl<K: Kick> Send for KickWatch<K> {}
// SAFETY: a shared watch allows nothing.
unsafe impl<K: Kick> Sync for KickWatch<K> {}

impl<K: Kick> KickWatch<K> {
    /// Watches eventfd `fd`, calling `kick` for each signal, and once now if it is signalled
    /// already (as `vhost_poll_start()` does). Errors are `eventfd_fget()`'s: `EBADF` for a
    /// closed fd, `EINVAL` for a file that is not an eventfd.
    pub fn start(fd: i32, kick: K) -> Result<Self> {
        // SAFETY: no preconditions; returns a file reference or an ERR_PTR.
        let file = from_err_ptr(unsafe { sys::eventfd_fget(fd) })?;
        // INVARIANT (of `file`): the reference just taken, put by drop from here on.
        let file = NonNull::new(file).ok_or(EINVAL)?;
        let mut watch = match KBox::pin(
            Watch {
                pt: Opaque::uninit(),
                wait: Opaque::uninit(),
                wqh: ptr::null_mut(),
                kick,
            },
            GFP_KERNEL,
        ) {
            Ok(w) => w,
            Err(e) => {
                // SAFETY: the reference taken above.
                unsafe { sys::fput(file.as_ptr()) };
                return Err(e.into());
            }
        };
        // SAFETY: we only write the C fields in place; the watch is never moved.
        let w = unsafe { Pin::get_unchecked_mut(watch.as_mut()) };
        // SAFETY: `w` is pinned and ours; `vfs_poll` calls `queue_proc` synchronously, which
        // puts `wait` on the eventfd's queue.
        let mask = unsafe {
            sys::vmdev_helper_init_poll_funcptr(w.pt.get(), Some(Self::queue_proc));
            sys::vmdev_helper_init_waitqueue_func_entry(w.wait.get(), Some(Self::wake));
            sys::vmdev_helper_vfs_poll(file.as_ptr(), w.pt.get())
        };
        let this = Self { watch, file };
        if mask as usize & EPOLLIN != 0 {
            this.watch.kick.kick();
        }
        Ok(this)
    }

    /// # Safety
    ///
    /// Called by `vfs_poll()` from `start` with the `pt` field of a watch being started.
    unsafe extern "C" fn queue_proc(
        _file: *mut sys::file,
        wqh: *mut sys::wait_queue_head,
        pt: *mut sys::poll_table_struct,
    ) {
        // `pt` is the first field of the `#[repr(C)]` watch.
        let w = pt.cast::<Watch<K>>();
        // SAFETY: the watch is live and exclusively `start`'s; `wqh` is the eventfd's queue,
        // which lives as long as the file the watch holds.
        unsafe {
            (*w).wqh = wqh;
            sys::add_wait_queue(wqh, (*w).wait.get());
        }
    }

    /// # Safety
    ///
    /// Called by the eventfd's wake-up with the `wait` field of a live watch.
    unsafe extern "C" fn wake(
        wait: *mut sys::wait_queue_entry,
        _mode: u32,
        _sync: i32,
        key: *mut core::ffi::c_void,
    ) -> i32 {
        // SAFETY: `wait` is the `wait` field of a live watch: drop takes it off the queue
        // (under the queue lock this callback runs with) before the watch goes away.
        let w = unsafe {
            &*kernel::container_of!(wait.cast::<Opaque<sys::wait_queue_entry>>(), Watch<K>, wait)
        };
        if (key as usize) & EPOLLIN != 0 {
            w.kick.kick();
        }
        0
    }
}

impl<K: Kick> Drop for KickWatch<K> {
    fn drop(&mut self) {
        let wqh = self.watch.wqh;
        // SAFETY: per the invariants; once `remove_wait_queue` returns, no wake-up is running
        // `wake` on this entry (both take the queue lock), so the watch may go.
        unsafe {
            if !wqh.is_null() {
                sys::remove_wait_queue(wqh, self.watch.wait.get());
            }
            sys::fput(self.file.as_ptr());
        }
    }
}
