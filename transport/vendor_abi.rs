// SPDX-License-Identifier: GPL-2.0
//! The vendor side of the C ABI (`vmdev.h`): parents, instances, interrupts.
//!
//! Each function here is exported (`exports.c`) and declared in `vmdev.h`; the check at the
//! end of the file makes the build fail if a definition and its C prototype (as bindgen reads
//! it) ever disagree.

use super::bus::is_vmdev;
use super::device::{Parent, VmdevDevice};
use super::kglue::sys;
use super::mdev_driver::MDEV_DRIVER;
use super::mdev_settings::Mirror;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::error::code::EINVAL;
use kernel::ffi::c_uint;
use kernel::prelude::*;
use kernel::types::Opaque;

/// Registers a vendor parent (see `vmdev.h`).
///
/// # Safety
///
/// `dev` must be a live device with a driver bound; `types` must point to `nr_types` entries
/// and, like `ops`, stay valid until `vmdev_unregister_parent`.
#[no_mangle]
pub unsafe extern "C" fn vmdev_register_parent(
    dev: *mut sys::device,
    types: *const sys::vmdev_type,
    nr_types: c_uint,
    ops: *const sys::vmdev_parent_ops,
    drvdata: *mut c_void,
) -> *mut sys::vmdev_parent {
    // SAFETY: the caller's contract is `register_parent`'s.
    match unsafe { register_parent(dev, types, nr_types, ops, drvdata) } {
        Ok(p) => p.cast(),
        Err(e) => e.to_errno() as isize as *mut sys::vmdev_parent,
    }
}

/// # Safety
///
/// As for `vmdev_register_parent`.
unsafe fn register_parent(
    dev: *mut sys::device,
    types: *const sys::vmdev_type,
    nr_types: c_uint,
    ops: *const sys::vmdev_parent_ops,
    drvdata: *mut c_void,
) -> Result<*mut Parent> {
    if dev.is_null() || types.is_null() || ops.is_null() || nr_types == 0 || nr_types > 64 {
        return Err(EINVAL);
    }
    // SAFETY: `ops` is valid per the contract.
    let o = unsafe { &*ops };
    if o.create.is_none() || o.destroy.is_none() {
        return Err(EINVAL);
    }
    let n = nr_types as usize;
    // SAFETY: `types` has `nr_types` entries per the contract.
    let vtypes = unsafe { core::slice::from_raw_parts(types, n) };
    let mut instances = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut type_storage = KVec::with_capacity(n, GFP_KERNEL)?;
    for t in vtypes {
        if t.sysfs_name.is_null() || t.device_id == 0 {
            return Err(EINVAL);
        }
        instances.push(AtomicU32::new(0), GFP_KERNEL)?;
        // SAFETY: a zeroed mdev_type is what the mdev core expects before registration.
        let mut mt: sys::mdev_type = unsafe { super::kglue::cstatic::zeroed() };
        mt.sysfs_name = t.sysfs_name;
        mt.pretty_name = t.pretty_name;
        type_storage.push(Opaque::new(mt), GFP_KERNEL)?;
    }
    // `type_storage` is never resized again, so these pointers stay valid.
    let mut mdev_types = KVec::with_capacity(n, GFP_KERNEL)?;
    for t in type_storage.iter() {
        mdev_types.push(t.get(), GFP_KERNEL)?;
    }
    // SAFETY: the vendor's groups are a valid list that lives until unregistration
    // (vmdev.h), as long as the parent's registration.
    let mirror = unsafe { Mirror::new(o.dev_groups.cast_const()) }?;
    let parent = KBox::new(
        Parent {
            mdev_parent: Opaque::uninit(),
            ops,
            types,
            drvdata,
            refs: AtomicUsize::new(1),
            instances,
            type_storage,
            mdev_types,
            mirror,
        },
        GFP_KERNEL,
    )?;
    let parent = KBox::into_raw(parent);
    // SAFETY: `parent` is ours until registered; `mdev_register_parent` initialises the
    // embedded `mdev_parent`.
    let ret = unsafe {
        sys::mdev_register_parent(
            (*parent).mdev_parent.get(),
            dev,
            MDEV_DRIVER.get(),
            (*parent).mdev_types.as_mut_ptr(),
            nr_types,
        )
    };
    if ret != 0 {
        // SAFETY: not registered: still only ours.
        drop(unsafe { KBox::from_raw(parent) });
        return Err(Error::from_errno(ret));
    }
    Ok(parent)
}

