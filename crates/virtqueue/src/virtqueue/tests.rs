// SPDX-License-Identifier: GPL-2.0
//! Unit tests over the mock driver.

use std::format;
use std::vec;
use std::vec::Vec;

use super::mock::{model_walk, MockMemory, MockSplitQueue, XorShift};
use super::*;

const BASE: u64 = 0x1_0000;
const MEM_LEN: usize = 0x1_0000;
// Buffers go here, well behind any ring used in these tests.
const BUF: u64 = BASE + 0x8000;

const NEXT: u16 = VRING_DESC_F_NEXT;
const WRITE: u16 = VRING_DESC_F_WRITE;
const INDIRECT: u16 = VRING_DESC_F_INDIRECT;

fn setup() -> (MockMemory, u64) {
    (MockMemory::new(BASE, MEM_LEN), BASE)
}

/// Pops one chain that the test made available.
fn pop_one(q: &mut SplitQueue, mem: &MockMemory) -> DescChain {
    q.pop(mem).expect("pop ok").expect("a chain is available")
}

/// Walks a chain to its end, returning descriptors or the first error.
fn walk(chain: &mut DescChain, mem: &MockMemory) -> Result<Vec<Desc>, Error> {
    let mut v = Vec::new();
    while let Some(d) = chain.next_desc(mem)? {
        v.push(d);
    }
    Ok(v)
}

fn ro(addr: u64, len: u32) -> Desc {
    Desc {
        addr,
        len,
        writable: false,
    }
}

fn wr(addr: u64, len: u32) -> Desc {
    Desc {
        addr,
        len,
        writable: true,
    }
}

// ---- construction --------------------------------------------------------

#[test]
fn new_rejects_bad_sizes() {
    for size in [0u16, 3, 6, 100, 0xffff] {
        assert_eq!(
            SplitQueue::new(size, 0x1000, 0x2000, 0x3000, false).unwrap_err(),
            Error::InvalidSize,
            "size {size}"
        );
    }
    for size in [1u16, 2, 256, MAX_QUEUE_SIZE] {
        let q = SplitQueue::new(size, 0x1000, 0x2000, 0x3000, false).unwrap();
        assert_eq!(q.size(), size);
        assert_eq!((q.next_avail(), q.next_used()), (0, 0));
    }
}

#[test]
fn new_rejects_misaligned_rings() {
    for (d, a, u) in [
        (0x1008, 0x2000, 0x3000),
        (0x1000, 0x2001, 0x3000),
        (0x1000, 0x2000, 0x3002),
    ] {
        assert_eq!(
            SplitQueue::new(8, d, a, u, false).unwrap_err(),
            Error::Misaligned
        );
    }
    // Minimal alignments are enough.
    SplitQueue::new(8, 0x1010, 0x2002, 0x3004, true).unwrap();
}

#[test]
fn new_rejects_rings_wrapping_the_address_space() {
    let top16 = u64::MAX - 15;
    assert_eq!(
        SplitQueue::new(2, top16, 0x2000, 0x3000, false).unwrap_err(),
        Error::RingOverflow
    );
    assert_eq!(
        SplitQueue::new(2, 0x1000, u64::MAX - 7, 0x3000, false).unwrap_err(),
        Error::RingOverflow
    );
    assert_eq!(
        SplitQueue::new(2, 0x1000, 0x2000, u64::MAX - 15, false).unwrap_err(),
        Error::RingOverflow
    );
}

// ---- popping and walking ------------------------------------------------

#[test]
fn empty_queue_pops_nothing() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    assert!(q.pop(&mem).unwrap().is_none());
    assert_eq!(q.pending(&mem), Ok(0));
    assert_eq!(q.next_avail(), 0);
}

#[test]
fn single_descriptor_chain() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(5, BUF, 100, 0, 0);
    m.add_avail(5);
    assert_eq!(q.pending(&mem), Ok(1));
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.head(), 5);
    assert_eq!(walk(&mut c, &mem), Ok(vec![ro(BUF, 100)]));
    // The end is sticky.
    assert_eq!(c.next_desc(&mem), Ok(None));
    assert!(q.pop(&mem).unwrap().is_none());
}

#[test]
fn multi_descriptor_chain_and_lengths() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(2, BUF, 10, NEXT, 7);
    m.set_desc(7, BUF + 0x100, 20, NEXT, 0);
    m.set_desc(0, BUF + 0x200, 30, NEXT | WRITE, 1);
    m.set_desc(1, BUF + 0x300, 40, WRITE, 6);
    m.add_avail(2);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(
        c.lengths(&mem),
        Ok(ChainLengths {
            readable: 30,
            writable: 70
        })
    );
    let mut c2 = c.clone();
    assert_eq!(
        walk(&mut c2, &mem),
        Ok(vec![
            ro(BUF, 10),
            ro(BUF + 0x100, 20),
            wr(BUF + 0x200, 30),
            wr(BUF + 0x300, 40)
        ])
    );
}

#[test]
fn indirect_chain() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    let table = BUF + 0x1000;
    m.set_indirect(
        table,
        &[
            (BUF, 12, NEXT, 2),
            (BUF + 0x300, 50, WRITE, 0),
            (BUF + 0x100, 8, NEXT, 1),
        ],
    );
    // The WRITE flag on the table descriptor itself must be ignored.
    m.set_desc(3, table, 48, INDIRECT | WRITE, 0);
    m.add_avail(3);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(
        walk(&mut c, &mem),
        Ok(vec![ro(BUF, 12), ro(BUF + 0x100, 8), wr(BUF + 0x300, 50)])
    );
    assert!(c.is_indirect());
}

