// SPDX-License-Identifier: GPL-2.0
//! The vhost-vdpa user API of Linux 6.12 (`/dev/vhost-vdpa-N`).
//!
//! Two sides use these files: a kernel module that answers the uAPI like the
//! kernel's `drivers/vhost/vdpa.c`, and a userspace test client that drives
//! it. Both need the same ioctl numbers, the same byte layouts and the same
//! idea of which errno every bad input gets, so all of that lives here:
//!
//! - [`errno`]: the positive errno values used; the kernel side negates them.
//! - ioctl numbers ([`ioc`], [`VHOST_SET_OWNER`], ...) and [`Ioctl`].
//! - Wire structs with explicit native-endian encoding ([`VringState`],
//!   [`VringAddr`], [`IotlbMsg`], ...), laid out as on x86-64.
//! - [`parse_iotlb_write`]: the framing of an IOTLB `write()`, exactly as
//!   `vhost_chr_write_iter()`.
//! - Validation functions, each named after the kernel function whose
//!   behaviour it copies, returning the errno userspace sees.
//! - [`route`] and [`preflight`]: the order in which
//!   `vhost_vdpa_unlocked_ioctl()` dispatches a command and applies the owner
//!   and vring-index checks.
//!
//! Nothing here allocates, uses `unsafe` or can panic on any input, because
//! the kernel build has overflow checks on and objtool rejects panic paths.
#![forbid(unsafe_code)]

pub mod errno;
mod features;
mod ioctl;
mod iotlb;
mod route;
mod types;
mod validate;

#[cfg(test)]
mod tests;

pub use self::errno::Errno;
pub use self::features::*;
pub use self::ioctl::*;
pub use self::iotlb::*;
pub use self::route::*;
pub use self::types::*;
pub use self::validate::*;
