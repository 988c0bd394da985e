// SPDX-License-Identifier: GPL-2.0
//! `memlock-race`: two devices owned by one process, each mapped from its own thread at the
//! same moment, under an `RLIMIT_MEMLOCK` that holds one map but not two. Exactly one
//! UPDATE may succeed in each round: a backend that checks the limit and charges the pages
//! later, under a lock of each device only, lets both pass the check.

use std::sync::Barrier;

use crate::setup::{choose_iova, open_owned};
use crate::sys::{errno_name, invalidate, step, update, vm_pin_line, Errno, Region};

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
    let limit = libc::rlimit {
        rlim_cur: LIMIT_PAGES * page,
        rlim_max: LIMIT_PAGES * page,
    };
    // SAFETY: `limit` is a valid rlimit; lowering one's own limit needs no privilege.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) } != 0 {
        return Err("setrlimit(RLIMIT_MEMLOCK)".to_string());
    }
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
