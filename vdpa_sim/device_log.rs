// SPDX-License-Identifier: GPL-2.0
//! The dirty log as the simulator reaches it: the words of the VMM's bitmap, through the
//! log's own address space.
//!
//! The driver maps the bitmap's pages in address space `log::ASID` and names it with
//! `LOG_BASE` and `LOG_SIZE` (Documentation/register-map.rst, "Dirty page logging"). Which
//! pages a pass wrote, and when they are marked, is the host-tested `dirty_log` crate
//! ([`LoggedMemory`](super::dirty_log::LoggedMemory)); this file only reads and sets the
//! bits, each set with an atomic OR on the pinned page behind its word
//! ([`RamPage::fetch_or_u64`]).
//!
//! Like the DMA tables, the log's table and registers change only with the device state
//! locked for writing, which waits for every pass: a pass never marks a log the driver has
//! replaced.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering};

use super::device_memory::{DmaSpace, DmaTable};
use super::dirty_log::{LogError, LogWords, WORD_BYTES};
use super::iotlb::{self, perm};
use super::kglue::ram::RamPage;
use super::vmdev_regs::device::LogConfig;

const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;

/// The log of one pass.
///
/// # Invariants
///
/// `last`, if set, is the RAM page `table` maps, writable, at device page `.0`.
pub(crate) struct DeviceLog<'a> {
    table: Option<&'a DmaTable>,
    cfg: LogConfig,
    /// The log page the last mark reached: a pass's marks are mostly in one page of log,
    /// which covers 128 MiB of guest.
    last: Cell<Option<(u64, RamPage)>>,
    /// Counts the ORs done, for `stats/log_marks`.
    marks: &'a AtomicU64,
}

impl<'a> DeviceLog<'a> {
    /// The log `cfg` names in address space `space`.
    pub(crate) fn new(space: &'a DmaSpace, cfg: LogConfig, marks: &'a AtomicU64) -> Self {
        Self {
            table: space.table.as_ref(),
            cfg,
            last: Cell::new(None),
            marks,
        }
    }

    /// The RAM page behind log page `page`, if it is mapped writable.
    fn page(&self, page: u64) -> Result<RamPage, LogError> {
        if let Some((p, ram)) = self.last.get() {
            if p == page {
                return Ok(ram);
            }
        }
        let (phys, p) = self
            .table
            .and_then(|t| t.translate_page(page))
            .ok_or(LogError::Fault)?;
        if p & perm::WRITE == 0 {
            return Err(LogError::Fault);
        }
        // SAFETY: a page the driver mapped writable in the log's address space: vhost_mdev
        // maps only the pages of the VMM's bitmap it pinned, and keeps them pinned while
        // the mapping stands, which is longer than this pass (see the module documentation).
        let ram = unsafe { RamPage::at(phys) }.ok_or(LogError::Fault)?;
        self.last.set(Some((page, ram)));
        Ok(ram)
    }
}

impl DeviceLog<'_> {
    /// The RAM page and offset of log word `word`.
    fn word(&self, word: u64) -> Result<(RamPage, usize), LogError> {
        let addr = word
            .checked_mul(WORD_BYTES)
            .and_then(|off| self.cfg.base.checked_add(off))
            .ok_or(LogError::OutOfLog)?;
        let ram = self.page(addr & !(PAGE_SIZE - 1))?;
        Ok((ram, (addr & (PAGE_SIZE - 1)) as usize))
    }
}

impl LogWords for DeviceLog<'_> {
    fn words(&self) -> u64 {
        self.cfg.words()
    }

    fn load(&self, word: u64) -> Result<u64, LogError> {
        let (ram, off) = self.word(word)?;
        ram.load_u64(off).ok_or(LogError::Fault)
    }

    fn fetch_or(&self, word: u64, mask: u64) -> Result<(), LogError> {
        let (ram, off) = self.word(word)?;
        match ram.fetch_or_u64(off, mask) {
            true => {
                self.marks.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            false => Err(LogError::Fault),
        }
    }
}
