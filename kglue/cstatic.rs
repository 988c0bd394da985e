// SPDX-License-Identifier: GPL-2.0
//! C objects that live in statics: operation tables, drivers, attribute arrays.
//!
//! The C side keeps pointers to these objects for as long as they are registered and may
//! write some of their fields (the driver core fills in a `struct device_driver`), so a
//! plain Rust `static` (immutable, and possibly in read-only memory) will not do. A
//! [`CStatic`] holds the object in an `UnsafeCell`: Rust only ever takes its address and hands
//! that to C, which serialises its own accesses.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;

/// A C object placed in a `static` whose address is handed to C.
#[repr(transparent)]
pub struct CStatic<T>(UnsafeCell<T>);

// SAFETY: Rust code never reads or writes the contents through a shared reference; it only
// takes their address, and the C side serialises its own accesses (driver-core locks).
unsafe impl<T> Sync for CStatic<T> {}

impl<T> CStatic<T> {
    /// Wraps `v`.
    pub const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// The object's address, for C.
    pub const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// An all-zero C struct, the starting point of a C initialiser (`= { 0 }` in C).
///
/// # Safety
///
/// All-zero bytes must be a valid `T`: true of bindgen structs made of integers, raw
/// pointers and `Option<fn>`.
pub const unsafe fn zeroed<T>() -> T {
    // SAFETY: the caller guarantees that all-zero bytes are a valid `T`.
    unsafe { MaybeUninit::zeroed().assume_init() }
}
