// SPDX-License-Identifier: GPL-2.0
//! The block class of the simulator: a virtio-blk device backed by RAM (`blk_store.rs`).
//!
//! Unlike upstream's vdpa_sim_blk, a fixed 128 MiB disk with one queue, each instance has
//! its own settings, made before a driver starts the device: `capacity` (bytes, with an
//! optional K, M, G suffix), `read_only`, `num_queues` (1 to 8, each queue a lane of the
//! core, so queues run in parallel) and `serial` (the `GET_ID` answer). The requests are the
//! host-tested `blksim` crate; this file gives them their place in the device core and the
//! device its sysfs files, with counters in `stats/`. See Documentation/vdpa_sim.rst.

use super::blk_store::{RamDisk, MAX_BYTES};
use super::blksim::{self, BlkConfig, BlkStats, SECTOR_SIZE, SERIAL_LEN};
use super::kglue::sysfs::{Attribute, Page};
use super::kglue::vendor::{Instance, TypeDesc};
use super::sim_device::{DeviceClass, Pass, QueueRole, SimParent, LANE_QUEUES, MAX_LANES};
use super::sim_dma::DMA_MAX_ENTRIES;
use super::test_knobs::{DirtyLogOff, DmaEntriesMax, DmaUnmapFails, IrqAtDriverOk, LateIrqs};
use super::virtqueue::{GuestMemory, SplitQueue};
use super::vmdev_regs::device::DeviceInfo;
use super::vmdev_regs::{caps, features, GroupLayout};
use core::pin::Pin;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

const VIRTIO_ID_BLOCK: u32 = 2;
/// Requests per worker pass before it lets others run (it requeues itself).
const BUDGET: u32 = 128;
const QUEUE_MAX: u16 = 256;
/// Room for queues: the most request queues an instance may have.
const QUEUES: usize = blksim::MAX_QUEUES as usize;
// Each request queue is a lane of the core.
const _: () = assert!(QUEUES <= MAX_LANES);
/// The capacity of a new instance: 128 MiB, as upstream's vdpa_sim_blk.
const DEFAULT_BYTES: u64 = 128 << 20;
/// Request queues of a new instance.
const DEFAULT_QUEUES: u16 = 2;

/// The block class's state of one instance, which the request queues' workers share; each
/// queue keeps its own counters (`DeviceClass::Lane`).
pub(crate) struct BlkClass {
    cfg: BlkConfig,
    disk: Pin<KBox<RamDisk>>,
    /// The features the driver negotiated (0 until `FEATURES_OK`).
    features: u64,
}

/// The parent of block instances.
pub(crate) type BlkParent = SimParent<BlkClass, QUEUES>;
/// A block instance, as its sysfs files see it.
type BlkInstance = Instance<BlkParent>;

/// A serial number: `vmdev-` and 12 random hex digits, different for each instance.
fn random_serial() -> [u8; SERIAL_LEN] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut r = [0u8; 6];
    super::kglue::random::fill(&mut r);
    let mut s = [0u8; SERIAL_LEN];
    s[..6].copy_from_slice(b"vmdev-");
    for (i, b) in r.iter().enumerate() {
        s[6 + 2 * i] = HEX[usize::from(b >> 4)];
        s[7 + 2 * i] = HEX[usize::from(b & 15)];
    }
    s
}

impl DeviceClass<QUEUES> for BlkClass {
    const TYPE: TypeDesc = TypeDesc {
        name: c"blk",
        pretty_name: c"vmdev_sim virtio-blk RAM disk",
        device_id: VIRTIO_ID_BLOCK,
        max_instances: 64,
    };

    const INFO: DeviceInfo = DeviceInfo {
        device_id: VIRTIO_ID_BLOCK,
        vendor_id: 0,
        features: features::VERSION_1
            | features::ACCESS_PLATFORM
            | features::RING_EVENT_IDX
            | features::RING_INDIRECT_DESC
            | blksim::FEATURES,
        queue_num_max: QUEUE_MAX,
        queue_align: 4096,
        config_size: blksim::CONFIG_SIZE as u32,
        dma_entries: DMA_MAX_ENTRIES as u32,
        caps: caps::SUSPEND | caps::DIRTY_LOG,
        groups: GroupLayout::Single,
        address_spaces: 1,
    };

    /// Each request queue is a lane of the core: it runs in parallel with the others.
    type Lane = BlkStats;

    fn new() -> Result<Self> {
        Ok(BlkClass {
            cfg: BlkConfig {
                capacity: DEFAULT_BYTES / SECTOR_SIZE,
                read_only: false,
                num_queues: DEFAULT_QUEUES,
                serial: random_serial(),
            },
            disk: RamDisk::new(DEFAULT_BYTES)?,
            features: 0,
        })
    }

    fn num_queues(&self) -> u16 {
        self.cfg.num_queues
    }

    fn setting_features(&self) -> u64 {
        self.cfg.features()
    }

    fn features_ok(&mut self, features: u64) {
        self.features = features;
    }

    fn reset(&mut self) {
        self.features = 0;
    }

