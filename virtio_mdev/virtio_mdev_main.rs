// SPDX-License-Identifier: GPL-2.0
//! virtio_mdev: a virtio transport over the virtio-mdev register window.
//!
//! It binds to devices on the vmdev bus and registers a `struct virtio_device` for each, whose
//! `virtio_config_ops` go through the register window, so the kernel's own virtio drivers
//! (virtio_net first) drive them unchanged. Vrings come from the virtio core
//! (`vring_create_virtqueue`), set up in the order the 2019 RFC transport used.

use core::mem::MaybeUninit;
use core::ptr;
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::prelude::*;

#[path = "../kglue/sys.rs"]
mod sys;

module! {
    type: VirtioMdevModule,
    name: "virtio_mdev",
    author: "virtio-mdev developers",
    description: "virtio transport for virtio-mdev devices",
    license: "GPL",
}

/// The most queues one device may have under this driver.
const MAX_VQS: usize = 64;

const EINVAL: c_int = -22;
const ENOENT: c_int = -2;
const ENODEV: c_int = -19;
const ENOMEM: c_int = -12;

const VERSION_1_BIT: u32 = 32;

/// One device: the virtio device registered with the virtio core, and its queues.
///
/// # Invariants
///
/// `vdev.dev` has `virtio_mdev_release` as its release function, which frees this allocation.
/// `vmdev` is the bound transport device; it outlives the binding, and so this object's use
/// of it. `vqs[i]` is the virtqueue of queue `i` between `find_vqs` and `del_vqs`.
#[repr(C)]
struct VirtioMdev {
    vdev: sys::virtio_device,
    vmdev: *mut sys::vmdev_device,
    vqs: [*mut sys::virtqueue; MAX_VQS],
}

#[repr(transparent)]
struct CStatic<T>(core::cell::UnsafeCell<T>);

// SAFETY: Rust code only takes the address of the contents; the C side serialises access.
unsafe impl<T> Sync for CStatic<T> {}

impl<T> CStatic<T> {
    const fn new(v: T) -> Self {
        Self(core::cell::UnsafeCell::new(v))
    }
    const fn get(&self) -> *mut T {
        self.0.get()
    }
}

/// # Safety
///
/// All-zero bytes must be a valid `T`.
const unsafe fn zeroed<T>() -> T {
    // SAFETY: guaranteed by the caller.
    unsafe { MaybeUninit::zeroed().assume_init() }
}

/// # Safety
///
/// `vdev` must be the `vdev` field of a live `VirtioMdev`.
unsafe fn to_vm(vdev: *mut sys::virtio_device) -> *mut VirtioMdev {
    // `vdev` is the first field of the `#[repr(C)]` struct.
    vdev.cast()
}

/// Register reads that fail (the device went away) read as all ones, as on PCI.
///
/// # Safety
///
/// `vm` must be live.
unsafe fn rd(vm: *mut VirtioMdev, off: u32) -> u32 {
    let mut v = 0;
    // SAFETY: `vmdev` is the live bound device; `v` is writable.
    unsafe { sys::vmdev_read((*vm).vmdev, off, &mut v) };
    v
}

/// # Safety
///
/// `vm` must be live.
unsafe fn wr(vm: *mut VirtioMdev, off: u32, val: u32) -> c_int {
    // SAFETY: `vmdev` is the live bound device.
    unsafe { sys::vmdev_write((*vm).vmdev, off, val) }
}

