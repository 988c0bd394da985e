// SPDX-License-Identifier: GPL-2.0
//! `map-fail`: IOTLB UPDATEs that fail part of the way through leave nothing behind.
//!
//! Each map is of physically scattered pages (one run, so one table entry, per page), so the
//! failure comes after the backend has pinned and recorded many runs:
//!
//! - **unpinnable memory**: the last quarter of the region is `PROT_NONE`, so pinning fails
//!   in the last chunk;
//! - **out of table space**: with the device's test knob `dma_entries_max` at the number of
//!   runs the first 16 pages make (16, or a little less where two happen to be adjacent), a
//!   map of 64 pages fails part of the way, then the 16 pages fit and one page more does not.
//!
//! After each failure the process holds no pin (`VmPin` 0, the system's pin count back where
//! it was), and the device's table is empty again: a map that needs every entry succeeds.

use crate::hold::{physical_runs, touch_scattered};
use crate::memlock::{base_pins, pins_settle, vm_pin_kb};
use crate::setup::{choose_iova, open_owned};
use crate::sys::{errno_name, invalidate, raise_memlock, step, update, vm_pin_line, Region};

/// The answer to a failed UPDATE: `write()` reports every IOTLB handler error as EFAULT.
const REFUSED: i32 = libc::EFAULT;
const PAGE: u64 = 4096;

fn refused(what: &str, r: Result<usize, i32>) -> Result<(), String> {
    match r {
        Err(REFUSED) => Ok(()),
        other => Err(format!("{what}: {other:?}, expected EFAULT")),
    }
}

fn nothing_held(what: &str, base: u64) -> Result<(), String> {
    pins_settle(base).map_err(|e| format!("{what}: {e}"))?;
    if vm_pin_kb() != Some(0) {
        return Err(format!("{what}: {}", vm_pin_line()));
    }
    Ok(())
}

fn write_knob(path: &str, v: u32) -> Result<(), String> {
    std::fs::write(path, format!("{v}\n")).map_err(|e| format!("{path}: {e}"))
}

/// Runs both cases on `path`, whose `dma_entries_max` knob is the file `knob`.
pub(crate) fn run(path: &str, knob: &str) -> Result<(), String> {
    raise_memlock().map_err(|e| format!("setrlimit: {}", errno_name(e)))?;
    write_knob(knob, 0)?;
    let base = base_pins();
    let (dev, _, _) = open_owned(path)?;
    let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;

    // Unpinnable memory in the last of four 512-page chunks.
    let pages = 2048usize;
    let mem =
        Region::new(pages * PAGE as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?;
    touch_scattered(&mem, pages);
    let len = pages as u64 * PAGE;
    let iova = choose_iova(range, len, mem.va()).ok_or("no usable IOVA")?;
    mem.protect_none(3 * pages / 4 * PAGE as usize, pages / 4 * PAGE as usize)
        .map_err(|e| format!("mprotect: {}", errno_name(e)))?;
    refused(
        "UPDATE over PROT_NONE pages",
        dev.iotlb(&update(iova, len, mem.va())),
    )?;
    nothing_held("after the unpinnable map", base)?;
    // The same IOVAs map again (nothing was left in the tables), the readable part of it.
    let ok_len = 3 * len / 4;
    step(
        "UPDATE of the pinnable part",
        dev.iotlb(&update(iova, ok_len, mem.va())),
    )?;
    pins_settle(base + ok_len / PAGE).map_err(|e| format!("the pinnable part: {e}"))?;
    step("INVALIDATE", dev.iotlb(&invalidate(iova, ok_len)))?;
    nothing_held("after INVALIDATE", base)?;
    println!(
        "map-fail: a {pages}-page scattered map failing in its last chunk left no pin and no entry"
    );

    // Out of table space.
    let runs = |n| physical_runs(&mem, 0, n).ok_or("pagemap unreadable");
    let (r16, r64) = (runs(16)?, runs(64)?);
    if r64 <= r16 {
        return Err(format!(
            "64 pages make {r64} runs, 16 make {r16}: not scattered"
        ));
    }
    write_knob(knob, r16 as u32)?;
    let r = (|| {
        let r = dev.iotlb(&update(iova, 64 * PAGE, mem.va()));
        refused("UPDATE of 64 pages", r)?;
        nothing_held("after the map out of space", base)?;
        step(
            "UPDATE of 16 pages",
            dev.iotlb(&update(iova, 16 * PAGE, mem.va())),
        )?;
        let next = mem.va() + 16 * PAGE;
        let r = dev.iotlb(&update(iova + 16 * PAGE, PAGE, next));
        refused("UPDATE of one page more", r)?;
        pins_settle(base + 16).map_err(|e| format!("16 pages mapped: {e}"))?;
        step("INVALIDATE", dev.iotlb(&invalidate(iova, 16 * PAGE)))?;
        nothing_held("after INVALIDATE", base)
    })();
    write_knob(knob, 0)?;
    r?;
    println!(
        "map-fail: out of table space ({r16} entries) in a map of {r64} runs left no pin and no entry; {r16} runs fit exactly"
    );
    Ok(())
}