#[test]
fn direct_descriptors_followed_by_indirect_table() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    let table = BUF + 0x1000;
    m.set_indirect(
        table,
        &[(BUF + 0x100, 4, NEXT, 1), (BUF + 0x200, 5, WRITE, 0)],
    );
    m.set_desc(0, BUF, 3, NEXT, 1);
    m.set_desc(1, table, 32, INDIRECT, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(
        walk(&mut c, &mem),
        Ok(vec![ro(BUF, 3), ro(BUF + 0x100, 4), wr(BUF + 0x200, 5)])
    );
}

#[test]
fn zero_length_descriptors_are_returned_and_skipped_by_cursors() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    mem.set_bytes(BUF, b"abc");
    mem.set_bytes(BUF + 0x100, b"defg");
    m.set_desc(0, BUF + 0x50, 0, NEXT, 1);
    m.set_desc(1, BUF, 3, NEXT, 2);
    m.set_desc(2, BUF + 0x60, 0, NEXT, 3);
    m.set_desc(3, BUF + 0x100, 4, NEXT, 4);
    m.set_desc(4, BUF + 0x70, 0, WRITE | NEXT, 5);
    m.set_desc(5, BUF + 0x200, 2, WRITE, 0);
    m.add_avail(0);
    let c = pop_one(&mut q, &mem);
    assert_eq!(walk(&mut c.clone(), &mem).unwrap().len(), 6);

    let mut r = Reader::new(c.clone());
    let mut buf = [0u8; 7];
    r.read_exact(&mem, &mut buf).unwrap();
    assert_eq!(&buf, b"abcdefg");
    assert_eq!(r.next_span(&mem, 100), Ok(None));
    assert_eq!(r.consumed(), 7);

    let mut w = Writer::new(c);
    w.write_all(&mem, b"XY").unwrap();
    assert_eq!(mem.bytes(BUF + 0x200, 2), b"XY");
    assert_eq!(w.write_all(&mem, b"Z"), Err(Error::BufferTooShort));
}

#[test]
fn zero_length_self_loop_is_still_a_loop() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(1, BUF, 0, NEXT, 1);
    m.add_avail(1);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(Reader::new(c.clone()).skip(&mem, 10), Err(Error::ChainLoop));
    assert_eq!(c.lengths(&mem), Err(Error::ChainLoop));
}

#[test]
fn two_descriptor_loop_in_main_table() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(1, BUF, 1, NEXT, 2);
    m.set_desc(2, BUF, 1, NEXT, 1);
    m.add_avail(1);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(walk(&mut c, &mem), Err(Error::ChainLoop));
    // The error is sticky, not turned into an end of chain.
    assert_eq!(c.next_desc(&mem), Err(Error::ChainLoop));
}

#[test]
fn loop_through_whole_table_is_cut_at_queue_size() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    for i in 0..8u16 {
        m.set_desc(i, BUF, 1, NEXT, (i + 1) % 8);
    }
    m.add_avail(3);
    let mut c = pop_one(&mut q, &mem);
    let mut seen = 0;
    let err = loop {
        match c.next_desc(&mem) {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("a loop must not end"),
            Err(e) => break e,
        }
    };
    assert_eq!((seen, err), (8, Error::ChainLoop));
}

#[test]
fn chain_of_exactly_queue_size_is_accepted() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, 1, NEXT, 1);
    m.set_desc(1, BUF, 1, NEXT, 2);
    m.set_desc(2, BUF, 1, NEXT, 3);
    m.set_desc(3, BUF, 1, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.lengths(&mem).unwrap().readable, 4);
    // Pointing the last one back at the start makes it one too long.
    m.set_desc(3, BUF, 1, NEXT, 0);
    assert_eq!(c.lengths(&mem), Err(Error::ChainLoop));
}

#[test]
fn indirect_table_bounds() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    let table = BUF + 0x1000;
    // A 6-entry table in a 4-entry queue: fine, the table has its own bound.
    let entries: Vec<_> = (0..6u16)
        .map(|i| (BUF, 2, if i < 5 { NEXT } else { 0 }, i + 1))
        .collect();
    m.set_indirect(table, &entries);
    m.set_desc(0, table, 6 * 16, INDIRECT, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.lengths(&mem).unwrap().readable, 12);
    // Loop inside the table.
    m.set_indirect(table + 5 * 16, &[(BUF, 2, NEXT, 0)]);
    assert_eq!(c.lengths(&mem), Err(Error::ChainLoop));
    // `next` past the table's end.
    m.set_indirect(table + 5 * 16, &[(BUF, 2, NEXT, 6)]);
    assert_eq!(c.lengths(&mem), Err(Error::DescIndexOutOfRange));
}

#[test]
fn nested_indirect_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    let table = BUF + 0x1000;
    m.set_indirect(table, &[(BUF, 4, NEXT, 1), (table, 32, INDIRECT, 0)]);
    m.set_desc(0, table, 32, INDIRECT, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Ok(Some(ro(BUF, 4))));
    assert_eq!(c.next_desc(&mem), Err(Error::NestedIndirect));
}

#[test]
fn indirect_with_next_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_indirect(BUF, &[(BUF + 0x100, 4, 0, 0)]);
    m.set_desc(0, BUF, 16, INDIRECT | NEXT, 1);
    m.set_desc(1, BUF, 16, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Err(Error::IndirectWithNext));
}

#[test]
fn indirect_bad_lengths_are_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    for (i, len) in [0u32, 8, 17, 65536 * 16].into_iter().enumerate() {
        m.set_desc(i as u16, BUF, len, INDIRECT, 0);
        m.add_avail(i as u16);
        let mut c = pop_one(&mut q, &mem);
        assert_eq!(
            c.next_desc(&mem),
            Err(Error::IndirectBadLength),
            "len {len}"
        );
    }
    // The largest allowed table passes the length check; its first entry
    // (zeroed memory) is an empty readable descriptor.
    m.set_desc(0, BUF, 65535 * 16, INDIRECT, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Ok(Some(ro(0, 0))));
}

