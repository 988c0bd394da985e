// SPDX-License-Identifier: GPL-2.0
//! Device-side state of a split virtqueue.

use core::num::Wrapping;

use super::chain::DescChain;
use super::error::Error;
use super::mem::GuestMemory;
use super::{
    DESC_SIZE, MAX_QUEUE_SIZE, USED_ELEM_SIZE, VRING_AVAIL_F_NO_INTERRUPT, VRING_USED_F_NO_NOTIFY,
};

/// The event-index test of the virtio spec (`vring_need_event`): whether the
/// other side asked to be notified when the index moved from `old` to `new`,
/// given its event index `event`. All arithmetic is modulo 2^16.
pub fn vring_need_event(event: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event).wrapping_sub(1) < new.wrapping_sub(old)
}

/// Device side of a split virtqueue.
///
/// This is plain state (addresses and indices); the rings stay in driver
/// memory and every method takes the [`GuestMemory`] to reach them, so the
/// same queue works for any memory personality.
///
/// Once a method has seen malformed driver data the queue is broken: that
/// method returns the specific error and every later fallible call returns
/// [`Error::Broken`]. Only a new queue (device reset) clears it.
#[derive(Debug, Clone)]
pub struct SplitQueue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    event_idx: bool,
    next_avail: Wrapping<u16>,
    // The driver's avail index as last loaded; entries up to it need no new load.
    avail_idx_seen: Wrapping<u16>,
    next_used: Wrapping<u16>,
    // Used index at the previous notification check, for EVENT_IDX.
    signalled_used: Wrapping<u16>,
    // False until the first check after (re)start: the driver's used_event
    // cannot be compared against an index we never reported, so notify.
    signalled_used_valid: bool,
    // Only the most recent pop may be undone; anything else would hand the
    // driver's buffer back twice or skip one.
    can_undo: bool,
    broken: bool,
}

impl SplitQueue {
    /// Creates the device side of a queue of `size` entries whose descriptor
    /// table, available ring and used ring live at `desc`, `avail` and `used`.
    ///
    /// `event_idx` says whether `VIRTIO_RING_F_EVENT_IDX` was negotiated.
    /// Indices start at zero, as after a device reset.
    pub fn new(
        size: u16,
        desc: u64,
        avail: u64,
        used: u64,
        event_idx: bool,
    ) -> Result<Self, Error> {
        if size == 0 || !size.is_power_of_two() || size > MAX_QUEUE_SIZE {
            return Err(Error::InvalidSize);
        }
        // Masks rather than `is_multiple_of`, which older kernel toolchains
        // lack.
        if desc & 15 != 0 || avail & 1 != 0 || used & 3 != 0 {
            return Err(Error::Misaligned);
        }
        let n = u64::from(size);
        // Areas include the trailing event field, which exists (and may be
        // touched) only with EVENT_IDX; checking it anyway costs nothing.
        let areas = [
            (desc, DESC_SIZE * n),
            (avail, 6 + 2 * n),
            (used, 6 + USED_ELEM_SIZE * n),
        ];
        for (addr, len) in areas {
            if addr.checked_add(len).is_none() {
                return Err(Error::RingOverflow);
            }
        }
        Ok(SplitQueue {
            size,
            desc,
            avail,
            used,
            event_idx,
            next_avail: Wrapping(0),
            avail_idx_seen: Wrapping(0),
            next_used: Wrapping(0),
            signalled_used: Wrapping(0),
            signalled_used_valid: false,
            can_undo: false,
            broken: false,
        })
    }

    /// Number of entries in the queue.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// Address of the descriptor table.
    pub fn desc_table(&self) -> u64 {
        self.desc
    }

    /// Address of the available ring.
    pub fn avail_ring(&self) -> u64 {
        self.avail
    }

    /// Address of the used ring.
    pub fn used_ring(&self) -> u64 {
        self.used
    }

    /// Whether `VIRTIO_RING_F_EVENT_IDX` is in use.
    pub fn event_idx(&self) -> bool {
        self.event_idx
    }

    /// Index of the next available-ring entry the device will consume.
    pub fn next_avail(&self) -> u16 {
        self.next_avail.0
    }

    /// Index of the next used-ring entry the device will fill.
    pub fn next_used(&self) -> u16 {
        self.next_used.0
    }

