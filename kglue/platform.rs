// SPDX-License-Identifier: GPL-2.0
//! A platform device with a driver of its own: the parent device of a software device.
//!
//! mdev names a parent's types `<driver of the parent>-<type>`, so a software device (the
//! simulator) needs a parent device with a driver bound, not a bare root device. A
//! [`SoftParent`] registers a platform driver and one platform device of the same name, which
//! the driver core binds at once; the driver does nothing else, and cannot be unbound through
//! sysfs (`suppress_bind_attrs`), so the device keeps its driver for as long as it exists.

use super::cstatic::zeroed;
use super::sys;
use core::pin::Pin;
use core::ptr::NonNull;
use kernel::error::code::{EINVAL, ENODEV};
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The most devices one [`SoftParent`] registers.
pub const MAX_DEVICES: usize = 4;

/// Bound platform devices and their driver.
///
/// # Invariants
///
/// `driver` is registered, with `_ids` (the NUL-terminated table of the devices' names) as its
/// id table, and each of `pdevs` is registered and bound to it, until drop.
pub struct SoftParent {
    pdevs: KVec<NonNull<sys::platform_device>>,
    driver: Pin<KBox<Opaque<sys::platform_driver>>>,
    _ids: KBox<[sys::platform_device_id; MAX_DEVICES + 1]>,
}

// SAFETY: everything is unregistered from whichever task drops the parent.
unsafe impl Send for SoftParent {}
// SAFETY: shared references only reach the devices, which are thread-safe.
unsafe impl Sync for SoftParent {}

/// # Safety
///
/// Called by the platform core for our device.
unsafe extern "C" fn probe(_pdev: *mut sys::platform_device) -> c_int {
    0
}

/// # Safety
///
/// Called by the platform core for our device.
unsafe extern "C" fn remove(_pdev: *mut sys::platform_device) {}

impl SoftParent {
    /// Registers driver `name` for `module`, and a device of each of `devices`' names (at
    /// most [`MAX_DEVICES`], each under 20 bytes), which the driver binds: mdev names every
    /// device's types after the driver, `<name>-<type>`, whatever the device is called.
    pub fn new(
        name: &'static core::ffi::CStr,
        devices: &[&'static core::ffi::CStr],
        module: &'static ThisModule,
    ) -> Result<Self> {
        if devices.is_empty() || devices.len() > MAX_DEVICES {
            return Err(EINVAL);
        }
        // SAFETY: an all-zero id is the table's terminator, and valid for the others.
        let mut ids = KBox::new([unsafe { zeroed::<sys::platform_device_id>() }; MAX_DEVICES + 1], GFP_KERNEL)?;
        for (id, dev) in ids.iter_mut().zip(devices) {
            let bytes = dev.to_bytes();
            if bytes.len() >= id.name.len() {
                return Err(EINVAL);
            }
            for (d, &b) in id.name.iter_mut().zip(bytes) {
                *d = b as _;
            }
        }
        let table = ids.as_ptr();
        let driver = KBox::pin_init(
            // SAFETY: fills in the driver in place before it is registered.
            Opaque::ffi_init(|d: *mut sys::platform_driver| unsafe {
                d.write(sys::platform_driver {
                    probe: Some(probe),
                    __bindgen_anon_1: sys::platform_driver__bindgen_ty_1 {
                        remove: Some(remove),
                    },
                    driver: sys::device_driver {
                        name: name.as_ptr().cast(),
                        suppress_bind_attrs: true,
                        ..zeroed()
                    },
                    id_table: table,
                    ..zeroed()
                })
            }),
            GFP_KERNEL,
        )?;
        let pdevs = KVec::with_capacity(devices.len(), GFP_KERNEL)?;
        // SAFETY: the driver and its id table stay at their addresses until `drop`
        // unregisters it.
        to_result(unsafe {
            sys::__platform_driver_register(driver.get(), module.as_ptr().cast())
        })?;
        // INVARIANT: from here on, `drop` unregisters the driver and every device pushed.
        let mut this = Self {
            pdevs,
            driver,
            _ids: ids,
        };
        for dev in devices {
            let info = sys::platform_device_info {
                name: dev.as_ptr().cast(),
                id: -1,
                // SAFETY: the remaining fields are optional and valid zeroed.
                ..unsafe { zeroed() }
            };
            // SAFETY: `info` is read during the call only.
            let pdev = from_err_ptr(unsafe { sys::platform_device_register_full(&info) })?;
            let pdev = NonNull::new(pdev).ok_or(ENODEV)?;
            // The capacity is there: this cannot fail and leave the device unrecorded.
            this.pdevs.push(pdev, GFP_KERNEL)?;
            // SAFETY: a registered device; binding happened during its registration.
            if unsafe { (*pdev.as_ptr()).dev.driver }.is_null() {
                return Err(ENODEV);
            }
        }
        Ok(this)
    }

    /// Platform device `i` (in the order `new` was given them).
    pub fn device(&self, i: usize) -> Option<&kernel::device::Device> {
        let pdev = self.pdevs.get(i)?;
        // SAFETY: registered until drop (invariant).
        Some(unsafe {
            kernel::device::Device::as_ref(core::ptr::addr_of_mut!((*pdev.as_ptr()).dev).cast())
        })
    }
}

impl Drop for SoftParent {
    fn drop(&mut self) {
        // SAFETY: registered in `new` (invariant); the devices before the driver.
        unsafe {
            for pdev in self.pdevs.iter() {
                sys::platform_device_unregister(pdev.as_ptr());
            }
            sys::platform_driver_unregister(self.driver.get());
        }
    }
}
