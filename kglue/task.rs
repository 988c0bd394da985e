// SPDX-License-Identifier: GPL-2.0
//! The calling task, for long loops in process context: let others run, and stop when the
//! task is being killed.

use super::sys;

/// Whether the calling task has a fatal signal pending (`fatal_signal_pending(current)`): a
/// long operation on its behalf should give up, since nobody will see the result.
pub fn fatal_signal_pending() -> bool {
    // SAFETY: reads the calling task's signal state.
    unsafe { sys::vmdev_helper_fatal_signal_pending() }
}

/// Lets other tasks run if this one should yield (`cond_resched()`); may sleep.
pub fn cond_resched() {
    // SAFETY: no memory-safety precondition; called in atomic context it is a bug that
    // `might_sleep()` reports, as in C.
    unsafe { sys::vmdev_helper_cond_resched() }
}
