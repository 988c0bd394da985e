// SPDX-License-Identifier: GPL-2.0
//! Unit tests, including a randomized comparison of the pass set against a page-by-page
//! model.

use std::collections::BTreeSet;
use std::vec;
use std::vec::Vec;

use super::mock::MockLog;
use super::*;

fn range(first: u64, last: u64) -> PageRange {
    PageRange { first, last }
}

#[test]
fn pages_of_a_write() {
    assert_eq!(PageRange::of_write(0, 0), None);
    assert_eq!(PageRange::of_write(0, 1), Some(range(0, 0)));
    assert_eq!(PageRange::of_write(4095, 1), Some(range(0, 0)));
    // A buffer crossing a page boundary marks both pages.
    assert_eq!(PageRange::of_write(4095, 2), Some(range(0, 1)));
    assert_eq!(PageRange::of_write(4096, 4096), Some(range(1, 1)));
    assert_eq!(PageRange::of_write(4096, 4097), Some(range(1, 2)));
    // The top of the address space: the last page exists, a wrap does not.
    let top = u64::MAX >> LOG_PAGE_SHIFT;
    assert_eq!(PageRange::of_write(u64::MAX, 1), Some(range(top, top)));
    assert_eq!(
        PageRange::of_write(u64::MAX - 4095, 4096),
        Some(range(top, top))
    );
    assert_eq!(PageRange::of_write(u64::MAX, 2), None);
    assert_eq!(PageRange::of_write(2, u64::MAX), None);
    assert_eq!(PageRange::of_write(1, u64::MAX), Some(range(0, top)));
    assert_eq!(PageRange::of_write(0, u64::MAX), Some(range(0, top)));
}

#[test]
fn log_size_as_qemu_computes_it() {
    // One word covers 256 KiB.
    assert_eq!(log_bytes_for(0), 8);
    assert_eq!(log_bytes_for(LOG_CHUNK - 1), 8);
    assert_eq!(log_bytes_for(LOG_CHUNK), 16);
    // 4 GiB of guest: 16384 words, 128 KiB of log.
    assert_eq!(log_bytes_for((4 << 30) - 1), 128 << 10);
    assert_eq!(log_bytes_for(u64::MAX), (u64::MAX / LOG_CHUNK + 1) * 8);
}

#[test]
fn words_and_masks() {
    let w: Vec<(u64, u64)> = words(range(0, 0)).collect();
    assert_eq!(w, vec![(0, 1)]);
    let w: Vec<(u64, u64)> = words(range(3, 5)).collect();
    assert_eq!(w, vec![(0, 0b111000)]);
    let w: Vec<(u64, u64)> = words(range(63, 64)).collect();
    assert_eq!(w, vec![(0, 1 << 63), (1, 1)]);
    let w: Vec<(u64, u64)> = words(range(60, 200)).collect();
    assert_eq!(
        w,
        vec![(0, 0xf << 60), (1, u64::MAX), (2, u64::MAX), (3, 0x1ff)]
    );
    let w: Vec<(u64, u64)> = words(range(64, 127)).collect();
    assert_eq!(w, vec![(1, u64::MAX)]);
    // The very last page of a 64-bit space, and an empty range.
    let top = u64::MAX >> LOG_PAGE_SHIFT;
    let w: Vec<(u64, u64)> = words(range(top, top)).collect();
    assert_eq!(w, vec![(top / 64, 1 << 63)]);
    assert_eq!(words(range(5, 4)).count(), 0);
}

#[test]
fn mark_sets_exactly_the_pages() {
    let log = MockLog::new(4);
    mark(&log, range(2, 2)).unwrap();
    mark(&log, range(62, 66)).unwrap();
    assert_eq!(log.pages(), vec![2, 62, 63, 64, 65, 66]);
    // QEMU's exchange clears; later marks show again.
    assert_eq!(log.take().len(), 6);
    assert!(log.pages().is_empty());
    mark(&log, range(2, 2)).unwrap();
    assert_eq!(log.pages(), vec![2]);
}

