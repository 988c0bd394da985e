// SPDX-License-Identifier: GPL-2.0
//! `errno`: the bad-input catalogue of the vhost-vdpa uAPI, one independent case per line.
//!
//! Every case opens its own fd (the device is exclusive), brings it into the state it needs,
//! provokes one answer and closes the fd again. The expected answers are those of the kernel's
//! `drivers/vhost/vdpa.c` (6.12) in front of vdpa_sim_net; answers that may legitimately differ
//! between backends are printed as `info` lines instead.

use std::os::fd::AsRawFd;

use vhost_uapi::errno::{E2BIG, EBADF, EBUSY, EFAULT, EINVAL, ENOBUFS, ENOTTY, EOPNOTSUPP, EPERM};
use vhost_uapi::{
    encode_msg_v1, encode_msg_v2, iow, IotlbMsg, MemoryHeader, VringAddr, VringState,
    BACKEND_DESC_ASID, BACKEND_IOTLB_ASID, BACKEND_IOTLB_BATCH, BACKEND_IOTLB_MSG_V2,
    VHOST_GET_BACKEND_FEATURES, VHOST_GET_FEATURES, VHOST_GET_VRING_BASE, VHOST_RESET_OWNER,
    VHOST_SET_BACKEND_FEATURES, VHOST_SET_FEATURES, VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD,
    VHOST_SET_MEM_TABLE, VHOST_SET_OWNER, VHOST_SET_VRING_BASE, VHOST_SET_VRING_CALL,
    VHOST_SET_VRING_ENDIAN, VHOST_SET_VRING_ERR, VHOST_SET_VRING_KICK, VHOST_SET_VRING_NUM,
    VHOST_VDPA_GET_AS_NUM, VHOST_VDPA_GET_CONFIG_SIZE, VHOST_VDPA_GET_DEVICE_ID,
    VHOST_VDPA_GET_GROUP_NUM, VHOST_VDPA_GET_STATUS, VHOST_VDPA_GET_VQS_COUNT,
    VHOST_VDPA_GET_VRING_GROUP, VHOST_VDPA_GET_VRING_NUM, VHOST_VDPA_GET_VRING_SIZE,
    VHOST_VDPA_RESUME, VHOST_VDPA_SET_CONFIG_CALL, VHOST_VDPA_SET_GROUP_ASID,
    VHOST_VDPA_SET_STATUS, VHOST_VDPA_SET_VRING_ENABLE, VHOST_VDPA_SUSPEND, VHOST_VIRTIO,
    VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK,
    VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1,
};

use crate::setup::{choose_iova, negotiate, ring_size, set_driver_ok};
use crate::sys::{
    batch, closed_fd, errno_name, invalidate, last_errno, outcome, pipe, shared_region, step,
    update, wrote, Dev, Errno, EventFd, Region,
};

/// 64 KiB: the unit of the test maps, room for a ring of 256 entries. Kept small because
/// upstream's vdpa_sim rebuilds its whole table on every unbatched map (`vdpasim_set_map`
/// from `vhost_vdpa_map`), and vhost-vdpa maps each physically contiguous run of the pinned
/// pages on its own: on fragmented memory, two 1 MiB maps cost 512 rebuilds of up to 512
/// entries each, which took from 2 to over 600 seconds on the debug kernel.
const M: u64 = 64 << 10;
/// Size of the shared memory all maps point into.
const MEM_LEN: usize = 4 * M as usize;
/// An ioctl number no vhost header defines (type 0xAF, nr 0x50, `_IOW` of 8 bytes).
const UNKNOWN_IOCTL: u32 = iow(VHOST_VIRTIO, 0x50, VringState::SIZE);

/// What every case can use.
struct Ctx {
    path: String,
    mem: Region,
    /// IOVA the test maps are placed around.
    base: u64,
    nvqs: u32,
    vring_max: u16,
    config_size: u32,
    /// The device offers `VHOST_F_LOG_ALL` (vhost_mdev on a device that logs; never
    /// vhost-vdpa): the log cases expect what a logging device answers.
    logs: bool,
}

type CaseResult = Result<String, String>;
/// A probe on a fresh fd.
type DevProbe = fn(&Dev) -> Result<(), Errno>;
/// A probe that needs the context.
type CtxProbe = fn(&Ctx, &Dev) -> Result<(), Errno>;
/// A probe on a vq index.
type IndexProbe = fn(&Ctx, &Dev, u32) -> Result<(), Errno>;
/// A change to a valid `SET_VRING_ADDR` argument.
type AddrTweak = fn(&mut VringAddr);

impl Ctx {
    /// A fresh fd.
    fn open(&self) -> Result<Dev, String> {
        Dev::open(&self.path).map_err(|e| format!("open failed: {}", errno_name(e)))
    }

    /// A fresh fd that owns the device.
    fn owned(&self) -> Result<Dev, String> {
        let d = self.open()?;
        step("VHOST_SET_OWNER", d.ioctl_none(VHOST_SET_OWNER))?;
        Ok(d)
    }

    /// An owned fd at status ACK|DRIVER|FEATURES_OK with VERSION_1|ACCESS_PLATFORM.
    fn features_ok(&self) -> Result<Dev, String> {
        let d = self.owned()?;
        walk_to_features_ok(&d)?;
        Ok(d)
    }

    /// An owned fd at DRIVER_OK with no ring enabled.
    fn driver_ok(&self) -> Result<Dev, String> {
        let d = self.features_ok()?;
        set_driver_ok(&d, STATUS_FOK)?;
        Ok(d)
    }

    /// The virtual address of region offset `off`.
    fn va(&self, off: u64) -> u64 {
        self.mem.va() + off
    }

    /// The reference map: `M` bytes at `base + M`, backed by region offset `M`.
    fn m1(&self) -> IotlbMsg {
        update(self.base + M, M, self.va(M))
    }

    /// A second map: `M` bytes at `base + 2 M`.
    fn m2(&self) -> IotlbMsg {
        update(self.base + 2 * M, M, self.va(2 * M))
    }

    /// A valid `SET_VRING_ADDR` argument for vq `index` (IOVAs inside `m1`).
    fn vring_addr(&self, index: u32) -> VringAddr {
        VringAddr {
            index,
            flags: 0,
            desc_user_addr: self.base + M,
            used_user_addr: self.base + M + 0x2000,
            avail_user_addr: self.base + M + 0x1000,
            log_guest_addr: 0,
        }
    }
}

