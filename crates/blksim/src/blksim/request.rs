// SPDX-License-Identifier: GPL-2.0
//! One request: checked, carried out, answered.

use super::config::BlkConfig;
use super::disk::{Disk, DiskError};
use super::virtqueue::{DescChain, Error, GuestMemory, Spans, Writer};
use super::{
    HDR_LEN, MAX_DISCARD_SECTORS, MAX_DISCARD_SEG, MAX_REQUEST_BYTES, MAX_SPANS, SECTOR_SIZE,
    SEG_LEN, SERIAL_LEN, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_WRITE_ZEROES, VIRTIO_BLK_S_IOERR,
    VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_FLUSH,
    VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
    VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
};

/// What a request was, as far as the device could tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `VIRTIO_BLK_T_IN`.
    Read,
    /// `VIRTIO_BLK_T_OUT`.
    Write,
    /// `VIRTIO_BLK_T_FLUSH`.
    Flush,
    /// `VIRTIO_BLK_T_GET_ID`.
    GetId,
    /// `VIRTIO_BLK_T_DISCARD`.
    Discard,
    /// `VIRTIO_BLK_T_WRITE_ZEROES`.
    WriteZeroes,
    /// Any other type.
    Other,
    /// No header could be read.
    Malformed,
}

/// How a request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Done {
    /// The request's status: what the device did, written in the status byte unless
    /// `used_len` is 0 (no status byte, or one the device could not reach: the driver is not
    /// told, though the request may have been carried out).
    pub status: u8,
    /// The used length: the chain's writable bytes, the status byte at their end included,
    /// or 0 if the status could not be written.
    pub used_len: u32,
    /// What it was.
    pub kind: Kind,
    /// Data bytes moved between the disk and the driver.
    pub bytes: u64,
}

/// Counters of a queue. All additions wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlkStats {
    /// Reads done.
    pub reads: u64,
    /// Bytes read.
    pub read_bytes: u64,
    /// Writes done.
    pub writes: u64,
    /// Bytes written.
    pub write_bytes: u64,
    /// Flushes done.
    pub flushes: u64,
    /// Discard and write-zeroes requests done.
    pub discards: u64,
    /// `GET_ID` requests done.
    pub get_ids: u64,
    /// Requests answered `VIRTIO_BLK_S_IOERR`, or with no status byte to answer in.
    pub errors: u64,
    /// Requests answered `VIRTIO_BLK_S_UNSUPP`.
    pub unsupported: u64,
}

impl BlkStats {
    /// Counts a request that ended as `done`; one whose status could not be written counts
    /// as an error, whatever was done.
    pub fn count(&mut self, done: &Done) {
        let status = if done.used_len == 0 {
            VIRTIO_BLK_S_IOERR
        } else {
            done.status
        };
        let c = match status {
            VIRTIO_BLK_S_OK => match done.kind {
                Kind::Read => {
                    self.read_bytes = self.read_bytes.wrapping_add(done.bytes);
                    &mut self.reads
                }
                Kind::Write => {
                    self.write_bytes = self.write_bytes.wrapping_add(done.bytes);
                    &mut self.writes
                }
                Kind::Flush => &mut self.flushes,
                Kind::GetId => &mut self.get_ids,
                Kind::Discard | Kind::WriteZeroes => &mut self.discards,
                Kind::Other | Kind::Malformed => &mut self.errors,
            },
            VIRTIO_BLK_S_UNSUPP => &mut self.unsupported,
            _ => &mut self.errors,
        };
        *c = c.wrapping_add(1);
    }
}

/// The buffers of a request, gathered once: the device's iovec of each side. The caller's,
/// so that a pass fills the same one for every request.
#[derive(Default)]
pub struct Buffers {
    readable: Spans<MAX_SPANS>,
    writable: Spans<MAX_SPANS>,
}

/// Calls `f(offset in the range, address, length)` for each piece of bytes `[off, off +
/// len)` of `spans`, which hold them (checked by the caller).
fn pieces(
    spans: &Spans<MAX_SPANS>,
    off: u64,
    len: u64,
    mut f: impl FnMut(u64, u64, u64) -> Result<(), DiskError>,
) -> Result<(), DiskError> {
    let mut err = None;
    let r = spans.for_each_piece(off, len, |at, addr, n| {
        f(at, addr, n).map_err(|e| {
            err = Some(e);
            // Only a way out of the walk; `err` says why.
            Error::BufferTooShort
        })
    });
    match (r, err) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(DiskError::Mem(match e {
            Error::Mem(m) => m,
            _ => super::virtqueue::MemError::OutOfRange,
        })),
        (Ok(()), None) => Ok(()),
    }
}

/// Where the data of a read or write of `len` bytes at `sector` is on the disk: whole
/// sectors inside the capacity, at most [`MAX_REQUEST_BYTES`].
fn extent(cfg: &BlkConfig, sector: u64, len: u64) -> Option<u64> {
    if len > MAX_REQUEST_BYTES {
        return None;
    }
    range(cfg, sector, len)
}

