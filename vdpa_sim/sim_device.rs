// SPDX-License-Identifier: GPL-2.0
//! The simulator's device core: what every simulated device does, whatever its class.
//!
//! A [`SimDevice`] is one instance: the register file (`vmdev_regs::RegisterFile`: status and
//! feature negotiation, per-queue registers), its split queues, the DMA translation table
//! (`sim_dma.rs`), and a worker that runs the device class's packet path. The class (net:
//! `net.rs`) is a [`DeviceClass`]: its config space, its per-instance state, and one pass of
//! its datapath over the queues. The core is to the classes what upstream's vdpa_sim.c is to
//! vdpa_sim_net.c and vdpa_sim_blk.c.
//!
//! All of an instance's state is under one mutex. The doorbell (`QUEUE_NOTIFY`) only queues
//! the worker, so drivers may ring it from any context. Interrupts are raised with the mutex
//! held, which is what makes reset and suspend synchronous: once either has taken the mutex,
//! no ring access and no interrupt for the old queues can follow. A pass takes every chain
//! it pops to the used ring, so a suspended device has nothing in flight and its
//! `QUEUE_AVAIL_STATE` is exact.

use super::device_memory::{DeviceTlb, DmaTable, QueueMemory, MAX_AS};
use super::kglue::vendor::{self, DeviceHandle, TypeDesc};
use super::kglue::workqueue::{Queue, Work, WorkHandler};
use super::sim_dma;
use super::virtqueue::SplitQueue;
use super::vmdev_regs::device::{DeviceInfo, Effect, RegisterFile};
use super::vmdev_regs::map::Register;
use super::vmdev_regs::{dma, features, status};
use core::pin::Pin;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::lock::{mutex::MutexBackend, Guard};
use kernel::sync::{Arc, Mutex};

/// What one worker pass of a class asks for.
#[derive(Default)]
pub(crate) struct Pass {
    /// Queues to interrupt (bit `i` for queue `i`).
    pub(crate) interrupts: u64,
    /// Work is left: run again without waiting for a kick.
    pub(crate) run_again: bool,
    /// A queue broke: the device needs a reset.
    pub(crate) broken: bool,
    /// The driver changed the config space (through a queue): bump the generation, without
    /// a config interrupt since the driver asked.
    pub(crate) config_changed: bool,
}

/// A device class of the simulator, with `Q` queues.
pub(crate) trait DeviceClass<const Q: usize>: Sized + Send + 'static {
    /// The mdev type of this class.
    const TYPE: TypeDesc;
    /// What the register file reports.
    const INFO: DeviceInfo;

    /// A new instance's class state.
    fn new() -> Result<Self>;
    /// How many of the `Q` queues the instance has now (`NUM_QUEUES`): a setting of the class
    /// (a net device's queue pairs), read whenever it may have changed while no driver runs
    /// the device.
    fn num_queues(&self) -> u16 {
        Q as u16
    }
    /// Fills `buf` with config space at `offset` (in bounds: the transport checked it).
    fn config_read(&self, offset: usize, buf: &mut [u8]);
    /// A driver's config space write; returns whether the config changed.
    fn config_write(&mut self, offset: usize, data: &[u8]) -> bool;
    /// Feature negotiation ended with `features`.
    fn features_ok(&mut self, _features: u64) {}
    /// The device was reset.
    fn reset(&mut self) {}
    /// One pass of the datapath over the queues (`None` for a queue not enabled), each
    /// through the address space of its group (`mem.of(queue)`).
    fn run(&mut self, queues: &mut [Option<SplitQueue>; Q], mem: &QueueMemory<'_, Q>) -> Pass;
}

/// Test-only behaviour (Documentation/testing.rst), off by default.
#[derive(Default, Clone, Copy)]
pub(crate) struct TestKnobs {
    /// Raise a config interrupt and one for every queue when the driver sets `DRIVER_OK`, as a
    /// device whose link comes up at once would.
    pub(crate) irq_at_driver_ok: bool,
    /// After each reset, keep raising interrupts for this many worker rounds, as a device
    /// whose reset completes asynchronously would.
    pub(crate) late_irq_rounds: u32,
}

/// Everything about one instance that its mutex guards.
pub(crate) struct SimState<C, const Q: usize> {
    pub(crate) regs: RegisterFile<Q>,
    queues: [Option<SplitQueue>; Q],
    event_idx: bool,
    /// The DMA translation table of each address space; `None` while translation is off.
    dma: [Option<DmaTable>; MAX_AS],
    /// The worker's page cache of each table.
    tlb: [DeviceTlb; MAX_AS],
    pub(crate) class: C,
    pub(crate) knobs: TestKnobs,
    /// Interrupt rounds left of a `late_irq_rounds` storm.
    storm_left: u32,
}

