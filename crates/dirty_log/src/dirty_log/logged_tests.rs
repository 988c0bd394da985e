// SPDX-License-Identifier: GPL-2.0
//! [`LoggedMemory`] against the pages a pass really wrote, and the order of marks and
//! publications.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use netsim::{NetConfig, NetStats, RxFilter};
use virtqueue::mock::{MockMemory, MockSplitQueue, XorShift};
use virtqueue::{GuestMemory, MemError, VRING_DESC_F_WRITE};

use super::mock::MockLog;
use super::*;

const BASE: u64 = 0x10_0000;
const MEM_LEN: usize = 0x40_0000;
const QSIZE: u16 = 64;
const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
/// Log words for every page of the mock memory and of the shifted ring logs below.
const LOG_WORDS: u64 = (BASE + 2 * MEM_LEN as u64) / LOG_CHUNK + 1;

/// Every buffer write logged, no ring at a log address of its own.
const BUFFERS: LogScope<'static> = LogScope {
    buffers: true,
    rings: &[],
};

fn page(addr: u64) -> u64 {
    addr >> LOG_PAGE_SHIFT
}

/// The mock memory, recording every page a write reaches, independently of the log.
struct Recording<'a> {
    mem: &'a MockMemory,
    written: RefCell<BTreeSet<u64>>,
}

impl<'a> Recording<'a> {
    fn new(mem: &'a MockMemory) -> Self {
        Self {
            mem,
            written: RefCell::new(BTreeSet::new()),
        }
    }

    fn record(&self, addr: u64, len: u64) {
        if len > 0 {
            self.written
                .borrow_mut()
                .extend(page(addr)..=page(addr + len - 1));
        }
    }
}

impl GuestMemory for Recording<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.mem.read(addr, buf)
    }
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        self.record(addr, buf.len() as u64);
        self.mem.write(addr, buf)
    }
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        self.mem.load_u16_acquire(addr)
    }
    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        self.record(addr, 2);
        self.mem.store_u16_release(addr, val)
    }
    fn fence(&self) {
        self.mem.fence()
    }
}

/// A loopback device's two queues with frames to send and buffers to receive them, at
/// random places in memory.
struct Loop<'a> {
    mem: &'a MockMemory,
    rx: MockSplitQueue<'a>,
    tx: MockSplitQueue<'a>,
    heap: u64,
    rx_next: u16,
    tx_next: u16,
}

impl<'a> Loop<'a> {
    fn new(mem: &'a MockMemory) -> Self {
        let rx = MockSplitQueue::new(mem, BASE, QSIZE);
        let tx = MockSplitQueue::new(mem, rx.end() + 0x1000, QSIZE);
        let heap = tx.end().next_multiple_of(LOG_PAGE);
        Self {
            mem,
            rx,
            tx,
            heap,
            rx_next: 0,
            tx_next: 0,
        }
    }

    /// `len` bytes at a random offset past the last allocation, sometimes across a page.
    fn alloc(&mut self, len: u64, rng: &mut XorShift) -> u64 {
        let at = self.heap + rng.below(3 * LOG_PAGE);
        self.heap = at + len;
        assert!(self.heap < BASE + MEM_LEN as u64);
        at
    }

    fn send(&mut self, len: usize, rng: &mut XorShift) {
        let mut frame = vec![0u8; 12 + len];
        frame[12..18].copy_from_slice(&MAC);
        for b in &mut frame[18..] {
            *b = rng.below(256) as u8;
        }
        let at = self.alloc(frame.len() as u64, rng);
        self.mem.set_bytes(at, &frame);
        let d = self.tx_next;
        self.tx.set_desc(d, at, frame.len() as u32, 0, 0);
        self.tx.add_avail(d);
        self.tx_next += 1;
    }

    fn post_rx(&mut self, rng: &mut XorShift) -> (u64, u64) {
        let at = self.alloc(2048, rng);
        let d = self.rx_next;
        self.rx.set_desc(d, at, 2048, VRING_DESC_F_WRITE, 0);
        self.rx.add_avail(d);
        self.rx_next += 1;
        (at, 2048)
    }

