// SPDX-License-Identifier: GPL-2.0
//! A device-side register file.
//!
//! It holds what the register map exposes (status, feature words, selectors, per-queue
//! configuration) and enforces the virtio rules for changing it, so that a device only acts on
//! the [`Effect`] of each accepted write. Writes that break a rule change nothing and report a
//! [`Rejected`] reason; the device may count or log it, the driver sees the register unchanged
//! (which is how virtio tells a driver that, for example, its features were not accepted).

use super::features::VERSION_1;
use super::map::{Register, MAGIC, VERSION};
use super::status::*;
use super::{caps, dma, log};

/// The most address spaces (`NUM_AS`) a register file supports.
pub const MAX_AS: u16 = 2;

/// How a device sorts its queues into virtqueue groups, each of which uses one address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupLayout {
    /// Every queue is in group 0.
    Single,
    /// A virtio-net device's control queue is alone in group 1, the others are in group 0, so
    /// a driver can give the control queue an address space of its own (as QEMU does when it
    /// shadows it). The control queue is queue 2 unless the driver negotiated
    /// `VIRTIO_NET_F_MQ`, and then the last queue (virtio 1.2, 5.1.2); before feature
    /// negotiation it is queue 2.
    NetControlQueue,
}

/// `VIRTIO_NET_F_MQ`, which moves a net device's control queue (see
/// [`GroupLayout::NetControlQueue`]).
const VIRTIO_NET_F_MQ: u64 = 1 << 22;

impl GroupLayout {
    /// How many groups there are (`NUM_GROUPS`).
    pub const fn groups(self) -> u16 {
        match self {
            GroupLayout::Single => 1,
            GroupLayout::NetControlQueue => 2,
        }
    }

    /// The group of queue `q` of `n`, with `driver_features` negotiated.
    pub const fn group_of(self, q: u16, n: u16, driver_features: u64) -> u16 {
        match self {
            GroupLayout::Single => 0,
            GroupLayout::NetControlQueue => {
                let ctrl = if driver_features & VIRTIO_NET_F_MQ != 0 {
                    n.saturating_sub(1)
                } else {
                    2
                };
                if q == ctrl && q < n {
                    1
                } else {
                    0
                }
            }
        }
    }
}

/// What a device declares about itself; fixed for the device's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceInfo {
    /// virtio device id (1 = net).
    pub device_id: u32,
    /// virtio subsystem vendor id.
    pub vendor_id: u32,
    /// Offered features. Must include [`VERSION_1`].
    pub features: u64,
    /// Largest queue size, a power of two.
    pub queue_num_max: u16,
    /// Alignment reported in `QUEUE_ALIGN`.
    pub queue_align: u32,
    /// Size of the configuration space in bytes.
    pub config_size: u32,
    /// Entries in the device's DMA translation table (`DMA_MAX_ENTRIES`); 0 if it has none.
    pub dma_entries: u32,
    /// `DEVICE_CAPS`: the `caps::*` bits of what the device implements.
    pub caps: u32,
    /// How the queues are grouped.
    pub groups: GroupLayout,
    /// Address spaces (`NUM_AS`), 1 to [`MAX_AS`]: a DMA table each.
    pub address_spaces: u16,
}

/// The configuration of one queue as the driver wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueRegs {
    /// Queue size (0 until the driver writes `QUEUE_NUM`).
    pub num: u16,
    /// Whether the queue is enabled.
    pub ready: bool,
    /// Descriptor table address.
    pub desc: u64,
    /// Driver (available) ring address.
    pub avail: u64,
    /// Device (used) ring address.
    pub used: u64,
    /// Next available index to use when the queue is enabled.
    pub avail_state: u16,
    /// Next used index, as the device last recorded it.
    pub used_state: u16,
    /// `QUEUE_USED_LOG`: bit 0 (`log::QUEUE_LOG_USED`) enables logging the used ring's
    /// writes; the rest is the guest address they are logged at (4-byte aligned, like the
    /// ring). See [`QueueRegs::used_log_addr`].
    pub used_log: u64,
}

impl QueueRegs {
    /// Where the used ring's writes are logged, if they are.
    pub fn used_log_addr(&self) -> Option<u64> {
        (self.used_log & u64::from(log::QUEUE_LOG_USED) != 0).then_some(self.used_log & !3)
    }
}

/// The dirty log as the last `LOG_CTRL` write applied it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogConfig {
    /// Device address of the first log word in the log address space (8-byte aligned).
    pub base: u64,
    /// Bytes of log (a multiple of 8); pages whose word lies past it cannot be logged.
    pub size: u64,
    /// `log::ALL`: log the pages written through buffers.
    pub all: bool,
}

impl LogConfig {
    /// Log words.
    pub fn words(&self) -> u64 {
        self.size / 8
    }
}

/// A `DMA_CMD` write, with the staging registers it acts on, already checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaRequest {
    /// One of the `dma::CMD_*` values.
    pub cmd: u32,
    /// First IOVA.
    pub iova: u64,
    /// Last IOVA (inclusive); for `CMD_MAP` and `CMD_UNMAP` only.
    pub last: u64,
    /// Physical address of `iova`; for `CMD_MAP` only.
    pub addr: u64,
    /// `dma::PERM_*` bits; for `CMD_MAP` only.
    pub perm: u32,
    /// The address space the command acts on (`DMA_ASID`).
    pub asid: u16,
}

/// What an accepted write asks the device to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Nothing beyond the register change.
    None,
    /// The driver wrote 0 to `STATUS`: the device must stop all queue processing before the
    /// write returns, and forget every queue's state. The register file is already reset.
    Reset,
    /// `FEATURES_OK` was accepted with these driver features.
    FeaturesOk(u64),
    /// `DRIVER_OK` was set: the device may start processing enabled queues.
    DriverOk,
    /// The driver set `FAILED`.
    Failed,
    /// Queue `0` became ready: the device should build it from [`RegisterFile::queue`] and
    /// call [`RegisterFile::set_queue_ready`]`(idx, false)` if it cannot.
    QueueEnabled(u16),
    /// Queue `0` was disabled: the device must stop using it before the write returns.
    QueueDisabled(u16),
    /// The driver notified queue `0`.
    Notify(u16),
    /// The driver wrote a DMA command. The device runs it and reports the outcome with
    /// [`RegisterFile::set_dma_result`] before the write returns.
    Dma(DmaRequest),
    /// The driver suspended the running device: before the write returns the device must
    /// have stopped reading and writing rings and buffers and raising queue interrupts, and
    /// have recorded where each enabled queue stands (`QUEUE_AVAIL_STATE`,
    /// `QUEUE_USED_STATE`). Registers keep working; a queue enabled while suspended is not
    /// processed until the device resumes.
    Suspend,
    /// The driver resumed the device: it goes on from where its queues stand, including
    /// buffers made available and notifications written while it was suspended.
    Resume,
    /// The driver wrote `LOG_CTRL`: from the write's return the device logs as this says,
    /// through this log only (the driver may free the previous one), and `LOG_STATUS` is
    /// clear.
    Log(LogConfig),
    /// The driver changed where (or whether) queue `0`, which is ready, logs its used ring
    /// (`QueueRegs::used_log`): the device takes it before the write returns.
    QueueLog(u16),
    /// The queues of `group` use address space `asid` from now on: the device must have
    /// stopped translating their addresses through the old one when the write returns.
    GroupAsid {
        /// The group.
        group: u16,
        /// Its new address space.
        asid: u16,
    },
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The register is read-only (the transport normally refuses this first).
    ReadOnly,
    /// A status write cleared a bit without resetting, or set a device-only bit.
    StatusBitCleared,
    /// `DRIVER_OK` or `FEATURES_OK` set out of order.
    StatusOrder,
    /// Driver features written outside the feature negotiation window.
    FeaturesLocked,
    /// A selector value out of range.
    BadSelector,
    /// The selected queue does not exist.
    NoSuchQueue,
    /// A queue's configuration changed while it was ready.
    QueueBusy,
    /// Queue configuration before feature negotiation finished.
    NotNegotiated,
    /// A queue size that is zero, not a power of two, or over `QUEUE_NUM_MAX`.
    BadQueueSize,
    /// A value outside what the register accepts.
    BadValue,
    /// The device does not implement what the write asks for (see `DEVICE_CAPS`).
    NotSupported,
}