// ---------------------------------------------------------------------------------------------
// virtio_config_ops, one function per op.

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_get(
    vdev: *mut sys::virtio_device,
    offset: c_uint,
    buf: *mut c_void,
    len: c_uint,
) {
    // SAFETY: the virtio core calls ops on a registered device; `buf` holds `len` bytes.
    unsafe {
        let vm = to_vm(vdev);
        if sys::vmdev_config_read((*vm).vmdev, offset, buf, len) != 0 {
            ptr::write_bytes(buf.cast::<u8>(), 0xff, len as usize);
        }
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_set(
    vdev: *mut sys::virtio_device,
    offset: c_uint,
    buf: *const c_void,
    len: c_uint,
) {
    // SAFETY: as in `vm_get`. A refused write leaves config space unchanged, which is all a
    // driver can observe of it anyway.
    unsafe { sys::vmdev_config_write((*to_vm(vdev)).vmdev, offset, buf, len) };
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_generation(vdev: *mut sys::virtio_device) -> u32 {
    // SAFETY: a registered device.
    unsafe { rd(to_vm(vdev), sys::VMDEV_CONFIG_GENERATION) }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_get_status(vdev: *mut sys::virtio_device) -> u8 {
    // SAFETY: a registered device.
    unsafe { rd(to_vm(vdev), sys::VMDEV_STATUS) as u8 }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_set_status(vdev: *mut sys::virtio_device, status: u8) {
    // The virtio core never writes 0 here (that is `reset`).
    // SAFETY: a registered device.
    unsafe { wr(to_vm(vdev), sys::VMDEV_STATUS, u32::from(status)) };
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_reset(vdev: *mut sys::virtio_device) {
    // The transport contract makes reset synchronous: when the write returns, the device has
    // stopped using the queues and raises no more interrupts.
    // SAFETY: a registered device.
    unsafe { wr(to_vm(vdev), sys::VMDEV_STATUS, 0) };
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_notify(vq: *mut sys::virtqueue) -> bool {
    // SAFETY: the virtio core notifies a queue of a registered device; this is the doorbell,
    // which the transport allows from atomic context.
    unsafe {
        let vm = to_vm((*vq).vdev);
        wr(vm, sys::VMDEV_QUEUE_NOTIFY, (*vq).index) == 0
    }
}

/// # Safety
///
/// `vm` must be live; `index < MAX_VQS`; `name` a valid C string or null.
unsafe fn setup_vq(
    vm: *mut VirtioMdev,
    index: u32,
    callback: Option<unsafe extern "C" fn(*mut sys::virtqueue)>,
    name: *const c_char,
    ctx: bool,
) -> Result<*mut sys::virtqueue, c_int> {
    // SAFETY: `vm` is live; register accesses are checked by the transport.
    unsafe {
        if wr(vm, sys::VMDEV_QUEUE_SEL, index) != 0 || rd(vm, sys::VMDEV_QUEUE_READY) != 0 {
            return Err(ENOENT);
        }
        let num_max = rd(vm, sys::VMDEV_QUEUE_NUM_MAX);
        if num_max == 0 || num_max > 32768 {
            return Err(ENOENT);
        }
        let align = rd(vm, sys::VMDEV_QUEUE_ALIGN);
        if align == 0 || !align.is_power_of_two() || align > 65536 {
            return Err(EINVAL);
        }
        let vq = sys::vring_create_virtqueue(
            index,
            num_max,
            align,
            ptr::addr_of_mut!((*vm).vdev),
            true,
            true,
            ctx,
            Some(vm_notify),
            callback,
            name,
        );
        if vq.is_null() {
            return Err(ENOMEM);
        }
        let desc = sys::virtqueue_get_desc_addr(vq);
        let avail = sys::virtqueue_get_avail_addr(vq);
        let used = sys::virtqueue_get_used_addr(vq);
        let writes = [
            (sys::VMDEV_QUEUE_NUM, sys::virtqueue_get_vring_size(vq)),
            (sys::VMDEV_QUEUE_DESC_LOW, desc as u32),
            (sys::VMDEV_QUEUE_DESC_HIGH, (desc >> 32) as u32),
            (sys::VMDEV_QUEUE_AVAIL_LOW, avail as u32),
            (sys::VMDEV_QUEUE_AVAIL_HIGH, (avail >> 32) as u32),
            (sys::VMDEV_QUEUE_USED_LOW, used as u32),
            (sys::VMDEV_QUEUE_USED_HIGH, (used >> 32) as u32),
        ];
        let mut ok = writes.iter().all(|&(off, v)| wr(vm, off, v) == 0);
        // Publish the queue before the device may interrupt for it.
        (*vm).vqs[index as usize] = vq;
        ok = ok && wr(vm, sys::VMDEV_QUEUE_READY, 1) == 0 && rd(vm, sys::VMDEV_QUEUE_READY) == 1;
        if !ok {
            (*vm).vqs[index as usize] = ptr::null_mut();
            sys::vring_del_virtqueue(vq);
            return Err(EINVAL);
        }
        Ok(vq)
    }
}

/// # Safety
///
/// `vm` must be live and its device reset or the queue not ready.
unsafe fn del_vq(vm: *mut VirtioMdev, index: usize) {
    // SAFETY: `vm` is live; the queue is ours.
    unsafe {
        let vq = (*vm).vqs[index];
        if vq.is_null() {
            return;
        }
        wr(vm, sys::VMDEV_QUEUE_SEL, index as u32);
        wr(vm, sys::VMDEV_QUEUE_READY, 0);
        (*vm).vqs[index] = ptr::null_mut();
        sys::vring_del_virtqueue(vq);
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_del_vqs(vdev: *mut sys::virtio_device) {
    // SAFETY: a registered device whose queues were set up by `vm_find_vqs`.
    unsafe {
        let vm = to_vm(vdev);
        for i in 0..MAX_VQS {
            del_vq(vm, i);
        }
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_find_vqs(
    vdev: *mut sys::virtio_device,
    nvqs: c_uint,
    vqs: *mut *mut sys::virtqueue,
    vqs_info: *mut sys::virtqueue_info,
    _desc: *mut sys::irq_affinity,
) -> c_int {
    // SAFETY: the virtio core passes `nvqs` entries in `vqs` and `vqs_info`.
    unsafe {
        let vm = to_vm(vdev);
        let nqueues = rd(vm, sys::VMDEV_NUM_QUEUES);
        let mut queue_idx = 0u32;
        for i in 0..nvqs as usize {
            let info = &*vqs_info.add(i);
            if info.name.is_null() {
                *vqs.add(i) = ptr::null_mut();
                continue;
            }
            if queue_idx >= nqueues || queue_idx as usize >= MAX_VQS {
                vm_del_vqs(vdev);
                return ENOENT;
            }
            match setup_vq(vm, queue_idx, info.callback, info.name, info.ctx) {
                Ok(vq) => *vqs.add(i) = vq,
                Err(e) => {
                    vm_del_vqs(vdev);
                    return e;
                }
            }
            queue_idx += 1;
        }
        0
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_get_features(vdev: *mut sys::virtio_device) -> u64 {
    // SAFETY: a registered device.
    unsafe {
        let vm = to_vm(vdev);
        wr(vm, sys::VMDEV_DEVICE_FEATURES_SEL, 1);
        let hi = u64::from(rd(vm, sys::VMDEV_DEVICE_FEATURES));
        wr(vm, sys::VMDEV_DEVICE_FEATURES_SEL, 0);
        let lo = u64::from(rd(vm, sys::VMDEV_DEVICE_FEATURES));
        (hi << 32) | lo
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_finalize_features(vdev: *mut sys::virtio_device) -> c_int {
    // SAFETY: a registered device during feature negotiation.
    unsafe {
        sys::vring_transport_features(vdev);
        let f = (*vdev).features;
        // This transport has no legacy mode.
        if f & (1u64 << VERSION_1_BIT) == 0 {
            return EINVAL;
        }
        let vm = to_vm(vdev);
        let ok = wr(vm, sys::VMDEV_DRIVER_FEATURES_SEL, 1) == 0
            && wr(vm, sys::VMDEV_DRIVER_FEATURES, (f >> 32) as u32) == 0
            && wr(vm, sys::VMDEV_DRIVER_FEATURES_SEL, 0) == 0
            && wr(vm, sys::VMDEV_DRIVER_FEATURES, f as u32) == 0;
        if ok {
            0
        } else {
            EINVAL
        }
    }
}

/// # Safety
///
/// Called by the virtio core for a device registered by `vmdev_probe` (or one of its virtqueues), with buffers of the stated length.
unsafe extern "C" fn vm_bus_name(vdev: *mut sys::virtio_device) -> *const c_char {
    // SAFETY: a registered device; its transport device outlives it.
    unsafe { sys::vmdev_helper_dev_name(sys::vmdev_to_dev((*to_vm(vdev)).vmdev)) }
}

static CONFIG_OPS: sys::virtio_config_ops = sys::virtio_config_ops {
    get: Some(vm_get),
    set: Some(vm_set),
    generation: Some(vm_generation),
    get_status: Some(vm_get_status),
    set_status: Some(vm_set_status),
    reset: Some(vm_reset),
    find_vqs: Some(vm_find_vqs),
    del_vqs: Some(vm_del_vqs),
    synchronize_cbs: None,
    get_features: Some(vm_get_features),
    finalize_features: Some(vm_finalize_features),
    bus_name: Some(vm_bus_name),
    set_vq_affinity: None,
    get_vq_affinity: None,
    get_shm_region: None,
    disable_vq_and_reset: None,
    enable_vq_after_reset: None,
};

// ---------------------------------------------------------------------------------------------
// The vmdev driver.

/// # Safety
///
/// Called by the driver core once, when the last reference to the virtio device is dropped.
unsafe extern "C" fn virtio_mdev_release(dev: *mut sys::device) {
    // SAFETY: `dev` is `vdev.dev` of a `VirtioMdev`, whose `vdev` is its first field; this is
    // the last reference.
    unsafe {
        let vdev = kernel::container_of!(dev, sys::virtio_device, dev);
        sys::kfree(to_vm(vdev.cast_mut()).cast());
    }
}

/// # Safety
///
/// Called by the transport for a device this driver is being bound to or is bound to.
unsafe extern "C" fn vmdev_probe(vmdev: *mut sys::vmdev_device) -> c_int {
    let mut magic = 0;
    let mut version = 0;
    let mut device_id = 0;
    let mut vendor_id = 0;
    // SAFETY: the transport probes us with a live device.
    unsafe {
        sys::vmdev_read(vmdev, sys::VMDEV_MAGIC_VALUE, &mut magic);
        sys::vmdev_read(vmdev, sys::VMDEV_VERSION, &mut version);
        sys::vmdev_read(vmdev, sys::VMDEV_DEVICE_ID, &mut device_id);
        sys::vmdev_read(vmdev, sys::VMDEV_VENDOR_ID, &mut vendor_id);
    }
    // SAFETY: a live device, as above.
    let dev = unsafe { sys::vmdev_to_dev(vmdev) };
    if magic != sys::VMDEV_MAGIC || version != 1 || device_id == 0 {
        // SAFETY: a live device; the format takes three u32s.
        unsafe {
            sys::_dev_warn(
                dev,
                c"not a virtio-mdev device (magic %#x version %u device %u)\n"
                    .as_ptr()
                    .cast(),
                magic,
                version,
                device_id,
            )
        };
        return ENODEV;
    }
    // SAFETY: a zeroed `VirtioMdev` is valid (pointers, integers, and a virtio_device that
    // register_virtio_device initialises).
    let vm: *mut VirtioMdev =
        unsafe { sys::vmdev_helper_kzalloc(core::mem::size_of::<VirtioMdev>()) }.cast();
    if vm.is_null() {
        return ENOMEM;
    }
    // SAFETY: `vm` is ours until registered; from `register_virtio_device` on, the release
    // function owns it and errors go through `put_device`.
    unsafe {
        (*vm).vmdev = vmdev;
        (*vm).vdev.dev.parent = dev;
        (*vm).vdev.dev.release = Some(virtio_mdev_release);
        (*vm).vdev.config = &CONFIG_OPS;
        (*vm).vdev.id.device = device_id;
        (*vm).vdev.id.vendor = vendor_id;
        sys::vmdev_set_driver_data(vmdev, vm.cast());
        let ret = sys::register_virtio_device(ptr::addr_of_mut!((*vm).vdev));
        if ret != 0 {
            sys::vmdev_set_driver_data(vmdev, ptr::null_mut());
            sys::put_device(ptr::addr_of_mut!((*vm).vdev.dev));
            return ret;
        }
    }
    0
}

/// # Safety
///
/// Called by the transport for a device this driver is being bound to or is bound to.
unsafe extern "C" fn vmdev_remove(vmdev: *mut sys::vmdev_device) {
    // SAFETY: called once for a device `vmdev_probe` bound.
    unsafe {
        let vm: *mut VirtioMdev = sys::vmdev_get_driver_data(vmdev).cast();
        // The virtio driver resets the device in its remove; reset again in case it failed
        // to bind at all. Unregistering drops the last reference to `vm`.
        sys::unregister_virtio_device(ptr::addr_of_mut!((*vm).vdev));
        sys::vmdev_write(vmdev, sys::VMDEV_STATUS, 0);
    }
}

/// # Safety
///
/// Called by the transport for a device this driver is being bound to or is bound to.
unsafe extern "C" fn vmdev_vq_interrupt(vmdev: *mut sys::vmdev_device, queue: u32) {
    // SAFETY: the transport calls this only while we are bound, with bottom halves disabled.
    unsafe {
        let vm: *mut VirtioMdev = sys::vmdev_get_driver_data(vmdev).cast();
        if vm.is_null() || queue as usize >= MAX_VQS {
            return;
        }
        let vq = (*vm).vqs[queue as usize];
        if !vq.is_null() {
            sys::vring_interrupt(0, vq.cast());
        }
    }
}

/// # Safety
///
/// Called by the transport for a device this driver is being bound to or is bound to.
unsafe extern "C" fn vmdev_config_changed(vmdev: *mut sys::vmdev_device) {
    // SAFETY: as in `vmdev_vq_interrupt`.
    unsafe {
        let vm: *mut VirtioMdev = sys::vmdev_get_driver_data(vmdev).cast();
        if !vm.is_null() {
            sys::virtio_config_changed(ptr::addr_of_mut!((*vm).vdev));
        }
    }
}

static ID_TABLE: [sys::vmdev_device_id; 2] = [
    sys::vmdev_device_id {
        device_id: sys::VMDEV_ANY_ID,
    },
    sys::vmdev_device_id { device_id: 0 },
];

static DRIVER: CStatic<sys::vmdev_driver> = CStatic::new(sys::vmdev_driver {
    name: c"virtio_mdev".as_ptr().cast(),
    id_table: ID_TABLE.as_ptr(),
    probe: Some(vmdev_probe),
    remove: Some(vmdev_remove),
    vq_interrupt: Some(vmdev_vq_interrupt),
    config_changed: Some(vmdev_config_changed),
    // SAFETY: the transport fills in the embedded driver at registration.
    driver: unsafe { zeroed() },
});

struct VirtioMdevModule;

impl kernel::Module for VirtioMdevModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `DRIVER` is a static that outlives the registration.
        to_result(unsafe { sys::vmdev_register_driver(DRIVER.get(), module.as_ptr().cast()) })?;
        Ok(VirtioMdevModule)
    }
}

impl Drop for VirtioMdevModule {
    fn drop(&mut self) {
        // Unbinds every device: each virtio device is unregistered and its device reset.
        // SAFETY: registered in `init`.
        unsafe { sys::vmdev_unregister_driver(DRIVER.get()) };
    }
}
