// SPDX-License-Identifier: GPL-2.0
//! The state of one bound device, and what vhost operations do to it.
//!
//! Everything the ioctls change is in [`Inner`], under one mutex (vhost-vdpa's `d->mutex`);
//! the call eventfds the interrupt path signals are in [`IrqState`], under a spinlock taken
//! with bottom halves off, which is how the transport delivers interrupts. Vring settings are
//! kept here and written to the `QUEUE_*` registers when userspace enables the ring, as vdpa
//! parents record them until `set_vq_ready`.

use super::kglue::chrdev::Node;
use super::kglue::eventfd::{EventCtx, Kick, KickWatch};
use super::kglue::mm::OwnerMm;
use super::kglue::sync::BhSpinLock;
use super::kglue::window::Window;
use super::migration::PinnedLog;
use super::pinned_iotlb::AddressSpace;
use super::unpin_worker::Releaser;
use super::vhost_uapi::{
    self, errno, BackendCaps, FeaturesChange, IotlbBatch, Owner, StatusChange, SuspendAction,
};
use super::vmdev_regs::map::Register;
use super::vmdev_regs::{features, status, MAX_AS};
use core::sync::atomic::AtomicBool;
use kernel::error::code::{EINVAL, ENODEV};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// The most queues a device may have under this driver.
pub(crate) const MAX_VQS: usize = 32;

/// `VHOST_F_LOG_ALL` as a feature bit: offered by a device with `CAP_DIRTY_LOG`, kept in
/// the driver features vhost_mdev reports, never written to the device (whose feature bit 26
/// means nothing); the device learns it through `LOG_CTRL`.
pub(crate) const LOG_ALL: u64 = 1 << vhost_uapi::VHOST_F_LOG_ALL;

/// Writes queue `QUEUE_SEL`'s `QUEUE_USED_LOG`: the high word first, since the low word's
/// write applies the pair.
pub(crate) fn write_used_log(win: &Window, v: u64) -> Result {
    win.write(Register::QUEUE_USED_LOG_HIGH, (v >> 32) as u32)?;
    win.write(Register::QUEUE_USED_LOG_LOW, v as u32)
}

/// A vhost errno (positive) as an error.
pub(crate) fn errno_of(e: i32) -> Error {
    Error::from_errno(-e)
}

/// What userspace set for one vring, written to the device when it enables the ring.
#[derive(Clone, Copy, Default)]
pub(crate) struct VringShadow {
    pub(crate) num: u16,
    pub(crate) desc: u64,
    pub(crate) avail: u64,
    pub(crate) used: u64,
    pub(crate) busyloop_timeout: u32,
    /// `QUEUE_USED_LOG` as `VHOST_SET_VRING_ADDR` asked: `log_guest_addr`, with
    /// `log::QUEUE_LOG_USED` set if the ring has `VHOST_VRING_F_LOG`.
    pub(crate) used_log: u64,
    /// Where the ring stood when a reset stopped the running device, until the ring is set
    /// up again: `GET_VRING_BASE` answers it (QEMU 7.2 asks only after the reset).
    pub(crate) base_at_reset: Option<u16>,
    /// `GET_VRING_BASE` stopped the running ring (see [`Inner::stop_vring_for_base`]).
    pub(crate) stopped: bool,
}

/// Rings a queue's doorbell when its kick eventfd is signalled (the one register the transport
/// lets anyone write from atomic context).
pub(crate) struct Doorbell {
    pub(crate) window: Window,
    pub(crate) index: u32,
}

impl Kick for Doorbell {
    fn kick(&self) {
        // Refused only for an out-of-range queue, which the ioctl already checked.
        let _ = self.window.notify(self.index);
    }
}

