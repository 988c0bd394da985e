// SPDX-License-Identifier: GPL-2.0
//! Access to driver memory.

/// Why an access to driver memory failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemError {
    /// The address range is not (entirely) mapped for the device.
    OutOfRange,
    /// The range is mapped but the access faulted.
    Fault,
}

/// Access to memory the driver shares with the device, by device address
/// (a DMA address for the kernel personality, an IOVA for vhost).
///
/// Values are copied, never borrowed: the driver mutates this memory
/// concurrently, so a reference into it could change under the device.
pub trait GuestMemory {
    /// Copies `buf.len()` bytes at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError>;

    /// Copies `buf` to `addr`.
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError>;

    /// Copies `len` bytes from `src` to `dst` inside driver memory, so callers
    /// need no bounce buffer of their own.
    ///
    /// The default goes through a 256-byte stack buffer, chunk by chunk;
    /// implementations with direct access should override it. Overlapping
    /// ranges get no memmove guarantee. On error a prefix may have been
    /// copied already.
    fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemError> {
        let mut chunk = [0u8; 256];
        let mut done: u64 = 0;
        while done < len {
            let n = core::cmp::min(len - done, chunk.len() as u64);
            // `n` is at most 256, so the conversion cannot truncate.
            let buf = chunk.get_mut(..n as usize).ok_or(MemError::OutOfRange)?;
            let s = src.checked_add(done).ok_or(MemError::OutOfRange)?;
            let d = dst.checked_add(done).ok_or(MemError::OutOfRange)?;
            self.read(s, buf)?;
            self.write(d, buf)?;
            done += n;
        }
        Ok(())
    }

    /// Loads a ring index (little-endian u16) with acquire ordering.
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError>;

    /// Stores a ring index (little-endian u16) with release ordering.
    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError>;

    /// Full memory barrier, ordering used-ring publication against reading
    /// the driver's event index or flags.
    fn fence(&self);

    /// Reads a little-endian u16.
    fn read_u16(&self, addr: u64) -> Result<u16, MemError> {
        let mut b = [0u8; 2];
        self.read(addr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }

    /// Reads a little-endian u32.
    fn read_u32(&self, addr: u64) -> Result<u32, MemError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a little-endian u64.
    fn read_u64(&self, addr: u64) -> Result<u64, MemError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u16.
    fn write_u16(&self, addr: u64, val: u16) -> Result<(), MemError> {
        self.write(addr, &val.to_le_bytes())
    }

    /// Writes a little-endian u32.
    fn write_u32(&self, addr: u64, val: u32) -> Result<(), MemError> {
        self.write(addr, &val.to_le_bytes())
    }
}