/// VERSION_1 | ACCESS_PLATFORM.
const DRIVER_FEATURES: u64 = (1 << VIRTIO_F_VERSION_1) | (1 << VIRTIO_F_ACCESS_PLATFORM);
/// ACK | DRIVER | FEATURES_OK.
const STATUS_FOK: u8 =
    VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK;

fn walk_to_features_ok(d: &Dev) -> Result<(), String> {
    negotiate(d, DRIVER_FEATURES).map(drop)
}

/// A write result as text.
fn w(d: &Dev, msg: &IotlbMsg) -> String {
    wrote(&d.iotlb(msg))
}

/// An ioctl result as text.
fn o<T>(r: Result<T, Errno>) -> String {
    outcome(&r)
}

/// A status byte as text.
fn status(d: &Dev) -> String {
    match d.get_u8(VHOST_VDPA_GET_STATUS) {
        Ok(s) => format!("{s:#04x}"),
        Err(e) => errno_name(e),
    }
}

/// Runs the cases and counts failures.
struct Runner {
    total: u32,
    failed: u32,
}

impl Runner {
    fn case(&mut self, c: &Ctx, name: &str, expected: &str, f: impl FnOnce(&Ctx) -> CaseResult) {
        self.total += 1;
        let t0 = std::time::Instant::now();
        let result = f(c);
        // A case is a handful of system calls; one that takes seconds points at the backend.
        let ms = t0.elapsed().as_millis();
        if ms >= 1000 {
            println!("slow {name} {ms} ms");
        }
        if let Some(got) = self.judge(name, expected, result) {
            println!("ok {name} {got}");
        }
    }

    /// Counts and prints a failed case; the outcome of one that passed.
    fn judge(&mut self, name: &str, expected: &str, result: CaseResult) -> Option<String> {
        match result {
            Ok(got) if got == expected => Some(got),
            Ok(got) => {
                self.failed += 1;
                println!("FAIL {name} got {got} expected {expected}");
                None
            }
            Err(msg) => {
                self.failed += 1;
                println!("FAIL {name} got setup-error expected {expected} ({msg})");
                None
            }
        }
    }
}

impl Runner {
    /// A case whose outcome depends on whether the device logs (`Ctx::logs`): expected
    /// `vdpa` as on vhost-vdpa, `logging` on a device offering `VHOST_F_LOG_ALL`. Reported as
    /// `ok+` (so the differential comparison of `ok` lines leaves it out) and as an `info`
    /// value (so it shows among the values that differ).
    fn case_by_log(
        &mut self,
        c: &Ctx,
        name: &str,
        vdpa: &str,
        logging: &str,
        f: impl FnOnce(&Ctx) -> CaseResult,
    ) {
        self.total += 1;
        let expected = if c.logs { logging } else { vdpa };
        let result = f(c);
        if let Some(got) = self.judge(name, expected, result) {
            println!("ok+ {name} {got}");
            info(name, got);
        }
    }
}

fn info(name: &str, value: impl std::fmt::Display) {
    println!("info {name} {value}");
}

fn hex<T: std::fmt::LowerHex>(r: Result<T, Errno>) -> String {
    match r {
        Ok(v) => format!("{v:#x}"),
        Err(e) => errno_name(e),
    }
}

/// The values that may differ between backends.
fn print_info(c: &Ctx) -> Result<(), String> {
    let d = c.open()?;
    info("GET_DEVICE_ID", o_val(d.get_u32(VHOST_VDPA_GET_DEVICE_ID)));
    info("GET_FEATURES", hex(d.get_u64(VHOST_GET_FEATURES)));
    info(
        "GET_BACKEND_FEATURES",
        hex(d.get_u64(VHOST_GET_BACKEND_FEATURES)),
    );
    info("GET_VQS_COUNT", o_val(d.get_u32(VHOST_VDPA_GET_VQS_COUNT)));
    info(
        "GET_CONFIG_SIZE",
        o_val(d.get_u32(VHOST_VDPA_GET_CONFIG_SIZE)),
    );
    info("GET_VRING_NUM", o_val(d.get_u16(VHOST_VDPA_GET_VRING_NUM)));
    info(
        "GET_IOVA_RANGE",
        match d.iova_range() {
            Ok(r) => format!("{:#x}..={:#x}", r.first, r.last),
            Err(e) => errno_name(e),
        },
    );
    info("GET_AS_NUM", o_val(d.get_u32(VHOST_VDPA_GET_AS_NUM)));
    info("GET_GROUP_NUM", o_val(d.get_u32(VHOST_VDPA_GET_GROUP_NUM)));
    info(
        "GET_CONFIG_MAC",
        match d.get_config(0, 6) {
            Ok(m) => m
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":"),
            Err(e) => errno_name(e),
        },
    );
    drop(d);
    let d = c.owned()?;
    info(
        "GET_VRING_SIZE-vq0",
        o_val(d.get_state(VHOST_VDPA_GET_VRING_SIZE, 0)),
    );
    for q in [0, c.nvqs - 1] {
        info(
            &format!("GET_VRING_GROUP-vq{q}"),
            o_val(d.get_state(VHOST_VDPA_GET_VRING_GROUP, q)),
        );
    }
    info(
        "SET_VRING_ENDIAN",
        o(d.set_state(VHOST_SET_VRING_ENDIAN, 0, 0)),
    );
    info("mmap-vq0", mmap_result(&d));
    let mut a = c.vring_addr(0);
    a.desc_user_addr += 2;
    info("SET_VRING_ADDR-desc-unaligned", o(d.set_addr(&a)));
    drop(d);
    // 72 if the UPDATE is one entry (dropped whole by a sub-range INVALIDATE), EFAULT if
    // the backend recorded it page by page (pinning backends: the rest stays mapped).
    let d = c.owned()?;
    step("UPDATE", d.iotlb(&c.m1()))?;
    step(
        "INVALIDATE",
        d.iotlb(&invalidate(c.base + M + 0x1000, 0x1000)),
    )?;
    info("iotlb-remap-after-subrange-invalidate", w(&d, &c.m1()));
    step("SET_STATUS(ACK|DRIVER)", d.set_u8(VHOST_VDPA_SET_STATUS, 3))?;
    info(
        "SET_FEATURES-without-ACCESS_PLATFORM",
        o(d.set_u64(VHOST_SET_FEATURES, 1 << VIRTIO_F_VERSION_1)),
    );
    Ok(())
}

