// SPDX-License-Identifier: GPL-2.0
//! `fuzz`: a seeded fuzzer of the vhost-vdpa uAPI of one device node.
//!
//! Several threads share one open file (and reopen it when one of them closes it), each
//! drawing operations from its own generator, seeded with `seed + thread`: the same seed
//! replays the same operations in every thread (their interleaving is the scheduler's).
//! Operations mix what a driver does, in plausible order (owner, backend features, status
//! steps, features, IOTLB maps of the shared memory, rings inside it, kick and call
//! eventfds, DRIVER_OK, kicks, suspend and resume, reset), with what no driver does: every
//! vhost ioctl with random arguments, IOTLB messages with random kinds, ranges, addresses
//! (unmapped and read-only user memory included) and permissions, ring memory rewritten at
//! random while the device walks it, eventfds replaced and closed while watched, and close
//! and reopen. Every answer is acceptable except a hang or a kernel report; the test around
//! it checks the kernel log, the pins and kmemleak. A device removed under the fuzzer makes
//! every call fail with ENODEV until the node is gone, and the threads then stop.
//!
//! With `--park FILE`, whenever FILE exists every thread stops calling the device and the
//! file is closed, so that the test around can unload and reload `vhost_mdev` in the middle
//! of a run; once FILE is gone the file is reopened (the same path: the test keeps it naming
//! the device) and the operations go on. Prints `parked` and `unparked` as that happens.
//!
//! Prints the seed first, and a summary: operations run, and how many calls failed with each
//! errno.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
pub(crate) use vmdev_selftest_tools::rng::Rng;

use vhost_uapi::*;

use crate::sys::{errno_name, last_errno, shared_region, Dev, Errno, EventFd, Region};

/// Shared memory every map and ring points into.
const MEM_LEN: usize = 1 << 20;
/// Queues the fuzzer addresses (more than any device has, to reach the bounds checks).
const VQS: u32 = 20;

/// Options of the `fuzz` subcommand.
#[derive(Clone, Copy)]
pub(crate) struct Opts {
    /// First seed; thread `t` uses `seed + t`.
    pub(crate) seed: u64,
    /// Operations per thread at most.
    pub(crate) ops: u64,
    /// Threads.
    pub(crate) threads: u32,
    /// Stop after this long even if operations are left.
    pub(crate) seconds: f64,
}

/// What every thread shares.
struct Shared {
    path: String,
    /// While this file exists, the device is left closed (`--park`).
    park: Option<String>,
    /// Whether the threads are parked: set by the first to see the park file.
    parked: AtomicBool,
    /// Times the run was parked.
    parks: AtomicU64,
    /// The open file; replaced by a close or a reopen (write lock), used by every other
    /// operation (read lock), so that several threads call into one file at once.
    dev: RwLock<Option<Dev>>,
    mem: Region,
    /// IOVA of region offset 0 in the plausible maps.
    iova: u64,
    /// Eventfds in use as kicks and calls; replaced (and the old ones closed) at random.
    fds: Mutex<Vec<EventFd>>,
    /// Set when the node is gone: every thread stops.
    gone: AtomicBool,
    ops: AtomicU64,
    errors: Mutex<BTreeMap<Errno, u64>>,
}

