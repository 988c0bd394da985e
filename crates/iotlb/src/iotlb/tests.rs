// SPDX-License-Identifier: GPL-2.0
//! Unit tests, including a randomized comparison against a brute-force model.

use std::vec;
use std::vec::Vec;

use super::model::{storage, Model};
use super::*;

const MAX: u64 = u64::MAX;

type VecTable<T> = Table<T, Vec<Mapping<T>>>;

fn table<T: Copy>(cap: usize, fill: T) -> VecTable<T> {
    Table::new(vec![
        Mapping {
            first: 0,
            last: 0,
            value: fill,
        };
        cap
    ])
}

fn ranges<T: Copy>(t: &VecTable<T>) -> Vec<(u64, u64)> {
    t.iter().map(|m| (m.first, m.last)).collect()
}

fn removed<T: Copy>(t: &mut VecTable<T>, first: u64, last: u64) -> (usize, Vec<(u64, u64)>) {
    let mut seen = Vec::new();
    let n = t.remove_overlapping(first, last, |m| seen.push((m.first, m.last)));
    (n, seen)
}

#[test]
fn new_table_ignores_storage_contents() {
    let t = Table::new(vec![
        Mapping {
            first: 5,
            last: 9,
            value: 1u32,
        };
        3
    ]);
    assert!(t.is_empty());
    assert_eq!(t.len(), 0);
    assert_eq!(t.capacity(), 3);
    assert!(t.iter().next().is_none());
    assert_eq!(t.lookup(5), None);
}

#[test]
fn slice_storage_works() {
    let mut buf = [Mapping {
        first: 0,
        last: 0,
        value: 0u8,
    }; 2];
    let mut t = Table::new(&mut buf[..]);
    assert_eq!(t.insert(1, 2, 7), Ok(()));
    assert_eq!(t.lookup(2).map(|m| m.value), Some(7));
}

#[test]
fn insert_keeps_order() {
    let mut t = table(8, 0u32);
    for (i, (f, l)) in [(20, 29), (0, 9), (40, 49), (10, 19), (30, 30)]
        .into_iter()
        .enumerate()
    {
        assert_eq!(t.insert(f, l, i as u32), Ok(()));
    }
    assert_eq!(ranges(&t), [(0, 9), (10, 19), (20, 29), (30, 30), (40, 49)]);
    let values: Vec<u32> = t.iter().map(|m| m.value).collect();
    assert_eq!(values, [1, 3, 0, 4, 2]);
    assert_eq!(t.len(), 5);
    assert!(!t.is_empty());
}

#[test]
fn insert_rejects_inverted_range() {
    let mut t = table(4, ());
    assert_eq!(t.insert(10, 9, ()), Err(InsertError::Invalid));
    assert_eq!(t.insert(MAX, 0, ()), Err(InsertError::Invalid));
    assert!(t.is_empty());
    assert_eq!(t.insert(9, 9, ()), Ok(()));
}

#[test]
fn every_overlap_shape_is_refused() {
    let mut t = table(16, 0u8);
    t.insert(10, 19, 1).unwrap();
    for (f, l) in [
        (10, 19), // duplicate
        (5, 10),  // over the start
        (19, 25), // over the end
        (0, 30),  // containing
        (12, 15), // contained
        (10, 10), // first byte
        (19, 19), // last byte
        (0, MAX), // everything
    ] {
        assert_eq!(t.insert(f, l, 2), Err(InsertError::Overlap), "[{f}, {l}]");
        assert!(t.overlaps(f, l), "[{f}, {l}]");
    }
    assert_eq!(ranges(&t), [(10, 19)]);
    // Touching on either side is fine.
    assert!(!t.overlaps(0, 9));
    assert!(!t.overlaps(20, 29));
    assert_eq!(t.insert(0, 9, 3), Ok(()));
    assert_eq!(t.insert(20, 29, 4), Ok(()));
    assert_eq!(ranges(&t), [(0, 9), (10, 19), (20, 29)]);
    // Overlapping two neighbours at once.
    assert_eq!(t.insert(9, 20, 5), Err(InsertError::Overlap));
    assert!(!t.overlaps(30, MAX));
    assert!(!t.overlaps(20, 10));
}

#[test]
fn full_at_capacity_and_overlap_reported_first() {
    let mut t = table(2, 0u8);
    t.insert(0, 9, 1).unwrap();
    t.insert(20, 29, 2).unwrap();
    assert_eq!(t.insert(10, 19, 3), Err(InsertError::Full));
    assert_eq!(t.insert(5, 15, 3), Err(InsertError::Overlap));
    assert_eq!(t.insert(20, 29, 3), Err(InsertError::Overlap));
    assert_eq!(t.insert(30, 20, 3), Err(InsertError::Invalid));
    assert_eq!(ranges(&t), [(0, 9), (20, 29)]);
    // Space freed by a removal is usable again.
    assert_eq!(removed(&mut t, 0, 0).0, 1);
    assert_eq!(t.insert(10, 19, 3), Ok(()));
    assert_eq!(ranges(&t), [(10, 19), (20, 29)]);

    let mut none = table(0, 0u8);
    assert_eq!(none.capacity(), 0);
    assert_eq!(none.insert(0, 0, 0), Err(InsertError::Full));
    assert_eq!(removed(&mut none, 0, MAX).0, 0);
}

