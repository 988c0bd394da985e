// SPDX-License-Identifier: GPL-2.0
//! The mdev driver: turns each mdev instance into a device on the vmdev bus.
//!
//! mdev gives the lifecycle (`mdev_supported_types/<type>/create` and `remove`); this driver
//! binds every instance of a parent registered through `vmdev_register_parent`, asks the vendor
//! to create the device behind it, and adds the `vmdevN` device that personality drivers bind
//! to. Removal deletes that device first (unbinding its driver, which resets the device), then
//! lets the vendor destroy its device.

use super::bus::{self, class_name};
use super::debugfs;
use super::device::{Parent, VmdevDevice};
use super::kglue::cstatic::{zeroed, CStatic};
use super::kglue::sys;
use super::mdev_settings;
use core::ptr;
use core::sync::atomic::Ordering;
use kernel::error::code::EINVAL;
use kernel::ffi::{c_char, c_int, c_uint};
use kernel::prelude::*;

/// Numbers the `vmdevN` devices. Initialised with `ida_init` at module init: its lock needs
/// run-time initialisation under lockdep.
pub(crate) static VMDEV_IDA: CStatic<sys::ida> = CStatic::new(
    // SAFETY: zeroed memory is a valid placeholder until `ida_init` runs at module init.
    unsafe { zeroed() },
);

/// # Safety
///
/// `mdev` must be an mdev device of a parent registered by `vmdev_register_parent`.
unsafe fn parent_of(mdev: *mut sys::mdev_device) -> *mut Parent {
    // SAFETY: `mdev->type->parent` is the `mdev_parent` at the start of our `Parent`.
    unsafe { (*sys::vmdev_helper_mdev_type(mdev)).parent.cast() }
}

/// # Safety
///
/// Called by the driver core once, when the last reference to a vmdev device is dropped.
unsafe extern "C" fn release(dev: *mut sys::device) {
    // SAFETY: `dev` is the first field of a `VmdevDevice` that `mdev_probe` leaked from a
    // `KBox`; this is the last reference, so we own it again.
    let vdev = unsafe { Pin::new_unchecked(KBox::from_raw(dev.cast::<VmdevDevice>())) };
    let parent = vdev.parent;
    // SAFETY: our IDA; `mdev` is the reference taken at probe.
    unsafe {
        sys::ida_free(VMDEV_IDA.get(), vdev.index);
        sys::put_device(sys::vmdev_helper_mdev_dev(vdev.mdev));
    }
    drop(vdev);
    // SAFETY: the instance's parent reference.
    unsafe { Parent::put(parent) };
}

/// # Safety
///
/// Called by the mdev core for an instance of one of our parents.
unsafe extern "C" fn mdev_probe(mdev: *mut sys::mdev_device) -> c_int {
    // SAFETY: the mdev core probes instances of parents registered with our driver.
    let parent = unsafe { parent_of(mdev) };
    // SAFETY: the parent outlives its registration, which outlives every probe.
    let p = unsafe { &*parent };
    // SAFETY: `mdev` is the instance being probed.
    let mtype = unsafe { sys::vmdev_helper_mdev_type(mdev) };
    let (Some(type_index), Some(vtype)) = (
        p.type_index(mtype),
        p.type_index(mtype).and_then(|i| p.vmdev_type(i)),
    ) else {
        return EINVAL.to_errno();
    };
    let count = &p.instances[type_index];
    if count.fetch_add(1, Ordering::AcqRel) >= vtype.max_instances {
        count.fetch_sub(1, Ordering::AcqRel);
        return -(kernel::bindings::EUSERS as c_int);
    }
    // SAFETY: our IDA, initialised at module init.
    let index = unsafe { sys::ida_alloc_range(VMDEV_IDA.get(), 0, u32::MAX >> 1, sys::GFP_KERNEL) };
    if index < 0 {
        count.fetch_sub(1, Ordering::AcqRel);
        return index;
    }
    let init = VmdevDevice::new(
        mdev,
        parent,
        type_index as u32,
        vtype.device_id,
        index as u32,
    );
    let vdev = match KBox::pin_init(init, GFP_KERNEL) {
        // SAFETY: never moved again: the device's release function rebuilds the box.
        Ok(v) => KBox::into_raw(unsafe { Pin::into_inner_unchecked(v) }),
        Err(e) => {
            // SAFETY: allocated above and not published.
            unsafe { sys::ida_free(VMDEV_IDA.get(), index as u32) };
            count.fetch_sub(1, Ordering::AcqRel);
            return e.to_errno();
        }
    };
    p.refs.fetch_add(1, Ordering::AcqRel);
    // SAFETY: `vdev` is fresh; from `device_initialize` on, its release function owns it, so
    // every error path below ends with `put_device`.
    unsafe {
        sys::get_device(sys::vmdev_helper_mdev_dev(mdev));
        let v = &*vdev;
        let dev = v.dev();
        sys::device_initialize(dev);
        (*dev).bus = bus::bus();
        (*dev).parent = sys::vmdev_helper_mdev_dev(mdev);
        (*dev).release = Some(release);
        (*dev).groups = (*p.ops).dev_groups;
        // A software device reaches driver memory by physical address: dma-direct, 64 bits.
        (*dev).dma_mask = ptr::addr_of_mut!((*dev).coherent_dma_mask);
        let mut ret = sys::vmdev_helper_dma_set_mask_and_coherent(dev, u64::MAX);
        if ret == 0 {
            ret = sys::dev_set_name(dev, c"vmdev%u".as_ptr().cast(), index as c_uint);
        }
        if ret == 0 {
            ret = create(p, v, mdev);
        }
        if ret != 0 {
            count.fetch_sub(1, Ordering::AcqRel);
            sys::put_device(dev);
        }
        ret
    }
}

