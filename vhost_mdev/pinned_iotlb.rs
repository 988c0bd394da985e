// SPDX-License-Identifier: GPL-2.0
//! The IOTLB of one open device: userspace IOVA ranges backed by pinned user pages.
//!
//! An UPDATE pins the pages (`FOLL_LONGTERM`), charges them to the owner's
//! `RLIMIT_MEMLOCK` through `mm->pinned_vm`, and records one entry per physically contiguous
//! run, as vhost-vdpa does for a parent without its own IOMMU. Each entry is also programmed
//! into the device's DMA table (`DMA_CMD` MAP), so the device translates IOVAs to exactly
//! these pages and nothing else. Removing an entry unmaps it from the device first (after
//! which the device no longer touches it) and only then unpins the pages.
//!
//! The table logic (sorted disjoint entries, overlap rules, whole-entry invalidation) is the
//! host-tested `iotlb` crate; this file only adds pinning and the device.

use super::iotlb::{self, InsertError, Mapping};
use super::kglue::mm::{self, OwnerMm};
use super::kglue::window::Window;
use super::vhost_uapi::VHOST_ACCESS_WO;
use super::vmdev_regs::dma;
use kernel::alloc::KVVec;
use kernel::error::code::{EEXIST, EFAULT, EINVAL, ENOMEM, ENOSPC};
use kernel::prelude::*;

const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;
const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
/// Pages pinned per `pin_user_pages_fast()` call; the pfn buffer is one page.
const PIN_CHUNK: usize = 512;

/// A physically contiguous run of pinned pages.
#[derive(Clone, Copy)]
pub(crate) struct PinnedRun {
    pfn: u64,
    perm: u8,
}

type RunTable = iotlb::Table<PinnedRun, KVVec<Mapping<PinnedRun>>>;

/// Filler for unused table slots (the table ignores them).
const NO_RUN: Mapping<PinnedRun> = Mapping {
    first: 0,
    last: 0,
    value: PinnedRun { pfn: 0, perm: 0 },
};

/// One address space (vhost-vdpa's `vhost_iotlb` of one asid).
///
/// # Invariants
///
/// Every entry's pages are pinned once (by [`mm::pin_user_pages`]), counted in `mm`'s
/// `pinned_vm`, and mapped in the device's DMA table at the entry's IOVA.
pub(crate) struct AddressSpace {
    runs: RunTable,
    /// The device's `DMA_MAX_ENTRIES`: holding more runs than the device can map is useless.
    max_runs: usize,
    mm: OwnerMm,
    /// The device's address space these entries are mapped in.
    asid: u16,
}

fn pages_of(m: &Mapping<PinnedRun>) -> u64 {
    (m.last.wrapping_sub(m.first) >> PAGE_SHIFT).wrapping_add(1)
}

/// Unmaps `size` bytes at `iova` from the device's address space `asid`, after which the
/// device no longer touches them.
fn device_unmap(win: &Window, asid: u16, iova: u64, size: u64) {
    // A refused unmap means the device never had the entry; either way it does not use the
    // pages.
    let _ = win.dma(asid, dma::CMD_UNMAP, iova, size, 0, 0);
}

/// Unmaps run `m` from the device (which then no longer touches it) and unpins its pages.
fn release(mm: &OwnerMm, win: Option<&Window>, asid: u16, m: Mapping<PinnedRun>) {
    if let Some(win) = win {
        device_unmap(win, asid, m.first, pages_of(&m) << PAGE_SHIFT);
    }
    unpin(mm, m);
}

/// Unpins the pages of run `m`, which the device no longer uses.
fn unpin(mm: &OwnerMm, m: Mapping<PinnedRun>) {
    let n = pages_of(&m);
    // SAFETY: the run's pages were pinned by `AddressSpace::map` and are unpinned once, here,
    // when the run leaves the table, after the device stopped using them.
    unsafe { mm::unpin_pages(m.value.pfn, n, m.value.perm & VHOST_ACCESS_WO != 0) };
    mm.sub_pinned(n);
}