fn o_val<T: std::fmt::Display>(r: Result<T, Errno>) -> String {
    match r {
        Ok(v) => v.to_string(),
        Err(e) => errno_name(e),
    }
}

/// `mmap(NULL, 4096, PROT_WRITE, MAP_SHARED, fd, 0)`, as QEMU tries for the doorbell of vq 0.
fn mmap_result(d: &Dev) -> String {
    // SAFETY: a new mapping at an address of the kernel's choosing; it replaces nothing.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_WRITE,
            libc::MAP_SHARED,
            d.raw(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return errno_name(last_errno());
    }
    // SAFETY: unmaps exactly the mapping just created, never accessed.
    unsafe { libc::munmap(p, 4096) };
    "OK".to_string()
}

/// In a forked child: a vring ioctl and an IOTLB write on the inherited fd. Returns the two
/// errnos (0 for success) as the child reported them through a pipe.
fn fork_child_probe(c: &Ctx, d: &Dev) -> Result<(Errno, Errno), String> {
    let (r, wr) = step("pipe", pipe())?;
    let msg = encode_msg_v2(0, &c.m1());
    let state = VringState { index: 0, num: 256 }.to_bytes();
    // SAFETY: the process is single-threaded, so the child may run arbitrary code; it only
    // makes system calls on descriptors it inherited and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(format!("fork failed: {}", errno_name(last_errno())));
    }
    if pid == 0 {
        let mut st = state;
        // SAFETY: `st` is a valid 8-byte vhost_vring_state.
        let e1 =
            if unsafe { libc::ioctl(d.raw(), VHOST_SET_VRING_NUM as libc::Ioctl, st.as_mut_ptr()) }
                < 0
            {
                last_errno()
            } else {
                0
            };
        // SAFETY: `msg` is valid for reads of its length.
        let e2 = if unsafe { libc::write(d.raw(), msg.as_ptr().cast(), msg.len()) } < 0 {
            last_errno()
        } else {
            0
        };
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&e1.to_ne_bytes());
        out[4..].copy_from_slice(&e2.to_ne_bytes());
        // SAFETY: `out` is valid for reads of 8 bytes; `_exit` never returns and runs no
        // destructors of the parent's objects.
        unsafe {
            libc::write(wr.as_raw_fd(), out.as_ptr().cast(), 8);
            libc::_exit(0);
        }
    }
    drop(wr);
    let mut buf = [0u8; 8];
    // SAFETY: `buf` is valid for writes of 8 bytes.
    let n = unsafe { libc::read(r.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
    let mut wstatus = 0;
    // SAFETY: waits for our own child; `wstatus` is a valid int.
    unsafe { libc::waitpid(pid, &mut wstatus, 0) };
    if n != 8 {
        return Err("the forked child reported nothing".to_string());
    }
    Ok((
        i32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]),
        i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]),
    ))
}

/// Runs the subcommand; returns whether every case passed.
pub(crate) fn run(path: &str) -> Result<bool, String> {
    let mem = shared_region(MEM_LEN)?;
    let (nvqs, vring_max, config_size, range, features) = {
        let d = Dev::open(path).map_err(|e| format!("open {path} failed: {}", errno_name(e)))?;
        (
            step("GET_VQS_COUNT", d.get_u32(VHOST_VDPA_GET_VQS_COUNT))?,
            step("GET_VRING_NUM", d.get_u16(VHOST_VDPA_GET_VRING_NUM))?,
            step("GET_CONFIG_SIZE", d.get_u32(VHOST_VDPA_GET_CONFIG_SIZE))?,
            step("GET_IOVA_RANGE", d.iova_range())?,
            step("GET_FEATURES", d.get_u64(VHOST_GET_FEATURES))?,
        )
    };
    if nvqs == 0 {
        return Err("GET_VQS_COUNT is 0".to_string());
    }
    let base = choose_iova(range, MEM_LEN as u64, mem.va())
        .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    let c = Ctx {
        path: path.to_string(),
        mem,
        base,
        nvqs,
        vring_max,
        config_size,
        logs: features & (1 << vhost_uapi::VHOST_F_LOG_ALL) != 0,
    };
    print_info(&c)?;

    let mut r = Runner {
        total: 0,
        failed: 0,
    };
    let en = errno_name;
    open_and_owner_cases(&mut r, &c, en);
    dispatch_cases(&mut r, &c, en);
    feature_and_status_cases(&mut r, &c, en);
    config_cases(&mut r, &c, en);
    vring_cases(&mut r, &c, en);
    eventfd_cases(&mut r, &c, en);
    iotlb_cases(&mut r, &c, en);
    group_cases(&mut r, &c, en);
    lifetime_cases(&mut r, &c, en);

    println!(
        "errno: {} cases, {} ok, {} failed",
        r.total,
        r.total - r.failed,
        r.failed
    );
    Ok(r.failed == 0)
}

type En = fn(Errno) -> String;

