// SPDX-License-Identifier: GPL-2.0
//! The driver side of a split virtqueue laid out inside the shared [`Region`].
//!
//! The device reads the descriptor table and the available ring and writes the used ring
//! concurrently, so every access is volatile and the index updates are fenced: descriptors
//! and ring entries are written before the available index (release), and used entries are
//! read after the used index (acquire).

use std::sync::atomic::{fence, Ordering};

use vhost_uapi::VringAddr;

use crate::sys::Region;

/// Descriptor flag: the chain continues at `next`.
pub(crate) const VRING_DESC_F_NEXT: u16 = 1;
/// Descriptor flag: the buffer is device-writable.
pub(crate) const VRING_DESC_F_WRITE: u16 = 2;

/// Size of one descriptor (`struct vring_desc`).
const DESC_SIZE: usize = 16;
/// Size of one used element (`struct vring_used_elem`).
const USED_ELEM_SIZE: usize = 8;
/// `used->flags` bit: the device asks not to be kicked.
const VRING_USED_F_NO_NOTIFY: u16 = 1;

/// Offsets of the three parts of a split ring inside the region.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Layout {
    /// Descriptor table (16-byte aligned).
    pub(crate) desc: usize,
    /// Available ring: flags, idx, ring[size], used_event (2-byte aligned).
    pub(crate) avail: usize,
    /// Used ring: flags, idx, ring[size], avail_event (4-byte aligned).
    pub(crate) used: usize,
    /// First byte after the used ring.
    pub(crate) end: usize,
}

impl Layout {
    /// Packs the three parts of a ring of `size` entries from `base` (16-byte aligned) on,
    /// each at its required alignment only.
    pub(crate) fn at(base: usize, size: u16) -> Layout {
        assert!(
            base.is_multiple_of(16),
            "descriptor table must be 16-byte aligned"
        );
        let n = usize::from(size);
        let desc = base;
        let avail = desc + DESC_SIZE * n;
        let used = (avail + 6 + 2 * n).next_multiple_of(4);
        let end = used + 6 + USED_ELEM_SIZE * n;
        Layout {
            desc,
            avail,
            used,
            end,
        }
    }
}

/// One split virtqueue as seen by the driver.
pub(crate) struct Vq {
    /// The vq index on the device.
    pub(crate) index: u32,
    /// Number of entries (a power of two).
    pub(crate) size: u16,
    /// Where the parts live in the region.
    pub(crate) lay: Layout,
    /// IOVA of region offset 0.
    iova_base: u64,
    /// Our shadow of `avail->idx`.
    next_avail: u16,
    /// Used entries consumed so far.
    last_used: u16,
}

impl Vq {
    /// A queue of `size` entries at `base`; the ring memory is cleared.
    pub(crate) fn new(mem: &Region, index: u32, size: u16, base: usize, iova_base: u64) -> Vq {
        let lay = Layout::at(base, size);
        for off in lay.desc..lay.end {
            mem.w8(off, 0);
        }
        Vq {
            index,
            size,
            lay,
            iova_base,
            next_avail: 0,
            last_used: 0,
        }
    }

    /// The IOVA of a region offset.
    pub(crate) fn iova(&self, off: usize) -> u64 {
        self.iova_base + off as u64
    }

    /// The `SET_VRING_ADDR` argument: IOVAs of the three parts, no flags, no log.
    pub(crate) fn addr(&self) -> VringAddr {
        VringAddr {
            index: self.index,
            flags: 0,
            desc_user_addr: self.iova(self.lay.desc),
            used_user_addr: self.iova(self.lay.used),
            avail_user_addr: self.iova(self.lay.avail),
            log_guest_addr: 0,
        }
    }

    /// Writes descriptor `id`.
    pub(crate) fn write_desc(
        &self,
        mem: &Region,
        id: u16,
        addr: u64,
        len: u32,
        flags: u16,
        next: u16,
    ) {
        assert!(
            id < self.size,
            "descriptor {id} outside a ring of {}",
            self.size
        );
        let d = self.lay.desc + DESC_SIZE * usize::from(id);
        mem.w64(d, addr);
        mem.w32(d + 8, len);
        mem.w16(d + 12, flags);
        mem.w16(d + 14, next);
    }

    /// Puts the chain starting at `head` into the available ring and publishes it.
    pub(crate) fn publish(&mut self, mem: &Region, head: u16) {
        self.publish_deferred(mem, head);
        self.flush_avail(mem);
    }

    /// Puts the chain starting at `head` into the available ring; the device sees it only
    /// after [`Vq::flush_avail`], so a burst costs one index update.
    pub(crate) fn publish_deferred(&mut self, mem: &Region, head: u16) {
        let slot = usize::from(self.next_avail % self.size);
        mem.w16(self.lay.avail + 4 + 2 * slot, head);
        self.next_avail = self.next_avail.wrapping_add(1);
    }

    /// Publishes every entry put into the available ring so far.
    pub(crate) fn flush_avail(&self, mem: &Region) {
        fence(Ordering::SeqCst);
        mem.w16(self.lay.avail + 2, self.next_avail);
        fence(Ordering::SeqCst);
    }

    /// Writes the available index directly (for crafted, invalid states).
    pub(crate) fn set_avail_idx(&mut self, mem: &Region, idx: u16) {
        fence(Ordering::SeqCst);
        self.next_avail = idx;
        mem.w16(self.lay.avail + 2, idx);
        fence(Ordering::SeqCst);
    }

    /// Fills available-ring slot `slot` without publishing it.
    pub(crate) fn set_avail_slot(&self, mem: &Region, slot: u16, head: u16) {
        mem.w16(self.lay.avail + 4 + 2 * usize::from(slot % self.size), head);
    }

    /// The device's used index (acquire).
    pub(crate) fn used_idx(&self, mem: &Region) -> u16 {
        fence(Ordering::SeqCst);
        let v = mem.r16(self.lay.used + 2);
        fence(Ordering::Acquire);
        v
    }

    /// Whether the device wants a kick for what was just published: not while it sets
    /// `VRING_USED_F_NO_NOTIFY`, which DPDK's virtio_user checks the same way. Call after
    /// [`Vq::flush_avail`], whose fence orders the check after the index store.
    pub(crate) fn kick_wanted(&self, mem: &Region) -> bool {
        mem.r16(self.lay.used) & VRING_USED_F_NO_NOTIFY == 0
    }

    /// Used entries the device published that we have not consumed.
    pub(crate) fn pending(&self, mem: &Region) -> u16 {
        self.used_idx(mem).wrapping_sub(self.last_used)
    }

    /// Used entries since the queue was created.
    pub(crate) fn used_total(&self, mem: &Region) -> u16 {
        self.used_idx(mem)
    }

    /// Consumes the next used element: `(id, len)`, or `None` if there is none.
    pub(crate) fn pop_used(&mut self, mem: &Region) -> Option<(u32, u32)> {
        if self.pending(mem) == 0 {
            return None;
        }
        let slot = usize::from(self.last_used % self.size);
        let e = self.lay.used + 4 + USED_ELEM_SIZE * slot;
        let id = mem.r32(e);
        let len = mem.r32(e + 4);
        self.last_used = self.last_used.wrapping_add(1);
        Some((id, len))
    }
}
