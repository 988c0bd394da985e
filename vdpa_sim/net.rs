// SPDX-License-Identifier: GPL-2.0
//! The net class of the simulator: a virtio-net device that loops each frame the driver
//! transmits back to its receive queue, accepting frames to its own MAC, broadcast and
//! multicast, like the 2019 mvnet sample and upstream's vdpa_sim_net.
//!
//! The device has a control queue (`VIRTIO_NET_F_CTRL_VQ`) for the commands a real NIC takes:
//! the rx mode, unicast and multicast MAC tables, VLAN filtering, the MAC address, and the
//! announce acknowledgement; looped frames pass the receive filter those commands set.
//!
//! The packet path and the commands are the host-tested `netsim` crate; this file gives
//! them their place in the device core (`sim_device.rs`) and the device its sysfs files: the
//! settings `mac`, `mtu` and `link` (the first two only before a driver starts the device),
//! `announce`, and the counters in `stats/`. See Documentation/vdpa_sim.rst.

use super::kglue::sysfs::{Attribute, Page};
use super::kglue::vendor::{Instance, TypeDesc};
use super::netsim::ctrl::{self, CtrlTarget};
use super::netsim::{self, filter, NetConfig, NetStats, RxFilter};
use super::sim_device::{DeviceClass, Pass, QueueRole, SimParent, LANE_QUEUES, MAX_LANES};
use super::sim_dma::DMA_MAX_ENTRIES;
use super::test_knobs::{DirtyLogOff, DmaEntriesMax, DmaUnmapFails, IrqAtDriverOk, LateIrqs};
use super::virtqueue::{GuestMemory, SplitQueue};
use super::vmdev_regs::device::DeviceInfo;
use super::vmdev_regs::{caps, features, GroupLayout};
use kernel::error::code::EINVAL;
use kernel::prelude::*;

const VIRTIO_ID_NET: u32 = 1;
const VIRTIO_NET_F_MTU: u64 = 1 << 3;
const VIRTIO_NET_F_MAC: u64 = 1 << 5;
const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// Frames per worker pass before it lets others run (it requeues itself).
const BUDGET: u32 = 256;
/// Control commands per worker pass.
const CTRL_BUDGET: u32 = 64;
const QUEUE_MAX: u16 = 256;
/// The most queue pairs an instance may have.
const MAX_PAIRS: u16 = netsim::MAX_PAIRS;
/// Queue pairs of a new instance (`max_queue_pairs`).
const DEFAULT_PAIRS: u16 = 4;
/// Room for queues: a receive and a transmit queue per pair, then the control queue, which
/// is queue `2 * max_pairs` of an instance (virtio 1.2, 5.1.2).
const QUEUES: usize = 2 * MAX_PAIRS as usize + 1;
// Each pair is a lane of the core.
const _: () = assert!(MAX_PAIRS as usize <= MAX_LANES);
/// The control-queue features offered.
const CTRL_FEATURES: u64 = ctrl::F_CTRL_VQ
    | filter::F_CTRL_RX
    | ctrl::F_CTRL_RX_EXTRA
    | filter::F_CTRL_VLAN
    | ctrl::F_CTRL_MAC_ADDR
    | ctrl::F_GUEST_ANNOUNCE
    | ctrl::F_MQ;

/// Commands on the control queue.
#[derive(Clone, Copy, Default)]
struct CtrlStats {
    commands: u64,
    errors: u64,
}

/// The net class's state of one instance, which the queue pairs' workers share; each pair
/// keeps its own counters (`DeviceClass::Lane`).
pub(crate) struct NetClass {
    cfg: NetConfig,
    filter: RxFilter,
    ctrl: CtrlStats,
    /// The features the driver negotiated (0 until `FEATURES_OK`).
    features: u64,
    /// Queue pairs in use.
    pairs: u16,
}

/// The parent of net instances.
pub(crate) type NetParent = SimParent<NetClass, QUEUES>;
/// A net instance, as its sysfs files see it.
type NetInstance = Instance<NetParent>;

/// A random unicast, locally administered MAC.
fn random_mac() -> [u8; 6] {
    let mut mac = [0u8; 6];
    super::kglue::random::fill(&mut mac);
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac
}

impl DeviceClass<QUEUES> for NetClass {
    const TYPE: TypeDesc = TypeDesc {
        name: c"net",
        pretty_name: c"vmdev_sim virtio-net loopback",
        device_id: VIRTIO_ID_NET,
        max_instances: 64,
    };

