// SPDX-License-Identifier: GPL-2.0
//! virtio_mdev: a virtio transport over the virtio-mdev register window.
//!
//! It binds to devices on the vmdev bus and registers a virtio device for each, whose config
//! ops go through the register window, so the kernel's own virtio drivers (virtio_net first)
//! drive them unchanged. Vrings come from the virtio core and are handed to the device in the
//! order the 2019 RFC transport used: size, the three ring addresses, then `QUEUE_READY`.
//!
//! This file is the transport's policy only: which registers each virtio op becomes, and what
//! it checks. The virtio core's side (`virtio_config_ops`, vring creation, the device's
//! lifetime) is `kglue::virtio`, and the binding's (probe order, interrupt delivery) is
//! `kglue::driver`.

use kernel::error::code::{EINVAL, ENODEV, ENOENT};
use kernel::prelude::*;

// The glue layer and the crates are modules of this crate, private so that what this module
// does not use of them is left out of it rather than exported (each module uses a part).

/// The glue layer this module uses (see `kglue/`).
#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../kglue"]
mod kglue {
    pub mod cstatic;
    pub mod driver;
    pub mod sys;
    pub mod virtio;
    pub mod virtio_config_ops;
    pub mod window;
}

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
mod vmdev_regs;

use kglue::driver::{self, Driver};
use kglue::virtio::{QueueLimits, RingLayout, Transport, VirtioHandle};
use kglue::window::Window;
use vmdev_regs::map::{Register, MAGIC, VERSION};

module! {
    type: VirtioMdevModule,
    name: "virtio_mdev",
    author: "virtio-mdev developers",
    description: "virtio transport for virtio-mdev devices",
    license: "GPL",
}

/// Largest queue size the virtio core's split rings take.
const QUEUE_NUM_LIMIT: u32 = 32768;
/// Largest used-ring alignment accepted.
const QUEUE_ALIGN_LIMIT: u32 = 65536;

/// The virtio transport of one device: its register window.
struct MdevTransport {
    window: Window,
}

impl Transport for MdevTransport {
    fn read_config(&self, offset: u32, buf: &mut [u8]) -> Result {
        self.window.config_read(offset, buf)
    }

    fn write_config(&self, offset: u32, buf: &[u8]) -> Result {
        self.window.config_write(offset, buf)
    }

    fn generation(&self) -> u32 {
        self.window.read(Register::CONFIG_GENERATION)
    }

    fn status(&self) -> u8 {
        self.window.status()
    }

    fn set_status(&self, status: u8) {
        // A refused status is what the driver reads back, and virtio drivers check it.
        let _ = self.window.write(Register::STATUS, u32::from(status));
    }

    fn reset(&self) {
        self.window.reset();
    }

    fn device_features(&self) -> u64 {
        self.window.device_features()
    }

    fn set_driver_features(&self, features: u64) -> Result {
        // This transport has no legacy mode.
        if features & vmdev_regs::features::VERSION_1 == 0 {
            return Err(EINVAL);
        }
        self.window.set_driver_features(features)
    }

    fn num_queues(&self) -> u32 {
        self.window.read(Register::NUM_QUEUES)
    }

    fn queue_limits(&self, index: u32) -> Result<QueueLimits> {
        self.window.select_queue(index).map_err(|_| ENOENT)?;
        if self.window.read(Register::QUEUE_READY) != 0 {
            return Err(ENOENT);
        }
        let num_max = self.window.read(Register::QUEUE_NUM_MAX);
        if num_max == 0 || num_max > QUEUE_NUM_LIMIT {
            return Err(ENOENT);
        }
        let align = self.window.read(Register::QUEUE_ALIGN);
        if !align.is_power_of_two() || align > QUEUE_ALIGN_LIMIT {
            return Err(EINVAL);
        }
        Ok(QueueLimits { num_max, align })
    }

    fn enable_queue(&self, index: u32, ring: &RingLayout) -> Result {
        let w = &self.window;
        w.select_queue(index)?;
        w.write(Register::QUEUE_NUM, ring.num)?;
        w.write64(
            Register::QUEUE_DESC_LOW,
            Register::QUEUE_DESC_HIGH,
            ring.desc,
        )?;
        w.write64(
            Register::QUEUE_AVAIL_LOW,
            Register::QUEUE_AVAIL_HIGH,
            ring.avail,
        )?;
        w.write64(
            Register::QUEUE_USED_LOW,
            Register::QUEUE_USED_HIGH,
            ring.used,
        )?;
        w.write(Register::QUEUE_READY, 1)?;
        // A device that cannot use the rings leaves the queue disabled.
        if w.read(Register::QUEUE_READY) != 1 {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn disable_queue(&self, index: u32) {
        if self.window.select_queue(index).is_ok() {
            let _ = self.window.write(Register::QUEUE_READY, 0);
        }
    }

    fn notify(&self, index: u32) -> bool {
        self.window.notify(index).is_ok()
    }

    fn synchronize_interrupts(&self) {
        self.window.synchronize_callbacks();
    }

    fn bus_name(&self) -> &core::ffi::CStr {
        self.window.name()
    }
}

/// The driver on the vmdev bus: one virtio device per bound device.
struct VirtioMdevDriver;

impl Driver for VirtioMdevDriver {
    const NAME: &'static core::ffi::CStr = c"virtio_mdev";
    const DEVICE_IDS: &'static [u32] = &[];
    /// The virtio driver reads the device's settings (a MAC, a capacity) at probe: a change
    /// of them rebinds, so that it comes back with the new ones.
    const REBIND_FOR_SETTINGS: bool = true;
    type Context = ();
    type Data = VirtioHandle<MdevTransport>;

    fn probe(_ctx: &(), window: &Window) -> Result<Self::Data> {
        let magic = window.read(Register::MAGIC_VALUE);
        let version = window.read(Register::VERSION);
        let device_id = window.read(Register::DEVICE_ID);
        if magic != MAGIC || version != VERSION || device_id == 0 {
            pr_warn!(
                "{}: not a virtio-mdev device (magic {:#x} version {} device {})\n",
                window.name().to_str().unwrap_or("?"),
                magic,
                version,
                device_id
            );
            return Err(ENODEV);
        }
        let vendor_id = window.read(Register::VENDOR_ID);
        let transport = MdevTransport {
            window: window.clone(),
        };
        VirtioHandle::new(window.device(), device_id, vendor_id, transport)
    }

    /// Registering the virtio device probes its driver, which sets `DRIVER_OK`: the device's
    /// interrupts already reach the handle.
    fn start(_ctx: &(), data: &Self::Data) -> Result {
        data.register()
    }

    fn remove(_ctx: &(), data: &Self::Data) {
        // The virtio driver resets the device in its remove; reset again in case it failed
        // to bind at all.
        data.unregister();
        if let Some(t) = data.transport() {
            t.reset();
        }
    }

    fn vq_interrupt(data: &Self::Data, queue: u32) {
        data.vq_interrupt(queue);
    }

    fn config_changed(data: &Self::Data) {
        data.config_changed();
    }
}

struct VirtioMdevModule {
    _driver: driver::Registration<VirtioMdevDriver>,
}

impl kernel::Module for VirtioMdevModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(VirtioMdevModule {
            _driver: driver::Registration::new(module, ())?,
        })
    }
}
