// SPDX-License-Identifier: GPL-2.0
//! Raw bindings for the C APIs the 6.12 `kernel` crate does not wrap, generated at build time
//! from `kglue/sys_helper.h` (mdev, virtio, the driver core, `transport/vmdev.h`, and the
//! `vmdev_helper_*` wrappers of `static inline` functions).
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    missing_docs,
    unreachable_pub,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unused_imports,
    clippy::all,
    clippy::undocumented_unsafe_blocks
)]

use kernel::ffi;

type __kernel_size_t = usize;
type __kernel_ssize_t = isize;
type __kernel_ptrdiff_t = isize;

// The module's Kbuild passes the generated file's path (it lives in the module's build dir).
include!(env!("VMDEV_SYS_GENERATED"));