/// Where `len` bytes at `sector` are on the disk, if whole sectors inside the capacity.
fn range(cfg: &BlkConfig, sector: u64, len: u64) -> Option<u64> {
    // Powers of two, so a mask is the remainder.
    if len & (SECTOR_SIZE - 1) != 0 {
        return None;
    }
    let end = sector.checked_add(len / SECTOR_SIZE)?;
    (end <= cfg.capacity).then(|| sector * SECTOR_SIZE)
}

/// Carries out the request in `chain` and writes its status; the caller puts the chain on
/// the used ring with [`Done::used_len`].
///
/// Fails only if the ring walk refuses the chain, which breaks the queue; every problem
/// with the request itself is its status.
pub fn execute<M: GuestMemory + ?Sized, D: Disk>(
    cfg: &BlkConfig,
    features: u64,
    chain: &mut DescChain,
    mem: &M,
    disk: &D,
    bufs: &mut Buffers,
) -> Result<Done, Error> {
    let fits_r = chain.gather(mem, false, &mut bufs.readable)?;
    let fits_w = chain.gather(mem, true, &mut bufs.writable)?;
    if !fits_r || !fits_w {
        // More buffers than `seg_max` allows: the status is still the last writable byte.
        let lens = chain.clone().lengths(mem)?;
        return Ok(answer_long(chain, mem, lens.writable));
    }
    let wlen = u64::from(bufs.writable.bytes());
    if wlen == 0 {
        // Nowhere to answer: completed with nothing written.
        return Ok(Done {
            status: VIRTIO_BLK_S_IOERR,
            used_len: 0,
            kind: Kind::Malformed,
            bytes: 0,
        });
    }
    let (status, kind, bytes) = match header(&bufs.readable, mem) {
        None => (VIRTIO_BLK_S_IOERR, Kind::Malformed, 0),
        Some((ty, sector)) => run(cfg, features, ty, sector, mem, disk, bufs, wlen - 1),
    };
    // The status goes last, after the data it vouches for. The used length covers the whole
    // writable part, the status byte at its end included (virtio 1.2, 2.7.8.2: a driver need
    // not trust bytes past it), as QEMU reports it.
    let used_len = match bufs.writable.write_at(mem, wlen - 1, &[status]) {
        Ok(()) => bufs.writable.bytes(),
        Err(_) => 0,
    };
    Ok(Done {
        status,
        used_len,
        kind,
        bytes,
    })
}

/// Answers a chain with more buffers than the device takes: `VIRTIO_BLK_S_IOERR` in its last
/// writable byte.
fn answer_long<M: GuestMemory + ?Sized>(chain: &DescChain, mem: &M, wlen: u32) -> Done {
    let mut w = Writer::new(chain.clone());
    let ok = wlen > 0
        && w.skip(mem, u64::from(wlen) - 1).is_ok()
        && w.write_all(mem, &[VIRTIO_BLK_S_IOERR]).is_ok();
    Done {
        status: VIRTIO_BLK_S_IOERR,
        used_len: if ok { wlen } else { 0 },
        kind: Kind::Malformed,
        bytes: 0,
    }
}

/// The request's type and sector, if the readable part holds a header the device can read.
fn header<M: GuestMemory + ?Sized>(readable: &Spans<MAX_SPANS>, mem: &M) -> Option<(u32, u64)> {
    let mut h = [0u8; HDR_LEN as usize];
    readable.read_at(mem, 0, &mut h).ok()?;
    let [t0, t1, t2, t3, _, _, _, _, s0, s1, s2, s3, s4, s5, s6, s7] = h;
    Some((
        u32::from_le_bytes([t0, t1, t2, t3]),
        u64::from_le_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
    ))
}

