// SPDX-License-Identifier: GPL-2.0
//! One worker pass: the packet path with kicks off while it runs, and what to
//! signal when it ends.
//!
//! A device worker runs [`run_pass`] each time it is scheduled (by a kick,
//! or by itself) and then does what [`PassEnd`] says: raise the interrupts the
//! driver asked for, schedule itself again, or give up on a broken queue.

use super::config::NetConfig;
use super::datapath::{process, NetStats, Outcome};
use super::filter::RxFilter;
use super::virtqueue::{Error, GuestMemory, SplitQueue};

/// What the device does after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PassEnd {
    /// Interrupt the driver for the TX queue.
    pub interrupt_tx: bool,
    /// Interrupt the driver for the RX queue.
    pub interrupt_rx: bool,
    /// Work is left: the budget ran out, or buffers came while kicks were
    /// off. Run again without waiting for a kick.
    pub run_again: bool,
    /// A queue broke: the device sets `DEVICE_NEEDS_RESET` and sends a
    /// configuration interrupt, and nothing else.
    pub broken: bool,
    /// What the packet path did.
    pub outcome: Outcome,
}

/// Runs one pass of up to `budget` frames.
///
/// Kicks are turned off first (`VRING_USED_F_NO_NOTIFY`; with EVENT_IDX the
/// `avail_event` the driver has passed already suppresses them), since the
/// device is looking at the rings anyway: a driver that keeps adding frames
/// during a long pass does not ring the doorbell for each. After the pass the
/// driver's `used_event` or `VRING_AVAIL_F_NO_INTERRUPT` decides each queue's
/// interrupt: one per queue and pass at most, however many frames the pass
/// moved, which is the batching NAPI expects. If the pass stopped on its
/// budget, kicks stay off and the pass runs again. Otherwise kicks are turned
/// back on and the rings are looked at once more, because buffers added while
/// kicks were off came without one.
pub fn run_pass<M: GuestMemory + ?Sized>(
    cfg: &NetConfig,
    filter: &RxFilter,
    rx: &mut SplitQueue,
    tx: &mut SplitQueue,
    mem: &M,
    budget: u32,
    stats: &mut NetStats,
) -> PassEnd {
    // A queue whose rings fail an access here marks itself broken, which is
    // checked at the end; until then a failed step just counts as "no".
    let ok = |r: Result<bool, Error>| r.unwrap_or(false);
    let _ = tx.set_notification(mem, false);
    let _ = rx.set_notification(mem, false);
    let out = if tx.is_broken() || rx.is_broken() {
        Outcome::default()
    } else {
        process(cfg, filter, rx, tx, mem, budget, stats)
    };
    let interrupt_tx = out.tx_completed > 0 && ok(tx.needs_notification(mem));
    let interrupt_rx = out.rx_completed > 0 && ok(rx.needs_notification(mem));
    let mut run_again = out.more_pending;
    if !out.more_pending {
        let rearm = |q: &mut SplitQueue| {
            ok(q.set_notification(mem, true)
                .and_then(|()| q.pending(mem))
                .map(|n| n > 0))
        };
        let tx_more = rearm(tx);
        rearm(rx);
        run_again = tx_more;
    }
    if out.error.is_some() || tx.is_broken() || rx.is_broken() {
        return PassEnd {
            broken: true,
            outcome: out,
            ..PassEnd::default()
        };
    }
    PassEnd {
        interrupt_tx,
        interrupt_rx,
        run_again,
        broken: false,
        outcome: out,
    }
}
