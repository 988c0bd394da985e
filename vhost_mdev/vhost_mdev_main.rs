// SPDX-License-Identifier: GPL-2.0
//! vhost_mdev: the vhost-vdpa uAPI on `/dev/vhost-mdev-N`, for devices on the vmdev bus.
//!
//! It binds on the transport's bus (any device class; an administrator picks it over
//! virtio_mdev with `driver_override`) and creates one character device per bound device,
//! in a chrdev region and class of its own. The uAPI is the kernel's vhost-vdpa one, number
//! for number and errno for errno (`crates/vhost_uapi` holds the numbers, layouts, checks and
//! the ioctl routing, host-tested); this file maps each operation onto the register window:
//!
//! - device status, features and config go to `STATUS`, `DRIVER_FEATURES` and config space;
//! - vring settings are kept here and written to the `QUEUE_*` registers when userspace
//!   enables the ring, as vdpa parents record them until `set_vq_ready`;
//! - IOTLB messages pin user pages and program the device's DMA table
//!   (`pinned_iotlb.rs`), which vhost_mdev turns on at probe so that the device can only
//!   ever reach pages userspace mapped;
//! - kick eventfds ring `QUEUE_NOTIFY` from the eventfd wake-up, and the device's
//!   interrupts signal the call eventfds (`eventfds.rs`).
//!
//! Documentation/vhost-uapi.rst lists what is supported and how it differs from vhost-vdpa.

use core::cell::UnsafeCell;
use core::mem::MaybeUninit;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::error::{from_err_ptr, to_result};
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow, Mutex};
use kernel::types::Opaque;
use kernel::uaccess::UserSlice;
use kernel::{new_mutex, pin_init};

#[path = "../kglue/sys.rs"]
mod sys;

#[path = "../crates/vmdev_regs/src/vmdev_regs/mod.rs"]
pub mod vmdev_regs;

#[path = "../crates/vhost_uapi/src/vhost_uapi/mod.rs"]
pub mod vhost_uapi;

#[path = "../crates/iotlb/src/iotlb/mod.rs"]
pub mod iotlb;

mod eventfds;
mod pinned_iotlb;

use eventfds::{EventCtx, KickWatch};
use pinned_iotlb::AddressSpace;
use vhost_uapi::errno;
use vhost_uapi::{
    BackendCaps, DeviceCmd, Dispatch, IotlbKind, Owner, StatusChange, VdpaConfigHeader, VringAddr,
    VringCmd, VringFile, VringState,
};
use vmdev_regs::dma;
use vmdev_regs::map::Register;
use vmdev_regs::status;

module! {
    type: VhostMdevModule,
    name: "vhost_mdev",
    author: "virtio-mdev developers",
    description: "vhost-vdpa uAPI for virtio-mdev devices",
    license: "GPL",
}

/// Devices (and minors) one module instance serves.
const MAX_DEVICES: usize = 256;
/// The most queues a device may have under this driver.
const MAX_VQS: usize = 32;
/// The backend features this driver can offer: no SUSPEND/RESUME (the register map has no
/// suspend yet) and no descriptor groups; the device's DMA table outlives a reset, which is
/// IOTLB_PERSIST.
const CAPS: BackendCaps = BackendCaps {
    suspend: false,
    resume: false,
    desc_group: false,
    persist: true,
    enable_after_driver_ok: true,
};
/// DPDK finds vhost-vdpa character devices by this prefix in /proc/devices (it treats misc
/// devices as vhost-net), so the region's name starts with it.
const REGION_NAME: &core::ffi::CStr = c"vhost-vdpa-mdev";
const CLASS_NAME: &core::ffi::CStr = c"vhost-mdev";

fn errno_of(e: i32) -> Error {
    Error::from_errno(-e)
}

// ---------------------------------------------------------------------------------------------
// The register window.

/// The register window of a bound device.
///
/// # Invariants
///
/// `0` is a device bound to this driver; holders stop using it before `remove` returns (the
/// device's `Inner` keeps it in an `Option` that remove clears).
#[derive(Clone, Copy)]
pub(crate) struct Window(*mut sys::vmdev_device);

// SAFETY: the transport's register accessors may be called from any thread.
unsafe impl Send for Window {}
// SAFETY: as above.
unsafe impl Sync for Window {}

impl Window {
    fn read(self, reg: Register) -> u32 {
        let mut v = 0;
        // SAFETY: a bound device (invariant); `v` is writable.
        unsafe { sys::vmdev_read(self.0, reg as u32, &mut v) };
        v
    }

    pub(crate) fn write(self, reg: Register, val: u32) -> Result<()> {
        // SAFETY: a bound device (invariant).
        to_result(unsafe { sys::vmdev_write(self.0, reg as u32, val) })
    }

    fn write64(self, lo: Register, hi: Register, val: u64) {
        let _ = self.write(lo, val as u32);
        let _ = self.write(hi, (val >> 32) as u32);
    }

    fn status(self) -> u8 {
        self.read(Register::STATUS) as u8
    }

    fn select(self, q: u32) {
        let _ = self.write(Register::QUEUE_SEL, q);
    }

    /// Runs one DMA command; the device's result as an error.
    pub(crate) fn dma(self, cmd: u32, iova: u64, size: u64, addr: u64, perm: u32) -> Result<()> {
        self.write64(Register::DMA_IOVA_LOW, Register::DMA_IOVA_HIGH, iova);
        self.write64(Register::DMA_SIZE_LOW, Register::DMA_SIZE_HIGH, size);
        self.write64(Register::DMA_ADDR_LOW, Register::DMA_ADDR_HIGH, addr);
        let _ = self.write(Register::DMA_PERM, perm);
        self.write(Register::DMA_CMD, cmd)?;
        match dma::errno(self.read(Register::DMA_CMD)) {
            0 => Ok(()),
            e => Err(errno_of(e)),
        }
    }

