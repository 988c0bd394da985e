// SPDX-License-Identifier: GPL-2.0
//! vmdev_sim: a software virtio-net device on the virtio-mdev transport.
//!
//! The simulator registers a platform device `vmdev_sim` as an mdev parent with one type,
//! `vmdev_sim-net`. Every instance is a virtio-net device that loops each frame the driver
//! transmits back to its receive queue, accepting frames to its own MAC, broadcast and
//! multicast, like the 2019 mvnet sample and upstream's vdpa_sim_net.
//!
//! The register semantics come from `vmdev_regs::RegisterFile`, the ring handling from
//! `virtqueue`, the packet path from `netsim`: this file only wires them to the kernel. Each
//! instance has a mutex over its state and a work item that runs the packet path. The
//! doorbell (`QUEUE_NOTIFY`) only queues that work, so drivers may ring it from any context.
//! Interrupts are raised with the mutex held, which is what makes reset synchronous: once a
//! reset has taken the mutex, no interrupt for the old queues can follow.
//!
//! Per-instance settings (`mac`, `mtu`, `link`) and per-queue counters (`stats/`) live in
//! sysfs under the instance's vmdev device; see Documentation/vdpa_sim.rst.

use core::mem::MaybeUninit;
use core::pin::Pin;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::error::to_result;
use kernel::ffi::{c_char, c_int, c_uint};
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::Opaque;
use kernel::{new_mutex, pin_init};

#[path = "../kglue/sys.rs"]
mod sys;

#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
pub mod vmdev_regs;

#[path = "../crates/virtqueue/src/virtqueue/mod.rs"]
pub mod virtqueue;

#[path = "../crates/netsim/src/netsim/mod.rs"]
pub mod netsim;

#[path = "../crates/iotlb/src/iotlb/mod.rs"]
pub mod iotlb;

mod device_memory;

#[path = "../kglue/vendor.rs"]
pub mod vendor;

use device_memory::{DeviceMemory, DeviceTlb, DmaTable};
use iotlb::{DmaTarget, Mapping};
use netsim::{NetConfig, NetStats};
use vendor::{DeviceHandle, Registration, TypeDesc};
use virtqueue::SplitQueue;
use vmdev_regs::device::{DeviceInfo, DmaRequest, Effect, RegisterFile};
use vmdev_regs::dma;
use vmdev_regs::map::Register;

module! {
    type: SimModule,
    name: "vmdev_sim",
    author: "virtio-mdev developers",
    description: "software virtio-net loopback device on the virtio-mdev transport",
    license: "GPL",
}

const DRV_NAME: &core::ffi::CStr = c"vmdev_sim";
const RXQ: u16 = 0;
const TXQ: u16 = 1;
/// Frames per pass of the worker before it lets others run (it requeues itself).
const BUDGET: u32 = 256;
const QUEUE_MAX: u16 = 256;

const VIRTIO_ID_NET: u32 = 1;
const VIRTIO_NET_F_MTU: u64 = 1 << 3;
const VIRTIO_NET_F_MAC: u64 = 1 << 5;
const VIRTIO_NET_F_STATUS: u64 = 1 << 16;

const EINVAL: c_int = -22;
const EBUSY: c_int = -16;
const ENODEV: kernel::error::Error = kernel::error::code::ENODEV;

const DEVICE_INFO: DeviceInfo = DeviceInfo {
    device_id: VIRTIO_ID_NET,
    vendor_id: 0,
    features: vmdev_regs::features::VERSION_1
        | vmdev_regs::features::ACCESS_PLATFORM
        | vmdev_regs::features::RING_EVENT_IDX
        | vmdev_regs::features::RING_INDIRECT_DESC
        | VIRTIO_NET_F_MAC
        | VIRTIO_NET_F_MTU
        | VIRTIO_NET_F_STATUS,
    queue_num_max: QUEUE_MAX,
    queue_align: 4096,
    config_size: netsim::CONFIG_SIZE as u32,
    dma_entries: DMA_MAX_ENTRIES as u32,
};