/// Has the vendor create its device, then adds ours to the bus.
///
/// # Safety
///
/// `v` is an initialised, not yet added instance of parent `p` for `mdev`.
unsafe fn create(p: &Parent, v: &VmdevDevice, mdev: *mut sys::mdev_device) -> c_int {
    let mut ops: *const sys::vmdev_device_ops = ptr::null();
    // SAFETY: `create` is mandatory (checked at registration); `ops` is writable.
    let mut ret = unsafe {
        ((*p.ops).create.unwrap_unchecked())(
            v.parent.cast(),
            v.type_index as c_uint,
            v.as_raw(),
            &mut ops,
        )
    };
    // SAFETY: a non-null table the vendor returned lives as long as the instance.
    if ret == 0 && (ops.is_null() || !ops_complete(unsafe { &*ops })) {
        // SAFETY: created just now; `destroy` is mandatory.
        unsafe { ((*p.ops).destroy.unwrap_unchecked())(v.parent.cast(), v.as_raw()) };
        ret = EINVAL.to_errno();
    }
    if ret != 0 {
        return ret;
    }
    v.ops.store(ops.cast_mut(), Ordering::Release);
    // SAFETY: `mdev` is being probed; its drvdata is ours until remove.
    unsafe {
        sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), v.as_raw().cast())
    };
    // SAFETY: an initialised device with a name.
    ret = unsafe { sys::device_add(v.dev()) };
    if ret == 0 {
        // The vendor's attributes mirrored on the mdev device, where mdevctl writes a device's
        // attributes; created after the instance is stored in the mdev device's drvdata,
        // which is how their callbacks find it.
        let groups = p.mirror.groups();
        if !groups.is_null() {
            // SAFETY: the mdev device is live; the groups are the vendor's static tables.
            ret = unsafe {
                sys::sysfs_create_groups(
                    ptr::addr_of_mut!((*sys::vmdev_helper_mdev_dev(mdev)).kobj),
                    groups,
                )
            };
        }
        if ret == 0 {
            debugfs::add(v);
            return 0;
        }
        // SAFETY: added just now.
        unsafe { sys::device_del(v.dev()) };
    }
    v.ops.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: as above.
    unsafe {
        ((*p.ops).destroy.unwrap_unchecked())(v.parent.cast(), v.as_raw());
        sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), ptr::null_mut());
    }
    ret
}

fn ops_complete(ops: &sys::vmdev_device_ops) -> bool {
    ops.reg_read.is_some()
        && ops.reg_write.is_some()
        && ops.config_read.is_some()
        && ops.config_write.is_some()
}

