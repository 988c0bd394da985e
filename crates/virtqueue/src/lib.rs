// SPDX-License-Identifier: GPL-2.0
//! Device side of a virtio 1.x split virtqueue.
//!
//! The code lives in `src/virtqueue/` so the kernel can compile the very same
//! files as a module through `#[path]`; this file is only the cargo shim.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(any(test, feature = "test-utils"))]
extern crate std;
mod virtqueue;
pub use virtqueue::*;
