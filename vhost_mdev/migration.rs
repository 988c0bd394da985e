// SPDX-License-Identifier: GPL-2.0
//! Live migration: the dirty log, and ring state the destination resumes from.
//!
//! A device with `CAP_DIRTY_LOG` logs the pages it writes itself (register-map.rst, "Dirty
//! page logging"), so vhost_mdev offers `VHOST_F_LOG_ALL` and QEMU migrates the guest with
//! the datapath left in the device, without shadow virtqueues:
//!
//! - `VHOST_SET_LOG_BASE` names the bitmap in the VMM's memory. Its pages are pinned and
//!   charged like IOTLB pages ([`AddressSpace`]) and mapped in the device's log address
//!   space, alternately in its lower and upper half, so that a replacement (QEMU resizes the
//!   log while the guest runs) is mapped before the device switches to it and the old one
//!   is unmapped and unpinned only after: once the ioctl returns, the device marks only the
//!   new log.
//! - `VHOST_SET_FEATURES` that toggles `VHOST_F_LOG_ALL` alone, while the device runs, turns
//!   logging of buffer writes on and off (`LOG_CTRL`).
//! - `VHOST_SET_VRING_ADDR` that changes only `VHOST_VRING_F_LOG` and `log_guest_addr`,
//!   while the device runs, says where that ring's used-ring writes are logged
//!   (`QUEUE_USED_LOG`).
//!
//! The size of the log is not in the uAPI: vhost checks a log against its memory table,
//! which vhost-vdpa never receives. vhost_mdev sizes it for the highest IOVA the device can
//! write, which is where QEMU's bitmap ends when every writable mapping is guest RAM (see
//! vhost-uapi.rst, "Live migration", for the one case where it is not).
//!
//! Ring state. QEMU 7.2 stops a vhost-vdpa device by reading `GET_VRING_BASE` ring by ring
//! while the device still runs (only the last vhost device of the NIC is reset first), and
//! migrates what it read. A ring that went on consuming buffers after the read would resume
//! on the destination behind where it stopped. So `GET_VRING_BASE` on a ring of a running
//! device that is not suspended stops that ring first: its position is then final until the
//! reset, and every chain the device took is in the used ring (the simulator completes what
//! it pops). A suspended device (QEMU 8.0 and later suspend first) is read as it stands.

use super::device::{errno_of, write_used_log, Inner, LOG_ALL};
use super::dirty_log::log_bytes_for;
use super::iotlb;
use super::pinned_iotlb::AddressSpace;
use super::vhost_uapi::{self, VHOST_ACCESS_RW};
use super::vmdev_regs::log;
use super::vmdev_regs::map::Register;
use kernel::error::code::{EIO, EPERM};
use kernel::prelude::*;

/// The page the log's own mapping is made of.
const PAGE_SIZE: u64 = iotlb::PAGE_SIZE;
/// The upper half of the device's log address space.
const UPPER_HALF: u64 = 1 << 62;

/// The VMM's bitmap, pinned and mapped in the device's log address space.
pub(crate) struct PinnedLog {
    space: AddressSpace,
    /// `LOG_BASE`: the device address of the bitmap's first byte.
    base: u64,
    /// `LOG_SIZE`.
    size: u64,
    /// Mapped in the upper half of the log address space.
    upper: bool,
}

impl PinnedLog {
    /// The pinned pages, for release.
    pub(crate) fn into_space(self) -> AddressSpace {
        self.space
    }
}

impl Inner {
    /// Whether the device logs (and so vhost_mdev offers `VHOST_F_LOG_ALL`).
    pub(crate) fn logs(&self) -> bool {
        self.device_features & LOG_ALL != 0
    }

    /// The highest IOVA the device may write, in any address space.
    fn writable_last(&self) -> u64 {
        self.iotlb
            .iter()
            .flatten()
            .filter_map(AddressSpace::writable_last)
            .max()
            .unwrap_or(0)
    }