/// Everything the ioctls change.
pub(crate) struct Inner {
    /// `None` once the device was removed: every call then fails with ENODEV.
    pub(crate) win: Option<Window>,
    /// The owner's address space (`SET_OWNER`).
    pub(crate) owner: Option<OwnerMm>,
    pub(crate) fork_from_owner: bool,
    /// What the device can do, as far as backend features depend on it.
    pub(crate) caps: BackendCaps,
    /// `VHOST_VDPA_SUSPEND` succeeded and no resume or reset followed (vhost-vdpa's
    /// `v->suspended`).
    pub(crate) suspended: bool,
    /// The device's virtqueue groups (`NUM_GROUPS`) and address spaces (`NUM_AS`).
    pub(crate) ngroups: u32,
    pub(crate) nas: u32,
    /// The open IOTLB batch, if any.
    pub(crate) batch: IotlbBatch,
    pub(crate) backend_features: u64,
    pub(crate) driver_features: u64,
    pub(crate) device_features: u64,
    pub(crate) device_id: u32,
    pub(crate) nvqs: u32,
    pub(crate) vq_num_max: u16,
    pub(crate) config_size: u32,
    /// The device's `DMA_MAX_ENTRIES`, which bounds the IOTLB's entries.
    pub(crate) dma_entries: usize,
    pub(crate) vrings: [VringShadow; MAX_VQS],
    pub(crate) kicks: [Option<KickWatch<Doorbell>>; MAX_VQS],
    pub(crate) errs: [Option<EventCtx>; MAX_VQS],
    /// The IOTLB of each address space; `None` until the first UPDATE or BATCH_BEGIN for it
    /// creates it.
    pub(crate) iotlb: [Option<AddressSpace>; MAX_AS as usize],
    /// The dirty log (`VHOST_SET_LOG_BASE`), pinned and mapped in the device's log address
    /// space, until it is replaced or the device closed.
    pub(crate) log: Option<PinnedLog>,
    /// Address spaces dropped (by a close) with runs the device refused to unmap: their pages
    /// stay pinned until the device stops translating, at removal.
    pub(crate) retired: KVec<AddressSpace>,
    /// The character device, until the device is removed.
    pub(crate) node: Option<Node>,
    /// The module's worker that unpins what INVALIDATE removed.
    pub(crate) releaser: Arc<Releaser>,
}

/// The eventfds the interrupt path signals.
pub(crate) struct IrqState {
    calls: [Option<EventCtx>; MAX_VQS],
    config: Option<EventCtx>,
}

/// One bound device and its character device.
#[pin_data]
pub(crate) struct VhostDev {
    pub(crate) minor: u32,
    /// Held by the one open file (vhost-vdpa devices are exclusive).
    pub(crate) opened: AtomicBool,
    #[pin]
    pub(crate) inner: Mutex<Inner>,
    #[pin]
    irq: BhSpinLock<IrqState>,
}

impl VhostDev {
    /// A device with minor `minor` and state `inner`.
    pub(crate) fn new(minor: u32, inner: Inner) -> impl PinInit<Self> {
        pin_init!(VhostDev {
            minor,
            opened: AtomicBool::new(false),
            inner <- new_mutex!(inner, "vhost_mdev::inner"),
            irq <- crate::new_bh_spinlock!(
                IrqState {
                    calls: [const { None }; MAX_VQS],
                    config: None,
                },
                "vhost_mdev::irq"
            ),
        })
    }

    /// Sets (or clears) queue `idx`'s call eventfd.
    pub(crate) fn set_call(&self, idx: usize, ctx: Option<EventCtx>) {
        // The old context is put after the lock is dropped.
        let _old = match self.irq.lock().calls.get_mut(idx) {
            Some(slot) => core::mem::replace(slot, ctx),
            None => ctx,
        };
    }

    /// Sets (or clears) the config call eventfd.
    pub(crate) fn set_config_call(&self, ctx: Option<EventCtx>) {
        let _old = core::mem::replace(&mut self.irq.lock().config, ctx);
    }

    /// Drops every call eventfd.
    pub(crate) fn drop_eventfds(&self) {
        for i in 0..MAX_VQS {
            self.set_call(i, None);
        }
        self.set_config_call(None);
    }

    /// The device's interrupt for queue `queue`: signals its call eventfd.
    pub(crate) fn signal_call(&self, queue: u32) {
        if let Some(Some(ctx)) = self.irq.lock().calls.get(queue as usize) {
            ctx.signal();
        }
    }

    /// The device's config interrupt: signals the config eventfd.
    pub(crate) fn signal_config(&self) {
        if let Some(ctx) = &self.irq.lock().config {
            ctx.signal();
        }
    }
}

impl Inner {
    /// The register window; `ENODEV` once the device was removed.
    pub(crate) fn win(&self) -> Result<&Window> {
        self.win.as_ref().ok_or(ENODEV)
    }

    /// The caller's relation to the owner.
    pub(crate) fn owner_of_caller(&self) -> Owner {
        match &self.owner {
            None => Owner::None,
            Some(mm) if mm.is_current() => Owner::Caller,
            Some(_) => Owner::Other,
        }
    }

