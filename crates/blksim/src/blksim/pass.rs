// SPDX-License-Identifier: GPL-2.0
//! One worker pass over a request queue.

use super::config::BlkConfig;
use super::disk::Disk;
use super::request::{execute, BlkStats, Buffers};
use super::virtqueue::{Error, GuestMemory, SplitQueue};
use super::PASS_BYTES;

/// Completions written to the used ring before they are published together.
const PUBLISH_BATCH: u32 = 16;

/// What the device does after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassEnd {
    /// Interrupt the driver for the queue.
    pub interrupt: bool,
    /// Requests are left: run again without waiting for a kick.
    pub run_again: bool,
    /// The queue broke: the device sets `DEVICE_NEEDS_RESET`.
    pub broken: bool,
    /// Requests completed.
    pub completed: u32,
}

/// Runs one pass of up to `budget` requests (and up to [`PASS_BYTES`] of data), with kicks
/// off while it runs; the driver's
/// interrupt suppression then decides the one interrupt of the pass, as in
/// `netsim::run_pass`, whose reasoning this follows.
pub fn run_pass<M: GuestMemory + ?Sized, D: Disk>(
    cfg: &BlkConfig,
    features: u64,
    queue: &mut SplitQueue,
    mem: &M,
    disk: &D,
    budget: u32,
    stats: &mut BlkStats,
) -> PassEnd {
    let _ = queue.set_notification(mem, false);
    let mut bufs = Buffers::default();
    let mut end = PassEnd::default();
    let mut unpublished = 0u32;
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
            queue.add_used_deferred(mem, head, done.used_len)?;
            end.completed += 1;
            unpublished += 1;
            if unpublished == PUBLISH_BATCH {
                queue.publish_used(mem)?;
                unpublished = 0;
            }
        }
        Ok(())
    })();
    // What was completed before a failure is published all the same.
    let published = unpublished == 0 || queue.publish_used(mem).is_ok();
    if r.is_err() || !published || queue.is_broken() {
        end.broken = true;
        return end;
    }
    end.interrupt = end.completed > 0 && queue.needs_notification(mem).unwrap_or(false);
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