#[test]
fn indirect_table_wrapping_address_space_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, u64::MAX - 15, 32, INDIRECT, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Err(Error::LengthOverflow));
}

#[test]
fn out_of_range_head_breaks_the_queue() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.add_avail(8);
    assert_eq!(q.pop(&mem).unwrap_err(), Error::DescIndexOutOfRange);
    assert!(q.is_broken());
    assert_eq!(q.pop(&mem).unwrap_err(), Error::Broken);
    assert_eq!(q.add_used(&mem, 0, 0), Err(Error::Broken));
    assert_eq!(q.needs_notification(&mem), Err(Error::Broken));
    assert_eq!(q.set_notification(&mem, true), Err(Error::Broken));
}

#[test]
fn out_of_range_next_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, 1, NEXT, 8);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Ok(Some(ro(BUF, 1))));
    assert_eq!(c.next_desc(&mem), Err(Error::DescIndexOutOfRange));
    // The queue owner decides; the chain cannot break the queue itself.
    assert!(!q.is_broken());
    q.mark_broken();
    assert_eq!(q.pop(&mem).unwrap_err(), Error::Broken);
}

#[test]
fn buffers_outside_memory_fail_cleanly() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    let outside = mem.end() + 0x1000;
    m.set_desc(0, outside, 64, 0, 0);
    m.set_desc(1, 0x10, 64, WRITE, 0);
    // Indirect table outside memory.
    m.set_desc(2, outside, 64, INDIRECT, 0);
    m.add_avail(0);
    m.add_avail(1);
    m.add_avail(2);

    let mut buf = [0u8; 16];
    let mut r = Reader::new(pop_one(&mut q, &mem));
    assert_eq!(
        r.read_exact(&mem, &mut buf),
        Err(Error::Mem(MemError::OutOfRange))
    );
    let mut w = Writer::new(pop_one(&mut q, &mem));
    assert_eq!(
        w.write_all(&mem, &buf),
        Err(Error::Mem(MemError::OutOfRange))
    );
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Err(Error::Mem(MemError::OutOfRange)));
}

#[test]
fn ring_outside_memory_breaks_the_queue() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let mut q = SplitQueue::new(8, 0x1000, 0x2000, 0x3000, true).unwrap();
    assert_eq!(q.pop(&mem).unwrap_err(), Error::Mem(MemError::OutOfRange));
    assert!(q.is_broken());
}

#[test]
fn total_length_over_u32_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, u32::MAX, NEXT, 1);
    m.set_desc(1, BUF, u32::MAX, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.next_desc(&mem), Ok(Some(ro(BUF, u32::MAX))));
    assert_eq!(c.next_desc(&mem), Err(Error::LengthOverflow));
    // Exactly u32::MAX in total is still fine.
    m.set_desc(0, BUF, u32::MAX - 1, NEXT, 1);
    m.set_desc(1, BUF, 1, WRITE, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(
        c.lengths(&mem),
        Ok(ChainLengths {
            readable: u32::MAX - 1,
            writable: 1
        })
    );
}

#[test]
fn buffer_wrapping_address_space_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, u64::MAX - 10, 11, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.lengths(&mem), Err(Error::LengthOverflow));
    // Ending exactly at the last byte is allowed. (A fresh chain: a chain
    // keeps the head descriptor it read.)
    m.set_desc(0, u64::MAX - 10, 10, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.lengths(&mem).unwrap().readable, 10);
}

#[test]
fn a_measured_chain_is_walked_with_the_head_it_measured() {
    // The driver rewrites the head descriptor between the device measuring
    // the chain and copying from it: the copy must not see a longer buffer
    // than the one the frame-size checks saw.
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, 100, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(c.lengths(&mem).unwrap().readable, 100);
    m.set_desc(0, BUF, 4000, 0, 0);
    assert_eq!(c.lengths(&mem).unwrap().readable, 100);
    let mut r = Reader::new(c.clone());
    assert_eq!(r.skip(&mem, 10_000), Ok(100));
    assert_eq!(walk(&mut c, &mem).unwrap()[0].len, 100);
    // A chain that was never measured reads the head when walked.
    m.set_desc(1, BUF, 7, 0, 0);
    m.add_avail(1);
    let mut c = pop_one(&mut q, &mem);
    m.set_desc(1, BUF, 9, 0, 0);
    assert_eq!(walk(&mut c, &mem).unwrap()[0].len, 9);
}

#[test]
fn huge_descriptor_reaching_outside_memory_fails_without_hanging() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, u32::MAX, 0, 0);
    m.set_desc(1, BUF, u32::MAX, WRITE, 0);
    m.add_avail(0);
    m.add_avail(1);
    let c = pop_one(&mut q, &mem);

    let mut r = Reader::new(c.clone());
    let mut buf = [0u8; 4096];
    let mut reads = 0;
    let err = loop {
        match r.read_exact(&mem, &mut buf) {
            Ok(()) => reads += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, Error::Mem(MemError::OutOfRange));
    assert_eq!(reads, (mem.end() - BUF) / 4096);

    // A single copy of the whole span fails as well, in bounded time.
    let mut r = Reader::new(c);
    let (src, n) = r.next_span(&mem, u64::MAX).unwrap().unwrap();
    assert_eq!(n, u64::from(u32::MAX));
    let mut w = Writer::new(pop_one(&mut q, &mem));
    let (dst, dn) = w.next_span(&mem, n).unwrap().unwrap();
    assert_eq!(mem.copy(dst, src, dn), Err(MemError::OutOfRange));
}

