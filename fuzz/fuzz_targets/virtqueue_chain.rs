// SPDX-License-Identifier: GPL-2.0
//! The device side of a split queue over rings libFuzzer writes: descriptor tables, indirect
//! tables, the available ring and its index, the driver's event fields. The device pops,
//! walks and completes chains as a device does, and every walk is compared with the spec's
//! chain rules as written in `virtqueue::mock::model_walk`; completions, notifications and
//! the broken state are checked against what the ring says. Then chains are walked again
//! while their descriptors are rewritten under the walker, as a hostile driver would: the
//! walk must end, within the bound a chain can have, whatever it returns.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use virtqueue::mock::{model_walk, MockMemory, MockSplitQueue};
use virtqueue::{
    vring_need_event, DescChain, Error, GuestMemory, DESC_SIZE, MAX_INDIRECT_ENTRIES,
    VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE,
};

const BASE: u64 = 0x1_0000;
const MEM_LEN: usize = 0x1_0000;
/// Indirect tables live here: 32 descriptors.
const INDIRECT: u64 = BASE + 0x4000;
const INDIRECT_DESCS: u64 = 32;
/// Buffers live here, to the end of memory.
const BUFFERS: u64 = BASE + 0x8000;

fn address(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => u.arbitrary()?,
        1 => u64::MAX - u64::from(u.int_in_range(0u8..=255)?),
        2 => BASE + u64::from(u.arbitrary::<u16>()?),
        3..=5 => INDIRECT + 16 * u64::from(u.int_in_range(0u8..=31)?),
        _ => BUFFERS + u64::from(u.int_in_range(0u16..=0x7fff)?),
    })
}

fn length(u: &mut Unstructured<'_>) -> Result<u32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1 => 0,
        2..=3 => 16 * u32::from(u.int_in_range(1u8..=16)?),
        _ => u32::from(u.int_in_range(1u16..=0x800)?),
    })
}

/// A descriptor at `at`: mostly plausible (flags among the three defined, `next` just
/// ahead), anything otherwise.
fn descriptor(
    u: &mut Unstructured<'_>,
    mem: &MockMemory,
    at: u64,
    i: u16,
    size: u16,
) -> Result<()> {
    let addr = address(u)?;
    let len = length(u)?;
    let flags = match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1 => VRING_DESC_F_INDIRECT,
        _ => u16::from(u.int_in_range(0u8..=3)?) & (VRING_DESC_F_NEXT | VRING_DESC_F_WRITE),
    };
    let next = match u.int_in_range(0u8..=5)? {
        0 => u.arbitrary()?,
        1 => u.int_in_range(0..=size.saturating_sub(1))?,
        _ => i.wrapping_add(1) % size.max(1),
    };
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&addr.to_le_bytes());
    raw[8..12].copy_from_slice(&len.to_le_bytes());
    raw[12..14].copy_from_slice(&flags.to_le_bytes());
    raw[14..].copy_from_slice(&next.to_le_bytes());
    mem.set_bytes(at, &raw);
    Ok(())
}

/// Walks a chain to its end or first error, with a bound no valid walk reaches.
fn walk<M: GuestMemory>(
    c: &mut DescChain,
    mem: &M,
    size: u16,
) -> (Vec<virtqueue::Desc>, core::result::Result<(), Error>) {
    let bound = usize::from(size) + MAX_INDIRECT_ENTRIES as usize;
    let mut got = Vec::new();
    loop {
        assert!(
            got.len() <= bound,
            "a walk returned more than {bound} descriptors"
        );
        match c.next_desc(mem) {
            Ok(Some(d)) => got.push(d),
            Ok(None) => return (got, Ok(())),
            Err(e) => return (got, Err(e)),
        }
    }
}

