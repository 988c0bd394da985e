// SPDX-License-Identifier: GPL-2.0
//! Requests against a vector disk, through the virtqueue crate's mock rings.

use std::cell::RefCell;
use std::vec;
use std::vec::Vec;

use super::virtqueue::mock::{MockMemory, MockSplitQueue, XorShift};
use super::virtqueue::{GuestMemory, SplitQueue, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use super::*;

const BASE: u64 = 0x10_0000;
const MEM_LEN: usize = 0x40_0000;
const QSIZE: u16 = 256;
const HEAP: u64 = BASE + 0x1_0000;
const CAPACITY: u64 = 2048; // sectors: 1 MiB
const SERIAL: [u8; SERIAL_LEN] = *b"vmdev-blk-test-0001\0";
const ALL: u64 = FEATURES;

/// A disk in a vector; counts operations so tests can tell a refused request touched
/// nothing.
struct VecDisk {
    data: RefCell<Vec<u8>>,
    ops: RefCell<u32>,
    /// Writes fail as if the store were full.
    full: bool,
}

impl VecDisk {
    fn new(sectors: u64) -> Self {
        VecDisk {
            data: RefCell::new(vec![0; (sectors * SECTOR_SIZE) as usize]),
            ops: RefCell::new(0),
            full: false,
        }
    }
    fn bytes(&self, off: u64, len: usize) -> Vec<u8> {
        self.data.borrow()[off as usize..off as usize + len].to_vec()
    }
    fn fill(&self, off: u64, b: &[u8]) {
        self.data.borrow_mut()[off as usize..off as usize + b.len()].copy_from_slice(b);
    }
    fn ops(&self) -> u32 {
        *self.ops.borrow()
    }
}

impl Disk for VecDisk {
    fn read_to<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError> {
        *self.ops.borrow_mut() += 1;
        let d = self.data.borrow();
        let src = d
            .get(off as usize..(off + len) as usize)
            .expect("checked by the request path");
        mem.write(addr, src).map_err(DiskError::Mem)
    }
    fn write_from<M: GuestMemory + ?Sized>(
        &self,
        off: u64,
        mem: &M,
        addr: u64,
        len: u64,
    ) -> Result<(), DiskError> {
        *self.ops.borrow_mut() += 1;
        if self.full {
            return Err(DiskError::NoSpace);
        }
        let mut d = self.data.borrow_mut();
        let dst = d
            .get_mut(off as usize..(off + len) as usize)
            .expect("checked by the request path");
        mem.read(addr, dst).map_err(DiskError::Mem)
    }
    fn zero(&self, off: u64, len: u64, _unmap: bool) -> Result<(), DiskError> {
        *self.ops.borrow_mut() += 1;
        let mut d = self.data.borrow_mut();
        d.get_mut(off as usize..(off + len) as usize)
            .expect("checked by the request path")
            .fill(0);
        Ok(())
    }
}

fn cfg() -> BlkConfig {
    BlkConfig {
        capacity: CAPACITY,
        read_only: false,
        num_queues: 1,
        serial: SERIAL,
    }
}

/// The driver side: a queue, a bump allocator for buffers, and the chains it posted.
struct Drv<'a> {
    mem: &'a MockMemory,
    ring: MockSplitQueue<'a>,
    queue: SplitQueue,
    next_desc: u16,
    heap: u64,
    used_seen: u16,
}

/// One buffer of a request as the test lays it out.
#[derive(Clone, Copy)]
enum Buf<'b> {
    /// Driver-readable bytes.
    Out(&'b [u8]),
    /// A driver-writable buffer of this many bytes, prefilled with 0xee.
    In(u32),
    /// A buffer at an address of the test's choosing.
    At(u64, u32, bool),
}

impl<'a> Drv<'a> {
    fn new(mem: &'a MockMemory) -> Self {
        let ring = MockSplitQueue::new(mem, BASE, QSIZE);
        let queue = ring.queue(false);
        Drv {
            mem,
            ring,
            queue,
            next_desc: 0,
            heap: HEAP,
            used_seen: 0,
        }
    }

    fn alloc(&mut self, len: u32) -> u64 {
        let at = self.heap;
        self.heap = (self.heap + u64::from(len)).next_multiple_of(64);
        assert!(self.heap < BASE + MEM_LEN as u64, "test heap exhausted");
        at
    }