/// Largest DMA table (`DMA_MAX_ENTRIES`): enough for 1 GiB of guest memory pinned as single
/// 4 KiB pages, which is what a kernel without transparent huge pages hands vhost_mdev. The
/// table starts at [`iotlb::DEFAULT_CAPACITY`] entries and doubles when full, so a guest whose
/// memory arrives in huge-page runs never pays for this (8 MiB at 32 bytes an entry).
const DMA_MAX_ENTRIES: usize = 1 << 18;

/// Filler for unused DMA table slots (the table ignores them).
const NO_DMA_MAPPING: Mapping<DmaTarget> = Mapping {
    first: 0,
    last: 0,
    value: DmaTarget { addr: 0, perm: 0 },
};

/// Everything about one instance that the mutex guards.
struct SimState {
    regs: RegisterFile<2>,
    queues: [Option<SplitQueue>; 2],
    event_idx: bool,
    cfg: NetConfig,
    stats: NetStats,
    /// The DMA translation table; `None` while translation is off.
    dma: Option<DmaTable>,
    /// The worker's page cache of `dma`; every change that removes a translation
    /// invalidates it (see [`DeviceTlb::invalidate`]).
    tlb: DeviceTlb,
}

impl SimState {
    fn running(&self) -> bool {
        self.regs.status() & vmdev_regs::status::DRIVER_OK != 0
    }

    fn enable_queue(&mut self, idx: u16) {
        let Some(q) = self.regs.queue(idx).copied() else {
            return;
        };
        match SplitQueue::new(q.num, q.desc, q.avail, q.used, self.event_idx) {
            Ok(mut sq) => {
                sq.set_next_avail(q.avail_state);
                self.queues[usize::from(idx)] = Some(sq);
            }
            // The driver reads QUEUE_READY back as 0 and knows the queue was refused.
            Err(_) => self.regs.set_queue_ready(idx, false),
        }
    }

    fn disable_queue(&mut self, idx: u16) {
        if let Some(q) = self.queues[usize::from(idx)].take() {
            self.regs.set_avail_state(idx, q.next_avail());
            self.regs.set_used_state(idx, q.next_used());
        }
    }

    /// Makes `QUEUE_AVAIL_STATE` and `QUEUE_USED_STATE` show where running queues are.
    fn record_queue_state(&mut self) {
        for (idx, q) in (0u16..).zip(self.queues.iter()) {
            if let Some(q) = q {
                self.regs.set_avail_state(idx, q.next_avail());
                self.regs.set_used_state(idx, q.next_used());
            }
        }
    }

    /// Runs one `DMA_CMD`. The state is locked, so no worker pass is using the table.
    fn run_dma(&mut self, req: DmaRequest) -> u32 {
        if req.cmd != dma::CMD_MAP {
            self.tlb.invalidate();
        }
        match req.cmd {
            dma::CMD_TRANSLATE_ON => {
                if let Some(t) = self.dma.as_mut() {
                    t.clear(|_| {});
                    return dma::OK;
                }
                match KVVec::from_elem(NO_DMA_MAPPING, iotlb::DEFAULT_CAPACITY, GFP_KERNEL) {
                    Ok(v) => {
                        self.dma = Some(DmaTable::new(v));
                        dma::OK
                    }
                    Err(_) => dma::ERR_NOMEM,
                }
            }
            dma::CMD_TRANSLATE_OFF => {
                self.dma = None;
                dma::OK
            }
            dma::CMD_MAP => {
                let Some(t) = self.dma.as_mut() else {
                    return dma::ERR_OFF;
                };
                // The register file allows only the two permission bits, which are the
                // table's.
                let target = DmaTarget {
                    addr: req.addr,
                    perm: (req.perm & (dma::PERM_READ | dma::PERM_WRITE)) as u8,
                };
                let grown = |n| KVVec::from_elem(NO_DMA_MAPPING, n, GFP_KERNEL).ok();
                match t.insert_growing(req.iova, req.last, target, DMA_MAX_ENTRIES, grown) {
                    Ok(()) => dma::OK,
                    Err(iotlb::InsertError::Overlap) => dma::ERR_EXIST,
                    Err(iotlb::InsertError::Full) => dma::ERR_NOSPC,
                    Err(iotlb::InsertError::NoMemory) => dma::ERR_NOMEM,
                    Err(iotlb::InsertError::Invalid) => dma::ERR_INVAL,
                }
            }
            dma::CMD_UNMAP => match self.dma.as_mut() {
                Some(t) => {
                    t.remove_overlapping(req.iova, req.last, |_| {});
                    dma::OK
                }
                None => dma::ERR_OFF,
            },
            _ => dma::ERR_INVAL,
        }
    }
}