    const INFO: DeviceInfo = DeviceInfo {
        device_id: VIRTIO_ID_NET,
        vendor_id: 0,
        features: features::VERSION_1
            | features::ACCESS_PLATFORM
            | features::RING_EVENT_IDX
            | features::RING_INDIRECT_DESC
            | VIRTIO_NET_F_MAC
            | VIRTIO_NET_F_MTU
            | VIRTIO_NET_F_STATUS
            | CTRL_FEATURES,
        queue_num_max: QUEUE_MAX,
        queue_align: 4096,
        config_size: netsim::CONFIG_SIZE as u32,
        dma_entries: DMA_MAX_ENTRIES as u32,
        caps: caps::SUSPEND | caps::DIRTY_LOG,
        // The control queue in a group and address space of its own, as vdpa_sim_net.
        groups: GroupLayout::NetControlQueue,
        address_spaces: 2,
    };

    /// Each queue pair is a lane of the core: it runs in parallel with the others.
    type Lane = NetStats;

    fn new() -> Result<Self> {
        Ok(NetClass {
            cfg: NetConfig {
                mac: random_mac(),
                mtu: 1500,
                link_up: true,
                announce: false,
                max_pairs: DEFAULT_PAIRS,
            },
            filter: RxFilter::new(),
            ctrl: CtrlStats::default(),
            features: 0,
            pairs: 1,
        })
    }

    fn num_queues(&self) -> u16 {
        2 * self.cfg.max_pairs + 1
    }

    fn features_ok(&mut self, features: u64) {
        self.features = features;
        self.filter.reset(features);
    }

    fn reset(&mut self) {
        self.features = 0;
        self.filter = RxFilter::new();
        self.cfg.announce = false;
        self.pairs = 1;
    }

    fn config_read(&self, offset: usize, buf: &mut [u8]) {
        let bytes = self.cfg.to_config_bytes();
        if let Some(src) = offset
            .checked_add(buf.len())
            .and_then(|end| bytes.get(offset..end))
        {
            buf.copy_from_slice(src);
        }
    }

    fn config_write(&mut self, offset: usize, data: &[u8]) -> bool {
        self.cfg.write_config(offset, data)
    }

    /// Receive queue `2p` and transmit queue `2p + 1` are lane `p`; the control queue is
    /// queue 2 without MQ and follows the last pair with it (virtio 1.2, 5.1.2).
    fn role(&self, q: u16) -> QueueRole {
        let mq = self.features & ctrl::F_MQ != 0;
        let pairs = if mq { self.cfg.max_pairs } else { 1 };
        if q == 2 * pairs {
            QueueRole::Control
        } else if q < 2 * pairs {
            QueueRole::Lane {
                lane: usize::from(q / 2),
                slot: usize::from(q % 2),
            }
        } else {
            QueueRole::Unused
        }
    }

    /// The pairs in use: the first `MQ_VQ_PAIRS_SET` set with MQ, the first one without
    /// (virtio 1.2, 5.1.6.5.5).
    fn lane_runs(&self, lane: usize) -> bool {
        let mq = self.features & ctrl::F_MQ != 0;
        let pairs = if mq { self.pairs } else { 1 };
        lane < usize::from(pairs.min(self.cfg.max_pairs))
    }

    /// The control commands; a pass that completed any may have changed the pairs in use or
    /// the filter, so every pair runs again.
    fn run_control<M: GuestMemory + ?Sized>(
        &mut self,
        index: u16,
        cq: &mut SplitQueue,
        mem: &M,
    ) -> Pass {
        let mut t = CtrlTarget {
            features: self.features,
            filter: &mut self.filter,
            mac: &mut self.cfg.mac,
            announce: &mut self.cfg.announce,
            pairs: &mut self.pairs,
            max_pairs: self.cfg.max_pairs,
        };
        let c = ctrl::run_ctrl(cq, mem, &mut t, CTRL_BUDGET);
        self.ctrl.commands = self.ctrl.commands.wrapping_add(u64::from(c.completed));
        self.ctrl.errors = self.ctrl.errors.wrapping_add(u64::from(c.errors));
        Pass {
            interrupts: if c.interrupt { 1 << index } else { 0 },
            run_again: c.run_again,
            broken: c.broken,
            config_changed: c.config_changed,
            lanes_changed: c.completed > 0,
        }
    }