#[test]
fn insert_growing_doubles_up_to_max_and_keeps_entries() {
    let mut t = table(2, 0u32);
    let mut asked = Vec::new();
    // Pages given in descending order, the way scattered guest memory often pins, so every
    // insert lands at the front and the move must keep the order.
    for i in (0..40u64).rev() {
        let r = t.insert_growing(i * 10, i * 10 + 9, i as u32, 40, |n| {
            asked.push(n);
            Some(storage(n, 7))
        });
        assert_eq!(r, Ok(()), "entry {i}");
    }
    // 2 -> 16 (the minimum step) -> 32 -> 40 (the cap), each only when full.
    assert_eq!(asked, [MIN_GROWN_CAPACITY, 32, 40]);
    assert_eq!(t.capacity(), 40);
    assert_eq!(t.len(), 40);
    let want: Vec<(u64, u64)> = (0..40u64).map(|i| (i * 10, i * 10 + 9)).collect();
    assert_eq!(ranges(&t), want);
    assert!(t.iter().all(|m| u64::from(m.value) * 10 == m.first));
    // At the cap: Full, and the allocator is not asked.
    let r = t.insert_growing(1000, 1009, 0, 40, |_| panic!("grew past max"));
    assert_eq!(r, Err(InsertError::Full));
    // Overlap and Invalid are reported before any growth.
    let mut small = table(1, 0u32);
    small.insert(0, 9, 1).unwrap();
    let no_alloc = |_| -> Option<Vec<Mapping<u32>>> { panic!("allocated for a refused insert") };
    assert_eq!(
        small.insert_growing(5, 6, 2, 99, no_alloc),
        Err(InsertError::Overlap)
    );
    assert_eq!(
        small.insert_growing(6, 5, 2, 99, no_alloc),
        Err(InsertError::Invalid)
    );
}

#[test]
fn insert_growing_without_memory_changes_nothing() {
    let mut t = table(2, 0u8);
    t.insert(0, 9, 1).unwrap();
    t.insert(20, 29, 2).unwrap();
    assert_eq!(
        t.insert_growing(10, 19, 3, 100, |_| None),
        Err(InsertError::NoMemory)
    );
    // An allocator that returns too little is treated the same.
    assert_eq!(
        t.insert_growing(10, 19, 3, 100, |_| Some(storage(2, 0))),
        Err(InsertError::NoMemory)
    );
    assert_eq!(t.capacity(), 2);
    assert_eq!(ranges(&t), [(0, 9), (20, 29)]);
    // A zero max never grows.
    let mut none = table(0, 0u8);
    assert_eq!(
        none.insert_growing(0, 0, 0, 0, |_| panic!("grew past max")),
        Err(InsertError::Full)
    );
}

#[test]
fn replace_storage_refuses_storage_too_small() {
    let mut t = table(4, 0u8);
    for i in 0..3u64 {
        t.insert(i * 10, i * 10 + 9, i as u8).unwrap();
    }
    let back = t.replace_storage(storage(2, 9)).unwrap_err();
    assert_eq!(back.len(), 2);
    assert_eq!(ranges(&t), [(0, 9), (10, 19), (20, 29)]);
    let old = t.replace_storage(storage(3, 9)).unwrap();
    assert_eq!(old.len(), 4);
    assert_eq!(t.capacity(), 3);
    assert_eq!(ranges(&t), [(0, 9), (10, 19), (20, 29)]);
    assert_eq!(t.insert(30, 39, 3), Err(InsertError::Full));
}

#[test]
fn lookup_hits_and_misses_at_edges() {
    let mut t = table(8, 0u32);
    assert_eq!(t.lookup(0), None);
    t.insert(10, 19, 1).unwrap();
    t.insert(20, 20, 2).unwrap();
    t.insert(0, 0, 3).unwrap();
    t.insert(MAX - 1, MAX, 4).unwrap();
    let v = |a| t.lookup(a).map(|m| m.value);
    assert_eq!(v(0), Some(3));
    assert_eq!(v(1), None);
    assert_eq!(v(9), None);
    assert_eq!(v(10), Some(1));
    assert_eq!(v(15), Some(1));
    assert_eq!(v(19), Some(1));
    assert_eq!(v(20), Some(2));
    assert_eq!(v(21), None);
    assert_eq!(v(MAX - 2), None);
    assert_eq!(v(MAX - 1), Some(4));
    assert_eq!(v(MAX), Some(4));
    assert_eq!(
        t.lookup(12),
        Some(Mapping {
            first: 10,
            last: 19,
            value: 1
        })
    );
}

#[test]
fn remove_subrange_removes_whole_entry() {
    let mut t = table(4, 0u8);
    t.insert(0, 99, 1).unwrap();
    t.insert(100, 199, 2).unwrap();
    assert_eq!(removed(&mut t, 50, 50), (1, vec![(0, 99)]));
    assert_eq!(ranges(&t), [(100, 199)]);
    assert_eq!(t.lookup(10), None);
}