    /// `VHOST_SET_LOG_BASE`: logs into the bitmap at user address `uaddr` from now on.
    pub(crate) fn set_log_base(&mut self, uaddr: u64) -> Result {
        vhost_uapi::check_log_base(uaddr).map_err(errno_of)?;
        let mm = self.owner.as_ref().ok_or(EPERM)?.clone();
        let size = log_bytes_for(self.writable_last());
        let upper = !self.log.as_ref().is_some_and(|l| l.upper);
        let base = if upper { UPPER_HALF } else { 0 } + (uaddr & (PAGE_SIZE - 1));
        let mut space = AddressSpace::new(mm, self.dma_entries, log::ASID as u16)?;
        // Pinned writable and charged to the owner's RLIMIT_MEMLOCK, all or nothing.
        space.map(self.win()?, base, size, uaddr, VHOST_ACCESS_RW, &self.releaser)?;
        let old = self.log.replace(PinnedLog {
            space,
            base,
            size,
            upper,
        });
        let applied = self.apply_log();
        // The device marks only the new log once LOG_CTRL returned; if it refused the new
        // one, it marks none, and the old one goes all the same.
        if let Some(old) = old {
            self.retire(old.into_space());
        }
        applied
    }

    /// Tells the device the log and whether buffer writes are logged (`LOG_CTRL`).
    pub(crate) fn apply_log(&self) -> Result {
        if !self.logs() {
            return Ok(());
        }
        let win = self.win()?;
        let (base, size) = self.log.as_ref().map_or((0, 0), |l| (l.base, l.size));
        let ctrl = if self.driver_features & LOG_ALL != 0 {
            log::ALL
        } else {
            0
        };
        win.write64(Register::LOG_BASE_LOW, Register::LOG_BASE_HIGH, base)?;
        win.write64(Register::LOG_SIZE_LOW, Register::LOG_SIZE_HIGH, size)?;
        win.write(Register::LOG_CTRL, ctrl)?;
        if win.read(Register::LOG_CTRL) != ctrl || win.read(Register::LOG_BASE_LOW) != base as u32 {
            return Err(EIO);
        }
        Ok(())
    }

    /// The ring addresses queue `idx` runs with, as its registers hold them.
    pub(crate) fn running_addr(&self, idx: u32) -> Result<vhost_uapi::VringAddr> {
        let win = self.win()?;
        win.select_queue(idx)?;
        let read64 =
            |lo: Register, hi: Register| u64::from(win.read(lo)) | u64::from(win.read(hi)) << 32;
        Ok(vhost_uapi::VringAddr {
            index: idx,
            flags: 0,
            desc_user_addr: read64(Register::QUEUE_DESC_LOW, Register::QUEUE_DESC_HIGH),
            used_user_addr: read64(Register::QUEUE_USED_LOW, Register::QUEUE_USED_HIGH),
            avail_user_addr: read64(Register::QUEUE_AVAIL_LOW, Register::QUEUE_AVAIL_HIGH),
            log_guest_addr: 0,
        })
    }

    /// A running ring's new used-ring log (`VHOST_SET_VRING_ADDR` of its log fields only).
    pub(crate) fn set_used_log(&mut self, idx: u32) -> Result {
        let v = self
            .vrings
            .get(idx as usize)
            .ok_or(errno_of(vhost_uapi::errno::ENOBUFS))?
            .used_log;
        let win = self.win()?;
        win.select_queue(idx)?;
        write_used_log(win, v)?;
        if u64::from(win.read(Register::QUEUE_USED_LOG_LOW)) != v & 0xffff_ffff {
            return Err(EIO);
        }
        Ok(())
    }

    /// `GET_VRING_BASE` of ring `idx` (see the module documentation): where the ring stands,
    /// after stopping it if the device runs and is not suspended.
    pub(crate) fn vring_base(&mut self, idx: u32) -> Result<u16> {
        let slot = self
            .vrings
            .get(idx as usize)
            .ok_or(errno_of(vhost_uapi::errno::ENOBUFS))?;
        if let Some(b) = slot.base_at_reset {
            return Ok(b);
        }
        let (driver_ok, suspended) = (self.driver_ok(), self.suspended);
        let win = self.win()?;
        win.select_queue(idx)?;
        if driver_ok && !suspended && win.read(Register::QUEUE_READY) == 1 {
            // Stopping records the position in the state registers.
            win.write(Register::QUEUE_READY, 0)?;
            if let Some(v) = self.vrings.get_mut(idx as usize) {
                v.stopped = true;
            }
        }
        let win = self.win()?;
        Ok(win.read(Register::QUEUE_AVAIL_STATE) as u16)
    }
}