    /// Pair `lane` loops its transmit queue to its own receive queue: a frame comes back on
    /// the pair it was sent on.
    fn run_lane<M: GuestMemory + ?Sized>(
        &self,
        lane: usize,
        stats: &mut NetStats,
        queues: &mut [Option<SplitQueue>; LANE_QUEUES],
        mem: &M,
        _raise: &dyn Fn(u64),
    ) -> Pass {
        let [Some(rx), Some(tx)] = queues else {
            return Pass::default();
        };
        let end = netsim::run_pass(&self.cfg, &self.filter, rx, tx, mem, BUDGET, stats);
        let (qrx, qtx) = (2 * lane, 2 * lane + 1);
        let bit = |on: bool, q: usize| if on { 1u64 << q } else { 0 };
        Pass {
            interrupts: bit(end.interrupt_rx, qrx) | bit(end.interrupt_tx, qtx),
            run_again: end.run_again,
            broken: end.broken,
            ..Pass::default()
        }
    }
}

/// Parses `xx:xx:xx:xx:xx:xx` (hex digits, either case).
fn parse_mac(input: &[u8]) -> Option<[u8; 6]> {
    let s = input.strip_suffix(b"\n").unwrap_or(input);
    let mut mac = [0u8; 6];
    let mut parts = s.split(|&c| c == b':');
    for byte in mac.iter_mut() {
        let p = parts.next()?;
        if p.len() != 2 || !p.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        *byte = u8::from_str_radix(core::str::from_utf8(p).ok()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// `mac`: the device's MAC address; writable before a driver starts the device.
struct Mac;
impl Attribute for Mac {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"mac";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        let m = sim.read().class.cfg.mac;
        page.line(format_args!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let mac = parse_mac(input).ok_or(EINVAL)?;
        set_stopped(sim, |c| c.mac = mac)
    }
}

/// `mtu`: the MTU the device reports; writable before a driver starts the device.
struct Mtu;
impl Attribute for Mtu {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"mtu";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.read().class.cfg.mtu))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let s = input.strip_suffix(b"\n").unwrap_or(input);
        let mtu: u16 = core::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(EINVAL)?;
        set_stopped(sim, |c| c.mtu = mtu)
    }
}

/// `max_queue_pairs`: the queue pairs the device has (1 to 8, default 4); writable before a
/// driver starts the device. The control queue follows the last pair.
struct MaxQueuePairs;
impl Attribute for MaxQueuePairs {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"max_queue_pairs";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.read().class.cfg.max_pairs))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let s = input.strip_suffix(b"\n").unwrap_or(input);
        let n: u16 = core::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(EINVAL)?;
        set_stopped(sim, |c| c.max_pairs = n)
    }
}

/// Applies `f` to the config if the result is valid.
fn set_checked(net: &mut NetClass, f: impl FnOnce(&mut NetConfig)) -> Result {
    let mut cfg = net.cfg;
    f(&mut cfg);
    cfg.validate().map_err(|_| EINVAL)?;
    net.cfg = cfg;
    Ok(())
}

/// A setting a driver reads when it starts the device: `EINVAL` for a value the device
/// never takes, checked first so that it is told apart from `EBUSY` (a running device),
/// which the transport answers by restarting virtio_mdev around the write when it comes
/// through the mdev device (vendor-api.rst, "Settings and mdevctl").
fn set_stopped(sim: &NetInstance, f: impl Fn(&mut NetConfig)) -> Result {
    let mut probe = sim.read().class.cfg;
    f(&mut probe);
    probe.validate().map_err(|_| EINVAL)?;
    sim.set_config_stopped(|net| set_checked(net, f))
}

/// `link`: `up` or `down`, at any time; the driver hears of a change through a config
/// interrupt.
struct Link;
impl Attribute for Link {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"link";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        let up = sim.read().class.cfg.link_up;
        page.line(format_args!("{}", if up { "up" } else { "down" }))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let up = match input.strip_suffix(b"\n").unwrap_or(input) {
            b"up" | b"1" => true,
            b"down" | b"0" => false,
            _ => return Err(EINVAL),
        };
        sim.update_config(|net| Ok(core::mem::replace(&mut net.cfg.link_up, up) != up))
    }
}

/// `announce`: 1 while the device asks the driver to announce itself; writing 1 asks (as
/// after a migration), which needs `VIRTIO_NET_F_GUEST_ANNOUNCE` negotiated.
struct Announce;
impl Attribute for Announce {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"announce";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", u8::from(sim.read().class.cfg.announce)))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        if input.strip_suffix(b"\n").unwrap_or(input) != b"1" {
            return Err(EINVAL);
        }
        sim.update_config(|net| {
            if net.features & ctrl::F_GUEST_ANNOUNCE == 0 {
                return Err(Error::from_errno(-(kernel::bindings::EOPNOTSUPP as i32)));
            }
            Ok(!core::mem::replace(&mut net.cfg.announce, true))
        })
    }
}