#[test]
fn remove_spanning_two_spares_neighbours() {
    let mut t = table(8, 0u8);
    for (i, f) in [0u64, 10, 20, 30].into_iter().enumerate() {
        t.insert(f, f + 9, i as u8).unwrap();
    }
    let mut seen = Vec::new();
    let n = t.remove_overlapping(15, 25, |m| seen.push(m));
    assert_eq!(n, 2);
    assert_eq!(
        seen,
        [
            Mapping {
                first: 10,
                last: 19,
                value: 1
            },
            Mapping {
                first: 20,
                last: 29,
                value: 2
            }
        ]
    );
    assert_eq!(ranges(&t), [(0, 9), (30, 39)]);
    assert_eq!(t.lookup(35).map(|m| m.value), Some(3));
    // Exact boundaries hit exactly the entries they touch.
    assert_eq!(removed(&mut t, 9, 30), (2, vec![(0, 9), (30, 39)]));
    assert!(t.is_empty());
}

#[test]
fn remove_hitting_nothing() {
    let mut t = table(8, 0u8);
    assert_eq!(removed(&mut t, 0, MAX), (0, vec![]));
    t.insert(10, 19, 0).unwrap();
    t.insert(30, 39, 0).unwrap();
    assert_eq!(removed(&mut t, 20, 29), (0, vec![]));
    assert_eq!(removed(&mut t, 0, 9), (0, vec![]));
    assert_eq!(removed(&mut t, 40, MAX), (0, vec![]));
    // Inverted ranges match nothing, even one straddled by an entry.
    assert_eq!(removed(&mut t, 15, 14), (0, vec![]));
    assert_eq!(removed(&mut t, MAX, 0), (0, vec![]));
    assert_eq!(ranges(&t), [(10, 19), (30, 39)]);
}

#[test]
fn remove_whole_space_removes_all() {
    let mut t = table(8, 0u8);
    t.insert(0, 0, 0).unwrap();
    t.insert(100, 200, 0).unwrap();
    t.insert(MAX, MAX, 0).unwrap();
    assert_eq!(
        removed(&mut t, 0, MAX),
        (3, vec![(0, 0), (100, 200), (MAX, MAX)])
    );
    assert!(t.is_empty());
}

#[test]
fn entries_at_top_of_address_space() {
    let mut t = table(8, 0u8);
    t.insert(MAX, MAX, 1).unwrap();
    t.insert(MAX - 10, MAX - 1, 2).unwrap();
    assert_eq!(t.insert(MAX - 1, MAX, 3), Err(InsertError::Overlap));
    assert_eq!(t.insert(0, MAX, 3), Err(InsertError::Overlap));
    assert!(t.overlaps(MAX, MAX));
    assert!(!t.overlaps(0, MAX - 11));
    assert_eq!(ranges(&t), [(MAX - 10, MAX - 1), (MAX, MAX)]);
    assert_eq!(removed(&mut t, MAX, MAX), (1, vec![(MAX, MAX)]));
    assert_eq!(t.lookup(MAX), None);
    assert_eq!(t.lookup(MAX - 1).map(|m| m.value), Some(2));
    t.insert(0, MAX - 11, 4).unwrap();
    assert_eq!(removed(&mut t, MAX - 11, MAX - 10).0, 2);
    assert!(t.is_empty());
}

#[test]
fn clear_hands_over_everything() {
    let mut t = table(8, 0u32);
    t.insert(50, 59, 5).unwrap();
    t.insert(10, 19, 1).unwrap();
    t.insert(MAX, MAX, 9).unwrap();
    let mut seen = Vec::new();
    t.clear(|m| seen.push((m.first, m.value)));
    assert_eq!(seen, [(10, 1), (50, 5), (MAX, 9)]);
    assert!(t.is_empty());
    assert_eq!(t.lookup(15), None);
    let mut calls = 0;
    t.clear(|_| calls += 1);
    assert_eq!(calls, 0);
    assert_eq!(t.insert(10, 19, 2), Ok(()));
}

#[test]
fn invalidate_range_matches_vhost_vdpa() {
    assert_eq!(invalidate_range(0, 0), (0, MAX));
    assert_eq!(invalidate_range(0, MAX), (0, MAX - 1));
    assert_eq!(invalidate_range(0x1000, 0), (0x1000, 0xfff));
    assert_eq!(invalidate_range(0x1000, 0x1000), (0x1000, 0x1fff));
    assert_eq!(invalidate_range(MAX, 1), (MAX, MAX));
    assert_eq!(invalidate_range(MAX, 2), (MAX, 0));

    let mut t = table(4, 0u8);
    t.insert(0, 99, 0).unwrap();
    t.insert(MAX, MAX, 0).unwrap();
    // size 0 at a non-zero iova is an inverted range: nothing goes.
    let (f, l) = invalidate_range(50, 0);
    assert_eq!(removed(&mut t, f, l).0, 0);
    // {0, u64::MAX} stops one short of the top.
    let (f, l) = invalidate_range(0, MAX);
    assert_eq!(removed(&mut t, f, l), (1, vec![(0, 99)]));
    assert_eq!(ranges(&t), [(MAX, MAX)]);
    // {0, 0} is the "flush everything" message.
    t.insert(0, 99, 0).unwrap();
    let (f, l) = invalidate_range(0, 0);
    assert_eq!(removed(&mut t, f, l).0, 2);
    assert!(t.is_empty());
}

