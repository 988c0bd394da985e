// SPDX-License-Identifier: GPL-2.0
//! Table of disjoint IOVA mappings that never allocates by itself.
//!
//! The code lives in `src/iotlb/` so the kernel can compile the very same
//! files as a module through `#[path]`; this file is only the cargo shim.
#![no_std]
#![forbid(unsafe_code)]
#[cfg(any(test, feature = "test-utils"))]
extern crate std;
mod iotlb;
pub use iotlb::*;
