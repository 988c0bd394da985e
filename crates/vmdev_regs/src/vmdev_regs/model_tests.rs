// SPDX-License-Identifier: GPL-2.0
//! The register protocol against a reference model: random sequences of register writes,
//! plausible driver steps mixed with garbage, checked write by write against the rules of
//! virtio 1.2 (device status 2.1 and 3.1.1, queue configuration 4.2.3.2 adapted to this map)
//! as written out in [`Model`], and every register the model covers read back after each write.

use std::format;
use std::string::String;

use super::device::{Effect, RegisterFile};
use super::map::Register;
use super::model::{check_reads, Model, INFO, OFFERED, ORDER, QUEUES};
use super::status::*;

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

/// Every combination of status bits written at once, from every status a driver can reach
/// one step at a time: the model and the register file agree. (The random draws add one bit
/// per write; the fuzz target found the model letting FEATURES_OK | DRIVER_OK through from 0.)
#[test]
fn status_bits_written_together() {
    let reachable = [
        0u8,
        ACKNOWLEDGE,
        ACKNOWLEDGE | DRIVER,
        ACKNOWLEDGE | DRIVER | FEATURES_OK,
    ];
    for &from in &reachable {
        for bits in 0u32..256 {
            let mut regs = RegisterFile::<QUEUES>::new(INFO);
            let mut m = Model::default();
            let mut both = |reg, val| assert_eq!(regs.write(reg, val), m.write(reg, val).unwrap());
            for step in [ACKNOWLEDGE, DRIVER] {
                if from & step != 0 {
                    both(Register::STATUS, u32::from(from & (step | (step - 1))));
                }
            }
            if from & DRIVER != 0 {
                both(Register::DRIVER_FEATURES_SEL, 0);
                both(Register::DRIVER_FEATURES, OFFERED as u32);
                both(Register::DRIVER_FEATURES_SEL, 1);
                both(Register::DRIVER_FEATURES, (OFFERED >> 32) as u32);
            }
            if from & FEATURES_OK != 0 {
                both(Register::STATUS, u32::from(from));
            }
            assert_eq!(m.status, from);
            let ctx = format!("from {from:#x}, write {bits:#x}");
            let want = m.write(Register::STATUS, bits).unwrap();
            assert_eq!(regs.write(Register::STATUS, bits), want, "{ctx}");
            check_reads(&regs, &m, &ctx);
        }
    }
}