#[test]
fn readable_after_writable_is_rejected() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    mem.set_bytes(BUF, b"hi");
    m.set_desc(0, BUF, 2, NEXT, 1);
    m.set_desc(1, BUF + 0x100, 4, WRITE | NEXT, 2);
    m.set_desc(2, BUF + 0x200, 4, 0, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);

    // The reader gets the readable prefix, then reports the bad tail
    // instead of a clean end.
    let mut r = Reader::new(c.clone());
    let mut buf = [0u8; 2];
    r.read_exact(&mem, &mut buf).unwrap();
    assert_eq!(&buf, b"hi");
    assert_eq!(r.next_span(&mem, 10), Err(Error::ReadableAfterWritable));

    let mut w = Writer::new(c.clone());
    w.write_all(&mem, b"abcd").unwrap();
    assert_eq!(w.write_all(&mem, b"e"), Err(Error::ReadableAfterWritable));
    assert_eq!(c.lengths(&mem), Err(Error::ReadableAfterWritable));
}

#[test]
fn reader_and_writer_span_descriptors() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    mem.set_bytes(BUF, b"0123");
    mem.set_bytes(BUF + 0x100, b"456");
    mem.set_bytes(BUF + 0x200, b"789ab");
    m.set_desc(0, BUF, 4, NEXT, 1);
    m.set_desc(1, BUF + 0x100, 3, NEXT, 2);
    m.set_desc(2, BUF + 0x200, 5, NEXT, 3);
    m.set_desc(3, BUF + 0x300, 3, WRITE | NEXT, 4);
    m.set_desc(4, BUF + 0x400, 3, WRITE, 0);
    m.add_avail(0);
    let c = pop_one(&mut q, &mem);

    let mut r = Reader::new(c.clone());
    let mut hdr = [0u8; 6];
    r.read_exact(&mem, &mut hdr).unwrap();
    assert_eq!(&hdr, b"012345");
    // A clone peeks without moving the original.
    let mut peek = r.clone();
    let mut b = [0u8; 2];
    peek.read_exact(&mem, &mut b).unwrap();
    assert_eq!(&b, b"67");
    assert_eq!(r.next_span(&mem, 100), Ok(Some((BUF + 0x102, 1))));
    assert_eq!(r.skip(&mem, 3), Ok(3));
    assert_eq!(r.next_span(&mem, 100), Ok(Some((BUF + 0x203, 2))));
    assert_eq!(r.skip(&mem, 3), Ok(0));
    let mut rest = [0u8; 1];
    assert_eq!(r.read_exact(&mem, &mut rest), Err(Error::BufferTooShort));

    let mut w = Writer::new(c);
    assert_eq!(w.skip(&mem, 1), Ok(1));
    w.write_all(&mem, b"wxyz").unwrap();
    assert_eq!(mem.bytes(BUF + 0x301, 2), b"wx");
    assert_eq!(mem.bytes(BUF + 0x400, 2), b"yz");
    assert_eq!(w.consumed(), 5);
    assert_eq!(w.next_span(&mem, 0), Ok(Some((BUF + 0x402, 0))));
    assert_eq!(w.next_span(&mem, 9), Ok(Some((BUF + 0x402, 1))));
    assert_eq!(w.next_span(&mem, 9), Ok(None));
}

// ---- ring indices -------------------------------------------------------

#[test]
fn avail_idx_jump_breaks_the_queue() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    // Exactly a full ring is fine.
    m.set_avail_idx(8);
    assert_eq!(q.pending(&mem), Ok(8));
    assert!(!q.is_broken());
    m.set_avail_idx(9);
    assert_eq!(q.pop(&mem).unwrap_err(), Error::AvailIdxJump);
    assert!(q.is_broken());
    m.set_avail_idx(1);
    assert_eq!(q.pop(&mem).unwrap_err(), Error::Broken);
    assert_eq!(q.pending(&mem), Err(Error::Broken));
}

#[test]
fn backwards_avail_idx_is_a_jump() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, 1, 0, 0);
    m.add_avail(0);
    pop_one(&mut q, &mem);
    m.set_avail_idx(0);
    assert_eq!(q.pending(&mem), Err(Error::AvailIdxJump));
}

#[test]
fn indices_wrap_past_65535() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    for i in 0..4u16 {
        m.set_desc(i, BUF + 0x100 * u64::from(i), u32::from(i) + 1, 0, 0);
    }
    for n in 0u32..70_000 {
        let head = (n % 4) as u16;
        m.add_avail(head);
        let mut c = pop_one(&mut q, &mem);
        assert_eq!(c.head(), head);
        assert_eq!(c.lengths(&mem).unwrap().readable, u32::from(head) + 1);
        q.add_used(&mem, head, n).unwrap();
        let idx = q.next_used();
        assert_eq!(m.used_idx(), idx);
        assert_eq!(m.used_elem(idx.wrapping_sub(1)), (u32::from(head), n));
        assert!(q.pop(&mem).unwrap().is_none());
    }
    assert_eq!(q.next_avail(), (70_000u32 % 65536) as u16);
    assert_eq!(q.next_used(), q.next_avail());
}

#[test]
fn used_batch_publishes_once() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    for h in 0..3 {
        q.add_used_deferred(&mem, h, 100 + u32::from(h)).unwrap();
    }
    assert_eq!(m.used_idx(), 0);
    q.publish_used(&mem).unwrap();
    assert_eq!(m.used_idx(), 3);
    assert_eq!(m.used_elem(2), (2, 102));
    // A bogus head from the device side is refused but does not break.
    assert_eq!(q.add_used(&mem, 8, 0), Err(Error::DescIndexOutOfRange));
    assert!(!q.is_broken());
}