fn dma_table() -> VecTable<DmaTarget> {
    table(16, DmaTarget { addr: 0, perm: 0 })
}

fn map(t: &mut VecTable<DmaTarget>, first: u64, last: u64, addr: u64, p: u8) {
    t.insert(first, last, DmaTarget { addr, perm: p }).unwrap();
}

/// One callback call: physical address, length, offset in the request.
type Piece = (u64, u64, u64);

/// Runs a translation that never fails in the callback and collects its pieces.
fn pieces(
    t: &VecTable<DmaTarget>,
    iova: u64,
    len: u64,
    need: u8,
) -> (Result<(), Error<()>>, Vec<Piece>) {
    let mut out = Vec::new();
    let r = t.translate(iova, len, need, |a, l, o| {
        out.push((a, l, o));
        Ok(())
    });
    (r, out)
}

const RW: u8 = perm::READ | perm::WRITE;

#[test]
fn translate_within_one_mapping() {
    let mut t = dma_table();
    map(&mut t, 0x1000, 0x1fff, 0x8_0000, RW);
    assert_eq!(
        pieces(&t, 0x1010, 0x20, perm::READ),
        (Ok(()), vec![(0x8_0010, 0x20, 0)])
    );
    assert_eq!(
        pieces(&t, 0x1000, 0x1000, RW),
        (Ok(()), vec![(0x8_0000, 0x1000, 0)])
    );
    // One byte past the end is a gap.
    assert_eq!(
        pieces(&t, 0x1000, 0x1001, RW),
        (
            Err(Error::Translate(TranslateError::Unmapped)),
            vec![(0x8_0000, 0x1000, 0)]
        )
    );
}

#[test]
fn translate_across_adjacent_mappings() {
    let mut t = dma_table();
    map(&mut t, 0x1000, 0x1fff, 0x10_0000, RW);
    map(&mut t, 0x2000, 0x2fff, 0x50_0000, perm::READ);
    assert_eq!(
        pieces(&t, 0x1800, 0x1000, perm::READ),
        (
            Ok(()),
            vec![(0x10_0800, 0x800, 0), (0x50_0000, 0x800, 0x800)]
        )
    );
    // Physically contiguous neighbours still give one piece each.
    let mut c = dma_table();
    map(&mut c, 0, 0xfff, 0x4000, RW);
    map(&mut c, 0x1000, 0x1fff, 0x5000, RW);
    map(&mut c, 0x2000, 0x2000, 0x6000, RW);
    assert_eq!(
        pieces(&c, 0xffe, 0x1003, perm::WRITE),
        (
            Ok(()),
            vec![(0x4ffe, 2, 0), (0x5000, 0x1000, 2), (0x6000, 1, 0x1002)]
        )
    );
}

#[test]
fn translate_gap_is_unmapped() {
    let mut t = dma_table();
    map(&mut t, 0x1000, 0x1fff, 0x10_0000, RW);
    map(&mut t, 0x3000, 0x3fff, 0x20_0000, RW);
    // The prefix before the gap has been handed out already.
    assert_eq!(
        pieces(&t, 0x1f00, 0x1200, perm::READ),
        (
            Err(Error::Translate(TranslateError::Unmapped)),
            vec![(0x10_0f00, 0x100, 0)]
        )
    );
    assert_eq!(
        pieces(&t, 0x2fff, 2, perm::READ),
        (Err(Error::Translate(TranslateError::Unmapped)), vec![])
    );
    assert_eq!(
        pieces(&dma_table(), 0, 1, perm::READ),
        (Err(Error::Translate(TranslateError::Unmapped)), vec![])
    );
}

#[test]
fn translate_checks_permissions() {
    let mut t = dma_table();
    map(&mut t, 0, 0xfff, 0x1000, perm::READ);
    map(&mut t, 0x1000, 0x1fff, 0x2000, perm::WRITE);
    map(&mut t, 0x2000, 0x2fff, 0x3000, RW);
    let denied = Err(Error::Translate(TranslateError::Denied));
    assert_eq!(pieces(&t, 0, 0x10, perm::WRITE), (denied, vec![]));
    assert_eq!(pieces(&t, 0, 0x10, RW), (denied, vec![]));
    assert_eq!(pieces(&t, 0, 0x10, perm::READ).0, Ok(()));
    assert_eq!(pieces(&t, 0x1000, 0x10, perm::READ), (denied, vec![]));
    assert_eq!(pieces(&t, 0x1000, 0x10, perm::WRITE).0, Ok(()));
    assert_eq!(pieces(&t, 0x2000, 0x1000, RW).0, Ok(()));
    // A write that starts in the write-only entry and runs into the
    // read-write one is fine; one that starts in the read-only entry is not.
    assert_eq!(pieces(&t, 0x1ff0, 0x20, perm::WRITE).1.len(), 2);
    assert_eq!(pieces(&t, 0xff0, 0x20, perm::WRITE), (denied, vec![]));
    // Denied after a good prefix.
    assert_eq!(
        pieces(&t, 0xff0, 0x20, perm::READ),
        (denied, vec![(0x1ff0, 0x10, 0)])
    );
}

