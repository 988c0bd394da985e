// SPDX-License-Identifier: GPL-2.0
//! The vhost-vdpa user API of Linux 6.12, as plain data and pure checks.
//!
//! The code lives in `src/vhost_uapi/` so the kernel can compile the very same
//! files as a module through `#[path]`; this file is only the cargo shim.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;
mod vhost_uapi;
pub use vhost_uapi::*;
