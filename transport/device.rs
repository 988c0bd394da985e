// SPDX-License-Identifier: GPL-2.0
//! The transport's objects: a vendor's parent, and each instance's device on the vmdev bus,
//! with the interrupt path from the device to the bound driver.
//!
//! Interrupt delivery is where the lifetimes of three parties meet (the vendor's device, the
//! transport's binding, the driver's state), so it lives in one place, [`Callbacks`], under
//! one lock taken with bottom halves off:
//!
//! - the driver is published before its probe runs, and its state as soon as the driver
//!   hands it over (`vmdev_set_driver_data`), so nothing a device raises while the driver
//!   starts it is lost;
//! - from a reset (`STATUS` = 0) until the next non-zero status, interrupts are dropped, so a
//!   device whose reset completes late cannot reach queues the driver has freed;
//! - unbinding unpublishes the state under the lock, which waits for a delivery in progress,
//!   and only then hands the state to the driver's `release`.

use super::kglue::debugfs::Entry;
use super::kglue::sync::BhSpinLock;
use super::kglue::sys;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::{Mutex, SpinLock};
use kernel::types::Opaque;
use kernel::{new_mutex, new_spinlock};

/// `struct vmdev_parent`: one vendor parent device and its mdev types.
///
/// # Invariants
///
/// `mdev_types` holds one pointer per type into `type_storage`, which never moves once the
/// parent is registered. The allocation lives until `refs` drops to zero: one reference for
/// the registration and one per instance (dropped when the instance's device is released).
#[repr(C)]
pub(crate) struct Parent {
    pub(crate) mdev_parent: Opaque<sys::mdev_parent>,
    pub(crate) ops: *const sys::vmdev_parent_ops,
    pub(crate) types: *const sys::vmdev_type,
    pub(crate) drvdata: *mut c_void,
    pub(crate) refs: AtomicUsize,
    pub(crate) instances: KVec<AtomicU32>,
    pub(crate) type_storage: KVec<Opaque<sys::mdev_type>>,
    pub(crate) mdev_types: KVec<*mut sys::mdev_type>,
    /// The vendor's instance attributes as the mdev devices carry them.
    pub(crate) mirror: super::mdev_settings::Mirror,
}

impl Parent {
    /// The index of `mtype` among this parent's types.
    pub(crate) fn type_index(&self, mtype: *mut sys::mdev_type) -> Option<usize> {
        self.mdev_types.iter().position(|&t| t == mtype)
    }

    /// Type `i` as the vendor described it.
    pub(crate) fn vmdev_type(&self, i: usize) -> Option<&sys::vmdev_type> {
        // SAFETY: `types` has one entry per type (the vendor keeps it until unregistration,
        // which outlives every use of the parent's types).
        (i < self.instances.len()).then(|| unsafe { &*self.types.add(i) })
    }

    /// Drops a reference; the last one frees the parent.
    ///
    /// # Safety
    ///
    /// `parent` must hold a reference the caller owns.
    pub(crate) unsafe fn put(parent: *mut Parent) {
        // SAFETY: the caller owns one reference.
        if unsafe { (*parent).refs.fetch_sub(1, Ordering::AcqRel) } == 1 {
            // SAFETY: that was the last reference: nothing else reaches the parent.
            drop(unsafe { KBox::from_raw(parent) });
        }
    }
}

/// Who gets a device's interrupts, and what became of them.
pub(crate) struct Callbacks {
    /// The bound driver, from before its probe until after its remove.
    driver: *const sys::vmdev_driver,
    /// The driver's published state (`vmdev_set_driver_data`).
    data: *mut c_void,
    /// Set by a reset until the next non-zero status: interrupts are dropped.
    reset: bool,
    /// Interrupts handed to a driver.
    pub(crate) delivered: u64,
    /// Interrupts dropped: no driver, no state yet, or after a reset.
    pub(crate) dropped: u64,
}

// SAFETY: the pointers are the driver core's driver and the driver's state, both usable from
// any task; they are only read and written under the lock.
unsafe impl Send for Callbacks {}

/// The answer of the debugfs register file's last read.
pub(crate) struct DebugOut {
    pub(crate) buf: [u8; 64],
    pub(crate) len: usize,
}

/// `struct vmdev_device`: one instance on the vmdev bus.
///
/// # Invariants
///
/// `dev` is first; from `device_initialize` on, its release function frees this allocation
/// (made by `KBox::pin_init`). `mdev` and `parent` are references held until release. `ops`
/// is the vendor's table until the instance is destroyed, then null; `vendor_data` is the
/// vendor's until then.
#[repr(C)]
#[pin_data]
pub(crate) struct VmdevDevice {
    #[pin]
    pub(crate) dev: Opaque<sys::device>,
    pub(crate) mdev: *mut sys::mdev_device,
    pub(crate) parent: *mut Parent,
    pub(crate) type_index: u32,
    pub(crate) device_id: u32,
    pub(crate) index: u32,
    pub(crate) ops: AtomicPtr<sys::vmdev_device_ops>,
    pub(crate) vendor_data: AtomicPtr<c_void>,
    #[pin]
    pub(crate) callbacks: BhSpinLock<Callbacks>,
    /// The driver `driver_override` names (empty: none). Its own lock, not the device lock:
    /// the driver core calls `match` both with and without the device lock held.
    #[pin]
    pub(crate) driver_override: SpinLock<KVec<u8>>,
    #[pin]
    pub(crate) debug_out: Mutex<DebugOut>,
    /// The debugfs files (register file, callback counters), removed before the device.
    #[pin]
    pub(crate) debugfs: Mutex<(Entry, Entry)>,
    /// Held across a settings write's unbind, store and rebind, and a `personality` write
    /// (`mdev_settings.rs`), so that two cannot interleave theirs.
    #[pin]
    pub(crate) reconfig: Mutex<()>,
}

