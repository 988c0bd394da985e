// SPDX-License-Identifier: GPL-2.0
//! The IOTLB of one open device: userspace IOVA ranges backed by pinned user pages.
//!
//! An UPDATE pins the pages (`FOLL_LONGTERM`), charges them to the owner's
//! `RLIMIT_MEMLOCK` through `mm->pinned_vm`, and records one entry per physically contiguous
//! run, as vhost-vdpa does for a parent without its own IOMMU. Each entry is also programmed
//! into the device's DMA table (`DMA_CMD` MAP), so the device translates IOVAs to exactly
//! these pages and nothing else. Removing an entry unmaps it from the device first (after
//! which the device no longer touches it) and only then unpins the pages: at once, or, for an
//! INVALIDATE, in a worker soon after (see `unpin_worker.rs`).
//!
//! The table logic (sorted disjoint entries, overlap rules, whole-entry invalidation) is the
//! host-tested `iotlb` crate; this file only adds pinning and the device.

use super::iotlb::{self, InsertError, Mapping};
use super::kglue::mm::{self, OwnerMm};
use super::kglue::task;
use super::kglue::window::Window;
use super::unpin_worker::Releaser;
use super::vhost_uapi::VHOST_ACCESS_WO;
use super::vmdev_regs::dma;
use kernel::alloc::KVVec;
use kernel::error::code::{EEXIST, EFAULT, EINTR, EINVAL, ENOMEM, ENOSPC};
use kernel::prelude::*;

const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;
const PAGE_SHIFT: u32 = PAGE_SIZE.trailing_zeros();
/// Pages pinned per `pin_user_pages_fast()` call; the pfn buffer is one page.
const PIN_CHUNK: usize = 512;
/// Pages unpinned, or runs unmapped one by one, between two chances for others to run. A
/// fragmented map is a run per page; yielding after each one would hand the CPU away
/// hundreds of times per megabyte.
const UNPIN_CHUNK: u64 = 4096;

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
/// `pinned_vm`, and mapped in the device's DMA table at the entry's IOVA. So are the pages
/// of every run in `held`, which userspace removed but the device refused to unmap: it may
/// still reach them, so they stay pinned until it unmaps them or stops translating.
pub(crate) struct AddressSpace {
    runs: RunTable,
    /// Runs removed from `runs` whose device unmap failed.
    held: KVec<Mapping<PinnedRun>>,
    /// The device's `DMA_MAX_ENTRIES`: holding more runs than the device can map is useless.
    max_runs: usize,
    mm: OwnerMm,
    /// The device's address space these entries are mapped in.
    asid: u16,
}

fn pages_of(m: &Mapping<PinnedRun>) -> u64 {
    (m.last.wrapping_sub(m.first) >> PAGE_SHIFT).wrapping_add(1)
}

/// Unmaps `size` bytes at `iova` from the device's address space `asid`; returns whether
/// the device did, after which it no longer touches them. A device that refuses may still
/// translate to the pages, so their pins must stay (see [`AddressSpace::held`]).
fn device_unmap(win: &Window, asid: u16, iova: u64, size: u64) -> bool {
    win.dma(asid, dma::CMD_UNMAP, iova, size, 0, 0).is_ok()
}

/// Unpins the pages of run `m`, which the device no longer uses, and uncharges them.
/// Only [`ReleasedRuns`] calls it, once per run it holds.
fn unpin(mm: &OwnerMm, m: Mapping<PinnedRun>) -> u64 {
    let n = pages_of(&m);
    // SAFETY: the run's pages were pinned by `AddressSpace::map` and are unpinned once, here,
    // after the run left the table and the device stopped using them (`ReleasedRuns`).
    unsafe { mm::unpin_pages(m.value.pfn, n, m.value.perm & VHOST_ACCESS_WO != 0) };
    mm.sub_pinned(n);
    n
}

/// Runs removed from an address space that the device no longer maps, still pinned and charged
/// to their owner. Dropping the batch unpins them: at once, or in the worker the batch was
/// handed to ([`Releaser::defer`]). May sleep when dropped, in process context only.
///
/// # Invariants
///
/// Every run's pages were pinned once by [`AddressSpace::map`] and are counted in `mm`'s
/// `pinned_vm`; the run is recorded nowhere else, and the device no longer translates to it.
pub(crate) struct ReleasedRuns {
    mm: OwnerMm,
    runs: KVVec<Mapping<PinnedRun>>,
}

impl ReleasedRuns {
    /// An empty batch of `mm`'s pages, with room for `n` runs if memory allows (adding beyond
    /// the room may fail, which only makes a run release at once).
    fn with_room(mm: &OwnerMm, n: usize) -> Self {
        let mut runs = KVVec::new();
        let _ = runs.reserve(n, GFP_KERNEL);
        Self {
            mm: mm.clone(),
            runs,
        }
    }