#[test]
fn undo_pop_returns_only_the_last_chain() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(1, BUF, 1, 0, 0);
    m.set_desc(2, BUF, 1, 0, 0);
    m.add_avail(1);
    m.add_avail(2);
    assert!(!q.undo_pop());
    assert_eq!(pop_one(&mut q, &mem).head(), 1);
    assert!(q.undo_pop());
    assert!(!q.undo_pop());
    assert_eq!(q.next_avail(), 0);
    assert_eq!(pop_one(&mut q, &mem).head(), 1);
    q.add_used(&mem, 1, 0).unwrap();
    // After a completion the pop can no longer be taken back.
    assert!(!q.undo_pop());
    assert_eq!(pop_one(&mut q, &mem).head(), 2);
    assert!(q.undo_pop());
    assert_eq!(pop_one(&mut q, &mem).head(), 2);
}

#[test]
fn set_next_avail_restores_both_indices() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 4);
    let mut q = m.queue(false);
    m.set_desc(3, BUF, 1, 0, 0);
    m.set_avail_idx(65534);
    for _ in 0..3 {
        m.add_avail(3);
    }
    assert_eq!(m.avail_idx(), 1);
    q.set_next_avail(65534);
    assert_eq!((q.next_avail(), q.next_used()), (65534, 65534));
    for _ in 0..3 {
        let c = pop_one(&mut q, &mem);
        q.add_used(&mem, c.head(), 7).unwrap();
    }
    assert!(q.pop(&mem).unwrap().is_none());
    assert_eq!(m.used_idx(), 1);
    assert_eq!(m.used_elem(0), (3, 7));
}

// ---- notifications ------------------------------------------------------

#[test]
fn vring_need_event_edge_cases() {
    // Driver asked for an interrupt once entry `event` is used.
    assert!(vring_need_event(0, 1, 0));
    assert!(!vring_need_event(1, 1, 0));
    assert!(vring_need_event(1, 2, 0));
    assert!(!vring_need_event(5, 3, 1));
    // Nothing new: never.
    assert!(!vring_need_event(4, 4, 4));
    // Event exactly at the old index means the driver wanted it already.
    assert!(vring_need_event(4, 5, 4));
    assert!(!vring_need_event(3, 5, 4));
    // Wrapping around 65535.
    assert!(vring_need_event(0xffff, 0, 0xffff));
    assert!(!vring_need_event(0xfffe, 0, 0xffff));
    assert!(vring_need_event(0xfffe, 2, 0xfff0));
    assert!(vring_need_event(1, 2, 0xfff0));
    assert!(!vring_need_event(2, 2, 0xfff0));
}

#[test]
fn notification_without_event_idx_follows_avail_flags() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    q.add_used(&mem, 0, 0).unwrap();
    let fences = mem.fences();
    assert_eq!(q.needs_notification(&mem), Ok(true));
    assert_eq!(mem.fences(), fences + 1);
    m.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    q.add_used(&mem, 0, 0).unwrap();
    assert_eq!(q.needs_notification(&mem), Ok(false));
    m.set_avail_flags(0);
    assert_eq!(q.needs_notification(&mem), Ok(true));
}

#[test]
fn notification_with_event_idx() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(true);
    // Flags are ignored with EVENT_IDX.
    m.set_avail_flags(VRING_AVAIL_F_NO_INTERRUPT);
    m.set_used_event(100);
    q.add_used(&mem, 0, 0).unwrap();
    // First check after start: nothing to compare with, so notify.
    assert_eq!(q.needs_notification(&mem), Ok(true));
    // used_event = 1: interrupt once entry 1 is used (idx goes 1 -> 2).
    m.set_used_event(1);
    q.add_used(&mem, 1, 0).unwrap();
    assert_eq!(q.needs_notification(&mem), Ok(true));
    // Far-away event: no interrupt.
    m.set_used_event(5);
    q.add_used(&mem, 2, 0).unwrap();
    assert_eq!(q.needs_notification(&mem), Ok(false));
    // Several completions crossing the event in one batch: interrupt.
    q.add_used_deferred(&mem, 3, 0).unwrap();
    q.add_used_deferred(&mem, 4, 0).unwrap();
    q.add_used_deferred(&mem, 5, 0).unwrap();
    q.publish_used(&mem).unwrap();
    assert_eq!(q.needs_notification(&mem), Ok(true));
    // Nothing new since then.
    assert_eq!(q.needs_notification(&mem), Ok(false));
    // Restoring the ring forgets the last signalled index.
    q.set_next_avail(0);
    assert_eq!(q.needs_notification(&mem), Ok(true));
}

#[test]
fn set_notification_writes_the_right_field() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    q.set_notification(&mem, false).unwrap();
    assert_eq!(m.used_flags(), VRING_USED_F_NO_NOTIFY);
    let fences = mem.fences();
    q.set_notification(&mem, true).unwrap();
    assert_eq!(m.used_flags(), 0);
    assert_eq!(mem.fences(), fences + 1);
    assert_eq!(m.avail_event(), 0);

    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(true);
    m.set_desc(0, BUF, 1, 0, 0);
    m.add_avail(0);
    m.add_avail(0);
    pop_one(&mut q, &mem);
    pop_one(&mut q, &mem);
    q.set_notification(&mem, true).unwrap();
    assert_eq!(m.avail_event(), 2);
    assert_eq!(m.used_flags(), 0);
    m.add_avail(0);
    pop_one(&mut q, &mem);
    q.set_notification(&mem, false).unwrap();
    assert_eq!(m.avail_event(), 2);
    assert_eq!(m.used_flags(), 0);
}

// ---- memory helpers -------------------------------------------------------

