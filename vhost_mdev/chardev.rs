// SPDX-License-Identifier: GPL-2.0
//! `/dev/vhost-mdev-N`: the character devices, and the open-file operations.
//!
//! Every bound device has a minor in the module's region; [`Devices`] maps minors to devices
//! for `open`. A device is open at most once at a time, as vhost-vdpa's; its file then holds
//! a reference to the device, so a device removed under an open file stays until the file is
//! closed, with every call failing with `ENODEV`.

use super::device::VhostDev;
use super::kglue::file::{FileOps, VmaRequest};
use super::MAX_DEVICES;
use core::sync::atomic::Ordering;
use kernel::error::code::{EBUSY, EINVAL, ENODEV, ENOSPC, ENOTSUPP};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// The bound devices, by minor.
#[pin_data]
pub(crate) struct Devices {
    #[pin]
    by_minor: Mutex<[Option<Arc<VhostDev>>; MAX_DEVICES]>,
}

impl Devices {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Devices {
                by_minor <- new_mutex!([const { None }; MAX_DEVICES], "vhost_mdev::devices"),
            }),
            GFP_KERNEL,
        )
    }

    /// A free minor, reserved for the device `make` builds with it.
    pub(crate) fn insert(
        &self,
        make: impl FnOnce(u32) -> Result<Arc<VhostDev>>,
    ) -> Result<Arc<VhostDev>> {
        let mut devs = self.by_minor.lock();
        let minor = devs.iter().position(Option::is_none).ok_or(ENOSPC)?;
        let dev = make(minor as u32)?;
        devs[minor] = Some(dev.clone());
        Ok(dev)
    }

    /// Forgets the device with `minor`: new opens fail from now on.
    pub(crate) fn remove(&self, minor: u32) {
        if let Some(slot) = self.by_minor.lock().get_mut(minor as usize) {
            *slot = None;
        }
    }

    fn get(&self, minor: u32) -> Option<Arc<VhostDev>> {
        self.by_minor.lock().get(minor as usize).cloned().flatten()
    }
}

/// The file operations of `/dev/vhost-mdev-N`.
pub(crate) struct VhostFile;

impl FileOps for VhostFile {
    type Context = Arc<Devices>;
    type Open = Arc<VhostDev>;

    fn open(devices: &Arc<Devices>, minor: u32) -> Result<Arc<VhostDev>> {
        let dev = devices.get(minor).ok_or(ENODEV)?;
        // Exclusive, as vhost_vdpa_open().
        if dev
            .opened
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EBUSY);
        }
        let mut inner = dev.inner.lock();
        if inner.win.is_none() {
            drop(inner);
            dev.opened.store(false, Ordering::Release);
            return Err(ENODEV);
        }
        let _ = inner.reset_device();
        inner.backend_features = 0;
        drop(inner);
        Ok(dev)
    }

    fn release(dev: &Arc<VhostDev>) {
        dev.inner.lock().cleanup(dev);
        dev.opened.store(false, Ordering::Release);
    }

    fn ioctl(dev: &Arc<VhostDev>, cmd: u32, arg: usize) -> Result<isize> {
        dev.ioctl(cmd, arg).map(|()| 0)
    }

    fn write(dev: &Arc<VhostDev>, buf: usize, count: usize) -> Result<usize> {
        dev.iotlb_write(buf, count)
    }

    /// vhost-vdpa's doorbell mmap, refused with its checks and errno: there are no doorbell
    /// pages, so after the generic checks it answers as vhost-vdpa does for a parent without
    /// `get_vq_notification` (ENOTSUPP), and QEMU falls back to the kick eventfd.
    fn mmap(_dev: &Arc<VhostDev>, vma: &VmaRequest) -> Error {
        if vma.len != 4096 || !vma.shared || vma.readable {
            return EINVAL;
        }
        ENOTSUPP
    }
}
