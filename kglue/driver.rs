// SPDX-License-Identifier: GPL-2.0
//! Personality drivers on the vmdev bus: the driver side of the transport as a safe trait.
//!
//! A driver implements [`Driver`]; [`Registration`] registers it with the transport and
//! unregisters it (unbinding every device) when dropped. The transport's C callbacks reach
//! the trait through the adapter below, which owns the driver's per-device state and keeps
//! the order that makes interrupt delivery safe:
//!
//! 1. the transport publishes the driver to the interrupt path before probing;
//! 2. [`Driver::probe`] builds the state, with the device not yet started;
//! 3. the adapter publishes the state, after which interrupts reach it;
//! 4. [`Driver::start`] starts the device (virtio_mdev registers the virtio device there,
//!    whose driver sets `DRIVER_OK`): nothing the device raises from then on is lost;
//! 5. on unbind, [`Driver::remove`] stops and resets the device while interrupts still reach
//!    the state (a virtio driver may wait for its last requests in its remove);
//! 6. the transport unpublishes the state, waiting for interrupts being delivered;
//! 7. only then is the state dropped.
//!
//! A device whose reset completes late (an asynchronous vendor) can therefore not reach freed
//! state: from the reset on, the transport drops its interrupts until the next non-zero
//! status, and after step 6 it delivers nothing at all.

use super::sys;
use super::window::Window;
use core::marker::PhantomData;
use core::pin::Pin;
use kernel::error::to_result;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A personality driver on the vmdev bus.
pub trait Driver: 'static {
    /// The driver's name, which `driver_override` matches.
    const NAME: &'static core::ffi::CStr;
    /// The virtio device ids the driver binds to by itself; empty for every class.
    const DEVICE_IDS: &'static [u32];
    /// Whether the driver is a kernel driver that reads the device's settings once, at probe:
    /// a settings write on the instance's mdev device that the vendor refuses while the
    /// driver runs the device then unbinds it and binds it again around the write, so that
    /// it takes the new settings. False for a driver whose user may hold the device (vhost).
    const REBIND_FOR_SETTINGS: bool = false;
    /// What the driver shares between its devices (given to [`Registration::new`]).
    type Context: Send + Sync;
    /// The state of one bound device.
    type Data: Send + Sync;

    /// Binds to the device behind `window`: checks it and builds the state. The device must
    /// not be started here: interrupts reach the state only once this has returned.
    fn probe(ctx: &Self::Context, window: &Window) -> Result<Self::Data>;

    /// Starts the device, once interrupts reach `data`. On error the binding fails and
    /// `data` is dropped without [`Driver::remove`]: undo what this started.
    fn start(_ctx: &Self::Context, _data: &Self::Data) -> Result {
        Ok(())
    }

    /// Unbinds: stops the device and leaves it reset. Interrupts still reach `data` until this
    /// returns; the state is dropped after the transport stopped delivering them.
    fn remove(ctx: &Self::Context, data: &Self::Data);

    /// A used-buffer notification for queue `queue`; bottom halves are disabled.
    fn vq_interrupt(data: &Self::Data, queue: u32);

    /// The device changed its config space; bottom halves are disabled.
    fn config_changed(data: &Self::Data);
}

struct Adapter<T: Driver>(PhantomData<T>);

impl<T: Driver> Adapter<T> {
    /// The context of the registration `vdev` is being bound to or is bound to.
    ///
    /// # Safety
    ///
    /// `vdev` must be live, and bound or being bound to the driver of a `Registration<T>`.
    unsafe fn context<'a>(vdev: *mut sys::vmdev_device) -> &'a T::Context {
        // SAFETY: the driver core sets the device's driver before probe and clears it after
        // remove; it is the `driver` field of the `raw` driver of our registration, which
        // outlives every binding.
        unsafe {
            let drv = (*sys::vmdev_to_dev(vdev)).driver;
            let vdrv = kernel::container_of!(drv, sys::vmdev_driver, driver);
            &(*kernel::container_of!(vdrv.cast::<Opaque<sys::vmdev_driver>>(), Inner<T>, raw)).ctx
        }
    }