#[test]
fn default_copy_moves_across_chunks() {
    let mem = MockMemory::new(BASE, MEM_LEN);
    let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
    mem.set_bytes(BASE + 0x100, &data);
    mem.copy(BASE + 0x2003, BASE + 0x100, 1000).unwrap();
    assert_eq!(mem.bytes(BASE + 0x2003, 1000), data);
    mem.copy(BASE + 0x3000, BASE, 0).unwrap();
    assert_eq!(
        mem.copy(BASE, mem.end() - 10, 11),
        Err(MemError::OutOfRange)
    );
    assert_eq!(mem.copy(0, u64::MAX - 10, 300), Err(MemError::OutOfRange));
    assert_eq!(mem.base(), BASE);
}

// ---- fuzz-style robustness ---------------------------------------------

/// Random garbage in every ring and table must end in `Ok` or `Err` for
/// every walk, never a panic (overflow checks are on) or a hang.
#[test]
fn random_rings_never_panic() {
    const SIZE: u16 = 16;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mem = MockMemory::new(BASE, MEM_LEN);
    let m = MockSplitQueue::new(&mem, BASE, SIZE);
    let mut outcomes = [0u32; 2];
    let mut copy_buf = [0u8; 512];
    for _ in 0..3000 {
        // Garbage descriptors: addresses mostly inside memory, lengths a mix
        // of small, table-sized and huge, flags and next mostly plausible.
        for i in 0..SIZE {
            let addr = match rng.below(8) {
                0 => rng.next_u64(),
                1 => m.end() + rng.below(0x100) * 16,
                _ => BASE + rng.below(MEM_LEN as u64),
            };
            let len = match rng.below(6) {
                0 => rng.next_u64() as u32,
                1 => u32::MAX - rng.below(4) as u32,
                2 => (rng.below(8) * 16) as u32,
                _ => rng.below(200) as u32,
            };
            let next = rng.below(u64::from(SIZE) + 2) as u16;
            m.set_desc(i, addr, len, rng.below(8) as u16, next);
        }
        // Some garbage indirect tables too.
        for _ in 0..4 {
            let table = m.end() + rng.below(0x100) * 16;
            let len = rng.below(0x40) as usize;
            let bytes: Vec<u8> = (0..len * 16)
                .map(|i| match i % 16 {
                    // Addresses inside memory, lengths mostly small,
                    // flags and next small so walks go somewhere.
                    0 | 1 | 8 | 9 => rng.next_u64() as u8,
                    2 => (BASE >> 16) as u8,
                    10 if rng.below(8) == 0 => rng.next_u64() as u8,
                    12 => rng.below(8) as u8,
                    14 => rng.below(20) as u8,
                    _ => 0,
                })
                .collect();
            mem.set_bytes(table, &bytes);
        }
        for s in 0..SIZE {
            m.set_avail_slot(s, rng.below(u64::from(SIZE) + 1) as u16);
        }
        let mut q = m.queue(rng.below(2) == 0);
        q.set_next_avail(rng.next_u64() as u16);
        m.set_avail_idx(
            q.next_avail()
                .wrapping_add(rng.below(u64::from(SIZE) + 3) as u16),
        );

        for _ in 0..=SIZE {
            let mut chain = match q.pop(&mem) {
                Ok(Some(c)) => c,
                Ok(None) | Err(_) => break,
            };
            let ok = chain.lengths(&mem).is_ok();
            outcomes[usize::from(ok)] += 1;

            let mut r = Reader::new(chain.clone());
            let max = 1 + rng.below(600);
            while let Ok(Some((addr, n))) = r.next_span(&mem, max) {
                // Stop where a real copy would: at the first fault.
                let n = n.min(copy_buf.len() as u64) as usize;
                if mem.read(addr, &mut copy_buf[..n]).is_err() {
                    break;
                }
            }
            let head = chain.head();
            let mut w = Writer::new(chain);
            let mut copied = 0u64;
            while let Ok(Some((dst, n))) = w.next_span(&mem, max) {
                // Probe by reading, so the rings under test stay intact;
                // stop at the first fault.
                let len = n.min(copy_buf.len() as u64) as usize;
                if mem.read(dst, &mut copy_buf[..len]).is_err() {
                    break;
                }
                copied += n;
            }
            assert!(copied <= u64::from(u32::MAX));
            let _ = q.add_used(&mem, head, 0);
            let _ = q.needs_notification(&mem);
            let _ = q.set_notification(&mem, rng.below(2) == 0);
        }
    }
    // The generator must exercise both outcomes to mean anything.
    assert!(outcomes[0] > 100 && outcomes[1] > 100, "{outcomes:?}");
}

// ---- gathered chains -----------------------------------------------------

fn span(addr: u64, len: u32) -> Span {
    Span { addr, len }
}

#[test]
fn gather_keeps_non_empty_buffers_per_side() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(2, BUF, 10, NEXT, 3);
    m.set_desc(3, BUF + 0x100, 0, NEXT, 7);
    m.set_desc(7, BUF + 0x200, 20, NEXT, 0);
    m.set_desc(0, BUF + 0x300, 30, NEXT | WRITE, 1);
    m.set_desc(1, BUF + 0x400, 40, WRITE, 6);
    m.add_avail(2);
    let mut c = pop_one(&mut q, &mem);
    let (mut r, mut w) = (Spans::<2>::new(), Spans::<2>::new());
    assert_eq!(c.gather(&mem, false, &mut r), Ok(true));
    assert_eq!(c.gather(&mem, true, &mut w), Ok(true));
    assert_eq!(r.as_slice(), [span(BUF, 10), span(BUF + 0x200, 20)]);
    assert_eq!(w.as_slice(), [span(BUF + 0x300, 30), span(BUF + 0x400, 40)]);
    assert_eq!((r.bytes(), w.bytes()), (30, 70));
    // Gathering walked a copy: the chain itself still walks from its head.
    assert_eq!(walk(&mut c, &mem).unwrap().len(), 5);
}

