// SPDX-License-Identifier: GPL-2.0
//! A brute-force reference for [`Table`]: its entries in a sorted `Vec`, every query a scan.
//! The randomized unit tests and the coverage-guided fuzz target
//! (`fuzz/fuzz_targets/iotlb_table.rs`) run a table and this model side by side.

use core::fmt::Debug;
use core::ops::DerefMut;
use std::vec::Vec;

use super::table::{InsertError, Mapping, Table};

/// The mappings a table should hold, as `(first, last, value)`, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model<T>(pub Vec<(u64, u64, T)>);

/// Storage for a table of `n` entries (their contents are ignored).
pub fn storage<T: Copy>(n: usize, fill: T) -> Vec<Mapping<T>> {
    std::vec![
        Mapping {
            first: 0,
            last: 0,
            value: fill,
        };
        n
    ]
}

/// Whether entry `m` overlaps the query `[f, l]` (an inverted query overlaps nothing).
pub fn hits<T>(m: &(u64, u64, T), f: u64, l: u64) -> bool {
    f <= l && m.0 <= l && f <= m.1
}

impl<T: Copy + Ord + Debug> Model<T> {
    /// An empty model.
    pub fn new() -> Self {
        Self(Vec::new())
    }

    /// What [`Table::insert`] of `[f, l]` must return at capacity `cap`: the range checks
    /// first, then the capacity.
    pub fn insert_result(&self, f: u64, l: u64, cap: usize) -> Result<(), InsertError> {
        if f > l {
            Err(InsertError::Invalid)
        } else if self.0.iter().any(|m| hits(m, f, l)) {
            Err(InsertError::Overlap)
        } else if self.0.len() >= cap {
            Err(InsertError::Full)
        } else {
            Ok(())
        }
    }

    /// Records an insertion the table accepted.
    pub fn insert(&mut self, f: u64, l: u64, v: T) {
        self.0.push((f, l, v));
        self.0.sort_unstable();
    }

    /// The entries a removal of `[f, l]` takes, in order.
    pub fn overlapping(&self, f: u64, l: u64) -> Vec<(u64, u64, T)> {
        self.0.iter().copied().filter(|m| hits(m, f, l)).collect()
    }

    /// Removes what [`Model::overlapping`] names.
    pub fn remove(&mut self, f: u64, l: u64) {
        self.0.retain(|m| !hits(m, f, l));
    }

    /// Panics, naming `ctx`, unless `t` holds exactly the model's entries and answers
    /// `overlaps` for `[f, l]` and `lookup` at its edges and just outside them as the
    /// model does.
    pub fn check<S: DerefMut<Target = [Mapping<T>]>>(
        &self,
        t: &Table<T, S>,
        f: u64,
        l: u64,
        ctx: &str,
    ) {
        let live: Vec<(u64, u64, T)> = t.iter().map(|m| (m.first, m.last, m.value)).collect();
        assert_eq!(live, self.0, "{ctx}: entries");
        assert_eq!(t.len(), self.0.len(), "{ctx}: len");
        assert!(t.len() <= t.capacity(), "{ctx}: capacity");
        assert_eq!(
            t.overlaps(f, l),
            self.0.iter().any(|m| hits(m, f, l)),
            "{ctx}: overlaps [{f:#x}, {l:#x}]"
        );
        for a in [f, l, f.wrapping_sub(1), l.wrapping_add(1)] {
            let want = self.0.iter().find(|m| m.0 <= a && a <= m.1).map(|m| m.2);
            assert_eq!(t.lookup(a).map(|m| m.value), want, "{ctx}: lookup {a:#x}");
        }
    }
}
