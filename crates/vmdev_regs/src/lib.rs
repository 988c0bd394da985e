// SPDX-License-Identifier: GPL-2.0
//! The virtio-mdev register map.
//!
//! This crate is a shim for host tests: the code lives in `src/vmdev_regs/`, which the kernel
//! modules compile as a module of their own crate (see `Documentation/architecture.rst`).
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod vmdev_regs;
pub use vmdev_regs::*;
