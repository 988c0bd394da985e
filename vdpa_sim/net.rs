// SPDX-License-Identifier: GPL-2.0
//! The net class of the simulator: a virtio-net device that loops each frame the driver
//! transmits back to its receive queue, accepting frames to its own MAC, broadcast and
//! multicast, like the 2019 mvnet sample and upstream's vdpa_sim_net.
//!
//! The packet path is the host-tested `netsim` crate; this file gives it its place in the
//! device core (`sim_device.rs`) and its sysfs files: the settings `mac`, `mtu` and `link`
//! (the first two only before a driver starts the device) and the per-queue counters in
//! `stats/`. See Documentation/vdpa_sim.rst.

use super::device_memory::DeviceMemory;
use super::kglue::sysfs::{Attribute, Page};
use super::kglue::vendor::{Instance, TypeDesc};
use super::netsim::{self, NetConfig, NetStats, RxFilter};
use super::sim_device::{DeviceClass, Pass, SimParent};
use super::sim_dma::DMA_MAX_ENTRIES;
use super::test_knobs::{IrqAtDriverOk, LateIrqs};
use super::virtqueue::SplitQueue;
use super::vmdev_regs::device::DeviceInfo;
use super::vmdev_regs::features;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

const VIRTIO_ID_NET: u32 = 1;
const VIRTIO_NET_F_MTU: u64 = 1 << 3;
const VIRTIO_NET_F_MAC: u64 = 1 << 5;
const VIRTIO_NET_F_STATUS: u64 = 1 << 16;
/// Frames per worker pass before it lets others run (it requeues itself).
const BUDGET: u32 = 256;
const QUEUE_MAX: u16 = 256;
/// Queues: receive, transmit.
const QUEUES: usize = 2;

/// The net class's state of one instance.
pub(crate) struct NetClass {
    cfg: NetConfig,
    filter: RxFilter,
    stats: NetStats,
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
            | VIRTIO_NET_F_STATUS,
        queue_num_max: QUEUE_MAX,
        queue_align: 4096,
        config_size: netsim::CONFIG_SIZE as u32,
        dma_entries: DMA_MAX_ENTRIES as u32,
    };

    fn new() -> Result<Self> {
        Ok(NetClass {
            cfg: NetConfig {
                mac: random_mac(),
                mtu: 1500,
                link_up: true,
            },
            filter: RxFilter::new(),
            stats: NetStats::default(),
        })
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

    fn run(&mut self, queues: &mut [Option<SplitQueue>; QUEUES], mem: &DeviceMemory<'_>) -> Pass {
        let [Some(rx), Some(tx)] = queues else {
            return Pass::default();
        };
        let end = netsim::run_pass(
            &self.cfg,
            &self.filter,
            rx,
            tx,
            mem,
            BUDGET,
            &mut self.stats,
        );
        let bit = |on: bool, q: u16| if on { 1u64 << q } else { 0 };
        Pass {
            interrupts: bit(end.interrupt_rx, netsim::RX_QUEUE)
                | bit(end.interrupt_tx, netsim::TX_QUEUE),
            run_again: end.run_again,
            broken: end.broken,
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
        let m = sim.lock().class.cfg.mac;
        page.line(format_args!(
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let mac = parse_mac(input).ok_or(EINVAL)?;
        sim.set_config_stopped(|net| set_checked(net, |c| c.mac = mac))
    }
}

/// `mtu`: the MTU the device reports; writable before a driver starts the device.
struct Mtu;
impl Attribute for Mtu {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"mtu";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.lock().class.cfg.mtu))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let s = input.strip_suffix(b"\n").unwrap_or(input);
        let mtu: u16 = core::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(EINVAL)?;
        sim.set_config_stopped(|net| set_checked(net, |c| c.mtu = mtu))
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

/// `link`: `up` or `down`, at any time; the driver hears of a change through a config
/// interrupt.
struct Link;
impl Attribute for Link {
    type Target = NetInstance;
    const NAME: &'static core::ffi::CStr = c"link";
    const WRITABLE: bool = true;
    fn show(sim: &NetInstance, page: &mut Page<'_>) -> Result {
        let up = sim.lock().class.cfg.link_up;
        page.line(format_args!("{}", if up { "up" } else { "down" }))
    }
    fn store(sim: &NetInstance, input: &[u8]) -> Result {
        let up = match input.strip_suffix(b"\n").unwrap_or(input) {
            b"up" | b"1" => true,
            b"down" | b"0" => false,
            _ => return Err(EINVAL),
        };
        sim.update_config(|net| core::mem::replace(&mut net.cfg.link_up, up) != up);
        Ok(())
    }
}

/// The counters of the receive and transmit queues.
fn stats(sim: &NetInstance) -> NetStats {
    sim.lock().class.stats
}

crate::show_attribute!(RxPackets: NetInstance, c"rx_packets", |s| stats(s).rx.packets);
crate::show_attribute!(RxBytes: NetInstance, c"rx_bytes", |s| stats(s).rx.bytes);
crate::show_attribute!(RxDrops: NetInstance, c"rx_drops", |s| stats(s).rx.drops);
crate::show_attribute!(RxErrors: NetInstance, c"rx_errors", |s| stats(s).rx.errors);
crate::show_attribute!(TxPackets: NetInstance, c"tx_packets", |s| stats(s).tx.packets);
crate::show_attribute!(TxBytes: NetInstance, c"tx_bytes", |s| stats(s).tx.bytes);
crate::show_attribute!(TxDrops: NetInstance, c"tx_drops", |s| stats(s).tx.drops);
crate::show_attribute!(TxErrors: NetInstance, c"tx_errors", |s| stats(s).tx.errors);

crate::attribute_group!(
    static SETTINGS: AttributeGroup<NetInstance> = (None) [Mac, Mtu, Link];
);
crate::attribute_group!(
    static STATS: AttributeGroup<NetInstance> = (Some(c"stats")) [
        RxPackets, RxBytes, RxDrops, RxErrors, TxPackets, TxBytes, TxDrops, TxErrors,
    ];
);
crate::attribute_group!(
    static TEST: AttributeGroup<NetInstance> = (Some(c"test")) [
        IrqAtDriverOk<NetClass, QUEUES>, LateIrqs<NetClass, QUEUES>,
    ];
);
crate::attribute_groups!(
    pub(crate) static GROUPS: AttributeGroups<NetInstance> = [SETTINGS, STATS, TEST];
);
