// SPDX-License-Identifier: GPL-2.0
//! One worker pass over a request queue.

use super::config::BlkConfig;
use super::disk::Disk;
use super::request::{execute, BlkStats, Buffers};
use super::virtqueue::{Error, GuestMemory, SplitQueue};
use super::PASS_BYTES;

/// What the device does after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassEnd {
    /// Requests are left: run again without waiting for a kick.
    pub run_again: bool,
    /// The queue broke: the device sets `DEVICE_NEEDS_RESET`.
    pub broken: bool,
    /// Requests completed.
    pub completed: u32,
    /// Interrupts the pass asked for (`notify` calls).
    pub interrupts: u32,
}

/// Runs one pass of up to `budget` requests (and up to [`PASS_BYTES`] of data), with kicks
/// off while it runs (the device is looking at the ring anyway).
///
/// Each request is published as soon as it is done, and `notify` is called when the driver's
/// interrupt suppression (`used_event` with `RING_EVENT_IDX`, `VRING_AVAIL_F_NO_INTERRUPT`
/// without) asks for an interrupt then: a driver with a queue depth of requests can complete
/// and resubmit some while the device works on the rest, which is what a disk's IOPS rest
/// on. A driver that is still handling earlier completions keeps its `used_event` behind, so
/// it is not interrupted again for each one. (The net class batches instead: a stream of
/// frames is throughput, not round trips.)
///
/// If the pass stopped on its budget, kicks stay off and the pass runs again; otherwise they
/// are turned back on and the ring looked at once more, because requests added while kicks
/// were off came without one.
#[allow(clippy::too_many_arguments)]
pub fn run_pass<M: GuestMemory + ?Sized, D: Disk>(
    cfg: &BlkConfig,
    features: u64,
    queue: &mut SplitQueue,
    mem: &M,
    disk: &D,
    budget: u32,
    stats: &mut BlkStats,
    notify: &mut dyn FnMut(),
) -> PassEnd {
    let _ = queue.set_notification(mem, false);
    let mut bufs = Buffers::default();
    let mut end = PassEnd::default();
    let mut moved = 0u64;
    let r: Result<(), Error> = (|| {
        while end.completed < budget && moved < PASS_BYTES {
            let Some(mut chain) = queue.pop(mem)? else {
                break;
            };
            let head = chain.head();
            let done = match execute(cfg, features, &mut chain, mem, disk, &mut bufs) {
                Ok(d) => d,
                Err(e) => {
                    queue.mark_broken();
                    return Err(e);
                }
            };
            stats.count(&done);
            moved = moved.saturating_add(done.bytes);
            queue.add_used(mem, head, done.used_len)?;
            end.completed += 1;
            if queue.needs_notification(mem)? {
                end.interrupts += 1;
                notify();
            }
        }
        Ok(())
    })();
    if r.is_err() || queue.is_broken() {
        end.broken = true;
        return end;
    }
    if end.completed >= budget || moved >= PASS_BYTES {
        end.run_again = true;
    } else {
        end.run_again = queue
            .set_notification(mem, true)
            .and_then(|()| queue.pending(mem))
            .is_ok_and(|n| n > 0);
    }
    if queue.is_broken() {
        end.broken = true;
    }
    end
}
