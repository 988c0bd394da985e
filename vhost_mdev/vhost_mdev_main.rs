// SPDX-License-Identifier: GPL-2.0
//! vhost_mdev: the vhost-vdpa uAPI on `/dev/vhost-mdev-N`, for devices on the vmdev bus.
//!
//! It binds on the transport's bus (any device class; an administrator picks it over
//! virtio_mdev with `driver_override`) and creates one character device per bound device,
//! in a chrdev region and class of its own. The uAPI is the kernel's vhost-vdpa one, number
//! for number and errno for errno (`crates/vhost_uapi` holds the numbers, layouts, checks and
//! the ioctl routing, host-tested). The files, by job:
//!
//! - `binding.rs`: the driver on the vmdev bus (probe, remove, interrupts);
//! - `chardev.rs`: the character devices and the open-file operations;
//! - `device.rs`: the state of a bound device and what vhost operations do to it;
//! - `ioctl.rs`: the ioctls and IOTLB messages;
//! - `migration.rs`: the dirty log and the ring state a migration reads;
//! - `pinned_iotlb.rs`: the IOTLB, userspace memory pinned and mapped in the device;
//! - `unpin_worker.rs`: the worker that unpins what INVALIDATE removed.
//!
//! Documentation/vhost-uapi.rst lists what is supported and how it differs from vhost-vdpa.

use kernel::prelude::*;

// The glue layer and the crates are modules of this crate, private so that what this module
// does not use of them is left out of it rather than exported (each module uses a part).

/// The glue layer this module uses (see `kglue/`).
#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../kglue"]
mod kglue {
    pub mod chrdev;
    pub mod cstatic;
    pub mod driver;
    pub mod eventfd;
    pub mod file;
    pub mod mm;
    pub mod sync;
    pub mod sys;
    pub mod task;
    pub mod window;
    pub mod workqueue;
}

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
mod vmdev_regs;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/vhost_uapi/src/vhost_uapi/mod.rs"]
mod vhost_uapi;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/iotlb/src/iotlb/mod.rs"]
mod iotlb;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/virtqueue/src/virtqueue/mod.rs"]
mod virtqueue;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/dirty_log/src/dirty_log/mod.rs"]
mod dirty_log;

mod binding;
mod chardev;
mod device;
mod ioctl;
mod migration;
mod pinned_iotlb;
mod unpin_worker;

module! {
    type: VhostMdevModule,
    name: "vhost_mdev",
    author: "virtio-mdev developers",
    description: "vhost-vdpa uAPI for virtio-mdev devices",
    license: "GPL",
}

/// Devices (and minors) the module serves.
const MAX_DEVICES: usize = 256;
/// DPDK finds vhost-vdpa character devices by this prefix in /proc/devices (it treats misc
/// devices as vhost-net), so the region's name starts with it.
const REGION_NAME: &core::ffi::CStr = c"vhost-vdpa-mdev";
const CLASS_NAME: &core::ffi::CStr = c"vhost-mdev";

struct VhostMdevModule {
    /// Dropping it unbinds every device (removing its node), then releases the region and
    /// the class; no file is open then (each holds a module reference).
    _driver: kglue::driver::Registration<binding::VhostMdevDriver>,
}

impl kernel::Module for VhostMdevModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let devices = chardev::Devices::new()?;
        let shared = binding::Shared {
            region: kglue::chrdev::Region::new(
                REGION_NAME,
                MAX_DEVICES as u32,
                module,
                devices.clone(),
            )?,
            class: kglue::chrdev::Class::new(CLASS_NAME)?,
            devices,
            releaser: unpin_worker::Releaser::new()?,
        };
        Ok(VhostMdevModule {
            _driver: kglue::driver::Registration::new(module, shared)?,
        })
    }
}
