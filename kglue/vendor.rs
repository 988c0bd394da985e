// SPDX-License-Identifier: GPL-2.0
//! Safe Rust vendor API over the transport's C ABI (`transport/vmdev.h`).
//!
//! A vendor implements [`Parent`] (how to create an instance of each of its mdev types) and
//! [`Device`] (the register window of one instance). [`Registration`] registers the parent
//! with the transport and owns it; dropping it unregisters the parent, which removes every
//! instance first. The adapters below turn the transport's C callbacks into calls of these
//! traits, so a vendor writes no `unsafe` for the device model itself.
//!
//! Register accesses reach [`Device`] already checked against the register map: a
//! [`Register`] for the window, and an in-bounds offset and buffer for config space.
//!
//! Per-instance sysfs attributes (a vendor's settings and counters) are attributes whose
//! target is [`Instance<P>`]: the registration installs them on its own instances only, so
//! their callbacks receive the vendor's device.

use super::sys;
use super::sysfs::{AttrTarget, GroupList};
use crate::vmdev_regs::map::Register;
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_int, c_uint, c_void};
use kernel::prelude::*;
use kernel::types::ARef;

/// An mdev type a parent offers.
pub struct TypeDesc {
    /// Type name; the mdev type directory is `<parent driver>-<name>`.
    pub name: &'static core::ffi::CStr,
    /// Human-readable description.
    pub pretty_name: &'static core::ffi::CStr,
    /// virtio device id of instances of this type (1 = net).
    pub device_id: u32,
    /// How many instances may exist at once.
    pub max_instances: u32,
}

/// The transport's side of one instance: raises interrupts on its behalf.
///
/// # Invariants
///
/// `raw` is the instance's transport device. A `DeviceHandle` is handed to exactly one
/// [`Device`] at creation, which the adapter drops in the transport's `destroy` callback,
/// before the transport frees the device: the handle never outlives `raw`.
pub struct DeviceHandle {
    raw: *mut sys::vmdev_device,
}

// SAFETY: the transport's interrupt entry points may be called from any task or softirq.
unsafe impl Send for DeviceHandle {}
// SAFETY: as above; `raw` is never written through a shared handle.
unsafe impl Sync for DeviceHandle {}

impl DeviceHandle {
    /// Tells the bound driver that queue `queue` has used buffers. Must not be called after
    /// a reset until the driver enables queues again (the transport's reset contract).
    pub fn vq_interrupt(&self, queue: u16) {
        // SAFETY: `raw` is live per the type invariant.
        unsafe { sys::vmdev_vq_interrupt(self.raw, u32::from(queue)) };
    }

    /// Tells the bound driver that the config space changed.
    pub fn config_changed(&self) {
        // SAFETY: `raw` is live per the type invariant.
        unsafe { sys::vmdev_config_changed(self.raw) };
    }
}

/// One device instance: the register window a driver sees.
///
/// `reg_write` is called in process context, except for `Register::QUEUE_NOTIFY`, which may
/// come from any context and must not sleep. When a write of 0 to `Register::STATUS` returns,
/// the device must have stopped using its queues and raise no more interrupts.
pub trait Device: Send + Sync {
    /// Reads a register.
    fn reg_read(&self, reg: Register) -> u32;
    /// Writes a register.
    fn reg_write(&self, reg: Register, value: u32);
    /// Fills `buf` with config space at `offset` (in bounds, 1 to 8 bytes).
    fn config_read(&self, offset: u32, buf: &mut [u8]);
    /// Writes config space at `offset` (in bounds, 1 to 8 bytes).
    fn config_write(&self, offset: u32, buf: &[u8]);
}

/// A vendor's parent: creates instances of its types.
pub trait Parent: Send + Sync + 'static {
    /// The instance type.
    type Device: Device;
    /// The types offered, in the order `create` receives their index.
    const TYPES: &'static [TypeDesc];
    /// Creates an instance of `TYPES[type_index]`. The device keeps `handle` to raise
    /// interrupts. Process context; may sleep.
    fn create(&self, type_index: usize, handle: DeviceHandle) -> Result<Pin<KBox<Self::Device>>>;
}

struct Adapter<P: Parent>(PhantomData<P>);

impl<P: Parent> Adapter<P> {
    const DEVICE_OPS: sys::vmdev_device_ops = sys::vmdev_device_ops {
        reg_read: Some(Self::reg_read),
        reg_write: Some(Self::reg_write),
        config_read: Some(Self::config_read),
        config_write: Some(Self::config_write),
    };