impl<C: DeviceClass<Q>, const Q: usize> SimState<C, Q> {
    pub(crate) fn running(&self) -> bool {
        self.regs.status() & status::DRIVER_OK != 0
    }

    fn enable_queue(&mut self, idx: u16) {
        let Some(q) = self.regs.queue(idx).copied() else {
            return;
        };
        match SplitQueue::new(q.num, q.desc, q.avail, q.used, self.event_idx) {
            Ok(mut sq) => {
                sq.set_next_avail(q.avail_state);
                if let Some(slot) = self.queues.get_mut(usize::from(idx)) {
                    *slot = Some(sq);
                }
            }
            // The driver reads QUEUE_READY back as 0 and knows the queue was refused.
            Err(_) => self.regs.set_queue_ready(idx, false),
        }
    }

    fn disable_queue(&mut self, idx: u16) {
        if let Some(q) = self.queues.get_mut(usize::from(idx)).and_then(Option::take) {
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
}

/// One instance.
#[pin_data(PinnedDrop)]
pub(crate) struct SimDevice<C: DeviceClass<Q>, const Q: usize> {
    /// The worker; cancelled before anything else is dropped.
    #[pin]
    work: Work<SimDevice<C, Q>>,
    handle: DeviceHandle,
    wq: Arc<Queue>,
    #[pin]
    state: Mutex<SimState<C, Q>>,
}

#[pinned_drop]
impl<C: DeviceClass<Q>, const Q: usize> PinnedDrop for SimDevice<C, Q> {
    fn drop(self: Pin<&mut Self>) {
        // The worker may be running, or requeueing itself (a pass left work, or a test storm):
        // it must be gone before the state, the handle and the queue.
        self.work.cancel_sync();
    }
}

crate::impl_has_work!([C: DeviceClass<Q>, const Q: usize] SimDevice<C, Q>, work);

impl<C: DeviceClass<Q>, const Q: usize> SimDevice<C, Q> {
    fn new(handle: DeviceHandle, wq: Arc<Queue>) -> Result<Pin<KBox<Self>>> {
        let class = C::new()?;
        let mut regs = RegisterFile::new(C::INFO);
        regs.set_num_queues(class.num_queues())
            .map_err(|_| EINVAL)?;
        let state = SimState {
            regs,
            queues: [const { None }; Q],
            event_idx: false,
            dma: [const { None }; MAX_AS],
            tlb: [DeviceTlb::new()?, DeviceTlb::new()?],
            class,
            knobs: TestKnobs::default(),
            storm_left: 0,
        };
        KBox::pin_init(
            pin_init!(SimDevice {
                work <- crate::new_work!("vmdev_sim::work"),
                handle,
                wq,
                state <- new_mutex!(state, "vmdev_sim::state"),
            }),
            GFP_KERNEL,
        )
    }

    /// The state, locked.
    pub(crate) fn lock(&self) -> Guard<'_, SimState<C, Q>, MutexBackend> {
        self.state.lock()
    }

    fn kick(&self) {
        self.wq.enqueue(&self.work);
    }

    /// Changes the class's config with `f`, which returns whether it changed anything; a
    /// change bumps the config generation and, if a driver runs the device, raises a config
    /// interrupt.
    pub(crate) fn update_config(&self, f: impl FnOnce(&mut C) -> Result<bool>) -> Result {
        let mut st = self.state.lock();
        if f(&mut st.class)? {
            st.regs.config_changed();
            if st.running() {
                self.handle.config_changed();
            }
        }
        Ok(())
    }

    /// Changes the class's config with `f` only while no driver has started the device:
    /// `EBUSY` otherwise. The change may give the device another number of queues.
    pub(crate) fn set_config_stopped(&self, f: impl FnOnce(&mut C) -> Result) -> Result {
        let mut st = self.state.lock();
        if st.regs.status() != 0 {
            return Err(EBUSY);
        }
        f(&mut st.class)?;
        let n = st.class.num_queues();
        st.regs.set_num_queues(n).map_err(|_| EINVAL)?;
        st.regs.config_changed();
        Ok(())
    }

    /// Raises one interrupt for every queue and a config interrupt.
    fn raise_all(&self) {
        self.handle.config_changed();
        for q in 0..Q as u16 {
            self.handle.vq_interrupt(q);
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> WorkHandler for SimDevice<C, Q> {
    /// The worker: one pass of the class's datapath, then the interrupts it asks for.
    fn run(&self) {
        let mut st = self.state.lock();
        if st.storm_left > 0 {
            // A test-only storm of interrupts after a reset (see `TestKnobs`).
            st.storm_left -= 1;
            self.raise_all();
            self.kick();
            return;
        }
        // A suspended device touches no ring; its resume kicks the worker again.
        if !st.running() || st.regs.suspended() {
            return;
        }
        let SimState {
            queues,
            regs,
            dma,
            tlb,
            class,
            ..
        } = &mut *st;
        let mut asid = [0u16; Q];
        for (q, a) in (0u16..).zip(asid.iter_mut()) {
            *a = regs.queue_asid(q);
        }
        let mem = QueueMemory::new(dma, tlb, asid);
        let pass = class.run(queues, &mem);
        if pass.config_changed {
            regs.config_changed();
        }
        if pass.broken {
            // virtio 1.2, 2.1.2: a device that cannot go on sets DEVICE_NEEDS_RESET and sends a
            // configuration change notification.
            regs.set_needs_reset();
            self.handle.config_changed();
            return;
        }
        // Interrupts are raised with the state locked (see the module documentation).
        for q in 0..Q as u16 {
            if pass.interrupts & (1 << q) != 0 {
                self.handle.vq_interrupt(q);
            }
        }
        if pass.run_again {
            self.kick();
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> vendor::Device for SimDevice<C, Q> {
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
            if value < Q as u32 {
                self.kick();
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
                st.queues = [const { None }; Q];
                st.event_idx = false;
                st.class.reset();
                if st.knobs.late_irq_rounds > 0 {
                    st.storm_left = st.knobs.late_irq_rounds;
                    self.kick();
                }
            }
            Effect::FeaturesOk(f) => {
                st.event_idx = f & features::RING_EVENT_IDX != 0;
                st.class.features_ok(f);
            }
            Effect::QueueEnabled(i) => st.enable_queue(i),
            Effect::QueueDisabled(i) => st.disable_queue(i),
            Effect::DriverOk => {
                if st.knobs.irq_at_driver_ok {
                    self.raise_all();
                }
                drop(st);
                self.kick();
            }
            Effect::Suspend => {
                // The worker's passes run under this lock, so none is in progress; the next
                // one sees the suspension and returns without touching a ring.
                st.record_queue_state();
            }
            Effect::Resume => {
                drop(st);
                self.kick();
            }
            Effect::Dma(req) => {
                let SimState { dma, tlb, regs, .. } = &mut *st;
                let a = usize::from(req.asid);
                let result = match (dma.get_mut(a), tlb.get_mut(a)) {
                    (Some(dma), Some(tlb)) => sim_dma::run(dma, tlb, req),
                    _ => dma::ERR_INVAL,
                };
                regs.set_dma_result(result);
            }
            // Each pass looks up every queue's address space afresh, under the lock this
            // write holds.
            Effect::GroupAsid { .. } => {}
            Effect::None | Effect::Failed | Effect::Notify(_) => {}
        }
    }

    fn config_read(&self, offset: u32, buf: &mut [u8]) {
        self.state.lock().class.config_read(offset as usize, buf);
    }

    fn config_write(&self, offset: u32, buf: &[u8]) {
        let mut st = self.state.lock();
        if st.class.config_write(offset as usize, buf) {
            st.regs.config_changed();
        }
    }
}

/// The parent of the devices of class `C`: creates them on its workqueue.
pub(crate) struct SimParent<C, const Q: usize> {
    wq: Arc<Queue>,
    _class: core::marker::PhantomData<fn() -> C>,
}

impl<C: DeviceClass<Q>, const Q: usize> SimParent<C, Q> {
    /// A parent whose devices run their workers on `wq`.
    pub(crate) fn new(wq: Arc<Queue>) -> Self {
        Self {
            wq,
            _class: core::marker::PhantomData,
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> vendor::Parent for SimParent<C, Q> {
    type Device = SimDevice<C, Q>;

    const TYPES: &'static [TypeDesc] = &[C::TYPE];

    fn create(&self, _type_index: usize, handle: DeviceHandle) -> Result<Pin<KBox<Self::Device>>> {
        SimDevice::new(handle, self.wq.clone())
    }
}
