// SPDX-License-Identifier: GPL-2.0
//! The vmdev bus: matching drivers to devices, binding and unbinding, and the attributes every
//! device has.
//!
//! A driver matches a device by virtio device class (its id table), or by name when the
//! device's `driver_override` names it, as on the platform and PCI buses. Binding publishes
//! the driver to the device's interrupt path before its probe runs, and unbinding hands the
//! driver's state back to it only once no interrupt can reach it (see `device.rs`).

use super::device::VmdevDevice;
use super::kglue::cstatic::{zeroed, CStatic};
use super::kglue::sys;
use super::kglue::sysfs::{AttrTarget, Attribute, Page};
use core::fmt::Write;
use kernel::error::code::EINVAL;
use kernel::ffi::{c_char, c_int};
use kernel::prelude::*;

/// The name of a virtio device class, for sysfs.
pub(crate) fn class_name(device_id: u32) -> &'static str {
    match device_id {
        1 => "net",
        2 => "block",
        3 => "console",
        4 => "rng",
        _ => "unknown",
    }
}

/// Whether `dev` is a device of this bus.
pub(crate) fn is_vmdev(dev: *const sys::device) -> bool {
    // SAFETY: reads the `bus` field of a live device the caller passed us.
    !dev.is_null() && unsafe { (*dev).bus } == VMDEV_BUS.get().cast_const()
}

/// # Safety
///
/// `drv` must be the `driver` field of a `struct vmdev_driver`.
pub(crate) unsafe fn to_vmdev_driver<'a>(drv: *const sys::device_driver) -> &'a sys::vmdev_driver {
    // SAFETY: the caller guarantees `drv` is embedded in a registered `vmdev_driver`.
    unsafe { &*kernel::container_of!(drv, sys::vmdev_driver, driver) }
}

/// # Safety
///
/// `name` must be a NUL-terminated string.
unsafe fn c_bytes<'a>(name: *const c_char) -> &'a [u8] {
    // SAFETY: per the contract.
    unsafe { core::ffi::CStr::from_ptr(name.cast()) }.to_bytes()
}

/// # Safety
///
/// Called by the driver core with a device of this bus and one of its drivers.
unsafe extern "C" fn bus_match(dev: *mut sys::device, drv: *const sys::device_driver) -> c_int {
    // SAFETY: the driver core matches devices of this bus with drivers of this bus.
    let (vdev, vdrv) = unsafe { (VmdevDevice::from_dev(dev), to_vmdev_driver(drv)) };
    {
        let over = vdev.driver_override.lock();
        if !over.is_empty() {
            // SAFETY: a registered driver has a name.
            return c_int::from(unsafe { c_bytes(vdrv.name) } == &over[..]);
        }
    }
    let mut id = vdrv.id_table;
    while !id.is_null() {
        // SAFETY: `id` points into the driver's table, which ends with a zero entry.
        let want = unsafe { (*id).device_id };
        if want == 0 {
            break;
        }
        if want == sys::VMDEV_ANY_ID || want == vdev.device_id {
            return 1;
        }
        // SAFETY: not past the terminating entry yet.
        id = unsafe { id.add(1) };
    }
    0
}

/// # Safety
///
/// Called by the driver core to bind a device of this bus, with `dev->driver` set.
unsafe extern "C" fn bus_probe(dev: *mut sys::device) -> c_int {
    // SAFETY: a device of this bus being bound to one of its drivers.
    let (vdev, vdrv) = unsafe { (VmdevDevice::from_dev(dev), to_vmdev_driver((*dev).driver)) };
    vdev.publish_driver(vdrv);
    // SAFETY: `probe` is mandatory (checked at registration).
    let ret = unsafe { (vdrv.probe.unwrap_unchecked())(vdev.as_raw()) };
    if ret != 0 {
        release_driver(vdev, vdrv);
    }
    ret
}

/// Unpublishes the driver and hands its state back to it.
fn release_driver(vdev: &VmdevDevice, vdrv: &sys::vmdev_driver) {
    let data = vdev.unpublish_driver();
    if let (Some(release), false) = (vdrv.release, data.is_null()) {
        // SAFETY: the state the driver published, which no interrupt reaches any more.
        unsafe { release(vdev.as_raw(), data) };
    }
}

/// # Safety
///
/// Called by the driver core to unbind a device of this bus.
unsafe extern "C" fn bus_remove(dev: *mut sys::device) {
    // SAFETY: a bound device of this bus.
    let (vdev, vdrv) = unsafe { (VmdevDevice::from_dev(dev), to_vmdev_driver((*dev).driver)) };
    // SAFETY: `remove` is mandatory (checked at registration).
    unsafe { (vdrv.remove.unwrap_unchecked())(vdev.as_raw()) };
    release_driver(vdev, vdrv);
}