impl Shared {
    fn count(&self, r: Result<(), Errno>) {
        if let Err(e) = r {
            *self
                .errors
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(e)
                .or_default() += 1;
            if e == libc::ENODEV {
                // The device was removed: calls fail until the file is closed.
                self.gone.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// The ioctls of the vhost and vhost-vdpa uAPI, with random-argument calls in mind.
const IOCTLS: &[u32] = &[
    VHOST_GET_FEATURES,
    VHOST_SET_FEATURES,
    VHOST_SET_OWNER,
    VHOST_RESET_OWNER,
    VHOST_SET_MEM_TABLE,
    VHOST_SET_LOG_BASE,
    VHOST_SET_LOG_FD,
    VHOST_NEW_WORKER,
    VHOST_FREE_WORKER,
    VHOST_SET_VRING_NUM,
    VHOST_SET_VRING_ADDR,
    VHOST_SET_VRING_BASE,
    VHOST_GET_VRING_BASE,
    VHOST_SET_VRING_ENDIAN,
    VHOST_GET_VRING_ENDIAN,
    VHOST_ATTACH_VRING_WORKER,
    VHOST_GET_VRING_WORKER,
    VHOST_SET_VRING_KICK,
    VHOST_SET_VRING_CALL,
    VHOST_SET_VRING_ERR,
    VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
    VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
    VHOST_SET_BACKEND_FEATURES,
    VHOST_GET_BACKEND_FEATURES,
    VHOST_VDPA_GET_DEVICE_ID,
    VHOST_VDPA_GET_STATUS,
    VHOST_VDPA_SET_STATUS,
    VHOST_VDPA_GET_CONFIG,
    VHOST_VDPA_SET_CONFIG,
    VHOST_VDPA_SET_VRING_ENABLE,
    VHOST_VDPA_GET_VRING_NUM,
    VHOST_VDPA_SET_CONFIG_CALL,
    VHOST_VDPA_GET_IOVA_RANGE,
    VHOST_VDPA_GET_CONFIG_SIZE,
    VHOST_VDPA_GET_AS_NUM,
    VHOST_VDPA_GET_VRING_GROUP,
    VHOST_VDPA_SET_GROUP_ASID,
    VHOST_VDPA_SUSPEND,
    VHOST_VDPA_RESUME,
    VHOST_VDPA_GET_VRING_DESC_GROUP,
    VHOST_VDPA_GET_VQS_COUNT,
    VHOST_VDPA_GET_GROUP_NUM,
    VHOST_VDPA_GET_VRING_SIZE,
    VHOST_SET_FORK_FROM_OWNER,
    VHOST_GET_FORK_FROM_OWNER,
];

/// A read-only page of this program (its text), for maps of memory that cannot be written.
fn read_only_addr() -> u64 {
    (read_only_addr as *const () as u64) & !0xfff
}

/// An IOTLB message as `write()` takes it: v2 (with `asid`) or v1.
fn encode_iotlb(v2: bool, asid: u32, msg: &IotlbMsg) -> [u8; VHOST_MSG_SIZE] {
    if v2 {
        encode_msg_v2(asid, msg)
    } else {
        encode_msg_v1(msg)
    }
}

/// Parks the thread while the park file exists (see the module doc); returns whether it did.
/// The first thread to see the file closes the device, under the write lock, so that no
/// other thread is in a call; the first to see it gone reopens it.
fn park(sh: &Shared, stop_at: Instant) -> bool {
    let Some(file) = sh.park.as_deref() else {
        return false;
    };
    let exists = || std::path::Path::new(file).exists();
    if !exists() {
        return false;
    }
    {
        let mut d = sh.dev.write().unwrap_or_else(|p| p.into_inner());
        if !sh.parked.swap(true, Ordering::Relaxed) {
            *d = None;
            sh.parks.fetch_add(1, Ordering::Relaxed);
            println!("parked");
        }
    }
    while exists() && Instant::now() < stop_at {
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut d = sh.dev.write().unwrap_or_else(|p| p.into_inner());
    if sh.parked.swap(false, Ordering::Relaxed) {
        match Dev::open(&sh.path) {
            Ok(n) => {
                *d = Some(n);
                println!("unparked");
            }
            Err(e) => {
                println!("unparked, but reopening failed: {}", errno_name(e));
                sh.gone.store(true, Ordering::Relaxed);
            }
        }
    }
    true
}

/// One thread's operations.
fn thread(sh: &Shared, o: &Opts, t: u32, stop_at: Instant) {
    let mut r = Rng::new(o.seed.wrapping_add(u64::from(t)));
    let mut arg = [0u8; 4096];
    for i in 0..o.ops {
        if sh.gone.load(Ordering::Relaxed) || Instant::now() >= stop_at {
            break;
        }
        if i % 32 == 0 && park(sh, stop_at) {
            continue;
        }
        sh.ops.fetch_add(1, Ordering::Relaxed);
        match r.below(100) {
            // Close, or reopen a closed file.
            0..=1 => {
                let mut d = sh.dev.write().unwrap_or_else(|p| p.into_inner());
                if d.is_some() && r.chance(50) {
                    *d = None;
                } else if d.is_none() && !sh.parked.load(Ordering::Relaxed) {
                    match Dev::open(&sh.path) {
                        Ok(n) => *d = Some(n),
                        Err(e) => {
                            if e == libc::ENOENT || e == libc::ENODEV {
                                sh.gone.store(true, Ordering::Relaxed);
                            }
                            drop(d);
                            sh.count(Err(e));
                        }
                    }
                }
            }
            // Replace an eventfd (closing the old one while it may still be watched).
            2..=4 => {
                let mut fds = sh.fds.lock().unwrap_or_else(|p| p.into_inner());
                if !fds.is_empty() {
                    let i = r.below(fds.len() as u64) as usize;
                    if let Ok(e) = EventFd::new() {
                        fds[i] = e;
                    }
                }
            }
            // Rewrite ring memory while the device may walk it.
            5..=14 => {
                let off = r.below(MEM_LEN as u64 - 64) as usize;
                let len = 1 + r.below(64) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| r.next() as u8).collect();
                sh.mem.write_bytes(off, &bytes);
            }
            _ => {
                let d = sh.dev.read().unwrap_or_else(|p| p.into_inner());
                let Some(dev) = d.as_ref() else {
                    continue;
                };
                let res = device_op(sh, dev, &mut r, &mut arg);
                drop(d);
                sh.count(res);
            }
        }
    }
}

/// One call on an open file: plausible, or random.
fn device_op(sh: &Shared, dev: &Dev, r: &mut Rng, arg: &mut [u8; 4096]) -> Result<(), Errno> {
    let vq = if r.chance(90) {
        r.below(4) as u32
    } else {
        r.below(u64::from(VQS)) as u32
    };
    let fd_of = |r: &mut Rng| -> i32 {
        let fds = sh.fds.lock().unwrap_or_else(|p| p.into_inner());
        match r.below(10) {
            0 => -1,
            1 => dev.raw(),
            _ if !fds.is_empty() => fds[r.below(fds.len() as u64) as usize].raw(),
            _ => -1,
        }
    };
    match r.below(20) {
        0 => dev.ioctl_none(VHOST_SET_OWNER),
        1 => dev.set_u64(
            VHOST_SET_BACKEND_FEATURES,
            if r.chance(70) { 0x17e } else { r.edgy() },
        ),
        2 => {
            let steps = [0u8, 1, 3, 0x0b, 0x0f, 0x8f, r.next() as u8];
            dev.set_u8(
                VHOST_VDPA_SET_STATUS,
                steps[r.below(steps.len() as u64) as usize],
            )
        }
        3 => dev.set_u64(
            VHOST_SET_FEATURES,
            if r.chance(70) {
                (1 << VIRTIO_F_VERSION_1)
                    | (1 << VIRTIO_F_ACCESS_PLATFORM)
                    | (r.next() & 0x3ff_ffff)
            } else {
                r.edgy()
            },
        ),
        4 => {
            // A plausible map of part of the shared memory, or an implausible one.
            let off = r.below(MEM_LEN as u64 / 4096) * 4096;
            let len = (1 + r.below((MEM_LEN as u64 - off) / 4096)) * 4096;
            let (iova, size, uaddr) = match r.below(6) {
                0 => (r.edgy(), r.edgy(), r.edgy()),
                1 => (sh.iova + off, len, read_only_addr()),
                2 => (sh.iova + off, len, 0x1000),
                _ => (sh.iova + off, len, sh.mem.va() + off),
            };
            let kind = if r.chance(85) {
                VHOST_IOTLB_UPDATE
            } else {
                r.below(8) as u8
            };
            let perm = if r.chance(85) {
                VHOST_ACCESS_RW
            } else {
                r.next() as u8
            };
            let asid = if r.chance(80) { 0 } else { r.below(3) as u32 };
            let msg = IotlbMsg {
                iova,
                size,
                uaddr,
                perm,
                kind,
            };
            dev.write(&encode_iotlb(r.chance(90), asid, &msg)).map(drop)
        }
        5 => {
            let off = r.below(MEM_LEN as u64 / 4096) * 4096;
            let msg = IotlbMsg {
                iova: if r.chance(80) {
                    sh.iova + off
                } else {
                    r.edgy()
                },
                size: if r.chance(80) {
                    4096 * (1 + r.below(64))
                } else {
                    r.edgy()
                },
                uaddr: 0,
                perm: 0,
                kind: VHOST_IOTLB_INVALIDATE,
            };
            dev.write(&encode_iotlb(true, 0, &msg)).map(drop)
        }
        6 => dev.set_state(
            VHOST_SET_VRING_NUM,
            vq,
            [64, 128, 256, r.next() as u32][r.below(4) as usize],
        ),
        7 => {
            // Rings inside the map (where the rewrites land), or anywhere.
            let base = sh.iova + r.below(MEM_LEN as u64 / 4096) * 4096;
            let a = VringAddr {
                index: vq,
                flags: if r.chance(90) { 0 } else { r.next() as u32 },
                desc_user_addr: if r.chance(90) { base } else { r.edgy() },
                avail_user_addr: if r.chance(90) {
                    base + 0x1000
                } else {
                    r.edgy()
                },
                used_user_addr: if r.chance(90) {
                    base + 0x2000
                } else {
                    r.edgy()
                },
                log_guest_addr: 0,
            };
            dev.set_addr(&a)
        }
        8 => dev.set_state(VHOST_SET_VRING_BASE, vq, r.below(70000) as u32),
        9 => dev.get_state(VHOST_GET_VRING_BASE, vq).map(drop),
        10 => dev.set_file(VHOST_SET_VRING_KICK, vq, fd_of(r)),
        11 => dev.set_file(VHOST_SET_VRING_CALL, vq, fd_of(r)),
        12 => dev.set_state(VHOST_VDPA_SET_VRING_ENABLE, vq, (r.below(3)) as u32),
        13 => {
            // Kick: the eventfds may or may not be the ones the device watches.
            let fds = sh.fds.lock().unwrap_or_else(|p| p.into_inner());
            if fds.is_empty() {
                return Ok(());
            }
            fds[r.below(fds.len() as u64) as usize].signal()
        }
        14 => dev.ioctl_none(if r.chance(50) {
            VHOST_VDPA_SUSPEND
        } else {
            VHOST_VDPA_RESUME
        }),
        15 => dev.set_state(
            VHOST_VDPA_SET_GROUP_ASID,
            r.below(3) as u32,
            r.below(3) as u32,
        ),
        16 => {
            let off = r.below(40) as u32;
            let len = r.below(40) as u32;
            dev.get_config(off, len).map(drop)
        }
        _ => {
            // Any ioctl with random argument bytes.
            for b in arg.iter_mut() {
                *b = r.next() as u8;
            }
            let cmd = if r.chance(95) {
                IOCTLS[r.below(IOCTLS.len() as u64) as usize]
            } else {
                r.next() as u32
            };
            let ptr: *mut libc::c_void = match r.below(10) {
                0 => core::ptr::null_mut(),
                1 => read_only_addr() as *mut libc::c_void,
                _ => arg.as_mut_ptr().cast(),
            };
            // SAFETY: the argument is a 4 KiB buffer this thread owns (more than any vhost
            // ioctl reads or writes), or an address the kernel must refuse (null, read-only
            // text); the call touches no other memory of this process.
            let rc = unsafe { libc::ioctl(dev.raw(), cmd as libc::Ioctl, ptr) };
            if rc < 0 {
                Err(last_errno())
            } else {
                Ok(())
            }
        }
    }
}

/// Runs the subcommand.
pub(crate) fn run(path: &str, o: &Opts, park: Option<&str>) -> Result<(), String> {
    if o.threads == 0 || o.threads > 64 {
        return Err("--threads must be in 1..=64".to_string());
    }
    println!(
        "fuzz: seed {} threads {} ops {} seconds {}",
        o.seed, o.threads, o.ops, o.seconds
    );
    let mem = shared_region(MEM_LEN)?;
    let dev = Dev::open(path).map_err(|e| format!("open {path}: {}", errno_name(e)))?;
    let mut fds = Vec::new();
    for _ in 0..8 {
        fds.push(EventFd::new().map_err(|e| format!("eventfd: {}", errno_name(e)))?);
    }
    let sh = Shared {
        path: path.to_string(),
        park: park.map(str::to_string),
        parked: AtomicBool::new(false),
        parks: AtomicU64::new(0),
        dev: RwLock::new(Some(dev)),
        mem,
        iova: 0x4000_0000,
        fds: Mutex::new(fds),
        gone: AtomicBool::new(false),
        ops: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
    };
    let stop_at = Instant::now() + Duration::from_secs_f64(o.seconds);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..o.threads {
            let sh = &sh;
            s.spawn(move || thread(sh, o, t, stop_at));
        }
    });
    let el = start.elapsed().as_secs_f64();
    // Close before the memory goes (the device may still hold maps of it).
    *sh.dev.write().unwrap_or_else(|p| p.into_inner()) = None;
    let errors = sh.errors.lock().unwrap_or_else(|p| p.into_inner());
    let summary: Vec<String> = errors
        .iter()
        .map(|(e, n)| format!("{} {n}", errno_name(*e)))
        .collect();
    println!(
        "fuzz: {} operations in {el:.1} s, parked {} times, device {}; failed calls: {}",
        sh.ops.load(Ordering::Relaxed),
        sh.parks.load(Ordering::Relaxed),
        if sh.gone.load(Ordering::Relaxed) {
            "removed"
        } else {
            "present"
        },
        if summary.is_empty() {
            "none".to_string()
        } else {
            summary.join(", ")
        }
    );
    Ok(())
}
