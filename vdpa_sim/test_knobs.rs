// SPDX-License-Identifier: GPL-2.0
//! Test-only knobs of every simulated device, in the instance's `test/` sysfs group: off by
//! default, documented in Documentation/testing.rst. They make the simulator behave like
//! devices the transport must cope with but that the simulator otherwise is not.
//!
//! - `irq_at_driver_ok` (0/1): raise a config interrupt and one per queue when the driver
//!   sets `DRIVER_OK`, while the driver's probe is still running.
//! - `late_irqs` (rounds): after each reset, keep raising interrupts for that many worker
//!   rounds, as a device whose reset completes asynchronously would.
//! - `dma_unmap_fails` (0/1): refuse every DMA table unmap, keeping the mappings, as a device
//!   whose table update failed would (the driver must then keep the pages pinned).

use super::kglue::sysfs::{Attribute, Page};
use super::kglue::vendor::Instance;
use super::sim_device::{DeviceClass, SimParent};
use core::marker::PhantomData;
use kernel::error::code::EINVAL;
use kernel::prelude::*;

/// A number written to a knob.
fn parse_u32(input: &[u8]) -> Result<u32> {
    let s = input.strip_suffix(b"\n").unwrap_or(input);
    core::str::from_utf8(s)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(EINVAL)
}

/// `test/irq_at_driver_ok`.
pub(crate) struct IrqAtDriverOk<C, const Q: usize>(PhantomData<C>);

impl<C: DeviceClass<Q>, const Q: usize> Attribute for IrqAtDriverOk<C, Q> {
    type Target = Instance<SimParent<C, Q>>;
    const NAME: &'static core::ffi::CStr = c"irq_at_driver_ok";
    const WRITABLE: bool = true;

    fn show(sim: &Self::Target, page: &mut Page<'_>) -> Result {
        page.line(format_args!(
            "{}",
            u8::from(sim.read().knobs.irq_at_driver_ok)
        ))
    }

    fn store(sim: &Self::Target, input: &[u8]) -> Result {
        let on = match parse_u32(input)? {
            0 => false,
            1 => true,
            _ => return Err(EINVAL),
        };
        sim.write().knobs.irq_at_driver_ok = on;
        Ok(())
    }
}

/// `test/late_irqs`.
pub(crate) struct LateIrqs<C, const Q: usize>(PhantomData<C>);

/// Most rounds a storm may last.
const LATE_IRQS_MAX: u32 = 100_000;

impl<C: DeviceClass<Q>, const Q: usize> Attribute for LateIrqs<C, Q> {
    type Target = Instance<SimParent<C, Q>>;
    const NAME: &'static core::ffi::CStr = c"late_irqs";
    const WRITABLE: bool = true;

    fn show(sim: &Self::Target, page: &mut Page<'_>) -> Result {
        page.line(format_args!("{}", sim.read().knobs.late_irq_rounds))
    }

    fn store(sim: &Self::Target, input: &[u8]) -> Result {
        let rounds = parse_u32(input)?;
        if rounds > LATE_IRQS_MAX {
            return Err(EINVAL);
        }
        sim.write().knobs.late_irq_rounds = rounds;
        Ok(())
    }
}

/// `test/dma_unmap_fails`.
pub(crate) struct DmaUnmapFails<C, const Q: usize>(PhantomData<C>);

impl<C: DeviceClass<Q>, const Q: usize> Attribute for DmaUnmapFails<C, Q> {
    type Target = Instance<SimParent<C, Q>>;
    const NAME: &'static core::ffi::CStr = c"dma_unmap_fails";
    const WRITABLE: bool = true;

    fn show(sim: &Self::Target, page: &mut Page<'_>) -> Result {
        page.line(format_args!(
            "{}",
            u8::from(sim.read().knobs.dma_unmap_fails)
        ))
    }

    fn store(sim: &Self::Target, input: &[u8]) -> Result {
        let on = match parse_u32(input)? {
            0 => false,
            1 => true,
            _ => return Err(EINVAL),
        };
        sim.write().knobs.dma_unmap_fails = on;
        Ok(())
    }
}
