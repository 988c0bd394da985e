// SPDX-License-Identifier: GPL-2.0
//! A read-write semaphore that owns the data it guards.
//!
//! The 6.12 `kernel` crate has exclusive locks only. A device whose packet path runs in
//! several workers at once needs the other shape: the workers read the device's settings and
//! DMA tables together, and a register write that changes them waits until none is reading.
//! [`RwSem`] is a `struct rw_semaphore` with the data beside it; [`RwSem::read`] gives a
//! shared guard and [`RwSem::write`] an exclusive one, so the borrow rules say what each side
//! may touch. Both sleep: process context only.
//!
//! Each [`new_rwsem!`] call site gets its own lockdep class, as `init_rwsem()` does in C.

use core::cell::UnsafeCell;
use core::marker::{PhantomData, PhantomPinned};
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::sync::LockClassKey;
use kernel::types::Opaque;

/// A `struct rw_semaphore` and the data it guards.
///
/// # Invariants
///
/// `sem` was initialised by `__init_rwsem()` and is never moved (the value is pinned).
/// `data` is read only by holders of a read or write guard, and written only by the holder of
/// a write guard.
#[pin_data]
pub struct RwSem<T> {
    #[pin]
    sem: Opaque<kernel::bindings::rw_semaphore>,
    data: UnsafeCell<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the semaphore may be taken from any task; `T: Send` lets the data move between the
// tasks that take it in turn.
unsafe impl<T: Send> Send for RwSem<T> {}
// SAFETY: readers share `&T` across tasks, which needs `T: Sync`; writers get `&mut T` in any
// task, which needs `T: Send`.
unsafe impl<T: Send + Sync> Sync for RwSem<T> {}

impl<T> RwSem<T> {
    /// A semaphore guarding `data`, in lockdep class `key` named `name` (see [`new_rwsem!`]).
    pub fn new(data: T, name: &'static CStr, key: &'static LockClassKey) -> impl PinInit<Self> {
        // A `LockClassKey` is a transparent `lock_class_key`; the kernel crate keeps its
        // pointer accessor private.
        let key = core::ptr::from_ref(key).cast_mut().cast();
        pin_init!(Self {
            // SAFETY: initialises the semaphore in place, with a name and key that live
            // forever.
            sem <- Opaque::ffi_init(|slot| unsafe {
                kernel::bindings::__init_rwsem(slot, name.as_char_ptr(), key)
            }),
            data: UnsafeCell::new(data),
            _pin: PhantomPinned,
        })
    }

    /// Waits until no writer holds or waits for the semaphore, and reads.
    pub fn read(&self) -> ReadGuard<'_, T> {
        // SAFETY: initialised (invariant).
        unsafe { kernel::bindings::down_read(self.sem.get()) };
        // INVARIANT: this task holds the semaphore for reading.
        ReadGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }

    /// Waits until nobody holds the semaphore, and writes.
    pub fn write(&self) -> WriteGuard<'_, T> {
        // SAFETY: initialised (invariant).
        unsafe { kernel::bindings::down_write(self.sem.get()) };
        // INVARIANT: this task holds the semaphore for writing.
        WriteGuard {
            sem: self,
            _not_send: PhantomData,
        }
    }
}

/// Shared access to an [`RwSem`]'s data; released on drop.
///
/// # Invariants
///
/// The task that made the guard holds `sem` for reading.
pub struct ReadGuard<'a, T> {
    sem: &'a RwSem<T>,
    /// Released by the task that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: readers exclude writers (invariant), so nobody writes the data.
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> Drop for ReadGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: held for reading (invariant); released once.
        unsafe { kernel::bindings::up_read(self.sem.sem.get()) };
    }
}

/// Exclusive access to an [`RwSem`]'s data; released on drop.
///
/// # Invariants
///
/// The task that made the guard holds `sem` for writing.
pub struct WriteGuard<'a, T> {
    sem: &'a RwSem<T>,
    /// Released by the task that took it.
    _not_send: PhantomData<*mut ()>,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the writer excludes everyone else (invariant).
        unsafe { &*self.sem.data.get() }
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the writer excludes everyone else (invariant), and this guard is borrowed
        // mutably.
        unsafe { &mut *self.sem.data.get() }
    }
}

impl<T> Drop for WriteGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: held for writing (invariant); released once.
        unsafe { kernel::bindings::up_write(self.sem.sem.get()) };
    }
}

/// Creates an [`RwSem`] initialiser with a lockdep class of its own.
#[macro_export]
macro_rules! new_rwsem {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::kglue::rwsem::RwSem::new(
            $inner,
            ::kernel::optional_name!($($name)?),
            ::kernel::static_lock_class!(),
        )
    };
}