    /// # Safety
    ///
    /// `vdev` must be an instance whose `create` succeeded and not yet destroyed.
    unsafe fn device<'a>(vdev: *mut sys::vmdev_device) -> &'a P::Device {
        // SAFETY: `create` stored a leaked `Pin<KBox<P::Device>>` as the vendor data; it is
        // reclaimed only in `destroy`, after which the transport calls no op.
        unsafe { &*sys::vmdev_get_drvdata(vdev).cast::<P::Device>() }
    }

    /// # Safety
    ///
    /// Called by the transport for a live instance whose `create` succeeded, with an access it has checked.
    unsafe extern "C" fn reg_read(vdev: *mut sys::vmdev_device, offset: u32) -> u32 {
        match Register::at(offset) {
            // SAFETY: the transport calls ops on live instances only.
            Some(reg) => unsafe { Self::device(vdev) }.reg_read(reg),
            None => crate::vmdev_regs::map::REFUSED_READ,
        }
    }

    /// # Safety
    ///
    /// Called by the transport for a live instance whose `create` succeeded, with an access it has checked.
    unsafe extern "C" fn reg_write(vdev: *mut sys::vmdev_device, offset: u32, value: u32) {
        if let Some(reg) = Register::at(offset) {
            // SAFETY: as in `reg_read`.
            unsafe { Self::device(vdev) }.reg_write(reg, value);
        }
    }

    /// # Safety
    ///
    /// Called by the transport for a live instance whose `create` succeeded, with an access it has checked.
    unsafe extern "C" fn config_read(
        vdev: *mut sys::vmdev_device,
        offset: u32,
        buf: *mut c_void,
        len: u32,
    ) {
        // SAFETY: the transport checked the access and passes `len` (at most 8) writable bytes.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) };
        // SAFETY: as in `reg_read`.
        unsafe { Self::device(vdev) }.config_read(offset, buf);
    }

    /// # Safety
    ///
    /// Called by the transport for a live instance whose `create` succeeded, with an access it has checked.
    unsafe extern "C" fn config_write(
        vdev: *mut sys::vmdev_device,
        offset: u32,
        buf: *const c_void,
        len: u32,
    ) {
        // SAFETY: the transport checked the access and passes `len` readable bytes.
        let buf = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
        // SAFETY: as in `reg_read`.
        unsafe { Self::device(vdev) }.config_write(offset, buf);
    }

    /// # Safety
    ///
    /// Called by the transport for a parent registered by `Registration::new`, with a new instance.
    unsafe extern "C" fn create(
        parent: *mut sys::vmdev_parent,
        type_index: c_uint,
        vdev: *mut sys::vmdev_device,
        ops: *mut *const sys::vmdev_device_ops,
    ) -> c_int {
        // SAFETY: the drvdata is the `P` the registration owns, which outlives the parent's
        // registration and so every `create`.
        let p = unsafe { &*sys::vmdev_parent_drvdata(parent).cast::<P>() };
        // INVARIANT: the handle goes to the device, which `destroy` drops before the transport
        // frees `vdev`.
        let handle = DeviceHandle { raw: vdev };
        match p.create(type_index as usize, handle) {
            Ok(dev) => {
                // SAFETY: the device is never moved out of its box again; `destroy` rebuilds
                // the `Pin<KBox>` to drop it.
                let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(dev) });
                // SAFETY: `vdev` is being created for us; `ops` is writable.
                unsafe {
                    sys::vmdev_set_drvdata(vdev, raw.cast());
                    *ops = &Self::DEVICE_OPS;
                }
                0
            }
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the transport once per instance whose `create` succeeded; no op follows.
    unsafe extern "C" fn destroy(_parent: *mut sys::vmdev_parent, vdev: *mut sys::vmdev_device) {
        // SAFETY: `create` succeeded for `vdev`, and the transport calls no op after this.
        unsafe {
            let raw = sys::vmdev_get_drvdata(vdev).cast::<P::Device>();
            sys::vmdev_set_drvdata(vdev, core::ptr::null_mut());
            drop(Pin::new_unchecked(KBox::from_raw(raw)));
        }
    }
}

/// The vendor's device behind a vmdev bus device, as sysfs attributes of a vendor see it.
#[repr(transparent)]
pub struct Instance<P: Parent>(P::Device);

