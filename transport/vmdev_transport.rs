// SPDX-License-Identifier: GPL-2.0
//! virtio-mdev transport.
//!
//! Vendors register a parent with mdev types (`vmdev_register_parent`). Each mdev instance an
//! administrator creates becomes a `vmdev` device on this module's own bus, where personality
//! drivers (virtio_mdev, vhost_mdev) bind by virtio device class, or by name through
//! `driver_override`. mdev gives the lifecycle; the bus gives the driver model.
//!
//! Drivers reach a device only through the register window. Every access is checked against
//! the register map (`vmdev_regs::map`) here, so a device never sees a malformed access.
//! Devices report interrupts with `vmdev_vq_interrupt`, which this module hands to the bound
//! driver with bottom halves disabled.
//!
//! The C ABI is `transport/vmdev.h` (`exports.c` exports it, with the C helpers of
//! `kglue/helpers.c` that every module of the project calls). The files, by job:
//!
//! - `device.rs`: the parent and instance objects, and interrupt delivery;
//! - `bus.rs`: the vmdev bus (matching, binding, per-device attributes);
//! - `mdev_driver.rs`: the mdev driver that turns instances into vmdev devices;
//! - `vendor_abi.rs` and `driver_abi.rs`: the exported C ABI of each side;
//! - `debugfs.rs`: the register files.

use kernel::error::code::EAGAIN;
use kernel::prelude::*;

// The glue layer and the crates are modules of this crate, private so that what this module
// does not use of them is left out of it rather than exported (each module uses a part).

/// The glue layer this module uses (see `kglue/`).
#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../kglue"]
mod kglue {
    pub mod cstatic;
    pub mod debugfs;
    pub mod sync;
    pub mod sys;
    pub mod sysfs;
}

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
mod vmdev_regs;

mod bus;
mod debugfs;
mod device;
pub mod driver_abi;
mod mdev_driver;
mod mdev_settings;
pub mod vendor_abi;

module! {
    type: VmdevTransport,
    name: "vmdev",
    author: "virtio-mdev developers",
    description: "virtio-mdev transport: virtio devices over mediated devices",
    license: "GPL",
}

/// The instance numbers (`vmdevN`), destroyed on drop.
struct Ida(());

impl Ida {
    fn new() -> Self {
        // SAFETY: before any device exists; the IDA is a static that lives as long as the
        // module.
        unsafe { kglue::sys::vmdev_helper_ida_init(mdev_driver::VMDEV_IDA.get()) };
        Ida(())
    }
}

impl Drop for Ida {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`; no device is left to hold a number.
        unsafe { kglue::sys::ida_destroy(mdev_driver::VMDEV_IDA.get()) };
    }
}

/// Fails module init after `step` when the test-only parameter `test_fail_init` asks for it.
fn test_fail_init(step: i32) -> Result {
    // SAFETY: reads a module parameter.
    if unsafe { kglue::sys::vmdev_test_fail_init() } == step {
        pr_info!("test_fail_init: failing init after step {}\n", step);
        return Err(EAGAIN);
    }
    Ok(())
}

/// The module: everything it registered, unregistered in declaration order on unload (which
/// is also the unwinding order when init fails part-way).
struct VmdevTransport {
    _mdev_driver: mdev_driver::MdevDriverRegistration,
    _bus: bus::BusRegistration,
    _debugfs: debugfs::Root,
    _ida: Ida,
}

impl kernel::Module for VmdevTransport {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let ida = Ida::new();
        // Without debugfs the transport works all the same, without register files.
        let debugfs = debugfs::Root::new(module);
        test_fail_init(1)?;
        let bus = bus::BusRegistration::new()?;
        test_fail_init(2)?;
        let mdev_driver = mdev_driver::MdevDriverRegistration::new()?;
        pr_info!(
            "virtio-mdev transport registered (register map revision {})\n",
            vmdev_regs::map::VERSION
        );
        Ok(VmdevTransport {
            _mdev_driver: mdev_driver,
            _bus: bus,
            _debugfs: debugfs,
            _ida: ida,
        })
    }
}