    /// # Safety
    ///
    /// Called by the transport to bind `vdev` to the driver registered by `Registration<T>`.
    unsafe extern "C" fn probe(vdev: *mut sys::vmdev_device) -> c_int {
        // SAFETY: the transport probes a live device.
        let window = unsafe { Window::new(vdev) };
        // SAFETY: being bound to our driver.
        let ctx = unsafe { Self::context(vdev) };
        // The box first: once `probe` succeeded, only the transport's `release` may drop it.
        let slot = match KBox::<T::Data>::new_uninit(GFP_KERNEL) {
            Ok(b) => b,
            Err(e) => return Error::from(e).to_errno(),
        };
        let data = match T::probe(ctx, &window) {
            Ok(d) => KBox::into_raw(slot.write(d)),
            Err(e) => return e.to_errno(),
        };
        // SAFETY: publishes the state; from now on the transport owns it until `release`.
        unsafe { sys::vmdev_set_driver_data(vdev, data.cast()) };
        // SAFETY: the state lives until `release`, which the transport calls after the
        // binding ends (also when this fails).
        match T::start(ctx, unsafe { &*data }) {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the transport to unbind `vdev`, which `probe` bound.
    unsafe extern "C" fn remove(vdev: *mut sys::vmdev_device) {
        // SAFETY: `probe` published a `T::Data`, which lives until `release`; the device is
        // bound to our driver.
        let (ctx, data) = unsafe {
            (
                Self::context(vdev),
                &*sys::vmdev_get_driver_data(vdev).cast::<T::Data>(),
            )
        };
        T::remove(ctx, data);
    }

    /// # Safety
    ///
    /// Called by the transport once per state `probe` published, after it stopped delivering
    /// interrupts to it.
    unsafe extern "C" fn release(_vdev: *mut sys::vmdev_device, data: *mut c_void) {
        // SAFETY: `data` came from `KBox::into_raw` in `probe`; nothing uses it any more.
        drop(unsafe { KBox::from_raw(data.cast::<T::Data>()) });
    }

    /// # Safety
    ///
    /// Called by the transport with a state `probe` published and not yet released.
    unsafe extern "C" fn vq_interrupt(
        _vdev: *mut sys::vmdev_device,
        data: *mut c_void,
        queue: u32,
    ) {
        // SAFETY: the transport passes a published state, which lives until `release`.
        T::vq_interrupt(unsafe { &*data.cast::<T::Data>() }, queue);
    }

    /// # Safety
    ///
    /// As for `vq_interrupt`.
    unsafe extern "C" fn config_changed(_vdev: *mut sys::vmdev_device, data: *mut c_void) {
        // SAFETY: as in `vq_interrupt`.
        T::config_changed(unsafe { &*data.cast::<T::Data>() });
    }
}

/// What the transport points into: the driver, and the context its probe finds from it.
#[pin_data]
struct Inner<T: Driver> {
    #[pin]
    raw: Opaque<sys::vmdev_driver>,
    ctx: T::Context,
}

/// A registered driver; dropping it unregisters the driver, unbinding every device.
///
/// # Invariants
///
/// `inner.raw` is registered with the transport until drop, and `ids` (its id table) lives as
/// long.
pub struct Registration<T: Driver> {
    inner: Pin<KBox<Inner<T>>>,
    _ids: KVec<sys::vmdev_device_id>,
}

// SAFETY: the registration is only unregistered, from whichever task drops it.
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: a shared registration allows nothing.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers `T` for `module`, with the context its probes get.
    pub fn new(module: &'static ThisModule, ctx: T::Context) -> Result<Self> {
        let mut ids = KVec::with_capacity(T::DEVICE_IDS.len().max(1) + 1, GFP_KERNEL)?;
        if T::DEVICE_IDS.is_empty() {
            ids.push(
                sys::vmdev_device_id {
                    device_id: sys::VMDEV_ANY_ID,
                },
                GFP_KERNEL,
            )?;
        }
        for &device_id in T::DEVICE_IDS {
            ids.push(sys::vmdev_device_id { device_id }, GFP_KERNEL)?;
        }
        ids.push(sys::vmdev_device_id { device_id: 0 }, GFP_KERNEL)?;
        let ids_ptr = ids.as_ptr();
        let inner = KBox::pin_init(
            pin_init!(Inner::<T> {
            // SAFETY: fills in the driver before anything else sees it; the transport fills
            // in the embedded `struct device_driver` at registration.
            raw <- Opaque::ffi_init(|d: *mut sys::vmdev_driver| unsafe {
                d.write(sys::vmdev_driver {
                    name: T::NAME.as_ptr().cast(),
                    id_table: ids_ptr,
                    probe: Some(Adapter::<T>::probe),
                    remove: Some(Adapter::<T>::remove),
                    release: Some(Adapter::<T>::release),
                    vq_interrupt: Some(Adapter::<T>::vq_interrupt),
                    config_changed: Some(Adapter::<T>::config_changed),
                    flags: if T::REBIND_FOR_SETTINGS {
                        sys::VMDEV_DRIVER_REBIND_FOR_SETTINGS
                    } else {
                        0
                    },
                    driver: super::cstatic::zeroed(),
                })
            }),
            ctx,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the driver and its id table stay at their addresses until `drop`
        // unregisters it.
        to_result(unsafe { sys::vmdev_register_driver(inner.raw.get(), module.as_ptr().cast()) })?;
        // INVARIANT: registered just now.
        Ok(Self { inner, _ids: ids })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `new` (invariant); this unbinds every device first.
        unsafe { sys::vmdev_unregister_driver(self.inner.raw.get()) };
    }
}