    /// Posts a chain; returns the address of each buffer.
    fn post(&mut self, bufs: &[Buf<'_>]) -> Vec<u64> {
        let head = self.next_desc;
        let mut addrs = Vec::new();
        for (k, b) in bufs.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let (addr, len, writable) = match *b {
                Buf::Out(bytes) => {
                    let a = self.alloc(bytes.len() as u32);
                    self.mem.set_bytes(a, bytes);
                    (a, bytes.len() as u32, false)
                }
                Buf::In(n) => {
                    let a = self.alloc(n);
                    self.mem.set_bytes(a, &vec![0xee; n as usize]);
                    (a, n, true)
                }
                Buf::At(a, n, w) => (a, n, w),
            };
            let mut flags = if writable { VRING_DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= VRING_DESC_F_NEXT;
            }
            self.ring.set_desc(i, addr, len, flags, (i + 1) % QSIZE);
            addrs.push(addr);
        }
        self.next_desc = (head + bufs.len() as u16) % QSIZE;
        self.ring.add_avail(head);
        addrs
    }

    /// Runs the device over everything posted; returns the used entries that came back.
    fn run(
        &mut self,
        cfg: &BlkConfig,
        features: u64,
        disk: &VecDisk,
    ) -> (PassEnd, Vec<(u32, u32)>) {
        let mut stats = BlkStats::default();
        let end = run_pass(
            cfg,
            features,
            &mut self.queue,
            self.mem,
            disk,
            64,
            &mut stats,
            &mut || {},
        );
        let mut out = Vec::new();
        while self.used_seen != self.ring.used_idx() {
            out.push(self.ring.used_elem(self.used_seen));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        (end, out)
    }

    /// Posts one request and runs it; returns the status byte, the used length and the
    /// buffers' addresses.
    fn request(
        &mut self,
        cfg: &BlkConfig,
        features: u64,
        disk: &VecDisk,
        bufs: &[Buf<'_>],
    ) -> (u8, u32, Vec<u64>) {
        let addrs = self.post(bufs);
        let (end, used) = self.run(cfg, features, disk);
        assert!(!end.broken, "a request broke the queue");
        assert_eq!(used.len(), 1);
        let status_at = match bufs.last() {
            Some(Buf::In(n)) => addrs[addrs.len() - 1] + u64::from(*n) - 1,
            _ => 0,
        };
        let status = if status_at != 0 {
            self.mem.bytes(status_at, 1)[0]
        } else {
            0xff
        };
        (status, used[0].1, addrs)
    }
}

fn hdr(ty: u32, sector: u64) -> [u8; 16] {
    let mut h = [0u8; 16];
    h[..4].copy_from_slice(&ty.to_le_bytes());
    h[8..].copy_from_slice(&sector.to_le_bytes());
    h
}

fn seg(sector: u64, num: u32, flags: u32) -> [u8; 16] {
    let mut s = [0u8; 16];
    s[..8].copy_from_slice(&sector.to_le_bytes());
    s[8..12].copy_from_slice(&num.to_le_bytes());
    s[12..].copy_from_slice(&flags.to_le_bytes());
    s
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut r = XorShift(seed | 1);
    (0..len).map(|_| r.next_u64() as u8).collect()
}

#[test]
fn a_write_reads_back_through_differently_split_buffers() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let data = pattern(1, 3 * 512);
    let (st, used, _) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_OUT, 7)),
            Buf::Out(&data[..100]),
            Buf::Out(&data[100..1536]),
            Buf::In(1),
        ],
    );
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, 1));
    assert_eq!(disk.bytes(7 * 512, 1536), data);
    // Header and data in one buffer, data and status in one buffer: any layout goes.
    let mut h = hdr(VIRTIO_BLK_T_IN, 7).to_vec();
    h.truncate(16);
    let (st, used, addrs) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[Buf::Out(&h), Buf::In(1000), Buf::In(537)],
    );
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, 1537));
    let mut back = mem.bytes(addrs[1], 1000);
    back.extend(mem.bytes(addrs[2], 536));
    assert_eq!(back, data);
}