    fn config_read(&self, offset: usize, buf: &mut [u8]) {
        self.cfg.read(offset, buf);
    }

    /// Nothing in the config space is writable (`VIRTIO_BLK_F_CONFIG_WCE` is not offered).
    fn config_write(&mut self, _offset: usize, _data: &[u8]) -> bool {
        false
    }

    /// Request queue `q` is lane `q`.
    fn role(&self, q: u16) -> QueueRole {
        if q < self.cfg.num_queues {
            QueueRole::Lane {
                lane: usize::from(q),
                slot: 0,
            }
        } else {
            QueueRole::Unused
        }
    }

    fn lane_runs(&self, lane: usize) -> bool {
        lane < usize::from(self.cfg.num_queues)
    }

    /// A block device has no control queue.
    fn run_control<M: GuestMemory + ?Sized>(
        &mut self,
        _index: u16,
        _queue: &mut SplitQueue,
        _mem: &M,
    ) -> Pass {
        Pass::default()
    }

    fn run_lane<M: GuestMemory + ?Sized>(
        &self,
        lane: usize,
        stats: &mut BlkStats,
        queues: &mut [Option<SplitQueue>; LANE_QUEUES],
        mem: &M,
        raise: &dyn Fn(u64),
    ) -> Pass {
        let [Some(q), _] = queues else {
            return Pass::default();
        };
        // Each completion the driver wants to hear of is signalled as it is published (see
        // `blksim::run_pass`), so the pass returns no interrupt of its own.
        let end = blksim::run_pass(
            &self.cfg,
            self.features,
            q,
            mem,
            &*self.disk,
            BUDGET,
            stats,
            &mut || raise(1 << lane),
        );
        Pass {
            run_again: end.run_again,
            broken: end.broken,
            ..Pass::default()
        }
    }
}

/// The input of a `store` without its trailing newline.
fn text(input: &[u8]) -> &[u8] {
    input.strip_suffix(b"\n").unwrap_or(input)
}

/// Parses a size: a number of bytes, with an optional binary suffix K, M, G or T.
fn parse_size(input: &[u8]) -> Option<u64> {
    let s = text(input);
    let (digits, shift) = match s.last()? {
        b'K' | b'k' => (&s[..s.len() - 1], 10),
        b'M' | b'm' => (&s[..s.len() - 1], 20),
        b'G' | b'g' => (&s[..s.len() - 1], 30),
        b'T' | b't' => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: u64 = core::str::from_utf8(digits).ok()?.parse().ok()?;
    n.checked_mul(1u64 << shift)
}

/// `capacity`: the disk's size in bytes; written with an optional K, M, G or T suffix, a
/// multiple of 512 up to 4 GiB, before a driver starts the device. What was written below a
/// new capacity stays.
struct Capacity;
impl Attribute for Capacity {
    type Target = BlkInstance;
    const NAME: &'static core::ffi::CStr = c"capacity";
    const WRITABLE: bool = true;
    fn show(sim: &BlkInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.read().class.cfg.bytes()))
    }
    fn store(sim: &BlkInstance, input: &[u8]) -> Result {
        let bytes = parse_size(input).ok_or(EINVAL)?;
        if bytes == 0 || bytes % SECTOR_SIZE != 0 || bytes > MAX_BYTES {
            return Err(EINVAL);
        }
        sim.set_config_stopped(|blk| {
            blk.disk.resize(bytes)?;
            blk.cfg.capacity = bytes / SECTOR_SIZE;
            Ok(())
        })
    }
}

/// `read_only`: 1 makes the device refuse writes and offer `VIRTIO_BLK_F_RO`; before a
/// driver starts the device.
struct ReadOnly;
impl Attribute for ReadOnly {
    type Target = BlkInstance;
    const NAME: &'static core::ffi::CStr = c"read_only";
    const WRITABLE: bool = true;
    fn show(sim: &BlkInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", u8::from(sim.read().class.cfg.read_only)))
    }
    fn store(sim: &BlkInstance, input: &[u8]) -> Result {
        let ro = match text(input) {
            b"1" | b"y" | b"yes" | b"on" => true,
            b"0" | b"n" | b"no" | b"off" => false,
            _ => return Err(EINVAL),
        };
        sim.set_config_stopped(|blk| {
            blk.cfg.read_only = ro;
            Ok(())
        })
    }
}

/// `num_queues`: request queues, 1 to 8; before a driver starts the device.
struct NumQueues;
impl Attribute for NumQueues {
    type Target = BlkInstance;
    const NAME: &'static core::ffi::CStr = c"num_queues";
    const WRITABLE: bool = true;
    fn show(sim: &BlkInstance, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.read().class.cfg.num_queues))
    }
    fn store(sim: &BlkInstance, input: &[u8]) -> Result {
        let n: u16 = core::str::from_utf8(text(input))
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| BlkConfig::valid_queues(n))
            .ok_or(EINVAL)?;
        sim.set_config_stopped(|blk| {
            blk.cfg.num_queues = n;
            Ok(())
        })
    }
}

