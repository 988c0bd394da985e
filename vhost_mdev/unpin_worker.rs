// SPDX-License-Identifier: GPL-2.0
//! Unpinning off the caller's path: a worker releases the pages the device stopped using.
//!
//! An INVALIDATE must have the device stop reaching the pages before `write()` returns, but
//! unpinning them can wait. A map of fragmented memory is a run per page, and unpinning a
//! 256 MiB guest takes about 10 ms on the plain kernel. QEMU 7.2 unmaps all guest memory while
//! it stops the device for the last phase of a migration, so those milliseconds would add to
//! the downtime. [`AddressSpace::invalidate`](super::pinned_iotlb::AddressSpace::invalidate)
//! therefore unmaps in the device, puts the runs in a [`ReleasedRuns`] batch and hands it to
//! the module's [`Releaser`]. The releaser's work item drops the batch later, which unpins
//! the pages and uncharges the owner's `pinned_vm`.
//!
//! Until then the pages stay charged to the owner's `RLIMIT_MEMLOCK` (and show in `VmPin`). So
//! a map that finds the limit reached first releases every pending batch itself
//! ([`Releaser::flush`]) and then checks again, and a close flushes too: a map passes or fails
//! as it would have had the pages been unpinned at once. The worker does the work vhost-vdpa
//! does in `vhost_vdpa_pa_unmap()`, yielding every few thousand pages.

use super::kglue::workqueue::{Queue, Work, WorkHandler};
use super::pinned_iotlb::ReleasedRuns;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// The batches waiting for the worker, and the worker. One per module, shared by every device,
/// because one owner's maps on several devices share its memlock charge: a map refused on
/// one device must be able to release what another device's INVALIDATE left pending.
///
/// # Invariants
///
/// Every batch in `pending` is released by a run of `work`, by [`Releaser::flush`], or when the
/// releaser drops: `work` is queued whenever a batch is added. A batch leaves `pending` only
/// with `releasing` held, which stays held until the batch is released.
#[pin_data(PinnedDrop)]
pub(crate) struct Releaser {
    queue: Queue,
    #[pin]
    pending: Mutex<KVec<ReleasedRuns>>,
    /// Held while batches taken from `pending` are released, so that a flush waits for a
    /// release in progress elsewhere (the worker's, or another flush's).
    #[pin]
    releasing: Mutex<()>,
    #[pin]
    work: Work<Releaser>,
}

crate::impl_has_work!([] Releaser, work);

impl Releaser {
    /// A releaser with its own unbound workqueue.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                queue: Queue::new_unbound(c"vhost_mdev_unpin")?,
                pending <- new_mutex!(KVec::new(), "vhost_mdev::unpin_pending"),
                releasing <- new_mutex!((), "vhost_mdev::unpin_releasing"),
                work <- crate::new_work!("vhost_mdev::unpin"),
            }),
            GFP_KERNEL,
        )
    }

    /// Hands `batch` to the worker. If there is no memory to keep it, it is released here.
    pub(crate) fn defer(&self, batch: ReleasedRuns) {
        if batch.is_empty() {
            return;
        }
        let mut pending = self.pending.lock();
        if pending.reserve(1, GFP_KERNEL).is_err() {
            drop(pending);
            drop(batch);
            return;
        }
        // Cannot fail: there is room.
        let _ = pending.push(batch, GFP_KERNEL);
        drop(pending);
        // INVARIANT: queued after the batch is in the list, so a run will see it.
        self.queue.enqueue(&self.work);
    }

    /// Releases every batch deferred before this call, here or by waiting for whoever took it
    /// from the list: the batches in the list, until it stays empty.
    pub(crate) fn flush(&self) {
        // INVARIANT: batches leave the list only under `releasing`, until they are released.
        let _releasing = self.releasing.lock();
        loop {
            // The list's lock is dropped at the end of the statement: batches release outside
            // it, so a `defer` never waits for an unpin.
            let batches = core::mem::take(&mut *self.pending.lock());
            if batches.is_empty() {
                return;
            }
            drop(batches);
        }
    }
}

impl WorkHandler for Releaser {
    fn run(&self) {
        self.flush();
    }
}

#[pinned_drop]
impl PinnedDrop for Releaser {
    fn drop(self: Pin<&mut Self>) {
        // The work stops first (see `HasWork`); the list's batches release as it drops.
        self.work.cancel_sync();
    }
}