#[test]
fn translate_perm_zero_denies_everything() {
    let mut t = dma_table();
    map(&mut t, 0, 0xfff, 0x1000, 0);
    for need in [0, perm::READ, perm::WRITE, RW] {
        assert_eq!(
            pieces(&t, 0x10, 0x10, need),
            (Err(Error::Translate(TranslateError::Denied)), vec![]),
            "need {need}"
        );
    }
}

#[test]
fn translate_zero_length() {
    let t = dma_table();
    assert_eq!(pieces(&t, 0x1234, 0, perm::READ), (Ok(()), vec![]));
    assert_eq!(pieces(&t, MAX, 0, RW), (Ok(()), vec![]));
}

#[test]
fn translate_overflow() {
    let mut t = dma_table();
    map(&mut t, 0, MAX, 0, RW);
    let overflow = Err(Error::Translate(TranslateError::Overflow));
    assert_eq!(pieces(&t, MAX, 2, perm::READ), (overflow, vec![]));
    assert_eq!(pieces(&t, 2, MAX, perm::READ), (overflow, vec![]));
    assert_eq!(pieces(&t, MAX, MAX, perm::READ), (overflow, vec![]));
    // The largest request there is: 2^64 - 1 bytes.
    assert_eq!(pieces(&t, 1, MAX, perm::READ), (Ok(()), vec![(1, MAX, 0)]));
    assert_eq!(pieces(&t, 0, MAX, perm::READ), (Ok(()), vec![(0, MAX, 0)]));
}

#[test]
fn translate_physical_overflow() {
    let mut t = dma_table();
    map(&mut t, 0, 0xfff, MAX - 0x7ff, RW);
    map(&mut t, 0x1000, 0x1fff, MAX, RW);
    let overflow = Err(Error::Translate(TranslateError::Overflow));
    assert_eq!(
        pieces(&t, 0, 0x800, perm::READ),
        (Ok(()), vec![(MAX - 0x7ff, 0x800, 0)])
    );
    assert_eq!(pieces(&t, 0, 0x801, perm::READ), (overflow, vec![]));
    // The start itself wraps.
    assert_eq!(pieces(&t, 0x1001, 1, perm::READ), (overflow, vec![]));
    assert_eq!(
        pieces(&t, 0x1000, 1, perm::READ),
        (Ok(()), vec![(MAX, 1, 0)])
    );
}

#[test]
fn translate_range_ending_at_top() {
    let mut t = dma_table();
    map(&mut t, MAX - 0xfff, MAX - 0x800, 0x1000, RW);
    map(&mut t, MAX - 0x7ff, MAX, 0x9000, perm::READ);
    assert_eq!(
        pieces(&t, MAX - 0xf, 0x10, perm::READ),
        (Ok(()), vec![(0x97f0, 0x10, 0)])
    );
    assert_eq!(
        pieces(&t, MAX - 0x80f, 0x810, perm::READ),
        (Ok(()), vec![(0x17f0, 0x10, 0), (0x9000, 0x800, 0x10)])
    );
    assert_eq!(
        pieces(&t, MAX, 1, perm::READ),
        (Ok(()), vec![(0x97ff, 1, 0)])
    );
}

#[test]
fn translate_passes_caller_error_through() {
    let mut t = dma_table();
    map(&mut t, 0, 0xfff, 0x1000, RW);
    map(&mut t, 0x1000, 0x1fff, 0x9000, RW);
    map(&mut t, 0x2000, 0x2fff, 0x5000, RW);
    let mut calls = 0;
    let r = t.translate(0, 0x3000, perm::READ, |_, _, off| {
        calls += 1;
        if off == 0x1000 {
            Err(7u32)
        } else {
            Ok(())
        }
    });
    assert_eq!(r, Err(Error::Caller(7)));
    assert_eq!(calls, 2);
}

/// xorshift64, so the randomized test needs no crate and is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A range in a small window at the bottom or the top of the address
    /// space, so that collisions and `u64::MAX` edges are common; sometimes
    /// inverted.
    fn range(&mut self) -> (u64, u64) {
        let base = if self.below(4) == 0 { MAX - 4095 } else { 0 };
        let first = base + self.below(4096);
        let span = match self.below(10) {
            0 => self.below(512),
            1 => 0,
            _ => self.below(24),
        };
        let last = first.saturating_add(span);
        if self.below(40) == 0 {
            (last.wrapping_add(1), first)
        } else {
            (first, last)
        }
    }
}

