// SPDX-License-Identifier: GPL-2.0
//! `blk`: a userspace virtio-blk driver over the vhost-vdpa uAPI, for block devices on
//! `/dev/vhost-mdev-N` (and upstream's vdpa_sim_blk on `/dev/vhost-vdpa-N`).
//!
//! It brings the device up like a VMM (owner, backend features, features, one IOTLB map at an
//! IOVA that is not the virtual address, request queue 0, DRIVER_OK) and sends one request at
//! a time, each a chain it lays out itself, so that it can send what no kernel driver would:
//! every case prints `ok <case> <status>` or `FAIL <case> got <status> expected <status>`,
//! and `--report 1` prints `got <case> <status>` instead of judging (for the differential
//! with upstream). `blk-read` reads the first bytes of the disk into a file, so a test can
//! compare what virtio_blk wrote through virtio_mdev with what the device gives back after a
//! personality switch.

use vhost_uapi::{
    BACKEND_IOTLB_BATCH, VHOST_GET_FEATURES, VHOST_VDPA_GET_VRING_NUM, VIRTIO_F_ACCESS_PLATFORM,
    VIRTIO_F_VERSION_1,
};

use crate::ring::{Vq, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use crate::setup::{
    choose_iova, map, negotiate, new_eventfd, open_owned_as, ring_size, set_driver_ok, setup_ring,
    MEM_LEN,
};
use crate::sys::{poll_readable, shared_region, step, Dev, EventFd, Region};

/// virtio-blk device id.
const VIRTIO_ID_BLOCK: u32 = 2;
const T_IN: u32 = 0;
const T_OUT: u32 = 1;
const T_FLUSH: u32 = 4;
const T_GET_ID: u32 = 8;
const T_DISCARD: u32 = 11;
const T_WRITE_ZEROES: u32 = 13;
const S_OK: u8 = 0;
const S_IOERR: u8 = 1;
const S_UNSUPP: u8 = 2;
/// Features the client takes if offered: SEG_MAX, BLK_SIZE, FLUSH, DISCARD, WRITE_ZEROES.
const BLK_FEATURES: u64 = (1 << 2) | (1 << 6) | (1 << 9) | (1 << 13) | (1 << 14);
const F_RO: u64 = 1 << 5;
const F_DISCARD: u64 = 1 << 13;
const F_WRITE_ZEROES: u64 = 1 << 14;

/// Region offsets: the ring, then a scratch area for each part of a request.
const RING_OFF: usize = 0;
const HDR_OFF: usize = 0x1_0000;
const DATA_OFF: usize = 0x2_0000;
/// Room for data in one request.
const DATA_ROOM: usize = 0x10_0000;
const STATUS_OFF: usize = 0x18_0000;

/// A block device at DRIVER_OK with queue 0 running.
pub(crate) struct Blk {
    dev: Dev,
    mem: Region,
    vq: Vq,
    kick: EventFd,
    call: EventFd,
    /// Capacity in sectors, from the config space.
    pub(crate) capacity: u64,
    /// Features negotiated.
    features: u64,
}

/// One buffer of a request: region offset, length, device-writable.
type Buf = (usize, u32, bool);

impl Blk {
    pub(crate) fn start(path: &str) -> Result<Blk, String> {
        let (dev, _, acked) = open_owned_as(path, VIRTIO_ID_BLOCK)?;
        let offered = step("VHOST_GET_FEATURES", dev.get_u64(VHOST_GET_FEATURES))?;
        let features = (1u64 << VIRTIO_F_VERSION_1)
            | (1u64 << VIRTIO_F_ACCESS_PLATFORM)
            | (offered & (BLK_FEATURES | F_RO));
        let fok = negotiate(&dev, features)?;
        let cfg = step("VHOST_VDPA_GET_CONFIG{0,8}", dev.get_config(0, 8))?;
        let capacity = u64::from_le_bytes(cfg[..8].try_into().map_err(|_| "short config")?);
        let mem = shared_region(MEM_LEN)?;
        let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
        let iova = choose_iova(range, MEM_LEN as u64, mem.va())
            .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
        map(
            &dev,
            iova,
            MEM_LEN as u64,
            mem.va(),
            acked & BACKEND_IOTLB_BATCH != 0,
        )?;
        let max = step(
            "VHOST_VDPA_GET_VRING_NUM",
            dev.get_u16(VHOST_VDPA_GET_VRING_NUM),
        )?;
        let vq = Vq::new(&mem, 0, ring_size(max).min(64), RING_OFF, iova);
        let (kick, call) = (new_eventfd()?, new_eventfd()?);
        setup_ring(&dev, &vq, &kick, &call, true)?;
        set_driver_ok(&dev, fok)?;
        Ok(Blk {
            dev,
            mem,
            vq,
            kick,
            call,
            capacity,
            features,
        })
    }

    /// Posts the chain `bufs` (descriptors 0..), kicks, and waits up to 3 s for it to come
    /// back; returns the used length.
    fn submit(&mut self, bufs: &[Buf]) -> Result<u32, String> {
        for (i, &(off, len, writable)) in bufs.iter().enumerate() {
            let mut flags = if writable { VRING_DESC_F_WRITE } else { 0 };
            if i + 1 < bufs.len() {
                flags |= VRING_DESC_F_NEXT;
            }
            let addr = if off == usize::MAX {
                // An address outside the IOTLB map.
                self.vq.iova(0).wrapping_add(MEM_LEN as u64 * 4)
            } else {
                self.vq.iova(off)
            };
            self.vq
                .write_desc(&self.mem, i as u16, addr, len, flags, i as u16 + 1);
        }
        self.vq.publish(&self.mem, 0);
        step("kick", self.kick.signal())?;
        for _ in 0..30 {
            if let Some((id, len)) = self.vq.pop_used(&self.mem) {
                if id != 0 {
                    return Err(format!("used id {id}, expected 0"));
                }
                return Ok(len);
            }
            let _ = poll_readable(&[self.call.raw()], 100);
            let _ = self.call.drain();
        }
        Err("the request did not come back within 3 s".to_string())
    }

    fn header(&self, ty: u32, sector: u64) {
        self.mem.w32(HDR_OFF, ty);
        self.mem.w32(HDR_OFF + 4, 0);
        self.mem.w64(HDR_OFF + 8, sector);
    }

    /// A request of type `ty` at `sector` with `data` (written after the header for a
    /// write, or room for that many bytes for a read); returns the status byte and used
    /// length.
    fn request(
        &mut self,
        ty: u32,
        sector: u64,
        out: &[u8],
        room: u32,
    ) -> Result<(u8, u32), String> {
        self.header(ty, sector);
        self.mem.w8(STATUS_OFF, 0xee);
        let mut bufs: Vec<Buf> = vec![(HDR_OFF, 16, false)];
        if !out.is_empty() {
            self.mem.write_bytes(DATA_OFF, out);
            bufs.push((DATA_OFF, out.len() as u32, false));
        }
        if room > 0 {
            bufs.push((DATA_OFF, room, true));
        }
        bufs.push((STATUS_OFF, 1, true));
        let used = self.submit(&bufs)?;
        Ok((self.mem.r8(STATUS_OFF), used))
    }

    /// Reads `len` bytes at `sector`.
    pub(crate) fn read(&mut self, sector: u64, len: u32) -> Result<Vec<u8>, String> {
        match self.request(T_IN, sector, &[], len)? {
            (S_OK, _) => Ok(self.mem.read_bytes(DATA_OFF, len as usize)),
            (s, _) => Err(format!(
                "read of {len} bytes at sector {sector}: status {s}"
            )),
        }
    }

    pub(crate) fn teardown(self) -> Result<(), String> {
        step(
            "SET_STATUS(0)",
            self.dev.set_u8(vhost_uapi::VHOST_VDPA_SET_STATUS, 0),
        )?;
        drop(self.dev);
        Ok(())
    }
}

fn pattern(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn seg(sector: u64, num: u32, flags: u32) -> Vec<u8> {
    let mut s = sector.to_le_bytes().to_vec();
    s.extend(num.to_le_bytes());
    s.extend(flags.to_le_bytes());
    s
}

/// What the cases expect of the device.
pub(crate) struct Opts {
    /// The serial `GET_ID` must answer, if given.
    pub(crate) serial: Option<String>,
    /// Print what each case got instead of judging it.
    pub(crate) report: bool,
}

/// The cases' results.
struct Verdicts {
    report: bool,
    failed: Vec<String>,
}

impl Verdicts {
    /// A case whose answer is a status: judged, or reported with `--report 1`.
    fn check(&mut self, case: &str, got: u8, want: u8) {
        if self.report {
            println!("got {case} {got}");
        } else if got == want {
            println!("ok {case} {got}");
        } else {
            println!("FAIL {case} got {got} expected {want}");
            self.failed.push(case.to_string());
        }
    }

    /// A case that went wrong otherwise (reported as `differs` with `--report 1`).
    fn fail(&mut self, case: &str, why: &str) {
        if self.report {
            println!("differs {case} {why}");
        } else {
            println!("FAIL {case} {why}");
            self.failed.push(case.to_string());
        }
    }
}

/// Runs the request catalogue on `path`.
pub(crate) fn run(path: &str, o: &Opts) -> Result<(), String> {
    let mut b = Blk::start(path)?;
    let ro = b.features & F_RO != 0;
    let cap = b.capacity;
    let mut v = Verdicts {
        report: o.report,
        failed: Vec::new(),
    };
    let wr = if ro { S_IOERR } else { S_OK };
    println!("info capacity {cap} read-only {}", u8::from(ro));

    // Data that goes in comes back, through buffers split anywhere.
    let data = pattern(7, 8192);
    let (st, _) = b.request(T_OUT, 8, &data, 0)?;
    v.check("write-8k", st, wr);
    let (st, used) = b.request(T_IN, 8, &[], 8192)?;
    v.check("read-8k", st, S_OK);
    if !ro && (used != 8193 || b.mem.read_bytes(DATA_OFF, 8192) != data) {
        v.fail(
            "read-8k-data",
            &format!("used {used} (expected 8193), or the data differs"),
        );
    }
    b.header(T_IN, 8);
    b.mem.w8(STATUS_OFF + 1, 0xee);
    let split: Vec<Buf> = vec![
        (HDR_OFF, 10, false),
        (HDR_OFF + 10, 6, false),
        (DATA_OFF, 100, true),
        (DATA_OFF + 100, 8192 - 100, true),
        (STATUS_OFF + 1, 1, true),
    ];
    b.submit(&split)?;
    v.check("read-split-buffers", b.mem.r8(STATUS_OFF + 1), S_OK);

    // Requests the device must refuse, touching nothing.
    let (st, _) = b.request(T_IN, cap, &[], 512)?;
    v.check("read-past-end", st, S_IOERR);
    let (st, _) = b.request(T_IN, cap - 1, &[], 1024)?;
    v.check("read-across-end", st, S_IOERR);
    let (st, _) = b.request(T_IN, u64::MAX, &[], 512)?;
    v.check("read-sector-overflow", st, S_IOERR);
    let (st, _) = b.request(T_OUT, cap, &data[..512], 0)?;
    v.check("write-past-end", st, S_IOERR);
    let (st, _) = b.request(T_IN, 0, &[], 511)?;
    v.check("read-partial-sector", st, S_IOERR);
    let (st, _) = b.request(T_OUT, 0, &data[..700], 0)?;
    v.check("write-partial-sector", st, S_IOERR);
    b.mem.w8(STATUS_OFF, 0xee);
    b.header(T_IN, 0);
    b.submit(&[(HDR_OFF, 8, false), (STATUS_OFF, 1, true)])?;
    v.check("short-header", b.mem.r8(STATUS_OFF), S_IOERR);
    for (name, ty) in [
        ("type-2", 2u32),
        ("type-get-lifetime", 10),
        ("type-secure-erase", 14),
        ("type-huge", 0xdead_beef),
    ] {
        let (st, _) = b.request(ty, 0, &[], 0)?;
        v.check(name, st, S_UNSUPP);
    }
    b.mem.w8(STATUS_OFF, 0xee);
    b.header(T_IN, 0);
    b.submit(&[
        (HDR_OFF, 16, false),
        (usize::MAX, 512, true),
        (STATUS_OFF, 1, true),
    ])?;
    v.check("read-into-unmapped-buffer", b.mem.r8(STATUS_OFF), S_IOERR);
    b.mem.w8(STATUS_OFF, 0xee);
    b.header(T_OUT, 0);
    b.submit(&[
        (HDR_OFF, 16, false),
        (usize::MAX, 512, false),
        (STATUS_OFF, 1, true),
    ])?;
    v.check("write-from-unmapped-buffer", b.mem.r8(STATUS_OFF), S_IOERR);
    // More buffers than seg_max (32): 40 of 512 bytes.
    b.mem.w8(STATUS_OFF, 0xee);
    b.header(T_IN, 0);
    let mut many: Vec<Buf> = vec![(HDR_OFF, 16, false)];
    many.extend((0..40).map(|i| (DATA_OFF + 512 * i, 512, true)));
    many.push((STATUS_OFF, 1, true));
    b.submit(&many)?;
    v.check("more-buffers-than-seg-max", b.mem.r8(STATUS_OFF), S_IOERR);
    // No status byte at all: the device can only complete it with nothing written.
    b.header(T_FLUSH, 0);
    let used = b.submit(&[(HDR_OFF, 16, false)])?;
    if used != 0 {
        v.fail("no-status-byte", &format!("used length {used}, expected 0"));
    }

    // FLUSH and GET_ID.
    let (st, _) = b.request(T_FLUSH, 0, &[], 0)?;
    v.check("flush", st, S_OK);
    let (st, used) = b.request(T_GET_ID, 0, &[], 20)?;
    v.check("get-id", st, S_OK);
    let id = b.mem.read_bytes(DATA_OFF, 20);
    let id =
        String::from_utf8_lossy(&id[..id.iter().position(|&c| c == 0).unwrap_or(20)]).to_string();
    println!("info serial {id} used {used}");
    if let Some(want) = &o.serial {
        if &id != want {
            v.fail("get-id-serial", &format!("got '{id}' expected '{want}'"));
        }
    }

    // Discard and write-zeroes, when negotiated.
    if b.features & F_WRITE_ZEROES != 0 {
        let (st, _) = b.request(T_WRITE_ZEROES, 0, &seg(8, 16, 0), 0)?;
        v.check("write-zeroes", st, wr);
        if !ro {
            let back = b.read(8, 8192)?;
            if back.iter().any(|&c| c != 0) {
                v.fail(
                    "write-zeroes-data",
                    "the range does not read back as zeroes",
                );
            }
        }
        let (st, _) = b.request(T_WRITE_ZEROES, 0, &seg(cap - 1, 2, 0), 0)?;
        v.check("write-zeroes-past-end", st, S_IOERR);
        let (st, _) = b.request(T_WRITE_ZEROES, 0, &seg(0, 1, 0x80), 0)?;
        v.check(
            "write-zeroes-unknown-flag",
            st,
            if ro { S_IOERR } else { S_UNSUPP },
        );
        let (st, _) = b.request(T_WRITE_ZEROES, 0, &seg(0, 1, 0)[..12], 0)?;
        v.check("write-zeroes-partial-segment", st, S_IOERR);
    }
    if b.features & F_DISCARD != 0 {
        let (st, _) = b.request(T_DISCARD, 0, &seg(64, 8, 0), 0)?;
        v.check("discard", st, wr);
        let (st, _) = b.request(T_DISCARD, 0, &seg(64, 8, 1), 0)?;
        v.check(
            "discard-with-unmap-flag",
            st,
            if ro { S_IOERR } else { S_UNSUPP },
        );
    }
    // Still serving after all that.
    let (st, _) = b.request(T_IN, 0, &[], 4096)?;
    v.check("read-after-errors", st, S_OK);
    b.teardown()?;
    if v.failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} case(s) failed: {}",
            v.failed.len(),
            v.failed.join(" ")
        ))
    }
}

/// Reads the first `bytes` of the disk at `path` into the file `out`.
pub(crate) fn read_to_file(path: &str, bytes: u64, out: &str) -> Result<(), String> {
    let mut b = Blk::start(path)?;
    let mut all = Vec::with_capacity(bytes as usize);
    let mut sector = 0u64;
    while (all.len() as u64) < bytes {
        let n = (bytes - all.len() as u64).min(DATA_ROOM as u64) as u32;
        all.extend(b.read(sector, n)?);
        sector += u64::from(n) / 512;
    }
    std::fs::write(out, &all).map_err(|e| format!("write {out}: {e}"))?;
    println!("blk-read: {bytes} bytes from {path} into {out}");
    b.teardown()
}
