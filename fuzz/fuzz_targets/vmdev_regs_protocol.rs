// SPDX-License-Identifier: GPL-2.0
//! The device-side register file against the reference model of the register protocol
//! (`vmdev_regs::model`), with libFuzzer choosing the writes: plausible driver steps and
//! anything at all, to every register, with NEEDS_RESET raised at any time. Every write's
//! result must be the model's, and every register the model covers must read back as the
//! model says. Writes the model does not cover must leave those registers alone.
//!
//! Beside it, the two parsers in front of the register window: the access check of a
//! driver's register access and the debugfs command parser, on arbitrary input.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use vmdev_regs::debug::{parse, Command};
use vmdev_regs::map::Access;
use vmdev_regs::model::{check_reads, Model, INFO, OFFERED, ORDER, QUEUES};
use vmdev_regs::status::{DEVICE_NEEDS_RESET, FAILED};
use vmdev_regs::{check_reg_access, Dir, Register, RegisterFile};

fn value(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=5)? {
        0 => u.arbitrary()?,
        1 => u32::MAX - u32::from(u.int_in_range(0u8..=2)?),
        2 => 1 << u.int_in_range(0u8..=31)?,
        _ => u32::from(u.int_in_range(0u8..=7)?),
    })
}

/// One write: the next driver step, or any register and value.
fn draw(u: &mut Unstructured<'_>, m: &Model) -> Result<(Register, u32)> {
    let next_bit = ORDER.iter().find(|&&b| m.status & b == 0).copied();
    Ok(match u.int_in_range(0u8..=15)? {
        0..=3 => match next_bit {
            Some(b) => (Register::STATUS, u32::from(m.status | b)),
            None => (Register::STATUS, 0),
        },
        4..=5 => {
            let f = match u.int_in_range(0u8..=2)? {
                0 => OFFERED,
                1 => OFFERED & !(1 << 16),
                _ => u.arbitrary()?,
            };
            (
                Register::DRIVER_FEATURES,
                (f >> (32 * (m.features_sel & 1))) as u32,
            )
        }
        6 => (Register::DRIVER_FEATURES_SEL, u.int_in_range(0..=1)?),
        7 => (Register::QUEUE_SEL, u.int_in_range(0..=QUEUES as u32)?),
        8 => (Register::QUEUE_NUM, 1 << u.int_in_range(0u8..=9)?),
        9 => (Register::QUEUE_READY, u.int_in_range(0..=1)?),
        10 => (Register::SUSPEND, u.int_in_range(0..=1)?),
        11 => (Register::STATUS, u32::from(m.status | FAILED)),
        _ => (*u.choose(Register::ALL)?, value(u)?),
    })
}

fn protocol(u: &mut Unstructured<'_>) -> Result<()> {
    let mut regs = RegisterFile::<QUEUES>::new(INFO);
    let mut m = Model::default();
    let mut steps = 0u32;
    while !u.is_empty() && steps < 4096 {
        steps += 1;
        if u.ratio(1u8, 64u8)? {
            regs.set_needs_reset();
            m.status |= DEVICE_NEEDS_RESET;
        }
        let (reg, val) = draw(u, &m)?;
        let ctx = format!("step {steps}: {reg:?} <- {val:#x}");
        match m.write(reg, val) {
            Some(want) => assert_eq!(regs.write(reg, val), want, "{ctx}"),
            None => {
                // Not the model's: whatever it does, the modelled registers stay.
                let _ = regs.write(reg, val);
            }
        }
        check_reads(&regs, &m, &ctx);
        // Reads of any register are side-effect free for the model's registers.
        let _ = regs.read(*u.choose(Register::ALL)?);
        check_reads(&regs, &m, &ctx);
    }
    Ok(())
}

fn access(u: &mut Unstructured<'_>) -> Result<()> {
    while !u.is_empty() {
        let offset = match u.int_in_range(0u8..=3)? {
            0 => u.arbitrary()?,
            _ => u32::from(u.int_in_range(0u16..=0x200)?),
        };
        let width = u.int_in_range(0u32..=8)?;
        let dir = if u.arbitrary()? {
            Dir::Read
        } else {
            Dir::Write
        };
        if let Ok(reg) = check_reg_access(offset, width, dir) {
            // Only a whole register, at its own offset, in a direction it allows.
            assert_eq!(width, 4);
            assert_eq!(reg as u32, offset);
            assert_eq!(Register::at(offset), Some(reg));
            match (reg.access(), dir) {
                (Access::Ro, Dir::Write) | (Access::Wo, Dir::Read) => {
                    panic!("{reg:?} allowed {dir:?}")
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The canonical spelling of a debugfs command.
fn spell(c: Command) -> String {
    match c {
        Command::Read(a) => format!("r {a:#x}"),
        Command::Write(a, v) => format!("w {a} {v:#x}\n"),
        Command::Config(a, n) => format!("c {a:#x} {n}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0u8..=2) {
        Ok(0) => protocol(&mut u),
        Ok(1) => access(&mut u),
        _ => {
            // Whatever the bytes, the parser answers; what it accepts, it reads back.
            if let Some(c) = parse(u.take_rest()) {
                assert_eq!(parse(spell(c).as_bytes()), Some(c));
            }
            Ok(())
        }
    };
});
