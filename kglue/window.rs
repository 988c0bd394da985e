// SPDX-License-Identifier: GPL-2.0
//! The register window of a vmdev device, as a driver bound to it sees it.
//!
//! Every access goes through the transport, which checks it against the register map
//! (`crates/vmdev_regs`, `map.rs`) before the device sees it; a refused access is an error
//! here and never reaches the device. Registers are named by [`Register`], never by raw
//! offsets. A [`Window`] holds a reference to the transport's device, so it stays usable
//! (and safe) for as long as it lives; once the instance is destroyed every access fails with
//! `ENODEV`.

use super::sys;
use crate::vmdev_regs::dma;
use crate::vmdev_regs::map::Register;
use core::ptr::NonNull;
use kernel::error::{to_result, Error};
use kernel::prelude::*;

/// The register window of one vmdev device.
///
/// # Invariants
///
/// `raw` is a vmdev device whose `struct device` this object holds a reference to.
pub struct Window {
    raw: NonNull<sys::vmdev_device>,
}

// SAFETY: the transport's register accessors may be called from any task; the doorbell also
// from atomic context.
unsafe impl Send for Window {}
// SAFETY: as above; a shared window allows nothing more.
unsafe impl Sync for Window {}

impl Window {
    /// A window on `raw`, taking a reference to it.
    ///
    /// # Safety
    ///
    /// `raw` must be a live vmdev device.
    pub(crate) unsafe fn new(raw: *mut sys::vmdev_device) -> Self {
        // SAFETY: live per the contract; the reference is put in `drop`.
        unsafe { sys::get_device(sys::vmdev_to_dev(raw)) };
        // INVARIANT: referenced just now.
        Self {
            // SAFETY: a live device is not null.
            raw: unsafe { NonNull::new_unchecked(raw) },
        }
    }

    /// The transport's device, for the glue.
    pub(crate) fn as_raw(&self) -> *mut sys::vmdev_device {
        self.raw.as_ptr()
    }

    /// The `struct device` on the vmdev bus (the parent of what a driver creates for it).
    pub fn device(&self) -> &kernel::device::Device {
        // SAFETY: referenced for as long as `self` lives (invariant).
        unsafe { kernel::device::Device::as_ref(sys::vmdev_to_dev(self.as_raw()).cast()) }
    }

    /// The device's name (`vmdevN`).
    pub fn name(&self) -> &core::ffi::CStr {
        // SAFETY: the name of a referenced device lives as long as the device.
        unsafe {
            core::ffi::CStr::from_ptr(
                sys::vmdev_helper_dev_name(sys::vmdev_to_dev(self.as_raw())).cast(),
            )
        }
    }

    /// Reads `reg`; an access the transport refuses reads as all ones, as on PCI.
    pub fn read(&self, reg: Register) -> u32 {
        self.try_read(reg).unwrap_or(u32::MAX)
    }

    /// Reads `reg`.
    pub fn try_read(&self, reg: Register) -> Result<u32> {
        let mut v = 0;
        // SAFETY: a referenced device (invariant); `v` is writable.
        to_result(unsafe { sys::vmdev_read(self.as_raw(), reg as u32, &mut v) })?;
        Ok(v)
    }

    /// Writes `reg`. Only [`Register::QUEUE_NOTIFY`] may be written from atomic context.
    pub fn write(&self, reg: Register, value: u32) -> Result {
        // SAFETY: a referenced device (invariant).
        to_result(unsafe { sys::vmdev_write(self.as_raw(), reg as u32, value) })
    }

    /// Writes a 64-bit value to a `_LOW`/`_HIGH` register pair.
    pub fn write64(&self, low: Register, high: Register, value: u64) -> Result {
        self.write(low, value as u32)?;
        self.write(high, (value >> 32) as u32)
    }

    /// The device status.
    pub fn status(&self) -> u8 {
        self.read(Register::STATUS) as u8
    }

    /// Resets the device: when this returns, the device uses no queue, and the transport
    /// delivers none of its interrupts until a driver writes a non-zero status again.
    pub fn reset(&self) {
        // Refused only for a destroyed instance, which is as reset as it gets.
        let _ = self.write(Register::STATUS, 0);
    }