/// The register state of one device with `N` queues.
#[derive(Debug, Clone)]
pub struct RegisterFile<const N: usize> {
    info: DeviceInfo,
    status: u8,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: [QueueRegs; N],
    config_generation: u32,
    dma_iova: u64,
    dma_size: u64,
    dma_addr: u64,
    dma_perm: u32,
    dma_result: u32,
    suspended: bool,
    /// Queues the device has (`NUM_QUEUES`), at most `N`.
    nq: usize,
    group_sel: u32,
    /// The address space of each group.
    group_asid: [u16; 2],
    dma_asid: u16,
    /// `LOG_BASE` and `LOG_SIZE` as written, applied at the next `LOG_CTRL` write.
    log_base: u64,
    log_size: u64,
    log: LogConfig,
    log_status: u32,
}

fn set_word(value: u64, word: u32, bits: u32) -> u64 {
    if word == 0 {
        (value & !0xffff_ffff) | u64::from(bits)
    } else {
        (value & 0xffff_ffff) | (u64::from(bits) << 32)
    }
}

fn get_word(value: u64, word: u32) -> u32 {
    match word {
        0 => value as u32,
        1 => (value >> 32) as u32,
        _ => 0,
    }
}

impl<const N: usize> RegisterFile<N> {
    /// A register file in the reset state.
    pub fn new(info: DeviceInfo) -> Self {
        Self {
            info,
            status: 0,
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            queues: [QueueRegs::default(); N],
            config_generation: 0,
            dma_iova: 0,
            dma_size: 0,
            dma_addr: 0,
            dma_perm: 0,
            dma_result: dma::OK,
            suspended: false,
            nq: N,
            group_sel: 0,
            group_asid: [0; 2],
            dma_asid: 0,
            log_base: 0,
            log_size: 0,
            log: LogConfig::default(),
            log_status: 0,
        }
    }

    /// The device's declaration.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The current status byte.
    pub fn status(&self) -> u8 {
        self.status
    }

    /// Whether the driver suspended the device (cleared by resume and by reset).
    pub fn suspended(&self) -> bool {
        self.suspended
    }

    /// The features the driver accepted (meaningful once `FEATURES_OK` is set).
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    /// The number of queues, as `NUM_QUEUES` reports it.
    pub fn num_queues(&self) -> u16 {
        u16::try_from(self.nq).unwrap_or(u16::MAX)
    }

    /// Gives the device `n` of its `N` queues (a device whose queue count is a setting, such
    /// as a net device's number of queue pairs); queues from `n` on do not exist. Only while
    /// the device is reset (status 0), so that no driver has counted them yet.
    pub fn set_num_queues(&mut self, n: u16) -> Result<(), Rejected> {
        if self.status != 0 {
            return Err(Rejected::QueueBusy);
        }
        let n = usize::from(n);
        if n == 0 || n > N {
            return Err(Rejected::BadValue);
        }
        self.nq = n;
        Ok(())
    }

    /// Changes the features the device offers (a device whose features are a setting, such
    /// as a block device's read-only flag). Only while the device is reset (status 0), so that
    /// no driver has read them yet; `VERSION_1` must stay.
    pub fn set_offered_features(&mut self, features: u64) -> Result<(), Rejected> {
        if self.status != 0 {
            return Err(Rejected::QueueBusy);
        }
        if features & VERSION_1 == 0 {
            return Err(Rejected::BadValue);
        }
        self.info.features = features;
        Ok(())
    }

    /// The virtqueue group of queue `idx`.
    pub fn queue_group(&self, idx: u16) -> u16 {
        let features = if self.status & FEATURES_OK != 0 {
            self.driver_features
        } else {
            0
        };
        self.info.groups.group_of(idx, self.num_queues(), features)
    }

    /// The address space queue `idx` uses.
    pub fn queue_asid(&self, idx: u16) -> u16 {
        let g = usize::from(self.queue_group(idx));
        self.group_asid.get(g).copied().unwrap_or(0)
    }

    /// The queues that exist.
    fn live(&self) -> &[QueueRegs] {
        self.queues.get(..self.nq).unwrap_or(&[])
    }

    fn live_mut(&mut self) -> &mut [QueueRegs] {
        self.queues.get_mut(..self.nq).unwrap_or(&mut [])
    }

    /// The configuration of queue `idx`, if it exists.
    pub fn queue(&self, idx: u16) -> Option<&QueueRegs> {
        self.live().get(usize::from(idx))
    }

    /// Marks queue `idx` ready or not ready from the device side (for example when the
    /// device could not use the configuration the driver wrote).
    pub fn set_queue_ready(&mut self, idx: u16, ready: bool) {
        if let Some(q) = self.live_mut().get_mut(usize::from(idx)) {
            q.ready = ready;
        }
    }

    /// Records the position the device reached in queue `idx`, so `QUEUE_AVAIL_STATE`
    /// reads it back.
    pub fn set_avail_state(&mut self, idx: u16, next_avail: u16) {
        if let Some(q) = self.live_mut().get_mut(usize::from(idx)) {
            q.avail_state = next_avail;
        }
    }

    /// Records the used index the device reached in queue `idx` (`QUEUE_USED_STATE`).
    pub fn set_used_state(&mut self, idx: u16, next_used: u16) {
        if let Some(q) = self.live_mut().get_mut(usize::from(idx)) {
            q.used_state = next_used;
        }
    }

    /// Reports the outcome of the last [`Effect::Dma`] (one of the `dma::OK`/`ERR_*` values).
    pub fn set_dma_result(&mut self, result: u32) {
        self.dma_result = result;
    }

    /// The dirty log as the last `LOG_CTRL` write applied it.
    pub fn log(&self) -> LogConfig {
        self.log
    }

    /// Records that a write could not be logged (`log::STATUS_OVERFLOW`).
    pub fn set_log_overflow(&mut self) {
        self.log_status |= log::STATUS_OVERFLOW;
    }

    /// Sets `DEVICE_NEEDS_RESET` (the device met an error it cannot recover from).
    pub fn set_needs_reset(&mut self) {
        self.status |= DEVICE_NEEDS_RESET;
    }

    /// Records a change of the device configuration space.
    pub fn config_changed(&mut self) {
        self.config_generation = self.config_generation.wrapping_add(1);
    }

    fn reset(&mut self) {
        let (generation, nq) = (self.config_generation, self.nq);
        *self = Self::new(self.info);
        // The generation must not go back: a driver may hold an old value across a reset.
        self.config_generation = generation;
        self.nq = nq;
    }

    fn selected(&self) -> Option<&QueueRegs> {
        self.live().get(self.queue_sel as usize)
    }

    /// Reads register `reg`. Write-only registers read 0 (the transport refuses such reads
    /// before they get here).
    pub fn read(&self, reg: Register) -> u32 {
        let q = self.selected();
        match reg {
            Register::MAGIC_VALUE => MAGIC,
            Register::VERSION => VERSION,
            Register::DEVICE_ID => self.info.device_id,
            Register::VENDOR_ID => self.info.vendor_id,
            Register::DEVICE_FEATURES => get_word(self.info.features, self.device_features_sel),
            Register::DEVICE_FEATURES_SEL => self.device_features_sel,
            Register::DRIVER_FEATURES => get_word(self.driver_features, self.driver_features_sel),
            Register::DRIVER_FEATURES_SEL => self.driver_features_sel,
            Register::QUEUE_SEL => self.queue_sel,
            Register::QUEUE_NUM_MAX => q.map_or(0, |_| u32::from(self.info.queue_num_max)),
            Register::QUEUE_NUM => q.map_or(0, |q| u32::from(q.num)),
            Register::QUEUE_READY => q.map_or(0, |q| u32::from(q.ready)),
            Register::QUEUE_ALIGN => self.info.queue_align,
            Register::QUEUE_NOTIFY => 0,
            Register::STATUS => u32::from(self.status),
            Register::QUEUE_DESC_LOW => q.map_or(0, |q| q.desc as u32),
            Register::QUEUE_DESC_HIGH => q.map_or(0, |q| (q.desc >> 32) as u32),
            Register::QUEUE_AVAIL_LOW => q.map_or(0, |q| q.avail as u32),
            Register::QUEUE_AVAIL_HIGH => q.map_or(0, |q| (q.avail >> 32) as u32),
            Register::QUEUE_USED_LOW => q.map_or(0, |q| q.used as u32),
            Register::QUEUE_USED_HIGH => q.map_or(0, |q| (q.used >> 32) as u32),
            Register::QUEUE_AVAIL_STATE => q.map_or(0, |q| u32::from(q.avail_state)),
            Register::QUEUE_USED_STATE => q.map_or(0, |q| u32::from(q.used_state)),
            Register::DEVICE_CAPS => self.info.caps,
            Register::NUM_GROUPS => u32::from(self.info.groups.groups()),
            Register::NUM_AS => u32::from(self.info.address_spaces),
            Register::QUEUE_GROUP => {
                q.map_or(0, |_| u32::from(self.queue_group(self.queue_sel as u16)))
            }
            Register::GROUP_SEL => self.group_sel,
            Register::GROUP_ASID => self
                .group_asid
                .get(self.group_sel as usize)
                .map_or(0, |&a| u32::from(a)),
            Register::DMA_ASID => u32::from(self.dma_asid),
            Register::SUSPEND => u32::from(self.suspended),
            Register::DMA_IOVA_LOW => self.dma_iova as u32,
            Register::DMA_IOVA_HIGH => (self.dma_iova >> 32) as u32,
            Register::DMA_SIZE_LOW => self.dma_size as u32,
            Register::DMA_SIZE_HIGH => (self.dma_size >> 32) as u32,
            Register::DMA_ADDR_LOW => self.dma_addr as u32,
            Register::DMA_ADDR_HIGH => (self.dma_addr >> 32) as u32,
            Register::DMA_PERM => self.dma_perm,
            Register::DMA_CMD => self.dma_result,
            Register::DMA_MAX_ENTRIES => self.info.dma_entries,
            Register::NUM_QUEUES => u32::from(self.num_queues()),
            Register::CONFIG_SIZE => self.info.config_size,
            Register::CONFIG_GENERATION => self.config_generation,
            Register::LOG_BASE_LOW => self.log_base as u32,
            Register::LOG_BASE_HIGH => (self.log_base >> 32) as u32,
            Register::LOG_SIZE_LOW => self.log_size as u32,
            Register::LOG_SIZE_HIGH => (self.log_size >> 32) as u32,
            Register::LOG_CTRL => {
                if self.log.all {
                    log::ALL
                } else {
                    0
                }
            }
            Register::LOG_STATUS => self.log_status,
            Register::QUEUE_USED_LOG_LOW => q.map_or(0, |q| q.used_log as u32),
            Register::QUEUE_USED_LOG_HIGH => q.map_or(0, |q| (q.used_log >> 32) as u32),
        }
    }

