// SPDX-License-Identifier: GPL-2.0
//! A reference model of the register protocol: the rules of virtio 1.2 (device status 2.1
//! and 3.1.1, queue configuration 4.2.3.2 adapted to this map) written out as plainly as
//! possible, for a device with [`INFO`]. The unit tests (`model_tests.rs`) and the
//! coverage-guided fuzz target (`fuzz/fuzz_targets/vmdev_regs_protocol.rs`) drive a
//! [`RegisterFile`] and this model with the same writes and compare them write by write.

use super::caps;
use super::device::{DeviceInfo, Effect, GroupLayout, RegisterFile, Rejected};
use super::features::{ACCESS_PLATFORM, VERSION_1};
use super::map::Register;
use super::status::*;

/// Queues of the modelled device.
pub const QUEUES: usize = 3;
/// Its QUEUE_NUM_MAX.
pub const MAX: u16 = 256;
/// The features it offers.
pub const OFFERED: u64 = VERSION_1 | ACCESS_PLATFORM | (1 << 5) | (1 << 16);

/// The modelled device.
pub const INFO: DeviceInfo = DeviceInfo {
    device_id: 1,
    vendor_id: 0x1af4,
    features: OFFERED,
    queue_num_max: MAX,
    queue_align: 4096,
    config_size: 12,
    dma_entries: 16,
    caps: caps::SUSPEND | caps::DIRTY_LOG,
    groups: GroupLayout::NetControlQueue,
    address_spaces: 2,
};

/// What the driver may see of a device, and the rules for changing it.
#[derive(Default, Clone, Copy)]
pub struct Model {
    /// The device status the driver reads.
    pub status: u8,
    /// The driver features accepted so far.
    pub features: u64,
    /// DRIVER_FEATURES_SEL.
    pub features_sel: u32,
    /// QUEUE_SEL.
    pub queue_sel: u32,
    /// Each queue's size.
    pub num: [u16; QUEUES],
    /// Each queue's QUEUE_READY.
    pub ready: [bool; QUEUES],
    /// Whether SUSPEND is set.
    pub suspended: bool,
}

/// The status bits the driver sets, in the order it must set them (FAILED aside).
pub const ORDER: [u8; 4] = [ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK];

impl Model {
    fn queue(&self) -> Option<usize> {
        let q = self.queue_sel as usize;
        (q < QUEUES).then_some(q)
    }

    /// What writing `val` to `reg` must do, with the model updated; `None` for a register
    /// the model does not cover.
    pub fn write(&mut self, reg: Register, val: u32) -> Option<Result<Effect, Rejected>> {
        Some(match reg {
            Register::STATUS => self.status(val),
            Register::DRIVER_FEATURES_SEL if val > 1 => Err(Rejected::BadSelector),
            Register::DRIVER_FEATURES_SEL => {
                self.features_sel = val;
                Ok(Effect::None)
            }
            // The feature window is open from DRIVER until FEATURES_OK.
            Register::DRIVER_FEATURES
                if self.status & DRIVER == 0 || self.status & FEATURES_OK != 0 =>
            {
                Err(Rejected::FeaturesLocked)
            }
            Register::DRIVER_FEATURES => {
                let shift = 32 * self.features_sel;
                self.features =
                    (self.features & !(0xffff_ffffu64 << shift)) | (u64::from(val) << shift);
                Ok(Effect::None)
            }
            Register::QUEUE_SEL if val > 0xffff => Err(Rejected::BadSelector),
            Register::QUEUE_SEL => {
                self.queue_sel = val;
                Ok(Effect::None)
            }
            Register::QUEUE_NOTIFY if (val as usize) < QUEUES => Ok(Effect::Notify(val as u16)),
            Register::QUEUE_NOTIFY => Err(Rejected::NoSuchQueue),
            Register::QUEUE_NUM | Register::QUEUE_DESC_LOW => {
                let Some(q) = self.queue() else {
                    return Some(Err(Rejected::NoSuchQueue));
                };
                if self.ready[q] {
                    return Some(Err(Rejected::QueueBusy));
                }
                if reg == Register::QUEUE_NUM {
                    if val == 0 || val > u32::from(MAX) || !val.is_power_of_two() {
                        return Some(Err(Rejected::BadQueueSize));
                    }
                    self.num[q] = val as u16;
                }
                Ok(Effect::None)
            }
            Register::QUEUE_READY => {
                let Some(q) = self.queue() else {
                    return Some(Err(Rejected::NoSuchQueue));
                };
                match (val, self.ready[q]) {
                    (0, was) => {
                        self.ready[q] = false;
                        Ok(if was {
                            Effect::QueueDisabled(q as u16)
                        } else {
                            Effect::None
                        })
                    }
                    (1, true) => Ok(Effect::None),
                    (1, false) if self.status & FEATURES_OK == 0 => Err(Rejected::NotNegotiated),
                    (1, false) if self.num[q] == 0 => Err(Rejected::BadQueueSize),
                    (1, false) => {
                        self.ready[q] = true;
                        Ok(Effect::QueueEnabled(q as u16))
                    }
                    _ => Err(Rejected::BadValue),
                }
            }
            Register::SUSPEND => match val {
                0 | 1 if (val == 1) == self.suspended => Ok(Effect::None),
                1 if self.status & DRIVER_OK == 0 => Err(Rejected::StatusOrder),
                0 | 1 => {
                    self.suspended = val == 1;
                    Ok(if self.suspended {
                        Effect::Suspend
                    } else {
                        Effect::Resume
                    })
                }
                _ => Err(Rejected::BadValue),
            },
            _ => return None,
        })
    }

