// SPDX-License-Identifier: GPL-2.0
//! `hold`: owns the device with a large map and sleeps until killed, so a test can SIGKILL the
//! process and check that the backend releases the pinned pages.
//!
//! `--fragment 1` faults the pages in a scattered order, so that virtually adjacent pages are
//! (almost) never physically adjacent and the map arrives at the backend as one run per page,
//! the worst case for its tables; the number of physical runs is read from
//! `/proc/self/pagemap` and printed. `--halves 1` maps the upper half of the region first and
//! then the lower half below it, the order that made every run of the second map shift the
//! whole first map in a sorted array; each map is timed.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use vhost_uapi::IotlbMsg;

use crate::setup::{choose_iova, iotlb_ok, open_owned};
use crate::sys::{errno_name, page_size, raise_memlock, step, update, vm_pin_line, Region};

/// Options of `hold`.
pub(crate) struct Opts {
    pub(crate) mb: u64,
    pub(crate) fragment: bool,
    pub(crate) halves: bool,
}

/// Faults every page of `mem` once, in an order that visits them `stride` pages apart
/// (`stride` odd and coprime with the page count, so every page is visited).
pub(crate) fn touch_scattered(mem: &Region, pages: usize) {
    let page = page_size();
    let mut stride = 769usize;
    while gcd(stride, pages) != 1 {
        stride += 2;
    }
    for i in 0..pages {
        mem.w8((i * stride % pages) * page, 1);
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The number of physically contiguous runs that `pages` pages of `mem` from page `first`
/// make, from `/proc/self/pagemap` (which shows frame numbers to root only), or `None` if
/// unreadable.
pub(crate) fn physical_runs(mem: &Region, first: usize, pages: usize) -> Option<usize> {
    let f = File::open("/proc/self/pagemap").ok()?;
    let mut buf = vec![0u8; pages * 8];
    let off = (mem.va() / page_size() as u64 + first as u64) * 8;
    f.read_exact_at(&mut buf, off).ok()?;
    let pfns: Vec<u64> = buf
        .chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8])))
        .map(|e| if e >> 63 == 1 { e & ((1 << 55) - 1) } else { 0 })
        .collect();
    if pfns.contains(&0) {
        return None;
    }
    Some(1 + pfns.windows(2).filter(|w| w[1] != w[0] + 1).count())
}

/// Runs the subcommand; returns only on failure.
pub(crate) fn run(path: &str, o: &Opts) -> Result<(), String> {
    let mb = o.mb;
    if mb == 0 {
        return Err("--mb must be at least 1".to_string());
    }
    let len = usize::try_from(mb << 20).map_err(|_| "--mb too large".to_string())?;
    raise_memlock().map_err(|e| format!("setrlimit(RLIMIT_MEMLOCK): {}", errno_name(e)))?;
    let (dev, _, _) = open_owned(path)?;
    let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
    let mem =
        Region::new(len).map_err(|e| format!("memfd region of {mb} MiB: {}", errno_name(e)))?;
    let pages = len / page_size();
    if o.fragment {
        touch_scattered(&mem, pages);
        match physical_runs(&mem, 0, pages) {
            Some(n) => println!("runs {n} of {pages} pages"),
            None => println!("runs unknown (pagemap unreadable)"),
        }
    } else {
        mem.touch();
    }
    let iova = choose_iova(range, len as u64, mem.va())
        .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    let half = (len / 2) as u64;
    let maps: &[(&str, u64)] = if o.halves {
        &[("upper half", half), ("lower half", 0)]
    } else {
        &[("whole", 0)]
    };
    for &(name, off) in maps {
        let size = if o.halves { half } else { len as u64 };
        let msg: IotlbMsg = update(iova + off, size, mem.va() + off);
        let t = Instant::now();
        iotlb_ok(&dev, "UPDATE", &msg)?;
        println!("map {name}: {} ms", t.elapsed().as_millis());
    }
    println!("mapped {mb} MiB at iova {iova:#x}");
    println!("{}", vm_pin_line());
    std::io::stdout()
        .flush()
        .map_err(|e| format!("stdout: {e}"))?;
    loop {
        // SAFETY: pause() only waits for a signal.
        unsafe { libc::pause() };
    }
}
