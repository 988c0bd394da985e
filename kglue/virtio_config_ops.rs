// SPDX-License-Identifier: GPL-2.0
//! The `virtio_config_ops` of a [`VirtioDevice`]: each op of the virtio core turned into a
//! call of the device's [`Transport`], plus what every transport would otherwise repeat:
//! creating each queue's vring, handing it to the device, and deleting it only once no
//! interrupt can reach it.

use super::sys;
use super::virtio::{RingLayout, Transport, VirtioDevice, MAX_VQS};
use core::ptr;
use core::sync::atomic::Ordering;
use kernel::error::code::{ENOENT, ENOMEM};
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;

/// The ops of devices of transport `T`.
pub(crate) struct Adapter<T: Transport>(core::marker::PhantomData<T>);

impl<T: Transport> Adapter<T> {
    /// The ops table.
    pub(crate) const OPS: sys::virtio_config_ops = sys::virtio_config_ops {
        get: Some(Self::get),
        set: Some(Self::set),
        generation: Some(Self::generation),
        get_status: Some(Self::get_status),
        set_status: Some(Self::set_status),
        reset: Some(Self::reset),
        find_vqs: Some(Self::find_vqs),
        del_vqs: Some(Self::del_vqs),
        synchronize_cbs: Some(Self::synchronize_cbs),
        get_features: Some(Self::get_features),
        finalize_features: Some(Self::finalize_features),
        bus_name: Some(Self::bus_name),
        set_vq_affinity: None,
        get_vq_affinity: None,
        get_shm_region: None,
        disable_vq_and_reset: None,
        enable_vq_after_reset: None,
    };

    /// # Safety
    ///
    /// `vdev` must be the `vdev` of a live `VirtioDevice<T>` (the virtio core calls its ops
    /// only on devices whose `config` is `OPS`).
    unsafe fn dev<'a>(vdev: *mut sys::virtio_device) -> &'a VirtioDevice<T> {
        // SAFETY: `vdev` is the first field of the `#[repr(C)]` device.
        unsafe { &*vdev.cast::<VirtioDevice<T>>() }
    }

