// SPDX-License-Identifier: GPL-2.0
//! virtio devices registered with the kernel's virtio core, by a transport written in Rust.
//!
//! A transport implements [`Transport`] (config space, status, features, and how to enable a
//! queue whose rings the virtio core allocated); [`VirtioDevice`] is the `struct
//! virtio_device` the virtio core and its drivers (virtio_net) see, with the
//! `virtio_config_ops` adapter below turning each op into a call of the trait. The adapter
//! owns what every transport would otherwise repeat: creating and deleting vrings in the
//! order the virtio core expects, the device's lifetime (a `struct device` refcount), and the
//! rule that a queue's interrupt never reaches a virtqueue being deleted
//! (`virtio_config_ops.rs`).

use super::sys;
use super::virtio_config_ops::Adapter;
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicU8, Ordering};
use kernel::error::code::EINVAL;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::types::Opaque;

/// The most queues one device may have.
pub const MAX_VQS: usize = 64;

/// What a queue allows, read before its rings are allocated.
pub struct QueueLimits {
    /// Largest ring size.
    pub num_max: u32,
    /// Alignment of the used ring.
    pub align: u32,
}

/// Where the virtio core put a queue's rings (DMA addresses).
pub struct RingLayout {
    /// Ring size.
    pub num: u32,
    /// Descriptor table.
    pub desc: u64,
    /// Driver (available) ring.
    pub avail: u64,
    /// Device (used) ring.
    pub used: u64,
}

/// The device side of a virtio transport.
pub trait Transport: Send + Sync + 'static {
    /// Reads config space; the virtio core sees an error as all ones.
    fn read_config(&self, offset: u32, buf: &mut [u8]) -> Result;
    /// Writes config space.
    fn write_config(&self, offset: u32, buf: &[u8]) -> Result;
    /// The config generation counter.
    fn generation(&self) -> u32;
    /// The device status.
    fn status(&self) -> u8;
    /// Sets the device status (never 0: that is [`Transport::reset`]).
    fn set_status(&self, status: u8);
    /// Resets the device. When this returns the device uses no queue, and no interrupt of the
    /// old queues reaches [`VirtioDevice::vq_interrupt`] any more.
    fn reset(&self);
    /// The features the device offers.
    fn device_features(&self) -> u64;
    /// Writes the features the driver accepted (transport features already filtered).
    fn set_driver_features(&self, features: u64) -> Result;
    /// How many queues the device has.
    fn num_queues(&self) -> u32;
    /// Limits of queue `index`, which must exist and not be in use.
    fn queue_limits(&self, index: u32) -> Result<QueueLimits>;
    /// Hands queue `index` its rings and enables it.
    fn enable_queue(&self, index: u32, ring: &RingLayout) -> Result;
    /// Disables queue `index`.
    fn disable_queue(&self, index: u32);
    /// Rings queue `index`'s doorbell; any context. False if the device is gone.
    fn notify(&self, index: u32) -> bool;
    /// Waits until no interrupt of the device is being delivered.
    fn synchronize_interrupts(&self);
    /// The name of the device on its own bus.
    fn bus_name(&self) -> &core::ffi::CStr;
}

/// Lifetime states of a [`VirtioDevice`] (see [`VirtioHandle`]).
const NEW: u8 = 0;
const REGISTERING: u8 = 4;
const REGISTERED: u8 = 1;
const UNREGISTERED: u8 = 2;
const FAILED: u8 = 3;

/// A `struct virtio_device` whose ops are `T`'s.
///
/// # Invariants
///
/// `vdev` is first (the C side finds the object from it); its `config` is
/// `Adapter::<T>::OPS` and its release function frees this allocation. `vqs[i]` is the
/// virtqueue of queue `i` while it exists, published before the queue is enabled and cleared
/// (then interrupts synchronised) before it is deleted.
#[repr(C)]
pub struct VirtioDevice<T: Transport> {
    vdev: Opaque<sys::virtio_device>,
    pub(crate) transport: T,
    pub(crate) vqs: [AtomicPtr<sys::virtqueue>; MAX_VQS],
}

/// The driver's handle on a [`VirtioDevice`], from creation to after its unregistration.
///
/// # Invariants
///
/// `dev` is a live allocation: owned by the handle while `state` is `NEW`, by the virtio core's
/// initial reference while `REGISTERING`, kept by a reference the handle holds while
/// `REGISTERED` or `UNREGISTERED`, gone once `FAILED`.
pub struct VirtioHandle<T: Transport> {
    dev: NonNull<VirtioDevice<T>>,
    state: AtomicU8,
}

// SAFETY: the device is thread-safe C state plus a `T: Send + Sync`.
unsafe impl<T: Transport> Send for VirtioHandle<T> {}
// SAFETY: as above.
unsafe impl<T: Transport> Sync for VirtioHandle<T> {}