/// One instance.
///
/// # Invariants
///
/// `work` is initialised with `sim_work` and queued only on `SIM_WQ`; dropping the device
/// cancels it, so the work never runs on a freed device.
#[pin_data(PinnedDrop)]
struct SimDevice {
    handle: DeviceHandle,
    #[pin]
    state: Mutex<SimState>,
    #[pin]
    work: Opaque<sys::work_struct>,
}

// SAFETY: the work item is only touched through the workqueue API, which is thread-safe.
unsafe impl Send for SimDevice {}
// SAFETY: as above; all other state is behind the mutex.
unsafe impl Sync for SimDevice {}

#[pinned_drop]
impl PinnedDrop for SimDevice {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `work` was initialised in `create`; after this it is neither queued nor
        // running.
        unsafe { sys::cancel_work_sync(self.work.get()) };
    }
}

/// The workqueue every instance's work runs on (created at module init).
static SIM_WQ: AtomicPtr<sys::workqueue_struct> = AtomicPtr::new(ptr::null_mut());

fn kick(sim: &SimDevice) {
    // SAFETY: `work` was initialised in `create`; the workqueue outlives every instance.
    unsafe { sys::vmdev_helper_queue_work(SIM_WQ.load(Ordering::Acquire), sim.work.get()) };
}

// ---------------------------------------------------------------------------------------------
// The worker: runs the packet path and raises interrupts.

/// # Safety
///
/// Called by the workqueue for the `work` field of a live `SimDevice`.
unsafe extern "C" fn sim_work(work: *mut sys::work_struct) {
    // SAFETY: `work` is the `work` field of a live `SimDevice` (destroy cancels it first).
    let sim = unsafe {
        &*kernel::container_of!(work.cast::<Opaque<sys::work_struct>>(), SimDevice, work)
    };
    let mut st = sim.state.lock();
    if !st.running() {
        return;
    }
    let SimState {
        queues,
        cfg,
        stats,
        regs,
        dma,
        tlb,
        ..
    } = &mut *st;
    let [Some(rx), Some(tx)] = queues else { return };
    let mem = DeviceMemory::new(dma.as_ref(), tlb);
    let end = netsim::run_pass(cfg, rx, tx, &mem, BUDGET, stats);
    if end.broken {
        // virtio 1.2, 2.1.2: a device that cannot go on sets DEVICE_NEEDS_RESET and sends a
        // configuration change notification.
        regs.set_needs_reset();
        sim.handle.config_changed();
        return;
    }
    // Interrupts are raised with the state locked (see the module documentation).
    if end.interrupt_tx {
        sim.handle.vq_interrupt(TXQ);
    }
    if end.interrupt_rx {
        sim.handle.vq_interrupt(RXQ);
    }
    if end.run_again {
        kick(sim);
    }
}

// ---------------------------------------------------------------------------------------------
// The device: the register window of one instance.

impl vendor::Device for SimDevice {
    fn reg_read(&self, reg: Register) -> u32 {
        let mut st = self.state.lock();
        if matches!(
            reg,
            Register::QUEUE_AVAIL_STATE | Register::QUEUE_USED_STATE
        ) {
            st.record_queue_state();
        }
        st.regs.read(reg)
    }

    fn reg_write(&self, reg: Register, value: u32) {
        // The doorbell may come from atomic context: it must not take the mutex.
        if reg == Register::QUEUE_NOTIFY {
            if value < u32::from(RegisterFile::<2>::num_queues()) {
                kick(self);
            }
            return;
        }
        let mut st = self.state.lock();
        let Ok(effect) = st.regs.write(reg, value) else {
            // Refused: the register keeps its value, which is what the driver reads back.
            return;
        };
        match effect {
            Effect::Reset => {
                st.queues = [None, None];
                st.event_idx = false;
            }
            Effect::FeaturesOk(f) => st.event_idx = f & vmdev_regs::features::RING_EVENT_IDX != 0,
            Effect::QueueEnabled(i) => st.enable_queue(i),
            Effect::QueueDisabled(i) => st.disable_queue(i),
            Effect::DriverOk => {
                drop(st);
                kick(self);
            }
            Effect::Dma(req) => {
                let result = st.run_dma(req);
                st.regs.set_dma_result(result);
            }
            Effect::None | Effect::Failed | Effect::Notify(_) => {}
        }
    }

