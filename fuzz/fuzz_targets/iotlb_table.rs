// SPDX-License-Identifier: GPL-2.0
//! The IOTLB table against a brute-force model, and DMA translation against a byte-by-byte
//! one: libFuzzer chooses the operations (inserts, growing inserts, removals of every overlap
//! shape, clears, translations), the model says what each must return, and every step the
//! table's contents, lookups and overlap queries must agree with it.
//!
//! Ranges are drawn near 0 and near `u64::MAX` most of the time, so that collisions, edges
//! and wrapping are common, and anywhere otherwise.
#![no_main]

use iotlb::model::{storage, Model};
use iotlb::{perm, DmaTarget, Error, InsertError, Mapping, Table, TranslateError};
use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;

type VecTable<T> = Table<T, Vec<Mapping<T>>>;

/// The most entries a table may grow to.
const MAX_ENTRIES: usize = 48;
/// Translations the model checks byte by byte are at most this long.
const MAX_TRANSLATE: u64 = 4096;

fn address(u: &mut Unstructured<'_>) -> Result<u64> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => u.arbitrary()?,
        1..=2 => u64::MAX - u64::from(u.int_in_range(0u16..=8191)?),
        _ => u64::from(u.int_in_range(0u16..=8191)?),
    })
}

/// An inclusive range, sometimes inverted.
fn range(u: &mut Unstructured<'_>) -> Result<(u64, u64)> {
    let first = address(u)?;
    let last = match u.int_in_range(0u8..=9)? {
        0 => u.arbitrary()?,
        1 => first,
        2 => first.wrapping_sub(u64::from(u.int_in_range(1u16..=64)?)),
        _ => first.saturating_add(u64::from(u.int_in_range(0u16..=600)?)),
    };
    Ok((first, last))
}

fn table_ops(u: &mut Unstructured<'_>) -> Result<()> {
    let cap = u.int_in_range(0usize..=8)?;
    let mut t: VecTable<u32> = Table::new(storage(cap, 0));
    let mut model = Model::<u32>::new();
    let mut step = 0u32;
    while !u.is_empty() && step < 2000 {
        step += 1;
        let (f, l) = range(u)?;
        match u.int_in_range(0u8..=9)? {
            0..=2 => {
                let want = model.insert_result(f, l, t.capacity());
                assert_eq!(t.insert(f, l, step), want, "insert [{f:#x}, {l:#x}]");
                if want.is_ok() {
                    model.insert(f, l, step);
                }
            }
            3..=5 => {
                // An allocator that may fail, or hand back too little.
                let give = u.int_in_range(0u8..=5)?;
                let mut asked = None;
                let before = t.capacity();
                let got = t.insert_growing(f, l, step, MAX_ENTRIES, |n| {
                    asked = Some(n);
                    match give {
                        0 => None,
                        1 => Some(storage(model.0.len(), 0)),
                        _ => Some(storage(n, 0)),
                    }
                });
                let mut want = model.insert_result(f, l, before.max(MAX_ENTRIES));
                if want.is_ok() && model.0.len() >= before && give <= 1 {
                    want = Err(InsertError::NoMemory);
                }
                assert_eq!(got, want, "insert_growing [{f:#x}, {l:#x}], give {give}");
                if let Some(n) = asked {
                    // Growth asks for more than it has, never past the limit.
                    assert!(n > before && n <= MAX_ENTRIES, "asked {n} at {before}");
                }
                if got.is_err() {
                    assert_eq!(t.capacity(), before, "a failed insert keeps the storage");
                } else {
                    model.insert(f, l, step);
                }
            }
            6..=8 => {
                let want = model.overlapping(f, l);
                let span = want.first().zip(want.last()).map(|(a, b)| (a.0, b.1));
                assert_eq!(t.overlap_span(f, l), span, "span [{f:#x}, {l:#x}]");
                let mut got = Vec::new();
                let n = t.remove_overlapping(f, l, |m| got.push((m.first, m.last, m.value)));
                assert_eq!(got, want, "remove [{f:#x}, {l:#x}]");
                assert_eq!(n, want.len());
                model.remove(f, l);
            }
            _ => {
                let mut got = Vec::new();
                t.clear(|m| got.push((m.first, m.last, m.value)));
                assert_eq!(got, model.0, "clear");
                model = Model::new();
            }
        }
        let (f, l) = range(u)?;
        model.check(&t, f, l, &format!("step {step}"));
    }
    Ok(())
}

