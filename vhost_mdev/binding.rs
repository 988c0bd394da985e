// SPDX-License-Identifier: GPL-2.0
//! The driver on the vmdev bus: binding a device creates its `/dev/vhost-mdev-N`.
//!
//! vhost_mdev binds to any device class; an administrator picks it over virtio_mdev with
//! `driver_override`. At probe it switches the device's DMA translation on, so the device can
//! only ever reach pages userspace mapped through the IOTLB, and it refuses devices without
//! a translation table (they would take userspace addresses as physical ones).

use super::chardev::{Devices, VhostFile};
use super::device::{Inner, VhostDev, VringShadow, LOG_ALL, MAX_VQS};
use super::kglue::chrdev::{Class, Node, Region};
use super::kglue::driver::Driver;
use super::kglue::window::Window;
use super::unpin_worker::Releaser;
use super::vhost_uapi::{BackendCaps, IotlbBatch};
use super::vmdev_regs::map::Register;
use super::vmdev_regs::{caps, dma, log, MAX_AS};
use kernel::error::code::ENODEV;
use kernel::prelude::*;
use kernel::sync::Arc;

/// What every binding shares: the minors and the class of the character devices, and the
/// worker that unpins released IOTLB pages.
pub(crate) struct Shared {
    pub(crate) devices: Arc<Devices>,
    pub(crate) region: Region<VhostFile>,
    pub(crate) class: Class,
    pub(crate) releaser: Arc<Releaser>,
}

/// Turns translation off in the device's first `nas` address spaces, which are empty then
/// unless the device refused an unmap; returns whether every one went off.
fn translation_off(win: &Window, nas: u16) -> bool {
    let mut all = true;
    for asid in 0..nas {
        all &= win.dma(asid, dma::CMD_TRANSLATE_OFF, 0, 0, 0, 0).is_ok();
    }
    all
}

/// The driver.
pub(crate) struct VhostMdevDriver;

impl Driver for VhostMdevDriver {
    const NAME: &'static core::ffi::CStr = c"vhost_mdev";
    const DEVICE_IDS: &'static [u32] = &[];
    type Context = Shared;
    type Data = Arc<VhostDev>;

    fn probe(shared: &Shared, window: &Window) -> Result<Arc<VhostDev>> {
        let dma_entries = window.read(Register::DMA_MAX_ENTRIES);
        if dma_entries == 0 || dma_entries == u32::MAX {
            return Err(ENODEV);
        }
        let nvqs = window.read(Register::NUM_QUEUES);
        if nvqs == 0 || nvqs as usize > MAX_VQS {
            return Err(ENODEV);
        }
        // A device without the group registers has one of each.
        let ngroups = window.read(Register::NUM_GROUPS).max(1);
        let nas = window.read(Register::NUM_AS).max(1);
        if ngroups > u32::from(MAX_AS) || nas > u32::from(MAX_AS) {
            return Err(ENODEV);
        }
        window.reset();
        // Every address space translates, before userspace can reach the device: a group
        // moved to one that did not would reach physical memory.
        for asid in 0..nas as u16 {
            if let Err(e) = window.dma(asid, dma::CMD_TRANSLATE_ON, 0, 0, 0, 0) {
                translation_off(window, asid);
                return Err(e);
            }
        }
        let dev_caps = window.read(Register::DEVICE_CAPS);
        // A device that logs its writes can be migrated by the VMM: say so the vhost way. Its
        // log address space starts empty, whatever was mapped there before this binding
        // (through debugfs while no driver was bound): only the logs vhost_mdev pins go there.
        let log_all = if dev_caps & caps::DIRTY_LOG != 0 {
            if let Err(e) = window.dma(log::ASID as u16, dma::CMD_TRANSLATE_ON, 0, 0, 0, 0) {
                translation_off(window, nas as u16);
                return Err(e);
            }
            LOG_ALL
        } else {
            0
        };
        let device_features = window.device_features() | log_all;
        let _ = window.select_queue(0);
        let vq_num_max = window.read(Register::QUEUE_NUM_MAX).min(0xffff) as u16;
        let suspend = dev_caps & caps::SUSPEND != 0;
        let inner = Inner {
            caps: BackendCaps {
                suspend,
                resume: suspend,
                desc_group: false,
                // The device's DMA table outlives a reset (register-map.rst).
                persist: true,
                // Queues may be enabled at any time after FEATURES_OK.
                enable_after_driver_ok: true,
            },
            suspended: false,
            ngroups,
            nas,
            batch: IotlbBatch::default(),
            log: None,
            retired: KVec::new(),
            win: Some(window.clone()),
            owner: None,
            fork_from_owner: true,
            backend_features: 0,
            driver_features: 0,
            device_features,
            device_id: window.read(Register::DEVICE_ID),
            nvqs,
            vq_num_max,
            config_size: window.read(Register::CONFIG_SIZE),
            dma_entries: dma_entries as usize,
            vrings: [VringShadow::default(); MAX_VQS],
            kicks: [const { None }; MAX_VQS],
            errs: [const { None }; MAX_VQS],
            iotlb: [const { None }; MAX_AS as usize],
            node: None,
            releaser: shared.releaser.clone(),
        };
        let made = shared
            .devices
            .insert(|minor| Arc::pin_init(VhostDev::new(minor, inner), GFP_KERNEL));
        if made.is_err() {
            translation_off(window, nas as u16);
        }
        made
    }

    /// The node appears only now, once the device's interrupts reach it.
    fn start(shared: &Shared, dev: &Arc<VhostDev>) -> Result {
        let mut inner = dev.inner.lock();
        let win = inner.win()?;
        let node = Node::new(
            &shared.region,
            &shared.class,
            dev.minor,
            win.device(),
            kernel::fmt!("vhost-mdev-{}", dev.minor),
        );
        match node {
            Ok(n) => {
                inner.node = Some(n);
                Ok(())
            }
            Err(e) => {
                translation_off(win, inner.nas as u16);
                drop(inner);
                shared.devices.remove(dev.minor);
                Err(e)
            }
        }
    }

    fn remove(shared: &Shared, dev: &Arc<VhostDev>) {
        let mut inner = dev.inner.lock();
        // The node goes first, and only then its minor (another device may take it at once).
        // An open file keeps `dev`; from now on its calls fail with ENODEV and its close only
        // frees.
        inner.node = None;
        shared.devices.remove(dev.minor);
        inner.cleanup(dev);
        if let Some(win) = inner.win.take() {
            win.reset();
            let off = translation_off(&win, inner.nas as u16);
            for mut asp in core::mem::take(&mut inner.retired) {
                if off {
                    // The device translates nothing any more: the pages it refused to unmap
                    // are out of its reach.
                    asp.clear(None);
                } else {
                    pr_warn!("vhost_mdev: the device kept translating; leaking its pins\n");
                    core::mem::forget(asp);
                }
            }
        }
    }

    fn vq_interrupt(dev: &Arc<VhostDev>, queue: u32) {
        dev.signal_call(queue);
    }

    fn config_changed(dev: &Arc<VhostDev>) {
        dev.signal_config();
    }
}
