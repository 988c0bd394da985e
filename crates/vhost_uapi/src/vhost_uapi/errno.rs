// SPDX-License-Identifier: GPL-2.0
//! The errno values the vhost-vdpa uAPI produces (x86-64 / asm-generic).
//!
//! They are positive, as userspace reads them from `errno`; the kernel side
//! negates them when it returns from a file operation.

/// A positive errno value. The kernel side returns its negation.
pub type Errno = i32;

/// Operation not permitted: the caller is not the owner
/// (`vhost_dev_check_owner()`).
pub const EPERM: Errno = 1;
/// No such file or directory.
pub const ENOENT: Errno = 2;
/// I/O error: a parent reported a vq group out of range.
pub const EIO: Errno = 5;
/// Argument list too long: `SET_MEM_TABLE` with too many regions, and the
/// internal result of `vhost_vdpa_config_validate()` for an overlong access.
pub const E2BIG: Errno = 7;
/// Bad file descriptor: an eventfd argument that is not an open fd.
pub const EBADF: Errno = 9;
/// Out of memory.
pub const ENOMEM: Errno = 12;
/// Bad address: unreadable or unwritable user memory, and any IOTLB handler
/// error as seen by `write()`.
pub const EFAULT: Errno = 14;
/// Device or resource busy: second open, second `SET_OWNER`,
/// `SET_FEATURES` after `FEATURES_OK`.
pub const EBUSY: Errno = 16;
/// File exists: an IOTLB update overlapping an existing map.
pub const EEXIST: Errno = 17;
/// No such device.
pub const ENODEV: Errno = 19;
/// Invalid argument.
pub const EINVAL: Errno = 22;
/// Inappropriate ioctl for device: what the VFS makes of `-ENOIOCTLCMD`.
pub const ENOTTY: Errno = 25;
/// No space left on device: an address space already holds the maximum
/// number of IOTLB entries.
pub const ENOSPC: Errno = 28;
/// Operation not supported.
pub const EOPNOTSUPP: Errno = 95;
/// No buffer space available: a vring index `>= nvqs`.
pub const ENOBUFS: Errno = 105;
/// The kernel-internal `ENOTSUPP` (524), which leaks to userspace from
/// `vhost_vdpa_mmap()` as "Unknown error 524".
pub const ENOTSUPP: Errno = 524;
