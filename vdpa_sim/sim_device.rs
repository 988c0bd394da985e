// SPDX-License-Identifier: GPL-2.0
//! The simulator's device core: what every simulated device does, whatever its class.
//!
//! A [`SimDevice`] is one instance: the register file (`vmdev_regs::RegisterFile`: status and
//! feature negotiation, per-queue registers), its split queues, the DMA translation tables
//! (`sim_dma.rs`), and the workers that run the device class's packet path. The class (net:
//! `net.rs`) is a [`DeviceClass`]: its config space, its per-instance state, and the passes
//! of its datapath over the queues. The core is to the classes what upstream's vdpa_sim.c is
//! to vdpa_sim_net.c and vdpa_sim_blk.c.
//!
//! The class puts each queue in a *lane* or on the *control* worker ([`QueueRole`]). A lane
//! is a few queues that one worker serves (a net device's queue pair) with its own lock, page
//! cache and counters; lanes run in parallel, which is how throughput grows with queue pairs.
//! The control worker serves what changes the device (a net device's control queue).
//!
//! Locking. The instance's state (registers, DMA tables, the class's settings) is under a
//! read-write semaphore; each lane's queues under a mutex of their own. A lane pass holds the
//! state for reading and its lane's mutex; everything that changes the state (register writes,
//! the control worker, sysfs settings) holds it for writing, and so waits for every lane pass
//! in progress. Order: state, then one lane at a time. Interrupts are raised with the state
//! held, which is what makes reset and suspend synchronous: once either holds the state for
//! writing, no ring access and no interrupt for the old queues can follow. A pass takes every
//! chain it pops to the used ring, so a suspended device has nothing in flight and its
//! `QUEUE_AVAIL_STATE` is exact. The doorbell (`QUEUE_NOTIFY`) takes no lock: it queues the
//! worker of the queue through a routing table kept beside the state, so drivers may ring it
//! from any context.
//!
//! Dirty logging. While the driver has a log configured (`LOG_CTRL`, `QUEUE_USED_LOG`), each
//! pass runs over its memory wrapped in `dirty_log::LoggedMemory`, which marks the pages the
//! pass writes before it publishes them; a pass with nothing to log runs over the plain
//! memory. The log's registers and table change with the state held for writing, like
//! everything else a pass reads, so a `LOG_CTRL` write that returns has no pass left
//! marking the old log.

use super::device_log::DeviceLog;
use super::device_memory::{
    DeviceMemory, DeviceTlb, DmaSpace, CONTROL_TLB_SETS, DATAPATH_TLB_SETS, MAX_AS,
};
use super::dirty_log::{used_ring_bytes, LogScope, LoggedMemory, RingLog};
use super::kglue::rwsem::{ReadGuard, RwSem, WriteGuard};
use super::kglue::vendor::{self, DeviceHandle, TypeDesc};
use super::kglue::workqueue::{Queue, Work, WorkArray, WorkArrayHandler, WorkHandler};
use super::sim_dma;
use super::virtqueue::{GuestMemory, SplitQueue};
use super::vmdev_regs::device::{DeviceInfo, Effect, QueueRegs, RegisterFile};
use super::vmdev_regs::map::Register;
use super::vmdev_regs::{features, status};
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use kernel::init::pin_init_array_from_fn;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Lanes an instance has room for: the most queue pairs of a net device.
pub(crate) const MAX_LANES: usize = 8;
/// Queues a lane serves at most: a net device's receive and transmit queue.
pub(crate) const LANE_QUEUES: usize = 2;
/// The doorbell route of a queue the control worker serves.
const ROUTE_CONTROL: u8 = u8::MAX;

/// Who serves a queue.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueRole {
    /// Slot `slot` of lane `lane`: a datapath queue. A lane's queues are in one group.
    Lane { lane: usize, slot: usize },
    /// The control worker (a control queue). An instance has one such queue at most.
    Control,
    /// Nobody: the device does not use this queue with the features negotiated.
    Unused,
}

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
    /// A control pass changed which lanes run, or what they filter: run every lane, since a
    /// lane that starts may find buffers the driver posted before.
    pub(crate) lanes_changed: bool,
}