impl<T: Transport> VirtioHandle<T> {
    /// A device with virtio ids `device_id` and `vendor_id` under `parent`, not registered
    /// yet.
    pub fn new(
        parent: &kernel::device::Device,
        device_id: u32,
        vendor_id: u32,
        transport: T,
    ) -> Result<Self> {
        let dev = KBox::new(
            VirtioDevice {
                // SAFETY: a zeroed `virtio_device` is what `register_virtio_device` expects
                // before the fields below.
                vdev: Opaque::new(unsafe { super::cstatic::zeroed() }),
                transport,
                vqs: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_VQS],
            },
            GFP_KERNEL,
        )?;
        let dev = NonNull::from(KBox::leak(dev));
        // SAFETY: ours until registered; the parent outlives the virtio device, which is
        // unregistered before the binding that owns `parent` ends.
        unsafe {
            let v = (*dev.as_ptr()).vdev.get();
            (*v).dev.parent = ptr::from_ref(parent).cast_mut().cast();
            (*v).dev.release = Some(Adapter::<T>::release);
            (*v).config = &Adapter::<T>::OPS;
            (*v).id.device = device_id;
            (*v).id.vendor = vendor_id;
        }
        // INVARIANT: owned by the handle until `register`.
        Ok(Self {
            dev,
            state: AtomicU8::new(NEW),
        })
    }

    fn live(&self) -> Option<&VirtioDevice<T>> {
        match self.state.load(Ordering::Acquire) {
            // SAFETY: live in these states (invariant).
            NEW | REGISTERING | REGISTERED | UNREGISTERED => Some(unsafe { self.dev.as_ref() }),
            _ => None,
        }
    }

    /// The transport.
    pub fn transport(&self) -> Option<&T> {
        self.live().map(|d| &d.transport)
    }

    /// Registers the device with the virtio core, which probes its driver. Interrupts
    /// (`vq_interrupt`) must reach this handle before this is called.
    pub fn register(&self) -> Result {
        if self
            .state
            .compare_exchange(NEW, REGISTERING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(EINVAL);
        }
        let vdev = self.dev.as_ptr().cast::<sys::virtio_device>();
        // SAFETY: a complete, unregistered device (invariant).
        let ret = unsafe { sys::register_virtio_device(vdev) };
        if ret != 0 {
            // The failed device must be put, which frees it: first make sure no interrupt is
            // looking at it.
            self.state.store(FAILED, Ordering::Release);
            // SAFETY: still allocated: the initial reference is not put yet.
            unsafe { (*self.dev.as_ptr()).transport.synchronize_interrupts() };
            // SAFETY: drops the initial reference, as `register_virtio_device` asks on error.
            unsafe { sys::put_device(ptr::addr_of_mut!((*vdev).dev)) };
            return to_result(ret);
        }
        // INVARIANT: keep the allocation until the handle goes, whatever the virtio core does.
        // SAFETY: registered, so its refcount is live.
        unsafe { sys::get_device(ptr::addr_of_mut!((*vdev).dev)) };
        self.state.store(REGISTERED, Ordering::Release);
        Ok(())
    }

    /// Unregisters the device (its driver is removed, which resets it). The allocation stays
    /// until the handle is dropped.
    pub fn unregister(&self) {
        if self
            .state
            .compare_exchange(
                REGISTERED,
                UNREGISTERED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
        {
            // SAFETY: registered until now; the handle's reference keeps the memory.
            unsafe { sys::unregister_virtio_device(self.dev.as_ptr().cast()) };
        }
    }

    /// Hands a used-buffer notification for queue `index` to its virtqueue.
    pub fn vq_interrupt(&self, index: u32) {
        let Some(dev) = self.live() else { return };
        let Some(slot) = dev.vqs.get(index as usize) else {
            return;
        };
        let vq = slot.load(Ordering::Acquire);
        if !vq.is_null() {
            // SAFETY: a published virtqueue is deleted only after it is cleared and interrupts
            // are synchronised, so it is live while this runs.
            unsafe { sys::vring_interrupt(0, vq.cast()) };
        }
    }

    /// Tells the virtio core that the config space changed. Not before [`Self::register`]
    /// has returned: until then the virtio core may not have set up its config lock, and
    /// virtio drivers read the config space after `DRIVER_OK` anyway.
    pub fn config_changed(&self) {
        if matches!(
            self.state.load(Ordering::Acquire),
            REGISTERED | UNREGISTERED
        ) {
            // SAFETY: a registered device (the virtio core ignores it once removal started).
            unsafe { sys::virtio_config_changed(self.dev.as_ptr().cast()) };
        }
    }
}

impl<T: Transport> Drop for VirtioHandle<T> {
    fn drop(&mut self) {
        self.unregister();
        match self.state.load(Ordering::Acquire) {
            // SAFETY: never registered: the handle owns the allocation.
            NEW => drop(unsafe { KBox::from_raw(self.dev.as_ptr()) }),
            // SAFETY: the reference `register` took; the release function frees the device.
            UNREGISTERED => unsafe {
                sys::put_device(ptr::addr_of_mut!(
                    (*self.dev.as_ptr().cast::<sys::virtio_device>()).dev
                ))
            },
            _ => {}
        }
    }
}