    fn pass<M: GuestMemory + ?Sized>(&self, mem: &M, rx: &mut SplitQueue, tx: &mut SplitQueue) {
        let cfg = NetConfig {
            mac: MAC,
            mtu: 1500,
            link_up: true,
            announce: false,
            max_pairs: 1,
        };
        let mut stats = NetStats::default();
        netsim::run_pass(&cfg, &RxFilter::new(), rx, tx, mem, 1024, &mut stats);
        assert!(stats.tx.packets > 0, "the pass moved no frame");
    }
}

use virtqueue::SplitQueue;

/// The pages `written` would mark with the rings' writes moved to their log addresses.
fn expected(written: &BTreeSet<u64>, rings: &[RingLog]) -> Vec<u64> {
    let mut out = BTreeSet::new();
    for &p in written {
        let a = p << LOG_PAGE_SHIFT;
        let moved = rings.iter().find_map(|r| {
            // A ring page is moved as a whole: every write the pass made in it was in the ring.
            (a + LOG_PAGE > r.used && a < r.used + r.len)
                .then(|| page(r.log_addr + a.max(r.used) - r.used))
        });
        out.insert(moved.unwrap_or(p));
    }
    out.into_iter().collect()
}

#[test]
fn a_loopback_pass_marks_exactly_the_pages_it_wrote() {
    let mut rng = XorShift(0x5eed_d1e7);
    for round in 0..40 {
        let mem = MockMemory::new(BASE, MEM_LEN);
        let mut lp = Loop::new(&mem);
        let (mut rx, mut tx) = (lp.rx.queue(false), lp.tx.queue(false));
        let frames = 1 + rng.below(40) as usize;
        for _ in 0..frames + rng.below(4) as usize {
            lp.post_rx(&mut rng);
        }
        for _ in 0..frames {
            let len = 60 + rng.below(1454) as usize;
            lp.send(len, &mut rng);
        }
        // Every other round the used rings log at an address of their own.
        let rings = [
            RingLog {
                used: lp.rx.used(),
                len: used_ring_bytes(QSIZE),
                log_addr: lp.rx.used() + MEM_LEN as u64,
            },
            RingLog {
                used: lp.tx.used(),
                len: used_ring_bytes(QSIZE),
                log_addr: lp.tx.used() + MEM_LEN as u64 + 0x80_0000,
            },
        ];
        let rings: &[RingLog] = if round % 2 == 0 { &rings } else { &[] };
        let rec = Recording::new(&mem);
        let log = MockLog::new(LOG_WORDS + 0x800);
        let logged = LoggedMemory::new(
            &rec,
            &log,
            LogScope {
                buffers: true,
                rings,
            },
        );
        lp.pass(&logged, &mut rx, &mut tx);
        assert_eq!(logged.finish(), Ok(()));
        assert_eq!(lp.rx.used_idx() as usize, frames);
        assert_eq!(
            log.pages(),
            expected(&rec.written.borrow(), rings),
            "round {round}"
        );
    }
}

#[test]
fn pages_only_read_are_not_marked() {
    let mut rng = XorShift(7);
    let mem = MockMemory::new(BASE, MEM_LEN);
    let mut lp = Loop::new(&mem);
    let (mut rx, mut tx) = (lp.rx.queue(false), lp.tx.queue(false));
    let bufs: Vec<(u64, u64)> = (0..8).map(|_| lp.post_rx(&mut rng)).collect();
    // Frames far from every RX buffer, each alone in its page.
    lp.heap = (lp.heap + 0x10_0000).next_multiple_of(LOG_PAGE);
    let tx_first = page(lp.heap);
    for _ in 0..8 {
        lp.heap = lp.heap.next_multiple_of(LOG_PAGE);
        lp.send(100, &mut rng);
    }
    let tx_last = page(lp.heap);
    let log = MockLog::new(LOG_WORDS);
    let logged = LoggedMemory::new(&mem, &log, BUFFERS);
    lp.pass(&logged, &mut rx, &mut tx);
    assert_eq!(logged.finish(), Ok(()));
    // The RX buffers (each within 2 KiB) and the two used rings, nothing else: not the
    // frames, the descriptor tables or the avail rings, which are only read.
    let mut want = BTreeSet::new();
    for &(at, len) in &bufs {
        want.extend(page(at)..=page(at + len - 1));
    }
    for used in [lp.rx.used(), lp.tx.used()] {
        want.extend(page(used)..=page(used + used_ring_bytes(QSIZE) - 1));
    }
    let marked = log.pages();
    assert!(marked.iter().all(|p| !(tx_first..=tx_last).contains(p)));
    for p in &marked {
        assert!(want.contains(p), "page {p:#x} marked");
    }
    for &(at, _) in &bufs {
        assert!(marked.contains(&page(at)), "RX buffer page {:#x}", page(at));
    }
}