/// Unregisters a parent, removing every instance first.
///
/// # Safety
///
/// `parent` must come from `vmdev_register_parent` and not be unregistered yet.
#[no_mangle]
pub unsafe extern "C" fn vmdev_unregister_parent(parent: *mut sys::vmdev_parent) {
    let parent = parent.cast::<Parent>();
    // SAFETY: per the contract; mdev_unregister_parent removes (and so destroys) every
    // instance before it returns.
    unsafe {
        sys::mdev_unregister_parent((*parent).mdev_parent.get());
        Parent::put(parent);
    }
}

/// # Safety
///
/// `parent` must be a registered parent.
#[no_mangle]
pub unsafe extern "C" fn vmdev_parent_drvdata(parent: *mut sys::vmdev_parent) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { (*parent.cast::<Parent>()).drvdata }
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_set_drvdata(vdev: *mut sys::vmdev_device, data: *mut c_void) {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }
        .vendor_data
        .store(data, Ordering::Release);
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_get_drvdata(vdev: *mut sys::vmdev_device) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }
        .vendor_data
        .load(Ordering::Acquire)
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_to_dev(vdev: *mut sys::vmdev_device) -> *mut sys::device {
    // SAFETY: per the contract.
    unsafe { VmdevDevice::from_raw(vdev) }.dev()
}

/// # Safety
///
/// `dev` must be a live device.
#[no_mangle]
pub unsafe extern "C" fn vmdev_from_dev(dev: *mut sys::device) -> *mut sys::vmdev_device {
    if is_vmdev(dev) {
        // SAFETY: a device of our bus is a `VmdevDevice`.
        unsafe { VmdevDevice::from_dev(dev) }.as_raw()
    } else {
        ptr::null_mut()
    }
}

/// Hands a used-buffer notification to the bound driver.
///
/// # Safety
///
/// `vdev` must be a live instance; not from hardirq context.
#[no_mangle]
pub unsafe extern "C" fn vmdev_vq_interrupt(vdev: *mut sys::vmdev_device, queue: u32) {
    // SAFETY: per the contract.
    let v = unsafe { VmdevDevice::from_raw(vdev) };
    v.deliver(|drv, data| {
        if let Some(cb) = drv.vq_interrupt {
            // SAFETY: the bound driver's callback with its published state.
            unsafe { cb(vdev, data, queue) };
        }
    });
}

/// Tells the bound driver that the device changed its config space.
///
/// # Safety
///
/// As for `vmdev_vq_interrupt`.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_changed(vdev: *mut sys::vmdev_device) {
    // SAFETY: per the contract.
    let v = unsafe { VmdevDevice::from_raw(vdev) };
    v.deliver(|drv, data| {
        if let Some(cb) = drv.config_changed {
            // SAFETY: as in `vmdev_vq_interrupt`.
            unsafe { cb(vdev, data) };
        }
    });
}

// Each definition has the type of its C prototype.
const _: () = {
    let _ = [vmdev_register_parent, sys::vmdev_register_parent];
    let _ = [vmdev_unregister_parent, sys::vmdev_unregister_parent];
    let _ = [vmdev_parent_drvdata, sys::vmdev_parent_drvdata];
    let _ = [vmdev_set_drvdata, sys::vmdev_set_drvdata];
    let _ = [vmdev_get_drvdata, sys::vmdev_get_drvdata];
    let _ = [vmdev_to_dev, sys::vmdev_to_dev];
    let _ = [vmdev_from_dev, sys::vmdev_from_dev];
    let _ = [vmdev_vq_interrupt, sys::vmdev_vq_interrupt];
    let _ = [vmdev_config_changed, sys::vmdev_config_changed];
};