#[test]
fn reads_and_writes_outside_the_disk_or_not_in_sectors_fail_and_touch_nothing() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let data = pattern(2, 1024);
    for (sector, len) in [
        (CAPACITY - 1, 1024usize),
        (CAPACITY, 512),
        (u64::MAX, 512),
        (u64::MAX / 512, 512),
        (0, 511),
        (0, 513),
    ] {
        let (st, used, _) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[
                Buf::Out(&hdr(VIRTIO_BLK_T_OUT, sector)),
                Buf::Out(&data[..len.min(1024)]),
                Buf::In(1),
            ],
        );
        assert_eq!((st, used), (VIRTIO_BLK_S_IOERR, 1), "write {sector}+{len}");
        let (st, used, addrs) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[
                Buf::Out(&hdr(VIRTIO_BLK_T_IN, sector)),
                Buf::In(len as u32 + 1),
            ],
        );
        // The used length covers the writable part, the status at its end included.
        assert_eq!(
            (st, used),
            (VIRTIO_BLK_S_IOERR, len as u32 + 1),
            "read {sector}+{len}"
        );
        // The data buffer keeps what the driver put there.
        assert!(mem.bytes(addrs[1], len).iter().all(|&b| b == 0xee));
    }
    assert_eq!(disk.ops(), 0);
    // The last sector itself is fine.
    let (st, _, _) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_OUT, CAPACITY - 1)),
            Buf::Out(&data[..512]),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_OK);
}

#[test]
fn a_read_only_device_refuses_every_change() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    disk.fill(0, &[0x5a; 512]);
    let mut d = Drv::new(&mem);
    let ro = BlkConfig {
        read_only: true,
        ..cfg()
    };
    assert_eq!(ro.features(), VIRTIO_BLK_F_RO);
    let (st, _, _) = d.request(
        &ro,
        ALL,
        &disk,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_OUT, 0)),
            Buf::Out(&[1; 512]),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_IOERR);
    for ty in [VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES] {
        let (st, _, _) = d.request(
            &ro,
            ALL,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&seg(0, 1, 0)), Buf::In(1)],
        );
        assert_eq!(st, VIRTIO_BLK_S_IOERR);
    }
    assert_eq!(disk.bytes(0, 512), vec![0x5a; 512]);
    let (st, used, addrs) = d.request(
        &ro,
        ALL,
        &disk,
        &[Buf::Out(&hdr(VIRTIO_BLK_T_IN, 0)), Buf::In(513)],
    );
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, 513));
    assert_eq!(mem.bytes(addrs[1], 512), vec![0x5a; 512]);
}

#[test]
fn malformed_requests_are_answered_without_breaking_the_queue() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    // A header cut short.
    let (st, used, _) = d.request(&cfg(), ALL, &disk, &[Buf::Out(&[0; 8]), Buf::In(1)]);
    assert_eq!((st, used), (VIRTIO_BLK_S_IOERR, 1));
    // No status byte: completed with nothing written.
    d.post(&[Buf::Out(&hdr(VIRTIO_BLK_T_FLUSH, 0))]);
    let (end, used) = d.run(&cfg(), ALL, &disk);
    assert!(!end.broken);
    assert_eq!(used.len(), 1);
    assert_eq!(used[0].1, 0);
    // Types the device does not implement, and a zoned one.
    for ty in [2, 3, 10, 14, 24, 0xdead_beef] {
        let (st, used, _) = d.request(&cfg(), ALL, &disk, &[Buf::Out(&hdr(ty, 0)), Buf::In(1)]);
        assert_eq!((st, used), (VIRTIO_BLK_S_UNSUPP, 1), "type {ty}");
    }
    // A data buffer the device cannot reach: an error for the request, not the queue.
    let outside = BASE + MEM_LEN as u64 + 0x1000;
    let (st, _, _) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_IN, 0)),
            Buf::At(outside, 512, true),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_IOERR);
    let (st, _, _) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_OUT, 0)),
            Buf::At(outside, 512, false),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_IOERR);
    // A store that cannot take the data.
    let full = VecDisk {
        full: true,
        ..VecDisk::new(CAPACITY)
    };
    let (st, _, _) = d.request(
        &cfg(),
        ALL,
        &full,
        &[
            Buf::Out(&hdr(VIRTIO_BLK_T_OUT, 0)),
            Buf::Out(&[3; 512]),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_IOERR);
    // Still serving.
    let (st, _, _) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[Buf::Out(&hdr(VIRTIO_BLK_T_FLUSH, 0)), Buf::In(1)],
    );
    assert_eq!(st, VIRTIO_BLK_S_OK);
}