/// Carries out a request with a readable header; `data_in` is the room for data in the
/// writable part (all of it but the status byte). Returns the status, the kind and the data
/// bytes moved.
#[allow(clippy::too_many_arguments)]
fn run<M: GuestMemory + ?Sized, D: Disk>(
    cfg: &BlkConfig,
    features: u64,
    ty: u32,
    sector: u64,
    mem: &M,
    disk: &D,
    bufs: &Buffers,
    data_in: u64,
) -> (u8, Kind, u64) {
    let ioerr = |kind| (VIRTIO_BLK_S_IOERR, kind, 0);
    // The header was read, so the readable part holds it.
    let data_out = u64::from(bufs.readable.bytes()).saturating_sub(HDR_LEN);
    match ty {
        VIRTIO_BLK_T_IN => {
            let Some(at) = extent(cfg, sector, data_in) else {
                return ioerr(Kind::Read);
            };
            match pieces(&bufs.writable, 0, data_in, |off, addr, n| {
                disk.read_to(at + off, mem, addr, n)
            }) {
                Ok(()) => (VIRTIO_BLK_S_OK, Kind::Read, data_in),
                Err(_) => ioerr(Kind::Read),
            }
        }
        VIRTIO_BLK_T_OUT => {
            let Some(at) = extent(cfg, sector, data_out).filter(|_| !cfg.read_only) else {
                return ioerr(Kind::Write);
            };
            match pieces(&bufs.readable, HDR_LEN, data_out, |off, addr, n| {
                disk.write_from(at + off, mem, addr, n)
            }) {
                Ok(()) => (VIRTIO_BLK_S_OK, Kind::Write, data_out),
                Err(_) => ioerr(Kind::Write),
            }
        }
        // RAM keeps no write cache: a write is durable once answered.
        VIRTIO_BLK_T_FLUSH => (VIRTIO_BLK_S_OK, Kind::Flush, 0),
        VIRTIO_BLK_T_GET_ID => {
            let n = data_in.min(SERIAL_LEN as u64);
            let id = cfg.serial.get(..n as usize).unwrap_or(&[]);
            match bufs.writable.write_at(mem, 0, id) {
                Ok(()) => (VIRTIO_BLK_S_OK, Kind::GetId, 0),
                Err(_) => ioerr(Kind::GetId),
            }
        }
        VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES => {
            let (kind, feature) = if ty == VIRTIO_BLK_T_DISCARD {
                (Kind::Discard, VIRTIO_BLK_F_DISCARD)
            } else {
                (Kind::WriteZeroes, VIRTIO_BLK_F_WRITE_ZEROES)
            };
            if features & feature == 0 {
                return (VIRTIO_BLK_S_UNSUPP, kind, 0);
            }
            let status = zero_ranges(cfg, kind, mem, disk, &bufs.readable, data_out);
            (status, kind, 0)
        }
        _ => (VIRTIO_BLK_S_UNSUPP, Kind::Other, 0),
    }
}

/// One discard or write-zeroes segment, checked.
#[derive(Clone, Copy)]
struct Segment {
    at: u64,
    len: u64,
    unmap: bool,
}

/// Reads segment `i` of the `len` bytes after the header and checks it.
fn segment<M: GuestMemory + ?Sized>(
    cfg: &BlkConfig,
    kind: Kind,
    mem: &M,
    readable: &Spans<MAX_SPANS>,
    i: u64,
) -> Result<Segment, u8> {
    let mut s = [0u8; SEG_LEN as usize];
    readable
        .read_at(mem, HDR_LEN + i * SEG_LEN, &mut s)
        .map_err(|_| VIRTIO_BLK_S_IOERR)?;
    let [a0, a1, a2, a3, a4, a5, a6, a7, n0, n1, n2, n3, f0, f1, f2, f3] = s;
    let sector = u64::from_le_bytes([a0, a1, a2, a3, a4, a5, a6, a7]);
    let num = u32::from_le_bytes([n0, n1, n2, n3]);
    let flags = u32::from_le_bytes([f0, f1, f2, f3]);
    // Unknown flags, and `unmap` on a discard, are requests the device does not know
    // (virtio 1.2, 5.2.6.2).
    let known = if kind == Kind::WriteZeroes {
        VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
    } else {
        0
    };
    if flags & !known != 0 {
        return Err(VIRTIO_BLK_S_UNSUPP);
    }
    if num > MAX_DISCARD_SECTORS {
        return Err(VIRTIO_BLK_S_IOERR);
    }
    let len = u64::from(num) * SECTOR_SIZE;
    let at = range(cfg, sector, len).ok_or(VIRTIO_BLK_S_IOERR)?;
    Ok(Segment {
        at,
        len,
        // A discard may drop the data; write-zeroes only if the driver allows it.
        unmap: kind == Kind::Discard || flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP != 0,
    })
}

/// A discard or write-zeroes request with `len` bytes of segments: every segment is checked
/// before any is carried out, so a refused request changes nothing.
fn zero_ranges<M: GuestMemory + ?Sized, D: Disk>(
    cfg: &BlkConfig,
    kind: Kind,
    mem: &M,
    disk: &D,
    readable: &Spans<MAX_SPANS>,
    len: u64,
) -> u8 {
    if cfg.read_only {
        return VIRTIO_BLK_S_IOERR;
    }
    let n = len / SEG_LEN;
    if len == 0 || len & (SEG_LEN - 1) != 0 || n > u64::from(MAX_DISCARD_SEG) {
        return VIRTIO_BLK_S_IOERR;
    }
    for i in 0..n {
        if let Err(status) = segment(cfg, kind, mem, readable, i) {
            return status;
        }
    }
    for i in 0..n {
        // Read again: the driver may have changed it, so it is checked again.
        let seg = match segment(cfg, kind, mem, readable, i) {
            Ok(s) => s,
            Err(status) => return status,
        };
        if disk.zero(seg.at, seg.len, seg.unmap).is_err() {
            return VIRTIO_BLK_S_IOERR;
        }
    }
    VIRTIO_BLK_S_OK
}