/// A piece `translate` hands its callback: physical address, length, offset in the request.
type Piece = (u64, u64, u64);

/// Byte-by-byte translation: each byte's mapping, its physical address and permission,
/// coalesced into pieces the way `translate` hands them out (one per mapping).
fn model_translate(
    maps: &[(u64, u64, DmaTarget)],
    iova: u64,
    len: u64,
    need: u8,
) -> (Vec<Piece>, core::result::Result<(), TranslateError>) {
    let mut pieces: Vec<Piece> = Vec::new();
    if len == 0 {
        return (pieces, Ok(()));
    }
    if iova.checked_add(len - 1).is_none() {
        return (pieces, Err(TranslateError::Overflow));
    }
    let mut current: Option<usize> = None;
    for off in 0..len {
        let a = iova + off;
        let Some(i) = maps.iter().position(|m| m.0 <= a && a <= m.1) else {
            return (pieces, Err(TranslateError::Unmapped));
        };
        let (first, last, target) = maps[i];
        if target.perm & perm::READ_WRITE == 0 || target.perm & need != need {
            return (pieces, Err(TranslateError::Denied));
        }
        if current != Some(i) {
            // A new piece: its whole physical run must fit below 2^64.
            let piece_len = last.min(iova + (len - 1)) - a + 1;
            let phys = target.addr.checked_add(a - first);
            match phys.filter(|p| p.checked_add(piece_len - 1).is_some()) {
                Some(p) => pieces.push((p, piece_len, off)),
                None => return (pieces, Err(TranslateError::Overflow)),
            }
            current = Some(i);
        }
    }
    (pieces, Ok(()))
}

fn translate_ops(u: &mut Unstructured<'_>) -> Result<()> {
    let mut t: VecTable<DmaTarget> = Table::new(storage(16, DmaTarget { addr: 0, perm: 0 }));
    let mut maps: Vec<(u64, u64, DmaTarget)> = Vec::new();
    for _ in 0..u.int_in_range(0u8..=12)? {
        let (f, l) = range(u)?;
        let target = DmaTarget {
            addr: address(u)?,
            perm: u.int_in_range(0u8..=3)?,
        };
        if t.insert(f, l, target).is_ok() {
            maps.push((f, l, target));
        }
    }
    while !u.is_empty() {
        let iova = address(u)?;
        let len = match u.int_in_range(0u8..=5)? {
            0 => u.arbitrary::<u64>()? | (1 << 63),
            _ => u.int_in_range(0..=MAX_TRANSLATE)?,
        };
        let need = u.int_in_range(0u8..=3)?;
        let stop_at = u.int_in_range(0u8..=4)?;
        let mut got = Vec::new();
        let r = t.translate(iova, len, need, |p, n, off| {
            got.push((p, n, off));
            if got.len() == usize::from(stop_at) {
                Err(got.len())
            } else {
                Ok(())
            }
        });
        if len > MAX_TRANSLATE {
            // Too long to check byte by byte: it must refuse or cover the length exactly.
            if r.is_ok() {
                assert_eq!(got.iter().map(|g| g.1).sum::<u64>(), len);
            }
            continue;
        }
        let (want, end) = model_translate(&maps, iova, len, need);
        match r {
            Err(Error::Caller(n)) => {
                assert_eq!(n, usize::from(stop_at));
                assert_eq!(got[..], want[..n], "pieces before the caller stopped");
            }
            Err(Error::Translate(e)) => {
                assert_eq!(end, Err(e), "translate {iova:#x}+{len:#x} need {need}");
                assert_eq!(got, want);
            }
            Ok(()) => {
                assert_eq!(end, Ok(()), "translate {iova:#x}+{len:#x} need {need}");
                assert_eq!(got, want);
            }
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0u8..=1) {
        Ok(0) => table_ops(&mut u),
        _ => translate_ops(&mut u),
    };
});
