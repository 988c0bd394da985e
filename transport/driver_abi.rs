// SPDX-License-Identifier: GPL-2.0
//! The driver side of the C ABI (`vmdev.h`): registering personality drivers, and the checked
//! register window they reach devices through.
//!
//! Every access is checked against the register map (`vmdev_regs::map`) before the device
//! sees it. A write of `STATUS` also drives the interrupt gate of `device.rs`: a reset closes
//! it once the device has reset, the next non-zero status opens it.

use super::bus;
use super::device::VmdevDevice;
use super::kglue::sys;
use super::vmdev_regs::map::{self, check_config_access, check_reg_access, Dir, Register};
use core::ffi::c_void;
use core::ptr;
use kernel::error::code::{EINVAL, ENODEV};
use kernel::ffi::c_int;

/// Registers a personality driver on the vmdev bus.
///
/// # Safety
///
/// `drv` must stay valid and unmoved until `vmdev_unregister_driver`.
#[no_mangle]
pub unsafe extern "C" fn vmdev_register_driver(
    drv: *mut sys::vmdev_driver,
    owner: *mut sys::module,
) -> c_int {
    // SAFETY: per the contract.
    unsafe {
        if (*drv).name.is_null() || (*drv).probe.is_none() || (*drv).remove.is_none() {
            return EINVAL.to_errno();
        }
        (*drv).driver.name = (*drv).name;
        (*drv).driver.bus = bus::bus();
        (*drv).driver.owner = owner;
        sys::driver_register(ptr::addr_of_mut!((*drv).driver))
    }
}

/// # Safety
///
/// `drv` must be registered.
#[no_mangle]
pub unsafe extern "C" fn vmdev_unregister_driver(drv: *mut sys::vmdev_driver) {
    // SAFETY: per the contract; unbinds every device first.
    unsafe { sys::driver_unregister(ptr::addr_of_mut!((*drv).driver)) };
}

fn access_errno(e: map::AccessError) -> c_int {
    -e.errno()
}

/// Reads a register, checked against the register map.
///
/// # Safety
///
/// `vdev` must be a live instance and `value` writable.
#[no_mangle]
pub unsafe extern "C" fn vmdev_read(
    vdev: *mut sys::vmdev_device,
    offset: u32,
    value: *mut u32,
) -> c_int {
    // SAFETY: per the contract.
    let v = unsafe { VmdevDevice::from_raw(vdev) };
    let (val, ret) = match check_reg_access(offset, 4, Dir::Read) {
        Err(e) => (map::REFUSED_READ, access_errno(e)),
        Ok(reg) => match v.ops() {
            // SAFETY: the vendor's op on its live instance; the access was checked.
            Some(ops) => (
                unsafe { (ops.reg_read.unwrap_unchecked())(vdev, reg as u32) },
                0,
            ),
            None => (map::REFUSED_READ, ENODEV.to_errno()),
        },
    };
    // SAFETY: `value` is writable per the contract.
    unsafe { *value = val };
    ret
}

/// Writes a register, checked against the register map.
///
/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_write(
    vdev: *mut sys::vmdev_device,
    offset: u32,
    value: u32,
) -> c_int {
    // SAFETY: per the contract.
    let v = unsafe { VmdevDevice::from_raw(vdev) };
    let reg = match check_reg_access(offset, 4, Dir::Write) {
        Ok(r) => r,
        Err(e) => return access_errno(e),
    };
    let Some(ops) = v.ops() else {
        return ENODEV.to_errno();
    };
    if reg != Register::QUEUE_NOTIFY {
        // Only the doorbell may be rung from atomic context (vmdev.h).
        // SAFETY: no preconditions.
        unsafe { sys::vmdev_helper_might_sleep() };
    }
    // A reset closes the interrupt gate before the device resets (what it raises meanwhile
    // is for queues about to go) and leaves it closed; the next non-zero status opens it.
    if reg == Register::STATUS {
        v.set_reset(value == 0);
    }
    // SAFETY: the vendor's op on its live instance; the access was checked.
    unsafe { (ops.reg_write.unwrap_unchecked())(vdev, reg as u32, value) };
    0
}

