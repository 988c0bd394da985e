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
use kernel::error::code::ENODEV;
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::c_int;
use kernel::prelude::*;
use kernel::types::Opaque;

/// A bound platform device and its driver.
///
/// # Invariants
///
/// `driver` is registered and `pdev` (registered) is bound to it, until drop.
pub struct SoftParent {
    pdev: NonNull<sys::platform_device>,
    driver: Pin<KBox<Opaque<sys::platform_driver>>>,
}

// SAFETY: both are unregistered from whichever task drops the parent.
unsafe impl Send for SoftParent {}
// SAFETY: shared references only reach the device, which is thread-safe.
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
    /// Registers driver and device `name` for `module`.
    pub fn new(name: &'static core::ffi::CStr, module: &'static ThisModule) -> Result<Self> {
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
                    ..zeroed()
                })
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the driver stays at its address until `drop` unregisters it.
        to_result(unsafe {
            sys::__platform_driver_register(driver.get(), module.as_ptr().cast())
        })?;
        let info = sys::platform_device_info {
            name: name.as_ptr().cast(),
            id: -1,
            // SAFETY: the remaining fields are optional and valid zeroed.
            ..unsafe { zeroed() }
        };
        // SAFETY: `info` is read during the call only.
        let pdev = match from_err_ptr(unsafe { sys::platform_device_register_full(&info) }) {
            Ok(p) => NonNull::new(p).ok_or(ENODEV),
            Err(e) => Err(e),
        };
        let pdev = match pdev {
            Ok(p) => p,
            Err(e) => {
                // SAFETY: registered above, with no device.
                unsafe { sys::platform_driver_unregister(driver.get()) };
                return Err(e);
            }
        };
        // INVARIANT: both registered; binding happened during the device's registration.
        let this = Self { pdev, driver };
        // SAFETY: a registered device.
        if unsafe { (*this.pdev.as_ptr()).dev.driver }.is_null() {
            return Err(ENODEV);
        }
        Ok(this)
    }

    /// The platform device.
    pub fn device(&self) -> &kernel::device::Device {
        // SAFETY: registered until drop (invariant).
        unsafe {
            kernel::device::Device::as_ref(
                core::ptr::addr_of_mut!((*self.pdev.as_ptr()).dev).cast(),
            )
        }
    }
}

impl Drop for SoftParent {
    fn drop(&mut self) {
        // SAFETY: registered in `new` (invariant).
        unsafe {
            sys::platform_device_unregister(self.pdev.as_ptr());
            sys::platform_driver_unregister(self.driver.get());
        }
    }
}
