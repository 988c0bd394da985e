// SPDX-License-Identifier: GPL-2.0
//! vmdev_sim: software devices on the virtio-mdev transport, so that everything runs with no
//! hardware.
//!
//! The simulator registers two platform devices as mdev parents, each offering the type of one
//! device class: `vmdev_sim` offers `vmdev_sim-net`, whose instances are virtio-net devices
//! that loop frames back, and `vmdev_sim_blk` offers `vmdev_sim-blk`, whose instances are
//! virtio-blk RAM disks. The files, by job:
//!
//! - `sim_device.rs`: the device core (register file, queues, worker, parent), class-agnostic;
//! - `sim_dma.rs`: the core's DMA translation table;
//! - `device_memory.rs`: how the core reaches driver memory;
//! - `device_log.rs`: how it reaches the dirty log while the guest migrates;
//! - `net.rs`: the net class (config, counters, packet path, sysfs);
//! - `blk.rs`: the block class (settings, counters, request path, sysfs);
//! - `blk_store.rs`: the block class's RAM backing store;
//! - `test_knobs.rs`: test-only behaviour of every instance.
//!
//! The register semantics come from `vmdev_regs::RegisterFile`, the rings from `virtqueue`,
//! the packet path from `netsim`, the block requests from `blksim`, all host-tested.

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
#[path = "../crates/blksim/src/blksim/mod.rs"]
mod blksim;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/iotlb/src/iotlb/mod.rs"]
mod iotlb;

#[allow(dead_code, unused_imports, unreachable_pub)]
#[path = "../crates/dirty_log/src/dirty_log/mod.rs"]
mod dirty_log;

mod blk;
mod blk_store;
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
    description: "software virtio-net and virtio-blk devices on the virtio-mdev transport",
    license: "GPL",
}

/// The parent devices' driver, and so the prefix of their mdev types.
const DRV_NAME: &core::ffi::CStr = c"vmdev_sim";
/// The parent device of the net class.
const NET_PARENT: &core::ffi::CStr = c"vmdev_sim";
/// The parent device of the block class (a parent has one set of instance attributes, so
/// each class has its own).
const BLK_PARENT: &core::ffi::CStr = c"vmdev_sim_blk";

/// The module. Fields drop in order: the parent registrations first (which remove every
/// instance), then the platform devices they sit on.
struct SimModule {
    _net: kglue::vendor::Registration<net::NetParent>,
    _blk: kglue::vendor::Registration<blk::BlkParent>,
    _parent: kglue::platform::SoftParent,
}

impl kernel::Module for SimModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let wq = Arc::new(kglue::workqueue::Queue::new_unbound(DRV_NAME)?, GFP_KERNEL)?;
        let parent = kglue::platform::SoftParent::new(DRV_NAME, &[NET_PARENT, BLK_PARENT], module)?;
        let (Some(net_dev), Some(blk_dev)) = (parent.device(0), parent.device(1)) else {
            return Err(ENODEV);
        };
        let net = kglue::vendor::Registration::new(
            net_dev,
            net::NetParent::new(wq.clone()),
            Some(net::GROUPS.list()),
        )?;
        let blk = kglue::vendor::Registration::new(
            blk_dev,
            blk::BlkParent::new(wq),
            Some(blk::GROUPS.list()),
        )?;
        Ok(SimModule {
            _net: net,
            _blk: blk,
            _parent: parent,
        })
    }
}
