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
//! - `dma_entries_max` (entries, 0 = off): refuse a DMA table map (`ERR_NOSPC`) once the address
//!   space holds that many entries, as a device with a small table would, so that a test
//!   reaches a driver's out-of-space path without a gigabyte of fragmented memory.
//! - `dirty_log_off` (0/1): accept the dirty log as usual but mark nothing in it, as a device
//!   that forgets to log would, so that the migration tests show they catch one.

use super::kglue::sysfs::{Attribute, Page};
use super::kglue::vendor::Instance;
use super::sim_device::{DeviceClass, SimParent, TestKnobs};
use super::sim_dma::DMA_MAX_ENTRIES;
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

/// Most rounds a storm of late interrupts may last.
const LATE_IRQS_MAX: u32 = 100_000;

/// One knob: a sysfs attribute holding a number up to `$max` in a field of [`TestKnobs`],
/// read and written through `$get` and `$set`.
macro_rules! knob {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $max:expr,
     get: |$g:ident| $get:expr, set: |$s:ident, $v:ident| $set:expr) => {
        $(#[$doc])*
        pub(crate) struct $ty<C, const Q: usize>(PhantomData<C>);

        impl<C: DeviceClass<Q>, const Q: usize> Attribute for $ty<C, Q> {
            type Target = Instance<SimParent<C, Q>>;
            const NAME: &'static core::ffi::CStr = $name;
            const WRITABLE: bool = true;

            fn show(sim: &Self::Target, page: &mut Page<'_>) -> Result {
                let $g: &TestKnobs = &sim.read().knobs;
                page.line(format_args!("{}", $get))
            }

            fn store(sim: &Self::Target, input: &[u8]) -> Result {
                let $v = parse_u32(input)?;
                if $v > $max {
                    return Err(EINVAL);
                }
                let $s: &mut TestKnobs = &mut sim.write().knobs;
                $set;
                Ok(())
            }
        }
    };
}

knob!(
    /// `test/irq_at_driver_ok`.
    IrqAtDriverOk, c"irq_at_driver_ok", 1,
    get: |k| u32::from(k.irq_at_driver_ok),
    set: |k, v| k.irq_at_driver_ok = v == 1
);
knob!(
    /// `test/late_irqs`.
    LateIrqs, c"late_irqs", LATE_IRQS_MAX,
    get: |k| k.late_irq_rounds,
    set: |k, v| k.late_irq_rounds = v
);
knob!(
    /// `test/dma_unmap_fails`.
    DmaUnmapFails, c"dma_unmap_fails", 1,
    get: |k| u32::from(k.dma_unmap_fails),
    set: |k, v| k.dma_unmap_fails = v == 1
);
knob!(
    /// `test/dma_entries_max`.
    DmaEntriesMax, c"dma_entries_max", DMA_MAX_ENTRIES as u32,
    get: |k| k.dma_entries_max,
    set: |k, v| k.dma_entries_max = v
);
knob!(
    /// `test/dirty_log_off`.
    DirtyLogOff, c"dirty_log_off", 1,
    get: |k| u32::from(k.dirty_log_off),
    set: |k, v| k.dirty_log_off = v == 1
);