/// A device class of the simulator, with `Q` queues.
pub(crate) trait DeviceClass<const Q: usize>: Sized + Send + Sync + 'static {
    /// The mdev type of this class.
    const TYPE: TypeDesc;
    /// What the register file reports.
    const INFO: DeviceInfo;
    /// What a lane keeps of its own (its counters), beside its queues.
    type Lane: Default + Send;

    /// A new instance's class state.
    fn new() -> Result<Self>;
    /// How many of the `Q` queues the instance has now (`NUM_QUEUES`): a setting of the class
    /// (a net device's queue pairs), read whenever it may have changed while no driver runs
    /// the device.
    fn num_queues(&self) -> u16 {
        Q as u16
    }
    /// Features the device offers because of its settings (a block device's read-only
    /// flag), beside `INFO`'s; read whenever they may have changed while no driver runs the
    /// device.
    fn setting_features(&self) -> u64 {
        0
    }
    /// Who serves queue `q`, with the features negotiated now. Asked when the driver enables
    /// the queue, which is after `FEATURES_OK`.
    fn role(&self, q: u16) -> QueueRole;
    /// Whether lane `lane` runs now (a net device's pair in use).
    fn lane_runs(&self, lane: usize) -> bool;
    /// Fills `buf` with config space at `offset` (in bounds: the transport checked it).
    fn config_read(&self, offset: usize, buf: &mut [u8]);
    /// A driver's config space write; returns whether the config changed.
    fn config_write(&mut self, offset: usize, data: &[u8]) -> bool;
    /// Feature negotiation ended with `features`.
    fn features_ok(&mut self, _features: u64) {}
    /// The device was reset.
    fn reset(&mut self) {}
    /// One pass of the control worker over control queue `index`, through the address space
    /// of its group.
    fn run_control<M: GuestMemory + ?Sized>(
        &mut self,
        index: u16,
        queue: &mut SplitQueue,
        mem: &M,
    ) -> Pass;
    /// One pass of lane `lane` over its queues (`None` for a slot not enabled), through the
    /// address space of their group; the class's state is shared with the other lanes. A
    /// pass may raise interrupts while it runs with `raise` (bit `i` for queue `i`), besides
    /// those it returns in [`Pass::interrupts`].
    fn run_lane<M: GuestMemory + ?Sized>(
        &self,
        lane: usize,
        own: &mut Self::Lane,
        queues: &mut [Option<SplitQueue>; LANE_QUEUES],
        mem: &M,
        raise: &dyn Fn(u64),
    ) -> Pass;
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
    /// Refuse every `DMA_CMD` unmap (`ERR_INVAL`), keeping the mappings, as a device whose
    /// table update failed would.
    pub(crate) dma_unmap_fails: bool,
    /// Refuse a `DMA_CMD` map (`ERR_NOSPC`) once the address space holds this many entries;
    /// 0 leaves the device's own limit.
    pub(crate) dma_entries_max: u32,
    /// Mark nothing in the dirty log, while accepting and reporting it as usual: a device
    /// that forgets to log, to show that the migration tests catch one.
    pub(crate) dirty_log_off: bool,
}

/// The control queue while it is enabled.
struct ControlQueue {
    index: u16,
    queue: SplitQueue,
}

/// Everything about one instance that its state semaphore guards.
pub(crate) struct SimState<C, const Q: usize> {
    pub(crate) regs: RegisterFile<Q>,
    control: Option<ControlQueue>,
    event_idx: bool,
    /// The DMA table of each address space.
    spaces: [DmaSpace; MAX_AS],
    /// The dirty log's address space (`log::ASID`).
    log_space: DmaSpace,
    /// Words of the dirty log the device has ORed bits into (`stats/log_marks`).
    pub(crate) log_marks: AtomicU64,
    pub(crate) class: C,
    pub(crate) knobs: TestKnobs,
    /// Interrupt rounds left of a `late_irq_rounds` storm.
    storm_left: u32,
    /// Resets so far: a lane that found a broken queue reports it only if no reset came
    /// between.
    resets: u64,
}