    /// Writes `val` to register `reg`, enforcing the virtio rules.
    pub fn write(&mut self, reg: Register, val: u32) -> Result<Effect, Rejected> {
        match reg {
            Register::DEVICE_FEATURES_SEL => {
                if val > 1 {
                    return Err(Rejected::BadSelector);
                }
                self.device_features_sel = val;
                Ok(Effect::None)
            }
            Register::DRIVER_FEATURES_SEL => {
                if val > 1 {
                    return Err(Rejected::BadSelector);
                }
                self.driver_features_sel = val;
                Ok(Effect::None)
            }
            Register::DRIVER_FEATURES => {
                // Features may change only between DRIVER and FEATURES_OK.
                if self.status & FEATURES_OK != 0 || self.status & DRIVER == 0 {
                    return Err(Rejected::FeaturesLocked);
                }
                self.driver_features =
                    set_word(self.driver_features, self.driver_features_sel, val);
                Ok(Effect::None)
            }
            Register::QUEUE_SEL => {
                // Selecting a queue that does not exist is allowed (QUEUE_NUM_MAX then reads 0,
                // which is how a driver discovers the number of queues), but bounded.
                if val > u32::from(u16::MAX) {
                    return Err(Rejected::BadSelector);
                }
                self.queue_sel = val;
                Ok(Effect::None)
            }
            Register::QUEUE_NOTIFY => match u16::try_from(val) {
                Ok(idx) if usize::from(idx) < self.nq => Ok(Effect::Notify(idx)),
                _ => Err(Rejected::NoSuchQueue),
            },
            Register::STATUS => self.write_status(val),
            Register::DMA_IOVA_LOW => {
                self.dma_iova = set_word(self.dma_iova, 0, val);
                Ok(Effect::None)
            }
            Register::DMA_IOVA_HIGH => {
                self.dma_iova = set_word(self.dma_iova, 1, val);
                Ok(Effect::None)
            }
            Register::DMA_SIZE_LOW => {
                self.dma_size = set_word(self.dma_size, 0, val);
                Ok(Effect::None)
            }
            Register::DMA_SIZE_HIGH => {
                self.dma_size = set_word(self.dma_size, 1, val);
                Ok(Effect::None)
            }
            Register::DMA_ADDR_LOW => {
                self.dma_addr = set_word(self.dma_addr, 0, val);
                Ok(Effect::None)
            }
            Register::DMA_ADDR_HIGH => {
                self.dma_addr = set_word(self.dma_addr, 1, val);
                Ok(Effect::None)
            }
            Register::DMA_PERM => {
                if val & !(dma::PERM_READ | dma::PERM_WRITE) != 0 {
                    return Err(Rejected::BadValue);
                }
                self.dma_perm = val;
                Ok(Effect::None)
            }
            Register::DMA_CMD => Ok(self.write_dma_cmd(val)),
            Register::SUSPEND => self.write_suspend(val),
            Register::GROUP_SEL => {
                if val >= u32::from(self.info.groups.groups()) {
                    return Err(Rejected::BadSelector);
                }
                self.group_sel = val;
                Ok(Effect::None)
            }
            Register::GROUP_ASID => {
                let asid = self.address_space(val)?;
                let group = self.group_sel as u16;
                let slot = self
                    .group_asid
                    .get_mut(usize::from(group))
                    .ok_or(Rejected::BadSelector)?;
                *slot = asid;
                Ok(Effect::GroupAsid { group, asid })
            }
            Register::DMA_ASID => {
                self.dma_asid = if val == log::ASID && self.info.caps & caps::DIRTY_LOG != 0 {
                    log::ASID as u16
                } else {
                    self.address_space(val)?
                };
                Ok(Effect::None)
            }
            Register::LOG_BASE_LOW
            | Register::LOG_BASE_HIGH
            | Register::LOG_SIZE_LOW
            | Register::LOG_SIZE_HIGH
            | Register::LOG_CTRL
            | Register::QUEUE_USED_LOG_LOW
            | Register::QUEUE_USED_LOG_HIGH => self.write_log(reg, val),
            Register::QUEUE_READY => self.write_queue_ready(val),
            Register::QUEUE_NUM
            | Register::QUEUE_DESC_LOW
            | Register::QUEUE_DESC_HIGH
            | Register::QUEUE_AVAIL_LOW
            | Register::QUEUE_AVAIL_HIGH
            | Register::QUEUE_USED_LOW
            | Register::QUEUE_USED_HIGH
            | Register::QUEUE_AVAIL_STATE => self.write_queue_config(reg, val),
            Register::MAGIC_VALUE
            | Register::VERSION
            | Register::DEVICE_ID
            | Register::VENDOR_ID
            | Register::DEVICE_FEATURES
            | Register::QUEUE_NUM_MAX
            | Register::QUEUE_ALIGN
            | Register::NUM_QUEUES
            | Register::CONFIG_SIZE
            | Register::CONFIG_GENERATION
            | Register::QUEUE_USED_STATE
            | Register::DEVICE_CAPS
            | Register::NUM_GROUPS
            | Register::NUM_AS
            | Register::QUEUE_GROUP
            | Register::DMA_MAX_ENTRIES
            | Register::LOG_STATUS => Err(Rejected::ReadOnly),
        }
    }

    /// Checks a DMA command against the staging registers. A command the device cannot run
    /// is still an accepted write: its error is the result `DMA_CMD` reads back.
    fn write_dma_cmd(&mut self, cmd: u32) -> Effect {
        if self.info.dma_entries == 0 {
            self.dma_result = dma::ERR_NOTSUPP;
            return Effect::None;
        }
        let asid = self.dma_asid;
        let range = || {
            let last = self.dma_iova.checked_add(self.dma_size.checked_sub(1)?)?;
            Some(last)
        };
        let req = match cmd {
            dma::CMD_TRANSLATE_ON | dma::CMD_TRANSLATE_OFF => Some(DmaRequest {
                cmd,
                iova: 0,
                last: 0,
                addr: 0,
                perm: 0,
                asid,
            }),
            dma::CMD_UNMAP => range().map(|last| DmaRequest {
                cmd,
                iova: self.dma_iova,
                last,
                addr: 0,
                perm: 0,
                asid,
            }),
            dma::CMD_MAP => range()
                .filter(|_| {
                    self.dma_addr
                        .checked_add(self.dma_size.wrapping_sub(1))
                        .is_some()
                })
                // A physical address at another offset in its page than the IOVA would turn
                // an aligned ring index into an unaligned memory access.
                .filter(|_| (self.dma_addr ^ self.dma_iova) & (dma::PAGE_SIZE - 1) == 0)
                .map(|last| DmaRequest {
                    cmd,
                    iova: self.dma_iova,
                    last,
                    addr: self.dma_addr,
                    perm: self.dma_perm,
                    asid,
                }),
            _ => None,
        };
        match req {
            Some(r) => {
                // The device overwrites this with the outcome; a device that forgets to
                // must not report success.
                self.dma_result = dma::ERR_INVAL;
                Effect::Dma(r)
            }
            None => {
                self.dma_result = dma::ERR_INVAL;
                Effect::None
            }
        }
    }

