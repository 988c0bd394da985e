// SPDX-License-Identifier: GPL-2.0
//! Block requests libFuzzer lays out: a header of any type and sector (near the end of the
//! disk and near `u64::MAX` often), data and status split across buffers anywhere, readable
//! and writable in any order, buffers partly or wholly outside driver memory, discard and
//! write-zeroes segments of any shape, a read-only disk, features on or off. Each request
//! runs through `blksim::execute` against a disk kept in a vector, and must:
//!
//! - leave every byte of driver memory outside the chain's writable buffers as it was;
//! - leave the disk as it was unless it answered OK, but for a write that could not reach
//!   all its buffers, which may have written from its sector on; and with OK, change it only
//!   as its type says: a write from its sector on, a read nothing, a discard or write-zeroes
//!   to zeroes;
//! - answer in the chain's last writable byte, with a used length no longer than the
//!   writable part.
#![no_main]

use blksim::{
    execute, BlkConfig, Buffers, Disk, DiskError, FEATURES, SECTOR_SIZE, VIRTIO_BLK_S_OK,
    VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_WRITE_ZEROES,
};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use virtqueue::mock::{MockMemory, MockSplitQueue};
use virtqueue::{GuestMemory, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};

const BASE: u64 = 0x1_0000;
const MEM_LEN: usize = 0x2_0000;
/// The request header lives here, apart from the buffers, so that nothing the harness lays
/// out later (discard segments) overwrites the type and sector it expects.
const HEADER: u64 = BASE + 0x1000;
/// Buffers live here, to the end of memory.
const BUFFERS: u64 = BASE + 0x2000;
const CAPACITY: u64 = 64; // sectors
const QSIZE: u16 = 16;

struct VecDisk(RefCell<Vec<u8>>);

impl Disk for VecDisk {
    fn read_to<M: GuestMemory + ?Sized>(&self, off: u64, mem: &M, addr: u64, len: u64) -> std::result::Result<(), DiskError> {
        let d = self.0.borrow();
        let src = d.get(off as usize..(off + len) as usize).expect("range checked by blksim");
        mem.write(addr, src).map_err(DiskError::Mem)
    }
    fn write_from<M: GuestMemory + ?Sized>(&self, off: u64, mem: &M, addr: u64, len: u64) -> std::result::Result<(), DiskError> {
        let mut d = self.0.borrow_mut();
        let dst = d.get_mut(off as usize..(off + len) as usize).expect("range checked by blksim");
        mem.read(addr, dst).map_err(DiskError::Mem)
    }
    fn zero(&self, off: u64, len: u64, _unmap: bool) -> std::result::Result<(), DiskError> {
        self.0.borrow_mut().get_mut(off as usize..(off + len) as usize).expect("range checked by blksim").fill(0);
        Ok(())
    }
}

fn sector(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1 => u64::MAX - u64::from(u.int_in_range(0u8..=255)?),
        2 => CAPACITY - u64::from(u.int_in_range(0u8..=3)?),
        _ => u64::from(u.int_in_range(0u8..=(CAPACITY as u8))?),
    })
}