/// The counters of every queue pair, summed.
fn stats(sim: &NetInstance) -> NetStats {
    let mut sum = NetStats::default();
    sim.for_each_lane(|_, s| sum.add(s));
    sum
}

/// One counter of each queue pair the device has, space-separated: `pick` chooses it.
fn per_pair(sim: &NetInstance, page: &mut Page<'_>, pick: fn(&NetStats) -> u64) -> Result {
    let n = usize::from(sim.read().class.cfg.max_pairs);
    let mut values = [0u64; MAX_LANES];
    sim.for_each_lane(|i, s| {
        if let Some(v) = values.get_mut(i) {
            *v = pick(s);
        }
    });
    for (i, v) in values.iter().take(n).enumerate() {
        let sep = if i == 0 { "" } else { " " };
        core::fmt::Write::write_fmt(page, format_args!("{sep}{v}")).map_err(|_| EINVAL)?;
    }
    page.line(format_args!(""))
}

/// `stats/rx_packets_per_pair`: frames delivered on each pair's receive queue.
struct RxPacketsPerPair;
impl Attribute for RxPacketsPerPair {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"rx_packets_per_pair";
    const WRITABLE: bool = false;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        per_pair(sim, page, |s| s.rx.packets)
    }
}

/// `stats/rx_drops_per_pair`: frames each pair's receive side dropped (filter, no buffer).
struct RxDropsPerPair;
impl Attribute for RxDropsPerPair {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"rx_drops_per_pair";
    const WRITABLE: bool = false;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        per_pair(sim, page, |s| s.rx.drops)
    }
}

/// `stats/tx_packets_per_pair`: frames taken from each pair's transmit queue.
struct TxPacketsPerPair;
impl Attribute for TxPacketsPerPair {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"tx_packets_per_pair";
    const WRITABLE: bool = false;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        per_pair(sim, page, |s| s.tx.packets)
    }
}

crate::show_attribute!(RxPackets: NetInstance, c"rx_packets", |s| stats(s).rx.packets);
crate::show_attribute!(RxBytes: NetInstance, c"rx_bytes", |s| stats(s).rx.bytes);
crate::show_attribute!(RxDrops: NetInstance, c"rx_drops", |s| stats(s).rx.drops);
crate::show_attribute!(RxErrors: NetInstance, c"rx_errors", |s| stats(s).rx.errors);
crate::show_attribute!(TxPackets: NetInstance, c"tx_packets", |s| stats(s).tx.packets);
crate::show_attribute!(TxBytes: NetInstance, c"tx_bytes", |s| stats(s).tx.bytes);
crate::show_attribute!(TxDrops: NetInstance, c"tx_drops", |s| stats(s).tx.drops);
crate::show_attribute!(TxErrors: NetInstance, c"tx_errors", |s| stats(s).tx.errors);
crate::show_attribute!(CtrlCommands: NetInstance, c"ctrl_commands", |s| s.read().class.ctrl.commands);
crate::show_attribute!(CtrlErrors: NetInstance, c"ctrl_errors", |s| s.read().class.ctrl.errors);
crate::show_attribute!(LogMarks: NetInstance, c"log_marks", |s| s
    .read()
    .log_marks
    .load(core::sync::atomic::Ordering::Relaxed));

crate::attribute_group!(
    static SETTINGS: AttributeGroup<NetInstance> = (None) [Mac, Mtu, MaxQueuePairs, Link, Announce];
);
crate::attribute_group!(
    static STATS: AttributeGroup<NetInstance> = (Some(c"stats")) [
        RxPackets, RxBytes, RxDrops, RxErrors, TxPackets, TxBytes, TxDrops, TxErrors,
        CtrlCommands, CtrlErrors, RxPacketsPerPair, RxDropsPerPair, TxPacketsPerPair, LogMarks,
    ];
);
crate::attribute_group!(
    static TEST: AttributeGroup<NetInstance> = (Some(c"test")) [
        IrqAtDriverOk<NetClass, QUEUES>, LateIrqs<NetClass, QUEUES>,
        DmaUnmapFails<NetClass, QUEUES>, DmaEntriesMax<NetClass, QUEUES>,
        DirtyLogOff<NetClass, QUEUES>,
    ];
);
crate::attribute_groups!(
    pub(crate) static GROUPS: AttributeGroups<NetInstance> = [SETTINGS, STATS, TEST];
);