    /// `val` as an address space of this device.
    fn address_space(&self, val: u32) -> Result<u16, Rejected> {
        match u16::try_from(val) {
            Ok(a) if a < self.info.address_spaces.min(MAX_AS) => Ok(a),
            _ => Err(Rejected::BadValue),
        }
    }

    /// Suspends (1) or resumes (0) a device that implements it. Suspending needs
    /// `DRIVER_OK`: before it the device touches no ring anyway. Writing the state the device
    /// is already in changes nothing.
    fn write_suspend(&mut self, val: u32) -> Result<Effect, Rejected> {
        let want = match val {
            0 => false,
            1 => true,
            _ => return Err(Rejected::BadValue),
        };
        if self.info.caps & caps::SUSPEND == 0 {
            return Err(Rejected::NotSupported);
        }
        if want == self.suspended {
            return Ok(Effect::None);
        }
        if want && self.status & DRIVER_OK == 0 {
            return Err(Rejected::StatusOrder);
        }
        self.suspended = want;
        Ok(if want {
            Effect::Suspend
        } else {
            Effect::Resume
        })
    }

    fn write_status(&mut self, val: u32) -> Result<Effect, Rejected> {
        if val == 0 {
            self.reset();
            return Ok(Effect::Reset);
        }
        let new = u8::try_from(val).map_err(|_| Rejected::BadValue)?;
        let old = self.status;
        // Only the device sets NEEDS_RESET, and only a reset clears bits; keep NEEDS_RESET
        // sticky across the driver's read-modify-write.
        if new & DEVICE_NEEDS_RESET != 0 && old & DEVICE_NEEDS_RESET == 0 {
            return Err(Rejected::StatusBitCleared);
        }
        let new = new | (old & DEVICE_NEEDS_RESET);
        if new & old != old {
            return Err(Rejected::StatusBitCleared);
        }
        let added = new & !old;
        if added & FAILED != 0 {
            self.status = new;
            return Ok(Effect::Failed);
        }
        if added & FEATURES_OK != 0 {
            if new & (ACKNOWLEDGE | DRIVER) != (ACKNOWLEDGE | DRIVER) || new & DRIVER_OK != 0 {
                return Err(Rejected::StatusOrder);
            }
            // A driver that asks for a feature the device lacks, or omits VERSION_1, does not
            // get FEATURES_OK: it reads the status back and gives up (virtio 1.2, 3.1.1).
            let f = self.driver_features;
            if f & !self.info.features != 0 || f & VERSION_1 == 0 {
                self.status = new & !FEATURES_OK;
                return Ok(Effect::None);
            }
            self.status = new;
            return Ok(Effect::FeaturesOk(f));
        }
        if added & DRIVER_OK != 0 {
            if new & FEATURES_OK == 0 {
                return Err(Rejected::StatusOrder);
            }
            self.status = new;
            return Ok(Effect::DriverOk);
        }
        if added & DRIVER != 0 && new & ACKNOWLEDGE == 0 {
            return Err(Rejected::StatusOrder);
        }
        self.status = new;
        Ok(Effect::None)
    }

    fn write_queue_ready(&mut self, val: u32) -> Result<Effect, Rejected> {
        let idx = self.queue_sel as u16;
        let negotiated = self.status & FEATURES_OK != 0;
        let sel = self.queue_sel as usize;
        let q = self.live_mut().get_mut(sel).ok_or(Rejected::NoSuchQueue)?;
        match val {
            0 => {
                let was = q.ready;
                q.ready = false;
                Ok(if was {
                    Effect::QueueDisabled(idx)
                } else {
                    Effect::None
                })
            }
            1 => {
                if q.ready {
                    return Ok(Effect::None);
                }
                if !negotiated {
                    return Err(Rejected::NotNegotiated);
                }
                if q.num == 0 {
                    return Err(Rejected::BadQueueSize);
                }
                q.ready = true;
                Ok(Effect::QueueEnabled(idx))
            }
            _ => Err(Rejected::BadValue),
        }
    }

    /// The dirty-log registers. Unlike the rest of the queue configuration, a queue's
    /// used-ring log may change while it runs: QEMU turns logging on during a migration.
    fn write_log(&mut self, reg: Register, val: u32) -> Result<Effect, Rejected> {
        if self.info.caps & caps::DIRTY_LOG == 0 {
            return Err(Rejected::NotSupported);
        }
        match reg {
            Register::LOG_BASE_LOW => self.log_base = set_word(self.log_base, 0, val),
            Register::LOG_BASE_HIGH => self.log_base = set_word(self.log_base, 1, val),
            Register::LOG_SIZE_LOW => self.log_size = set_word(self.log_size, 0, val),
            Register::LOG_SIZE_HIGH => self.log_size = set_word(self.log_size, 1, val),
            Register::LOG_CTRL => {
                let (base, size) = (self.log_base, self.log_size);
                // Whole words, and a log that does not wrap past 2^64.
                let fits = size == 0 || base.checked_add(size - 1).is_some();
                if val & !log::ALL != 0 || base & 7 != 0 || size & 7 != 0 || !fits {
                    return Err(Rejected::BadValue);
                }
                self.log = LogConfig {
                    base,
                    size,
                    all: val & log::ALL != 0,
                };
                self.log_status = 0;
                return Ok(Effect::Log(self.log));
            }
            Register::QUEUE_USED_LOG_LOW | Register::QUEUE_USED_LOG_HIGH => {
                let sel = self.queue_sel as u16;
                let q = self
                    .live_mut()
                    .get_mut(usize::from(sel))
                    .ok_or(Rejected::NoSuchQueue)?;
                if reg == Register::QUEUE_USED_LOG_HIGH {
                    q.used_log = set_word(q.used_log, 1, val);
                    return Ok(Effect::None);
                }
                // Bit 0 is the enable; the address is 4-byte aligned like the ring.
                if val & 2 != 0 {
                    return Err(Rejected::BadValue);
                }
                q.used_log = set_word(q.used_log, 0, val);
                return Ok(if q.ready {
                    Effect::QueueLog(sel)
                } else {
                    Effect::None
                });
            }
            _ => return Err(Rejected::ReadOnly),
        }
        Ok(Effect::None)
    }