impl AddressSpace {
    /// An empty address space `asid` charging pins to `mm`, for a device whose DMA table
    /// holds up to `max_runs` entries.
    pub(crate) fn new(mm: OwnerMm, max_runs: usize, asid: u16) -> Result<Self> {
        let v = KVVec::from_elem(NO_RUN, iotlb::DEFAULT_CAPACITY.min(max_runs), GFP_KERNEL)?;
        Ok(Self {
            runs: RunTable::new(v),
            max_runs,
            mm,
            asid,
        })
    }

    /// Whether `[first, last]` overlaps an entry.
    pub(crate) fn overlaps(&self, first: u64, last: u64) -> bool {
        self.runs.overlaps(first, last)
    }

    /// Records one run and programs it into the device. On error nothing of the run is
    /// recorded and the caller still owns its pins.
    fn add_run(&mut self, win: &Window, iova: u64, pfn: u64, npages: u64, perm: u8) -> Result<()> {
        let size = npages << PAGE_SHIFT;
        let last = iova.checked_add(size.wrapping_sub(1)).ok_or(EINVAL)?;
        // Scattered 4 KiB pages make one run each, so the table grows (in process context,
        // under the device mutex) up to what the device can map.
        let grown = |n| KVVec::from_elem(NO_RUN, n, GFP_KERNEL).ok();
        self.runs
            .insert_growing(iova, last, PinnedRun { pfn, perm }, self.max_runs, grown)
            .map_err(|e| match e {
                InsertError::Full => ENOSPC,
                InsertError::NoMemory => ENOMEM,
                InsertError::Overlap => EEXIST,
                InsertError::Invalid => EINVAL,
            })?;
        let dma_perm = u32::from(perm) & 3;
        if let Err(e) = win.dma(
            self.asid,
            dma::CMD_MAP,
            iova,
            size,
            pfn << PAGE_SHIFT,
            dma_perm,
        ) {
            self.runs.remove_overlapping(iova, last, |_| {});
            return Err(e);
        }
        self.mm.add_pinned(npages);
        Ok(())
    }

