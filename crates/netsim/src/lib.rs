// SPDX-License-Identifier: GPL-2.0
//! The simulator's virtio-net loopback packet path (device side).
//!
//! The code lives in `src/netsim/` so the kernel can compile the very same
//! files as a module through `#[path]`; this file is only the cargo shim. The
//! `extern crate` puts `virtqueue` at the crate root, where the kernel has the
//! sibling module of the same name, so `super::virtqueue` works in both.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;
// An `extern crate` item (not a `use`) on purpose: it mirrors the kernel
// layout, where `virtqueue` is a module item of the root.
#[allow(unused_extern_crates)]
extern crate virtqueue;
mod netsim;
pub use netsim::*;