#[test]
fn more_buffers_than_seg_max_fail_with_the_status_in_the_last_byte() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let h = hdr(VIRTIO_BLK_T_IN, 0);
    let mut bufs = vec![Buf::Out(&h)];
    bufs.extend(std::iter::repeat_n(Buf::In(512), SEG_MAX as usize + 1));
    bufs.push(Buf::In(1));
    let (st, used, addrs) = d.request(&cfg(), ALL, &disk, &bufs);
    assert_eq!((st, used), (VIRTIO_BLK_S_IOERR, (SEG_MAX + 1) * 512 + 1));
    assert!(mem.bytes(addrs[1], 512).iter().all(|&b| b == 0xee));
    assert_eq!(disk.ops(), 0);
    // At seg_max it is served.
    let mut bufs = vec![Buf::Out(&h)];
    bufs.extend(std::iter::repeat_n(Buf::In(512), SEG_MAX as usize));
    bufs.push(Buf::In(1));
    let (st, used, _) = d.request(&cfg(), ALL, &disk, &bufs);
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, SEG_MAX * 512 + 1));
}

#[test]
fn a_chain_the_ring_walk_refuses_breaks_the_queue() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let a = d.alloc(16);
    mem.set_bytes(a, &hdr(VIRTIO_BLK_T_IN, 0));
    // Two descriptors pointing at each other.
    d.ring.set_desc(0, a, 16, VRING_DESC_F_NEXT, 1);
    d.ring.set_desc(1, a, 16, VRING_DESC_F_NEXT, 0);
    d.ring.add_avail(0);
    let (end, used) = d.run(&cfg(), ALL, &disk);
    assert!(end.broken);
    assert!(used.is_empty());
    assert_eq!(disk.ops(), 0);
}

#[test]
fn get_id_answers_the_serial() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let (st, used, addrs) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[Buf::Out(&hdr(VIRTIO_BLK_T_GET_ID, 0)), Buf::In(21)],
    );
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, 21));
    assert_eq!(mem.bytes(addrs[1], 20), SERIAL.to_vec());
    // A shorter buffer gets what fits.
    let (st, used, addrs) = d.request(
        &cfg(),
        ALL,
        &disk,
        &[Buf::Out(&hdr(VIRTIO_BLK_T_GET_ID, 0)), Buf::In(6)],
    );
    assert_eq!((st, used), (VIRTIO_BLK_S_OK, 6));
    assert_eq!(mem.bytes(addrs[1], 5), SERIAL[..5].to_vec());
}

#[test]
fn discard_and_write_zeroes_check_every_segment_before_changing_anything() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    let full = vec![0x77u8; (CAPACITY * 512) as usize];
    let reset = || disk.fill(0, &full);
    let zeroed = |sector: u64, n: u64| {
        disk.bytes(sector * 512, (n * 512) as usize)
            .iter()
            .all(|&b| b == 0)
    };
    for ty in [VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES] {
        reset();
        let mut segs = seg(8, 4, 0).to_vec();
        segs.extend(seg(100, 2, 0));
        let (st, _, _) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&segs), Buf::In(1)],
        );
        assert_eq!(st, VIRTIO_BLK_S_OK);
        assert!(zeroed(8, 4) && zeroed(100, 2));
        assert_eq!(disk.bytes(7 * 512, 512), vec![0x77; 512]);
        assert_eq!(disk.bytes(12 * 512, 512), vec![0x77; 512]);
        // A second segment past the end: refused, and the first one not carried out.
        reset();
        let mut segs = seg(8, 4, 0).to_vec();
        segs.extend(seg(CAPACITY - 1, 2, 0));
        let (st, _, _) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&segs), Buf::In(1)],
        );
        assert_eq!(st, VIRTIO_BLK_S_IOERR);
        assert_eq!(disk.bytes(8 * 512, 512), vec![0x77; 512]);
        // Too long a segment, too many segments, none, or a partial one.
        let too_many: Vec<u8> = (0..=MAX_DISCARD_SEG)
            .flat_map(|i| seg(u64::from(i), 1, 0))
            .collect();
        for segs in [
            seg(0, MAX_DISCARD_SECTORS + 1, 0).to_vec(),
            too_many,
            vec![],
            seg(0, 1, 0)[..12].to_vec(),
        ] {
            let h = hdr(ty, 0);
            let mut bufs = vec![Buf::Out(&h)];
            if !segs.is_empty() {
                bufs.push(Buf::Out(&segs));
            }
            bufs.push(Buf::In(1));
            let (st, _, _) = d.request(&cfg(), ALL, &disk, &bufs);
            assert_eq!(st, VIRTIO_BLK_S_IOERR, "{} bytes of segments", segs.len());
        }
        // Not negotiated.
        let (st, _, _) = d.request(
            &cfg(),
            0,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&seg(0, 1, 0)), Buf::In(1)],
        );
        assert_eq!(st, VIRTIO_BLK_S_UNSUPP);
        // Unknown flags; `unmap` only for write-zeroes.
        let (st, _, _) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&seg(0, 1, 4)), Buf::In(1)],
        );
        assert_eq!(st, VIRTIO_BLK_S_UNSUPP);
        let (st, _, _) = d.request(
            &cfg(),
            ALL,
            &disk,
            &[Buf::Out(&hdr(ty, 0)), Buf::Out(&seg(0, 1, 1)), Buf::In(1)],
        );
        let want = if ty == VIRTIO_BLK_T_DISCARD {
            VIRTIO_BLK_S_UNSUPP
        } else {
            VIRTIO_BLK_S_OK
        };
        assert_eq!(st, want);
        assert_eq!(zeroed(0, 1), want == VIRTIO_BLK_S_OK);
    }
}