#[test]
fn logging_off_or_rings_only() {
    let mut rng = XorShift(11);
    for buffers in [false, true] {
        let mem = MockMemory::new(BASE, MEM_LEN);
        let mut lp = Loop::new(&mem);
        let (mut rx, mut tx) = (lp.rx.queue(false), lp.tx.queue(false));
        lp.post_rx(&mut rng);
        lp.send(200, &mut rng);
        let log = MockLog::new(LOG_WORDS);
        let ring = [RingLog {
            used: lp.rx.used(),
            len: used_ring_bytes(QSIZE),
            log_addr: 0x4000,
        }];
        let off = LoggedMemory::new(
            &mem,
            &log,
            LogScope {
                buffers: false,
                rings: &[],
            },
        );
        assert!(!LogScope::default().logs());
        if buffers {
            lp.pass(&off, &mut rx, &mut tx);
            assert_eq!(off.finish(), Ok(()));
            assert_eq!(log.pages(), Vec::<u64>::new());
        } else {
            drop(off);
            let only = LoggedMemory::new(
                &mem,
                &log,
                LogScope {
                    buffers: false,
                    rings: &ring,
                },
            );
            lp.pass(&only, &mut rx, &mut tx);
            assert_eq!(only.finish(), Ok(()));
            // The RX used ring (at 0x4000 in the log), nothing else.
            assert_eq!(log.pages(), vec![4]);
        }
    }
}

/// A log that notes, at every mark, the used index in memory and whether the buffer the
/// test wrote is already there.
struct Watch<'a> {
    log: MockLog,
    mem: &'a MockMemory,
    idx_addr: u64,
    data_addr: u64,
    seen: RefCell<Vec<(u64, u16, u8)>>,
}

impl LogWords for Watch<'_> {
    fn words(&self) -> u64 {
        self.log.words()
    }
    fn load(&self, word: u64) -> Result<u64, LogError> {
        self.log.load(word)
    }
    fn fetch_or(&self, word: u64, mask: u64) -> Result<(), LogError> {
        let idx = self.mem.read_u16(self.idx_addr).unwrap();
        let data = self.mem.bytes(self.data_addr, 1)[0];
        for b in 0..WORD_BITS {
            if mask & (1 << b) != 0 {
                self.seen
                    .borrow_mut()
                    .push((word * WORD_BITS + b, idx, data));
            }
        }
        self.log.fetch_or(word, mask)
    }
}

#[test]
fn marks_follow_writes_and_precede_the_index() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let used = BASE + 0x1000;
    let data = BASE + 0x5_0000;
    let watch = Watch {
        log: MockLog::new(LOG_WORDS),
        mem: &mem,
        idx_addr: used + 2,
        data_addr: data,
        seen: RefCell::new(Vec::new()),
    };
    let ring = [RingLog {
        used,
        len: used_ring_bytes(QSIZE),
        log_addr: used,
    }];
    let logged = LoggedMemory::new(
        &mem,
        &watch,
        LogScope {
            buffers: true,
            rings: &ring,
        },
    );
    logged.write(data, &[0x5a; 100]).unwrap();
    logged.write(used + 4, &[1; 8]).unwrap();
    assert!(
        watch.seen.borrow().is_empty(),
        "marks wait for the publication"
    );
    logged.store_u16_release(used + 2, 1).unwrap();
    assert_eq!(logged.finish(), Ok(()));
    let seen = watch.seen.borrow();
    // The buffer page: marked after its write, before the index moved.
    assert!(seen.contains(&(page(data), 0, 0x5a)), "{seen:?}");
    // The ring page: once for the element (index still 0), once after the index store.
    assert!(seen.contains(&(page(used), 0, 0x5a)), "{seen:?}");
    assert_eq!(seen.last(), Some(&(page(used), 1, 0x5a)));
}

