// SPDX-License-Identifier: GPL-2.0
//! virtio-mdev transport.
//!
//! Vendors register a parent with mdev types (`vmdev_register_parent`). Each mdev instance an
//! administrator creates becomes a `vmdev` device on this module's own bus, where personality
//! drivers (virtio_mdev, vhost_mdev) bind by virtio device class, or by name through
//! `driver_override`. mdev gives the lifecycle; the bus gives the driver model.
//!
//! Drivers reach a device only through the register window. Every access is checked against
//! the register map (`vmdev_regs::map`) here, so a device never sees a malformed access.
//! Devices report interrupts with `vmdev_vq_interrupt`, which this module hands to the bound
//! driver with bottom halves disabled.
//!
//! The C ABI is `transport/vmdev.h`; `exports.c` exports it.

use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;

#[path = "../kglue/sys.rs"]
mod sys;

#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
pub mod vmdev_regs;

use core::sync::atomic::AtomicPtr;
use kernel::uaccess::UserSlice;
use vmdev_regs::debug::{self, Command};
use vmdev_regs::map::{check_config_access, check_reg_access, Dir, Register};

module! {
    type: VmdevTransport,
    name: "vmdev",
    author: "virtio-mdev developers",
    description: "virtio-mdev transport: virtio devices over mediated devices",
    license: "GPL",
}

/// A C object the kernel owns the contents of, placed in a `static`.
#[repr(transparent)]
struct CStatic<T>(core::cell::UnsafeCell<T>);

// SAFETY: Rust code only takes the address of the contents; the C side serialises its own
// accesses (the driver core's locks).
unsafe impl<T> Sync for CStatic<T> {}

impl<T> CStatic<T> {
    const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }
    const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// An all-zero C struct, the usual starting point of a C initialiser.