/// `serial`: the `GET_ID` answer, 1 to 20 printable characters; before a driver starts the
/// device.
struct Serial;
impl Attribute for Serial {
    type Target = BlkInstance;
    const NAME: &'static core::ffi::CStr = c"serial";
    const WRITABLE: bool = true;
    fn show(sim: &BlkInstance, page: &mut Page<'_>) -> Result {
        let s = sim.read().class.cfg.serial;
        let n = s.iter().position(|&b| b == 0).unwrap_or(SERIAL_LEN);
        page.bytes(&s[..n]);
        page.line(format_args!(""))
    }
    fn store(sim: &BlkInstance, input: &[u8]) -> Result {
        let s = text(input);
        if s.is_empty() || s.len() > SERIAL_LEN || !s.iter().all(|b| b.is_ascii_graphic()) {
            return Err(EINVAL);
        }
        let mut serial = [0u8; SERIAL_LEN];
        serial[..s.len()].copy_from_slice(s);
        sim.set_config_stopped(|blk| {
            blk.cfg.serial = serial;
            Ok(())
        })
    }
}

/// The counters of every request queue, summed.
fn stats(sim: &BlkInstance) -> BlkStats {
    let mut sum = BlkStats::default();
    sim.for_each_lane(|_, s| {
        sum.reads = sum.reads.wrapping_add(s.reads);
        sum.read_bytes = sum.read_bytes.wrapping_add(s.read_bytes);
        sum.writes = sum.writes.wrapping_add(s.writes);
        sum.write_bytes = sum.write_bytes.wrapping_add(s.write_bytes);
        sum.flushes = sum.flushes.wrapping_add(s.flushes);
        sum.discards = sum.discards.wrapping_add(s.discards);
        sum.get_ids = sum.get_ids.wrapping_add(s.get_ids);
        sum.errors = sum.errors.wrapping_add(s.errors);
        sum.unsupported = sum.unsupported.wrapping_add(s.unsupported);
    });
    sum
}

/// `stats/requests_per_queue`: requests each queue completed, space-separated.
struct RequestsPerQueue;
impl Attribute for RequestsPerQueue {
    type Target = BlkInstance;
    const NAME: &'static core::ffi::CStr = c"requests_per_queue";
    fn show(sim: &BlkInstance, page: &mut Page<'_>) -> Result {
        let n = usize::from(sim.read().class.cfg.num_queues);
        let mut values = [0u64; MAX_LANES];
        sim.for_each_lane(|i, s| {
            if let Some(v) = values.get_mut(i) {
                *v = s.reads + s.writes + s.flushes + s.discards + s.get_ids + s.errors + s.unsupported;
            }
        });
        for (i, v) in values.iter().take(n).enumerate() {
            let sep = if i == 0 { "" } else { " " };
            core::fmt::Write::write_fmt(page, format_args!("{sep}{v}")).map_err(|_| EINVAL)?;
        }
        page.line(format_args!(""))
    }
}

crate::show_attribute!(Reads: BlkInstance, c"reads", |s| stats(s).reads);
crate::show_attribute!(ReadBytes: BlkInstance, c"read_bytes", |s| stats(s).read_bytes);
crate::show_attribute!(Writes: BlkInstance, c"writes", |s| stats(s).writes);
crate::show_attribute!(WriteBytes: BlkInstance, c"write_bytes", |s| stats(s).write_bytes);
crate::show_attribute!(Flushes: BlkInstance, c"flushes", |s| stats(s).flushes);
crate::show_attribute!(Discards: BlkInstance, c"discards", |s| stats(s).discards);
crate::show_attribute!(GetIds: BlkInstance, c"get_ids", |s| stats(s).get_ids);
crate::show_attribute!(Errors: BlkInstance, c"errors", |s| stats(s).errors);
crate::show_attribute!(Unsupported: BlkInstance, c"unsupported", |s| stats(s).unsupported);
crate::show_attribute!(AllocatedBytes: BlkInstance, c"allocated_bytes", |s| s
    .read()
    .class
    .disk
    .allocated_bytes());

crate::attribute_group!(
    static SETTINGS: AttributeGroup<BlkInstance> = (None) [Capacity, ReadOnly, NumQueues, Serial];
);
crate::attribute_group!(
    static STATS: AttributeGroup<BlkInstance> = (Some(c"stats")) [
        Reads, ReadBytes, Writes, WriteBytes, Flushes, Discards, GetIds, Errors, Unsupported,
        AllocatedBytes, RequestsPerQueue,
    ];
);
crate::attribute_group!(
    static TEST: AttributeGroup<BlkInstance> = (Some(c"test")) [
        IrqAtDriverOk<BlkClass, QUEUES>, LateIrqs<BlkClass, QUEUES>,
        DmaUnmapFails<BlkClass, QUEUES>, DmaEntriesMax<BlkClass, QUEUES>,
        DirtyLogOff<BlkClass, QUEUES>,
    ];
);
crate::attribute_groups!(
    pub(crate) static GROUPS: AttributeGroups<BlkInstance> = [SETTINGS, STATS, TEST];
);
