// SPDX-License-Identifier: GPL-2.0
//! The attributes of an instance's mdev device: what mdevctl writes.
//!
//! mdevctl starts a device by writing its UUID to the type's `create` file and then each of
//! the device's attributes to `/sys/bus/mdev/devices/<uuid>/<name>`. By then the instance's
//! vmdev device exists and a personality has bound it (virtio_mdev, which has started the
//! device, so the vendor refuses settings a driver reads at probe). So the transport gives
//! the mdev device:
//!
//! - a mirror of the vendor's attribute groups ([`Mirror`]): the same files, whose show and
//!   store call the vendor's with the vmdev device. A store runs in [`reconfigure`]: if the
//!   vendor refuses it with `EBUSY` because a driver that reads the settings at probe only
//!   (`VMDEV_DRIVER_REBIND_FOR_SETTINGS`: virtio_mdev) runs the device, that driver is
//!   unbound, which resets the device so the vendor takes the setting, and bound again
//!   after, so it comes up with it. A value the vendor refuses for itself unbinds nothing,
//!   and with vhost_mdev bound its `EBUSY` stands: its user may hold the device;
//! - `personality`, the driver of the vmdev device, which names one to bind (mdevctl's way
//!   to ask for vhost_mdev).
//!
//! The vmdev device's own files are unchanged: a setting written there while a driver runs
//! the device is refused.

use super::bus::{set_driver_override, to_vmdev_driver};
use super::device::VmdevDevice;
use super::kglue::sys;
use super::kglue::sysfs::{AttrTarget, Attribute, Page};
use super::mdev_driver::MDEV_DRIVER;
use core::ptr;
use kernel::error::code::{EBUSY, EINVAL, ENODEV};
use kernel::ffi::c_char;
use kernel::prelude::*;

/// Names of the mdev device's own files, which a vendor attribute may not take.
const RESERVED: [&core::ffi::CStr; 8] = [
    c"personality",
    c"remove",
    c"mdev_type",
    c"uevent",
    c"driver",
    c"subsystem",
    c"power",
    c"iommu_group",
];

/// Most groups and attributes per group a vendor may have mirrored.
const MAX_GROUPS: usize = 8;
const MAX_ATTRS: usize = 64;

/// The instance behind `dev` if it is an mdev device our mdev driver is bound to.
///
/// # Safety
///
/// `dev` must be live, and if it is one of our mdev devices, probed and not yet removed (an
/// attribute callback of its groups is running: they exist only in between).
pub(crate) unsafe fn instance_of_mdev<'a>(dev: *mut sys::device) -> Option<&'a VmdevDevice> {
    if dev.is_null() {
        return None;
    }
    // SAFETY: the driver field of a live device; ours is a static.
    let ours = unsafe { (*dev).driver } == unsafe { ptr::addr_of_mut!((*MDEV_DRIVER.get()).driver) };
    if !ours {
        return None;
    }
    // SAFETY: bound to our driver: the drvdata is the instance, or null before probe stored
    // it and after remove cleared it.
    let raw = unsafe { sys::vmdev_helper_dev_get_drvdata(dev) };
    // SAFETY: a non-null drvdata of ours is a live `VmdevDevice` (per the contract).
    (!raw.is_null()).then(|| unsafe { VmdevDevice::from_raw(raw.cast()) })
}

/// The driver bound to `dev` if it reads the settings at probe only
/// (`VMDEV_DRIVER_REBIND_FOR_SETTINGS`), with a reference on its module so that it can be
/// bound again after an unbind.
///
/// # Safety
///
/// `dev` must be a live vmdev device.
unsafe fn rebindable_driver(dev: *mut sys::device) -> Option<*const sys::device_driver> {
    // SAFETY: the driver core writes `driver` under the device lock; a driver bound to a
    // vmdev device is embedded in a `vmdev_driver`, and a bound driver's module is live.
    unsafe {
        sys::vmdev_helper_device_lock(dev);
        let drv = (*dev).driver;
        let ok = !drv.is_null()
            && to_vmdev_driver(drv).flags & sys::VMDEV_DRIVER_REBIND_FOR_SETTINGS != 0
            && sys::vmdev_helper_try_module_get((*drv).owner);
        sys::vmdev_helper_device_unlock(dev);
        ok.then_some(drv.cast_const())
    }
}