    /// Restores the ring position, e.g. from vhost `SET_VRING_BASE`.
    ///
    /// Sets both the available and used index to `idx`, as vdpa_sim does: a
    /// stopped queue has no buffers in flight, so both sides are in step.
    pub fn set_next_avail(&mut self, idx: u16) {
        self.next_avail = Wrapping(idx);
        self.avail_idx_seen = Wrapping(idx);
        self.next_used = Wrapping(idx);
        self.signalled_used_valid = false;
        self.can_undo = false;
    }

    /// Whether the queue has seen malformed driver data.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Marks the queue broken, e.g. after a [`DescChain`] walk it handed out
    /// failed. Every later fallible call returns [`Error::Broken`].
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    fn check(&self) -> Result<(), Error> {
        if self.broken {
            Err(Error::Broken)
        } else {
            Ok(())
        }
    }

    fn guard<T>(&mut self, r: Result<T, Error>) -> Result<T, Error> {
        if r.is_err() {
            self.broken = true;
        }
        r
    }

    // `new` checked that the ring areas do not wrap, so these offsets,
    // all inside those areas, cannot overflow; wrapping_add just states that
    // no panic path exists.
    fn avail_idx_addr(&self) -> u64 {
        self.avail.wrapping_add(2)
    }

    fn avail_ring_addr(&self, idx: Wrapping<u16>) -> u64 {
        // `size` is a power of two (checked in `new`): a mask cannot divide by zero.
        let slot = u64::from(idx.0 & self.size.wrapping_sub(1));
        self.avail.wrapping_add(4).wrapping_add(2 * slot)
    }

    fn used_event_addr(&self) -> u64 {
        self.avail
            .wrapping_add(4)
            .wrapping_add(2 * u64::from(self.size))
    }

    fn used_idx_addr(&self) -> u64 {
        self.used.wrapping_add(2)
    }

    fn used_ring_addr(&self, idx: Wrapping<u16>) -> u64 {
        // `size` is a power of two (checked in `new`): a mask cannot divide by zero.
        let slot = u64::from(idx.0 & self.size.wrapping_sub(1));
        self.used
            .wrapping_add(4)
            .wrapping_add(USED_ELEM_SIZE * slot)
    }

    fn avail_event_addr(&self) -> u64 {
        self.used
            .wrapping_add(4)
            .wrapping_add(USED_ELEM_SIZE * u64::from(self.size))
    }

    fn pending_inner<M: GuestMemory + ?Sized>(&self, mem: &M) -> Result<u16, Error> {
        let avail_idx = Wrapping(mem.load_u16_acquire(self.avail_idx_addr())?);
        let pending = (avail_idx - self.next_avail).0;
        if pending > self.size {
            return Err(Error::AvailIdxJump);
        }
        Ok(pending)
    }

    /// Number of chains the driver has made available and the device has
    /// not popped yet.
    pub fn pending<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<u16, Error> {
        self.check()?;
        let r = self.pending_inner(mem);
        self.guard(r)
    }

    fn pop_inner<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<Option<DescChain>, Error> {
        // Entries up to the index seen last are known to be there; load the
        // index again only when they are used up, as vhost does.
        if self.avail_idx_seen == self.next_avail {
            let pending = self.pending_inner(mem)?;
            if pending == 0 {
                return Ok(None);
            }
            self.avail_idx_seen = self.next_avail + Wrapping(pending);
        }
        // The acquire load of avail.idx orders this read after the driver's
        // ring write.
        let head = mem.read_u16(self.avail_ring_addr(self.next_avail))?;
        if head >= self.size {
            return Err(Error::DescIndexOutOfRange);
        }
        self.next_avail += 1;
        self.can_undo = true;
        Ok(Some(DescChain::new(self.desc, self.size, head)))
    }

    /// Takes the next available chain, or `Ok(None)` if the driver has made
    /// none available.
    ///
    /// Only the head index is validated here; the chain itself is checked
    /// while it is walked. An error from the walk should be followed by
    /// [`SplitQueue::mark_broken`].
    pub fn pop<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<Option<DescChain>, Error> {
        self.check()?;
        let r = self.pop_inner(mem);
        self.guard(r)
    }

