// SPDX-License-Identifier: GPL-2.0
//! The register protocol against a reference model: random sequences of register writes,
//! plausible driver steps mixed with garbage, checked write by write against the rules of
//! virtio 1.2 (device status 2.1 and 3.1.1, queue configuration 4.2.3.2 adapted to this map)
//! as written out in `Model`, and every register the model covers read back after each write.

use std::format;
use std::string::String;

use super::caps;
use super::device::{DeviceInfo, Effect, GroupLayout, RegisterFile, Rejected};
use super::features::{ACCESS_PLATFORM, VERSION_1};
use super::map::Register;
use super::status::*;

const QUEUES: usize = 3;
const MAX: u16 = 256;
const OFFERED: u64 = VERSION_1 | ACCESS_PLATFORM | (1 << 5) | (1 << 16);

const INFO: DeviceInfo = DeviceInfo {
    device_id: 1,
    vendor_id: 0x1af4,
    features: OFFERED,
    queue_num_max: MAX,
    queue_align: 4096,
    config_size: 12,
    dma_entries: 16,
    caps: caps::SUSPEND,
    groups: GroupLayout::NetControlQueue,
    address_spaces: 2,
};

/// What the driver may see of a device, and the rules for changing it.
#[derive(Default, Clone, Copy)]
struct Model {
    status: u8,
    features: u64,
    features_sel: u32,
    queue_sel: u32,
    num: [u16; QUEUES],
    ready: [bool; QUEUES],
    suspended: bool,
}

/// The status bits the driver sets, in the order it must set them (FAILED aside).
const ORDER: [u8; 4] = [ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK];

impl Model {
    fn queue(&self) -> Option<usize> {
        let q = self.queue_sel as usize;
        (q < QUEUES).then_some(q)
    }

    fn write(&mut self, reg: Register, val: u32) -> Option<Result<Effect, Rejected>> {
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
        // Each bit of ORDER needs every earlier one; FEATURES_OK may not come with DRIVER_OK.
        let highest = ORDER.iter().rposition(|&b| added & b != 0);
        if let Some(h) = highest {
            let before = ORDER[..h].iter().fold(0, |a, &b| a | b);
            let order_ok = match ORDER[h] {
                FEATURES_OK => new & before == before && new & DRIVER_OK == 0,
                DRIVER_OK => new & FEATURES_OK != 0,
                DRIVER => new & ACKNOWLEDGE != 0,
                _ => true,
            };
            if !order_ok {
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

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn value(&mut self) -> u32 {
        match self.below(6) {
            0 => self.next() as u32,
            1 => u32::MAX - self.below(3) as u32,
            2 => 1 << self.below(32),
            _ => self.below(8) as u32,
        }
    }
}

/// One write: mostly the next plausible driver step, sometimes anything.
fn draw(r: &mut Rng, m: &Model) -> (Register, u32) {
    const REGS: [Register; 8] = [
        Register::STATUS,
        Register::DRIVER_FEATURES_SEL,
        Register::DRIVER_FEATURES,
        Register::QUEUE_SEL,
        Register::QUEUE_NUM,
        Register::QUEUE_READY,
        Register::QUEUE_NOTIFY,
        Register::SUSPEND,
    ];
    let next_bit = ORDER.iter().find(|&&b| m.status & b == 0).copied();
    match r.below(20) {
        0..=4 => match next_bit {
            Some(b) => (Register::STATUS, u32::from(m.status | b)),
            None => (Register::STATUS, 0),
        },
        5..=6 => {
            let words = [OFFERED, OFFERED & !(1 << 16), r.next()];
            let f = words[r.below(3) as usize];
            let sel = m.features_sel;
            (Register::DRIVER_FEATURES, (f >> (32 * sel)) as u32)
        }
        7 => (Register::DRIVER_FEATURES_SEL, r.below(2) as u32),
        8 => (Register::QUEUE_SEL, r.below(QUEUES as u64 + 1) as u32),
        9 => (Register::QUEUE_NUM, 1 << r.below(10)),
        10..=11 => (Register::QUEUE_READY, r.below(2) as u32),
        12 => (Register::SUSPEND, r.below(2) as u32),
        13 => (Register::STATUS, u32::from(m.status | FAILED)),
        _ => (REGS[r.below(REGS.len() as u64) as usize], r.value()),
    }
}

fn check_reads(regs: &RegisterFile<QUEUES>, m: &Model, ctx: &str) {
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

#[test]
fn register_protocol_against_model() {
    let mut r = Rng(0x5851_f42d_4c95_7f2d);
    let mut seen = [0u32; 4]; // driver ok, features refused, rejected, reset
    for run in 0..200 {
        let mut regs = RegisterFile::<QUEUES>::new(INFO);
        let mut m = Model::default();
        let mut trace = String::new();
        for step in 0..400 {
            // The device may flag NEEDS_RESET at any time.
            if r.below(200) == 0 {
                regs.set_needs_reset();
                m.status |= DEVICE_NEEDS_RESET;
                trace += "needs-reset; ";
            }
            let (reg, val) = draw(&mut r, &m);
            trace += &format!("{reg:?}={val:#x}; ");
            let want = m.write(reg, val).expect("drawn registers are modelled");
            let got = regs.write(reg, val);
            let ctx = format!("run {run} step {step}: {reg:?} <- {val:#x}\n  after: {trace}");
            assert_eq!(got, want, "{ctx}");
            match got {
                Ok(Effect::DriverOk) => seen[0] += 1,
                Ok(Effect::None)
                    if reg == Register::STATUS
                        && m.status & FEATURES_OK == 0
                        && val as u8 & FEATURES_OK != 0 =>
                {
                    seen[1] += 1
                }
                Err(_) => seen[2] += 1,
                Ok(Effect::Reset) => seen[3] += 1,
                _ => {}
            }
            check_reads(&regs, &m, &ctx);
            if trace.len() > 4000 {
                trace.clear();
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 20), "outcomes reached: {seen:?}");
}