/// The instance's config space size.
fn config_size(vdev: *mut sys::vmdev_device, ops: &sys::vmdev_device_ops) -> u32 {
    // SAFETY: a checked, always-valid register read on a live instance.
    unsafe { (ops.reg_read.unwrap_unchecked())(vdev, Register::CONFIG_SIZE as u32) }
}

/// Runs `access` with the ops of `vdev` if a config access of `len` bytes at `offset` is
/// within its `CONFIG_SIZE`; the errno otherwise.
///
/// # Safety
///
/// `vdev` must be a live instance.
unsafe fn config_access(
    vdev: *mut sys::vmdev_device,
    offset: u32,
    len: u32,
    access: impl FnOnce(&sys::vmdev_device_ops),
) -> c_int {
    // SAFETY: per the contract.
    let Some(ops) = unsafe { VmdevDevice::from_raw(vdev) }.ops() else {
        return ENODEV.to_errno();
    };
    if let Err(e) = check_config_access(offset, len, config_size(vdev, ops)) {
        return access_errno(e);
    }
    access(ops);
    0
}

/// Reads device config space, bounded by `CONFIG_SIZE`.
///
/// # Safety
///
/// `vdev` must be a live instance and `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_read(
    vdev: *mut sys::vmdev_device,
    offset: u32,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    // SAFETY: per the contract; the vendor's op runs on a checked access, with `buf` holding
    // `len` bytes.
    unsafe {
        config_access(vdev, offset, len, |ops| {
            (ops.config_read.unwrap_unchecked())(vdev, offset, buf, len)
        })
    }
}

/// Writes device config space, bounded by `CONFIG_SIZE`.
///
/// # Safety
///
/// `vdev` must be a live instance and `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_write(
    vdev: *mut sys::vmdev_device,
    offset: u32,
    buf: *const c_void,
    len: u32,
) -> c_int {
    // SAFETY: as in `vmdev_config_read`.
    unsafe {
        config_access(vdev, offset, len, |ops| {
            (ops.config_write.unwrap_unchecked())(vdev, offset, buf, len)
        })
    }
}

/// Publishes the bound driver's state to its interrupt callbacks.
///
/// # Safety
///
/// `vdev` must be a live instance being bound to, or bound to, the caller.
#[no_mangle]
pub unsafe extern "C" fn vmdev_set_driver_data(vdev: *mut sys::vmdev_device, data: *mut c_void) {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }.set_driver_data(data);
}

/// # Safety
///
/// `vdev` must be a live instance bound to the caller.
#[no_mangle]
pub unsafe extern "C" fn vmdev_get_driver_data(vdev: *mut sys::vmdev_device) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }.driver_data()
}

/// Waits until no interrupt callback of `vdev` is running.
///
/// # Safety
///
/// `vdev` must be a live instance; not from an interrupt callback.
#[no_mangle]
pub unsafe extern "C" fn vmdev_synchronize_callbacks(vdev: *mut sys::vmdev_device) {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }.synchronize_callbacks();
}

// Each definition has the type of its C prototype.
const _: () = {
    let _ = [vmdev_register_driver, sys::vmdev_register_driver];
    let _ = [vmdev_unregister_driver, sys::vmdev_unregister_driver];
    let _ = [vmdev_read, sys::vmdev_read];
    let _ = [vmdev_write, sys::vmdev_write];
    let _ = [vmdev_config_read, sys::vmdev_config_read];
    let _ = [vmdev_config_write, sys::vmdev_config_write];
    let _ = [vmdev_set_driver_data, sys::vmdev_set_driver_data];
    let _ = [vmdev_get_driver_data, sys::vmdev_get_driver_data];
    let _ = [
        vmdev_synchronize_callbacks,
        sys::vmdev_synchronize_callbacks,
    ];
};