#[test]
fn what_is_pending_is_marked_when_the_pass_ends_even_on_drop() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let log = MockLog::new(LOG_WORDS);
    let scope = BUFFERS;
    let logged = LoggedMemory::new(&mem, &log, scope);
    logged.write(BASE + 0x3000, &[1; 5000]).unwrap();
    logged.copy(BASE + 0x9fff, BASE + 0x3000, 2).unwrap();
    assert!(log.pages().is_empty());
    drop(logged);
    assert_eq!(log.pages(), vec![0x103, 0x104, 0x109, 0x10a]);
    // A write that fails part of the way is logged for what it may have written.
    let logged = LoggedMemory::new(&mem, &log, scope);
    let end = BASE + MEM_LEN as u64;
    assert!(logged.write(end - 8, &[2; 16]).is_err());
    assert_eq!(logged.finish(), Ok(()));
    assert!(log.take().contains(&page(end - 8)));
}

#[test]
fn a_failed_mark_is_reported_and_the_pass_goes_on() {
    let mut rng = XorShift(3);
    let mem = MockMemory::new(BASE, MEM_LEN);
    let mut lp = Loop::new(&mem);
    let (mut rx, mut tx) = (lp.rx.queue(false), lp.tx.queue(false));
    for _ in 0..4 {
        lp.post_rx(&mut rng);
        lp.send(300, &mut rng);
    }
    // A log that covers only the first 64 pages: every page here is past it.
    let log = MockLog::new(1);
    let logged = LoggedMemory::new(&mem, &log, BUFFERS);
    lp.pass(&logged, &mut rx, &mut tx);
    assert_eq!(logged.finish(), Err(LogError::OutOfLog));
    assert_eq!(
        lp.rx.used_idx(),
        4,
        "the frames were delivered all the same"
    );
}

/// A log that notes how many barriers the memory had seen at each read of a word.
struct Fenced<'a> {
    log: MockLog,
    mem: &'a MockMemory,
    fences_at_load: RefCell<Vec<u32>>,
}

impl LogWords for Fenced<'_> {
    fn words(&self) -> u64 {
        self.log.words()
    }
    fn load(&self, word: u64) -> Result<u64, LogError> {
        self.fences_at_load.borrow_mut().push(self.mem.fences());
        self.log.load(word)
    }
    fn fetch_or(&self, word: u64, mask: u64) -> Result<(), LogError> {
        self.log.fetch_or(word, mask)
    }
}