    /// vhost-vdpa's reset: the device forgets its queues and features; what vhost keeps
    /// (owner, IOTLB, eventfds, backend features) stays.
    ///
    /// A running device's ring positions are kept for `GET_VRING_BASE`: QEMU before 8.0 reads
    /// the last device's rings (the control queue's, when there is one) only after it reset
    /// the device, and a device that answered 0 then would have QEMU replay old commands.
    pub(crate) fn reset_device(&mut self) -> Result {
        let win = self.win()?;
        let mut bases = [None; MAX_VQS];
        if win.status() & status::DRIVER_OK != 0 {
            for ((i, base), v) in (0..self.nvqs).zip(bases.iter_mut()).zip(self.vrings.iter()) {
                // A ring GET_VRING_BASE stopped keeps its state registers until the reset.
                let ready = win.select_queue(i).is_ok() && win.read(Register::QUEUE_READY) == 1;
                if ready || v.stopped {
                    *base = Some(win.read(Register::QUEUE_AVAIL_STATE) as u16);
                }
            }
        }
        win.reset();
        self.suspended = false;
        self.driver_features = 0;
        for (v, base) in self.vrings.iter_mut().zip(bases) {
            *v = VringShadow {
                busyloop_timeout: v.busyloop_timeout,
                base_at_reset: base,
                ..VringShadow::default()
            };
        }
        // The reset cleared the device's log registers; the log itself stays pinned and
        // mapped (QEMU sets it again when it restarts a logging device, which replaces it).
        self.apply_log()
    }

    pub(crate) fn set_status(&mut self, new: u8) -> Result {
        let win = self.win()?;
        let old = win.status();
        match vhost_uapi::check_status(old, new).map_err(errno_of)? {
            StatusChange::Reset => self.reset_device(),
            StatusChange::Set(new) => {
                // As vdpa_set_status(): the device decides what sticks; userspace reads it
                // back. vhost-vdpa takes any bits at once, but the register file takes each
                // step in the virtio order (the driver features only once DRIVER is set,
                // DRIVER_OK only after FEATURES_OK), so a status that adds several steps is
                // written one step at a time.
                let set = |s: u8| {
                    let _ = win.write(Register::STATUS, u32::from(s));
                };
                if new & !old & status::FEATURES_OK != 0 {
                    let before = new & !(status::FEATURES_OK | status::DRIVER_OK);
                    if before & !old != 0 {
                        set(before);
                    }
                    // A refused word reads back as missing FEATURES_OK, which userspace sees.
                    let _ = win.set_driver_features(self.driver_features & !LOG_ALL);
                    if new & status::DRIVER_OK != 0 {
                        set(new & !status::DRIVER_OK);
                    }
                }
                set(new);
                Ok(())
            }
        }
    }

    pub(crate) fn set_features(&mut self, f: u64) -> Result {
        let features_ok = self.win()?.status() & status::FEATURES_OK != 0;
        let change = vhost_uapi::check_set_features(
            features_ok,
            self.device_features,
            self.driver_features,
            f,
        )
        .map_err(errno_of)?;
        if let FeaturesChange::Log(on) = change {
            // QEMU starts and stops logging this way while the device runs.
            self.driver_features = (self.driver_features & !LOG_ALL) | if on { LOG_ALL } else { 0 };
            return self.apply_log();
        }
        // The device reaches memory only through IOVA translation under vhost, which is what
        // ACCESS_PLATFORM means; vdpa_sim refuses a driver without it the same way.
        let ap = features::ACCESS_PLATFORM;
        if self.device_features & ap != 0 && f & ap == 0 {
            return Err(EINVAL);
        }
        // Like vdpa_sim, keep what the device offers (clients force bits they need).
        self.driver_features = f & self.device_features;
        Ok(())
    }

    pub(crate) fn enable_vring(&mut self, idx: u32, enable: bool) -> Result {
        let slot = self
            .vrings
            .get_mut(idx as usize)
            .ok_or(errno_of(errno::ENOBUFS))?;
        if enable {
            slot.base_at_reset = None;
            slot.stopped = false;
        }
        let v = *slot;
        let win = self.win()?;
        win.select_queue(idx)?;
        if !enable {
            return win.write(Register::QUEUE_READY, 0);
        }
        // A device that cannot use the ring leaves it disabled; vhost-vdpa does not report
        // set_vq_ready() failures either, so neither are these writes'.
        let _ = win.write(Register::QUEUE_NUM, u32::from(v.num));
        let _ = win.write64(Register::QUEUE_DESC_LOW, Register::QUEUE_DESC_HIGH, v.desc);
        let _ = win.write64(
            Register::QUEUE_AVAIL_LOW,
            Register::QUEUE_AVAIL_HIGH,
            v.avail,
        );
        let _ = win.write64(Register::QUEUE_USED_LOW, Register::QUEUE_USED_HIGH, v.used);
        if self.device_features & LOG_ALL != 0 {
            let _ = write_used_log(win, v.used_log);
        }
        let _ = win.write(Register::QUEUE_READY, 1);
        Ok(())
    }