#[test]
fn a_log_too_small_marks_what_it_covers() {
    // Two words: pages 0..=127.
    let log = MockLog::new(2);
    assert_eq!(mark(&log, range(120, 130)), Err(LogError::OutOfLog));
    assert_eq!(log.pages(), (120..=127).collect::<Vec<_>>());
    // A huge IOVA is far past any log.
    let top = u64::MAX >> LOG_PAGE_SHIFT;
    assert_eq!(mark(&log, range(top, top)), Err(LogError::OutOfLog));
    // An empty log covers nothing.
    assert_eq!(mark(&MockLog::new(0), range(0, 0)), Err(LogError::OutOfLog));
}

#[test]
fn a_fault_is_reported() {
    let mut log = MockLog::new(4);
    log.fail_word(1);
    assert_eq!(mark(&log, range(0, 200)), Err(LogError::Fault));
    // The word before the fault was marked.
    assert_eq!(log.pages(), (0..64).collect::<Vec<_>>());
}

#[test]
fn pass_set_keeps_each_word_once_with_its_bits() {
    let mut s = DirtyPages::<4>::new();
    assert!(s.is_empty());
    s.add(range(10, 10)).unwrap();
    s.add(range(11, 12)).unwrap();
    s.add(range(8, 9)).unwrap();
    s.add(range(9, 11)).unwrap();
    assert_eq!(s.pending(), &[(0, 0b1_1111_0000_0000)]);
    // A range across a word boundary sets bits in both.
    s.add(range(62, 65)).unwrap();
    assert_eq!(s.pending(), &[(0, 0b1_1111_0000_0000 | 3 << 62), (1, 3)]);
    s.add(range(200, 200)).unwrap();
    s.add(range(300, 300)).unwrap();
    // A fifth word finds no slot; a page of a word held still joins.
    assert_eq!(s.add(range(400, 400)), Err(Full));
    s.add(range(13, 13)).unwrap();
    assert_eq!(s.pending().len(), 4);
    assert_eq!(s.pending()[0], (0, 0b11_1111_0000_0000 | 3 << 62));
    // A range whose words do not all find a slot changes nothing; one over words held does.
    let mut t = DirtyPages::<2>::new();
    t.add(range(0, 0)).unwrap();
    assert_eq!(t.add(range(127, 128)), Err(Full));
    assert_eq!(t.pending(), &[(0, 1)]);
    t.add(range(63, 64)).unwrap();
    assert_eq!(t.pending(), &[(0, 1 | 1 << 63), (1, 1)]);
    assert_eq!(DirtyPages::<2>::new().add(range(0, 191)), Err(Full));
    // Inverted ranges are ignored.
    s.add(range(5, 4)).unwrap();
    assert_eq!(s.pending().len(), 4);
}

/// The datapath's shortcut takes a page only into an empty set or the word touched last,
/// and leaves everything else to `add`.
#[test]
fn a_page_joins_the_last_word_or_an_empty_set() {
    let mut s = DirtyPages::<4>::new();
    assert!(s.add_page_to_last(70));
    assert!(s.add_page_to_last(65));
    assert_eq!(s.pending(), &[(1, 1 << 6 | 1 << 1)]);
    // Another word, even one held but not touched last, is not taken.
    assert!(!s.add_page_to_last(3));
    s.add(range(3, 3)).unwrap();
    assert!(!s.add_page_to_last(66));
    assert_eq!(s.pending(), &[(1, 1 << 6 | 1 << 1), (0, 1 << 3)]);
    assert!(s.add_page_to_last(4));
    assert_eq!(s.pending()[1], (0, 1 << 3 | 1 << 4));
    // After a flush the set is empty again and takes any page.
    let log = MockLog::new(4);
    s.flush(&log).unwrap();
    assert!(s.add_page_to_last(255));
    assert_eq!(s.pending(), &[(3, 1 << 63)]);
}

#[test]
fn flush_reads_bits_set_and_ors_the_rest() {
    let log = MockLog::new(8);
    let mut s = DirtyPages::<4>::new();
    s.add(range(1, 2)).unwrap();
    s.add(range(70, 70)).unwrap();
    s.flush(&log).unwrap();
    assert_eq!((log.pages(), log.ors()), (vec![1, 2, 70], 2));
    // The same pages again: their bits are set, so nothing is ORed.
    s.add(range(1, 2)).unwrap();
    s.add(range(70, 70)).unwrap();
    s.flush(&log).unwrap();
    assert_eq!(log.ors(), 2);
    // One more page in a word already touched: that word is ORed again.
    s.add(range(1, 3)).unwrap();
    s.flush(&log).unwrap();
    assert_eq!((log.pages(), log.ors()), (vec![1, 2, 3, 70], 3));
    // The VMM takes the log: everything is marked again.
    assert_eq!(log.take(), vec![1, 2, 3, 70]);
    s.add(range(1, 3)).unwrap();
    s.add(range(70, 70)).unwrap();
    s.flush(&log).unwrap();
    assert_eq!((log.pages(), log.ors()), (vec![1, 2, 3, 70], 5));
}

