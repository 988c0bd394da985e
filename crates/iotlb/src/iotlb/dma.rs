// SPDX-License-Identifier: GPL-2.0
//! Device-side DMA translation through a table of [`DmaTarget`]s.

use core::ops::DerefMut;

use super::table::{Mapping, Table};

/// Access permission bits of a [`DmaTarget`].
///
/// The values are those of `VHOST_ACCESS_RO` and `VHOST_ACCESS_WO`, so the
/// `perm` of an IOTLB update message can be stored unchanged.
pub mod perm {
    /// The device may read the memory.
    pub const READ: u8 = 1;
    /// The device may write the memory.
    pub const WRITE: u8 = 2;
    /// Both [`READ`] and [`WRITE`] (`VHOST_ACCESS_RW`).
    pub const READ_WRITE: u8 = READ | WRITE;
}

/// Where the first address of a DMA mapping lands, and what the device may do there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaTarget {
    /// Physical address of the mapping's `first` IOVA; the rest follows contiguously.
    pub addr: u64,
    /// Bits from [`perm`].
    pub perm: u8,
}

/// Why an IOVA range could not be translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslateError {
    /// Some byte of the range has no mapping.
    Unmapped,
    /// Some byte is mapped without every permission bit the access needs.
    Denied,
    /// The IOVA range, or the physical range a mapping gives for it, runs past `u64::MAX`.
    Overflow,
}

/// Failure of [`Table::translate`]: either the translation or the caller's callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The range could not be translated.
    Translate(TranslateError),
    /// The callback failed; its error is passed through unchanged.
    Caller(E),
}

impl<E> From<TranslateError> for Error<E> {
    fn from(e: TranslateError) -> Self {
        Self::Translate(e)
    }
}

impl<S: DerefMut<Target = [Mapping<DmaTarget>]>> Table<DmaTarget, S> {
    /// Translates the `len` bytes at `iova` for an access that needs every bit of `need`.
    ///
    /// The range is split into pieces that each lie inside one mapping, and
    /// `f(phys_addr, piece_len, offset_in_request)` is called for each piece in
    /// ascending order; adjacent mappings give separate pieces even when their
    /// physical ranges happen to be contiguous.
    ///
    /// `len == 0` succeeds without calling `f`. A range that ends exactly at
    /// `u64::MAX` is fine.
    ///
    /// # Errors
    ///
    /// - [`TranslateError::Overflow`] if `iova + len` passes 2^64 (reported
    ///   before `f` is called), or if a mapping would place a piece's physical
    ///   range past `u64::MAX`;
    /// - [`TranslateError::Unmapped`] if some byte has no mapping;
    /// - [`TranslateError::Denied`] if some byte's mapping lacks a bit of
    ///   `need`, or has no [`perm`] bit at all (such a mapping grants nothing,
    ///   even to an access that names no bit in `need`);
    /// - [`Error::Caller`] with the first error `f` returns, after which `f`
    ///   is not called again.
    ///
    /// Pieces are checked one at a time, so on any error but an IOVA overflow
    /// `f` may already have handled a prefix of the range.
    pub fn translate<E>(
        &self,
        iova: u64,
        len: u64,
        need: u8,
        mut f: impl FnMut(u64, u64, u64) -> Result<(), E>,
    ) -> Result<(), Error<E>> {
        if len == 0 {
            return Ok(());
        }
        let last = iova
            .checked_add(len.wrapping_sub(1))
            .ok_or(TranslateError::Overflow)?;
        let mut cur = iova;
        let mut offset: u64 = 0;
        loop {
            let m = self.lookup(cur).ok_or(TranslateError::Unmapped)?;
            let p = m.value.perm;
            if p & perm::READ_WRITE == 0 || p & need != need {
                return Err(TranslateError::Denied.into());
            }
            let piece_last = m.last.min(last);
            // `iova <= cur <= piece_last <= last`, and `last - iova < len`, so
            // the piece length fits in a u64 and nothing below wraps.
            let piece_len = piece_last.wrapping_sub(cur).wrapping_add(1);
            // A mapping whose physical range wraps is meaningless; refuse to
            // hand out an address run that does.
            let phys = m
                .value
                .addr
                .checked_add(cur.wrapping_sub(m.first))
                .filter(|p| p.checked_add(piece_len.wrapping_sub(1)).is_some())
                .ok_or(TranslateError::Overflow)?;
            f(phys, piece_len, offset).map_err(Error::Caller)?;
            if piece_last >= last {
                return Ok(());
            }
            cur = piece_last.wrapping_add(1);
            offset = offset.wrapping_add(piece_len);
        }
    }
}