fn open_and_owner_cases(r: &mut Runner, c: &Ctx, en: En) {
    r.case(c, "second-open", &en(EBUSY), |c| {
        let _a = c.open()?;
        Ok(o(Dev::open(&c.path)))
    });
    r.case(c, "read", &en(EINVAL), |c| Ok(o(c.open()?.read(8))));
    r.case(c, "reopen-after-close", "OK", |c| {
        drop(c.open()?);
        Ok(o(Dev::open(&c.path)))
    });

    // Vring ioctls, SET_MEM_TABLE and IOTLB writes need an owner.
    let noowner: [(&str, CtxProbe); 9] = [
        ("set-vring-num", |_, d| {
            d.set_state(VHOST_SET_VRING_NUM, 0, 256)
        }),
        ("set-vring-addr", |c, d| d.set_addr(&c.vring_addr(0))),
        ("set-vring-base", |_, d| {
            d.set_state(VHOST_SET_VRING_BASE, 0, 0)
        }),
        ("get-vring-base", |_, d| {
            d.get_state(VHOST_GET_VRING_BASE, 0).map(drop)
        }),
        ("set-vring-kick", |_, d| {
            d.set_file(VHOST_SET_VRING_KICK, 0, -1)
        }),
        ("set-vring-call", |_, d| {
            d.set_file(VHOST_SET_VRING_CALL, 0, -1)
        }),
        ("set-vring-enable", |_, d| {
            d.set_state(VHOST_VDPA_SET_VRING_ENABLE, 0, 1)
        }),
        ("unknown-ioctl", |_, d| d.set_state(UNKNOWN_IOCTL, 0, 0)),
        ("set-mem-table", |_, d| {
            d.ioctl_buf(VHOST_SET_MEM_TABLE, &mut MemoryHeader::default().to_bytes())
                .map(drop)
        }),
    ];
    for (name, f) in noowner {
        r.case(c, &format!("noowner-{name}"), &en(EPERM), |c| {
            Ok(o(f(c, &c.open()?)))
        });
    }
    r.case(c, "noowner-iotlb-update", &en(EFAULT), |c| {
        Ok(w(&c.open()?, &c.m1()))
    });

    // Device-level ioctls work without an owner.
    let device_level: [(&str, DevProbe); 16] = [
        ("get-features", |d| d.get_u64(VHOST_GET_FEATURES).map(drop)),
        ("get-status", |d| d.get_u8(VHOST_VDPA_GET_STATUS).map(drop)),
        ("get-device-id", |d| {
            d.get_u32(VHOST_VDPA_GET_DEVICE_ID).map(drop)
        }),
        ("get-config", |d| d.get_config(0, 6).map(drop)),
        ("get-backend-features", |d| {
            d.get_u64(VHOST_GET_BACKEND_FEATURES).map(drop)
        }),
        ("set-backend-features-0", |d| {
            d.set_u64(VHOST_SET_BACKEND_FEATURES, 0)
        }),
        ("get-iova-range", |d| d.iova_range().map(drop)),
        ("get-vring-num", |d| {
            d.get_u16(VHOST_VDPA_GET_VRING_NUM).map(drop)
        }),
        ("get-vqs-count", |d| {
            d.get_u32(VHOST_VDPA_GET_VQS_COUNT).map(drop)
        }),
        ("get-group-num", |d| {
            d.get_u32(VHOST_VDPA_GET_GROUP_NUM).map(drop)
        }),
        ("get-as-num", |d| d.get_u32(VHOST_VDPA_GET_AS_NUM).map(drop)),
        ("get-config-size", |d| {
            d.get_u32(VHOST_VDPA_GET_CONFIG_SIZE).map(drop)
        }),
        ("set-config-call-unbind", |d| {
            d.set_i32(VHOST_VDPA_SET_CONFIG_CALL, -1)
        }),
        ("suspend", |d| d.ioctl_none(VHOST_VDPA_SUSPEND)),
        ("resume", |d| d.ioctl_none(VHOST_VDPA_RESUME)),
        ("set-status-0", |d| d.set_u8(VHOST_VDPA_SET_STATUS, 0)),
    ];
    for (name, f) in device_level {
        r.case(c, &format!("noowner-{name}"), "OK", |c| {
            Ok(o(f(&c.open()?)))
        });
    }

    r.case(c, "set-owner", "OK", |c| {
        Ok(o(c.open()?.ioctl_none(VHOST_SET_OWNER)))
    });
    r.case(c, "set-owner-twice", &en(EBUSY), |c| {
        Ok(o(c.owned()?.ioctl_none(VHOST_SET_OWNER)))
    });
    let fork_results = |c: &Ctx| -> Result<(Errno, Errno), String> {
        let d = c.owned()?;
        fork_child_probe(c, &d)
    };
    r.case(c, "fork-child-vring-ioctl", &en(EPERM), |c| {
        fork_results(c).map(|(e, _)| en(e))
    });
    r.case(c, "fork-child-iotlb-write", &en(EFAULT), |c| {
        fork_results(c).map(|(_, e)| en(e))
    });
    r.case(c, "fork-parent-still-owner", "72", |c| {
        let d = c.owned()?;
        fork_child_probe(c, &d)?;
        Ok(w(&d, &c.m1()))
    });
}

fn dispatch_cases(r: &mut Runner, c: &Ctx, en: En) {
    r.case(c, "unknown-ioctl", &en(ENOTTY), |c| {
        Ok(o(c.owned()?.set_state(UNKNOWN_IOCTL, 0, 0)))
    });
    r.case(c, "unknown-ioctl-index-nvqs", &en(ENOBUFS), |c| {
        Ok(o(c.owned()?.set_state(UNKNOWN_IOCTL, c.nvqs, 0)))
    });
    r.case(c, "reset-owner-null", &en(EFAULT), |c| {
        Ok(o(c.owned()?.ioctl_val(VHOST_RESET_OWNER, 0)))
    });
    // A logging device takes SET_LOG_BASE from its owner only; address 0 cannot be pinned.
    r.case_by_log(c, "noowner-set-log-base", &en(ENOTTY), &en(EPERM), |c| {
        Ok(o(c.open()?.set_u64(VHOST_SET_LOG_BASE, 0)))
    });
    r.case_by_log(c, "set-log-base", &en(ENOTTY), &en(EFAULT), |c| {
        Ok(o(c.owned()?.set_u64(VHOST_SET_LOG_BASE, 0)))
    });
    r.case(c, "set-log-fd", &en(ENOTTY), |c| {
        Ok(o(c.owned()?.set_i32(VHOST_SET_LOG_FD, -1)))
    });
    r.case(c, "set-mem-table-padding", &en(EOPNOTSUPP), |c| {
        let mut h = MemoryHeader {
            nregions: 0,
            padding: 1,
        }
        .to_bytes();
        Ok(o(c.owned()?.ioctl_buf(VHOST_SET_MEM_TABLE, &mut h)))
    });
    r.case(c, "set-mem-table-too-many", &en(E2BIG), |c| {
        let mut h = MemoryHeader {
            nregions: 65,
            padding: 0,
        }
        .to_bytes();
        Ok(o(c.owned()?.ioctl_buf(VHOST_SET_MEM_TABLE, &mut h)))
    });
}

