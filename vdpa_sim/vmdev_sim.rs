// SPDX-License-Identifier: GPL-2.0
//! vmdev_sim: software devices on the virtio-mdev transport, so that everything runs with no
//! hardware.
//!
//! The simulator registers a platform device `vmdev_sim` as an mdev parent offering the type
//! `vmdev_sim-net`; every instance an administrator creates is a virtio-net device that loops
//! frames back. The files, by job:
//!
//! - `sim_device.rs`: the device core (register file, queues, worker, parent), class-agnostic;
//! - `sim_dma.rs`: the core's DMA translation table;
//! - `device_memory.rs`: how the core reaches driver memory;
//! - `device_log.rs`: how it reaches the dirty log while the guest migrates;
//! - `net.rs`: the net class (config, counters, packet path, sysfs);
//! - `test_knobs.rs`: test-only behaviour of every instance.
//!
//! The register semantics come from `vmdev_regs::RegisterFile`, the rings from `virtqueue`,
//! the packet path from `netsim`, all host-tested.

use kernel::prelude::*;
use kernel::sync::Arc;

// The glue layer and the crates are modules of this crate, private so that what this module
// does not use of them is left out of it rather than exported (each module uses a part).

/// The glue layer this module uses (see `kglue/`).
#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../kglue"]
mod kglue {
    pub mod cstatic;
    pub mod platform;
    pub mod ram;
    pub mod random;
    pub mod rwsem;
    pub mod sys;
    pub mod sysfs;
    pub mod vendor;
    pub mod workqueue;
}

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
mod vmdev_regs;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/virtqueue/src/virtqueue/mod.rs"]
mod virtqueue;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/netsim/src/netsim/mod.rs"]
mod netsim;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/iotlb/src/iotlb/mod.rs"]
mod iotlb;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/dirty_log/src/dirty_log/mod.rs"]
mod dirty_log;

mod device_log;
mod device_memory;
mod net;
mod sim_device;
mod sim_dma;
mod test_knobs;

module! {
    type: SimModule,
    name: "vmdev_sim",
    author: "virtio-mdev developers",
    description: "software virtio-net loopback device on the virtio-mdev transport",
    license: "GPL",
}

/// The parent device's name, and so the prefix of its mdev types.
const DRV_NAME: &core::ffi::CStr = c"vmdev_sim";

/// The module. Fields drop in order: the parent registration first (which removes every
/// instance), then the platform device it sits on.
struct SimModule {
    _net: kglue::vendor::Registration<net::NetParent>,
    _parent: kglue::platform::SoftParent,
}

impl kernel::Module for SimModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let wq = Arc::new(kglue::workqueue::Queue::new_unbound(DRV_NAME)?, GFP_KERNEL)?;
        let parent = kglue::platform::SoftParent::new(DRV_NAME, module)?;
        let net = kglue::vendor::Registration::new(
            parent.device(),
            net::NetParent::new(wq),
            Some(net::GROUPS.list()),
        )?;
        Ok(SimModule {
            _net: net,
            _parent: parent,
        })
    }
}