impl<C: DeviceClass<Q>, const Q: usize> SimState<C, Q> {
    pub(crate) fn running(&self) -> bool {
        self.regs.status() & status::DRIVER_OK != 0
    }

    /// Whether workers may touch the rings: running, not suspended, not broken.
    fn serving(&self) -> bool {
        self.running()
            && !self.regs.suspended()
            && self.regs.status() & status::DEVICE_NEEDS_RESET == 0
    }

    /// The log of a pass, if the driver configured one (and the test knob leaves it on).
    fn log(&self) -> Option<DeviceLog<'_>> {
        pass_log(&self.regs, &self.knobs, &self.log_space, &self.log_marks)
    }
}

/// The log of a pass over `regs`'s queues, if the driver configured one (and the test knob
/// leaves it on); a free function so that the control worker, which holds the state's
/// fields apart, asks the same question as the lanes.
fn pass_log<'a, const Q: usize>(
    regs: &RegisterFile<Q>,
    knobs: &TestKnobs,
    space: &'a DmaSpace,
    marks: &'a AtomicU64,
) -> Option<DeviceLog<'a>> {
    let cfg = regs.log();
    (cfg.size > 0 && !knobs.dirty_log_off).then(|| DeviceLog::new(space, cfg, marks))
}

/// Where queue `q`'s used-ring writes are logged, if they are.
fn ring_log(q: &QueueRegs) -> Option<RingLog> {
    q.used_log_addr().map(|log_addr| RingLog {
        used: q.used,
        len: used_ring_bytes(q.num),
        log_addr,
    })
}

/// One lane's queues and what it keeps of its own.
struct LaneState<L> {
    queues: [Option<SplitQueue>; LANE_QUEUES],
    /// The queue index of each slot (meaningful while the slot's queue is enabled).
    index: [u16; LANE_QUEUES],
    /// Allocated when a queue of the lane is first enabled; kept until the instance goes.
    tlb: Option<DeviceTlb>,
    own: L,
}

impl<L: Default> LaneState<L> {
    fn new() -> Self {
        Self {
            queues: [const { None }; LANE_QUEUES],
            index: [0; LANE_QUEUES],
            tlb: None,
            own: L::default(),
        }
    }
}

/// One instance.
#[pin_data(PinnedDrop)]
pub(crate) struct SimDevice<C: DeviceClass<Q>, const Q: usize> {
    /// The control worker; cancelled before anything else is dropped.
    #[pin]
    work: Work<SimDevice<C, Q>>,
    /// The lane workers; cancelled before anything else is dropped.
    #[pin]
    lane_work: WorkArray<SimDevice<C, Q>, MAX_LANES>,
    handle: DeviceHandle,
    wq: Arc<Queue>,
    #[pin]
    state: RwSem<SimState<C, Q>>,
    #[pin]
    lanes: [Mutex<LaneState<C::Lane>>; MAX_LANES],
    /// The control worker's page cache (the control queue's pages); taken after the state.
    #[pin]
    control_tlb: Mutex<Option<DeviceTlb>>,
    /// The lane of each queue, or [`ROUTE_CONTROL`]: written (release) with the state held for
    /// writing once the queue is in its lane, read (acquire) by the doorbell with no lock, so a
    /// kick that sees a lane finds the queue there.
    route: [AtomicU8; Q],
    /// A pass could not mark a page it wrote, in the log the last `LOG_CTRL` write applied:
    /// set by lane passes (which hold the state only for reading), folded into `LOG_STATUS`
    /// when it is read.
    log_overflow: AtomicBool,
}

#[pinned_drop]
impl<C: DeviceClass<Q>, const Q: usize> PinnedDrop for SimDevice<C, Q> {
    fn drop(self: Pin<&mut Self>) {
        // A worker may be running, or requeueing itself (a pass left work, or a test storm):
        // all must be gone before the state, the handle and the queue.
        self.work.cancel_sync();
        self.lane_work.cancel_sync();
    }
}

crate::impl_has_work!([C: DeviceClass<Q>, const Q: usize] SimDevice<C, Q>, work);
crate::impl_has_work_array!([C: DeviceClass<Q>, const Q: usize] SimDevice<C, Q>, lane_work, MAX_LANES);