/// Runs `apply`, a vendor's settings store, as a write on the mdev device asks: first as it
/// is; if the vendor refuses it with `EBUSY` because a driver that reads the settings at
/// probe only (virtio_mdev) runs the device, that driver is unbound, which resets the
/// device, `apply` runs again, and the same driver is bound again after, whatever `apply`
/// returned. A value the vendor refuses for itself (`EINVAL`) never unbinds anything.
fn reconfigure(v: &VmdevDevice, mut apply: impl FnMut() -> isize) -> isize {
    let _serial = v.reconfig.lock();
    let ret = apply();
    if ret != EBUSY.to_errno() as isize {
        return ret;
    }
    let dev = v.dev();
    // SAFETY: `dev` is the instance's live vmdev device.
    let Some(drv) = (unsafe { rebindable_driver(dev) }) else {
        return ret;
    };
    // SAFETY: a live device; unbinding resets it.
    unsafe { sys::device_release_driver(dev) };
    let ret = apply();
    // SAFETY: `drv` is registered: we hold a reference on its module, which unregisters it
    // only on unload. Binding it explicitly keeps the device with the driver it had, which
    // matching by class might not pick.
    let attached = unsafe {
        let r = sys::device_driver_attach(drv, dev);
        sys::vmdev_helper_module_put((*drv).owner);
        r
    };
    if ret >= 0 && attached < 0 {
        return attached as isize;
    }
    ret
}

/// One mirrored attribute: ours, first, and the vendor's it forwards to.
#[repr(C)]
struct MirrorAttr {
    attr: sys::device_attribute,
    vendor: *const sys::device_attribute,
}

/// The mirror of one parent's attribute groups, built at registration.
///
/// # Invariants
///
/// Every pointer in the C tables points into the vectors here, which are allocated once at
/// their final size and never resized, so nothing moves while the parent lives; the vendor's
/// tables it points to live as long (vmdev.h: until the parent is unregistered).
pub(crate) struct Mirror {
    /// The NULL-terminated list of groups, or empty if the vendor has none.
    list: KVec<*const sys::attribute_group>,
    groups: KVec<sys::attribute_group>,
    /// Each group's NULL-terminated attribute list.
    attr_lists: KVec<KVec<*mut sys::attribute>>,
    attrs: KVec<KVec<MirrorAttr>>,
}