impl<P: Parent> core::ops::Deref for Instance<P> {
    type Target = P::Device;

    fn deref(&self) -> &P::Device {
        &self.0
    }
}

// SAFETY: groups of `Instance<P>` are installed only by `Registration<P>`, on instances of
// `P`, whose vendor data is the `P::Device` that `create` stored: set before the device is
// added to the bus and cleared after it is deleted, which drains attribute callbacks.
unsafe impl<P: Parent> AttrTarget for Instance<P> {
    unsafe fn from_device<'a>(dev: *mut sys::device) -> Option<&'a Self> {
        // SAFETY: `dev` carries one of our groups (the contract), so it is a vmdev device.
        let vdev = unsafe { sys::vmdev_from_dev(dev) };
        if vdev.is_null() {
            return None;
        }
        // SAFETY: as above; `Instance<P>` is a transparent `P::Device`.
        let data = unsafe { sys::vmdev_get_drvdata(vdev) };
        // SAFETY: non-null vendor data of an instance of `P` is its `P::Device`.
        (!data.is_null()).then(|| unsafe { &*data.cast::<Self>() })
    }
}

/// A registered parent; dropping it unregisters the parent and removes every instance.
///
/// # Invariants
///
/// `raw` is a parent registered with the transport whose drvdata is `parent`, with the types
/// in `_types` and the ops in `_ops` (none of them moves: all are heap allocations), on the
/// device `_dev` references. Fields drop in order: `raw` is unregistered (in `drop`) before
/// any of them goes.
pub struct Registration<P: Parent> {
    raw: *mut sys::vmdev_parent,
    _types: KVec<sys::vmdev_type>,
    _ops: KBox<sys::vmdev_parent_ops>,
    _dev: ARef<kernel::device::Device>,
    parent: KBox<P>,
}

// SAFETY: the registration is only unregistered, from whichever task drops it.
unsafe impl<P: Parent> Send for Registration<P> {}
// SAFETY: shared references allow nothing.
unsafe impl<P: Parent> Sync for Registration<P> {}

impl<P: Parent> Registration<P> {
    /// Registers `parent` on `dev`, which must have a driver bound (mdev names the types
    /// `<driver>-<type>`) for as long as the registration lives, with sysfs attribute
    /// `groups` on every instance.
    pub fn new(
        dev: &kernel::device::Device,
        parent: P,
        groups: Option<GroupList<Instance<P>>>,
    ) -> Result<Self> {
        let parent = KBox::new(parent, GFP_KERNEL)?;
        let mut types = KVec::with_capacity(P::TYPES.len(), GFP_KERNEL)?;
        for t in P::TYPES {
            types.push(
                sys::vmdev_type {
                    sysfs_name: t.name.as_ptr().cast(),
                    pretty_name: t.pretty_name.as_ptr().cast(),
                    device_id: t.device_id,
                    max_instances: t.max_instances,
                },
                GFP_KERNEL,
            )?;
        }
        let ops = KBox::new(
            sys::vmdev_parent_ops {
                create: Some(Adapter::<P>::create),
                destroy: Some(Adapter::<P>::destroy),
                dev_groups: groups.map_or(core::ptr::null_mut(), |g| g.as_ptr()),
            },
            GFP_KERNEL,
        )?;
        let dev_ref: ARef<kernel::device::Device> = dev.into();
        let raw_dev = core::ptr::from_ref(dev).cast_mut().cast::<sys::device>();
        // SAFETY: `dev` is live (we hold a reference); `types`, `ops` and `parent` are heap
        // allocations kept in `self` until `drop` unregisters; the drvdata is `parent`.
        let raw = from_err_ptr(unsafe {
            sys::vmdev_register_parent(
                raw_dev,
                types.as_ptr(),
                types.len() as c_uint,
                &*ops,
                core::ptr::from_ref::<P>(&parent).cast_mut().cast(),
            )
        })?;
        // INVARIANT: registered just now with `parent` as drvdata.
        Ok(Self {
            raw,
            _types: types,
            _ops: ops,
            _dev: dev_ref,
            parent,
        })
    }
}

impl<P: Parent> Registration<P> {
    /// The parent.
    pub fn parent(&self) -> &P {
        &self.parent
    }
}

impl<P: Parent> Drop for Registration<P> {
    fn drop(&mut self) {
        // SAFETY: registered in `new`; this removes every instance (calling `destroy`).
        unsafe { sys::vmdev_unregister_parent(self.raw) };
    }
}