    pub(crate) fn set_vring_base(&mut self, idx: u32, base: u16) -> Result {
        if let Some(v) = self.vrings.get_mut(idx as usize) {
            v.base_at_reset = None;
            v.stopped = false;
        }
        let win = self.win()?;
        win.select_queue(idx)?;
        let ready = win.read(Register::QUEUE_READY) == 1;
        if ready {
            // The register is writable only while the queue is stopped; vdpa parents set the
            // state of an enabled ring (before DRIVER_OK) directly.
            win.write(Register::QUEUE_READY, 0)?;
        }
        let _ = win.write(Register::QUEUE_AVAIL_STATE, u32::from(base));
        if ready {
            self.enable_vring(idx, true)?;
        }
        Ok(())
    }

    /// `VHOST_VDPA_SUSPEND` (`suspend`) or `VHOST_VDPA_RESUME`: a no-op before `DRIVER_OK`,
    /// else the device's `SUSPEND` register, which has taken effect when the write returns.
    pub(crate) fn suspend(&mut self, suspend: bool) -> Result {
        let can = if suspend {
            self.caps.suspend
        } else {
            self.caps.resume
        };
        match vhost_uapi::check_suspend(self.driver_ok(), can).map_err(errno_of)? {
            SuspendAction::Nothing => Ok(()),
            SuspendAction::Device => {
                let win = self.win()?;
                win.write(Register::SUSPEND, u32::from(suspend))?;
                if win.read(Register::SUSPEND) != u32::from(suspend) {
                    return Err(errno_of(errno::EIO));
                }
                self.suspended = suspend;
                Ok(())
            }
        }
    }

    /// Makes a suspended device's enabled ring `idx` use the addresses and size in its shadow:
    /// the queue is stopped (which records its position) and started again from there.
    pub(crate) fn reload_vring(&mut self, idx: u32) -> Result {
        let win = self.win()?;
        win.select_queue(idx)?;
        if win.read(Register::QUEUE_READY) != 1 {
            return Ok(());
        }
        win.write(Register::QUEUE_READY, 0)?;
        self.enable_vring(idx, true)
    }

    pub(crate) fn driver_ok(&self) -> bool {
        self.win()
            .is_ok_and(|w| w.status() & status::DRIVER_OK != 0)
    }

    /// Drops every IOTLB and every pin (close and removal), except the pins of runs the
    /// device refused to unmap, which wait in `retired` for the device to stop translating.
    pub(crate) fn drop_iotlb(&mut self) {
        for i in 0..self.iotlb.len() {
            if let Some(asp) = self.iotlb.get_mut(i).and_then(Option::take) {
                self.retire(asp);
            }
        }
        if let Some(log) = self.log.take() {
            let asp = log.into_space();
            self.retire(asp);
        }
        // Spaces retired by earlier closes: the device may take the unmaps now.
        let retired = core::mem::take(&mut self.retired);
        if self.retired.reserve(retired.len(), GFP_KERNEL).is_ok() {
            for mut asp in retired {
                if !asp.release_held(self.win.as_ref()) {
                    // Cannot fail: there is room.
                    let _ = self.retired.push(asp, GFP_KERNEL);
                }
            }
        } else {
            self.retired = retired;
        }
        self.batch = IotlbBatch::default();
        // A closed device holds no pin, not even one an INVALIDATE left to the worker.
        self.releaser.flush();
    }

    /// Releases address space `asp`, or keeps it in `retired` if the device refused to unmap
    /// some of it.
    pub(crate) fn retire(&mut self, mut asp: AddressSpace) {
        if asp.clear(self.win.as_ref()) {
            return;
        }
        if self.retired.reserve(1, GFP_KERNEL).is_err() {
            // Dropping it would unpin pages the device may still reach.
            pr_warn!("vhost_mdev: leaking pins the device refused to unmap\n");
            core::mem::forget(asp);
            return;
        }
        // Cannot fail: there is room.
        let _ = self.retired.push(asp, GFP_KERNEL);
    }

    /// Close or removal: what `vhost_vdpa_release()` undoes, except the device binding.
    pub(crate) fn cleanup(&mut self, dev: &VhostDev) {
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
        self.owner = None;
        self.backend_features = 0;
        self.fork_from_owner = true;
    }
}