#[test]
fn randomized_against_model() {
    const CAP: usize = 64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut t = table(CAP, 0u32);
    let mut model = Model::new();
    let (mut inserted, mut removed_total, mut full, mut overlap) = (0, 0, 0, 0);

    for step in 0..10_000u32 {
        let (f, l) = rng.range();
        match rng.below(1000) {
            0..=599 => {
                let want = model.insert_result(f, l, CAP);
                assert_eq!(t.insert(f, l, step), want, "step {step}: insert [{f}, {l}]");
                match want {
                    Ok(()) => {
                        model.insert(f, l, step);
                        inserted += 1;
                    }
                    Err(InsertError::Full) => full += 1,
                    Err(InsertError::Overlap) => overlap += 1,
                    Err(InsertError::Invalid) | Err(InsertError::NoMemory) => {}
                }
            }
            600..=997 => {
                let want = model.overlapping(f, l);
                let span = want.first().zip(want.last()).map(|(a, b)| (a.0, b.1));
                assert_eq!(t.overlap_span(f, l), span, "step {step}: span [{f}, {l}]");
                assert_eq!(
                    t.overlap_count(f, l),
                    want.len(),
                    "step {step}: count [{f}, {l}]"
                );
                if let Some((a, b)) = span {
                    // The span removes the same set: nothing outside it overlaps it.
                    assert_eq!(
                        model.overlapping(a, b),
                        want,
                        "step {step}: span [{a}, {b}]"
                    );
                }
                let mut got = Vec::new();
                let n = t.remove_overlapping(f, l, |m| got.push((m.first, m.last, m.value)));
                assert_eq!(got, want, "step {step}: remove [{f}, {l}]");
                assert_eq!(n, want.len());
                model.remove(f, l);
                removed_total += n;
            }
            _ => {
                let mut got = Vec::new();
                t.clear(|m| got.push((m.first, m.last, m.value)));
                assert_eq!(got, model.0);
                model = Model::new();
            }
        }
        let (pf, pl) = rng.range();
        model.check(&t, pf, pl, &std::format!("step {step}"));
    }
    // The run must have exercised every path, or it proves little.
    assert!(inserted > 1000, "inserted {inserted}");
    assert!(removed_total > 1000, "removed {removed_total}");
    assert!(full > 100, "full {full}");
    assert!(overlap > 100, "overlap {overlap}");
}

// --- PageTlb and Table::translate_page ---------------------------------------------------

#[test]
fn translate_page_needs_one_mapping_over_the_whole_aligned_page() {
    let mut t = dma_table();
    map(&mut t, 0x1000, 0x3fff, 0x10_0000, RW);
    map(&mut t, 0x4000, 0x47ff, 0x20_0000, RW); // half a page
    map(&mut t, 0x4800, 0x4fff, 0x20_0800, RW); // the other half, a second mapping
    map(&mut t, 0x6000, 0x6fff, 0x30_0800, RW); // physically unaligned
    map(&mut t, 0x7000, 0x7fff, 0x40_0000, perm::READ);
    map(&mut t, 0x8000, 0x8fff, 0x50_0000, 0); // grants nothing
    assert_eq!(t.translate_page(0x1000), Some((0x10_0000, RW)));
    assert_eq!(t.translate_page(0x3000), Some((0x10_2000, RW)));
    assert_eq!(t.translate_page(0x4000), None);
    assert_eq!(t.translate_page(0x5000), None); // unmapped
    assert_eq!(t.translate_page(0x6000), None);
    assert_eq!(t.translate_page(0x7000), Some((0x40_0000, perm::READ)));
    assert_eq!(t.translate_page(0x8000), None);
    assert_eq!(t.translate_page(0x1001), None); // not a page address
                                                // The last page of the address space, mapped to the last physical page.
    map(&mut t, MAX - 0xfff, MAX, MAX - 0xfff, RW);
    assert_eq!(t.translate_page(MAX - 0xfff), Some((MAX - 0xfff, RW)));
}

#[test]
fn translate_page_agrees_with_translate() {
    // Every page translate_page accepts must translate, as a whole, to the same place with
    // the same permissions.
    let mut t = dma_table();
    map(&mut t, 0x0, 0x2fff, 0x9000, RW);
    map(&mut t, 0x3000, 0x37ff, 0x1000, perm::WRITE);
    map(&mut t, 0x3800, 0x5fff, 0x3_0800, perm::READ);
    for page in (0..0x7000u64).step_by(0x1000) {
        if let Some((phys, p)) = t.translate_page(page) {
            for need in [perm::READ, perm::WRITE, RW] {
                let want = if p & need == need {
                    (Ok(()), vec![(phys, PAGE_SIZE, 0)])
                } else {
                    (Err(Error::Translate(TranslateError::Denied)), vec![])
                };
                assert_eq!(pieces(&t, page, PAGE_SIZE, need), want, "page {page:#x}");
            }
        }
    }
}