///
/// # Safety
///
/// All-zero bytes must be a valid `T` (true of bindgen structs of pointers, integers and
/// `Option<fn>`).
const unsafe fn zeroed<T>() -> T {
    // SAFETY: the caller guarantees that all-zero bytes are a valid `T`.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

const EINVAL: c_int = -22;
const ENODEV: c_int = -19;
const ENOMEM: c_int = -12;
const EUSERS: c_int = -87;

/// `struct vmdev_parent`: one vendor parent device and its mdev types.
///
/// # Invariants
///
/// `mdev_types` holds `nr_types` pointers into `type_storage`, which never moves once the
/// parent is registered. The allocation lives until `refs` drops to zero: one reference for
/// the registration and one per instance (dropped when the instance's device is released).
#[repr(C)]
pub struct Parent {
    mdev_parent: sys::mdev_parent,
    ops: *const sys::vmdev_parent_ops,
    types: *const sys::vmdev_type,
    drvdata: *mut c_void,
    refs: AtomicUsize,
    instances: KVec<AtomicU32>,
    type_storage: KVec<sys::mdev_type>,
    mdev_types: KVec<*mut sys::mdev_type>,
}

/// `struct vmdev_device`: one instance on the vmdev bus.
///
/// # Invariants
///
/// `dev` is initialised with `vmdev_device_release` as its release function, which frees this
/// allocation. `mdev` and `parent` are references held until release. `ops` is the vendor's
/// until the instance is destroyed, then null. `driver` is the bound driver while bound (read
/// under `cb_lock` by the interrupt path).
#[repr(C)]
pub struct VmdevDevice {
    dev: sys::device,
    mdev: *mut sys::mdev_device,
    parent: *mut Parent,
    type_index: u32,
    device_id: u32,
    index: u32,
    ops: *const sys::vmdev_device_ops,
    vendor_data: *mut c_void,
    driver_data: *mut c_void,
    driver_override: *const c_char,
    cb_lock: sys::spinlock_t,
    driver: *const sys::vmdev_driver,
    /// The debugfs register file, and the answer to its last command (device lock held).
    debugfs: *mut sys::dentry,
    debug_out: [u8; 64],
    debug_len: usize,
}

/// Numbers the `vmdevN` devices. Initialised with `ida_init` at module init: its lock needs
/// run-time initialisation under lockdep and DEBUG_SPINLOCK.
static VMDEV_IDA: CStatic<sys::ida> = CStatic::new(
    // SAFETY: zeroed memory is a valid placeholder until `ida_init` runs in `init`.
    unsafe { zeroed() },
);

/// # Safety
///
/// `dev` must be a device of the vmdev bus.
unsafe fn to_vmdev(dev: *mut sys::device) -> *mut VmdevDevice {
    // `dev` is the first field of the `#[repr(C)]` `VmdevDevice`.
    dev.cast()
}

/// # Safety
///
/// `drv` must be the `driver` field of a `struct vmdev_driver`.
unsafe fn to_vmdev_driver(drv: *const sys::device_driver) -> *const sys::vmdev_driver {
    // SAFETY: the caller guarantees `drv` is embedded in a `vmdev_driver`.
    unsafe { kernel::container_of!(drv, sys::vmdev_driver, driver) }
}

fn is_vmdev(dev: *const sys::device) -> bool {
    // SAFETY: reading the `bus` field of a live device the caller passed us.
    !dev.is_null() && unsafe { (*dev).bus } == VMDEV_BUS.get().cast_const()
}

// ---------------------------------------------------------------------------------------------
// The vmdev bus.

/// # Safety
///
/// Called by the driver core for a device of the vmdev bus (and one of its drivers).
unsafe extern "C" fn bus_match(dev: *mut sys::device, drv: *const sys::device_driver) -> c_int {
    // SAFETY: the driver core calls match with a device of this bus and one of its drivers.
    let (vdev, vdrv) = unsafe { (to_vmdev(dev), to_vmdev_driver(drv)) };
    // SAFETY: `vdev` is live for the call. `driver_override` is replaced under the device
    // lock by `driver_set_override`; like the platform and PCI buses, match reads it without
    // that lock (the driver core calls match both with and without it).
    let over = unsafe { (*vdev).driver_override };
    if !over.is_null() {
        // SAFETY: both are NUL-terminated strings.
        return c_int::from(unsafe { sys::strcmp(over, (*drv).name) } == 0);
    }
    // SAFETY: `id_table` is the driver's static table, ended by a zero `device_id`.
    let mut id = unsafe { (*vdrv).id_table };
    // SAFETY: `vdev` is live for the call.
    let device_id = unsafe { (*vdev).device_id };
    while !id.is_null() {
        // SAFETY: `id` points into the table, which ends with a zero entry we stop at.
        let want = unsafe { (*id).device_id };
        if want == 0 {
            break;
        }
        if want == sys::VMDEV_ANY_ID || want == device_id {
            return 1;
        }
        // SAFETY: not past the terminating entry yet.
        id = unsafe { id.add(1) };
    }
    0
}

/// # Safety
///
/// Called by the driver core for a device of the vmdev bus (and one of its drivers).
unsafe extern "C" fn bus_probe(dev: *mut sys::device) -> c_int {
    // SAFETY: the driver core probes a device of this bus with `dev->driver` set.
    let (vdev, vdrv) = unsafe { (to_vmdev(dev), to_vmdev_driver((*dev).driver)) };
    // SAFETY: `vdrv` is a registered driver; its probe is mandatory (checked at registration).
    let ret = unsafe { ((*vdrv).probe.unwrap_unchecked())(vdev.cast()) };
    if ret == 0 {
        // SAFETY: `cb_lock` was initialised at creation.
        unsafe {
            sys::vmdev_helper_spin_lock_bh(ptr::addr_of_mut!((*vdev).cb_lock).cast());
            (*vdev).driver = vdrv;
            sys::vmdev_helper_spin_unlock_bh(ptr::addr_of_mut!((*vdev).cb_lock).cast());
        }
    }
    ret
}

/// # Safety
///
/// Called by the driver core for a device of the vmdev bus (and one of its drivers).
unsafe extern "C" fn bus_remove(dev: *mut sys::device) {
    // SAFETY: called for a bound device of this bus.
    let (vdev, vdrv) = unsafe { (to_vmdev(dev), to_vmdev_driver((*dev).driver)) };
    // The driver resets the device in remove, after which the device raises no interrupts;
    // clearing `driver` afterwards also waits out a handler already running.
    // SAFETY: `remove` is mandatory (checked at registration).
    unsafe { ((*vdrv).remove.unwrap_unchecked())(vdev.cast()) };
    // SAFETY: as in `bus_probe`.
    unsafe {
        sys::vmdev_helper_spin_lock_bh(ptr::addr_of_mut!((*vdev).cb_lock).cast());
        (*vdev).driver = ptr::null();
        (*vdev).driver_data = ptr::null_mut();
        sys::vmdev_helper_spin_unlock_bh(ptr::addr_of_mut!((*vdev).cb_lock).cast());
    }
}

/// # Safety
///
/// Called by the driver core for a device of the vmdev bus (and one of its drivers).
unsafe extern "C" fn bus_uevent(dev: *const sys::device, env: *mut sys::kobj_uevent_env) -> c_int {
    // SAFETY: a device of this bus.
    let vdev = unsafe { to_vmdev(dev.cast_mut()) };
    // SAFETY: `env` is the event being built; the format takes one u32.
    unsafe {
        sys::add_uevent_var(
            env,
            c"MODALIAS=vmdev:d%08X".as_ptr().cast(),
            (*vdev).device_id,
        )
    }
}

fn class_name(device_id: u32) -> &'static core::ffi::CStr {
    match device_id {
        1 => c"net",
        2 => c"block",
        3 => c"console",
        4 => c"rng",
        _ => c"unknown",
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn device_id_show(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: sysfs calls this for a live device of this bus with a PAGE_SIZE buffer.
    unsafe { sys::sysfs_emit(buf, c"%u\n".as_ptr().cast(), (*to_vmdev(dev)).device_id) as isize }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn device_class_show(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: as in `device_id_show`.
    let id = unsafe { (*to_vmdev(dev)).device_id };
    // SAFETY: `buf` is a sysfs buffer; the argument is a NUL-terminated string.
    unsafe {
        sys::sysfs_emit(
            buf,
            c"%s\n".as_ptr().cast(),
            class_name(id).as_ptr().cast::<c_char>(),
        ) as isize
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn mdev_uuid_show(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: `mdev` is referenced until release, which cannot run during a sysfs callback.
    let mdev = unsafe { (*to_vmdev(dev)).mdev };
    // SAFETY: `%pUl` prints the 16-byte guid the pointer refers to.
    unsafe { sys::sysfs_emit(buf, c"%pUl\n".as_ptr().cast(), ptr::addr_of!((*mdev).uuid)) as isize }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn modalias_show(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: as in `device_id_show`.
    unsafe {
        sys::sysfs_emit(
            buf,
            c"vmdev:d%08X\n".as_ptr().cast(),
            (*to_vmdev(dev)).device_id,
        ) as isize
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn driver_override_show(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: sysfs calls this for a live device of this bus.
    let vdev = unsafe { to_vmdev(dev) };
    // SAFETY: `driver_override` changes only under the device lock, taken here as
    // driver_set_override does.
    unsafe {
        sys::vmdev_helper_device_lock(dev);
        let s = (*vdev).driver_override;
        let n = sys::sysfs_emit(
            buf,
            c"%s\n".as_ptr().cast(),
            if s.is_null() { c"".as_ptr().cast() } else { s },
        );
        sys::vmdev_helper_device_unlock(dev);
        n as isize
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
unsafe extern "C" fn driver_override_store(
    dev: *mut sys::device,
    _attr: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    // SAFETY: sysfs calls this for a live device of this bus.
    let vdev = unsafe { to_vmdev(dev) };
    // SAFETY: driver_set_override validates and copies `buf`, and replaces the string under
    // the device lock, freeing the old one.
    let ret = unsafe {
        sys::driver_set_override(dev, ptr::addr_of_mut!((*vdev).driver_override), buf, count)
    };
    if ret != 0 {
        return ret as isize;
    }
    count as isize
}

macro_rules! device_attr {
    ($name:ident, $cname:literal, $mode:expr, $show:expr, $store:expr) => {
        // `struct attribute` has lockdep fields only with CONFIG_DEBUG_LOCK_ALLOC.
        #[allow(clippy::needless_update)]
        static $name: CStatic<sys::device_attribute> = CStatic::new(sys::device_attribute {
            attr: sys::attribute {
                name: $cname.as_ptr().cast(),
                mode: $mode,
                // SAFETY: the remaining fields (lockdep keys) are valid zeroed.
                ..unsafe { zeroed() }
            },
            show: $show,
            store: $store,
        });
    };
}

device_attr!(
    ATTR_DEVICE_ID,
    c"device_id",
    0o444,
    Some(device_id_show),
    None
);
device_attr!(
    ATTR_DEVICE_CLASS,
    c"device_class",
    0o444,
    Some(device_class_show),
    None
);
device_attr!(
    ATTR_MDEV_UUID,
    c"mdev_uuid",
    0o444,
    Some(mdev_uuid_show),
    None
);
device_attr!(ATTR_MODALIAS, c"modalias", 0o444, Some(modalias_show), None);
device_attr!(
    ATTR_DRIVER_OVERRIDE,
    c"driver_override",
    0o644,
    Some(driver_override_show),
    Some(driver_override_store)
);

static DEV_ATTRS: CStatic<[*mut sys::attribute; 6]> = CStatic::new([
    ATTR_DEVICE_ID.get().cast(),
    ATTR_DEVICE_CLASS.get().cast(),
    ATTR_MDEV_UUID.get().cast(),
    ATTR_MODALIAS.get().cast(),
    ATTR_DRIVER_OVERRIDE.get().cast(),
    ptr::null_mut(),
]);

static DEV_GROUP: CStatic<sys::attribute_group> = CStatic::new(sys::attribute_group {
    attrs: DEV_ATTRS.get().cast(),
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

static DEV_GROUPS: CStatic<[*const sys::attribute_group; 2]> =
    CStatic::new([DEV_GROUP.get().cast_const(), ptr::null()]);

static VMDEV_BUS: CStatic<sys::bus_type> = CStatic::new(sys::bus_type {
    name: c"vmdev".as_ptr().cast(),
    dev_groups: DEV_GROUPS.get().cast(),
    match_: Some(bus_match),
    uevent: Some(bus_uevent),
    probe: Some(bus_probe),
    remove: Some(bus_remove),
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

// ---------------------------------------------------------------------------------------------
// The mdev driver: turns mdev instances into vmdev devices.

/// # Safety
///
/// `mdev` must be an mdev device of a parent registered by `vmdev_register_parent`.
unsafe fn parent_of(mdev: *mut sys::mdev_device) -> *mut Parent {
    // SAFETY: `mdev->type->parent` is the `mdev_parent` embedded first in our `Parent`.
    unsafe { (*sys::vmdev_helper_mdev_type(mdev)).parent.cast() }
}

/// # Safety
///
/// Called by the driver core once, when the last reference to a vmdev device is dropped.
unsafe extern "C" fn vmdev_device_release(dev: *mut sys::device) {
    // SAFETY: the driver core calls release for a device of this bus.
    let vdev = unsafe { to_vmdev(dev) };
    // SAFETY: the last reference to the device is gone; we own every field now.
    unsafe {
        sys::ida_free(VMDEV_IDA.get(), (*vdev).index);
        sys::kfree((*vdev).driver_override.cast());
        let parent = (*vdev).parent;
        if !(*vdev).mdev.is_null() {
            sys::put_device(sys::vmdev_helper_mdev_dev((*vdev).mdev));
        }
        sys::kfree(vdev.cast());
        parent_put(parent);
    }
}

/// # Safety
///
/// `parent` must hold a reference taken by `vmdev_register_parent` or `mdev_probe`.
unsafe fn parent_put(parent: *mut Parent) {
    // SAFETY: the caller owns one reference.
    if unsafe { (*parent).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
        // SAFETY: that was the last reference: nothing else can reach the parent.
        drop(unsafe { KBox::from_raw(parent) });
    }
}

/// # Safety
///
/// Called by the mdev core for an instance of a parent registered by `vmdev_register_parent`.
unsafe extern "C" fn mdev_probe(mdev: *mut sys::mdev_device) -> c_int {
    // SAFETY: the mdev core probes instances of parents we registered with our mdev driver.
    let parent = unsafe { parent_of(mdev) };
    // SAFETY: the parent outlives its registration, which outlives every probe.
    let p = unsafe { &*parent };
    // SAFETY: `mdev` is the instance being probed.
    let mtype = unsafe { sys::vmdev_helper_mdev_type(mdev) };
    let Some(type_index) = p.mdev_types.iter().position(|&t| t == mtype) else {
        return EINVAL;
    };
    // SAFETY: `types` has `nr_types` entries, and `type_index` is below that.
    let vtype = unsafe { &*p.types.add(type_index) };
    let count = &p.instances[type_index];
    if count.fetch_add(1, Ordering::AcqRel) >= vtype.max_instances {
        count.fetch_sub(1, Ordering::AcqRel);
        return EUSERS;
    }

    // SAFETY: plain allocation of a zeroed `VmdevDevice` (valid zeroed: pointers, integers).
    let vdev: *mut VmdevDevice =
        unsafe { sys::vmdev_helper_kzalloc(core::mem::size_of::<VmdevDevice>()) }.cast();
    if vdev.is_null() {
        count.fetch_sub(1, Ordering::AcqRel);
        return ENOMEM;
    }
    // SAFETY: the IDA is initialised (zeroed is DEFINE_IDA's state).
    let index = unsafe { sys::ida_alloc_range(VMDEV_IDA.get(), 0, u32::MAX >> 1, sys::GFP_KERNEL) };
    if index < 0 {
        // SAFETY: `vdev` is ours and not published.
        unsafe { sys::kfree(vdev.cast()) };
        count.fetch_sub(1, Ordering::AcqRel);
        return index;
    }
    p.refs.fetch_add(1, Ordering::AcqRel);
    // SAFETY: `vdev` is a fresh zeroed allocation; from `device_initialize` on, the device's
    // release function owns it, so every error path below ends with `put_device`.
    unsafe {
        (*vdev).mdev = mdev;
        sys::get_device(sys::vmdev_helper_mdev_dev(mdev));
        (*vdev).parent = parent;
        (*vdev).type_index = type_index as u32;
        (*vdev).device_id = vtype.device_id;
        (*vdev).index = index as u32;
        sys::vmdev_helper_spin_lock_init(ptr::addr_of_mut!((*vdev).cb_lock).cast());
        let dev = ptr::addr_of_mut!((*vdev).dev);
        sys::device_initialize(dev);
        (*dev).bus = VMDEV_BUS.get();
        (*dev).parent = sys::vmdev_helper_mdev_dev(mdev);
        (*dev).release = Some(vmdev_device_release);
        (*dev).groups = (*p.ops).dev_groups;
        // A software device reaches driver memory by physical address: dma-direct, 64 bits.
        (*dev).dma_mask = ptr::addr_of_mut!((*dev).coherent_dma_mask);
        let mut ret = sys::vmdev_helper_dma_set_mask_and_coherent(dev, u64::MAX);
        if ret == 0 {
            ret = sys::dev_set_name(dev, c"vmdev%u".as_ptr().cast(), index as c_uint);
        }
        if ret == 0 {
            let mut ops: *const sys::vmdev_device_ops = ptr::null();
            ret = ((*p.ops).create.unwrap_unchecked())(
                parent.cast(),
                type_index as c_uint,
                vdev.cast(),
                &mut ops,
            );
            if ret == 0 && (ops.is_null() || !ops_complete(&*ops)) {
                ((*p.ops).destroy.unwrap_unchecked())(parent.cast(), vdev.cast());
                ret = EINVAL;
            }
            if ret == 0 {
                (*vdev).ops = ops;
                sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), vdev.cast());
                ret = sys::device_add(dev);
                if ret == 0 {
                    debugfs_add(vdev);
                }
                if ret != 0 {
                    ((*p.ops).destroy.unwrap_unchecked())(parent.cast(), vdev.cast());
                    (*vdev).ops = ptr::null();
                }
            }
        }
        if ret != 0 {
            sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), ptr::null_mut());
            count.fetch_sub(1, Ordering::AcqRel);
            sys::put_device(dev);
        }
        ret
    }
}

fn ops_complete(ops: &sys::vmdev_device_ops) -> bool {
    ops.reg_read.is_some()
        && ops.reg_write.is_some()
        && ops.config_read.is_some()
        && ops.config_write.is_some()
}

/// # Safety
///
/// Called by the mdev core for an instance of a parent registered by `vmdev_register_parent`.
unsafe extern "C" fn mdev_remove(mdev: *mut sys::mdev_device) {
    // SAFETY: `mdev_probe` succeeded for this instance and stored the vmdev device.
    let vdev: *mut VmdevDevice =
        unsafe { sys::vmdev_helper_dev_get_drvdata(sys::vmdev_helper_mdev_dev(mdev)) }.cast();
    if vdev.is_null() {
        return;
    }
    // SAFETY: `vdev` is live (we hold the initial reference); `device_del` unbinds the driver,
    // which resets the device, so nothing calls into the vendor after it returns but us.
    unsafe {
        let p = &*(*vdev).parent;
        sys::debugfs_remove((*vdev).debugfs);
        sys::device_del(ptr::addr_of_mut!((*vdev).dev));
        ((*p.ops).destroy.unwrap_unchecked())((*vdev).parent.cast(), vdev.cast());
        (*vdev).ops = ptr::null();
        p.instances[(*vdev).type_index as usize].fetch_sub(1, Ordering::AcqRel);
        sys::vmdev_helper_dev_set_drvdata(sys::vmdev_helper_mdev_dev(mdev), ptr::null_mut());
        sys::put_device(ptr::addr_of_mut!((*vdev).dev));
    }
}

/// # Safety
///
/// Called by the mdev core for one of our parents' types (`buf` is a sysfs page).
unsafe extern "C" fn mdev_get_available(mtype: *mut sys::mdev_type) -> c_uint {
    // SAFETY: `mtype` is one of our parent's types.
    let parent: *mut Parent = unsafe { (*mtype).parent }.cast();
    // SAFETY: the parent is registered while its type attributes exist.
    let p = unsafe { &*parent };
    let Some(i) = p.mdev_types.iter().position(|&t| t == mtype) else {
        return 0;
    };
    // SAFETY: `i < nr_types`.
    let max = unsafe { (*p.types.add(i)).max_instances };
    max.saturating_sub(p.instances[i].load(Ordering::Acquire))
}

/// # Safety
///
/// Called by the mdev core for one of our parents' types (`buf` is a sysfs page).
unsafe extern "C" fn mdev_show_description(mtype: *mut sys::mdev_type, buf: *mut c_char) -> isize {
    // SAFETY: as in `mdev_get_available`.
    let parent: *mut Parent = unsafe { (*mtype).parent }.cast();
    // SAFETY: the parent is registered while its type attributes exist.
    let p = unsafe { &*parent };
    let Some(i) = p.mdev_types.iter().position(|&t| t == mtype) else {
        return EINVAL as isize;
    };
    // SAFETY: `i < nr_types`; `buf` is a sysfs page.
    unsafe {
        let t = &*p.types.add(i);
        sys::sysfs_emit(
            buf,
            c"virtio %s device (virtio device id %u) on the virtio-mdev transport\n"
                .as_ptr()
                .cast(),
            class_name(t.device_id).as_ptr().cast::<c_char>(),
            t.device_id,
        ) as isize
    }
}

static MDEV_DRIVER: CStatic<sys::mdev_driver> = CStatic::new(sys::mdev_driver {
    device_api: c"virtio-mdev".as_ptr().cast(),
    max_instances: 0,
    probe: Some(mdev_probe),
    remove: Some(mdev_remove),
    get_available: Some(mdev_get_available),
    show_description: Some(mdev_show_description),
    driver: sys::device_driver {
        name: c"vmdev".as_ptr().cast(),
        // SAFETY: the remaining fields are optional and valid zeroed.
        ..unsafe { zeroed() }
    },
});

// ---------------------------------------------------------------------------------------------
// Vendor API.

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
) -> *mut Parent {
    // SAFETY: the caller's contract is `register_parent`'s.
    match unsafe { register_parent(dev, types, nr_types, ops, drvdata) } {
        Ok(p) => p,
        Err(e) => e.to_errno() as isize as *mut Parent,
    }
}

/// Does the work of `vmdev_register_parent`.
///
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
        return Err(Error::from_errno(EINVAL));
    }
    // SAFETY: `ops` is valid per the caller's contract.
    let o = unsafe { &*ops };
    if o.create.is_none() || o.destroy.is_none() {
        return Err(Error::from_errno(EINVAL));
    }
    let n = nr_types as usize;
    let mut instances = KVec::with_capacity(n, GFP_KERNEL)?;
    let mut type_storage = KVec::with_capacity(n, GFP_KERNEL)?;
    for i in 0..n {
        // SAFETY: `types` has `nr_types` entries.
        let t = unsafe { &*types.add(i) };
        if t.sysfs_name.is_null() || t.device_id == 0 {
            return Err(Error::from_errno(EINVAL));
        }
        instances.push(AtomicU32::new(0), GFP_KERNEL)?;
        // SAFETY: a zeroed mdev_type is what the mdev core expects before registration.
        let mut mt: sys::mdev_type = unsafe { zeroed() };
        mt.sysfs_name = t.sysfs_name;
        mt.pretty_name = t.pretty_name;
        type_storage.push(mt, GFP_KERNEL)?;
    }
    let parent = KBox::new(
        Parent {
            // SAFETY: mdev_register_parent initialises it.
            mdev_parent: unsafe { zeroed() },
            ops,
            types,
            drvdata,
            refs: AtomicUsize::new(1),
            instances,
            type_storage,
            mdev_types: KVec::new(),
        },
        GFP_KERNEL,
    )?;
    let parent = KBox::into_raw(parent);
    // SAFETY: `parent` is ours until registered; `type_storage` is never resized again, so
    // the pointers stay valid.
    unsafe {
        let p = &mut *parent;
        let base = p.type_storage.as_mut_ptr();
        let mut ptrs =
            KVec::with_capacity(n, GFP_KERNEL).inspect_err(|_| drop(KBox::from_raw(parent)))?;
        for i in 0..n {
            ptrs.push(base.add(i), GFP_KERNEL)
                .inspect_err(|_| drop(KBox::from_raw(parent)))?;
        }
        p.mdev_types = ptrs;
        let ret = sys::mdev_register_parent(
            ptr::addr_of_mut!(p.mdev_parent),
            dev,
            MDEV_DRIVER.get(),
            p.mdev_types.as_mut_ptr(),
            nr_types,
        );
        if ret != 0 {
            drop(KBox::from_raw(parent));
            return Err(Error::from_errno(ret));
        }
    }
    Ok(parent)
}

/// Unregisters a parent, removing every instance first.
///
/// # Safety
///
/// `parent` must come from `vmdev_register_parent` and not be unregistered yet.
#[no_mangle]
pub unsafe extern "C" fn vmdev_unregister_parent(parent: *mut Parent) {
    // SAFETY: per the contract; mdev_unregister_parent removes (and so destroys) every
    // instance before it returns.
    unsafe {
        sys::mdev_unregister_parent(ptr::addr_of_mut!((*parent).mdev_parent));
        parent_put(parent);
    }
}

/// # Safety
///
/// `parent` must be a registered parent.
#[no_mangle]
pub unsafe extern "C" fn vmdev_parent_drvdata(parent: *mut Parent) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { (*parent).drvdata }
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_set_drvdata(vdev: *mut VmdevDevice, data: *mut c_void) {
    // SAFETY: per the contract; only the vendor writes this field.
    unsafe { (*vdev).vendor_data = data };
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_get_drvdata(vdev: *mut VmdevDevice) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { (*vdev).vendor_data }
}

/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_to_dev(vdev: *mut VmdevDevice) -> *mut sys::device {
    // SAFETY: per the contract.
    unsafe { ptr::addr_of_mut!((*vdev).dev) }
}

/// # Safety
///
/// `dev` must be a live device.
#[no_mangle]
pub unsafe extern "C" fn vmdev_from_dev(dev: *mut sys::device) -> *mut VmdevDevice {
    if is_vmdev(dev) {
        // SAFETY: it is a device of our bus.
        unsafe { to_vmdev(dev) }
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
pub unsafe extern "C" fn vmdev_vq_interrupt(vdev: *mut VmdevDevice, queue: u32) {
    // SAFETY: per the contract; `driver` is read under `cb_lock`, which unbinding takes.
    unsafe {
        let lock = ptr::addr_of_mut!((*vdev).cb_lock).cast();
        sys::vmdev_helper_spin_lock_bh(lock);
        let drv = (*vdev).driver;
        if !drv.is_null() {
            if let Some(cb) = (*drv).vq_interrupt {
                cb(vdev.cast(), queue);
            }
        }
        sys::vmdev_helper_spin_unlock_bh(lock);
    }
}

/// Tells the bound driver that the device changed its config space.
///
/// # Safety
///
/// As for `vmdev_vq_interrupt`.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_changed(vdev: *mut VmdevDevice) {
    // SAFETY: as in `vmdev_vq_interrupt`.
    unsafe {
        let lock = ptr::addr_of_mut!((*vdev).cb_lock).cast();
        sys::vmdev_helper_spin_lock_bh(lock);
        let drv = (*vdev).driver;
        if !drv.is_null() {
            if let Some(cb) = (*drv).config_changed {
                cb(vdev.cast());
            }
        }
        sys::vmdev_helper_spin_unlock_bh(lock);
    }
}

// ---------------------------------------------------------------------------------------------
// Driver API.

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
            return EINVAL;
        }
        (*drv).driver.name = (*drv).name;
        (*drv).driver.bus = VMDEV_BUS.get();
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

/// # Safety
///
/// `vdev` must be a live instance.
unsafe fn device_ops(vdev: *mut VmdevDevice) -> Result<&'static sys::vmdev_device_ops, c_int> {
    // SAFETY: `ops` is the vendor's static table while the instance exists.
    let ops = unsafe { (*vdev).ops };
    if ops.is_null() {
        return Err(ENODEV);
    }
    // SAFETY: non-null ops point to a table that outlives the instance.
    Ok(unsafe { &*ops })
}

fn access_errno(e: vmdev_regs::map::AccessError) -> c_int {
    -e.errno()
}

/// Reads a register, checked against the register map.
///
/// # Safety
///
/// `vdev` must be a live instance and `value` writable.
#[no_mangle]
pub unsafe extern "C" fn vmdev_read(vdev: *mut VmdevDevice, offset: u32, value: *mut u32) -> c_int {
    let reg = match check_reg_access(offset, 4, Dir::Read) {
        Ok(r) => r,
        Err(e) => {
            // SAFETY: `value` is writable per the contract.
            unsafe { *value = vmdev_regs::map::REFUSED_READ };
            return access_errno(e);
        }
    };
    // SAFETY: per the contract.
    match unsafe { device_ops(vdev) } {
        Ok(ops) => {
            // SAFETY: the vendor's op on its live instance; the access was checked.
            unsafe { *value = (ops.reg_read.unwrap_unchecked())(vdev.cast(), reg as u32) };
            0
        }
        Err(e) => {
            // SAFETY: as above.
            unsafe { *value = vmdev_regs::map::REFUSED_READ };
            e
        }
    }
}

/// Writes a register, checked against the register map.
///
/// # Safety
///
/// `vdev` must be a live instance.
#[no_mangle]
pub unsafe extern "C" fn vmdev_write(vdev: *mut VmdevDevice, offset: u32, value: u32) -> c_int {
    let reg = match check_reg_access(offset, 4, Dir::Write) {
        Ok(r) => r,
        Err(e) => return access_errno(e),
    };
    // SAFETY: per the contract.
    let ops = match unsafe { device_ops(vdev) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    if reg != Register::QUEUE_NOTIFY {
        // Only the doorbell may be rung from atomic context (vmdev.h).
        // SAFETY: no preconditions.
        unsafe { sys::vmdev_helper_might_sleep() };
    }
    // SAFETY: the vendor's op on its live instance; the access was checked.
    unsafe { (ops.reg_write.unwrap_unchecked())(vdev.cast(), reg as u32, value) };
    0
}

/// # Safety
///
/// `vdev` must be a live instance.
unsafe fn config_size(vdev: *mut VmdevDevice, ops: &sys::vmdev_device_ops) -> u32 {
    // SAFETY: a checked, always-valid register read.
    unsafe { (ops.reg_read.unwrap_unchecked())(vdev.cast(), Register::CONFIG_SIZE as u32) }
}

/// Reads device config space, bounded by `CONFIG_SIZE`.
///
/// # Safety
///
/// `vdev` must be a live instance and `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_read(
    vdev: *mut VmdevDevice,
    offset: u32,
    buf: *mut c_void,
    len: u32,
) -> c_int {
    // SAFETY: per the contract.
    let ops = match unsafe { device_ops(vdev) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    // SAFETY: per the contract.
    let size = unsafe { config_size(vdev, ops) };
    if let Err(e) = check_config_access(offset, len, size) {
        return access_errno(e);
    }
    // SAFETY: checked access; `buf` holds `len` bytes.
    unsafe { (ops.config_read.unwrap_unchecked())(vdev.cast(), offset, buf, len) };
    0
}

/// Writes device config space, bounded by `CONFIG_SIZE`.
///
/// # Safety
///
/// `vdev` must be a live instance and `buf` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn vmdev_config_write(
    vdev: *mut VmdevDevice,
    offset: u32,
    buf: *const c_void,
    len: u32,
) -> c_int {
    // SAFETY: per the contract.
    let ops = match unsafe { device_ops(vdev) } {
        Ok(o) => o,
        Err(e) => return e,
    };
    // SAFETY: per the contract.
    let size = unsafe { config_size(vdev, ops) };
    if let Err(e) = check_config_access(offset, len, size) {
        return access_errno(e);
    }
    // SAFETY: checked access; `buf` holds `len` bytes.
    unsafe { (ops.config_write.unwrap_unchecked())(vdev.cast(), offset, buf, len) };
    0
}

/// # Safety
///
/// `vdev` must be a live instance bound to the caller.
#[no_mangle]
pub unsafe extern "C" fn vmdev_set_driver_data(vdev: *mut VmdevDevice, data: *mut c_void) {
    // SAFETY: per the contract.
    unsafe { (*vdev).driver_data = data };
}

/// # Safety
///
/// `vdev` must be a live instance bound to the caller.
#[no_mangle]
pub unsafe extern "C" fn vmdev_get_driver_data(vdev: *mut VmdevDevice) -> *mut c_void {
    // SAFETY: per the contract.
    unsafe { (*vdev).driver_data }
}

// ---------------------------------------------------------------------------------------------
// debugfs: /sys/kernel/debug/vmdev/vmdevN, one register file per device (root only).
//
// Writing `r OFF`, `w OFF VALUE` or `c OFF LEN` performs that access through the same checked
// path drivers use; a refused access fails the write with its errno, and reading the file
// gives the value of the last successful read. Writes are refused with -EBUSY while a driver
// is bound, so the file cannot disturb a running driver.

static DEBUGFS_ROOT: AtomicPtr<sys::dentry> = AtomicPtr::new(ptr::null_mut());

const EBUSY: c_int = -16;
const EFAULT: c_int = -14;

/// Runs one debugfs command on `vdev`, with its device lock held.
///
/// # Safety
///
/// `vdev` must be a live instance whose device lock the caller holds.
unsafe fn debug_command(vdev: *mut VmdevDevice, cmd: Command) -> c_int {
    // SAFETY: per the contract; the output buffer is guarded by the device lock.
    unsafe {
        let v = &mut *vdev;
        match cmd {
            Command::Read(off) => {
                let mut val = 0;
                let r = vmdev_read(vdev, off, &mut val);
                if r == 0 {
                    v.debug_len = debug::format_u32(val, &mut v.debug_out);
                }
                r
            }
            Command::Write(off, val) => {
                if !v.dev.driver.is_null() {
                    return EBUSY;
                }
                vmdev_write(vdev, off, val)
            }
            Command::Config(off, len) => {
                let mut buf = [0u8; 8];
                if len as usize > buf.len() {
                    return EINVAL;
                }
                let r = vmdev_config_read(vdev, off, buf.as_mut_ptr().cast(), len);
                if r == 0 {
                    v.debug_len = debug::format_bytes(&buf[..len as usize], &mut v.debug_out);
                }
                r
            }
        }
    }
}

/// # Safety
///
/// Called by the VFS for our debugfs file, opened with `simple_open` on a live device, with a user buffer of `count` bytes.
unsafe extern "C" fn debug_write(
    file: *mut sys::file,
    ubuf: *const c_char,
    count: usize,
    _ppos: *mut sys::loff_t,
) -> isize {
    let mut tmp = [0u8; 64];
    if count == 0 || count >= tmp.len() {
        return EINVAL as isize;
    }
    if UserSlice::new(ubuf as usize, count)
        .reader()
        .read_slice(&mut tmp[..count])
        .is_err()
    {
        return EFAULT as isize;
    }
    let Some(cmd) = debug::parse(&tmp[..count]) else {
        return EINVAL as isize;
    };
    // SAFETY: debugfs keeps the file's inode data (our device) alive while an operation runs:
    // `mdev_remove` removes the file, which waits for running operations, before the device
    // goes away.
    unsafe {
        let vdev: *mut VmdevDevice = (*file).private_data.cast();
        let dev = ptr::addr_of_mut!((*vdev).dev);
        sys::vmdev_helper_device_lock(dev);
        let r = debug_command(vdev, cmd);
        sys::vmdev_helper_device_unlock(dev);
        if r < 0 {
            r as isize
        } else {
            count as isize
        }
    }
}

/// # Safety
///
/// Called by the VFS for our debugfs file, opened with `simple_open` on a live device, with a user buffer of `count` bytes.
unsafe extern "C" fn debug_read(
    file: *mut sys::file,
    ubuf: *mut c_char,
    count: usize,
    ppos: *mut sys::loff_t,
) -> isize {
    // SAFETY: as in `debug_write`; `simple_read_from_buffer` copies at most `debug_len`
    // bytes of our buffer to the user buffer the VFS checked.
    unsafe {
        let vdev: *mut VmdevDevice = (*file).private_data.cast();
        let dev = ptr::addr_of_mut!((*vdev).dev);
        sys::vmdev_helper_device_lock(dev);
        let n = sys::simple_read_from_buffer(
            ubuf.cast(),
            count,
            ppos,
            (*vdev).debug_out.as_ptr().cast(),
            (*vdev).debug_len,
        );
        sys::vmdev_helper_device_unlock(dev);
        n
    }
}

static DEBUG_FOPS: CStatic<sys::file_operations> = CStatic::new(sys::file_operations {
    open: Some(sys::simple_open),
    read: Some(debug_read),
    write: Some(debug_write),
    // SAFETY: the remaining fields are optional and valid zeroed; `owner` is set at init.
    ..unsafe { zeroed() }
});

/// # Safety
///
/// `vdev` must be a live instance that was just added to the bus.
unsafe fn debugfs_add(vdev: *mut VmdevDevice) {
    let root = DEBUGFS_ROOT.load(Ordering::Acquire);
    if root.is_null() {
        return;
    }
    // SAFETY: the name is the device's; the file's data is `vdev`, which outlives it
    // (`debugfs_remove` in `mdev_remove` comes first). An error pointer is harmless:
    // debugfs_remove ignores it.
    unsafe {
        (*vdev).debugfs = sys::debugfs_create_file(
            sys::vmdev_helper_dev_name(ptr::addr_of!((*vdev).dev)),
            0o600,
            root,
            vdev.cast(),
            DEBUG_FOPS.get(),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Module.

struct VmdevTransport;

impl kernel::Module for VmdevTransport {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: the IDA, the bus and the mdev driver are statics that live as long as the
        // module; nothing uses the IDA before this.
        unsafe {
            sys::vmdev_helper_ida_init(VMDEV_IDA.get());
            (*DEBUG_FOPS.get()).owner = module.as_ptr().cast();
            // Without debugfs the transport works all the same, without register files.
            let root = sys::debugfs_create_dir(c"vmdev".as_ptr().cast(), ptr::null_mut());
            if !(-4095..0).contains(&(root as isize)) {
                DEBUGFS_ROOT.store(root, Ordering::Release);
            }
            to_result(sys::bus_register(VMDEV_BUS.get()))?;
            if let Err(e) = to_result(sys::mdev_register_driver(MDEV_DRIVER.get())) {
                sys::bus_unregister(VMDEV_BUS.get());
                return Err(e);
            }
        }
        pr_info!(
            "virtio-mdev transport registered (register map revision {})\n",
            vmdev_regs::map::VERSION
        );
        Ok(VmdevTransport)
    }
}

impl Drop for VmdevTransport {
    fn drop(&mut self) {
        // Vendors and drivers depend on our symbols, so they are gone: no parent, no device.
        // SAFETY: registered in `init`.
        unsafe {
            sys::mdev_unregister_driver(MDEV_DRIVER.get());
            sys::debugfs_remove(DEBUGFS_ROOT.swap(ptr::null_mut(), Ordering::AcqRel));
            sys::bus_unregister(VMDEV_BUS.get());
            sys::ida_destroy(VMDEV_IDA.get());
        }
    }
}