#[test]
fn gather_gives_up_on_a_side_longer_than_n() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    for i in 0..3u16 {
        m.set_desc(i, BUF + 0x100 * u64::from(i), 8, NEXT, i + 1);
    }
    m.set_desc(3, BUF + 0x300, 8, WRITE, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    let mut two = Spans::<2>::new();
    assert_eq!(c.gather(&mem, false, &mut two), Ok(false));
    // The writable side has one buffer: the three readable ones are only checked.
    assert_eq!(c.gather(&mem, true, &mut two), Ok(true));
    assert_eq!(two.as_slice(), [span(BUF + 0x300, 8)]);
    let mut three = Spans::<3>::new();
    assert_eq!(c.gather(&mem, false, &mut three), Ok(true));
    assert_eq!(three.bytes(), 24);
}

#[test]
fn gather_reports_the_errors_a_walk_does() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(1, BUF, 1, NEXT, 2);
    m.set_desc(2, BUF, 1, NEXT, 1);
    m.add_avail(1);
    m.set_desc(4, BUF, 4, WRITE | NEXT, 5);
    m.set_desc(5, BUF, 4, 0, 0);
    m.add_avail(4);
    let mut c = pop_one(&mut q, &mem);
    // A loop of two one-byte buffers: it fits in N = 8 until the walk is cut.
    assert_eq!(
        c.gather(&mem, false, &mut Spans::<8>::new()),
        Err(Error::ChainLoop)
    );
    let mut c = pop_one(&mut q, &mem);
    assert_eq!(
        c.gather(&mem, true, &mut Spans::<8>::new()),
        Err(Error::ReadableAfterWritable)
    );
}

#[test]
fn spans_read_and_write_across_buffers() {
    let (mem, base) = setup();
    let m = MockSplitQueue::new(&mem, base, 8);
    let mut q = m.queue(false);
    m.set_desc(0, BUF, 3, NEXT | WRITE, 1);
    m.set_desc(1, BUF + 0x100, 5, NEXT | WRITE, 2);
    m.set_desc(2, BUF + 0x200, 4, WRITE, 0);
    m.add_avail(0);
    let mut c = pop_one(&mut q, &mem);
    let mut w = Spans::<4>::new();
    assert_eq!(c.gather(&mem, true, &mut w), Ok(true));
    w.write_at(&mem, 2, &[1, 2, 3, 4, 5, 6, 7]).unwrap();
    assert_eq!(mem.bytes(BUF + 2, 1), [1]);
    assert_eq!(mem.bytes(BUF + 0x100, 5), [2, 3, 4, 5, 6]);
    assert_eq!(mem.bytes(BUF + 0x200, 2), [7, 0]);
    let mut back = [0u8; 7];
    w.read_at(&mem, 2, &mut back).unwrap();
    assert_eq!(back, [1, 2, 3, 4, 5, 6, 7]);
    // Past the 12 bytes the buffers hold, nothing is touched.
    assert_eq!(w.write_at(&mem, 10, &[9, 9, 9]), Err(Error::BufferTooShort));
    assert_eq!(mem.bytes(BUF + 0x202, 2), [0, 0]);
    assert_eq!(
        w.read_at(&mem, u64::MAX, &mut back),
        Err(Error::BufferTooShort)
    );
    let mut pieces = Vec::new();
    w.for_each_piece(1, 9, |at, addr, n| {
        pieces.push((at, addr, n));
        Ok(())
    })
    .unwrap();
    assert_eq!(
        pieces,
        [(0, BUF + 1, 2), (2, BUF + 0x100, 5), (7, BUF + 0x200, 2)]
    );
}

// ---- the chain walker against a reference model ------------------------------------------

/// A random descriptor table of `size` entries at `BASE`, and indirect tables behind it:
/// mostly well-formed chains over disjoint buffers (so that writes can be checked), with
/// every kind of damage mixed in.
fn random_table(rng: &mut XorShift, mem: &MockMemory, size: u16) {
    let slot = |i: u64| BUF + i * 0x100;
    let ind_base = BASE + 0x1000;
    for i in 0..size {
        let damaged = rng.below(10) == 0;
        let flags = if damaged {
            rng.below(8) as u16
        } else {
            // Readable first, then writable; sometimes indirect (with no NEXT).
            let w = if u64::from(i) >= rng.below(u64::from(size)) {
                WRITE
            } else {
                0
            };
            let ind = if rng.below(12) == 0 { INDIRECT } else { 0 };
            if ind != 0 {
                ind
            } else {
                w | if rng.below(4) == 0 { 0 } else { NEXT }
            }
        };
        let (addr, len) = if flags & INDIRECT != 0 && !damaged {
            let n = 1 + rng.below(8);
            (ind_base + rng.below(8) * 0x80, (n * 16) as u32)
        } else {
            match rng.below(12) {
                0 => (rng.next_u64(), rng.next_u64() as u32),
                1 => (u64::MAX - rng.below(64), rng.below(200) as u32),
                2 => (slot(u64::from(i)), 0),
                _ => (slot(u64::from(i)), 1 + rng.below(0x100) as u32),
            }
        };
        let next = if rng.below(16) == 0 {
            rng.below(u64::from(size) + 4) as u16
        } else {
            // Mostly forward, so that most chains end; sometimes back, making loops.
            ((u64::from(i) + 1 + rng.below(3)) % u64::from(size)) as u16
        };
        let raw: Vec<u8> = [
            &addr.to_le_bytes()[..],
            &len.to_le_bytes(),
            &flags.to_le_bytes(),
            &next.to_le_bytes(),
        ]
        .concat();
        mem.set_bytes(BASE + 16 * u64::from(i), &raw);
    }
    // Indirect tables: entries over buffers behind the main ones.
    for t in 0..8u64 {
        for e in 0..8u64 {
            let flags = match rng.below(10) {
                0 => rng.below(8) as u16,
                1..=4 => WRITE | NEXT,
                _ => NEXT,
            };
            let addr = slot(u64::from(size) + t * 8 + e);
            let len = rng.below(0x100) as u32;
            let next = (e + 1 + rng.below(2)) as u16;
            let raw: Vec<u8> = [
                &addr.to_le_bytes()[..],
                &len.to_le_bytes(),
                &flags.to_le_bytes(),
                &next.to_le_bytes(),
            ]
            .concat();
            mem.set_bytes(ind_base + t * 0x80 + e * 16, &raw);
        }
    }
}