fn address(u: &mut Unstructured<'_>, len: u32) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => u.arbitrary()?,
        // Straddling the end of memory.
        1 => (BASE + MEM_LEN as u64).saturating_sub(u64::from(len / 2)),
        _ => BUFFERS + u64::from(u.int_in_range(0u32..=0x1_0000)?),
    })
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let mem = MockMemory::new(BASE, MEM_LEN);
    for (i, b) in u.bytes(64)?.iter().enumerate() {
        mem.set_bytes(BUFFERS + 977 * i as u64, &[*b; 61]);
    }
    let ring = MockSplitQueue::new(&mem, BASE, QSIZE);
    let cfg = BlkConfig {
        capacity: CAPACITY,
        read_only: u.ratio(1, 8)?,
        num_queues: 1,
        serial: *b"fuzz-serial-00000001",
    };
    let features = if u.ratio(1, 8)? { 0 } else { FEATURES };
    let disk = VecDisk(RefCell::new((0..CAPACITY * SECTOR_SIZE).map(|i| (i * 7 + 3) as u8).collect()));

    // The header, in its own buffer or split; then up to 6 more buffers.
    let ty = match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1 | 2 => VIRTIO_BLK_T_IN,
        3 | 4 => VIRTIO_BLK_T_OUT,
        5 => VIRTIO_BLK_T_DISCARD,
        6 => VIRTIO_BLK_T_WRITE_ZEROES,
        _ => u.int_in_range(0u32..=16)?,
    };
    let sec = sector(u)?;
    let mut hdr = [0u8; 16];
    hdr[..4].copy_from_slice(&ty.to_le_bytes());
    hdr[8..].copy_from_slice(&sec.to_le_bytes());
    let hdr_at = HEADER;
    mem.set_bytes(hdr_at, &hdr);
    let mut bufs: Vec<(u64, u32, bool)> = Vec::new();
    // With a short header buffer the device reads the rest of the header from the next
    // readable buffer: then the harness does not know the request's type and sector.
    let known = !u.ratio(1, 4)?;
    match u.int_in_range(0u8..=3)? {
        _ if !known => bufs.push((hdr_at, u.int_in_range(0u32..=15)?, false)),
        1 => {
            bufs.push((hdr_at, 7, false));
            bufs.push((hdr_at + 7, 9, false));
        }
        _ => bufs.push((hdr_at, 16, false)),
    }
    let extra = u.int_in_range(0usize..=6)?;
    for _ in 0..extra {
        let len = match u.int_in_range(0u8..=7)? {
            0 => u.arbitrary()?,
            1 => 1,
            2 => 16 * u32::from(u.int_in_range(1u8..=20)?),
            3..=5 => 512 * u32::from(u.int_in_range(1u8..=4)?),
            _ => u.int_in_range(0u32..=2048)?,
        };
        let writable: bool = u.arbitrary()?;
        let at = address(u, len)?;
        // Discard segments, when the buffer is readable and in memory.
        if !writable && len % 16 == 0 && len <= 320 && at >= BUFFERS && at.checked_add(u64::from(len)).is_some_and(|end| end <= BASE + MEM_LEN as u64) && u.arbitrary::<bool>()? {
            for k in 0..u64::from(len / 16) {
                let mut s = [0u8; 16];
                s[..8].copy_from_slice(&sector(u)?.to_le_bytes());
                s[8..12].copy_from_slice(&u.int_in_range(0u32..=8)?.to_le_bytes());
                s[12..].copy_from_slice(&u.int_in_range(0u32..=2)?.to_le_bytes());
                mem.set_bytes(at + 16 * k, &s);
            }
        }
        bufs.push((at, len, writable));
    }
    if u.ratio(7, 8)? {
        bufs.push((BUFFERS + 0xfff0, 1, true));
    }
    // A driver puts readable buffers first; a few chains break that rule.
    if !u.ratio(1, 8)? {
        bufs.sort_by_key(|b| b.2);
    }
    for (i, &(addr, len, w)) in bufs.iter().enumerate() {
        let mut flags = if w { VRING_DESC_F_WRITE } else { 0 };
        if i + 1 < bufs.len() {
            flags |= VRING_DESC_F_NEXT;
        }
        ring.set_desc(i as u16, addr, len, flags, i as u16 + 1);
    }
    ring.add_avail(0);

    let before_mem = mem.bytes(BASE, MEM_LEN);
    let before_disk = disk.0.borrow().clone();
    let mut q = ring.queue(false);
    let mut chain = q.pop(&mem).expect("ring valid").expect("one chain");
    let mut b = Buffers::default();
    let done = match execute(&cfg, features, &mut chain, &mem, &disk, &mut b) {
        Ok(d) => d,
        // The ring walk refused the chain (readable after writable, lengths): nothing done.
        Err(_) => {
            assert_eq!(mem.bytes(BASE, MEM_LEN), before_mem, "a refused chain touched memory");
            assert_eq!(*disk.0.borrow(), before_disk, "a refused chain touched the disk");
            return Ok(());
        }
    };
    // Memory outside the writable buffers is as it was.
    let after_mem = mem.bytes(BASE, MEM_LEN);
    let writable_len: u64 = bufs.iter().filter(|b| b.2).map(|b| u64::from(b.1)).sum();
    for (i, (a, b)) in before_mem.iter().zip(after_mem.iter()).enumerate() {
        if a != b {
            let addr = BASE + i as u64;
            assert!(
                bufs.iter().any(|&(at, len, w)| w && addr >= at && addr - at < u64::from(len)),
                "byte {addr:#x} changed outside the writable buffers"
            );
        }
    }
    assert!(u64::from(done.used_len) <= writable_len, "used length {} past {writable_len} writable bytes", done.used_len);
    let after_disk = disk.0.borrow().clone();
    if cfg.read_only {
        assert_eq!(after_disk, before_disk, "a read-only disk changed (status {})", done.status);
    }
    // Without a status written the driver is not told what happened, which may be anything
    // its type allows: the checks above are all there is.
    if !known || done.used_len == 0 {
        return Ok(());
    }
    if done.status != VIRTIO_BLK_S_OK {
        // A write whose buffers the device could not all reach may have written the sectors
        // before the one it could not: nothing outside its own range changes.
        let range = (ty == VIRTIO_BLK_T_OUT && !cfg.read_only)
            .then(|| sec.checked_mul(SECTOR_SIZE))
            .flatten()
            .map_or(0..0, |at| at as usize..after_disk.len());
        for (i, (x, y)) in before_disk.iter().zip(after_disk.iter()).enumerate() {
            assert!(x == y || range.contains(&i), "a request answered {} changed byte {i} of the disk", done.status);
        }
    } else {
        match ty {
            VIRTIO_BLK_T_IN => assert_eq!(after_disk, before_disk, "a read changed the disk"),
            VIRTIO_BLK_T_OUT => {
                assert!(!cfg.read_only, "a write to a read-only disk succeeded");
                // Only the sectors of the request changed, to the data the chain held.
                let at = (sec * SECTOR_SIZE) as usize;
                let n = done.bytes as usize;
                assert_eq!(after_disk[..at], before_disk[..at]);
                assert_eq!(after_disk[at + n..], before_disk[at + n..]);
            }
            VIRTIO_BLK_T_DISCARD | VIRTIO_BLK_T_WRITE_ZEROES => {
                assert!(!cfg.read_only, "a change to a read-only disk succeeded");
                for (x, y) in before_disk.iter().zip(after_disk.iter()) {
                    assert!(x == y || *y == 0, "a discard left something but zeroes");
                }
            }
            _ => assert_eq!(after_disk, before_disk, "a {ty} request changed the disk"),
        }
    }
    Ok(())
}