impl Mirror {
    /// A mirror of `vendor`, a NULL-terminated list of groups of `struct device_attribute`s,
    /// or null.
    ///
    /// # Safety
    ///
    /// `vendor` must be null or a valid NULL-terminated group list that outlives the mirror.
    pub(crate) unsafe fn new(vendor: *const *const sys::attribute_group) -> Result<Self> {
        let mut m = Mirror {
            list: KVec::new(),
            groups: KVec::new(),
            attr_lists: KVec::new(),
            attrs: KVec::new(),
        };
        if vendor.is_null() {
            return Ok(m);
        }
        let mut n = 0;
        // SAFETY: a NULL-terminated list (contract).
        while n <= MAX_GROUPS && !unsafe { *vendor.add(n) }.is_null() {
            n += 1;
        }
        if n > MAX_GROUPS {
            return Err(EINVAL);
        }
        m.groups = KVec::with_capacity(n, GFP_KERNEL)?;
        m.attr_lists = KVec::with_capacity(n, GFP_KERNEL)?;
        m.attrs = KVec::with_capacity(n, GFP_KERNEL)?;
        for g in 0..n {
            // SAFETY: `g < n` entries are non-null groups.
            let vg = unsafe { &**vendor.add(g) };
            // What the mirror cannot carry over: visibility decided per device, binary files.
            if vg.is_visible.is_some() || !vg.bin_attrs.is_null() {
                return Err(EINVAL);
            }
            let mut count = 0;
            // SAFETY: a group's `attrs` is a NULL-terminated list (or null).
            while !vg.attrs.is_null() && count <= MAX_ATTRS && !unsafe { *vg.attrs.add(count) }.is_null() {
                count += 1;
            }
            if count > MAX_ATTRS {
                return Err(EINVAL);
            }
            let mut attrs = KVec::with_capacity(count, GFP_KERNEL)?;
            for i in 0..count {
                // SAFETY: a vendor attribute of a device group is the `attr` of a
                // `device_attribute` (vmdev.h).
                let va = unsafe { kernel::container_of!(*vg.attrs.add(i), sys::device_attribute, attr) };
                // SAFETY: a live attribute's name is a NUL-terminated string.
                let name = unsafe { core::ffi::CStr::from_ptr((*va).attr.name.cast()) };
                // Files the mdev device has of its own, in its top directory.
                if vg.name.is_null() && RESERVED.iter().any(|r| r.to_bytes() == name.to_bytes()) {
                    return Err(EINVAL);
                }
                // SAFETY: a zeroed attribute is what `sysfs_attr_init` expects; `va` is a live
                // attribute of the vendor's.
                let attr = unsafe {
                    let mut a: sys::attribute = super::kglue::cstatic::zeroed();
                    sys::vmdev_helper_sysfs_attr_init(&mut a, (*va).attr.name, (*va).attr.mode);
                    a
                };
                attrs.push(
                    MirrorAttr {
                        attr: sys::device_attribute {
                            attr,
                            show: Some(show),
                            store: Some(store),
                        },
                        vendor: va,
                    },
                    GFP_KERNEL,
                )?;
            }
            let mut list = KVec::with_capacity(count + 1, GFP_KERNEL)?;
            for a in attrs.iter_mut() {
                list.push(ptr::addr_of_mut!(a.attr.attr), GFP_KERNEL)?;
            }
            list.push(ptr::null_mut(), GFP_KERNEL)?;
            m.groups.push(
                sys::attribute_group {
                    name: vg.name,
                    attrs: list.as_mut_ptr(),
                    // SAFETY: the remaining fields are optional and valid zeroed.
                    ..unsafe { super::kglue::cstatic::zeroed() }
                },
                GFP_KERNEL,
            )?;
            m.attr_lists.push(list, GFP_KERNEL)?;
            m.attrs.push(attrs, GFP_KERNEL)?;
        }
        m.list = KVec::with_capacity(n + 1, GFP_KERNEL)?;
        for g in m.groups.iter() {
            m.list.push(ptr::from_ref(g), GFP_KERNEL)?;
        }
        m.list.push(ptr::null(), GFP_KERNEL)?;
        // INVARIANT: every vector above was filled to its capacity and is not touched again.
        Ok(m)
    }

    /// The mirrored groups for `sysfs_create_groups`, or null if there are none.
    pub(crate) fn groups(&self) -> *mut *const sys::attribute_group {
        if self.list.is_empty() {
            ptr::null_mut()
        } else {
            self.list.as_ptr().cast_mut()
        }
    }
}

// SAFETY: the tables are written once, at construction, and only read afterwards.
unsafe impl Send for Mirror {}
// SAFETY: as above.
unsafe impl Sync for Mirror {}

/// The mirrored attribute behind `attr` and the instance behind `dev`.
///
/// # Safety
///
/// Called from a callback of a mirrored attribute `attr` of mdev device `dev`.
unsafe fn resolve<'a>(
    dev: *mut sys::device,
    attr: *mut sys::device_attribute,
) -> Option<(&'a VmdevDevice, &'a sys::device_attribute)> {
    // SAFETY: our attributes are the first field of a `MirrorAttr`; its vendor attribute
    // lives as long as the parent, which outlives the mdev device's groups.
    let vendor = unsafe { &*(*attr.cast::<MirrorAttr>()).vendor };
    // SAFETY: the groups exist, so the instance is stored (see `instance_of_mdev`).
    let v = unsafe { instance_of_mdev(dev) }?;
    Some((v, vendor))
}

/// # Safety
///
/// Called by sysfs for a mirrored attribute of one of our mdev devices, with a page.
unsafe extern "C" fn show(
    dev: *mut sys::device,
    attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: per the contract.
    let Some((v, vendor)) = (unsafe { resolve(dev, attr) }) else {
        return ENODEV.to_errno() as isize;
    };
    match vendor.show {
        // SAFETY: the vendor's show, for its own attribute on the instance's vmdev device,
        // into the page sysfs gave us.
        Some(f) => unsafe { f(v.dev(), ptr::from_ref(vendor).cast_mut(), buf) },
        None => EINVAL.to_errno() as isize,
    }
}