    fn config_read(&self, offset: u32, buf: &mut [u8]) {
        let bytes = self.state.lock().cfg.to_config_bytes();
        let off = offset as usize;
        if let Some(src) = bytes.get(off..off + buf.len()) {
            buf.copy_from_slice(src);
        }
    }

    fn config_write(&self, offset: u32, buf: &[u8]) {
        let mut st = self.state.lock();
        if st.cfg.write_config(offset as usize, buf) {
            st.regs.config_changed();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The parent: creates instances.

fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    // SAFETY: fills the buffer with random bytes.
    unsafe { sys::get_random_bytes(mac.as_mut_ptr().cast(), mac.len()) };
    mac[0] = (mac[0] & 0xfe) | 0x02; // unicast, locally administered
    mac
}

struct SimParent;

static SIM_PARENT: SimParent = SimParent;

impl vendor::Parent for SimParent {
    type Device = SimDevice;

    const TYPES: &'static [TypeDesc] = &[TypeDesc {
        name: c"net",
        pretty_name: c"vmdev_sim virtio-net loopback",
        device_id: VIRTIO_ID_NET,
        max_instances: 64,
    }];

    fn create(&self, _type_index: usize, handle: DeviceHandle) -> Result<Pin<KBox<SimDevice>>> {
        let state = SimState {
            regs: RegisterFile::new(DEVICE_INFO),
            queues: [None, None],
            event_idx: false,
            cfg: NetConfig {
                mac: random_mac(),
                mtu: 1500,
                link_up: true,
            },
            stats: NetStats::default(),
            dma: None,
            tlb: DeviceTlb::new()?,
        };
        KBox::pin_init(
            pin_init!(SimDevice {
                handle,
                state <- new_mutex!(state, "vmdev_sim::state"),
                // SAFETY: INIT_WORK on the pinned, not yet shared work item.
                work <- Opaque::ffi_init(|w| unsafe { sys::vmdev_helper_init_work(w, Some(sim_work)) }),
            }),
            GFP_KERNEL,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// sysfs: per-instance settings and counters.

/// Runs `f` on the instance behind a sysfs device (None if it is gone).
///
/// # Safety
///
/// `dev` must be a device whose sysfs attributes are being accessed.
unsafe fn with_sim<R>(dev: *mut sys::device, f: impl FnOnce(&SimDevice) -> R) -> Option<R> {
    // SAFETY: per the contract; our attribute groups are only on our instances.
    unsafe { vendor::device_of_sysfs::<SimParent>(dev) }.map(f)
}

/// Copies a sysfs input into a NUL-terminated stack buffer, without the trailing newline.
fn sysfs_input(buf: *const c_char, count: usize, out: &mut [u8; 32]) -> Option<usize> {
    if count == 0 || count >= out.len() {
        return None;
    }
    // SAFETY: sysfs passes `count` readable bytes.
    let s = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), count) };
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    out[..s.len()].copy_from_slice(s);
    out[s.len()] = 0;
    Some(s.len())
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn mac_show(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: a sysfs callback of a live device.
    match unsafe { with_sim(dev, |s| s.state.lock().cfg.mac) } {
        // SAFETY: `%pM` prints the 6 bytes the pointer refers to.
        Some(mac) => unsafe {
            sys::sysfs_emit(buf, c"%pM\n".as_ptr().cast(), mac.as_ptr()) as isize
        },
        None => -19,
    }
}

/// Applies a setting, refused with -EBUSY once a driver has started the device.
fn set_config(sim: &SimDevice, f: impl FnOnce(&mut NetConfig)) -> c_int {
    let mut st = sim.state.lock();
    if st.regs.status() != 0 {
        return EBUSY;
    }
    let mut cfg = st.cfg;
    f(&mut cfg);
    if cfg.validate().is_err() {
        return EINVAL;
    }
    st.cfg = cfg;
    st.regs.config_changed();
    0
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn mac_store(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    let mut tmp = [0u8; 32];
    if sysfs_input(buf, count, &mut tmp).is_none() {
        return EINVAL as isize;
    }
    let mut mac = [0u8; 6];
    // SAFETY: `tmp` is NUL-terminated; `mac` holds 6 bytes.
    if !unsafe { sys::mac_pton(tmp.as_ptr().cast(), mac.as_mut_ptr()) } {
        return EINVAL as isize;
    }
    // SAFETY: a sysfs callback of a live device.
    match unsafe { with_sim(dev, |s| set_config(s, |c| c.mac = mac)) } {
        Some(0) => count as isize,
        Some(e) => e as isize,
        None => -19,
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn mtu_show(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: a sysfs callback of a live device.
    match unsafe { with_sim(dev, |s| s.state.lock().cfg.mtu) } {
        // SAFETY: a sysfs page and one unsigned int.
        Some(mtu) => unsafe {
            sys::sysfs_emit(buf, c"%u\n".as_ptr().cast(), c_uint::from(mtu)) as isize
        },
        None => -19,
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn mtu_store(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    let mut tmp = [0u8; 32];
    if sysfs_input(buf, count, &mut tmp).is_none() {
        return EINVAL as isize;
    }
    let mut mtu: u16 = 0;
    // SAFETY: `tmp` is NUL-terminated.
    if unsafe { sys::kstrtou16(tmp.as_ptr().cast(), 10, &mut mtu) } != 0 {
        return EINVAL as isize;
    }
    // SAFETY: a sysfs callback of a live device.
    match unsafe { with_sim(dev, |s| set_config(s, |c| c.mtu = mtu)) } {
        Some(0) => count as isize,
        Some(e) => e as isize,
        None => -19,
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn link_show(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *mut c_char,
) -> isize {
    // SAFETY: a sysfs callback of a live device.
    match unsafe { with_sim(dev, |s| s.state.lock().cfg.link_up) } {
        // SAFETY: a sysfs page and a C string.
        Some(up) => unsafe {
            let state: &core::ffi::CStr = if up { c"up" } else { c"down" };
            sys::sysfs_emit(
                buf,
                c"%s\n".as_ptr().cast(),
                state.as_ptr().cast::<c_char>(),
            ) as isize
        },
        None => -19,
    }
}

/// # Safety
///
/// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer (`count` bytes for a store).
unsafe extern "C" fn link_store(
    dev: *mut sys::device,
    _a: *mut sys::device_attribute,
    buf: *const c_char,
    count: usize,
) -> isize {
    let mut tmp = [0u8; 32];
    let Some(n) = sysfs_input(buf, count, &mut tmp) else {
        return EINVAL as isize;
    };
    let up = match &tmp[..n] {
        b"up" | b"1" => true,
        b"down" | b"0" => false,
        _ => return EINVAL as isize,
    };
    // The link may change at any time: the driver hears of it through a config interrupt.
    let apply = |s: &SimDevice| {
        let mut st = s.state.lock();
        if st.cfg.link_up != up {
            st.cfg.link_up = up;
            st.regs.config_changed();
            if st.running() {
                s.handle.config_changed();
            }
        }
    };
    // SAFETY: a sysfs callback of a live device.
    let r = unsafe { with_sim(dev, apply) };
    if r.is_some() {
        count as isize
    } else {
        -19
    }
}

macro_rules! stat_attr {
    ($fn:ident, $q:ident, $field:ident) => {
        /// # Safety
        ///
        /// Called by sysfs for a live device of the vmdev bus, with a `PAGE_SIZE` buffer.
        unsafe extern "C" fn $fn(
            dev: *mut sys::device,
            _a: *mut sys::device_attribute,
            buf: *mut c_char,
        ) -> isize {
            // SAFETY: a sysfs callback of a live device.
            match unsafe { with_sim(dev, |s| s.state.lock().stats.$q.$field) } {
                // SAFETY: a sysfs page and one u64.
                Some(v) => unsafe { sys::sysfs_emit(buf, c"%llu\n".as_ptr().cast(), v) as isize },
                None => -19,
            }
        }
    };
}

stat_attr!(rx_packets_show, rx, packets);
stat_attr!(rx_bytes_show, rx, bytes);
stat_attr!(rx_drops_show, rx, drops);
stat_attr!(rx_errors_show, rx, errors);
stat_attr!(tx_packets_show, tx, packets);
stat_attr!(tx_bytes_show, tx, bytes);
stat_attr!(tx_drops_show, tx, drops);
stat_attr!(tx_errors_show, tx, errors);

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

type ShowFn =
    unsafe extern "C" fn(*mut sys::device, *mut sys::device_attribute, *mut c_char) -> isize;
type StoreFn = unsafe extern "C" fn(
    *mut sys::device,
    *mut sys::device_attribute,
    *const c_char,
    usize,
) -> isize;

// `struct attribute` has lockdep fields only with CONFIG_DEBUG_LOCK_ALLOC.
#[allow(clippy::needless_update)]
const fn attr(
    name: &'static core::ffi::CStr,
    show: ShowFn,
    store: Option<StoreFn>,
) -> sys::device_attribute {
    sys::device_attribute {
        attr: sys::attribute {
            name: name.as_ptr().cast(),
            mode: if store.is_some() { 0o644 } else { 0o444 },
            // SAFETY: the remaining fields (lockdep keys) are valid zeroed.
            ..unsafe { zeroed() }
        },
        show: Some(show),
        store,
    }
}

static SETTINGS: CStatic<[sys::device_attribute; 3]> = CStatic::new([
    attr(c"mac", mac_show, Some(mac_store)),
    attr(c"mtu", mtu_show, Some(mtu_store)),
    attr(c"link", link_show, Some(link_store)),
]);

static STATS: CStatic<[sys::device_attribute; 8]> = CStatic::new([
    attr(c"rx_packets", rx_packets_show, None),
    attr(c"rx_bytes", rx_bytes_show, None),
    attr(c"rx_drops", rx_drops_show, None),
    attr(c"rx_errors", rx_errors_show, None),
    attr(c"tx_packets", tx_packets_show, None),
    attr(c"tx_bytes", tx_bytes_show, None),
    attr(c"tx_drops", tx_drops_show, None),
    attr(c"tx_errors", tx_errors_show, None),
]);

const fn nth<const N: usize>(
    arr: &'static CStatic<[sys::device_attribute; N]>,
    i: usize,
) -> *mut sys::attribute {
    // The `attr` field is first in `device_attribute`.
    arr.get()
        .cast::<sys::device_attribute>()
        .wrapping_add(i)
        .cast()
}

static SETTINGS_ATTRS: CStatic<[*mut sys::attribute; 4]> = CStatic::new([
    nth(&SETTINGS, 0),
    nth(&SETTINGS, 1),
    nth(&SETTINGS, 2),
    ptr::null_mut(),
]);

static STATS_ATTRS: CStatic<[*mut sys::attribute; 9]> = CStatic::new([
    nth(&STATS, 0),
    nth(&STATS, 1),
    nth(&STATS, 2),
    nth(&STATS, 3),
    nth(&STATS, 4),
    nth(&STATS, 5),
    nth(&STATS, 6),
    nth(&STATS, 7),
    ptr::null_mut(),
]);

static SETTINGS_GROUP: CStatic<sys::attribute_group> = CStatic::new(sys::attribute_group {
    attrs: SETTINGS_ATTRS.get().cast(),
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

static STATS_GROUP: CStatic<sys::attribute_group> = CStatic::new(sys::attribute_group {
    name: c"stats".as_ptr().cast(),
    attrs: STATS_ATTRS.get().cast(),
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

static DEV_GROUPS: CStatic<[*const sys::attribute_group; 3]> = CStatic::new([
    SETTINGS_GROUP.get().cast_const(),
    STATS_GROUP.get().cast_const(),
    ptr::null(),
]);

// ---------------------------------------------------------------------------------------------
// Parent registration: a platform device and driver, so the mdev type is "vmdev_sim-net".

/// Where the transport keeps our parent ops (it needs them at a fixed address).
static PARENT_OPS: CStatic<sys::vmdev_parent_ops> = CStatic::new(
    // SAFETY: filled by `Registration::new` before the transport sees it.
    unsafe { zeroed() },
);

/// The registration, owned by the bound platform device.
static REGISTRATION: AtomicPtr<Registration<SimParent>> = AtomicPtr::new(ptr::null_mut());

/// # Safety
///
/// Called by the platform core for the `vmdev_sim` platform device.
unsafe extern "C" fn pdrv_probe(pdev: *mut sys::platform_device) -> c_int {
    // SAFETY: the platform device is live and bound to us until `pdrv_remove`, which drops
    // the registration; the ops and attribute groups are statics, and only one platform
    // device exists, so `PARENT_OPS` has one user.
    let reg = unsafe {
        Registration::new(
            ptr::addr_of_mut!((*pdev).dev),
            &SIM_PARENT,
            &mut *PARENT_OPS.get(),
            DEV_GROUPS.get().cast(),
        )
    };
    let reg = match reg.and_then(|r| KBox::new(r, GFP_KERNEL).map_err(Into::into)) {
        Ok(r) => r,
        Err(e) => return e.to_errno(),
    };
    REGISTRATION.store(KBox::into_raw(reg), Ordering::Release);
    0
}

/// # Safety
///
/// Called by the platform core for the `vmdev_sim` platform device.
unsafe extern "C" fn pdrv_remove(_pdev: *mut sys::platform_device) {
    let reg = REGISTRATION.swap(ptr::null_mut(), Ordering::AcqRel);
    if !reg.is_null() {
        // SAFETY: stored by `pdrv_probe`; dropping it removes every instance first.
        drop(unsafe { KBox::from_raw(reg) });
    }
}

static PLATFORM_DRIVER: CStatic<sys::platform_driver> = CStatic::new(sys::platform_driver {
    probe: Some(pdrv_probe),
    __bindgen_anon_1: sys::platform_driver__bindgen_ty_1 {
        remove: Some(pdrv_remove),
    },
    driver: sys::device_driver {
        name: c"vmdev_sim".as_ptr().cast(),
        // SAFETY: the remaining fields are optional and valid zeroed.
        ..unsafe { zeroed() }
    },
    // SAFETY: the remaining fields are optional and valid zeroed.
    ..unsafe { zeroed() }
});

struct SimModule {
    pdev: *mut sys::platform_device,
}

// SAFETY: the platform device pointer is only used in `drop`, on the module's exit path.
unsafe impl Send for SimModule {}
// SAFETY: as above; nothing reads it concurrently.
unsafe impl Sync for SimModule {}

impl kernel::Module for SimModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: creates the module's workqueue; checked for NULL.
        let wq = unsafe { sys::vmdev_helper_alloc_workqueue(DRV_NAME.as_ptr().cast()) };
        if wq.is_null() {
            return Err(kernel::error::code::ENOMEM);
        }
        SIM_WQ.store(wq, Ordering::Release);
        // SAFETY: the driver is a static; on failure everything set up so far is undone.
        unsafe {
            if let Err(e) = to_result(sys::__platform_driver_register(
                PLATFORM_DRIVER.get(),
                module.as_ptr().cast(),
            )) {
                sys::destroy_workqueue(wq);
                return Err(e);
            }
            let pdev = sys::platform_device_register_full(&sys::platform_device_info {
                name: DRV_NAME.as_ptr().cast(),
                id: -1,
                ..zeroed()
            });
            let addr = pdev as isize;
            if (-4095..0).contains(&addr) || REGISTRATION.load(Ordering::Acquire).is_null() {
                if !(-4095..0).contains(&addr) {
                    sys::platform_device_unregister(pdev);
                }
                sys::platform_driver_unregister(PLATFORM_DRIVER.get());
                sys::destroy_workqueue(wq);
                return Err(if (-4095..0).contains(&addr) {
                    Error::from_errno(addr as c_int)
                } else {
                    ENODEV
                });
            }
            Ok(SimModule { pdev })
        }
    }
}

impl Drop for SimModule {
    fn drop(&mut self) {
        // Unregistering the device unregisters the parent, which removes every instance.
        // SAFETY: registered in `init`.
        unsafe {
            sys::platform_device_unregister(self.pdev);
            sys::platform_driver_unregister(PLATFORM_DRIVER.get());
            sys::destroy_workqueue(SIM_WQ.swap(ptr::null_mut(), Ordering::AcqRel));
        }
    }
}