#[test]
fn chains_against_model() {
    const SIZE: u16 = 16;
    let mem = MockMemory::new(BASE, MEM_LEN);
    let mut rng = XorShift(0x0123_4567_89ab_cdef);
    let (mut ok, mut failed) = (0u32, 0u32);
    for round in 0..5000 {
        random_table(&mut rng, &mem, SIZE);
        let head = rng.below(u64::from(SIZE)) as u16;
        let (want, end) = model_walk(&mem, BASE, SIZE, head);
        let ctx = format!("round {round}, head {head}");

        // The walk returns exactly the model's descriptors, then its ending, for good.
        let mut c = DescChain::new(BASE, SIZE, head);
        let mut got = Vec::new();
        let got_end = loop {
            match c.next_desc(&mem) {
                Ok(Some(d)) => got.push(d),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        assert_eq!(got, want, "{ctx}");
        assert_eq!(got_end, end, "{ctx}");
        if let Err(e) = end {
            assert_eq!(c.next_desc(&mem), Err(e), "{ctx}: errors stick");
        }

        // Lengths are the model's sums.
        let mut c = DescChain::new(BASE, SIZE, head);
        let sum = |w: bool| {
            want.iter()
                .filter(|d| d.writable == w)
                .map(|d| d.len)
                .sum::<u32>()
        };
        let lens = c.lengths(&mem);
        match end {
            Ok(()) => {
                ok += 1;
                assert_eq!(
                    lens,
                    Ok(ChainLengths {
                        readable: sum(false),
                        writable: sum(true)
                    }),
                    "{ctx}"
                );
            }
            Err(e) => {
                failed += 1;
                assert_eq!(lens, Err(e), "{ctx}");
                continue;
            }
        }

        // gather: the non-empty buffers of each side, if there are at most 4.
        for writable in [false, true] {
            let side: Vec<Span> = want
                .iter()
                .filter(|d| d.writable == writable && d.len > 0)
                .map(|d| Span {
                    addr: d.addr,
                    len: d.len,
                })
                .collect();
            let mut spans = Spans::<4>::new();
            let r = c.gather(&mem, writable, &mut spans);
            assert_eq!(r, Ok(side.len() <= 4), "{ctx}");
            let n = side.len().min(4);
            assert_eq!(spans.as_slice(), &side[..n], "{ctx}");
        }

        // A Reader yields the readable bytes in order; a Writer fills the writable ones. A
        // buffer outside memory fails its side with a memory error instead.
        let inside = |d: &Desc| {
            d.len == 0 || (d.addr >= BASE && d.addr + u64::from(d.len) <= BASE + MEM_LEN as u64)
        };
        for writable in [false, true] {
            if want.iter().any(|d| d.writable == writable && !inside(d)) {
                let c = DescChain::new(BASE, SIZE, head);
                let mut buf = vec![0u8; sum(writable) as usize];
                let r = if writable {
                    Writer::new(c).write_all(&mem, &buf)
                } else {
                    Reader::new(c).read_exact(&mem, &mut buf)
                };
                assert!(matches!(r, Err(Error::Mem(_))), "{ctx}: {r:?}");
            }
        }
        if !want.iter().all(inside) {
            continue;
        }
        let readable: Vec<u8> = want
            .iter()
            .filter(|d| !d.writable)
            .flat_map(|d| mem.bytes(d.addr, d.len as usize))
            .collect();
        let mut buf = vec![0u8; readable.len()];
        let mut r = Reader::new(DescChain::new(BASE, SIZE, head));
        assert_eq!(r.read_exact(&mem, &mut buf), Ok(()), "{ctx}");
        assert_eq!(buf, readable, "{ctx}");
        let mut one = [0u8; 1];
        assert_eq!(
            r.read_exact(&mem, &mut one),
            Err(Error::BufferTooShort),
            "{ctx}"
        );

        let total = sum(true) as usize;
        let pattern: Vec<u8> = (0..total).map(|i| (i as u8) ^ (round as u8)).collect();
        let mut w = Writer::new(DescChain::new(BASE, SIZE, head));
        // Buffers may repeat (a chain can name one slot twice through its indirect
        // table): then only the last write of each is what memory holds.
        assert_eq!(w.write_all(&mem, &pattern), Ok(()), "{ctx}");
        let mut expect: std::collections::BTreeMap<u64, u8> = Default::default();
        let mut off = 0;
        for d in want.iter().filter(|d| d.writable) {
            for k in 0..u64::from(d.len) {
                expect.insert(d.addr + k, pattern[off]);
                off += 1;
            }
        }
        for (a, v) in expect {
            assert_eq!(mem.bytes(a, 1)[0], v, "{ctx}: byte {a:#x}");
        }
        assert_eq!(w.write_all(&mem, &[0]), Err(Error::BufferTooShort), "{ctx}");
    }
    // The generator reaches both outcomes often.
    assert!(ok > 500 && failed > 500, "ok {ok}, failed {failed}");
}