/// # Safety
///
/// Called by sysfs for a mirrored attribute of one of our mdev devices, with `count` bytes.
unsafe extern "C" fn store(
    dev: *mut sys::device,
    attr: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: per the contract.
    let Some((v, vendor)) = (unsafe { resolve(dev, attr) }) else {
        return ENODEV.to_errno() as isize;
    };
    let Some(f) = vendor.store else {
        return EINVAL.to_errno() as isize;
    };
    reconfigure(v, || {
        // SAFETY: the vendor's store, for its own attribute on the instance's vmdev device,
        // with the bytes sysfs gave us.
        unsafe { f(v.dev(), ptr::from_ref(vendor).cast_mut(), buf, count) }
    })
}

/// An instance seen from its mdev device: what `personality` acts on.
#[repr(transparent)]
pub(crate) struct OnMdev(VmdevDevice);

// SAFETY: groups of `OnMdev` are installed only as our mdev driver's `dev_groups`, which the
// driver core adds after our probe stored the instance and removes before our remove clears
// it.
unsafe impl AttrTarget for OnMdev {
    unsafe fn from_device<'a>(dev: *mut sys::device) -> Option<&'a Self> {
        // SAFETY: per the contract, `dev` is one of our probed mdev devices.
        let v = unsafe { instance_of_mdev(dev) }?;
        // SAFETY: `OnMdev` is a transparent `VmdevDevice`.
        Some(unsafe { &*ptr::from_ref(v).cast::<OnMdev>() })
    }
}

/// `personality`: the driver bound to the instance's vmdev device, `none` if none. Writing a
/// driver's name binds the instance to it (as `driver_override` and a rebind would), `none`
/// leaves it unbound, and an empty line returns it to matching by class. A name no loaded
/// driver has leaves the instance unbound and fails with `ENODEV`.
struct Personality;
impl Attribute for Personality {
    type Target = OnMdev;
    const NAME: &'static core::ffi::CStr = c"personality";
    const WRITABLE: bool = true;
    fn show(m: &OnMdev, page: &mut Page<'_>) -> Result {
        let dev = m.0.dev();
        let mut name = [0u8; 64];
        let mut n = 0;
        // SAFETY: `dev` is live; its driver is read under the device lock, and a bound
        // driver has a name.
        unsafe {
            sys::vmdev_helper_device_lock(dev);
            let drv = (*dev).driver;
            if !drv.is_null() {
                let s = core::ffi::CStr::from_ptr((*drv).name.cast()).to_bytes();
                n = s.len().min(name.len());
                name[..n].copy_from_slice(&s[..n]);
            }
            sys::vmdev_helper_device_unlock(dev);
        }
        if n == 0 {
            return page.line(format_args!("none"));
        }
        page.bytes(&name[..n]);
        page.line(format_args!(""))
    }
    fn store(m: &OnMdev, input: &[u8]) -> Result {
        let want = input.strip_suffix(b"\n").unwrap_or(input);
        let _serial = m.0.reconfig.lock();
        let dev = m.0.dev();
        // Already bound to the driver asked for: nothing to do (a rebind would reset a
        // device a VMM may be running).
        // SAFETY: `dev` is live; its driver is read under the device lock, and a bound
        // driver has a name.
        let same = unsafe {
            sys::vmdev_helper_device_lock(dev);
            let drv = (*dev).driver;
            let same = !drv.is_null()
                && !want.is_empty()
                && core::ffi::CStr::from_ptr((*drv).name.cast()).to_bytes() == want;
            sys::vmdev_helper_device_unlock(dev);
            same
        };
        set_driver_override(&m.0, input)?;
        if same {
            return Ok(());
        }
        // SAFETY: `dev` is live.
        let bound = unsafe {
            sys::device_release_driver(dev);
            let _ = sys::device_attach(dev);
            sys::vmdev_helper_device_lock(dev);
            let bound = !(*dev).driver.is_null();
            sys::vmdev_helper_device_unlock(dev);
            bound
        };
        if !bound && !want.is_empty() && want != b"none" {
            return Err(ENODEV);
        }
        Ok(())
    }
}

crate::attribute_group!(
    static MDEV_GROUP: AttributeGroup<OnMdev> = (None) [Personality];
);
crate::attribute_groups!(
    pub(crate) static MDEV_GROUPS: AttributeGroups<OnMdev> = [MDEV_GROUP];
);