#[test]
fn tlb_hits_only_the_cached_page_with_enough_permission() {
    let tlb = PageTlb::new(vec![empty_set::<u32>(); 4]);
    assert_eq!(tlb.get(0x1234, perm::READ), None);
    tlb.insert(0x1000, perm::READ, 7);
    assert_eq!(tlb.get(0x1234, perm::READ), Some((7, 0x234)));
    assert_eq!(tlb.get(0x1fff, perm::READ), Some((7, 0xfff)));
    assert_eq!(tlb.get(0x1234, perm::WRITE), None);
    assert_eq!(tlb.get(0x1234, RW), None);
    assert_eq!(tlb.get(0x2000, perm::READ), None);
    // Re-caching a page with other rights replaces it.
    tlb.insert(0x1000, RW, 8);
    assert_eq!(tlb.get(0x1234, perm::WRITE), Some((8, 0x234)));
    // Unaligned inserts are ignored; clear forgets everything.
    tlb.insert(0x6001, RW, 1);
    assert_eq!(tlb.get(0x6001, perm::READ), None);
    tlb.clear();
    assert_eq!(tlb.get(0x1234, perm::READ), None);
    // Pages at the top of the address space.
    tlb.insert(MAX - 0xfff, RW, 3);
    assert_eq!(tlb.get(MAX, RW), Some((3, 0xfff)));
    // A cache of no sets caches nothing and does not panic.
    let none = PageTlb::new(Vec::<TlbSet<u32>>::new());
    none.insert(0x1000, RW, 1);
    assert_eq!(none.get(0x1000, perm::READ), None);
    // Of 5 sets the first 4 are used: 0x1000 and 0x5000 share one.
    let five = PageTlb::new(vec![empty_set::<u32>(); 5]);
    for (page, v) in [(0x1000, 1), (0x5000, 5), (0x9000, 9)] {
        five.insert(page, RW, v);
    }
    assert_eq!(five.get(0x1000, RW), None);
    assert_eq!(five.get(0x5000, RW), Some((5, 0)));
    assert_eq!(five.get(0x9000, RW), Some((9, 0)));
}

#[test]
fn tlb_set_keeps_the_two_most_recently_used_pages() {
    // With 4 sets, pages 0x1000, 0x5000, 0x9000 and 0xd000 share a set.
    let tlb = PageTlb::new(vec![empty_set::<u32>(); 4]);
    tlb.insert(0x1000, RW, 1);
    tlb.insert(0x5000, RW, 5);
    assert_eq!(tlb.get(0x1000, RW), Some((1, 0)));
    assert_eq!(tlb.get(0x5000, RW), Some((5, 0)));
    // 0x5000 was used last, so 0x9000 evicts 0x1000.
    tlb.insert(0x9000, RW, 9);
    assert_eq!(tlb.get(0x1000, RW), None);
    assert_eq!(tlb.get(0x5000, RW), Some((5, 0)));
    // Now 0x5000 is the most recent again, so 0xd000 evicts 0x9000.
    tlb.insert(0xd000, RW, 13);
    assert_eq!(tlb.get(0x9000, RW), None);
    assert_eq!(tlb.get(0x5000, RW), Some((5, 0)));
    assert_eq!(tlb.get(0xd000, RW), Some((13, 0)));
    // Other sets are untouched by all this.
    tlb.insert(0x2000, RW, 2);
    assert_eq!(tlb.get(0x2000, RW), Some((2, 0)));
    assert_eq!(tlb.get(0x5000, RW), Some((5, 0)));
    // A page used for every frame survives a stream of one-off pages through its set.
    let ring = 0x3000;
    tlb.insert(ring, RW, 3);
    for i in 1..100u64 {
        let buf = ring + i * 4 * 0x1000;
        assert_eq!(tlb.get(buf, RW), None);
        tlb.insert(buf, RW, i as u32);
        assert_eq!(tlb.get(ring, RW), Some((3, 0)), "frame {i}");
    }
}

// --- Cost of updates (the gap buffer) -------------------------------------------------------

/// `n` one-page entries from `base` up, as an IOTLB update over fragmented memory records
/// them (one run per page, each just above the last).
fn insert_pages<S: core::ops::DerefMut<Target = [Mapping<u32>]>>(
    t: &mut Table<u32, S>,
    base: u64,
    n: u64,
) {
    for i in 0..n {
        let first = base + i * PAGE_SIZE;
        assert_eq!(
            t.insert(first, first + PAGE_SIZE - 1, i as u32),
            Ok(()),
            "page {i}"
        );
    }
}