    fn status(&mut self, val: u32) -> Result<Effect, Rejected> {
        if val == 0 {
            *self = Model::default();
            return Ok(Effect::Reset);
        }
        let Ok(mut new) = u8::try_from(val) else {
            return Err(Rejected::BadValue);
        };
        let old = self.status;
        // NEEDS_RESET is the device's: the driver may echo it, not set it, and it stays.
        if new & DEVICE_NEEDS_RESET > old & DEVICE_NEEDS_RESET {
            return Err(Rejected::StatusBitCleared);
        }
        new |= old & DEVICE_NEEDS_RESET;
        // Only a reset clears bits.
        if old & !new != 0 {
            return Err(Rejected::StatusBitCleared);
        }
        let added = new & !old;
        if added & FAILED != 0 {
            self.status = new;
            return Ok(Effect::Failed);
        }
        // Each bit of ORDER the write adds needs every earlier one in the new status, and
        // FEATURES_OK may not come with DRIVER_OK. (Checking only the highest added bit let
        // FEATURES_OK | DRIVER_OK from 0 through; the coverage-guided fuzzer found it.)
        for (k, &b) in ORDER.iter().enumerate() {
            let before = ORDER[..k].iter().fold(0, |a, &e| a | e);
            let order_ok = new & before == before && !(b == FEATURES_OK && new & DRIVER_OK != 0);
            if added & b != 0 && !order_ok {
                return Err(Rejected::StatusOrder);
            }
        }
        if added & DRIVER_OK != 0 {
            self.status = new;
            return Ok(Effect::DriverOk);
        }
        if added & FEATURES_OK != 0 {
            // Features the device does not offer, or no VERSION_1: FEATURES_OK stays clear.
            if self.features & !OFFERED != 0 || self.features & VERSION_1 == 0 {
                self.status = new & !FEATURES_OK;
                return Ok(Effect::None);
            }
            self.status = new;
            return Ok(Effect::FeaturesOk(self.features));
        }
        self.status = new;
        Ok(Effect::None)
    }
}

/// Panics, naming `ctx`, unless every register the model covers reads back as the model says.
pub fn check_reads(regs: &RegisterFile<QUEUES>, m: &Model, ctx: &str) {
    assert_eq!(
        regs.read(Register::STATUS),
        u32::from(m.status),
        "{ctx}: STATUS"
    );
    assert_eq!(regs.driver_features(), m.features, "{ctx}: features");
    let word = (m.features >> (32 * m.features_sel)) as u32;
    assert_eq!(
        regs.read(Register::DRIVER_FEATURES),
        word,
        "{ctx}: DRIVER_FEATURES"
    );
    assert_eq!(
        regs.read(Register::QUEUE_SEL),
        m.queue_sel,
        "{ctx}: QUEUE_SEL"
    );
    let (num, ready, max) = match m.queue() {
        Some(q) => (u32::from(m.num[q]), u32::from(m.ready[q]), u32::from(MAX)),
        None => (0, 0, 0),
    };
    assert_eq!(regs.read(Register::QUEUE_NUM), num, "{ctx}: QUEUE_NUM");
    assert_eq!(
        regs.read(Register::QUEUE_READY),
        ready,
        "{ctx}: QUEUE_READY"
    );
    assert_eq!(
        regs.read(Register::QUEUE_NUM_MAX),
        max,
        "{ctx}: QUEUE_NUM_MAX"
    );
    assert_eq!(
        regs.read(Register::SUSPEND),
        u32::from(m.suspended),
        "{ctx}: SUSPEND"
    );
    for q in 0..QUEUES {
        let got = regs.queue(q as u16).map(|c| (c.num, c.ready));
        assert_eq!(got, Some((m.num[q], m.ready[q])), "{ctx}: queue {q}");
    }
}