#[test]
fn config_space_reports_the_settings() {
    let c = BlkConfig {
        capacity: 0x1_2345_6789,
        num_queues: 4,
        ..cfg()
    };
    let mut b = [0u8; 8];
    c.read(0, &mut b);
    assert_eq!(u64::from_le_bytes(b), 0x1_2345_6789);
    let mut q = [0u8; 2];
    c.read(34, &mut q);
    assert_eq!(u16::from_le_bytes(q), 4);
    let mut s = [0u8; 4];
    c.read(12, &mut s);
    assert_eq!(u32::from_le_bytes(s), SEG_MAX);
    c.read(20, &mut s);
    assert_eq!(u32::from_le_bytes(s), 512);
    // Past the end reads zero.
    c.read(CONFIG_SIZE - 2, &mut s);
    assert_eq!(s, [0; 4]);
    assert!(
        !BlkConfig::valid_queues(0)
            && BlkConfig::valid_queues(MAX_QUEUES)
            && !BlkConfig::valid_queues(MAX_QUEUES + 1)
    );
}

#[test]
fn a_pass_stops_at_its_budget_and_interrupts_as_the_driver_asks() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    for _ in 0..100 {
        d.post(&[Buf::Out(&hdr(VIRTIO_BLK_T_FLUSH, 0)), Buf::In(1)]);
    }
    // Without EVENT_IDX and with interrupts on: one per completion, as each is published.
    let (end, used) = d.run(&cfg(), ALL, &disk);
    assert_eq!(
        (end.completed, end.run_again, end.interrupts),
        (64, true, 64)
    );
    assert_eq!(used.len(), 64);
    // With VRING_AVAIL_F_NO_INTERRUPT: none.
    d.ring
        .set_avail_flags(super::virtqueue::VRING_AVAIL_F_NO_INTERRUPT);
    let (end, used) = d.run(&cfg(), ALL, &disk);
    assert_eq!(
        (end.completed, end.run_again, end.interrupts),
        (36, false, 0)
    );
    assert_eq!(used.len(), 36);
}

#[test]
fn with_event_idx_a_pass_interrupts_when_used_event_is_crossed() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut d = Drv::new(&mem);
    d.queue = d.ring.queue(true);
    for _ in 0..40 {
        d.post(&[Buf::Out(&hdr(VIRTIO_BLK_T_FLUSH, 0)), Buf::In(1)]);
    }
    // The driver wants to hear when the used index passes 9: the first completion (the
    // device has signalled nothing yet) and the tenth.
    d.ring.set_used_event(9);
    let mut calls = Vec::new();
    let mut stats = BlkStats::default();
    let mut n = 0u32;
    let end = run_pass(
        &cfg(),
        ALL,
        &mut d.queue,
        &mem,
        &disk,
        64,
        &mut stats,
        &mut || {
            n += 1;
            calls.push(n);
        },
    );
    assert_eq!((end.completed, end.interrupts), (40, 2));
    assert_eq!(calls.len(), 2);
}

