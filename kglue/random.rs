// SPDX-License-Identifier: GPL-2.0
//! Random bytes from the kernel's generator.

use super::sys;

/// Fills `buf` with random bytes (`get_random_bytes()`).
pub fn fill(buf: &mut [u8]) {
    // SAFETY: writes exactly `buf.len()` bytes into `buf`.
    unsafe { sys::get_random_bytes(buf.as_mut_ptr().cast(), buf.len()) };
}