#[test]
fn update_below_existing_entries_moves_them_once() {
    // The lower half of a region mapped after its upper half: before the gap buffer every one
    // of the k inserts shifted the n entries above, k * n moves (here 2^30).
    const N: u64 = 1 << 15;
    let mut t = table(2 * N as usize, 0u32);
    insert_pages(&mut t, N * PAGE_SIZE, N);
    assert_eq!(
        t.moved, 0,
        "ascending inserts into an empty table move nothing"
    );
    insert_pages(&mut t, 0, N);
    assert!(
        t.moved <= N as usize,
        "{} moves for {N} inserts below {N} entries",
        t.moved
    );
    assert_eq!(t.len(), 2 * N as usize);
    let firsts: Vec<u64> = t.iter().map(|m| m.first).collect();
    let want: Vec<u64> = (0..2 * N).map(|i| i * PAGE_SIZE).collect();
    assert_eq!(firsts, want);
    // A region in the middle of a hole: unmap a band, map it again page by page.
    let before = t.moved;
    let band = (N / 2 * PAGE_SIZE, (N + N / 2) * PAGE_SIZE - 1);
    assert_eq!(t.remove_overlapping(band.0, band.1, |_| {}), N as usize);
    insert_pages(&mut t, band.0, N);
    assert!(
        t.moved - before <= 2 * N as usize,
        "{} moves to unmap and remap {N} pages",
        t.moved - before
    );
    assert_eq!(t.lookup(band.0 + 5 * PAGE_SIZE).map(|m| m.value), Some(5));
    assert_eq!(t.len(), 2 * N as usize);
}

#[test]
fn update_that_grows_the_table_stays_linear() {
    // Growth puts the gap at the end; the next insert below moves the entries above once
    // more, so the moves stay within a few times (growth steps) the entries above.
    const N: u64 = 1 << 12;
    let mut t = table(MIN_GROWN_CAPACITY, 0u32);
    let grow = |n| {
        Some(vec![
            Mapping {
                first: 0,
                last: 0,
                value: 0u32
            };
            n
        ])
    };
    for i in 0..N {
        let first = (N + i) * PAGE_SIZE;
        t.insert_growing(first, first + PAGE_SIZE - 1, 0, 1 << 20, grow)
            .unwrap();
    }
    let before = t.moved;
    for i in 0..N {
        let first = i * PAGE_SIZE;
        t.insert_growing(first, first + PAGE_SIZE - 1, 1, 1 << 20, grow)
            .unwrap();
    }
    let steps = (2 * N).ilog2() as usize;
    assert!(
        t.moved - before <= N as usize * steps,
        "{} moves",
        t.moved - before
    );
    assert!(t
        .iter()
        .map(|m| m.first)
        .eq((0..2 * N).map(|i| i * PAGE_SIZE)));
}

#[test]
fn randomized_runs_against_model() {
    // Whole updates (runs of adjacent pages at random places, as fragmented memory gives)
    // and invalidations of random spans, with growth, against a sorted Vec: every lookup,
    // overlap and span agrees, and each update costs at most one move of the table.
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut t = table(4, 0u32);
    let mut model: Vec<(u64, u64, u32)> = Vec::new();
    let grow = |n| {
        Some(vec![
            Mapping {
                first: 0,
                last: 0,
                value: 0u32
            };
            n
        ])
    };
    let hits = |m: &(u64, u64, u32), f: u64, l: u64| m.0 <= l && f <= m.1;
    const PAGES: u64 = 4096;
    for step in 0..3_000u32 {
        let start = rng.below(PAGES) * PAGE_SIZE;
        let pages = 1 + rng.below(64);
        let end = (start + pages * PAGE_SIZE - 1).min(PAGES * PAGE_SIZE - 1);
        if rng.below(3) != 0 {
            if model.iter().any(|m| hits(m, start, end)) {
                assert!(t.overlaps(start, end), "step {step}");
                continue;
            }
            let (before, cap, len) = (t.moved, t.capacity(), t.len());
            let mut p = start;
            while p < end {
                let r = t.insert_growing(p, p + PAGE_SIZE - 1, step, 1 << 16, grow);
                assert_eq!(r, Ok(()), "step {step}: page {p:#x}");
                model.push((p, p + PAGE_SIZE - 1, step));
                p += PAGE_SIZE;
            }
            model.sort_unstable();
            if t.capacity() == cap {
                assert!(
                    t.moved - before <= len,
                    "step {step}: {} moves",
                    t.moved - before
                );
            }
        } else {
            let want: Vec<(u64, u64, u32)> = model
                .iter()
                .copied()
                .filter(|m| hits(m, start, end))
                .collect();
            let span = want.first().zip(want.last()).map(|(a, b)| (a.0, b.1));
            assert_eq!(t.overlap_span(start, end), span, "step {step}");
            assert_eq!(t.overlap_count(start, end), want.len(), "step {step}");
            let mut got = Vec::new();
            t.remove_overlapping(start, end, |m| got.push((m.first, m.last, m.value)));
            assert_eq!(got, want, "step {step}");
            model.retain(|m| !hits(m, start, end));
        }
        let live: Vec<(u64, u64, u32)> = t.iter().map(|m| (m.first, m.last, m.value)).collect();
        assert_eq!(live, model, "step {step}");
        for _ in 0..4 {
            let a = rng.below(PAGES * PAGE_SIZE + PAGE_SIZE);
            let want = model.iter().find(|m| m.0 <= a && a <= m.1).map(|m| m.2);
            assert_eq!(
                t.lookup(a).map(|m| m.value),
                want,
                "step {step}: lookup {a:#x}"
            );
        }
    }
}