    /// Selects the queue the `QUEUE_*` registers act on.
    pub fn select_queue(&self, index: u32) -> Result {
        self.write(Register::QUEUE_SEL, index)
    }

    /// Rings queue `index`'s doorbell. Any context.
    pub fn notify(&self, index: u32) -> Result {
        self.write(Register::QUEUE_NOTIFY, index)
    }

    /// The 64 feature bits the device offers.
    pub fn device_features(&self) -> u64 {
        let mut features = 0u64;
        for word in 0..2u32 {
            if self.write(Register::DEVICE_FEATURES_SEL, word).is_ok() {
                features |= u64::from(self.read(Register::DEVICE_FEATURES)) << (32 * word);
            }
        }
        features
    }

    /// Writes the 64 driver feature bits.
    pub fn set_driver_features(&self, features: u64) -> Result {
        for word in 0..2u32 {
            self.write(Register::DRIVER_FEATURES_SEL, word)?;
            self.write(Register::DRIVER_FEATURES, (features >> (32 * word)) as u32)?;
        }
        Ok(())
    }

    /// Reads `buf.len()` bytes of config space at `offset`, in the widths the transport takes.
    pub fn config_read(&self, offset: u32, buf: &mut [u8]) -> Result {
        for_each_access(offset, buf.len(), |off, at, n| {
            let piece = &mut buf[at..at + n];
            // SAFETY: a referenced device; `piece` holds `n` writable bytes.
            to_result(unsafe {
                sys::vmdev_config_read(self.as_raw(), off, piece.as_mut_ptr().cast(), n as u32)
            })
        })
    }

    /// Writes `buf` to config space at `offset`, in the widths the transport takes.
    pub fn config_write(&self, offset: u32, buf: &[u8]) -> Result {
        for_each_access(offset, buf.len(), |off, at, n| {
            let piece = &buf[at..at + n];
            // SAFETY: a referenced device; `piece` holds `n` readable bytes.
            to_result(unsafe {
                sys::vmdev_config_write(self.as_raw(), off, piece.as_ptr().cast(), n as u32)
            })
        })
    }

    /// Runs one DMA table command (`DMA_CMD`) on address space `asid`; the device's result
    /// as an error.
    pub fn dma(&self, asid: u16, cmd: u32, iova: u64, size: u64, addr: u64, perm: u32) -> Result {
        self.write(Register::DMA_ASID, u32::from(asid))?;
        self.write64(Register::DMA_IOVA_LOW, Register::DMA_IOVA_HIGH, iova)?;
        self.write64(Register::DMA_SIZE_LOW, Register::DMA_SIZE_HIGH, size)?;
        self.write64(Register::DMA_ADDR_LOW, Register::DMA_ADDR_HIGH, addr)?;
        self.write(Register::DMA_PERM, perm)?;
        self.write(Register::DMA_CMD, cmd)?;
        match dma::errno(self.read(Register::DMA_CMD)) {
            0 => Ok(()),
            e => Err(Error::from_errno(-e)),
        }
    }

    /// Waits until no interrupt of this device is being delivered to its driver.
    pub fn synchronize_callbacks(&self) {
        // SAFETY: a referenced device.
        unsafe { sys::vmdev_synchronize_callbacks(self.as_raw()) };
    }
}

impl Clone for Window {
    fn clone(&self) -> Self {
        // SAFETY: `self` keeps the device alive (invariant).
        unsafe { Self::new(self.as_raw()) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `new`.
        unsafe { sys::put_device(sys::vmdev_to_dev(self.as_raw())) };
    }
}

/// Splits a config access of `len` bytes at `offset` into the 8, 4, 2 and 1-byte accesses the
/// transport takes: `f(offset, index into the buffer, width)`.
fn for_each_access(
    offset: u32,
    len: usize,
    mut f: impl FnMut(u32, usize, usize) -> Result,
) -> Result {
    let mut done = 0usize;
    while done < len {
        let n = match len - done {
            8.. => 8,
            4.. => 4,
            2.. => 2,
            _ => 1,
        };
        let off = offset.checked_add(done as u32).ok_or(EINVAL)?;
        f(off, done, n)?;
        done += n;
    }
    Ok(())
}