fn run(u: &mut Unstructured<'_>) -> Result<()> {
    let size = 1u16 << u.int_in_range(0u8..=6)?;
    let event_idx: bool = u.arbitrary()?;
    let mem = MockMemory::new(BASE, MEM_LEN);
    let ring = MockSplitQueue::new(&mem, BASE, size);
    let mut q = ring.queue(event_idx);
    let table = q.desc_table();
    for i in 0..size {
        descriptor(u, &mem, table + DESC_SIZE * u64::from(i), i, size)?;
    }
    for i in 0..INDIRECT_DESCS {
        if u.is_empty() {
            break;
        }
        descriptor(u, &mem, INDIRECT + DESC_SIZE * i, i as u16, 16)?;
    }

    let mut completed = 0u16;
    let mut steps = 0u32;
    while !u.is_empty() && steps < 512 {
        steps += 1;
        // The driver makes some chains available, or moves its index anywhere.
        match u.int_in_range(0u8..=7)? {
            0 => ring.set_avail_idx(u.arbitrary()?),
            1 => ring.set_avail_flags(u.arbitrary()?),
            2 => ring.set_used_event(u.arbitrary()?),
            _ => {
                for _ in 0..u.int_in_range(0u8..=4)? {
                    let head = match u.int_in_range(0u8..=7)? {
                        0 => u.arbitrary()?,
                        _ => u.int_in_range(0..=size - 1)?,
                    };
                    ring.add_avail(head);
                }
            }
        }
        if u.arbitrary()? {
            let _ = q.set_notification(&mem, u.arbitrary()?);
        }
        let broken = q.is_broken();
        let chain = match q.pop(&mem) {
            Ok(Some(c)) => c,
            Ok(None) => {
                assert!(!broken);
                assert_eq!(q.pending(&mem), Ok(0));
                continue;
            }
            Err(e) => {
                if broken {
                    assert_eq!(e, Error::Broken);
                }
                // Malformed driver data breaks the queue for good.
                assert!(q.is_broken());
                assert_eq!(q.pop(&mem).err(), Some(Error::Broken));
                return Ok(());
            }
        };
        let head = chain.head();
        assert!(head < size);
        let (want, want_end) = model_walk(&mem, table, size, head);
        let (got, end) = walk(&mut chain.clone(), &mem, size);
        assert_eq!(got, want, "head {head}");
        assert_eq!(end, want_end, "head {head}");
        let written: u64 = want
            .iter()
            .filter(|d| d.writable)
            .map(|d| u64::from(d.len))
            .sum();
        let lens = chain.clone().lengths(&mem);
        match end {
            Ok(()) => {
                let lens = lens.expect("a chain that walks has lengths");
                assert_eq!(u64::from(lens.writable), written);
            }
            Err(e) => {
                assert_eq!(lens, Err(e));
                // What a device does with a chain that fails its walk.
                q.mark_broken();
                assert_eq!(q.pop(&mem).err(), Some(Error::Broken));
                return Ok(());
            }
        }
        if u.arbitrary()? && q.undo_pop() {
            // Given back: the next pop is the same chain.
            let again = q.pop(&mem).expect("undone pop").expect("undone chain");
            assert_eq!(again.head(), head);
        }
        let len = (written as u32).min(u.arbitrary()?);
        q.add_used(&mem, head, len).expect("used ring is in memory");
        completed = completed.wrapping_add(1);
        assert_eq!(ring.used_idx(), completed);
        let slot = completed.wrapping_sub(1);
        assert_eq!(ring.used_elem(slot), (u32::from(head), len));
        let old = q.next_used().wrapping_sub(1);
        let flags = mem.read_u16(ring_avail(&q)).expect("avail flags");
        let event = mem
            .read_u16(ring_avail(&q) + 4 + 2 * u64::from(size))
            .expect("used_event");
        let notify = q.needs_notification(&mem).expect("rings are in memory");
        if !event_idx {
            assert_eq!(notify, flags & VRING_AVAIL_F_NO_INTERRUPT == 0);
        } else if completed > 1 {
            // Every completion is checked right after it, so `old` is the previous index.
            assert_eq!(notify, vring_need_event(event, q.next_used(), old));
        }
    }

    // A hostile driver: descriptors rewritten while the device walks them. The walk must
    // end within its bound, whatever it returns.
    while !u.is_empty() {
        let head = u.int_in_range(0..=size - 1)?;
        // A fresh queue (a device reset) with just that chain available.
        ring.set_avail_slot(0, head);
        ring.set_avail_idx(1);
        let Ok(Some(mut c)) = ring.queue(event_idx).pop(&mem) else {
            panic!("a chain made available at {head} does not pop");
        };
        let bound = usize::from(size) + MAX_INDIRECT_ENTRIES as usize;
        let mut n = 0usize;
        loop {
            if u.arbitrary()? {
                let i = u.int_in_range(0..=size - 1)?;
                descriptor(u, &mem, table + DESC_SIZE * u64::from(i), i, size)?;
            }
            match c.next_desc(&mem) {
                Ok(Some(_)) => n += 1,
                _ => break,
            }
            assert!(
                n <= bound,
                "a rewritten chain walked past {bound} descriptors"
            );
        }
    }
    Ok(())
}

/// Where the queue's available ring starts.
fn ring_avail(q: &virtqueue::SplitQueue) -> u64 {
    q.avail_ring()
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = run(&mut u);
});