/// # Safety
///
/// Called by the mdev core for an instance of one of our parents.
unsafe extern "C" fn mdev_remove(mdev: *mut sys::mdev_device) {
    // SAFETY: `mdev_probe` succeeded for this instance and stored the vmdev device.
    let raw = unsafe { sys::vmdev_helper_dev_get_drvdata(sys::vmdev_helper_mdev_dev(mdev)) };
    if raw.is_null() {
        return;
    }
    // SAFETY: live: we hold the initial reference until the end of this function.
    let v = unsafe { VmdevDevice::from_raw(raw.cast()) };
    // SAFETY: the instance's parent is registered.
    let p = unsafe { &*v.parent };
    debugfs::remove(v);
    let groups = p.mirror.groups();
    if !groups.is_null() {
        // SAFETY: created at probe; removing them waits for their callbacks, so none runs
        // once the instance is gone from the drvdata below.
        unsafe {
            sys::sysfs_remove_groups(
                ptr::addr_of_mut!((*sys::vmdev_helper_mdev_dev(mdev)).kobj),
                groups,
            )
        };
    }
    // SAFETY: added at probe. Deleting unbinds the driver, which resets the device, so after
    // this nothing but us calls into the vendor.
    unsafe { sys::device_del(v.dev()) };
    v.ops.store(ptr::null_mut(), Ordering::Release);
    // SAFETY: created at probe and not destroyed yet; no driver is bound.
    unsafe { ((*p.ops).destroy.unwrap_unchecked())(v.parent.cast(), v.as_raw()) };
    p.instances[v.type_index as usize].fetch_sub(1, Ordering::AcqRel);
    // SAFETY: ours; then the initial reference goes (release frees when the last one does).
    unsafe {
        sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), ptr::null_mut());
        sys::put_device(v.dev());
    }
}

/// # Safety
///
/// Called by the mdev core for one of our parents' types.
unsafe extern "C" fn mdev_get_available(mtype: *mut sys::mdev_type) -> c_uint {
    // SAFETY: the parent of one of our types is ours and registered while its types exist.
    let p = unsafe { &*(*mtype).parent.cast::<Parent>() };
    let Some(i) = p.type_index(mtype) else {
        return 0;
    };
    let max = p.vmdev_type(i).map_or(0, |t| t.max_instances);
    max.saturating_sub(p.instances[i].load(Ordering::Acquire))
}

/// # Safety
///
/// Called by the mdev core for one of our parents' types, with a sysfs page at `buf`.
unsafe extern "C" fn mdev_show_description(mtype: *mut sys::mdev_type, buf: *mut c_char) -> isize {
    // SAFETY: as in `mdev_get_available`.
    let p = unsafe { &*(*mtype).parent.cast::<Parent>() };
    let Some(t) = p.type_index(mtype).and_then(|i| p.vmdev_type(i)) else {
        return EINVAL.to_errno() as isize;
    };
    let mut name = [0u8; 16];
    let class = class_name(t.device_id).as_bytes();
    name[..class.len()].copy_from_slice(class);
    // SAFETY: `buf` is a sysfs page; the string argument is NUL-terminated.
    unsafe {
        sys::sysfs_emit(
            buf,
            c"virtio %s device (virtio device id %u) on the virtio-mdev transport\n"
                .as_ptr()
                .cast(),
            name.as_ptr(),
            t.device_id,
        ) as isize
    }
}

/// The mdev driver every parent is registered with.
pub(crate) static MDEV_DRIVER: CStatic<sys::mdev_driver> = CStatic::new(sys::mdev_driver {
    device_api: c"virtio-mdev".as_ptr().cast(),
    max_instances: 0,
    probe: Some(mdev_probe),
    remove: Some(mdev_remove),
    get_available: Some(mdev_get_available),
    show_description: Some(mdev_show_description),
    driver: sys::device_driver {
        name: c"vmdev".as_ptr().cast(),
        dev_groups: mdev_settings::MDEV_GROUPS.list().as_ptr(),
        // SAFETY: the remaining fields are optional and valid zeroed.
        ..unsafe { zeroed() }
    },
});

/// The registered mdev driver, unregistered on drop.
pub(crate) struct MdevDriverRegistration(());

impl MdevDriverRegistration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the driver is a static that lives as long as the module.
        kernel::error::to_result(unsafe { sys::mdev_register_driver(MDEV_DRIVER.get()) })?;
        Ok(Self(()))
    }
}

impl Drop for MdevDriverRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; vendors depend on our symbols, so no parent is left.
        unsafe { sys::mdev_unregister_driver(MDEV_DRIVER.get()) };
    }
}