    /// vhost-vdpa's UPDATE for a parent without an IOMMU (`vhost_vdpa_pa_map()`): pins the
    /// pages of `[uaddr, uaddr + size)` and maps them at `iova`, page-aligned. The caller has
    /// checked the range and that it overlaps nothing. All or nothing.
    pub(crate) fn map(
        &mut self,
        win: &Window,
        iova: u64,
        size: u64,
        uaddr: u64,
        perm: u8,
    ) -> Result<()> {
        let last = iova.checked_add(size.wrapping_sub(1)).ok_or(EINVAL)?;
        let npages = (last >> PAGE_SHIFT) - (iova >> PAGE_SHIFT) + 1;
        // The caller is the owner (only the owner writes IOTLB messages): its limit applies.
        let (limit, pinned) = (mm::memlock_limit_pages(), self.mm.pinned_pages());
        if npages.saturating_add(pinned) > limit {
            return Err(ENOMEM);
        }
        let base = iova & !(PAGE_SIZE - 1);
        let ubase = uaddr & !(PAGE_SIZE - 1);
        let mut pfns = KVVec::from_elem(0u64, PIN_CHUNK, GFP_KERNEL)?;
        let write = perm & VHOST_ACCESS_WO != 0;
        let res = self.map_pinned(win, base, ubase, npages, write, perm, &mut pfns);
        if res.is_err() {
            // Undo what this update recorded: its range overlapped nothing before.
            self.unmap_range(Some(win), base, last | (PAGE_SIZE - 1));
        }
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn map_pinned(
        &mut self,
        win: &Window,
        base: u64,
        ubase: u64,
        npages: u64,
        write: bool,
        perm: u8,
        pfns: &mut KVVec<u64>,
    ) -> Result<()> {
        let mut done: u64 = 0;
        // The run being built: first IOVA, first pfn, length in pages.
        let mut run: Option<(u64, u64, u64)> = None;
        while done < npages {
            let n = (npages - done).min(PIN_CHUNK as u64);
            let chunk = pfns.get_mut(..n as usize).ok_or(EINVAL)?;
            let pinned = ubase
                .checked_add(done << PAGE_SHIFT)
                .ok_or(EFAULT)
                .and_then(|uaddr| mm::pin_user_pages(uaddr, write, chunk));
            if let Err(e) = pinned {
                // The open run's pages (from earlier chunks) are recorded nowhere yet.
                if let Some((_, rp, rn)) = run {
                    self.unpin_unrecorded(rp, rn, &[], 0);
                }
                return Err(e);
            }
            let chunk = &*chunk;
            for (i, &pfn) in (0u64..).zip(chunk.iter()) {
                let iova = base.wrapping_add(done.wrapping_add(i) << PAGE_SHIFT);
                run = match run {
                    Some((ri, rp, rn)) if rp.wrapping_add(rn) == pfn => Some((ri, rp, rn + 1)),
                    Some((ri, rp, rn)) => {
                        if let Err(e) = self.add_run(win, ri, rp, rn, perm) {
                            // Pages of this run before this chunk, and the rest of this
                            // chunk, are not recorded anywhere yet.
                            self.unpin_unrecorded(rp, rn, chunk, i);
                            return Err(e);
                        }
                        Some((iova, pfn, 1))
                    }
                    None => Some((iova, pfn, 1)),
                };
            }
            done += n;
        }
        // Runs continue across chunks; the last one ends with the range.
        if let Some((ri, rp, rn)) = run {
            if let Err(e) = self.add_run(win, ri, rp, rn, perm) {
                self.unpin_unrecorded(rp, rn, &[], 0);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Unpins the open run `[rp, rp + rn)` and the pages of `chunk` from index `from` on,
    /// minus those inside the run (a run's pages are contiguous, and the chunk's tail starts
    /// after the run ended).
    fn unpin_unrecorded(&self, rp: u64, rn: u64, chunk: &[u64], from: u64) {
        let tail = chunk.iter().skip(from as usize).map(|&pfn| (pfn, 1));
        for (pfn, n) in Iterator::chain(core::iter::once((rp, rn)), tail) {
            // SAFETY: these pages were pinned by this update, once each, and are recorded
            // nowhere, so nothing else releases them; the device never had them mapped.
            unsafe { mm::unpin_pages(pfn, n, false) };
        }
    }

    /// Removes every entry overlapping `[first, last]`, in full (vhost_iotlb_del_range()).
    pub(crate) fn unmap_range(&mut self, win: Option<&Window>, first: u64, last: u64) {
        let (mm, asid) = (&self.mm, self.asid);
        // The device's table holds our runs entry for entry, so one unmap of the span they
        // cover removes exactly them there, and the device compacts its table once rather
        // than once per run (a map of fragmented memory has a run per page). Only the span
        // of the whole address space has no size; it goes run by run.
        let span = self
            .runs
            .overlap_span(first, last)
            .and_then(|(a, b)| Some((a, (b - a).checked_add(1)?)));
        match (win, span) {
            (Some(win), Some((iova, size))) => {
                device_unmap(win, asid, iova, size);
                self.runs.remove_overlapping(first, last, |m| unpin(mm, m));
            }
            _ => {
                self.runs
                    .remove_overlapping(first, last, |m| release(mm, win, asid, m));
            }
        }
    }

    /// vhost-vdpa's INVALIDATE: `vhost_vdpa_unmap(iova, size)` deletes every entry meeting
    /// `[iova, iova + size - 1]` (wrapping), with the interval tree's rule for an empty range
    /// (`size == 0`, `iova > 0`): entries holding both `iova - 1` and `iova`.
    pub(crate) fn invalidate(&mut self, win: Option<&Window>, iova: u64, size: u64) {
        let (first, last) = iotlb::invalidate_range(iova, size);
        if first <= last {
            self.unmap_range(win, first, last);
        } else if let Some(m) = self.runs.lookup(last) {
            if m.last >= first {
                self.unmap_range(win, m.first, m.first);
            }
        }
    }

    /// Releases everything (close, device removal).
    pub(crate) fn clear(&mut self, win: Option<&Window>) {
        self.unmap_range(win, 0, u64::MAX);
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        // Owners clear explicitly with the device at hand; this only guards against a leak
        // of pins if one forgot (the device must be gone by then).
        if !self.runs.is_empty() {
            self.clear(None);
        }
    }
}