    /// Gives the most recently popped chain back, so the next [`pop`] returns
    /// it again (e.g. a TX frame that must wait for RX buffers).
    ///
    /// Only valid right after a successful pop; returns whether anything was
    /// undone, and does nothing once the queue has completed, restored or
    /// undone since.
    ///
    /// [`pop`]: SplitQueue::pop
    pub fn undo_pop(&mut self) -> bool {
        if !self.can_undo {
            return false;
        }
        self.next_avail -= 1;
        self.can_undo = false;
        true
    }

    /// Writes a used-ring entry for chain `head` with `len` bytes written by
    /// the device, without making it visible to the driver yet.
    ///
    /// A batch of completions is published at once with
    /// [`SplitQueue::publish_used`]; [`SplitQueue::add_used`] does both.
    pub fn add_used_deferred<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        head: u16,
        len: u32,
    ) -> Result<(), Error> {
        self.check()?;
        if head >= self.size {
            // A device-side bug rather than driver misbehaviour: leave the
            // queue usable.
            return Err(Error::DescIndexOutOfRange);
        }
        let [i0, i1, i2, i3] = u32::from(head).to_le_bytes();
        let [l0, l1, l2, l3] = len.to_le_bytes();
        let elem = [i0, i1, i2, i3, l0, l1, l2, l3];
        let r = mem
            .write(self.used_ring_addr(self.next_used), &elem)
            .map_err(Error::from);
        self.guard(r)?;
        self.next_used += 1;
        self.can_undo = false;
        Ok(())
    }

    /// Makes every used entry written so far visible to the driver by storing
    /// the used index with release ordering.
    pub fn publish_used<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<(), Error> {
        self.check()?;
        let r = mem
            .store_u16_release(self.used_idx_addr(), self.next_used.0)
            .map_err(Error::from);
        self.guard(r)
    }

    /// Completes chain `head` with `len` bytes written and publishes it.
    pub fn add_used<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        head: u16,
        len: u32,
    ) -> Result<(), Error> {
        self.add_used_deferred(mem, head, len)?;
        self.publish_used(mem)
    }

    fn needs_notification_inner<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
    ) -> Result<bool, Error> {
        // The driver must see our used index before we read its wishes, or it
        // may suppress an interrupt we then skip as well.
        mem.fence();
        if !self.event_idx {
            let flags = mem.read_u16(self.avail)?;
            return Ok(flags & VRING_AVAIL_F_NO_INTERRUPT == 0);
        }
        let old = self.signalled_used;
        let valid = self.signalled_used_valid;
        let new = self.next_used;
        self.signalled_used = new;
        self.signalled_used_valid = true;
        if !valid {
            return Ok(true);
        }
        let event = mem.read_u16(self.used_event_addr())?;
        Ok(vring_need_event(event, new.0, old.0))
    }

    /// Whether the driver wants an interrupt for the completions published
    /// since the previous call. Call after [`SplitQueue::publish_used`].
    pub fn needs_notification<M: GuestMemory + ?Sized>(&mut self, mem: &M) -> Result<bool, Error> {
        self.check()?;
        let r = self.needs_notification_inner(mem);
        self.guard(r)
    }

    fn set_notification_inner<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        enable: bool,
    ) -> Result<(), Error> {
        if !self.event_idx {
            let flags = if enable { 0 } else { VRING_USED_F_NO_NOTIFY };
            mem.write_u16(self.used, flags)?;
        } else if enable {
            mem.write_u16(self.avail_event_addr(), self.next_avail.0)?;
        }
        // With EVENT_IDX, disabling writes nothing: an avail_event the driver
        // has passed already suppresses kicks, as in vhost.
        if enable {
            // Order the request before the caller's re-check of the avail
            // index, which closes the race with a driver that added buffers
            // while kicks were off.
            mem.fence();
        }
        Ok(())
    }

    /// Asks the driver to kick (`enable`) or not to kick the device when it
    /// makes buffers available.
    ///
    /// After enabling, call [`SplitQueue::pending`] again: buffers added
    /// while kicks were disabled produce no kick.
    pub fn set_notification<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &M,
        enable: bool,
    ) -> Result<(), Error> {
        self.check()?;
        let r = self.set_notification_inner(mem, enable);
        self.guard(r)
    }
}