#[test]
fn bits_are_read_after_a_barrier_and_set_bits_are_not_ored_again() {
    // Room for more log words' worth of pages than the pending set holds.
    let mem = MockMemory::new(BASE, 2 * MEM_LEN);
    let log = Fenced {
        log: MockLog::new(LOG_WORDS),
        mem: &mem,
        fences_at_load: RefCell::new(Vec::new()),
    };
    let idx = BASE + 0x1002;
    let m = LoggedMemory::new(&mem, &log, BUFFERS);
    // Pages in more words than the pending set holds: the early flush reads bits too.
    for i in 0..(PENDING_WORDS as u64 + 4) {
        m.write(BASE + 0x10_000 + LOG_CHUNK * i, &[1; 8]).unwrap();
    }
    assert!(!log.fences_at_load.borrow().is_empty(), "no early flush");
    assert!(log.fences_at_load.borrow().iter().all(|&f| f >= 1));
    let before = mem.fences();
    m.store_u16_release(idx, 1).unwrap();
    assert!(log
        .fences_at_load
        .borrow()
        .iter()
        .rev()
        .take(4)
        .all(|&f| f > before));
    let ors = log.log.ors();
    // The same pages again: their bits are still set, so only the index page is ORed (it
    // is marked after the store, unconditionally).
    for i in 0..4 {
        m.write(BASE + 0x10_000 + LOG_CHUNK * i, &[2; 8]).unwrap();
    }
    m.store_u16_release(idx, 2).unwrap();
    assert_eq!(log.log.ors(), ors + 1);
    // The VMM takes the log: the next writes are ORed again.
    let taken = log.log.take();
    assert!(taken.contains(&page(BASE + 0x10_000)) && taken.contains(&page(idx)));
    m.write(BASE + 0x10_000, &[3; 8]).unwrap();
    m.store_u16_release(idx, 3).unwrap();
    assert_eq!(log.log.pages(), vec![page(idx), page(BASE + 0x10_000)]);
    assert_eq!(m.finish(), Ok(()));
}

/// Memory that takes every access and keeps nothing: for tests that only look at the log.
struct NullMemory;

impl GuestMemory for NullMemory {
    fn read(&self, _addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        buf.fill(0);
        Ok(())
    }
    fn write(&self, _addr: u64, _buf: &[u8]) -> Result<(), MemError> {
        Ok(())
    }
    fn load_u16_acquire(&self, _addr: u64) -> Result<u16, MemError> {
        Ok(0)
    }
    fn store_u16_release(&self, _addr: u64, _val: u16) -> Result<(), MemError> {
        Ok(())
    }
    fn fence(&self) {}
}

/// Writes of every shape, in buffers and in used rings (logged at their own address or
/// elsewhere, overlapping each other, sharing pages with buffers), many of them where an
/// earlier one landed, with publications and VMM takes at random points, against
/// [`LogScope::pages`] as the reference: after every publication each page the reference
/// gives for a write since the last take is marked, and in the end what the VMM took and
/// what the log holds are exactly the reference's pages. This is what the covered ranges a
/// pass keeps must not change.
#[test]
fn randomized_writes_against_the_scope() {
    const PAGES: u64 = 4096; // the log's 64 words
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let zeros = [0u8; 9000];
    for round in 0..400 {
        let log = MockLog::new(PAGES / 64);
        let mut rings = Vec::new();
        for _ in 0..rng.below(5) {
            let used = rng.below(PAGES * LOG_PAGE) & !1;
            let log_addr = match rng.below(4) {
                0 => rng.below(PAGES * LOG_PAGE),
                1 => used + rng.below(3 * LOG_PAGE),
                _ => used,
            };
            rings.push(RingLog {
                used,
                len: used_ring_bytes(1 + rng.below(600) as u16),
                log_addr,
            });
        }
        // Sometimes a ring starts inside the one before it.
        if rings.len() > 1 && rng.below(2) == 0 {
            rings[1].used = rings[0].used + rng.below(rings[0].len);
        }
        let scope = LogScope {
            buffers: rng.below(5) != 0,
            rings: &rings,
        };
        let logged = LoggedMemory::new(&NullMemory, &log, scope);
        let (mut model, mut taken, mut since_take) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let note = |r: Option<PageRange>, model: &mut BTreeSet<u64>, since: &mut BTreeSet<u64>| {
            for p in r
                .into_iter()
                .flat_map(|r| r.first..=r.last.min(r.first + PAGES))
            {
                if p < PAGES {
                    model.insert(p);
                    since.insert(p);
                }
            }
        };
        let mut last = 0u64;
        for step in 0..rng.below(300) {
            let near_ring = |rng: &mut XorShift| {
                let r = rings[rng.below(rings.len() as u64) as usize];
                (r.used + rng.below(r.len + 16)).saturating_sub(8)
            };
            match rng.below(14) {
                0 => {
                    let addr = match rings.is_empty() {
                        false => near_ring(&mut rng),
                        true => rng.below(PAGES * LOG_PAGE),
                    };
                    let _ = logged.store_u16_release(addr, 0);
                    note(scope.pages(addr, 2), &mut model, &mut since_take);
                    let got: BTreeSet<u64> = log.pages().into_iter().collect();
                    let lost: Vec<_> = since_take.difference(&got).collect();
                    assert!(
                        lost.is_empty(),
                        "round {round} step {step}: written, published, not marked: {lost:?}"
                    );
                }
                1 => {
                    taken.extend(log.take());
                    since_take.clear();
                }
                k => {
                    let addr = match k {
                        2..=6 => last.saturating_add(rng.below(200)),
                        7..=9 if !rings.is_empty() => near_ring(&mut rng),
                        10 => u64::MAX - rng.below(100),
                        _ => rng.below(PAGES * LOG_PAGE + 8192),
                    };
                    let len = match rng.below(5) {
                        0 => rng.below(zeros.len() as u64),
                        1 => 12,
                        2 => 64,
                        _ => 8,
                    } as usize;
                    let _ = logged.write(addr, &zeros[..len]);
                    note(scope.pages(addr, len as u64), &mut model, &mut since_take);
                    last = addr.saturating_add(len as u64);
                }
            }
        }
        let _ = logged.finish();
        let got: BTreeSet<u64> = log.pages().into_iter().collect();
        assert!(
            since_take.is_subset(&got),
            "round {round}: a write unmarked at the end"
        );
        assert_eq!(
            &got | &taken,
            model,
            "round {round}: marked other pages than written"
        );
    }
}