fn feature_and_status_cases(r: &mut Runner, c: &Ctx, en: En) {
    let backend: [(&str, u64, String); 5] = [
        ("bit0", 1, en(EOPNOTSUPP)),
        ("bit9", 1 << 9, en(EOPNOTSUPP)),
        ("bit63", 1 << 63, en(EOPNOTSUPP)),
        ("desc-asid-without-asid", BACKEND_DESC_ASID, en(EINVAL)),
        (
            "msg-v2-batch",
            BACKEND_IOTLB_MSG_V2 | BACKEND_IOTLB_BATCH,
            "OK".to_string(),
        ),
    ];
    for (name, v, want) in backend {
        r.case(c, &format!("set-backend-features-{name}"), &want, |c| {
            Ok(o(c.open()?.set_u64(VHOST_SET_BACKEND_FEATURES, v)))
        });
    }
    r.case(c, "set-features", "OK", |c| {
        let d = c.owned()?;
        step("SET_STATUS(3)", d.set_u8(VHOST_VDPA_SET_STATUS, 3))?;
        Ok(o(d.set_u64(VHOST_SET_FEATURES, DRIVER_FEATURES)))
    });
    r.case(
        c,
        "features-ok-sticks",
        &format!("{STATUS_FOK:#04x}"),
        |c| Ok(status(&c.features_ok()?)),
    );
    // The same features again: a logging device reads it as "logging off", which QEMU
    // sends to a running device.
    r.case_by_log(c, "set-features-after-features-ok", &en(EBUSY), "OK", |c| {
        Ok(o(c
            .features_ok()?
            .set_u64(VHOST_SET_FEATURES, DRIVER_FEATURES)))
    });
    r.case(c, "set-status-clear-bit", &en(EINVAL), |c| {
        let d = c.features_ok()?;
        Ok(o(d.set_u8(
            VHOST_VDPA_SET_STATUS,
            STATUS_FOK & !VIRTIO_CONFIG_S_DRIVER,
        )))
    });
    r.case(
        c,
        "status-kept-after-refused-clear",
        &format!("{STATUS_FOK:#04x}"),
        |c| {
            let d = c.features_ok()?;
            let _ = d.set_u8(VHOST_VDPA_SET_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
            Ok(status(&d))
        },
    );
    r.case(c, "set-status-0-then-get", "OK/0x00", |c| {
        let d = c.features_ok()?;
        let a = o(d.set_u8(VHOST_VDPA_SET_STATUS, 0));
        Ok(format!("{a}/{}", status(&d)))
    });
    r.case(c, "set-features-after-reset", "OK", |c| {
        let d = c.features_ok()?;
        step("SET_STATUS(0)", d.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
        step("SET_STATUS(3)", d.set_u8(VHOST_VDPA_SET_STATUS, 3))?;
        Ok(o(d.set_u64(VHOST_SET_FEATURES, DRIVER_FEATURES)))
    });
    // Several status steps in one call, features set before any: vhost-vdpa passes the word
    // to the device as it is, and vdpa_sim takes it. The register file takes the driver's
    // features only once DRIVER is set, so vhost_mdev writes the steps in order (before,
    // the features written with status 0 were refused and FEATURES_OK with them).
    for (name, want) in [
        ("features-ok", STATUS_FOK),
        ("driver-ok", STATUS_FOK | VIRTIO_CONFIG_S_DRIVER_OK),
    ] {
        r.case(
            c,
            &format!("status-0-to-{name}-at-once"),
            &format!("{want:#04x}"),
            |c| {
                let d = c.owned()?;
                step(
                    "SET_FEATURES",
                    d.set_u64(VHOST_SET_FEATURES, DRIVER_FEATURES),
                )?;
                let _ = d.set_u8(VHOST_VDPA_SET_STATUS, want);
                Ok(status(&d))
            },
        );
    }
    r.case(c, "suspend-before-driver-ok", "OK", |c| {
        Ok(o(c.features_ok()?.ioctl_none(VHOST_VDPA_SUSPEND)))
    });
    r.case(c, "resume-before-driver-ok", "OK", |c| {
        Ok(o(c.features_ok()?.ioctl_none(VHOST_VDPA_RESUME)))
    });
    suspend_cases(r, c, en);
}

/// SUSPEND and RESUME at DRIVER_OK, and the ring changes they allow.
fn suspend_cases(r: &mut Runner, c: &Ctx, en: En) {
    let suspended = |c: &Ctx| -> Result<Dev, String> {
        let d = c.driver_ok()?;
        step("VHOST_VDPA_SUSPEND", d.ioctl_none(VHOST_VDPA_SUSPEND))?;
        Ok(d)
    };
    r.case(c, "suspend-after-driver-ok", "OK", |c| {
        Ok(o(c.driver_ok()?.ioctl_none(VHOST_VDPA_SUSPEND)))
    });
    r.case(c, "suspend-twice", "OK", |c| {
        Ok(o(suspended(c)?.ioctl_none(VHOST_VDPA_SUSPEND)))
    });
    r.case(c, "resume-not-suspended", "OK", |c| {
        Ok(o(c.driver_ok()?.ioctl_none(VHOST_VDPA_RESUME)))
    });
    r.case(c, "suspend-keeps-status", "OK/0x0f", |c| {
        let d = suspended(c)?;
        Ok(format!("OK/{}", status(&d)))
    });
    r.case(c, "vring-base-while-running", &en(EINVAL), |c| {
        Ok(o(c.driver_ok()?.set_state(VHOST_SET_VRING_BASE, 0, 3)))
    });
    r.case(c, "vring-addr-while-running", &en(EINVAL), |c| {
        Ok(o(c.driver_ok()?.set_addr(&c.vring_addr(0))))
    });
    r.case(c, "vring-base-while-suspended", "OK/3", |c| {
        let d = suspended(c)?;
        let a = o(d.set_state(VHOST_SET_VRING_BASE, 0, 3));
        Ok(format!(
            "{a}/{}",
            o_val(d.get_state(VHOST_GET_VRING_BASE, 0))
        ))
    });
    r.case(c, "vring-addr-while-suspended", "OK", |c| {
        Ok(o(suspended(c)?.set_addr(&c.vring_addr(0))))
    });
    r.case(c, "vring-base-after-resume", &en(EINVAL), |c| {
        let d = suspended(c)?;
        step("VHOST_VDPA_RESUME", d.ioctl_none(VHOST_VDPA_RESUME))?;
        Ok(o(d.set_state(VHOST_SET_VRING_BASE, 0, 3)))
    });
    r.case(c, "reset-ends-suspension", &en(EINVAL), |c| {
        let d = suspended(c)?;
        step("SET_STATUS(0)", d.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
        walk_to_features_ok(&d)?;
        set_driver_ok(&d, STATUS_FOK)?;
        Ok(o(d.set_state(VHOST_SET_VRING_BASE, 0, 3)))
    });
}

fn config_cases(r: &mut Runner, c: &Ctx, en: En) {
    let size = c.config_size;
    let bad: [(&str, u32, u32); 6] = [
        ("len0", 0, 0),
        ("off-past-size", size.saturating_add(1), 1),
        ("end-past-size", 0, size.saturating_add(1)),
        ("off-at-size", size, 1),
        ("len-max", 0, u32::MAX),
        ("off-max", u32::MAX, 1),
    ];
    for (name, off, len) in bad {
        r.case(c, &format!("get-config-{name}"), &en(EINVAL), |c| {
            Ok(o(c.open()?.get_config(off, len)))
        });
        r.case(c, &format!("set-config-{name}"), &en(EINVAL), |c| {
            Ok(o(c.open()?.set_config(off, len, &[])))
        });
    }
    r.case(c, "get-config-full", "OK", |c| {
        Ok(o(c.open()?.get_config(0, c.config_size)))
    });
    r.case(c, "set-config-same-mac", "OK", |c| {
        let d = c.open()?;
        let mac = step("GET_CONFIG{0,6}", d.get_config(0, 6))?;
        Ok(o(d.set_config(0, 6, &mac)))
    });
}

fn vring_cases(r: &mut Runner, c: &Ctx, en: En) {
    let n = c.nvqs;
    let index_cases: [(&str, IndexProbe); 8] = [
        ("num", |_, d, i| d.set_state(VHOST_SET_VRING_NUM, i, 256)),
        ("addr", |c, d, i| d.set_addr(&c.vring_addr(i))),
        ("base", |_, d, i| d.set_state(VHOST_SET_VRING_BASE, i, 0)),
        ("get-base", |_, d, i| {
            d.get_state(VHOST_GET_VRING_BASE, i).map(drop)
        }),
        ("kick", |_, d, i| d.set_file(VHOST_SET_VRING_KICK, i, -1)),
        ("call", |_, d, i| d.set_file(VHOST_SET_VRING_CALL, i, -1)),
        ("err", |_, d, i| d.set_file(VHOST_SET_VRING_ERR, i, -1)),
        ("enable", |_, d, i| {
            d.set_state(VHOST_VDPA_SET_VRING_ENABLE, i, 1)
        }),
    ];
    for (name, f) in index_cases {
        r.case(c, &format!("vring-index-nvqs-{name}"), &en(ENOBUFS), |c| {
            Ok(o(f(c, &c.owned()?, n)))
        });
    }
    r.case(c, "vring-index-u32-max-num", &en(ENOBUFS), |c| {
        Ok(o(c.owned()?.set_state(VHOST_SET_VRING_NUM, u32::MAX, 256)))
    });
    let over = (u32::from(c.vring_max) + 1).next_power_of_two();
    let nums: [(String, u32, String); 7] = [
        ("0".into(), 0, en(EINVAL)),
        ("3".into(), 3, en(EINVAL)),
        ("255".into(), 255, en(EINVAL)),
        ("65536".into(), 0x1_0000, en(EINVAL)),
        ("over-max".into(), over, en(EINVAL)),
        ("1".into(), 1, "OK".into()),
        ("max".into(), u32::from(ring_size(c.vring_max)), "OK".into()),
    ];
    for (name, num, want) in nums {
        r.case(c, &format!("vring-num-{name}"), &want, |c| {
            Ok(o(c.owned()?.set_state(VHOST_SET_VRING_NUM, 0, num)))
        });
    }
    let addrs: [(&str, AddrTweak, String); 5] = [
        ("ok", |_| {}, "OK".into()),
        ("flags-bit1", |a| a.flags = 2, en(EOPNOTSUPP)),
        ("avail-odd", |a| a.avail_user_addr += 1, en(EINVAL)),
        ("used-not-4-aligned", |a| a.used_user_addr += 2, en(EINVAL)),
        ("log-not-4-aligned", |a| a.log_guest_addr = 2, en(EINVAL)),
    ];
    for (name, tweak, want) in addrs {
        r.case(c, &format!("vring-addr-{name}"), &want, |c| {
            let mut a = c.vring_addr(0);
            tweak(&mut a);
            Ok(o(c.owned()?.set_addr(&a)))
        });
    }
    let bases: [(&str, u32, String); 3] = [
        ("0", 0, "OK".into()),
        ("0xffff", 0xffff, "OK".into()),
        ("0x10000", 0x1_0000, en(EINVAL)),
    ];
    for (name, num, want) in bases {
        r.case(c, &format!("vring-base-{name}"), &want, |c| {
            Ok(o(c.owned()?.set_state(VHOST_SET_VRING_BASE, 0, num)))
        });
    }
    r.case(c, "vring-base-roundtrip", "5", |c| {
        let d = c.owned()?;
        step("SET_VRING_BASE", d.set_state(VHOST_SET_VRING_BASE, 0, 5))?;
        Ok(o_val(d.get_state(VHOST_GET_VRING_BASE, 0)))
    });
    for num in [1, 0, 7] {
        r.case(c, &format!("vring-enable-{num}"), "OK", |c| {
            Ok(o(c.owned()?.set_state(VHOST_VDPA_SET_VRING_ENABLE, 0, num)))
        });
    }
}

fn eventfd_cases(r: &mut Runner, c: &Ctx, en: En) {
    #[derive(Clone, Copy)]
    enum Fd {
        Closed,
        Pipe,
        Eventfd,
        Unbind,
    }
    let kinds = [
        ("closed-fd", Fd::Closed, en(EBADF)),
        ("pipe", Fd::Pipe, en(EINVAL)),
        ("eventfd", Fd::Eventfd, "OK".to_string()),
        ("unbind", Fd::Unbind, "OK".to_string()),
    ];
    // Runs `f` with a descriptor of the given kind, kept open for the call.
    let with_fd = |kind: Fd, f: &dyn Fn(i32) -> Result<(), Errno>| -> CaseResult {
        match kind {
            Fd::Closed => Ok(o(f(step("closed fd", closed_fd())?))),
            Fd::Pipe => {
                let (rd, _wr) = step("pipe", pipe())?;
                Ok(o(f(rd.as_raw_fd())))
            }
            Fd::Eventfd => {
                let e = step("eventfd", EventFd::new())?;
                Ok(o(f(e.raw())))
            }
            Fd::Unbind => Ok(o(f(-1))),
        }
    };
    for (what, cmd) in [
        ("kick", VHOST_SET_VRING_KICK),
        ("call", VHOST_SET_VRING_CALL),
        ("err", VHOST_SET_VRING_ERR),
    ] {
        for (kname, kind, want) in &kinds {
            r.case(c, &format!("vring-{what}-{kname}"), want, |c| {
                let d = c.owned()?;
                with_fd(*kind, &|fd| d.set_file(cmd, 0, fd))
            });
        }
    }
    for (kname, kind, want) in &kinds {
        r.case(c, &format!("config-call-{kname}"), want, |c| {
            let d = c.open()?;
            with_fd(*kind, &|fd| d.set_i32(VHOST_VDPA_SET_CONFIG_CALL, fd))
        });
    }
}

fn iotlb_cases(r: &mut Runner, c: &Ctx, en: En) {
    // Framing.
    for n in 0..4 {
        r.case(c, &format!("iotlb-write-{n}-bytes"), &en(EINVAL), |c| {
            let msg = encode_msg_v2(0, &c.m1());
            Ok(wrote(&c.owned()?.write(&msg[..n])))
        });
    }
    for t in [0u32, 3, 0xffff_ffff] {
        r.case(c, &format!("iotlb-outer-type-{t}"), &en(EINVAL), |c| {
            let mut msg = encode_msg_v2(0, &c.m1());
            msg[..4].copy_from_slice(&t.to_ne_bytes());
            Ok(wrote(&c.owned()?.write(&msg)))
        });
    }
    r.case(c, "iotlb-write-39-bytes", &en(EINVAL), |c| {
        let msg = encode_msg_v2(0, &c.m1());
        Ok(wrote(&c.owned()?.write(&msg[..39])))
    });
    r.case(c, "iotlb-write-40-bytes", "72", |c| {
        let msg = encode_msg_v2(0, &c.m1());
        Ok(wrote(&c.owned()?.write(&msg[..40])))
    });
    r.case(c, "iotlb-write-144-bytes-second-ignored", "72/72", |c| {
        let d = c.owned()?;
        let mut two = encode_msg_v2(0, &c.m1()).to_vec();
        two.extend_from_slice(&encode_msg_v2(0, &c.m2()));
        let a = wrote(&d.write(&two));
        Ok(format!("{a}/{}", w(&d, &c.m2())))
    });
    r.case(c, "iotlb-v1-update", "72", |c| {
        Ok(wrote(&c.owned()?.write(&encode_msg_v1(&c.m1()))))
    });
    r.case(c, "iotlb-v2-asid-ignored-without-ack", "72", |c| {
        Ok(wrote(&c.owned()?.write(&encode_msg_v2(5, &c.m1()))))
    });
    r.case(c, "iotlb-batch", "72/72/72", |c| {
        let d = c.owned()?;
        Ok(format!(
            "{}/{}/{}",
            w(&d, &batch(true)),
            w(&d, &c.m1()),
            w(&d, &batch(false))
        ))
    });

    // UPDATE checks.
    r.case(c, "iotlb-update-size0", &en(EINVAL), |c| {
        Ok(w(&c.owned()?, &update(c.base, 0, c.va(0))))
    });
    r.case(c, "iotlb-update-wrap", &en(EFAULT), |c| {
        Ok(w(&c.owned()?, &update(!0u64 - 10, 100, c.va(0))))
    });
    for perm in [0u8, 7] {
        r.case(c, &format!("iotlb-update-perm-{perm}"), "72", |c| {
            let mut m = c.m1();
            m.perm = perm;
            Ok(w(&c.owned()?, &m))
        });
    }
    let b = c.base;
    let overlaps: [(&str, u64, u64, String); 7] = [
        ("duplicate", b + M, M, en(EFAULT)),
        ("overlap-start", b + M - 0x1000, 0x2000, en(EFAULT)),
        ("overlap-end", b + 2 * M - 0x1000, 0x2000, en(EFAULT)),
        ("containing", b + M / 2, 2 * M, en(EFAULT)),
        ("contained", b + M + M / 4, 0x1000, en(EFAULT)),
        ("adjacent-below", b, M, "72".into()),
        ("adjacent-above", b + 2 * M, M, "72".into()),
    ];
    for (name, iova, size, want) in overlaps {
        r.case(c, &format!("iotlb-update-{name}"), &want, |c| {
            let d = c.owned()?;
            let first = w(&d, &c.m1());
            if first != "72" {
                return Err(format!("first UPDATE gave {first}"));
            }
            Ok(w(&d, &update(iova, size, c.va(iova - c.base))))
        });
    }
    for t in [0u8, 1, 4, 7, 255] {
        r.case(c, &format!("iotlb-inner-type-{t}"), &en(EFAULT), |c| {
            let d = c.owned()?;
            step("UPDATE", d.iotlb(&c.m1()))?;
            let mut m = c.m2();
            m.kind = t;
            Ok(w(&d, &m))
        });
    }

    // INVALIDATE.
    // A backend that pins pages (vdpa_sim use_va=0, hardware) records one entry per
    // physically contiguous run of an UPDATE, a VA-mode backend one entry per VMA piece; only
    // a single page is one entry everywhere. So the "never split, removed whole" rule is
    // checked on one-page maps, and the multi-page behaviour is reported as info.
    r.case(
        c,
        "iotlb-invalidate-subrange-removes-whole-entry",
        "72/72",
        |c| {
            let d = c.owned()?;
            let page = update(c.base + M, 0x1000, c.va(M));
            step("UPDATE", d.iotlb(&page))?;
            let a = w(&d, &invalidate(c.base + M + 0x800, 0x10));
            Ok(format!("{a}/{}", w(&d, &page)))
        },
    );
    r.case(
        c,
        "iotlb-invalidate-covering-two-entries",
        "72/72/72",
        |c| {
            let d = c.owned()?;
            let lo = update(c.base + M - 0x1000, 0x1000, c.va(M - 0x1000));
            let hi = update(c.base + M, 0x1000, c.va(M));
            step("UPDATE lo", d.iotlb(&lo))?;
            step("UPDATE hi", d.iotlb(&hi))?;
            let a = w(&d, &invalidate(c.base + M - 0x10, 0x20));
            Ok(format!("{a}/{}/{}", w(&d, &lo), w(&d, &hi)))
        },
    );
    r.case(
        c,
        "iotlb-invalidate-subrange-frees-the-subrange",
        "72/72",
        |c| {
            let d = c.owned()?;
            step("UPDATE", d.iotlb(&c.m1()))?;
            let a = w(&d, &invalidate(c.base + M + 0x1000, 0x1000));
            Ok(format!(
                "{a}/{}",
                w(&d, &update(c.base + M + 0x1000, 0x1000, c.va(M + 0x1000)))
            ))
        },
    );
    r.case(c, "iotlb-invalidate-all-0-0", "72/72/72", |c| {
        let d = c.owned()?;
        step("UPDATE m1", d.iotlb(&c.m1()))?;
        step("UPDATE m2", d.iotlb(&c.m2()))?;
        let a = w(&d, &invalidate(0, 0));
        Ok(format!("{a}/{}/{}", w(&d, &c.m1()), w(&d, &c.m2())))
    });
    r.case(
        c,
        "iotlb-invalidate-miss-keeps-map",
        &format!("72/{}", en(EFAULT)),
        |c| {
            let d = c.owned()?;
            step("UPDATE", d.iotlb(&c.m1()))?;
            let a = w(&d, &invalidate(c.base + 3 * M, 0x1000));
            Ok(format!("{a}/{}", w(&d, &c.m1())))
        },
    );
    r.case(c, "iotlb-update-after-invalidate", "72", |c| {
        let d = c.owned()?;
        step("UPDATE", d.iotlb(&c.m1()))?;
        step("INVALIDATE", d.iotlb(&invalidate(c.base + M, M)))?;
        Ok(w(&d, &c.m1()))
    });
}

/// Virtqueue groups and address spaces: the control queue (vq 2 before MQ) alone in group 1
/// of 2, two address spaces, and IOTLB messages routed by their asid once IOTLB_ASID is acked.
fn group_cases(r: &mut Runner, c: &Ctx, en: En) {
    let asid_acked = |c: &Ctx| -> Result<Dev, String> {
        let d = c.owned()?;
        step(
            "SET_BACKEND_FEATURES(MSG_V2|BATCH|ASID)",
            d.set_u64(
                VHOST_SET_BACKEND_FEATURES,
                BACKEND_IOTLB_MSG_V2 | BACKEND_IOTLB_BATCH | BACKEND_IOTLB_ASID,
            ),
        )?;
        Ok(d)
    };
    r.case(c, "group-num", "2", |c| {
        Ok(o_val(c.open()?.get_u32(VHOST_VDPA_GET_GROUP_NUM)))
    });
    r.case(c, "as-num", "2", |c| {
        Ok(o_val(c.open()?.get_u32(VHOST_VDPA_GET_AS_NUM)))
    });
    r.case(c, "vring-group-vq0", "0", |c| {
        Ok(o_val(c.owned()?.get_state(VHOST_VDPA_GET_VRING_GROUP, 0)))
    });
    // Before features (and without MQ) the control queue is vq 2.
    r.case(c, "vring-group-vq2", "1", |c| {
        Ok(o_val(c.owned()?.get_state(VHOST_VDPA_GET_VRING_GROUP, 2)))
    });
    let sets: [(&str, u32, u32, String); 4] = [
        ("1-1", 1, 1, "OK".into()),
        ("0-1", 0, 1, "OK".into()),
        ("group-2", 2, 0, en(EINVAL)),
        ("asid-2", 1, 2, en(EINVAL)),
    ];
    for (name, group, asid, want) in sets {
        r.case(c, &format!("set-group-asid-{name}"), &want, |c| {
            Ok(o(c.owned()?.set_state(
                VHOST_VDPA_SET_GROUP_ASID,
                group,
                asid,
            )))
        });
    }
    r.case(c, "iotlb-asid-1-update", "72", |c| {
        Ok(wrote(&asid_acked(c)?.iotlb_in(1, &c.m1())))
    });
    r.case(c, "iotlb-asid-2-update", &en(EFAULT), |c| {
        Ok(wrote(&asid_acked(c)?.iotlb_in(2, &c.m1())))
    });
    r.case(c, "iotlb-asid-1-invalidate-without-map", &en(EFAULT), |c| {
        let msg = invalidate(c.base + M, M);
        Ok(wrote(&asid_acked(c)?.iotlb_in(1, &msg)))
    });
    // The same IOVA in both address spaces: they are separate tables.
    r.case(c, "iotlb-same-iova-in-both", "72/72/EFAULT", |c| {
        let d = asid_acked(c)?;
        let a = wrote(&d.iotlb_in(0, &c.m1()));
        let b = wrote(&d.iotlb_in(1, &c.m1()));
        Ok(format!("{a}/{b}/{}", wrote(&d.iotlb_in(1, &c.m1()))))
    });
    r.case(c, "iotlb-batch-other-asid", "72/EFAULT/72", |c| {
        let d = asid_acked(c)?;
        let a = wrote(&d.iotlb_in(0, &batch(true)));
        let b = wrote(&d.iotlb_in(1, &c.m1()));
        Ok(format!("{a}/{b}/{}", wrote(&d.iotlb_in(0, &batch(false)))))
    });
}

fn lifetime_cases(r: &mut Runner, c: &Ctx, en: En) {
    r.case(c, "iotlb-map-persists-across-reset", &en(EFAULT), |c| {
        let d = c.features_ok()?;
        step("UPDATE", d.iotlb(&c.m1()))?;
        step("SET_STATUS(0)", d.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
        Ok(w(&d, &c.m1()))
    });
    r.case(c, "reopen-clears-status-owner-maps", "0x00/OK/72", |c| {
        {
            let d = c.features_ok()?;
            step("UPDATE", d.iotlb(&c.m1()))?;
        }
        let d = c.open()?;
        let s = status(&d);
        let o1 = o(d.ioctl_none(VHOST_SET_OWNER));
        Ok(format!("{s}/{o1}/{}", w(&d, &c.m1())))
    });
}
