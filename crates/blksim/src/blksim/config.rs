// SPDX-License-Identifier: GPL-2.0
//! The settings of a block device and its config space (`struct virtio_blk_config`).

use super::{
    MAX_DISCARD_SECTORS, MAX_DISCARD_SEG, MAX_QUEUES, SECTOR_SIZE, SEG_MAX, SERIAL_LEN, SIZE_MAX,
    VIRTIO_BLK_F_RO,
};

/// Bytes of config space the device exposes: `struct virtio_blk_config` up to and
/// including `write_zeroes_may_unmap` and its padding; the secure-erase and zoned fields
/// after it belong to features the device does not offer.
pub const CONFIG_SIZE: usize = 60;

const OFF_CAPACITY: usize = 0;
const OFF_SIZE_MAX: usize = 8;
const OFF_SEG_MAX: usize = 12;
const OFF_BLK_SIZE: usize = 20;
const OFF_NUM_QUEUES: usize = 34;
const OFF_MAX_DISCARD_SECTORS: usize = 36;
const OFF_MAX_DISCARD_SEG: usize = 40;
const OFF_DISCARD_ALIGNMENT: usize = 44;
const OFF_MAX_WRITE_ZEROES_SECTORS: usize = 48;
const OFF_MAX_WRITE_ZEROES_SEG: usize = 52;
const OFF_WRITE_ZEROES_MAY_UNMAP: usize = 56;

/// What an administrator sets on an instance before a driver binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlkConfig {
    /// Size in 512-byte sectors.
    pub capacity: u64,
    /// Writes, discards and write-zeroes fail, and the device offers `VIRTIO_BLK_F_RO`.
    pub read_only: bool,
    /// Request queues, 1 to [`MAX_QUEUES`].
    pub num_queues: u16,
    /// The `GET_ID` answer: up to 20 bytes, NUL-padded.
    pub serial: [u8; SERIAL_LEN],
}

impl BlkConfig {
    /// The capacity in bytes.
    pub fn bytes(&self) -> u64 {
        self.capacity.saturating_mul(SECTOR_SIZE)
    }

    /// The features that come with the settings.
    pub fn features(&self) -> u64 {
        if self.read_only {
            VIRTIO_BLK_F_RO
        } else {
            0
        }
    }

    /// Whether `n` is a valid number of request queues.
    pub fn valid_queues(n: u16) -> bool {
        (1..=MAX_QUEUES).contains(&n)
    }

    /// The config space.
    pub fn image(&self) -> [u8; CONFIG_SIZE] {
        let mut c = [0u8; CONFIG_SIZE];
        let mut put = |off: usize, b: &[u8]| {
            if let Some(d) = c.get_mut(off..off + b.len()) {
                d.copy_from_slice(b);
            }
        };
        put(OFF_CAPACITY, &self.capacity.to_le_bytes());
        put(OFF_SIZE_MAX, &SIZE_MAX.to_le_bytes());
        put(OFF_SEG_MAX, &SEG_MAX.to_le_bytes());
        put(OFF_BLK_SIZE, &(SECTOR_SIZE as u32).to_le_bytes());
        put(OFF_NUM_QUEUES, &self.num_queues.to_le_bytes());
        put(OFF_MAX_DISCARD_SECTORS, &MAX_DISCARD_SECTORS.to_le_bytes());
        put(OFF_MAX_DISCARD_SEG, &MAX_DISCARD_SEG.to_le_bytes());
        put(OFF_DISCARD_ALIGNMENT, &1u32.to_le_bytes());
        put(
            OFF_MAX_WRITE_ZEROES_SECTORS,
            &MAX_DISCARD_SECTORS.to_le_bytes(),
        );
        put(OFF_MAX_WRITE_ZEROES_SEG, &MAX_DISCARD_SEG.to_le_bytes());
        put(OFF_WRITE_ZEROES_MAY_UNMAP, &[1]);
        c
    }

    /// Fills `buf` with the config space at `offset`; bytes past its end read 0.
    pub fn read(&self, offset: usize, buf: &mut [u8]) {
        let image = self.image();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = offset
                .checked_add(i)
                .and_then(|o| image.get(o))
                .copied()
                .unwrap_or(0);
        }
    }
}
