// SPDX-License-Identifier: GPL-2.0
//! A log in a vector, for tests: it reads back the pages marked and clears words the way
//! QEMU does.

use core::sync::atomic::{AtomicU64, Ordering};
use std::vec::Vec;

use super::{LogError, LogWords, WORD_BITS};

/// A log of `words` words; words listed in `faulty` fail every access.
pub struct MockLog {
    words: Vec<AtomicU64>,
    faulty: Vec<u64>,
    ors: AtomicU64,
}

impl MockLog {
    /// A clear log of `words` words.
    pub fn new(words: u64) -> Self {
        Self {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
            faulty: Vec::new(),
            ors: AtomicU64::new(0),
        }
    }

    /// How many atomic ORs reached the log.
    pub fn ors(&self) -> u64 {
        self.ors.load(Ordering::Relaxed)
    }

    /// Makes accesses to word `w` fail.
    pub fn fail_word(&mut self, w: u64) {
        self.faulty.push(w);
    }

    /// The pages marked, ascending.
    pub fn pages(&self) -> Vec<u64> {
        let mut out = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            let v = w.load(Ordering::Relaxed);
            for b in 0..WORD_BITS {
                if v & (1 << b) != 0 {
                    out.push(i as u64 * WORD_BITS + b);
                }
            }
        }
        out
    }

    /// Reads and clears every word with an atomic exchange, as QEMU's sync does; returns the
    /// pages that were marked.
    pub fn take(&self) -> Vec<u64> {
        let pages = self.pages();
        for w in &self.words {
            w.swap(0, Ordering::AcqRel);
        }
        pages
    }
}

impl LogWords for MockLog {
    fn words(&self) -> u64 {
        self.words.len() as u64
    }

    fn load(&self, word: u64) -> Result<u64, LogError> {
        if self.faulty.contains(&word) {
            return Err(LogError::Fault);
        }
        let w = self.words.get(word as usize).ok_or(LogError::OutOfLog)?;
        Ok(w.load(Ordering::Relaxed))
    }

    fn fetch_or(&self, word: u64, mask: u64) -> Result<(), LogError> {
        if self.faulty.contains(&word) {
            return Err(LogError::Fault);
        }
        let w = self.words.get(word as usize).ok_or(LogError::OutOfLog)?;
        w.fetch_or(mask, Ordering::Release);
        self.ors.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