/// # Safety
///
/// Called by the driver core for a device of this bus.
unsafe extern "C" fn bus_uevent(dev: *const sys::device, env: *mut sys::kobj_uevent_env) -> c_int {
    // SAFETY: a device of this bus.
    let vdev = unsafe { VmdevDevice::from_dev(dev) };
    // SAFETY: `env` is the event being built; the format takes one u32.
    unsafe { sys::add_uevent_var(env, c"MODALIAS=vmdev:d%08X".as_ptr().cast(), vdev.device_id) }
}

// SAFETY: these groups are installed by `VMDEV_BUS` on devices of this bus only, which are
// `VmdevDevice`s alive while their attribute callbacks run.
unsafe impl AttrTarget for VmdevDevice {
    unsafe fn from_device<'a>(dev: *mut sys::device) -> Option<&'a Self> {
        // SAFETY: per the contract.
        Some(unsafe { VmdevDevice::from_dev(dev) })
    }
}

crate::show_attribute!(DeviceId: VmdevDevice, c"device_id", |v| v.device_id);
crate::show_attribute!(DeviceClass: VmdevDevice, c"device_class", |v| class_name(v.device_id));
crate::show_attribute!(Modalias: VmdevDevice, c"modalias", |v| Alias(v.device_id));

/// The modalias of a device of class `0`.
struct Alias(u32);

impl core::fmt::Display for Alias {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "vmdev:d{:08X}", self.0)
    }
}

struct MdevUuid;
impl Attribute for MdevUuid {
    type Target = VmdevDevice;
    const NAME: &'static core::ffi::CStr = c"mdev_uuid";
    fn show(v: &VmdevDevice, page: &mut Page<'_>) -> Result {
        // SAFETY: `mdev` is referenced until release, which cannot run during a callback.
        let u: [u8; 16] = unsafe { (*v.mdev).uuid.b };
        // A `guid_t` keeps its first three fields little-endian (`%pUl`).
        let order = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
        for (i, &b) in order.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                page.write_char('-').map_err(|_| EINVAL)?;
            }
            write!(page, "{:02x}", u[b]).map_err(|_| EINVAL)?;
        }
        page.write_char('\n').map_err(|_| EINVAL)
    }
}

/// Longest driver name `driver_override` takes.
const OVERRIDE_MAX: usize = 64;

struct DriverOverride;
impl Attribute for DriverOverride {
    type Target = VmdevDevice;
    const NAME: &'static core::ffi::CStr = c"driver_override";
    const WRITABLE: bool = true;
    fn show(v: &VmdevDevice, page: &mut Page<'_>) -> Result {
        let over = v.driver_override.lock();
        page.line(format_args!(
            "{}",
            core::str::from_utf8(&over).unwrap_or("")
        ))
    }

    fn store(v: &VmdevDevice, input: &[u8]) -> Result {
        set_driver_override(v, input)
    }
}

/// As `driver_set_override()`: the name up to the first newline; empty clears it.
pub(crate) fn set_driver_override(v: &VmdevDevice, input: &[u8]) -> Result {
    let name = input.split(|&c| c == b'\n').next().unwrap_or(&[]);
    if name.len() > OVERRIDE_MAX || name.contains(&0) || core::str::from_utf8(name).is_err() {
        return Err(EINVAL);
    }
    let mut new = KVec::with_capacity(name.len(), GFP_KERNEL)?;
    new.extend_from_slice(name, GFP_KERNEL)?;
    // The old name is freed after the lock is dropped.
    let _old = core::mem::replace(&mut *v.driver_override.lock(), new);
    Ok(())
}

crate::attribute_group!(
    static DEV_GROUP: AttributeGroup<VmdevDevice> = (None) [DeviceId, DeviceClass, MdevUuid, Modalias, DriverOverride];
);
crate::attribute_groups!(
    static DEV_GROUPS: AttributeGroups<VmdevDevice> = [DEV_GROUP];
);

/// The bus.
pub(crate) static VMDEV_BUS: CStatic<sys::bus_type> = CStatic::new(sys::bus_type {
    name: c"vmdev".as_ptr().cast(),
    dev_groups: DEV_GROUPS.list().as_ptr(),
    match_: Some(bus_match),
    uevent: Some(bus_uevent),
    probe: Some(bus_probe),
    remove: Some(bus_remove),
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

/// The bus, for the driver core.
pub(crate) fn bus() -> *mut sys::bus_type {
    VMDEV_BUS.get()
}

/// A registered bus, unregistered on drop.
pub(crate) struct BusRegistration(());

impl BusRegistration {
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: the bus is a static that lives as long as the module.
        kernel::error::to_result(unsafe { sys::bus_register(bus()) })?;
        Ok(Self(()))
    }
}

impl Drop for BusRegistration {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; drivers and devices are gone (they hold references to
        // our module).
        unsafe { sys::bus_unregister(bus()) };
    }
}