/// Random requests, some malformed, against a model of the disk: the device's answers and
/// the disk's contents must be the model's.
#[test]
fn random_requests_match_a_model() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(CAPACITY);
    let mut model = vec![0u8; (CAPACITY * 512) as usize];
    let mut r = XorShift(0x5eed);
    let mut d = Drv::new(&mem);
    for round in 0..2000 {
        if d.heap > BASE + MEM_LEN as u64 - 0x2_0000 {
            d.heap = HEAP;
        }
        // Mostly in range, sometimes across the end.
        let sectors = 1 + r.below(16);
        let sector = r.below(CAPACITY + 8);
        let len = (sectors * 512) as usize;
        let in_range = sector + sectors <= CAPACITY;
        match r.below(4) {
            0 | 1 => {
                let data = pattern(round, len);
                let cut = r.below(len as u64) as usize;
                let (st, _, _) = d.request(
                    &cfg(),
                    ALL,
                    &disk,
                    &[
                        Buf::Out(&hdr(VIRTIO_BLK_T_OUT, sector)),
                        Buf::Out(&data[..cut]),
                        Buf::Out(&data[cut..]),
                        Buf::In(1),
                    ],
                );
                if in_range {
                    assert_eq!(st, VIRTIO_BLK_S_OK);
                    model[(sector * 512) as usize..][..len].copy_from_slice(&data);
                } else {
                    assert_eq!(st, VIRTIO_BLK_S_IOERR);
                }
            }
            2 => {
                let (st, _, addrs) = d.request(
                    &cfg(),
                    ALL,
                    &disk,
                    &[
                        Buf::Out(&hdr(VIRTIO_BLK_T_IN, sector)),
                        Buf::In(len as u32),
                        Buf::In(1),
                    ],
                );
                if in_range {
                    assert_eq!(st, VIRTIO_BLK_S_OK);
                    assert_eq!(
                        mem.bytes(addrs[1], len),
                        model[(sector * 512) as usize..][..len]
                    );
                } else {
                    assert_eq!(st, VIRTIO_BLK_S_IOERR);
                }
            }
            _ => {
                let (st, _, _) = d.request(
                    &cfg(),
                    ALL,
                    &disk,
                    &[
                        Buf::Out(&hdr(VIRTIO_BLK_T_WRITE_ZEROES, 0)),
                        Buf::Out(&seg(sector, sectors as u32, 1)),
                        Buf::In(1),
                    ],
                );
                if in_range {
                    assert_eq!(st, VIRTIO_BLK_S_OK);
                    model[(sector * 512) as usize..][..len].fill(0);
                } else {
                    assert_eq!(st, VIRTIO_BLK_S_IOERR);
                }
            }
        }
    }
    assert_eq!(disk.bytes(0, model.len()), model);
}

#[test]
fn requests_larger_than_seg_max_buffers_of_size_max_fail() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let disk = VecDisk::new(MAX_REQUEST_BYTES / SECTOR_SIZE + 16);
    let c = BlkConfig {
        capacity: MAX_REQUEST_BYTES / SECTOR_SIZE + 16,
        ..cfg()
    };
    let mut d = Drv::new(&mem);
    // One buffer reused: what matters is the length the chain claims.
    let at = d.alloc(4096);
    let big = (MAX_REQUEST_BYTES / 2) as u32;
    let h = hdr(VIRTIO_BLK_T_IN, 0);
    let (st, _, _) = d.request(
        &c,
        ALL,
        &disk,
        &[
            Buf::Out(&h),
            Buf::At(at, big, true),
            Buf::At(at, big + 512, true),
            Buf::In(1),
        ],
    );
    assert_eq!(st, VIRTIO_BLK_S_IOERR);
    assert_eq!(disk.ops(), 0);
    let mut conf = [0u8; 4];
    c.read(8, &mut conf);
    assert_eq!(u32::from_le_bytes(conf), SIZE_MAX);
}

#[test]
fn a_pass_ends_after_moving_pass_bytes() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let sectors = 2 * PASS_BYTES / SECTOR_SIZE;
    let disk = VecDisk::new(sectors);
    let c = BlkConfig {
        capacity: sectors,
        ..cfg()
    };
    let mut d = Drv::new(&mem);
    let at = d.alloc(4096);
    let h = hdr(VIRTIO_BLK_T_IN, 0);
    // Requests of 1 MiB each (one buffer, reused): the pass stops at PASS_BYTES.
    let per = 1u32 << 20;
    for _ in 0..12 {
        d.post(&[Buf::Out(&h), Buf::At(at, per, true), Buf::In(1)]);
    }
    let mut stats = BlkStats::default();
    let end = run_pass(
        &c,
        ALL,
        &mut d.queue,
        &mem,
        &disk,
        64,
        &mut stats,
        &mut || {},
    );
    assert_eq!(u64::from(end.completed), PASS_BYTES / u64::from(per));
    assert!(end.run_again);
    assert_eq!(stats.read_bytes, PASS_BYTES);
}