    fn write_queue_config(&mut self, reg: Register, val: u32) -> Result<Effect, Rejected> {
        let max = self.info.queue_num_max;
        let sel = self.queue_sel as usize;
        let q = self.live_mut().get_mut(sel).ok_or(Rejected::NoSuchQueue)?;
        if q.ready {
            return Err(Rejected::QueueBusy);
        }
        let lo = |v: u64| (v & !0xffff_ffff) | u64::from(val);
        let hi = |v: u64| (v & 0xffff_ffff) | (u64::from(val) << 32);
        match reg {
            Register::QUEUE_NUM => {
                let n = u16::try_from(val).map_err(|_| Rejected::BadQueueSize)?;
                if n == 0 || !n.is_power_of_two() || n > max {
                    return Err(Rejected::BadQueueSize);
                }
                q.num = n;
            }
            Register::QUEUE_DESC_LOW => q.desc = lo(q.desc),
            Register::QUEUE_DESC_HIGH => q.desc = hi(q.desc),
            Register::QUEUE_AVAIL_LOW => q.avail = lo(q.avail),
            Register::QUEUE_AVAIL_HIGH => q.avail = hi(q.avail),
            Register::QUEUE_USED_LOW => q.used = lo(q.used),
            Register::QUEUE_USED_HIGH => q.used = hi(q.used),
            Register::QUEUE_AVAIL_STATE => {
                q.avail_state = u16::try_from(val).map_err(|_| Rejected::BadValue)?;
            }
            _ => return Err(Rejected::ReadOnly),
        }
        Ok(Effect::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::features::ACCESS_PLATFORM;
    use super::*;

    const INFO: DeviceInfo = DeviceInfo {
        device_id: 1,
        vendor_id: 0x1af4,
        features: VERSION_1 | ACCESS_PLATFORM | (1 << 5),
        queue_num_max: 256,
        queue_align: 4096,
        config_size: 12,
        dma_entries: 16,
        caps: caps::SUSPEND,
        groups: GroupLayout::NetControlQueue,
        address_spaces: 2,
    };

    type Regs = RegisterFile<2>;

    fn negotiated() -> Regs {
        let mut r = Regs::new(INFO);
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE)).unwrap();
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE | DRIVER))
            .unwrap();
        r.write(Register::DRIVER_FEATURES_SEL, 1).unwrap();
        r.write(Register::DRIVER_FEATURES, 1).unwrap();
        let e = r
            .write(
                Register::STATUS,
                u32::from(ACKNOWLEDGE | DRIVER | FEATURES_OK),
            )
            .unwrap();
        assert_eq!(e, Effect::FeaturesOk(VERSION_1));
        r
    }

    #[test]
    fn identity_registers() {
        let r = Regs::new(INFO);
        assert_eq!(r.read(Register::MAGIC_VALUE), 0x7472_6976);
        assert_eq!(r.read(Register::VERSION), 1);
        assert_eq!(r.read(Register::DEVICE_ID), 1);
        assert_eq!(r.read(Register::VENDOR_ID), 0x1af4);
        assert_eq!(r.read(Register::NUM_QUEUES), 2);
        assert_eq!(r.read(Register::CONFIG_SIZE), 12);
        assert_eq!(r.read(Register::QUEUE_ALIGN), 4096);
        assert_eq!(r.read(Register::STATUS), 0);
        assert_eq!(r.read(Register::QUEUE_NOTIFY), 0);
    }

    #[test]
    fn every_read_only_register_refuses_writes_and_keeps_its_value() {
        let mut r = Regs::new(INFO);
        for &reg in Register::ALL {
            if reg.access() == super::super::map::Access::Ro {
                let before = r.read(reg);
                assert_eq!(
                    r.write(reg, 0x1234),
                    Err(Rejected::ReadOnly),
                    "{}",
                    reg.name()
                );
                assert_eq!(r.read(reg), before, "{}", reg.name());
            }
        }
    }

    #[test]
    fn device_feature_words() {
        let mut r = Regs::new(INFO);
        assert_eq!(r.read(Register::DEVICE_FEATURES), 1 << 5);
        r.write(Register::DEVICE_FEATURES_SEL, 1).unwrap();
        assert_eq!(r.read(Register::DEVICE_FEATURES), 0b11);
        assert_eq!(
            r.write(Register::DEVICE_FEATURES_SEL, 2),
            Err(Rejected::BadSelector)
        );
        assert_eq!(r.read(Register::DEVICE_FEATURES_SEL), 1);
    }

    #[test]
    fn negotiation_happy_path() {
        let mut r = negotiated();
        assert_eq!(r.driver_features(), VERSION_1);
        r.write(Register::QUEUE_SEL, 0).unwrap();
        r.write(Register::QUEUE_NUM, 256).unwrap();
        r.write(Register::QUEUE_DESC_LOW, 0x1000).unwrap();
        r.write(Register::QUEUE_DESC_HIGH, 0x1).unwrap();
        r.write(Register::QUEUE_AVAIL_LOW, 0x2000).unwrap();
        r.write(Register::QUEUE_USED_LOW, 0x3000).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Ok(Effect::QueueEnabled(0))
        );
        let q = *r.queue(0).unwrap();
        assert_eq!(
            (q.num, q.desc, q.avail, q.used, q.ready),
            (256, 0x1_0000_1000, 0x2000, 0x3000, true)
        );
        assert_eq!(r.read(Register::QUEUE_DESC_HIGH), 1);
        let s = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK;
        assert_eq!(
            r.write(Register::STATUS, u32::from(s)),
            Ok(Effect::DriverOk)
        );
        assert_eq!(r.read(Register::STATUS), u32::from(s));
    }

    #[test]
    fn features_the_device_lacks_are_refused() {
        let mut r = Regs::new(INFO);
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE | DRIVER))
            .unwrap();
        r.write(Register::DRIVER_FEATURES_SEL, 1).unwrap();
        r.write(Register::DRIVER_FEATURES, 1 | (1 << 7)).unwrap();
        let s = ACKNOWLEDGE | DRIVER | FEATURES_OK;
        assert_eq!(r.write(Register::STATUS, u32::from(s)), Ok(Effect::None));
        assert_eq!(r.read(Register::STATUS), u32::from(ACKNOWLEDGE | DRIVER));
    }

    #[test]
    fn version_1_is_mandatory() {
        let mut r = Regs::new(INFO);
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE | DRIVER))
            .unwrap();
        r.write(Register::DRIVER_FEATURES, 1 << 5).unwrap();
        r.write(
            Register::STATUS,
            u32::from(ACKNOWLEDGE | DRIVER | FEATURES_OK),
        )
        .unwrap();
        assert_eq!(r.status() & FEATURES_OK, 0);
    }

    #[test]
    fn features_are_locked_outside_negotiation() {
        let mut r = Regs::new(INFO);
        assert_eq!(
            r.write(Register::DRIVER_FEATURES, 1),
            Err(Rejected::FeaturesLocked)
        );
        let mut r = negotiated();
        assert_eq!(
            r.write(Register::DRIVER_FEATURES, 0),
            Err(Rejected::FeaturesLocked)
        );
        assert_eq!(r.driver_features(), VERSION_1);
        assert_eq!(
            r.write(Register::DRIVER_FEATURES_SEL, 7),
            Err(Rejected::BadSelector)
        );
    }

    #[test]
    fn illegal_status_transitions() {
        let mut r = Regs::new(INFO);
        // DRIVER_OK before FEATURES_OK.
        assert_eq!(
            r.write(
                Register::STATUS,
                u32::from(ACKNOWLEDGE | DRIVER | DRIVER_OK)
            ),
            Err(Rejected::StatusOrder)
        );
        // FEATURES_OK without DRIVER.
        assert_eq!(
            r.write(Register::STATUS, u32::from(ACKNOWLEDGE | FEATURES_OK)),
            Err(Rejected::StatusOrder)
        );
        // DRIVER without ACKNOWLEDGE.
        assert_eq!(
            r.write(Register::STATUS, u32::from(DRIVER)),
            Err(Rejected::StatusOrder)
        );
        // Values wider than a byte.
        assert_eq!(r.write(Register::STATUS, 0x101), Err(Rejected::BadValue));
        assert_eq!(r.status(), 0);
        // Clearing a bit without a reset.
        let mut r = negotiated();
        assert_eq!(
            r.write(Register::STATUS, u32::from(ACKNOWLEDGE | DRIVER)),
            Err(Rejected::StatusBitCleared)
        );
        assert_eq!(r.status(), ACKNOWLEDGE | DRIVER | FEATURES_OK);
        // The driver may not set NEEDS_RESET.
        let s = ACKNOWLEDGE | DRIVER | FEATURES_OK | DEVICE_NEEDS_RESET;
        assert_eq!(
            r.write(Register::STATUS, u32::from(s)),
            Err(Rejected::StatusBitCleared)
        );
    }

    #[test]
    fn needs_reset_is_sticky_and_failed_is_always_allowed() {
        let mut r = negotiated();
        r.set_needs_reset();
        let s = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK;
        assert_eq!(
            r.write(Register::STATUS, u32::from(s)),
            Ok(Effect::DriverOk)
        );
        assert_ne!(r.status() & DEVICE_NEEDS_RESET, 0);
        assert_eq!(
            r.write(Register::STATUS, u32::from(s | FAILED)),
            Ok(Effect::Failed)
        );
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert_eq!(r.status(), 0);
    }

    #[test]
    fn reset_clears_everything_but_the_generation() {
        let mut r = negotiated();
        r.write(Register::QUEUE_SEL, 1).unwrap();
        r.write(Register::QUEUE_NUM, 64).unwrap();
        r.write(Register::QUEUE_READY, 1).unwrap();
        r.config_changed();
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert_eq!(r.queue(1), Some(&QueueRegs::default()));
        assert_eq!(r.read(Register::QUEUE_SEL), 0);
        assert_eq!(r.driver_features(), 0);
        assert_eq!(r.read(Register::CONFIG_GENERATION), 1);
    }

    #[test]
    fn queue_index_out_of_range() {
        let mut r = negotiated();
        r.write(Register::QUEUE_SEL, 2).unwrap();
        assert_eq!(r.read(Register::QUEUE_NUM_MAX), 0);
        assert_eq!(r.read(Register::QUEUE_READY), 0);
        assert_eq!(r.read(Register::QUEUE_DESC_LOW), 0);
        assert_eq!(r.write(Register::QUEUE_NUM, 16), Err(Rejected::NoSuchQueue));
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(
            r.write(Register::QUEUE_DESC_LOW, 0),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(
            r.write(Register::QUEUE_SEL, 0x1_0000),
            Err(Rejected::BadSelector)
        );
        assert_eq!(
            r.write(Register::QUEUE_NOTIFY, 2),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(
            r.write(Register::QUEUE_NOTIFY, u32::MAX),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(r.write(Register::QUEUE_NOTIFY, 1), Ok(Effect::Notify(1)));
    }

    #[test]
    fn queue_sizes() {
        let mut r = negotiated();
        for bad in [0, 3, 100, 512, 0x1_0000] {
            assert_eq!(
                r.write(Register::QUEUE_NUM, bad),
                Err(Rejected::BadQueueSize),
                "{bad}"
            );
        }
        assert_eq!(r.read(Register::QUEUE_NUM), 0);
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Err(Rejected::BadQueueSize)
        );
        for good in [1, 2, 128, 256] {
            assert_eq!(r.write(Register::QUEUE_NUM, good), Ok(Effect::None));
            assert_eq!(r.read(Register::QUEUE_NUM), good);
        }
    }

    #[test]
    fn queue_config_is_frozen_while_ready() {
        let mut r = negotiated();
        r.write(Register::QUEUE_NUM, 64).unwrap();
        r.write(Register::QUEUE_DESC_LOW, 0x1000).unwrap();
        r.write(Register::QUEUE_READY, 1).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_DESC_LOW, 0x5000),
            Err(Rejected::QueueBusy)
        );
        assert_eq!(r.write(Register::QUEUE_NUM, 128), Err(Rejected::QueueBusy));
        assert_eq!(
            r.write(Register::QUEUE_AVAIL_STATE, 5),
            Err(Rejected::QueueBusy)
        );
        assert_eq!(r.read(Register::QUEUE_DESC_LOW), 0x1000);
        assert_eq!(r.write(Register::QUEUE_READY, 1), Ok(Effect::None));
        assert_eq!(r.write(Register::QUEUE_READY, 2), Err(Rejected::BadValue));
        assert_eq!(
            r.write(Register::QUEUE_READY, 0),
            Ok(Effect::QueueDisabled(0))
        );
        assert_eq!(r.write(Register::QUEUE_READY, 0), Ok(Effect::None));
        assert_eq!(r.write(Register::QUEUE_DESC_LOW, 0x5000), Ok(Effect::None));
    }

    #[test]
    fn queues_need_negotiated_features() {
        let mut r = Regs::new(INFO);
        r.write(Register::QUEUE_NUM, 64).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Err(Rejected::NotNegotiated)
        );
        assert_eq!(r.read(Register::QUEUE_READY), 0);
    }

    #[test]
    fn avail_state_round_trip() {
        let mut r = negotiated();
        r.write(Register::QUEUE_SEL, 1).unwrap();
        r.write(Register::QUEUE_AVAIL_STATE, 0xfffe).unwrap();
        assert_eq!(r.read(Register::QUEUE_AVAIL_STATE), 0xfffe);
        assert_eq!(
            r.write(Register::QUEUE_AVAIL_STATE, 0x1_0000),
            Err(Rejected::BadValue)
        );
        r.set_avail_state(1, 7);
        assert_eq!(r.read(Register::QUEUE_AVAIL_STATE), 7);
        r.set_avail_state(9, 7); // out of range: ignored, no panic
    }

    fn stage<const N: usize>(r: &mut RegisterFile<N>, iova: u64, size: u64, addr: u64, perm: u32) {
        for (lo, hi, v) in [
            (Register::DMA_IOVA_LOW, Register::DMA_IOVA_HIGH, iova),
            (Register::DMA_SIZE_LOW, Register::DMA_SIZE_HIGH, size),
            (Register::DMA_ADDR_LOW, Register::DMA_ADDR_HIGH, addr),
        ] {
            r.write(lo, v as u32).unwrap();
            r.write(hi, (v >> 32) as u32).unwrap();
        }
        r.write(Register::DMA_PERM, perm).unwrap();
    }

    #[test]
    fn dma_map_request_carries_the_staged_values() {
        let mut r = Regs::new(INFO);
        assert_eq!(r.read(Register::DMA_MAX_ENTRIES), 16);
        stage(&mut r, 0x1_2345_6000, 0x3000, 0xabc_d000, dma::PERM_READ);
        assert_eq!(r.read(Register::DMA_IOVA_HIGH), 1);
        assert_eq!(r.read(Register::DMA_SIZE_LOW), 0x3000);
        assert_eq!(
            r.write(Register::DMA_CMD, dma::CMD_MAP),
            Ok(Effect::Dma(DmaRequest {
                cmd: dma::CMD_MAP,
                iova: 0x1_2345_6000,
                last: 0x1_2345_8fff,
                addr: 0xabc_d000,
                perm: dma::PERM_READ,
                asid: 0,
            }))
        );
        // Until the device reports, the result is not success.
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_INVAL);
        r.set_dma_result(dma::OK);
        assert_eq!(r.read(Register::DMA_CMD), dma::OK);
        r.set_dma_result(dma::ERR_EXIST);
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_EXIST);
        assert_eq!(dma::errno(dma::ERR_EXIST), 17);
    }

    #[test]
    fn dma_bad_commands_never_reach_the_device() {
        let mut r = Regs::new(INFO);
        // Size 0.
        stage(&mut r, 0x1000, 0, 0x1000, 3);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_MAP), Ok(Effect::None));
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_INVAL);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_UNMAP), Ok(Effect::None));
        // IOVA range wraps.
        stage(&mut r, u64::MAX - 10, 100, 0x1000, 3);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_MAP), Ok(Effect::None));
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_INVAL);
        // Physical range wraps.
        stage(&mut r, 0x1000, 0x2000, u64::MAX - 0x1000, 3);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_MAP), Ok(Effect::None));
        // A range ending exactly at 2^64 is fine.
        stage(&mut r, u64::MAX - 0xfff, 0x1000, 0x1000, 3);
        assert!(matches!(
            r.write(Register::DMA_CMD, dma::CMD_MAP),
            Ok(Effect::Dma(DmaRequest { last: u64::MAX, .. }))
        ));
        // The address at another offset in its page than the IOVA: an odd address under
        // an even IOVA would make ring indices unaligned.
        stage(&mut r, 0x1000, 0x1000, 0x2001, 3);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_MAP), Ok(Effect::None));
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_INVAL);
        stage(&mut r, 0x1010, 0x1000, 0x2000, 3);
        assert_eq!(r.write(Register::DMA_CMD, dma::CMD_MAP), Ok(Effect::None));
        // The same offset in both is fine, aligned or not.
        stage(&mut r, 0x1011, 0x1000, 0x7_2011, 3);
        assert!(matches!(
            r.write(Register::DMA_CMD, dma::CMD_MAP),
            Ok(Effect::Dma(DmaRequest { addr: 0x7_2011, .. }))
        ));
        // Unknown command.
        assert_eq!(r.write(Register::DMA_CMD, 99), Ok(Effect::None));
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_INVAL);
        // Unknown permission bits are refused outright.
        assert_eq!(r.write(Register::DMA_PERM, 4), Err(Rejected::BadValue));
        assert_eq!(r.read(Register::DMA_PERM), 3);
    }

    fn running() -> Regs {
        let mut r = negotiated();
        let st = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK;
        assert_eq!(
            r.write(Register::STATUS, u32::from(st)),
            Ok(Effect::DriverOk)
        );
        r
    }

    #[test]
    fn suspend_needs_driver_ok_and_round_trips() {
        let mut r = negotiated();
        assert_eq!(r.read(Register::DEVICE_CAPS), caps::SUSPEND);
        // Before DRIVER_OK there is nothing to stop; resuming a running device is a no-op.
        assert_eq!(r.write(Register::SUSPEND, 1), Err(Rejected::StatusOrder));
        assert_eq!(r.read(Register::SUSPEND), 0);
        assert_eq!(r.write(Register::SUSPEND, 0), Ok(Effect::None));
        let mut r = running();
        assert_eq!(r.write(Register::SUSPEND, 2), Err(Rejected::BadValue));
        assert_eq!(r.write(Register::SUSPEND, 1), Ok(Effect::Suspend));
        assert!(r.suspended());
        assert_eq!(r.read(Register::SUSPEND), 1);
        assert_eq!(r.write(Register::SUSPEND, 1), Ok(Effect::None));
        assert_eq!(r.write(Register::SUSPEND, 0), Ok(Effect::Resume));
        assert_eq!(r.read(Register::SUSPEND), 0);
        assert_eq!(r.write(Register::SUSPEND, 0), Ok(Effect::None));
    }

    #[test]
    fn reset_ends_a_suspension() {
        let mut r = running();
        r.write(Register::SUSPEND, 1).unwrap();
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert!(!r.suspended());
        assert_eq!(r.read(Register::SUSPEND), 0);
    }

    #[test]
    fn queues_stay_configurable_while_suspended() {
        let mut r = running();
        r.write(Register::SUSPEND, 1).unwrap();
        r.write(Register::QUEUE_SEL, 1).unwrap();
        r.write(Register::QUEUE_NUM, 64).unwrap();
        r.write(Register::QUEUE_AVAIL_STATE, 9).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Ok(Effect::QueueEnabled(1))
        );
        assert_eq!(
            r.write(Register::QUEUE_READY, 0),
            Ok(Effect::QueueDisabled(1))
        );
        assert_eq!(r.read(Register::QUEUE_AVAIL_STATE), 9);
        assert!(r.suspended());
    }

    #[test]
    fn a_device_may_use_fewer_queues_than_it_has_room_for() {
        let mut r = RegisterFile::<4>::new(INFO);
        assert_eq!(r.read(Register::NUM_QUEUES), 4);
        assert_eq!(r.set_num_queues(0), Err(Rejected::BadValue));
        assert_eq!(r.set_num_queues(5), Err(Rejected::BadValue));
        assert_eq!(r.set_num_queues(3), Ok(()));
        assert_eq!(r.read(Register::NUM_QUEUES), 3);
        // Queue 3 no longer exists: it reads like any queue past the end.
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE)).unwrap();
        r.write(Register::QUEUE_SEL, 3).unwrap();
        assert_eq!(r.read(Register::QUEUE_NUM_MAX), 0);
        assert_eq!(r.write(Register::QUEUE_NUM, 64), Err(Rejected::NoSuchQueue));
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(
            r.write(Register::QUEUE_NOTIFY, 3),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(r.write(Register::QUEUE_NOTIFY, 2), Ok(Effect::Notify(2)));
        assert!(r.queue(3).is_none());
        r.write(Register::QUEUE_SEL, 2).unwrap();
        assert_eq!(r.read(Register::QUEUE_NUM_MAX), 256);
        // Fixed while a driver is at work; a reset keeps the count.
        assert_eq!(r.set_num_queues(4), Err(Rejected::QueueBusy));
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert_eq!(r.read(Register::NUM_QUEUES), 3);
        assert_eq!(r.set_num_queues(4), Ok(()));
        assert_eq!(r.read(Register::NUM_QUEUES), 4);
    }

    #[test]
    fn offered_features_change_only_while_reset() {
        let mut r = RegisterFile::<4>::new(INFO);
        let more = INFO.features | 1 << 5;
        assert_eq!(
            r.set_offered_features(more & !VERSION_1),
            Err(Rejected::BadValue)
        );
        assert_eq!(r.set_offered_features(more), Ok(()));
        r.write(Register::DEVICE_FEATURES_SEL, 0).unwrap();
        assert_eq!(r.read(Register::DEVICE_FEATURES), more as u32);
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE)).unwrap();
        assert_eq!(
            r.set_offered_features(INFO.features),
            Err(Rejected::QueueBusy)
        );
        // A reset keeps them.
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert_eq!(r.read(Register::DEVICE_FEATURES), more as u32);
    }

    #[test]
    fn the_control_queue_has_a_group_and_address_space_of_its_own() {
        let mut r = RegisterFile::<3>::new(INFO);
        assert_eq!(r.read(Register::NUM_GROUPS), 2);
        assert_eq!(r.read(Register::NUM_AS), 2);
        for (q, group) in [(0, 0), (1, 0), (2, 1)] {
            r.write(Register::QUEUE_SEL, q).unwrap();
            assert_eq!(r.read(Register::QUEUE_GROUP), group, "queue {q}");
        }
        // A device with room for more pairs: the control queue is queue 2 until the driver
        // negotiates MQ, then the last one.
        let mut m = RegisterFile::<5>::new(DeviceInfo {
            features: INFO.features | VIRTIO_NET_F_MQ,
            ..INFO
        });
        assert_eq!((m.queue_group(2), m.queue_group(4)), (1, 0));
        m.write(Register::STATUS, u32::from(ACKNOWLEDGE | DRIVER))
            .unwrap();
        m.write(Register::DRIVER_FEATURES_SEL, 0).unwrap();
        m.write(Register::DRIVER_FEATURES, 1 << 22).unwrap();
        m.write(Register::DRIVER_FEATURES_SEL, 1).unwrap();
        m.write(Register::DRIVER_FEATURES, 1).unwrap();
        let fok = ACKNOWLEDGE | DRIVER | FEATURES_OK;
        assert!(matches!(
            m.write(Register::STATUS, u32::from(fok)),
            Ok(Effect::FeaturesOk(_))
        ));
        assert_eq!((m.queue_group(2), m.queue_group(4)), (0, 1));
        assert_eq!(m.queue_group(5), 0);
        assert_eq!(r.write(Register::GROUP_SEL, 2), Err(Rejected::BadSelector));
        r.write(Register::GROUP_SEL, 1).unwrap();
        assert_eq!(r.write(Register::GROUP_ASID, 2), Err(Rejected::BadValue));
        assert_eq!(
            r.write(Register::GROUP_ASID, 1),
            Ok(Effect::GroupAsid { group: 1, asid: 1 })
        );
        assert_eq!(r.read(Register::GROUP_ASID), 1);
        assert_eq!(
            (r.queue_asid(0), r.queue_asid(1), r.queue_asid(2)),
            (0, 0, 1)
        );
        r.write(Register::GROUP_SEL, 0).unwrap();
        assert_eq!(r.read(Register::GROUP_ASID), 0);
        // DMA commands name their address space.
        assert_eq!(r.write(Register::DMA_ASID, 2), Err(Rejected::BadValue));
        r.write(Register::DMA_ASID, 1).unwrap();
        stage(&mut r, 0x1000, 0x1000, 0x2000, dma::PERM_READ);
        assert!(matches!(
            r.write(Register::DMA_CMD, dma::CMD_MAP),
            Ok(Effect::Dma(DmaRequest { asid: 1, .. }))
        ));
        // A reset puts every group back in address space 0, as vdpa_sim does.
        r.write(Register::STATUS, 0).unwrap();
        assert_eq!(r.queue_asid(2), 0);
        assert_eq!(r.read(Register::DMA_ASID), 0);
        for reg in [
            Register::NUM_GROUPS,
            Register::NUM_AS,
            Register::QUEUE_GROUP,
        ] {
            assert_eq!(r.write(reg, 1), Err(Rejected::ReadOnly));
        }
    }

    #[test]
    fn a_single_group_device_has_one_address_space() {
        let mut r = RegisterFile::<3>::new(DeviceInfo {
            groups: GroupLayout::Single,
            address_spaces: 1,
            ..INFO
        });
        assert_eq!(r.read(Register::NUM_GROUPS), 1);
        assert_eq!(r.read(Register::NUM_AS), 1);
        assert_eq!(r.queue_group(2), 0);
        assert_eq!(r.write(Register::GROUP_SEL, 1), Err(Rejected::BadSelector));
        assert_eq!(r.write(Register::GROUP_ASID, 1), Err(Rejected::BadValue));
        assert_eq!(r.write(Register::DMA_ASID, 1), Err(Rejected::BadValue));
    }

    #[test]
    fn a_device_without_suspend_refuses_it() {
        let mut r = RegisterFile::<2>::new(DeviceInfo { caps: 0, ..INFO });
        r.write(Register::STATUS, u32::from(ACKNOWLEDGE)).unwrap();
        assert_eq!(r.read(Register::DEVICE_CAPS), 0);
        assert_eq!(r.write(Register::SUSPEND, 1), Err(Rejected::NotSupported));
        assert_eq!(r.write(Register::SUSPEND, 0), Err(Rejected::NotSupported));
        assert_eq!(r.write(Register::DEVICE_CAPS, 1), Err(Rejected::ReadOnly));
    }

    #[test]
    fn dma_commands_on_a_device_without_translation() {
        let mut r = RegisterFile::<2>::new(DeviceInfo {
            dma_entries: 0,
            ..INFO
        });
        assert_eq!(r.read(Register::DMA_MAX_ENTRIES), 0);
        assert_eq!(
            r.write(Register::DMA_CMD, dma::CMD_TRANSLATE_ON),
            Ok(Effect::None)
        );
        assert_eq!(r.read(Register::DMA_CMD), dma::ERR_NOTSUPP);
        assert_eq!(dma::errno(dma::ERR_NOTSUPP), 95);
    }

    #[test]
    fn used_state_is_device_owned() {
        let mut r = negotiated();
        r.write(Register::QUEUE_SEL, 1).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_USED_STATE, 5),
            Err(Rejected::ReadOnly)
        );
        r.set_used_state(1, 0x1234);
        assert_eq!(r.read(Register::QUEUE_USED_STATE), 0x1234);
        r.set_used_state(7, 1); // no such queue: ignored
        r.write(Register::STATUS, 0).unwrap();
        assert_eq!(r.read(Register::QUEUE_USED_STATE), 0);
    }

    const LOGGING: DeviceInfo = DeviceInfo {
        caps: caps::SUSPEND | caps::DIRTY_LOG,
        ..INFO
    };

    fn set_log(r: &mut Regs, base: u64, size: u64) {
        r.write(Register::LOG_BASE_LOW, base as u32).unwrap();
        r.write(Register::LOG_BASE_HIGH, (base >> 32) as u32)
            .unwrap();
        r.write(Register::LOG_SIZE_LOW, size as u32).unwrap();
        r.write(Register::LOG_SIZE_HIGH, (size >> 32) as u32)
            .unwrap();
    }

    #[test]
    fn a_device_without_dirty_log_refuses_every_log_register() {
        let mut r = running();
        for reg in [
            Register::LOG_BASE_LOW,
            Register::LOG_BASE_HIGH,
            Register::LOG_SIZE_LOW,
            Register::LOG_SIZE_HIGH,
            Register::LOG_CTRL,
            Register::QUEUE_USED_LOG_LOW,
            Register::QUEUE_USED_LOG_HIGH,
        ] {
            assert_eq!(r.write(reg, 0), Err(Rejected::NotSupported), "{reg:?}");
        }
        assert_eq!(
            r.write(Register::DMA_ASID, log::ASID),
            Err(Rejected::BadValue)
        );
        assert_eq!(r.write(Register::LOG_STATUS, 0), Err(Rejected::ReadOnly));
    }

    #[test]
    fn log_ctrl_applies_the_staged_log_at_once() {
        let mut r = Regs::new(LOGGING);
        set_log(&mut r, 0x1_0000_0000, 4096);
        // Staged, not applied.
        assert_eq!(r.log(), LogConfig::default());
        assert_eq!(r.read(Register::LOG_BASE_HIGH), 1);
        assert_eq!(r.read(Register::LOG_SIZE_LOW), 4096);
        let want = LogConfig {
            base: 0x1_0000_0000,
            size: 4096,
            all: true,
        };
        assert_eq!(r.write(Register::LOG_CTRL, log::ALL), Ok(Effect::Log(want)));
        assert_eq!(r.log(), want);
        assert_eq!(r.log().words(), 512);
        assert_eq!(r.read(Register::LOG_CTRL), log::ALL);
        // Overflow is sticky until the next LOG_CTRL write.
        r.set_log_overflow();
        assert_eq!(r.read(Register::LOG_STATUS), log::STATUS_OVERFLOW);
        set_log(&mut r, 0x2000, 8192);
        assert_eq!(r.read(Register::LOG_STATUS), log::STATUS_OVERFLOW);
        let e = r.write(Register::LOG_CTRL, 0).unwrap();
        assert_eq!(
            e,
            Effect::Log(LogConfig {
                base: 0x2000,
                size: 8192,
                all: false
            })
        );
        assert_eq!(r.read(Register::LOG_STATUS), 0);
        assert_eq!(r.read(Register::LOG_CTRL), 0);
    }

    #[test]
    fn log_ctrl_refuses_partial_words_wrapping_logs_and_unknown_bits() {
        let mut r = running_logging();
        let before = r.log();
        for (base, size, val) in [
            (4, 8, 0),             // base not a whole word
            (8, 12, 0),            // size not whole words
            (u64::MAX - 7, 16, 0), // wraps past 2^64
            (0, 8, 2),             // unknown bit
            (0, 8, log::ALL | 1 << 31),
        ] {
            set_log(&mut r, base, size);
            assert_eq!(
                r.write(Register::LOG_CTRL, val),
                Err(Rejected::BadValue),
                "{base:#x}+{size}"
            );
            assert_eq!(r.log(), before);
        }
        // A log ending exactly at 2^64, and no log at all, are fine.
        set_log(&mut r, u64::MAX - 7, 8);
        assert!(matches!(
            r.write(Register::LOG_CTRL, log::ALL),
            Ok(Effect::Log(_))
        ));
        set_log(&mut r, 0, 0);
        assert!(matches!(r.write(Register::LOG_CTRL, 0), Ok(Effect::Log(_))));
        assert_eq!(r.log().words(), 0);
    }

    /// A running device that logs (as `running`, with `caps::DIRTY_LOG`).
    fn running_logging() -> Regs {
        let mut r = Regs::new(LOGGING);
        for st in [ACKNOWLEDGE, ACKNOWLEDGE | DRIVER] {
            r.write(Register::STATUS, u32::from(st)).unwrap();
        }
        r.write(Register::DRIVER_FEATURES_SEL, 1).unwrap();
        r.write(Register::DRIVER_FEATURES, 1).unwrap();
        for st in [
            ACKNOWLEDGE | DRIVER | FEATURES_OK,
            ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK,
        ] {
            r.write(Register::STATUS, u32::from(st)).unwrap();
        }
        r
    }

    #[test]
    fn a_ready_queue_takes_a_new_used_log_at_the_low_half() {
        let mut r = running_logging();
        r.write(Register::QUEUE_SEL, 1).unwrap();
        r.write(Register::QUEUE_NUM, 64).unwrap();
        // Not ready: staged with the rest of the configuration.
        assert_eq!(
            r.write(Register::QUEUE_USED_LOG_LOW, 0x3000 | log::QUEUE_LOG_USED),
            Ok(Effect::None)
        );
        assert_eq!(r.queue(1).unwrap().used_log_addr(), Some(0x3000));
        assert_eq!(
            r.write(Register::QUEUE_READY, 1),
            Ok(Effect::QueueEnabled(1))
        );
        // Ready: the address may not change under the device, but logging may be switched,
        // and the high half is staged until the low half is written.
        assert_eq!(r.write(Register::QUEUE_USED_LOG_HIGH, 7), Ok(Effect::None));
        assert_eq!(
            r.write(Register::QUEUE_USED_LOG_LOW, 0x4000),
            Ok(Effect::QueueLog(1))
        );
        let q = r.queue(1).unwrap();
        assert_eq!(q.used_log, 0x7_0000_4000);
        assert_eq!(q.used_log_addr(), None);
        assert_eq!(r.read(Register::QUEUE_USED_LOG_HIGH), 7);
        // Bit 1 is refused; a queue that does not exist refuses both halves.
        assert_eq!(
            r.write(Register::QUEUE_USED_LOG_LOW, 0x4002),
            Err(Rejected::BadValue)
        );
        r.write(Register::QUEUE_SEL, 9).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_USED_LOG_LOW, 1),
            Err(Rejected::NoSuchQueue)
        );
        assert_eq!(r.read(Register::QUEUE_USED_LOG_LOW), 0);
        // The other addresses stay frozen while ready.
        r.write(Register::QUEUE_SEL, 1).unwrap();
        assert_eq!(
            r.write(Register::QUEUE_USED_LOW, 0),
            Err(Rejected::QueueBusy)
        );
    }

    #[test]
    fn dma_commands_reach_the_log_address_space() {
        let mut r = running_logging();
        assert_eq!(r.write(Register::DMA_ASID, log::ASID), Ok(Effect::None));
        assert_eq!(r.read(Register::DMA_ASID), log::ASID);
        stage(&mut r, 0, 8192, 0x10_0000, dma::PERM_WRITE);
        let Ok(Effect::Dma(req)) = r.write(Register::DMA_CMD, dma::CMD_MAP) else {
            panic!("no DMA request");
        };
        assert_eq!(req.asid, log::ASID as u16);
        // The log address space is not a queue's: groups cannot use it.
        assert_eq!(
            r.write(Register::GROUP_ASID, log::ASID),
            Err(Rejected::BadValue)
        );
        assert_eq!(
            r.write(Register::DMA_ASID, log::ASID + 1),
            Err(Rejected::BadValue)
        );
    }

    #[test]
    fn reset_turns_logging_off() {
        let mut r = running_logging();
        set_log(&mut r, 0x1000, 64);
        r.write(Register::LOG_CTRL, log::ALL).unwrap();
        r.set_log_overflow();
        r.write(Register::QUEUE_USED_LOG_LOW, 0x1001).unwrap();
        assert_eq!(r.write(Register::STATUS, 0), Ok(Effect::Reset));
        assert_eq!(r.log(), LogConfig::default());
        for reg in [
            Register::LOG_BASE_LOW,
            Register::LOG_SIZE_LOW,
            Register::LOG_CTRL,
            Register::LOG_STATUS,
            Register::QUEUE_USED_LOG_LOW,
        ] {
            assert_eq!(r.read(reg), 0, "{reg:?}");
        }
    }
}