    /// Whether the batch holds no run.
    pub(crate) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// Adds run `m`, which left the table and which the device no longer maps. Without memory
    /// to record it, it is released at once.
    fn add(&mut self, m: Mapping<PinnedRun>) {
        if self.runs.push(m, GFP_KERNEL).is_err() {
            unpin(&self.mm, m);
            // Every further run may come this way, after a failed allocation each.
            task::cond_resched();
        }
    }
}

impl Drop for ReleasedRuns {
    fn drop(&mut self) {
        let mut since_yield = 0;
        for &m in self.runs.iter() {
            since_yield += unpin(&self.mm, m);
            // Releasing a GiB takes long on a debug kernel, which must not hold the CPU on a
            // kernel without preemption.
            if since_yield >= UNPIN_CHUNK {
                task::cond_resched();
                since_yield = 0;
            }
        }
    }
}

impl AddressSpace {
    /// An empty address space `asid` charging pins to `mm`, for a device whose DMA table
    /// holds up to `max_runs` entries.
    pub(crate) fn new(mm: OwnerMm, max_runs: usize, asid: u16) -> Result<Self> {
        let v = KVVec::from_elem(NO_RUN, iotlb::DEFAULT_CAPACITY.min(max_runs), GFP_KERNEL)?;
        Ok(Self {
            runs: RunTable::new(v),
            held: KVec::new(),
            max_runs,
            mm,
            asid,
        })
    }

    /// The last IOVA of the highest mapping the device may write, if there is one.
    pub(crate) fn writable_last(&self) -> Option<u64> {
        self.runs
            .iter()
            .filter(|m| m.value.perm & VHOST_ACCESS_WO != 0)
            .map(|m| m.last)
            .max()
    }

    /// Whether `[first, last]` overlaps an entry.
    pub(crate) fn overlaps(&self, first: u64, last: u64) -> bool {
        self.runs.overlaps(first, last)
    }