#[test]
fn flush_tries_every_word_and_empties() {
    let log = MockLog::new(1);
    let mut s = DirtyPages::<4>::new();
    s.add(range(100, 100)).unwrap();
    s.add(range(3, 3)).unwrap();
    assert_eq!(s.flush(&log), Err(LogError::OutOfLog));
    assert_eq!(log.pages(), vec![3]);
    assert!(s.is_empty());
}

#[test]
fn ring_log_uses_the_log_address() {
    let r = RingLog {
        used: 0x10_0000,
        len: used_ring_bytes(1024),
        log_addr: 0x7_0000,
    };
    assert_eq!(used_ring_bytes(1024), 8198);
    // The used index at +2, an element at +4 + 8 * 511 crossing into the next page.
    assert_eq!(r.pages(0x10_0002, 2), Some(range(0x70, 0x70)));
    assert_eq!(r.pages(0x10_0ffc, 8), Some(range(0x70, 0x71)));
    // avail_event, the ring's last two bytes; then the first byte past the ring.
    assert_eq!(r.pages(0x10_2004, 2), Some(range(0x72, 0x72)));
    assert_eq!(r.pages(0x10_2006, 1), None);
    assert_eq!(r.pages(0x0f_ffff, 1), None);
    assert_eq!(r.pages(0x10_0000, 0), None);
    let top = RingLog {
        used: 0,
        len: 16,
        log_addr: u64::MAX,
    };
    assert_eq!(top.pages(1, 1), None);
}

/// xorshift64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Writes of every shape through a small pass set, flushed at random points, and the log
/// taken by the VMM at others, against the set of pages written: what the VMM took and what
/// the log ends with are exactly those pages, no more, whatever the capacity and the merges,
/// and a page written again after a take is marked again.
#[test]
fn randomized_passes_against_model() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for round in 0..300 {
        let log = MockLog::new(64); // pages 0..4096
        let mut s = DirtyPages::<3>::new();
        let mut model = BTreeSet::new();
        // Pages the VMM took, and pages written since it last took.
        let mut taken = BTreeSet::new();
        let mut since_take = BTreeSet::new();
        let mut out_of_log = false;
        for _ in 0..rng.below(60) {
            let addr = match rng.below(8) {
                0 => rng.next(),
                1 => (4096 * 4096) - rng.below(8192),
                _ => rng.below(4096 * 64),
            };
            let len = match rng.below(6) {
                0 => 0,
                1 => rng.below(1 << 20),
                _ => rng.below(3000),
            };
            let Some(r) = PageRange::of_write(addr, len) else {
                continue;
            };
            for p in r.first..=r.last.min(r.first + 100_000) {
                if p < 4096 {
                    model.insert(p);
                    since_take.insert(p);
                } else {
                    out_of_log = true;
                }
            }
            if r.last - r.first > 100_000 {
                out_of_log = true;
            }
            if s.add(r).is_err() {
                let flushed = s.flush(&log);
                if flushed.is_err() {
                    assert_eq!(flushed, Err(LogError::OutOfLog), "round {round}");
                }
                // More words than the set holds: marked at once, as LoggedMemory does.
                if s.add(r).is_err() {
                    let _ = mark(&log, r);
                }
            }
            match rng.below(10) {
                0 => {
                    let _ = s.flush(&log);
                }
                // The VMM syncs: the pages taken must be marked again when written again.
                1 => {
                    taken.extend(log.take());
                    since_take.clear();
                }
                _ => {}
            }
        }
        let last = s.flush(&log);
        if !out_of_log {
            assert_eq!(last, Ok(()), "round {round}");
        }
        let got: BTreeSet<u64> = log.pages().into_iter().collect();
        assert!(
            since_take.is_subset(&got),
            "round {round}: a page written since the take is unmarked"
        );
        assert_eq!(&got | &taken, model, "round {round}");
    }
}
