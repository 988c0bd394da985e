// SPDX-License-Identifier: GPL-2.0
//! `memlock-race`: two devices owned by one process, each mapped from its own thread at the
//! same moment, under an `RLIMIT_MEMLOCK` that holds one map but not two. Exactly one
//! UPDATE may succeed in each round: a backend that checks the limit and charges the pages
//! later, under a lock of each device only, lets both pass the check. `memlock-remap`: maps
//! that follow INVALIDATEs at once, whose pages a worker unpins later (see [`run_remap`]).

use std::sync::Barrier;

use crate::setup::{choose_iova, open_owned};
use crate::sys::{errno_name, invalidate, step, update, vm_pin_line, Dev, Errno, Region};

/// The memory limit the rounds run under.
const LIMIT_PAGES: u64 = 1024;
/// The pages of each map: more than half the limit.
const MAP_PAGES: u64 = 768;
/// The answer to an UPDATE over the limit: the backend's ENOMEM, which `write()` reports as
/// EFAULT, as vhost-vdpa reports every IOTLB handler error (`vhost_chr_write_iter()`).
const REFUSED: Errno = libc::EFAULT;

/// Runs `rounds` rounds on `path_a` and `path_b`; fails if any round let both maps through
/// or refused both.
pub(crate) fn run(path_a: &str, path_b: &str, rounds: u32) -> Result<(), String> {
    let page = 4096u64;
    limit_memlock(LIMIT_PAGES * page)?;
    let len = MAP_PAGES * page;
    let devs = [open_owned(path_a)?.0, open_owned(path_b)?.0];
    let mems = [
        Region::new(len as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?,
        Region::new(len as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?,
    ];
    for m in &mems {
        m.touch();
    }
    let mut iovas = [0u64; 2];
    for (i, d) in devs.iter().enumerate() {
        let range = step("VHOST_VDPA_GET_IOVA_RANGE", d.iova_range())?;
        iovas[i] = choose_iova(range, len, mems[i].va())
            .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    }
    let (mut one, mut both, mut none) = (0u32, 0u32, 0u32);
    for round in 0..rounds {
        let barrier = Barrier::new(2);
        let results: Vec<Result<usize, Errno>> = std::thread::scope(|s| {
            let threads: Vec<_> = (0..2)
                .map(|i| {
                    let (d, m, iova, b) = (&devs[i], &mems[i], iovas[i], &barrier);
                    s.spawn(move || {
                        b.wait();
                        d.iotlb(&update(iova, len, m.va()))
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap_or(Err(libc::EIO)))
                .collect()
        });
        let ok = results.iter().filter(|r| r.is_ok()).count();
        let refused = results.iter().filter(|r| **r == Err(REFUSED)).count();
        if ok + refused != 2 {
            return Err(format!("round {round}: unexpected answers {results:?}"));
        }
        match ok {
            1 => one += 1,
            2 => {
                both += 1;
                println!("round {round}: both maps passed: {}", vm_pin_line());
            }
            _ => none += 1,
        }
        for (i, d) in devs.iter().enumerate() {
            step("INVALIDATE", d.iotlb(&invalidate(iovas[i], len)))?;
        }
    }
    println!(
        "memlock-race: {rounds} rounds of two {MAP_PAGES}-page maps under a {LIMIT_PAGES}-page limit: one passed {one}, both {both}, none {none}"
    );
    if both > 0 || none > 0 {
        return Err(format!(
            "the limit was not enforced exactly: both maps passed in {both} rounds, none in {none}"
        ));
    }
    Ok(())
}

/// The pages of each `memlock-remap` map: 64 MiB, which takes the worker milliseconds to
/// unpin, so that the next map usually comes while they are still charged.
const REMAP_PAGES: u64 = 16384;

/// `memlock-remap`: under a limit that holds one map of [`REMAP_PAGES`], maps and invalidates
/// on the two devices in turn, `rounds` times. An INVALIDATE leaves the unpinning to a worker
/// and the pages charged until it ran, so each UPDATE may find the limit taken by the last
/// round's pages, released on the other device: it must release them and pass. After the
/// last INVALIDATE, with both devices still open, every pin must go.
pub(crate) fn run_remap(path_a: &str, path_b: &str, rounds: u32) -> Result<(), String> {
    let page = 4096u64;
    limit_memlock(REMAP_PAGES * page)?;
    let base = base_pins();
    let len = REMAP_PAGES * page;
    let devs = [open_owned(path_a)?.0, open_owned(path_b)?.0];
    let mem = Region::new(len as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?;
    mem.touch();
    let mut iovas = [0u64; 2];
    for (i, d) in devs.iter().enumerate() {
        let range = step("VHOST_VDPA_GET_IOVA_RANGE", d.iova_range())?;
        iovas[i] = choose_iova(range, len, mem.va())
            .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    }
    // Rounds whose pages were still charged right after the INVALIDATE returned.
    let mut charged = 0u32;
    for round in 0..rounds {
        let i = round as usize % 2;
        devs[i]
            .iotlb(&update(iovas[i], len, mem.va()))
            .map_err(|e| {
                format!(
                    "round {round}: UPDATE refused ({}) under a limit that holds it: {}",
                    errno_name(e),
                    vm_pin_line()
                )
            })?;
        step("INVALIDATE", devs[i].iotlb(&invalidate(iovas[i], len)))?;
        if vm_pin_kb().is_some_and(|kb| kb > 0) {
            charged += 1;
        }
    }
    pins_settle(base).map_err(|e| format!("after the last INVALIDATE, devices open: {e}"))?;
    if vm_pin_kb() != Some(0) {
        return Err(format!("after the last INVALIDATE: {}", vm_pin_line()));
    }
    println!(
        "memlock-remap: {rounds} rounds of a {REMAP_PAGES}-page map and INVALIDATE under a {REMAP_PAGES}-page limit, on two devices in turn: every UPDATE passed; pages still charged after the INVALIDATE in {charged}; all released with the devices open"
    );
    Ok(())
}

/// Sets this process's `RLIMIT_MEMLOCK` (soft and hard) to `bytes`.
fn limit_memlock(bytes: u64) -> Result<(), String> {
    let limit = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    // SAFETY: `limit` is a valid rlimit; lowering one's own limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        return Err("setrlimit(RLIMIT_MEMLOCK)".to_string());
    }
    Ok(())
}

/// Pages pinned system-wide and not yet released (`/proc/vmstat`), or 0 if unreadable.
pub(crate) fn system_pins() -> u64 {
    let s = std::fs::read_to_string("/proc/vmstat").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    get("nr_foll_pin_acquired ").saturating_sub(get("nr_foll_pin_released "))
}

/// The system's pin count to measure from: the lowest of samples over 100 ms. Other
/// activity in the VM (direct I/O of the logging pipeline, say) holds pins for moments, and
/// a base taken during one would make every later comparison off by it.
pub(crate) fn base_pins() -> u64 {
    let mut low = system_pins();
    for _ in 0..20 {
        std::thread::sleep(std::time::Duration::from_millis(5));
        low = low.min(system_pins());
    }
    low
}

/// This process's `VmPin` in kB, from `/proc/self/status`.
pub(crate) fn vm_pin_kb() -> Option<u64> {
    vm_pin_line()
        .strip_prefix("VmPin:")?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

/// Waits up to 2 s for the system's pins to be `want`.
pub(crate) fn pins_settle(want: u64) -> Result<(), String> {
    for _ in 0..200 {
        if system_pins() == want {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(format!("pins are {}, expected {want}", system_pins()))
}

/// `memlock-exec`, first half: under a limit of [`LIMIT_PAGES`], owns `path` with a map of
/// [`MAP_PAGES`], then execs itself keeping the descriptor open (see [`run_exec_child`]).
pub(crate) fn run_exec(path: &str) -> Result<(), String> {
    let page = 4096u64;
    limit_memlock(LIMIT_PAGES * page)?;
    let base = base_pins();
    let (dev, _, _) = open_owned(path)?;
    let len = MAP_PAGES * page;
    let mem = Region::new(len as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?;
    mem.touch();
    let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
    let iova = choose_iova(range, len, mem.va()).ok_or("no usable IOVA")?;
    step("UPDATE", dev.iotlb(&update(iova, len, mem.va())))?;
    if vm_pin_kb() != Some(len / 1024) {
        return Err(format!("before exec: {}", vm_pin_line()));
    }
    let fd = dev.raw();
    // SAFETY: F_SETFD on our own descriptor; only the close-on-exec flag changes.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } != 0 {
        return Err("fcntl(F_SETFD)".to_string());
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let err = std::os::unix::process::CommandExt::exec(std::process::Command::new(exe).args([
        "memlock-exec",
        "--dev",
        path,
        "--inherited",
        &fd.to_string(),
        "--base",
        &base.to_string(),
    ]));
    Err(format!("exec: {err}"))
}

/// `memlock-exec`, second half, in the new image (a new address space, the same limit):
/// the inherited descriptor's owner is the old address space, so this one may not map
/// through it, and the old map stays pinned (charged to the old space, not to this one)
/// until the descriptor closes. Reopened and owned anew, the device charges this space,
/// from zero, up to the inherited limit exactly.
pub(crate) fn run_exec_child(path: &str, inherited: i32, base: u64) -> Result<(), String> {
    let page = 4096u64;
    let dev = Dev::inherit(inherited).map_err(|e| format!("fd {inherited}: {}", errno_name(e)))?;
    if vm_pin_kb() != Some(0) {
        return Err(format!(
            "after exec, this address space has pins: {}",
            vm_pin_line()
        ));
    }
    pins_settle(base + MAP_PAGES).map_err(|e| format!("after exec, the old map: {e}"))?;
    let small = Region::new(4 * page as usize).map_err(|e| format!("memfd: {}", errno_name(e)))?;
    small.touch();
    let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
    let far = range
        .first
        .checked_next_multiple_of(0x4000_0000)
        .ok_or("IOVA range")?;
    match dev.iotlb(&update(far, 4 * page, small.va())) {
        Err(e) if e == REFUSED || e == libc::EPERM => {}
        other => {
            return Err(format!(
                "UPDATE through the inherited fd: {other:?}, expected refusal"
            ))
        }
    }
    pins_settle(base + MAP_PAGES).map_err(|e| format!("after a refused UPDATE: {e}"))?;
    drop(dev);
    pins_settle(base).map_err(|e| format!("after closing the inherited fd: {e}"))?;

    let (dev, _, _) = open_owned(path)?;
    let mem = Region::new((LIMIT_PAGES * page) as usize)
        .map_err(|e| format!("memfd: {}", errno_name(e)))?;
    mem.touch();
    let iova = choose_iova(range, (LIMIT_PAGES + 1) * page, mem.va()).ok_or("no usable IOVA")?;
    // Up to the limit exactly, in two maps; then one page more is refused.
    let first = MAP_PAGES * page;
    step("UPDATE", dev.iotlb(&update(iova, first, mem.va())))?;
    let rest = (LIMIT_PAGES - MAP_PAGES) * page;
    step(
        "UPDATE to the limit",
        dev.iotlb(&update(iova + first, rest, mem.va() + first)),
    )?;
    match dev.iotlb(&update(iova + LIMIT_PAGES * page, page, small.va())) {
        Err(e) if e == REFUSED => {}
        other => return Err(format!("UPDATE past the limit: {other:?}, expected EFAULT")),
    }
    pins_settle(base + LIMIT_PAGES).map_err(|e| format!("at the limit: {e}"))?;
    if vm_pin_kb() != Some(LIMIT_PAGES * page / 1024) {
        return Err(format!("at the limit: {}", vm_pin_line()));
    }
    drop(dev);
    pins_settle(base).map_err(|e| format!("after close: {e}"))?;
    println!(
        "memlock-exec: after exec the old owner's {MAP_PAGES} pages stayed pinned and charged to it, \
         the new image could not map through the inherited fd, and owning the device anew it mapped \
         exactly its {LIMIT_PAGES}-page limit; every pin released"
    );
    Ok(())
}