// SAFETY: every field is either immutable after creation, atomic, or behind a lock.
unsafe impl Send for VmdevDevice {}
// SAFETY: as above.
unsafe impl Sync for VmdevDevice {}

impl VmdevDevice {
    /// An initialiser of an instance of type `type_index` of `parent` for `mdev`.
    pub(crate) fn new(
        mdev: *mut sys::mdev_device,
        parent: *mut Parent,
        type_index: u32,
        device_id: u32,
        index: u32,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            // SAFETY: a zeroed `struct device` is what `device_initialize` expects.
            dev <- Opaque::ffi_init(|d: *mut sys::device| unsafe { d.write_bytes(0, 1) }),
            mdev,
            parent,
            type_index,
            device_id,
            index,
            ops: AtomicPtr::new(ptr::null_mut()),
            vendor_data: AtomicPtr::new(ptr::null_mut()),
            callbacks <- crate::new_bh_spinlock!(
                Callbacks {
                    driver: ptr::null(),
                    data: ptr::null_mut(),
                    reset: true,
                    delivered: 0,
                    dropped: 0,
                },
                "vmdev::callbacks"
            ),
            driver_override <- new_spinlock!(KVec::new(), "vmdev::driver_override"),
            debug_out <- new_mutex!(DebugOut { buf: [0; 64], len: 0 }, "vmdev::debug_out"),
            debugfs <- new_mutex!((Entry::none(), Entry::none()), "vmdev::debugfs"),
            reconfig <- new_mutex!((), "vmdev::reconfig"),
        }? Error)
    }

    /// The instance behind a device of the vmdev bus.
    ///
    /// # Safety
    ///
    /// `dev` must be the `dev` field of a live `VmdevDevice`.
    pub(crate) unsafe fn from_dev<'a>(dev: *const sys::device) -> &'a Self {
        // SAFETY: `dev` is the first field of the `#[repr(C)]` struct.
        unsafe { &*dev.cast::<Self>() }
    }

    /// The instance behind the C handle.
    ///
    /// # Safety
    ///
    /// `vdev` must be a live instance.
    pub(crate) unsafe fn from_raw<'a>(vdev: *mut sys::vmdev_device) -> &'a Self {
        // SAFETY: the C handle is our `VmdevDevice` (opaque to C).
        unsafe { &*vdev.cast::<Self>() }
    }

    /// The C handle.
    pub(crate) fn as_raw(&self) -> *mut sys::vmdev_device {
        ptr::from_ref(self).cast_mut().cast()
    }

    /// The `struct device`.
    pub(crate) fn dev(&self) -> *mut sys::device {
        self.dev.get()
    }

    /// The vendor's ops, or `None` once the instance is destroyed.
    pub(crate) fn ops(&self) -> Option<&sys::vmdev_device_ops> {
        let ops = self.ops.load(Ordering::Acquire);
        // SAFETY: a non-null table is the vendor's, which outlives the instance.
        (!ops.is_null()).then(|| unsafe { &*ops })
    }

    /// Whether a driver is bound (the driver core's view).
    pub(crate) fn bound(&self) -> bool {
        // SAFETY: reads a pointer field of a live device.
        !unsafe { (*self.dev()).driver }.is_null()
    }

    /// Publishes `driver` to the interrupt path, before its probe.
    pub(crate) fn publish_driver(&self, driver: *const sys::vmdev_driver) {
        let mut cb = self.callbacks.lock();
        cb.driver = driver;
        cb.data = ptr::null_mut();
    }

    /// Publishes the bound driver's state.
    pub(crate) fn set_driver_data(&self, data: *mut c_void) {
        self.callbacks.lock().data = data;
    }

    /// The bound driver's state.
    pub(crate) fn driver_data(&self) -> *mut c_void {
        self.callbacks.lock().data
    }

    /// Unpublishes the driver and returns its state; when this returns, no interrupt
    /// callback of the driver is running or will run.
    pub(crate) fn unpublish_driver(&self) -> *mut c_void {
        let mut cb = self.callbacks.lock();
        cb.driver = ptr::null();
        core::mem::take(&mut cb.data)
    }

    /// A reset ends interrupt delivery until the next non-zero status (`reset`), which
    /// starts it again (`!reset`). Waits for a delivery in progress.
    pub(crate) fn set_reset(&self, reset: bool) {
        self.callbacks.lock().reset = reset;
    }

    /// Waits until no interrupt callback is running.
    pub(crate) fn synchronize_callbacks(&self) {
        drop(self.callbacks.lock());
    }

    /// Hands an interrupt to the bound driver: `f(driver, state)` runs with the lock held.
    pub(crate) fn deliver(&self, f: impl FnOnce(&sys::vmdev_driver, *mut c_void)) {
        let mut cb = self.callbacks.lock();
        if cb.driver.is_null() || cb.data.is_null() || cb.reset {
            cb.dropped += 1;
            return;
        }
        cb.delivered += 1;
        // SAFETY: a published driver is registered until after it is unpublished.
        f(unsafe { &*cb.driver }, cb.data);
    }
}