    /// # Safety
    ///
    /// Called by the driver core once the last reference to the device is gone.
    pub(crate) unsafe extern "C" fn release(dev: *mut sys::device) {
        // SAFETY: `dev` is `vdev.dev`, at the start of the device (`vdev` is first).
        let vdev = unsafe { kernel::container_of!(dev, sys::virtio_device, dev) };
        // SAFETY: allocated by `KBox` in `VirtioHandle::new`; nothing references it now.
        drop(unsafe { KBox::from_raw(vdev.cast_mut().cast::<VirtioDevice<T>>()) });
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices, with `len` bytes at `buf`.
    unsafe extern "C" fn get(
        vdev: *mut sys::virtio_device,
        offset: c_uint,
        buf: *mut c_void,
        len: c_uint,
    ) {
        // SAFETY: the virtio core passes `len` writable bytes.
        let buf = unsafe { core::slice::from_raw_parts_mut(buf.cast::<u8>(), len as usize) };
        // SAFETY: one of our devices.
        if unsafe { Self::dev(vdev) }
            .transport
            .read_config(offset, buf)
            .is_err()
        {
            buf.fill(0xff);
        }
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices, with `len` bytes at `buf`.
    unsafe extern "C" fn set(
        vdev: *mut sys::virtio_device,
        offset: c_uint,
        buf: *const c_void,
        len: c_uint,
    ) {
        // SAFETY: the virtio core passes `len` readable bytes.
        let buf = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len as usize) };
        // A refused write leaves config space as it was, which is all a driver can see of it.
        // SAFETY: one of our devices.
        let _ = unsafe { Self::dev(vdev) }
            .transport
            .write_config(offset, buf);
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn generation(vdev: *mut sys::virtio_device) -> u32 {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }.transport.generation()
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn get_status(vdev: *mut sys::virtio_device) -> u8 {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }.transport.status()
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn set_status(vdev: *mut sys::virtio_device, status: u8) {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }.transport.set_status(status);
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn reset(vdev: *mut sys::virtio_device) {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }.transport.reset();
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn synchronize_cbs(vdev: *mut sys::virtio_device) {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }
            .transport
            .synchronize_interrupts();
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn get_features(vdev: *mut sys::virtio_device) -> u64 {
        // SAFETY: one of our devices.
        unsafe { Self::dev(vdev) }.transport.device_features()
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices, during feature negotiation.
    unsafe extern "C" fn finalize_features(vdev: *mut sys::virtio_device) -> c_int {
        // SAFETY: the virtio core filters the transport's feature bits in `features`, which
        // nothing else writes during negotiation.
        let features = unsafe {
            sys::vring_transport_features(vdev);
            (*vdev).features
        };
        // SAFETY: one of our devices.
        match unsafe { Self::dev(vdev) }
            .transport
            .set_driver_features(features)
        {
            Ok(()) => 0,
            Err(e) => e.to_errno(),
        }
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn bus_name(vdev: *mut sys::virtio_device) -> *const c_char {
        // SAFETY: one of our devices; the name lives as long as the transport's device.
        unsafe { Self::dev(vdev) }
            .transport
            .bus_name()
            .as_ptr()
            .cast()
    }

    /// # Safety
    ///
    /// Called by the virtio core for a virtqueue of one of our devices.
    unsafe extern "C" fn notify(vq: *mut sys::virtqueue) -> bool {
        // SAFETY: a live virtqueue of one of our devices.
        let (vdev, index) = unsafe { ((*vq).vdev, (*vq).index) };
        // SAFETY: as above.
        unsafe { Self::dev(vdev) }.transport.notify(index)
    }

    /// Creates queue `index`'s virtqueue and enables the queue.
    ///
    /// # Safety
    ///
    /// `vdev` is one of our devices; `name` is a C string that outlives the virtqueue.
    unsafe fn setup_vq(
        vdev: *mut sys::virtio_device,
        index: u32,
        info: &sys::virtqueue_info,
    ) -> Result<*mut sys::virtqueue> {
        // SAFETY: one of our devices.
        let dev = unsafe { Self::dev(vdev) };
        let slot = dev.vqs.get(index as usize).ok_or(ENOENT)?;
        let limits = dev.transport.queue_limits(index)?;
        // SAFETY: creates a split ring the virtio core owns, for our device.
        let vq = unsafe {
            sys::vring_create_virtqueue(
                index,
                limits.num_max,
                limits.align,
                vdev,
                true,
                true,
                info.ctx,
                Some(Self::notify),
                info.callback,
                info.name,
            )
        };
        if vq.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: `vq` is the virtqueue just created.
        let ring = unsafe {
            RingLayout {
                num: sys::virtqueue_get_vring_size(vq),
                desc: sys::virtqueue_get_desc_addr(vq),
                avail: sys::virtqueue_get_avail_addr(vq),
                used: sys::virtqueue_get_used_addr(vq),
            }
        };
        // Published before the device may interrupt for it.
        slot.store(vq, Ordering::Release);
        if let Err(e) = dev.transport.enable_queue(index, &ring) {
            // SAFETY: `slot` held it; after the clear and the synchronisation no interrupt
            // uses it.
            unsafe { Self::delete_vq(dev, index as usize) };
            return Err(e);
        }
        Ok(vq)
    }

    /// Disables queue `index` and deletes its virtqueue, if it has one.
    ///
    /// # Safety
    ///
    /// Only the virtio core's find/del path calls this (it serialises them).
    unsafe fn delete_vq(dev: &VirtioDevice<T>, index: usize) {
        let Some(slot) = dev.vqs.get(index) else {
            return;
        };
        let vq = slot.swap(ptr::null_mut(), Ordering::AcqRel);
        if vq.is_null() {
            return;
        }
        dev.transport.disable_queue(index as u32);
        dev.transport.synchronize_interrupts();
        // SAFETY: created by `setup_vq`, unpublished, and no interrupt is using it.
        unsafe { sys::vring_del_virtqueue(vq) };
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices.
    unsafe extern "C" fn del_vqs(vdev: *mut sys::virtio_device) {
        // SAFETY: one of our devices.
        let dev = unsafe { Self::dev(vdev) };
        for i in 0..MAX_VQS {
            // SAFETY: the virtio core's del path.
            unsafe { Self::delete_vq(dev, i) };
        }
    }

    /// # Safety
    ///
    /// Called by the virtio core for one of our devices, with `nvqs` entries in `vqs` and
    /// `vqs_info`.
    unsafe extern "C" fn find_vqs(
        vdev: *mut sys::virtio_device,
        nvqs: c_uint,
        vqs: *mut *mut sys::virtqueue,
        vqs_info: *mut sys::virtqueue_info,
        _desc: *mut sys::irq_affinity,
    ) -> c_int {
        // SAFETY: the virtio core passes `nvqs` entries in each array.
        let (vqs, infos) = unsafe {
            (
                core::slice::from_raw_parts_mut(vqs, nvqs as usize),
                core::slice::from_raw_parts(vqs_info, nvqs as usize),
            )
        };
        // SAFETY: one of our devices.
        let nqueues = unsafe { Self::dev(vdev) }.transport.num_queues();
        let mut queue = 0u32;
        for (out, info) in vqs.iter_mut().zip(infos) {
            // A queue the driver does not want (no name) takes no queue of the device.
            if info.name.is_null() {
                *out = ptr::null_mut();
                continue;
            }
            let res = if queue < nqueues {
                // SAFETY: one of our devices; the name is the driver's, as in every transport.
                unsafe { Self::setup_vq(vdev, queue, info) }
            } else {
                Err(ENOENT)
            };
            match res {
                Ok(vq) => *out = vq,
                Err(e) => {
                    // SAFETY: one of our devices.
                    unsafe { Self::del_vqs(vdev) };
                    return e.to_errno();
                }
            }
            queue += 1;
        }
        0
    }
}
