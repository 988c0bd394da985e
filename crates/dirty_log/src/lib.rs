// SPDX-License-Identifier: GPL-2.0
//! vhost's dirty-page log, device side.
//!
//! The code lives in `src/dirty_log/` so the kernel can compile the very same files as a
//! module through `#[path]`; this file is only the cargo shim.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(any(test, feature = "test-utils"))]
extern crate std;
// An `extern crate` item (not a `use`) on purpose: it mirrors the kernel layout, where
// `virtqueue` is a module item of the root.
#[allow(unused_extern_crates)]
extern crate virtqueue;
mod dirty_log;
pub use dirty_log::*;