    /// Config space access of any length, in the widths the transport takes.
    fn config(self, off: u32, len: u32, mut f: impl FnMut(u32, u32) -> Result<()>) -> Result<()> {
        let mut done = 0;
        while done < len {
            let left = len - done;
            let n = if left >= 8 {
                8
            } else if left >= 4 {
                4
            } else if left >= 2 {
                2
            } else {
                1
            };
            f(off + done, n)?;
            done += n;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Per-device state.

/// What userspace set for one vring, written to the device when it enables the ring.
#[derive(Clone, Copy, Default)]
struct VringShadow {
    num: u16,
    desc: u64,
    avail: u64,
    used: u64,
    busyloop_timeout: u32,
}

/// Everything the ioctls change, under one mutex (vhost-vdpa's `d->mutex`).
struct Inner {
    /// `None` once the device was removed: every call then fails with ENODEV.
    win: Option<Window>,
    /// The owner's mm (grabbed), or null.
    owner: *mut sys::mm_struct,
    fork_from_owner: bool,
    backend_features: u64,
    driver_features: u64,
    device_features: u64,
    device_id: u32,
    nvqs: u32,
    vq_num_max: u16,
    config_size: u32,
    /// The device's `DMA_MAX_ENTRIES`, which bounds the IOTLB's entries.
    dma_entries: usize,
    vrings: [VringShadow; MAX_VQS],
    kicks: [Option<KBox<KickWatch>>; MAX_VQS],
    errs: [Option<EventCtx>; MAX_VQS],
    /// The IOTLB (asid 0); `None` until the first UPDATE or BATCH_BEGIN creates it.
    iotlb: Option<AddressSpace>,
    /// The character device (null once removed).
    cdev: *mut sys::cdev,
}

// SAFETY: the raw pointers are owned references used only with the mutex held.
unsafe impl Send for Inner {}

/// The eventfds the interrupt path signals, swapped by ioctls.
///
/// # Invariants
///
/// Each non-null pointer is a counted eventfd context reference; they are read and swapped
/// only with `VhostDev::irq_lock` held.
struct IrqState {
    calls: [*mut sys::eventfd_ctx; MAX_VQS],
    config: *mut sys::eventfd_ctx,
}

/// One bound device and its character device.
#[pin_data]
struct VhostDev {
    minor: u32,
    opened: AtomicBool,
    #[pin]
    inner: Mutex<Inner>,
    /// A C spinlock taken with bottom halves off: the interrupt path runs that way.
    #[pin]
    irq_lock: Opaque<sys::spinlock>,
    irq: UnsafeCell<IrqState>,
}

// SAFETY: `irq` is only touched under `irq_lock`; the rest is behind the mutex or atomic.
unsafe impl Send for VhostDev {}
// SAFETY: as above.
unsafe impl Sync for VhostDev {}

impl VhostDev {
    /// Runs `f` on the interrupt state with `irq_lock` held.
    fn with_irq<R>(&self, f: impl FnOnce(&mut IrqState) -> R) -> R {
        // SAFETY: `irq_lock` was initialised at creation; `irq` is only accessed under it.
        unsafe {
            sys::vmdev_helper_spin_lock_bh(self.irq_lock.get());
            let r = f(&mut *self.irq.get());
            sys::vmdev_helper_spin_unlock_bh(self.irq_lock.get());
            r
        }
    }

    fn set_call(&self, idx: usize, ctx: Option<EventCtx>) {
        let new = ctx.map_or(ptr::null_mut(), EventCtx::into_raw);
        let old = self.with_irq(|s| match s.calls.get_mut(idx) {
            Some(slot) => core::mem::replace(slot, new),
            None => new,
        });
        if !old.is_null() {
            // SAFETY: `old` was a counted reference we just took out of the state.
            drop(unsafe { EventCtx::from_raw(old) });
        }
    }

    fn set_config_call(&self, ctx: Option<EventCtx>) {
        let new = ctx.map_or(ptr::null_mut(), EventCtx::into_raw);
        let old = self.with_irq(|s| core::mem::replace(&mut s.config, new));
        if !old.is_null() {
            // SAFETY: as in `set_call`.
            drop(unsafe { EventCtx::from_raw(old) });
        }
    }

    fn drop_eventfds(&self) {
        for i in 0..MAX_VQS {
            self.set_call(i, None);
        }
        self.set_config_call(None);
    }
}

// ---------------------------------------------------------------------------------------------
// Device operations, with `Inner` locked.

impl Inner {
    fn win(&self) -> Result<Window> {
        self.win.ok_or(ENODEV)
    }

    fn owner_of_caller(&self) -> Owner {
        // SAFETY: reads `current->mm`.
        let mm = unsafe { sys::vmdev_helper_current_mm() };
        if self.owner.is_null() {
            Owner::None
        } else if self.owner == mm {
            Owner::Caller
        } else {
            Owner::Other
        }
    }

    /// vhost-vdpa's reset: the device forgets its queues and features; what vhost keeps
    /// (owner, IOTLB, eventfds, backend features) stays.
    fn reset_device(&mut self) -> Result<()> {
        let win = self.win()?;
        let _ = win.write(Register::STATUS, 0);
        self.driver_features = 0;
        for v in self.vrings.iter_mut() {
            *v = VringShadow {
                busyloop_timeout: v.busyloop_timeout,
                ..VringShadow::default()
            };
        }
        Ok(())
    }

    fn set_status(&mut self, new: u8) -> Result<()> {
        let win = self.win()?;
        let old = win.status();
        match vhost_uapi::check_status(old, new).map_err(errno_of)? {
            StatusChange::Reset => self.reset_device(),
            StatusChange::Set(new) => {
                if new & !old & status::FEATURES_OK != 0 {
                    let f = self.driver_features;
                    for (sel, word) in [(0u32, f as u32), (1, (f >> 32) as u32)] {
                        let _ = win.write(Register::DRIVER_FEATURES_SEL, sel);
                        let _ = win.write(Register::DRIVER_FEATURES, word);
                    }
                }
                // As vdpa_set_status(): the device decides what sticks; userspace reads it
                // back.
                let _ = win.write(Register::STATUS, u32::from(new));
                Ok(())
            }
        }
    }

    fn set_features(&mut self, f: u64) -> Result<()> {
        let win = self.win()?;
        if win.status() & status::FEATURES_OK != 0 {
            return Err(EBUSY);
        }
        // The device reaches memory only through IOVA translation under vhost, which is what
        // ACCESS_PLATFORM means; vdpa_sim refuses a driver without it the same way.
        let ap = vmdev_regs::features::ACCESS_PLATFORM;
        if self.device_features & ap != 0 && f & ap == 0 {
            return Err(EINVAL);
        }
        // Like vdpa_sim, keep what the device offers (clients force bits they need).
        self.driver_features = f & self.device_features;
        Ok(())
    }

    fn enable_vring(&mut self, idx: u32, enable: bool) -> Result<()> {
        let win = self.win()?;
        win.select(idx);
        if !enable {
            let _ = win.write(Register::QUEUE_READY, 0);
            return Ok(());
        }
        let v = self
            .vrings
            .get(idx as usize)
            .copied()
            .ok_or(errno_of(errno::ENOBUFS))?;
        let _ = win.write(Register::QUEUE_NUM, u32::from(v.num));
        win.write64(Register::QUEUE_DESC_LOW, Register::QUEUE_DESC_HIGH, v.desc);
        win.write64(
            Register::QUEUE_AVAIL_LOW,
            Register::QUEUE_AVAIL_HIGH,
            v.avail,
        );
        win.write64(Register::QUEUE_USED_LOW, Register::QUEUE_USED_HIGH, v.used);
        // A device that cannot use the ring leaves it disabled; vhost-vdpa does not report
        // set_vq_ready() failures either.
        let _ = win.write(Register::QUEUE_READY, 1);
        Ok(())
    }

    fn set_vring_base(&mut self, idx: u32, base: u16) -> Result<()> {
        let win = self.win()?;
        win.select(idx);
        let ready = win.read(Register::QUEUE_READY) != 0;
        if ready {
            // The register is writable only while the queue is stopped; vdpa parents set the
            // state of an enabled ring (before DRIVER_OK) directly.
            let _ = win.write(Register::QUEUE_READY, 0);
        }
        let _ = win.write(Register::QUEUE_AVAIL_STATE, u32::from(base));
        if ready {
            self.enable_vring(idx, true)?;
        }
        Ok(())
    }

    fn driver_ok(&self) -> bool {
        self.win
            .is_some_and(|w| w.status() & status::DRIVER_OK != 0)
    }

    /// Drops the IOTLB and every pin (close and removal).
    fn drop_iotlb(&mut self) {
        if let Some(mut asp) = self.iotlb.take() {
            asp.clear(self.win);
        }
    }

    /// Close or removal: what `vhost_vdpa_release()` undoes, except the device binding.
    fn cleanup(&mut self, dev: &VhostDev) {
        if self.win.is_some() {
            let _ = self.reset_device();
        }
        for k in self.kicks.iter_mut() {
            *k = None;
        }
        for e in self.errs.iter_mut() {
            *e = None;
        }
        dev.drop_eventfds();
        self.drop_iotlb();
        if !self.owner.is_null() {
            // SAFETY: grabbed at SET_OWNER.
            unsafe { sys::vmdev_helper_mmdrop(self.owner) };
            self.owner = ptr::null_mut();
        }
        self.backend_features = 0;
        self.fork_from_owner = true;
    }
}

// ---------------------------------------------------------------------------------------------
// ioctl and write handlers.

fn user_read<const N: usize>(arg: usize, buf: &mut [u8; N]) -> Result<()> {
    UserSlice::new(arg, N).reader().read_slice(buf)
}

fn user_write(arg: usize, data: &[u8]) -> Result<()> {
    UserSlice::new(arg, data.len()).writer().write_slice(data)
}

fn put_u32(arg: usize, v: u32) -> Result<()> {
    user_write(arg, &v.to_ne_bytes())
}

fn get_state(arg: usize) -> Result<VringState> {
    let mut b = [0u8; VringState::SIZE];
    user_read(arg, &mut b)?;
    Ok(VringState::from_bytes(&b))
}

fn get_file(arg: usize) -> Result<VringFile> {
    let mut b = [0u8; VringFile::SIZE];
    user_read(arg, &mut b)?;
    Ok(VringFile::from_bytes(&b))
}

impl VhostDev {
    fn ioctl(&self, cmd: u32, arg: usize) -> Result<()> {
        let mut inner = self.inner.lock();
        inner.win()?;
        let owner = inner.owner_of_caller();
        let nvqs = inner.nvqs;
        let dispatch = vhost_uapi::preflight(cmd, owner, nvqs, |len| {
            let mut b = [0u8; 8];
            let buf = b.get_mut(..len)?;
            UserSlice::new(arg, len).reader().read_slice(buf).ok()?;
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        })
        .map_err(errno_of)?;
        match dispatch {
            Dispatch::BackendFeatures => {
                let mut b = [0u8; 8];
                user_read(arg, &mut b)?;
                let f = u64::from_ne_bytes(b);
                vhost_uapi::check_backend_features(f, CAPS).map_err(errno_of)?;
                inner.backend_features = f;
                Ok(())
            }
            Dispatch::Device(d) => self.device_ioctl(&mut inner, d, arg),
            Dispatch::SetOwner => {
                // SAFETY: `current->mm` of a task doing an ioctl is its live mm; grabbing it
                // keeps the struct (our identity and pin accounting) until cleanup.
                unsafe {
                    inner.owner = sys::vmdev_helper_current_mm();
                    if inner.owner.is_null() {
                        return Err(EFAULT);
                    }
                    sys::vmdev_helper_mmgrab(inner.owner);
                }
                Ok(())
            }
            Dispatch::SetForkFromOwner => {
                let mut b = [0u8; 1];
                user_read(arg, &mut b)?;
                inner.fork_from_owner =
                    vhost_uapi::check_fork_owner_value(b[0]).map_err(errno_of)?;
                Ok(())
            }
            Dispatch::GetForkFromOwner => user_write(arg, &[u8::from(inner.fork_from_owner)]),
            Dispatch::SetMemTable => {
                // Accepted and unused by vhost-vdpa; validate it the same way.
                let mut h = [0u8; vhost_uapi::MemoryHeader::SIZE];
                user_read(arg, &mut h)?;
                let h = vhost_uapi::MemoryHeader::from_bytes(&h);
                vhost_uapi::check_mem_table_header(&h).map_err(errno_of)?;
                let mut r = [0u8; vhost_uapi::MemoryRegion::SIZE];
                for i in 0..h.nregions as usize {
                    let at = arg
                        .wrapping_add(vhost_uapi::MemoryHeader::SIZE)
                        .wrapping_add(i.wrapping_mul(r.len()));
                    user_read(at, &mut r)?;
                }
                Ok(())
            }
            Dispatch::Vring { cmd, index } => self.vring_ioctl(&mut inner, cmd, index, arg),
        }
    }

    fn device_ioctl(&self, inner: &mut Inner, d: DeviceCmd, arg: usize) -> Result<()> {
        let win = inner.win()?;
        match d {
            DeviceCmd::GetFeatures => user_write(arg, &inner.device_features.to_ne_bytes()),
            DeviceCmd::SetFeatures => {
                let mut b = [0u8; 8];
                user_read(arg, &mut b)?;
                inner.set_features(u64::from_ne_bytes(b))
            }
            DeviceCmd::GetBackendFeatures => user_write(
                arg,
                &vhost_uapi::offered_backend_features(CAPS).to_ne_bytes(),
            ),
            DeviceCmd::GetDeviceId => put_u32(arg, inner.device_id),
            DeviceCmd::GetStatus => user_write(arg, &[win.status()]),
            DeviceCmd::SetStatus => {
                let mut b = [0u8; 1];
                user_read(arg, &mut b)?;
                inner.set_status(b[0])
            }
            DeviceCmd::GetConfig | DeviceCmd::SetConfig => {
                let mut h = [0u8; VdpaConfigHeader::SIZE];
                user_read(arg, &mut h)?;
                let h = VdpaConfigHeader::from_bytes(&h);
                vhost_uapi::check_config_access(h.off, h.len, inner.config_size)
                    .map_err(errno_of)?;
                let base = arg.wrapping_add(VdpaConfigHeader::SIZE);
                let get = d == DeviceCmd::GetConfig;
                win.config(h.off, h.len, |off, n| {
                    let mut b = [0u8; 8];
                    let buf = b.get_mut(..n as usize).ok_or(EINVAL)?;
                    let at = base.wrapping_add(off.wrapping_sub(h.off) as usize);
                    if get {
                        // SAFETY: `buf` has `n` bytes; the transport checks the range.
                        to_result(unsafe {
                            sys::vmdev_config_read(win.0, off, buf.as_mut_ptr().cast(), n)
                        })?;
                        user_write(at, buf)
                    } else {
                        UserSlice::new(at, buf.len()).reader().read_slice(buf)?;
                        // SAFETY: as above.
                        to_result(unsafe {
                            sys::vmdev_config_write(win.0, off, buf.as_ptr().cast(), n)
                        })
                    }
                })
            }
            DeviceCmd::GetVringNum => user_write(arg, &inner.vq_num_max.to_ne_bytes()),
            DeviceCmd::SetConfigCall => {
                let mut b = [0u8; 4];
                user_read(arg, &mut b)?;
                let fd = i32::from_ne_bytes(b);
                let ctx = if fd == vhost_uapi::VHOST_FILE_UNBIND {
                    None
                } else {
                    Some(EventCtx::get(fd)?)
                };
                self.set_config_call(ctx);
                Ok(())
            }
            DeviceCmd::GetIovaRange => user_write(arg, &vhost_uapi::IovaRange::FULL.to_bytes()),
            DeviceCmd::GetConfigSize => put_u32(arg, inner.config_size),
            DeviceCmd::GetAsNum | DeviceCmd::GetGroupNum => put_u32(arg, 1),
            DeviceCmd::GetVqsCount => put_u32(arg, inner.nvqs),
            DeviceCmd::Suspend | DeviceCmd::Resume => {
                // vhost_vdpa_suspend(): a no-op before DRIVER_OK, else the parent's op.
                if inner.driver_ok() {
                    Err(errno_of(errno::EOPNOTSUPP))
                } else {
                    Ok(())
                }
            }
        }
    }

    fn vring_ioctl(&self, inner: &mut Inner, cmd: VringCmd, index: u32, arg: usize) -> Result<()> {
        let win = inner.win()?;
        let i = index as usize;
        match cmd {
            VringCmd::SetNum => {
                let s = get_state(arg)?;
                let num = vhost_uapi::check_vring_num(s.num, inner.vq_num_max).map_err(errno_of)?;
                inner.vrings.get_mut(i).ok_or(errno_of(errno::ENOBUFS))?.num = num;
                Ok(())
            }
            VringCmd::SetAddr => {
                let mut b = [0u8; VringAddr::SIZE];
                user_read(arg, &mut b)?;
                let a = VringAddr::from_bytes(&b);
                vhost_uapi::check_vring_addr(&a).map_err(errno_of)?;
                let v = inner.vrings.get_mut(i).ok_or(errno_of(errno::ENOBUFS))?;
                v.desc = a.desc_user_addr;
                v.avail = a.avail_user_addr;
                v.used = a.used_user_addr;
                // vhost-vdpa updates its copy, then refuses a running device.
                if inner.driver_ok() {
                    return Err(EINVAL);
                }
                Ok(())
            }
            VringCmd::SetBase => {
                let s = get_state(arg)?;
                let base = vhost_uapi::check_vring_base(s.num).map_err(errno_of)?;
                if inner.driver_ok() {
                    return Err(EINVAL);
                }
                inner.set_vring_base(index, base)
            }
            VringCmd::GetBase => {
                win.select(index);
                let num = win.read(Register::QUEUE_AVAIL_STATE) & 0xffff;
                user_write(arg, &VringState { index, num }.to_bytes())
            }
            VringCmd::SetKick => {
                let f = get_file(arg)?;
                let slot = inner.kicks.get_mut(i).ok_or(errno_of(errno::ENOBUFS))?;
                *slot = None;
                if f.fd != vhost_uapi::VHOST_FILE_UNBIND {
                    *slot = Some(KickWatch::start(f.fd, win, index)?);
                }
                Ok(())
            }
            VringCmd::SetCall => {
                let f = get_file(arg)?;
                let ctx = if f.fd == vhost_uapi::VHOST_FILE_UNBIND {
                    None
                } else {
                    Some(EventCtx::get(f.fd)?)
                };
                self.set_call(i, ctx);
                Ok(())
            }
            VringCmd::SetErr => {
                let f = get_file(arg)?;
                let ctx = if f.fd == vhost_uapi::VHOST_FILE_UNBIND {
                    None
                } else {
                    Some(EventCtx::get(f.fd)?)
                };
                // Stored and never signalled, as in vhost-vdpa.
                *inner.errs.get_mut(i).ok_or(errno_of(errno::ENOBUFS))? = ctx;
                Ok(())
            }
            VringCmd::SetBusyloopTimeout => {
                let s = get_state(arg)?;
                inner
                    .vrings
                    .get_mut(i)
                    .ok_or(errno_of(errno::ENOBUFS))?
                    .busyloop_timeout = s.num;
                Ok(())
            }
            VringCmd::GetBusyloopTimeout => {
                let num = inner
                    .vrings
                    .get(i)
                    .ok_or(errno_of(errno::ENOBUFS))?
                    .busyloop_timeout;
                user_write(arg, &VringState { index, num }.to_bytes())
            }
            VringCmd::SetEnable => {
                let s = get_state(arg)?;
                inner.enable_vring(index, s.num != 0)
            }
            VringCmd::GetGroup => user_write(arg, &VringState { index, num: 0 }.to_bytes()),
            VringCmd::SetGroupAsid => {
                let s = get_state(arg)?;
                vhost_uapi::check_group_asid(s.index, s.num, 1, 1).map_err(errno_of)
            }
            VringCmd::GetDescGroup | VringCmd::GetSize => Err(errno_of(errno::EOPNOTSUPP)),
            VringCmd::Endian | VringCmd::Unhandled => Err(ENOTTY),
        }
    }

    /// One IOTLB message (`vhost_chr_write_iter()` + `vhost_vdpa_process_iotlb_msg()`).
    fn iotlb_write(&self, buf: usize, count: usize) -> Result<usize> {
        let mut inner = self.inner.lock();
        let win = inner.win()?;
        let mut b = [0u8; vhost_uapi::VHOST_MSG_SIZE];
        let n = count.min(b.len());
        let msg_bytes = b.get_mut(..n).ok_or(EINVAL)?;
        UserSlice::new(buf, n).reader().read_slice(msg_bytes)?;
        let asid_acked = inner.backend_features & vhost_uapi::BACKEND_IOTLB_ASID != 0;
        let parsed = vhost_uapi::parse_iotlb_write(msg_bytes, asid_acked).map_err(errno_of)?;
        self.iotlb_msg(&mut inner, win, parsed.asid, &parsed.msg)
            .map_err(|e| errno_of(vhost_uapi::write_errno(-e.to_errno())))?;
        Ok(parsed.consumed_reply)
    }

    fn iotlb_msg(
        &self,
        inner: &mut Inner,
        win: Window,
        asid: u32,
        msg: &vhost_uapi::IotlbMsg,
    ) -> Result<()> {
        if inner.owner_of_caller() != Owner::Caller {
            return Err(EPERM);
        }
        let kind = vhost_uapi::check_iotlb_kind(msg.kind).map_err(errno_of)?;
        // One address space (nas = 1).
        if asid != 0 {
            return Err(EINVAL);
        }
        if kind.allocates_as() && inner.iotlb.is_none() {
            inner.iotlb = Some(AddressSpace::new(inner.owner, inner.dma_entries)?);
        }
        let asp = inner.iotlb.as_mut().ok_or(EINVAL)?;
        match kind {
            IotlbKind::Update => {
                let last =
                    vhost_uapi::check_update_range(msg.iova, msg.size, vhost_uapi::IovaRange::FULL)
                        .map_err(errno_of)?;
                if asp.overlaps(msg.iova, last) {
                    return Err(EEXIST);
                }
                asp.map(win, msg.iova, msg.size, msg.uaddr, msg.perm)
            }
            IotlbKind::Invalidate => {
                asp.invalidate(Some(win), msg.iova, msg.size);
                Ok(())
            }
            // Every update reaches the device's table at once (vhost-vdpa's dma_map parents
            // behave the same), so a batch needs no state: BEGIN only creates the address
            // space and END only requires it.
            IotlbKind::BatchBegin | IotlbKind::BatchEnd => Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The registry of devices by minor, and the file operations.

struct Registry {
    devs: [Option<Arc<VhostDev>>; MAX_DEVICES],
    major: u32,
    class: *mut sys::class,
}

// SAFETY: the class pointer is set once at init and used under the registry mutex.
unsafe impl Send for Registry {}

/// The module's registry; set between init and drop (file operations and driver callbacks
/// only run in between: fops hold a module reference, the driver is unregistered first).
static REGISTRY: AtomicPtr<Mutex<Registry>> = AtomicPtr::new(ptr::null_mut());

fn registry() -> &'static Mutex<Registry> {
    // SAFETY: see `REGISTRY`.
    unsafe { &*REGISTRY.load(Ordering::Acquire) }
}

fn devt(major: u32, minor: u32) -> u32 {
    (major << 20) | minor
}

/// # Safety
///
/// `file` must be one of ours, between open and release.
unsafe fn file_dev<'a>(file: *mut sys::file) -> ArcBorrow<'a, VhostDev> {
    // SAFETY: open stored `Arc::into_raw` in `private_data`; release takes it back.
    unsafe { ArcBorrow::from_raw((*file).private_data.cast()) }
}

fn ret(r: Result<()>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Called by the VFS for one of our character devices.
unsafe extern "C" fn vhost_open(inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: a live inode of our region.
    let minor = unsafe { (*inode).i_rdev } & 0xf_ffff;
    let dev = {
        let reg = registry().lock();
        match reg.devs.get(minor as usize) {
            Some(Some(d)) => d.clone(),
            _ => return ENODEV.to_errno(),
        }
    };
    // Exclusive, as vhost_vdpa_open().
    if dev
        .opened
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return EBUSY.to_errno();
    }
    {
        let mut inner = dev.inner.lock();
        if inner.win.is_none() {
            drop(inner);
            dev.opened.store(false, Ordering::Release);
            return ENODEV.to_errno();
        }
        let _ = inner.reset_device();
        inner.backend_features = 0;
    }
    // SAFETY: `file` is being opened; nobody else uses `private_data` yet.
    unsafe {
        (*file).private_data = Arc::into_raw(dev).cast_mut().cast();
        sys::nonseekable_open(inode, file)
    }
}

/// # Safety
///
/// Called by the VFS once for each successful open.
unsafe extern "C" fn vhost_release(_inode: *mut sys::inode, file: *mut sys::file) -> c_int {
    // SAFETY: `private_data` holds the reference open took.
    let dev = unsafe { Arc::<VhostDev>::from_raw((*file).private_data.cast()) };
    dev.inner.lock().cleanup(&dev);
    dev.opened.store(false, Ordering::Release);
    0
}

/// # Safety
///
/// Called by the VFS for an open file of ours.
unsafe extern "C" fn vhost_ioctl(file: *mut sys::file, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: per the contract.
    let dev = unsafe { file_dev(file) };
    ret(dev.ioctl(cmd, arg)) as c_long
}

/// # Safety
///
/// Called by the VFS for an open file of ours; `buf` is a user pointer.
unsafe extern "C" fn vhost_write(
    file: *mut sys::file,
    buf: *const c_char,
    count: usize,
    _pos: *mut sys::loff_t,
) -> isize {
    // SAFETY: per the contract.
    let dev = unsafe { file_dev(file) };
    match dev.iotlb_write(buf as usize, count) {
        Ok(n) => n as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// The doorbell mmap of vhost-vdpa, refused with its checks and errno: this driver has no
/// doorbell pages, so after the generic checks it answers as vhost-vdpa does for a parent
/// without `get_vq_notification` (ENOTSUPP), and QEMU falls back to the kick eventfd.
///
/// # Safety
///
/// Called by the VFS with a VMA being set up.
unsafe extern "C" fn vhost_mmap(_file: *mut sys::file, vma: *mut sys::vm_area_struct) -> c_int {
    const VM_READ: c_ulong = 0x1;
    const VM_SHARED: c_ulong = 0x8;
    const ENOTSUPP: c_int = 524;
    // SAFETY: a live VMA.
    let (start, end, flags) = unsafe {
        (
            (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_start,
            (*vma).__bindgen_anon_1.__bindgen_anon_1.vm_end,
            (*vma).__bindgen_anon_2.vm_flags,
        )
    };
    if end.wrapping_sub(start) != 4096 || flags & VM_SHARED == 0 || flags & VM_READ != 0 {
        return EINVAL.to_errno();
    }
    -ENOTSUPP
}

static FOPS: CStatic<sys::file_operations> = CStatic::new(sys::file_operations {
    open: Some(vhost_open),
    release: Some(vhost_release),
    unlocked_ioctl: Some(vhost_ioctl),
    // No compat_ioctl: the test kernels have no 32-bit userspace (CONFIG_COMPAT off).
    write: Some(vhost_write),
    mmap: Some(vhost_mmap),
    // SAFETY: the remaining fields are optional and valid when zero; `owner` is set at init.
    ..unsafe { zeroed() }
});

// ---------------------------------------------------------------------------------------------
// The driver on the vmdev bus.

/// # Safety
///
/// Called by the transport to bind `vdev`.
unsafe extern "C" fn vhost_probe(vdev: *mut sys::vmdev_device) -> c_int {
    // SAFETY: per the contract.
    match unsafe { probe(vdev) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// As for `vhost_probe`.
unsafe fn probe(vdev: *mut sys::vmdev_device) -> Result<()> {
    let win = Window(vdev);
    let dma_entries = win.read(Register::DMA_MAX_ENTRIES);
    if dma_entries == 0 {
        // Without translation the device would take userspace addresses as physical ones.
        return Err(ENODEV);
    }
    let nvqs = win.read(Register::NUM_QUEUES);
    if nvqs == 0 || nvqs as usize > MAX_VQS {
        return Err(ENODEV);
    }
    let _ = win.write(Register::STATUS, 0);
    win.dma(dma::CMD_TRANSLATE_ON, 0, 0, 0, 0)?;
    let mut features = 0u64;
    for sel in 0..2u32 {
        let _ = win.write(Register::DEVICE_FEATURES_SEL, sel);
        features |= u64::from(win.read(Register::DEVICE_FEATURES)) << (32 * sel);
    }
    win.select(0);
    let vq_num_max = win.read(Register::QUEUE_NUM_MAX).min(0xffff) as u16;
    let inner = Inner {
        win: Some(win),
        owner: ptr::null_mut(),
        fork_from_owner: true,
        backend_features: 0,
        driver_features: 0,
        device_features: features,
        device_id: win.read(Register::DEVICE_ID),
        nvqs,
        vq_num_max,
        config_size: win.read(Register::CONFIG_SIZE),
        dma_entries: dma_entries as usize,
        vrings: [VringShadow::default(); MAX_VQS],
        kicks: [const { None }; MAX_VQS],
        errs: [const { None }; MAX_VQS],
        iotlb: None,
        cdev: ptr::null_mut(),
    };
    let res = (|| {
        let mut reg = registry().lock();
        let minor = reg.devs.iter().position(Option::is_none).ok_or(ENOSPC)? as u32;
        let dev = Arc::pin_init(
            pin_init!(VhostDev {
                minor,
                opened: AtomicBool::new(false),
                inner <- new_mutex!(inner, "vhost_mdev::inner"),
                // SAFETY: spin_lock_init on the pinned, not yet shared lock.
                irq_lock <- Opaque::ffi_init(|l| unsafe { sys::vmdev_helper_spin_lock_init(l) }),
                irq: UnsafeCell::new(IrqState {
                    calls: [ptr::null_mut(); MAX_VQS],
                    config: ptr::null_mut(),
                }),
            }),
            GFP_KERNEL,
        )?;
        let dt = devt(reg.major, minor);
        // SAFETY: allocating and adding a character device for our region; on failure the
        // kobject reference is dropped.
        let cdev = unsafe {
            let c = sys::cdev_alloc();
            if c.is_null() {
                return Err(ENOMEM);
            }
            (*c).ops = FOPS.get();
            (*c).owner = (*FOPS.get()).owner;
            if let Err(e) = to_result(sys::cdev_add(c, dt, 1)) {
                sys::kobject_put(ptr::addr_of_mut!((*c).kobj));
                return Err(e);
            }
            c
        };
        // SAFETY: the class lives until module exit; the parent is the bound vmdev device.
        if let Err(e) = from_err_ptr(unsafe {
            sys::device_create(
                reg.class,
                sys::vmdev_to_dev(vdev),
                dt,
                ptr::null_mut(),
                c"vhost-mdev-%u".as_ptr().cast(),
                minor,
            )
        }) {
            // SAFETY: added above.
            unsafe { sys::cdev_del(cdev) };
            return Err(e);
        }
        dev.inner.lock().cdev = cdev;
        // The binding's reference; `remove` takes it back.
        // SAFETY: `vdev` is being bound to us.
        unsafe { sys::vmdev_set_driver_data(vdev, Arc::into_raw(dev.clone()).cast_mut().cast()) };
        if let Some(slot) = reg.devs.get_mut(minor as usize) {
            *slot = Some(dev);
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = win.dma(dma::CMD_TRANSLATE_OFF, 0, 0, 0, 0);
    }
    res
}

/// # Safety
///
/// Called by the transport to unbind `vdev`, which we bound.
unsafe extern "C" fn vhost_remove(vdev: *mut sys::vmdev_device) {
    // SAFETY: probe stored the binding's reference.
    let dev = unsafe { Arc::<VhostDev>::from_raw(sys::vmdev_get_driver_data(vdev).cast()) };
    let (major, class) = {
        let mut reg = registry().lock();
        if let Some(slot) = reg.devs.get_mut(dev.minor as usize) {
            *slot = None;
        }
        (reg.major, reg.class)
    };
    let mut inner = dev.inner.lock();
    // SAFETY: created in probe; new opens now fail (the registry slot is empty) and open
    // files keep the dynamically allocated cdev alive.
    unsafe {
        sys::cdev_del(inner.cdev);
        sys::device_destroy(class, devt(major, dev.minor));
    }
    inner.cdev = ptr::null_mut();
    // An open file keeps `dev`; from now on its calls fail with ENODEV and close only frees.
    inner.cleanup(&dev);
    if let Some(win) = inner.win.take() {
        let _ = win.write(Register::STATUS, 0);
        let _ = win.dma(dma::CMD_TRANSLATE_OFF, 0, 0, 0, 0);
    }
    // SAFETY: the device is reset: no interrupt is running or will come (vmdev.h).
    unsafe { sys::vmdev_set_driver_data(vdev, ptr::null_mut()) };
}

/// # Safety
///
/// Called by the transport with bottom halves off, for a device we bound.
unsafe extern "C" fn vhost_vq_interrupt(vdev: *mut sys::vmdev_device, queue: u32) {
    // SAFETY: the binding's reference is live until remove, which resets the device first.
    let p: *const VhostDev = unsafe { sys::vmdev_get_driver_data(vdev) }.cast();
    if p.is_null() {
        return;
    }
    // SAFETY: as above.
    let dev = unsafe { &*p };
    dev.with_irq(|s| {
        if let Some(&ctx) = s.calls.get(queue as usize) {
            // SAFETY: referenced while in the state, which we hold locked.
            unsafe { eventfds::signal(ctx) };
        }
    });
}

/// # Safety
///
/// As for `vhost_vq_interrupt`.
unsafe extern "C" fn vhost_config_changed(vdev: *mut sys::vmdev_device) {
    // SAFETY: as in `vhost_vq_interrupt`.
    let p: *const VhostDev = unsafe { sys::vmdev_get_driver_data(vdev) }.cast();
    if p.is_null() {
        return;
    }
    // SAFETY: as above.
    let dev = unsafe { &*p };
    // SAFETY: referenced while in the state, which we hold locked.
    dev.with_irq(|s| unsafe { eventfds::signal(s.config) });
}

static ID_TABLE: [sys::vmdev_device_id; 2] = [
    sys::vmdev_device_id {
        device_id: sys::VMDEV_ANY_ID,
    },
    sys::vmdev_device_id { device_id: 0 },
];

static DRIVER: CStatic<sys::vmdev_driver> = CStatic::new(sys::vmdev_driver {
    name: c"vhost_mdev".as_ptr().cast(),
    id_table: ID_TABLE.as_ptr(),
    probe: Some(vhost_probe),
    remove: Some(vhost_remove),
    vq_interrupt: Some(vhost_vq_interrupt),
    config_changed: Some(vhost_config_changed),
    // SAFETY: the transport fills in the embedded driver at registration.
    driver: unsafe { zeroed() },
});

#[repr(transparent)]
struct CStatic<T>(UnsafeCell<T>);

// SAFETY: Rust code only takes the address of the contents; the C side serialises access.
unsafe impl<T> Sync for CStatic<T> {}

impl<T> CStatic<T> {
    const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
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

// ---------------------------------------------------------------------------------------------
// Module.

struct VhostMdevModule {
    registry: Pin<KBox<Mutex<Registry>>>,
}

impl kernel::Module for VhostMdevModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let mut first = 0u32;
        // SAFETY: allocates a region of minors under our name.
        to_result(unsafe {
            sys::alloc_chrdev_region(
                &mut first,
                0,
                MAX_DEVICES as u32,
                REGION_NAME.as_ptr().cast(),
            )
        })?;
        let major = first >> 20;
        // SAFETY: creates our class.
        let class = match from_err_ptr(unsafe { sys::class_create(CLASS_NAME.as_ptr().cast()) }) {
            Ok(c) => c,
            Err(e) => {
                // SAFETY: allocated above.
                unsafe { sys::unregister_chrdev_region(first, MAX_DEVICES as u32) };
                return Err(e);
            }
        };
        let registry = KBox::pin_init(
            new_mutex!(
                Registry {
                    devs: [const { None }; MAX_DEVICES],
                    major,
                    class,
                },
                "vhost_mdev::registry"
            ),
            GFP_KERNEL,
        );
        let registry = match registry {
            Ok(r) => r,
            Err(e) => {
                // SAFETY: created above.
                unsafe {
                    sys::class_destroy(class);
                    sys::unregister_chrdev_region(first, MAX_DEVICES as u32);
                }
                return Err(e);
            }
        };
        REGISTRY.store(
            ptr::from_ref::<Mutex<Registry>>(&registry).cast_mut(),
            Ordering::Release,
        );
        // SAFETY: before any file can be opened: no device exists yet.
        unsafe { (*FOPS.get()).owner = module.as_ptr().cast() };
        // SAFETY: `DRIVER` is a static that outlives the registration.
        let registered =
            unsafe { sys::vmdev_register_driver(DRIVER.get(), module.as_ptr().cast()) };
        if let Err(e) = to_result(registered) {
            REGISTRY.store(ptr::null_mut(), Ordering::Release);
            // SAFETY: created above, nothing uses them.
            unsafe {
                sys::class_destroy(class);
                sys::unregister_chrdev_region(first, MAX_DEVICES as u32);
            }
            return Err(e);
        }
        Ok(VhostMdevModule { registry })
    }
}

impl Drop for VhostMdevModule {
    fn drop(&mut self) {
        // Unbinds every device; no file is open (each holds a module reference).
        // SAFETY: registered in `init`.
        unsafe { sys::vmdev_unregister_driver(DRIVER.get()) };
        let (major, class) = {
            let r = self.registry.lock();
            (r.major, r.class)
        };
        // SAFETY: created in `init`; nothing uses them any more.
        unsafe {
            sys::class_destroy(class);
            sys::unregister_chrdev_region(devt(major, 0), MAX_DEVICES as u32);
        }
        REGISTRY.store(ptr::null_mut(), Ordering::Release);
    }
}
