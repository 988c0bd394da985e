// SPDX-License-Identifier: GPL-2.0
//! The simulator's virtio-blk request path (device side).
//!
//! The code lives in `src/blksim/` so the kernel can compile the very same
//! files as a module through `#[path]`; this file is only the cargo shim (see
//! `crates/netsim/src/lib.rs` for why `virtqueue` is an `extern crate`).
#![no_std]
#![forbid(unsafe_code)]
#[cfg(test)]
extern crate std;
#[allow(unused_extern_crates)]
extern crate virtqueue;
mod blksim;
pub use blksim::*;