/// A write over more log words than the pending set holds is marked at once, and a later
/// write inside it is marked again after the VMM has taken the log.
#[test]
fn a_write_wider_than_the_set_is_marked_at_once() {
    const WORDS: u64 = 64;
    let log = MockLog::new(WORDS);
    let m = LoggedMemory::new(&NullMemory, &log, BUFFERS);
    let len = (PENDING_WORDS as u64 + 2) * LOG_CHUNK;
    m.copy(LOG_CHUNK, 0, len).unwrap();
    let first = LOG_CHUNK / LOG_PAGE;
    assert_eq!(
        log.pages(),
        (first..first + len / LOG_PAGE).collect::<Vec<_>>()
    );
    assert_eq!(log.take().len() as u64, len / LOG_PAGE);
    m.write(LOG_CHUNK + 5 * LOG_PAGE, &[1; 8]).unwrap();
    m.store_u16_release(0x10, 1).unwrap();
    assert_eq!(log.pages(), vec![0, first + 5]);
    assert_eq!(m.finish(), Ok(()));
}

/// Buffer writes next to two rings, and a write in a ring: each buffer write is logged at
/// its own address and the ring write at the ring's, whichever way [`LoggedMemory`] takes
/// them. The writes at 0xa000 and 0x4010 take the one-page path (the set is empty, then the
/// page's word is the one touched last); the one in the page ring 0 ends in, and the ring
/// write, go through [`LogScope::locate`].
#[test]
fn buffer_writes_between_and_beside_rings() {
    let rings = [
        RingLog {
            used: 0x1000,
            len: used_ring_bytes(64),
            log_addr: 0x20_0000,
        },
        RingLog {
            used: 0x8000,
            len: used_ring_bytes(64),
            log_addr: 0x30_0000,
        },
    ];
    let log = MockLog::new(LOG_WORDS);
    let m = LoggedMemory::new(
        &NullMemory,
        &log,
        LogScope {
            buffers: true,
            rings: &rings,
        },
    );
    m.write(0xa000, &[0; 8]).unwrap();
    m.write(0x4010, &[0; 12]).unwrap();
    m.write(0x4100, &[0; 64]).unwrap();
    // 0x1300 is past ring 0's 518 bytes, in its page.
    m.write(0x1300, &[0; 8]).unwrap();
    m.write(0x1010, &[0; 8]).unwrap();
    assert_eq!(m.finish(), Ok(()));
    assert_eq!(log.pages(), vec![0x1, 0x4, 0xa, 0x200]);
}