    /// Records one run and programs it into the device. Its pages were charged to the owner
    /// by [`AddressSpace::map`]. On error nothing of the run is recorded and the caller still
    /// owns its pins.
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
        Ok(())
    }

    /// vhost-vdpa's UPDATE for a parent without an IOMMU (`vhost_vdpa_pa_map()`): pins the
    /// pages of `[uaddr, uaddr + size)` and maps them at `iova`, page-aligned. The caller has
    /// checked the range and that it overlaps nothing. All or nothing. Over the owner's limit,
    /// it first has `releaser` release the pages INVALIDATEs left to it.
    pub(crate) fn map(
        &mut self,
        win: &Window,
        iova: u64,
        size: u64,
        uaddr: u64,
        perm: u8,
        releaser: &Releaser,
    ) -> Result<()> {
        let last = iova.checked_add(size.wrapping_sub(1)).ok_or(EINVAL)?;
        let npages = (last >> PAGE_SHIFT) - (iova >> PAGE_SHIFT) + 1;
        // The caller is the owner (only the owner writes IOTLB messages): its limit applies.
        // The pages are charged before any is pinned, in one step with the check, so that
        // updates racing on other devices of the same owner see them. Pages an INVALIDATE
        // removed stay charged until the worker unpins them: over the limit, they go first.
        let limit = mm::memlock_limit_pages();
        if !self.mm.try_add_pinned(npages, limit) {
            releaser.flush();
            if !self.mm.try_add_pinned(npages, limit) {
                return Err(ENOMEM);
            }
        }
        let base = iova & !(PAGE_SIZE - 1);
        let ubase = uaddr & !(PAGE_SIZE - 1);
        let write = perm & VHOST_ACCESS_WO != 0;
        // Pages recorded in the table so far; the rest of the charge is released on error.
        let mut recorded = 0;
        let res = KVVec::from_elem(0u64, PIN_CHUNK, GFP_KERNEL)
            .map_err(Error::from)
            .and_then(|mut pfns| {
                self.map_pinned(
                    win,
                    base,
                    ubase,
                    npages,
                    write,
                    perm,
                    &mut pfns,
                    &mut recorded,
                )
            });
        if res.is_err() {
            // Undo what this update recorded (its range overlapped nothing before), which
            // uncharges the recorded pages, then the charge of the pages never recorded.
            // At once: the caller sees the owner's charge as it was before the update.
            drop(self.unmap_range(Some(win), base, last | (PAGE_SIZE - 1)));
            self.mm.sub_pinned(npages - recorded);
        }
        res
    }

    /// Pins `npages` pages from `ubase` in chunks and records them at `base` run by run,
    /// counting the pages recorded in `recorded`.
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
        recorded: &mut u64,
    ) -> Result<()> {
        let mut done: u64 = 0;
        // The run being built: first IOVA, first pfn, length in pages.
        let mut run: Option<(u64, u64, u64)> = None;
        while done < npages {
            if done > 0 {
                // A map of a large fragmented region pins and records for a long time: let
                // others run, and give up if the owner is being killed (nobody will see the
                // result, and its exit waits for this device's lock).
                if task::fatal_signal_pending() {
                    if let Some((_, rp, rn)) = run {
                        self.unpin_unrecorded(rp, rn, &[], 0);
                    }
                    return Err(EINTR);
                }
                task::cond_resched();
            }
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
                        *recorded += rn;
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
            *recorded += rn;
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

    /// Removes every entry overlapping `[first, last]`, in full (vhost_iotlb_del_range()),
    /// and returns those the device no longer maps, to release. `win` is the device, or `None`
    /// once it no longer translates (removed, or translation switched off), when nothing
    /// needs unmapping.
    fn unmap_range(&mut self, win: Option<&Window>, first: u64, last: u64) -> ReleasedRuns {
        let Self {
            runs,
            held,
            mm,
            asid,
            ..
        } = self;
        let asid = *asid;
        let mut released = ReleasedRuns::with_room(mm, runs.overlap_count(first, last));
        let Some(win) = win else {
            runs.remove_overlapping(first, last, |m| released.add(m));
            return released;
        };
        // The device's table holds our runs entry for entry, so one unmap of the span they
        // cover removes exactly them there, and the device compacts its table once rather
        // than once per run (a map of fragmented memory has a run per page). Only the span
        // of the whole address space has no size; it goes run by run.
        let span = runs
            .overlap_span(first, last)
            .and_then(|(a, b)| Some((a, (b - a).checked_add(1)?)));
        match span {
            Some((iova, size)) => {
                let unmapped = device_unmap(win, asid, iova, size);
                runs.remove_overlapping(first, last, |m| {
                    if unmapped {
                        released.add(m);
                    } else {
                        hold(held, m);
                    }
                });
            }
            None => {
                let mut n = 0u64;
                runs.remove_overlapping(first, last, |m| {
                    if device_unmap(win, asid, m.first, pages_of(&m) << PAGE_SHIFT) {
                        released.add(m);
                    } else {
                        hold(held, m);
                    }
                    // A request per run: the whole address space may be a run per page.
                    n = n.wrapping_add(1);
                    if n % UNPIN_CHUNK == 0 {
                        task::cond_resched();
                    }
                });
            }
        }
        released
    }

    /// Unmaps the held runs again (see [`AddressSpace::held`]), or, with `win` `None` (the
    /// device no longer translates), just releases them; returns whether none is left.
    pub(crate) fn release_held(&mut self, win: Option<&Window>) -> bool {
        if self.held.is_empty() {
            return true;
        }
        // Room for every run that may stay, so that keeping one cannot fail.
        let Ok(mut kept) = KVec::with_capacity(self.held.len(), GFP_KERNEL) else {
            return false;
        };
        let asid = self.asid;
        let mut released = ReleasedRuns::with_room(&self.mm, self.held.len());
        for m in core::mem::take(&mut self.held) {
            let gone = match win {
                Some(w) => device_unmap(w, asid, m.first, pages_of(&m) << PAGE_SHIFT),
                None => true,
            };
            if gone {
                released.add(m);
            } else {
                let _ = kept.push(m, GFP_KERNEL);
            }
        }
        drop(released);
        self.held = kept;
        self.held.is_empty()
    }

    /// vhost-vdpa's INVALIDATE: `vhost_vdpa_unmap(iova, size)` deletes every entry meeting
    /// `[iova, iova + size - 1]` (wrapping), with the interval tree's rule for an empty range
    /// (`size == 0`, `iova > 0`): entries holding both `iova - 1` and `iova`. The device stops
    /// using the pages before this returns; `releaser`'s worker unpins them after.
    pub(crate) fn invalidate(&mut self, win: &Window, iova: u64, size: u64, releaser: &Releaser) {
        let (first, last) = iotlb::invalidate_range(iova, size);
        let released = if first <= last {
            self.unmap_range(Some(win), first, last)
        } else {
            match self.runs.lookup(last) {
                Some(m) if m.last >= first => self.unmap_range(Some(win), m.first, m.first),
                _ => return,
            }
        };
        releaser.defer(released);
    }

    /// Releases everything (close, device removal); returns whether nothing is held (see
    /// [`AddressSpace::held`]), else the caller keeps the space until the device stops
    /// translating and then clears it with `None`.
    pub(crate) fn clear(&mut self, win: Option<&Window>) -> bool {
        drop(self.unmap_range(win, 0, u64::MAX));
        self.release_held(win)
    }
}

/// Keeps run `m`, which the device refused to unmap, pinned in `held`. If even that record
/// cannot be allocated, the pins are leaked on purpose: the device may still reach the pages.
fn hold(held: &mut KVec<Mapping<PinnedRun>>, m: Mapping<PinnedRun>) {
    if held.push(m, GFP_KERNEL).is_err() {
        pr_warn!(
            "vhost_mdev: the device refused to unmap {:#x}..={:#x}; its pages stay pinned\n",
            m.first,
            m.last
        );
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        // Owners clear explicitly with the device at hand; this only guards against a leak
        // of pins if one forgot (the device must no longer translate by then).
        if !self.runs.is_empty() || !self.held.is_empty() {
            self.clear(None);
        }
    }
}