impl<C: DeviceClass<Q>, const Q: usize> SimDevice<C, Q> {
    fn new(handle: DeviceHandle, wq: Arc<Queue>) -> Result<Pin<KBox<Self>>> {
        let class = C::new()?;
        let mut regs = RegisterFile::new(C::INFO);
        regs.set_num_queues(class.num_queues())
            .map_err(|_| EINVAL)?;
        regs.set_offered_features(C::INFO.features | class.setting_features())
            .map_err(|_| EINVAL)?;
        let state = SimState {
            regs,
            control: None,
            event_idx: false,
            spaces: [const {
                DmaSpace {
                    table: None,
                    epoch: 0,
                }
            }; MAX_AS],
            log_space: DmaSpace::default(),
            log_marks: AtomicU64::new(0),
            class,
            knobs: TestKnobs::default(),
            storm_left: 0,
            resets: 0,
        };
        KBox::pin_init(
            pin_init!(SimDevice {
                work <- crate::new_work!("vmdev_sim::work"),
                lane_work <- crate::new_work_array!("vmdev_sim::lane_work"),
                handle,
                wq,
                state <- crate::new_rwsem!(state, "vmdev_sim::state"),
                // One lockdep class for every lane: no task holds two lanes at once.
                lanes <- pin_init_array_from_fn(|_| new_mutex!(LaneState::new(), "vmdev_sim::lane")),
                control_tlb <- new_mutex!(None, "vmdev_sim::control_tlb"),
                route: [const { AtomicU8::new(ROUTE_CONTROL) }; Q],
                log_overflow: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// The state, for reading.
    pub(crate) fn read(&self) -> ReadGuard<'_, SimState<C, Q>> {
        self.state.read()
    }

    /// The state, for writing: waits for every lane pass in progress.
    pub(crate) fn write(&self) -> WriteGuard<'_, SimState<C, Q>> {
        self.state.write()
    }

    /// Calls `f` with what each lane keeps of its own, one lane locked at a time.
    pub(crate) fn for_each_lane(&self, mut f: impl FnMut(usize, &C::Lane)) {
        for (i, lane) in self.lanes.iter().enumerate() {
            f(i, &lane.lock().own);
        }
    }

    fn kick_control(&self) {
        self.wq.enqueue(&self.work);
    }

    fn kick_lanes(&self) {
        for i in 0..MAX_LANES {
            self.lane_work.enqueue(&self.wq, i);
        }
    }

    /// Changes the class's config with `f`, which returns whether it changed anything; a
    /// change bumps the config generation and, if a driver runs the device, raises a config
    /// interrupt.
    pub(crate) fn update_config(&self, f: impl FnOnce(&mut C) -> Result<bool>) -> Result {
        let mut st = self.state.write();
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
        let mut st = self.state.write();
        if st.regs.status() != 0 {
            return Err(EBUSY);
        }
        f(&mut st.class)?;
        let n = st.class.num_queues();
        st.regs.set_num_queues(n).map_err(|_| EINVAL)?;
        let f = C::INFO.features | st.class.setting_features();
        st.regs.set_offered_features(f).map_err(|_| EINVAL)?;
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

    /// Raises the queue interrupts a pass asked for.
    fn raise(&self, interrupts: u64) {
        for q in 0..Q.min(64) as u16 {
            if interrupts & (1 << q) != 0 {
                self.handle.vq_interrupt(q);
            }
        }
    }

    /// A queue broke (virtio 1.2, 2.1.2): the device sets `DEVICE_NEEDS_RESET` and sends a
    /// configuration change notification.
    fn needs_reset(&self, st: &mut SimState<C, Q>) {
        st.regs.set_needs_reset();
        self.handle.config_changed();
    }

    /// Enables queue `idx` as the driver set it up; a queue the device cannot use reads back
    /// `QUEUE_READY` 0, which tells the driver it was refused.
    fn enable_queue(&self, st: &mut SimState<C, Q>, idx: u16) {
        let Some(q) = st.regs.queue(idx).copied() else {
            return;
        };
        let mut sq = match SplitQueue::new(q.num, q.desc, q.avail, q.used, st.event_idx) {
            Ok(sq) => sq,
            Err(_) => return st.regs.set_queue_ready(idx, false),
        };
        sq.set_next_avail(q.avail_state);
        let route = self.route.get(usize::from(idx));
        match st.class.role(idx) {
            QueueRole::Lane { lane, slot } => {
                let (Some(l), true) = (self.lanes.get(lane), slot < LANE_QUEUES) else {
                    return st.regs.set_queue_ready(idx, false);
                };
                let mut l = l.lock();
                if l.tlb.is_none() {
                    match DeviceTlb::new(DATAPATH_TLB_SETS) {
                        Ok(t) => l.tlb = Some(t),
                        Err(_) => {
                            drop(l);
                            return st.regs.set_queue_ready(idx, false);
                        }
                    }
                }
                l.queues[slot] = Some(sq);
                l.index[slot] = idx;
                if let Some(r) = route {
                    r.store(lane as u8, Ordering::Release);
                }
            }
            QueueRole::Control => {
                let mut tlb = self.control_tlb.lock();
                if tlb.is_none() {
                    match DeviceTlb::new(CONTROL_TLB_SETS) {
                        Ok(t) => *tlb = Some(t),
                        Err(_) => {
                            drop(tlb);
                            return st.regs.set_queue_ready(idx, false);
                        }
                    }
                }
                st.control = Some(ControlQueue {
                    index: idx,
                    queue: sq,
                });
                if let Some(r) = route {
                    r.store(ROUTE_CONTROL, Ordering::Release);
                }
            }
            // Kept ready, as the driver set it, but nobody serves it.
            QueueRole::Unused => {}
        }
    }

    /// Stops queue `idx`, keeping where it stood in its state registers.
    fn disable_queue(&self, st: &mut SimState<C, Q>, idx: u16) {
        let taken = match st.class.role(idx) {
            QueueRole::Lane { lane, slot } => self
                .lanes
                .get(lane)
                .and_then(|l| l.lock().queues.get_mut(slot).and_then(Option::take)),
            QueueRole::Control => match st.control.take() {
                Some(c) if c.index == idx => Some(c.queue),
                other => {
                    st.control = other;
                    None
                }
            },
            QueueRole::Unused => None,
        };
        if let Some(q) = taken {
            st.regs.set_avail_state(idx, q.next_avail());
            st.regs.set_used_state(idx, q.next_used());
        }
    }

    /// Makes `QUEUE_AVAIL_STATE` and `QUEUE_USED_STATE` show where running queues are. The
    /// state is held for writing, so no lane pass is moving them.
    fn record_queue_state(&self, st: &mut SimState<C, Q>) {
        if let Some(c) = &st.control {
            st.regs.set_avail_state(c.index, c.queue.next_avail());
            st.regs.set_used_state(c.index, c.queue.next_used());
        }
        for lane in self.lanes.iter() {
            let l = lane.lock();
            for (q, &idx) in l.queues.iter().zip(l.index.iter()) {
                if let Some(q) = q {
                    st.regs.set_avail_state(idx, q.next_avail());
                    st.regs.set_used_state(idx, q.next_used());
                }
            }
        }
    }

    /// A pass wrote a page it could not mark: the VMM's copy of it may go stale. Reported in
    /// `LOG_STATUS`, and in the kernel log until that is read.
    fn log_failed(&self) {
        if !self.log_overflow.swap(true, Ordering::Relaxed) {
            pr_warn!("vmdev_sim: a page the device wrote is outside the dirty log; the log is incomplete\n");
        }
    }

    /// Forgets every queue: a reset.
    fn drop_queues(&self, st: &mut SimState<C, Q>) {
        st.control = None;
        for lane in self.lanes.iter() {
            lane.lock().queues = [const { None }; LANE_QUEUES];
        }
        for r in self.route.iter() {
            r.store(ROUTE_CONTROL, Ordering::Release);
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> WorkHandler for SimDevice<C, Q> {
    /// The control worker: one pass over the control queue, then the interrupts it asks for.
    fn run(&self) {
        let mut st = self.state.write();
        if st.storm_left > 0 {
            // A test-only storm of interrupts after a reset (see `TestKnobs`).
            st.storm_left -= 1;
            self.raise_all();
            self.kick_control();
            return;
        }
        // A suspended device touches no ring; its resume kicks the workers again.
        if !st.serving() {
            return;
        }
        let SimState {
            control,
            regs,
            spaces,
            log_space,
            log_marks,
            class,
            knobs,
            ..
        } = &mut *st;
        let Some(c) = control.as_mut() else {
            return;
        };
        let mut tlb = self.control_tlb.lock();
        let Some(tlb) = tlb.as_mut() else {
            return;
        };
        let mem = DeviceMemory::new(spaces, regs.queue_asid(c.index), tlb);
        let ring = regs.queue(c.index).and_then(ring_log);
        let scope = LogScope {
            buffers: regs.log().all,
            rings: ring.as_slice(),
        };
        let log = pass_log(regs, knobs, log_space, log_marks).filter(|_| scope.logs());
        let pass = if let Some(log) = log {
            let logged = LoggedMemory::new(&mem, &log, scope);
            let pass = class.run_control(c.index, &mut c.queue, &logged);
            if logged.finish().is_err() {
                self.log_failed();
            }
            pass
        } else {
            class.run_control(c.index, &mut c.queue, &mem)
        };
        if pass.config_changed {
            regs.config_changed();
        }
        if pass.broken {
            return self.needs_reset(&mut st);
        }
        // Interrupts are raised with the state held (see the module documentation).
        self.raise(pass.interrupts);
        if pass.run_again {
            self.kick_control();
        }
        if pass.lanes_changed {
            self.kick_lanes();
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> WorkArrayHandler<MAX_LANES> for SimDevice<C, Q> {
    /// A lane worker: one pass over the lane's queues, then the interrupts it asks for.
    fn run_item(&self, lane: usize) {
        let st = self.state.read();
        if !st.serving() || !st.class.lane_runs(lane) {
            return;
        }
        let Some(l) = self.lanes.get(lane) else {
            return;
        };
        let mut l = l.lock();
        let LaneState {
            queues,
            index,
            tlb,
            own,
        } = &mut *l;
        let Some(tlb) = tlb.as_mut() else {
            return;
        };
        // A lane's queues share a group, so any enabled one names the address space.
        let Some(idx) = queues
            .iter()
            .zip(index.iter())
            .find_map(|(q, &i)| q.as_ref().map(|_| i))
        else {
            return;
        };
        let mem = DeviceMemory::new(&st.spaces, st.regs.queue_asid(idx), tlb);
        // Interrupts raised during the pass, with the state held as for those after it.
        let raise = &|bits: u64| self.raise(bits);
        let pass = match st.log() {
            None => st.class.run_lane(lane, own, queues, &mem, raise),
            Some(log) => {
                let mut rings = [RingLog::default(); LANE_QUEUES];
                let mut n = 0;
                for (q, &i) in queues.iter().zip(index.iter()) {
                    let r = q.as_ref().and_then(|_| st.regs.queue(i)).and_then(ring_log);
                    if let (Some(r), Some(slot)) = (r, rings.get_mut(n)) {
                        *slot = r;
                        n += 1;
                    }
                }
                let scope = LogScope {
                    buffers: st.regs.log().all,
                    rings: rings.get(..n).unwrap_or(&[]),
                };
                if scope.logs() {
                    let logged = LoggedMemory::new(&mem, &log, scope);
                    let pass = st.class.run_lane(lane, own, queues, &logged, raise);
                    if logged.finish().is_err() {
                        self.log_failed();
                    }
                    pass
                } else {
                    st.class.run_lane(lane, own, queues, &mem, raise)
                }
            }
        };
        if pass.broken {
            let resets = st.resets;
            drop(l);
            drop(st);
            // Marking the device takes the state for writing; a reset in between makes the
            // report stale.
            let mut st = self.state.write();
            if st.resets == resets && st.running() {
                self.needs_reset(&mut st);
            }
            return;
        }
        self.raise(pass.interrupts);
        if pass.run_again {
            self.lane_work.enqueue(&self.wq, lane);
        }
    }
}

impl<C: DeviceClass<Q>, const Q: usize> vendor::Device for SimDevice<C, Q> {
    fn reg_read(&self, reg: Register) -> u32 {
        if matches!(
            reg,
            Register::QUEUE_AVAIL_STATE | Register::QUEUE_USED_STATE
        ) {
            let mut st = self.state.write();
            self.record_queue_state(&mut st);
            return st.regs.read(reg);
        }
        if reg == Register::LOG_STATUS && self.log_overflow.load(Ordering::Relaxed) {
            let mut st = self.state.write();
            // Taken with the state held for writing: no pass is setting it for this log.
            if self.log_overflow.swap(false, Ordering::Relaxed) {
                st.regs.set_log_overflow();
            }
            return st.regs.read(reg);
        }
        self.state.read().regs.read(reg)
    }

    fn reg_write(&self, reg: Register, value: u32) {
        // The doorbell may come from atomic context: it must not sleep.
        if reg == Register::QUEUE_NOTIFY {
            match self
                .route
                .get(value as usize)
                .map(|r| r.load(Ordering::Acquire))
            {
                Some(ROUTE_CONTROL) => self.kick_control(),
                Some(lane) => {
                    self.lane_work.enqueue(&self.wq, usize::from(lane));
                }
                None => {}
            }
            return;
        }
        let mut st = self.state.write();
        let Ok(effect) = st.regs.write(reg, value) else {
            // Refused: the register keeps its value, which is what the driver reads back.
            return;
        };
        match effect {
            Effect::Reset => {
                self.drop_queues(&mut st);
                st.event_idx = false;
                st.class.reset();
                st.resets = st.resets.wrapping_add(1);
                if st.knobs.late_irq_rounds > 0 {
                    st.storm_left = st.knobs.late_irq_rounds;
                    self.kick_control();
                }
            }
            Effect::FeaturesOk(f) => {
                st.event_idx = f & features::RING_EVENT_IDX != 0;
                st.class.features_ok(f);
            }
            Effect::QueueEnabled(i) => self.enable_queue(&mut st, i),
            Effect::QueueDisabled(i) => self.disable_queue(&mut st, i),
            Effect::DriverOk => {
                if st.knobs.irq_at_driver_ok {
                    self.raise_all();
                }
                drop(st);
                self.kick_control();
                self.kick_lanes();
            }
            Effect::Suspend => {
                // Lane passes hold the state for reading and the control worker for writing,
                // so none is in progress; the next one sees the suspension and returns
                // without touching a ring.
                self.record_queue_state(&mut st);
            }
            Effect::Resume => {
                drop(st);
                self.kick_control();
                self.kick_lanes();
            }
            Effect::Dma(req) => {
                use super::vmdev_regs::{dma, log};
                let refused = st.knobs.dma_unmap_fails && req.cmd == dma::CMD_UNMAP;
                let limit = st.knobs.dma_entries_max as usize;
                let result = match st.spaces.get_mut(usize::from(req.asid)) {
                    _ if u32::from(req.asid) == log::ASID => {
                        sim_dma::run_log(&mut st.log_space, req)
                    }
                    Some(_) if refused => dma::ERR_INVAL,
                    Some(space)
                        if limit > 0 && req.cmd == dma::CMD_MAP && space.entries() >= limit =>
                    {
                        dma::ERR_NOSPC
                    }
                    Some(space) => sim_dma::run(space, req),
                    None => dma::ERR_INVAL,
                };
                st.regs.set_dma_result(result);
            }
            // Each pass looks up its queues' address space afresh, with the state held.
            Effect::GroupAsid { .. } => {}
            // A new log: marks that failed belong to the old one. Passes read the log's
            // registers afresh with the state held, which this write holds.
            Effect::Log(_) => self.log_overflow.store(false, Ordering::Relaxed),
            Effect::QueueLog(_) => {}
            Effect::None | Effect::Failed | Effect::Notify(_) => {}
        }
    }

    fn config_read(&self, offset: u32, buf: &mut [u8]) {
        self.state.read().class.config_read(offset as usize, buf);
    }

    fn config_write(&self, offset: u32, buf: &[u8]) {
        let mut st = self.state.write();
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
