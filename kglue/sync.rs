// SPDX-License-Identifier: GPL-2.0
//! A spinlock that disables bottom halves, for state the interrupt path shares.
//!
//! The transport delivers device interrupts with bottom halves disabled (virtio's
//! `vring_interrupt()` schedules NAPI, which must not run under a plain process-context lock),
//! so state that the interrupt path and process context share needs `spin_lock_bh()`. The 6.12
//! `kernel` crate has `SpinLock` (plain `spin_lock()`) only; [`BhSpinLock`] is the same
//! [`Lock`] over a backend that takes the lock with bottom halves off.
//!
//! Each [`new_bh_spinlock!`] call site gets its own lockdep class, as `spin_lock_init()` does in
//! C: locks initialised through one shared C helper would all share one class, and lockdep
//! could neither tell them apart nor see the order between them.

use super::sys;
use kernel::sync::lock::{Backend, Lock};

/// A `spinlock_t` taken with `spin_lock_bh()`.
pub type BhSpinLock<T> = Lock<T, BhSpinLockBackend>;

/// Creates a [`BhSpinLock`] initialiser with a lockdep class of its own.
#[macro_export]
macro_rules! new_bh_spinlock {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::kglue::sync::BhSpinLock::new(
            $inner,
            ::kernel::optional_name!($($name)?),
            ::kernel::static_lock_class!(),
        )
    };
}

/// The backend of [`BhSpinLock`].
pub struct BhSpinLockBackend;

// SAFETY: `spin_lock_bh()` gives mutual exclusion between CPUs and against bottom halves on
// this one; `relock` is the default, which locks the same way.
unsafe impl Backend for BhSpinLockBackend {
    type State = kernel::bindings::spinlock_t;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut kernel::bindings::lock_class_key,
    ) {
        // SAFETY: the caller passes a lock valid for writes and a name and key that live
        // forever.
        unsafe { kernel::bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: the caller guarantees `init` ran; the two bindings name the same C type.
        unsafe { sys::vmdev_helper_spin_lock_bh(ptr.cast()) }
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: the caller owns the lock.
        unsafe { sys::vmdev_helper_spin_unlock_bh(ptr.cast()) }
    }
}
