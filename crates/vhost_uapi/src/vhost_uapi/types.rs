// SPDX-License-Identifier: GPL-2.0
//! The fixed-layout argument structs of the vhost uAPI.
//!
//! Each struct has an explicit byte encoding in native byte order, with the
//! offsets that gcc gives the C struct on x86-64 (checked with `offsetof`),
//! so neither side needs `unsafe` transmutes. Padding is ignored when
//! decoding and written as zero when encoding.

use super::errno::{Errno, EFAULT};

/// Reads a native-endian `u32` at `off`; 0 if out of range, which the fixed
/// offsets used below never are.
fn rd_u32(b: &[u8], off: usize) -> u32 {
    off.checked_add(4)
        .and_then(|end| b.get(off..end))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_ne_bytes)
}

/// Reads a native-endian `u64` at `off`; 0 if out of range.
fn rd_u64(b: &[u8], off: usize) -> u64 {
    off.checked_add(8)
        .and_then(|end| b.get(off..end))
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map_or(0, u64::from_ne_bytes)
}

/// Writes `v` at `off`; nothing if out of range.
fn wr(b: &mut [u8], off: usize, v: &[u8]) {
    let dst = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end));
    if let Some(dst) = dst {
        for (d, s) in dst.iter_mut().zip(v) {
            *d = *s;
        }
    }
}

/// Copies the first `N` bytes of `b` into an array, or EFAULT if `b` is
/// shorter, as a short `copy_from_user()` would fail.
pub(super) fn prefix<const N: usize>(b: &[u8]) -> Result<[u8; N], Errno> {
    b.get(..N)
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .ok_or(EFAULT)
}

/// Adds `from_slice`, which decodes the first `SIZE` bytes of a longer or
/// equal buffer.
macro_rules! from_slice {
    ($t:ty) => {
        impl $t {
            /// Decodes the first [`Self::SIZE`] bytes of `b`; EFAULT if `b`
            /// is shorter (a short `copy_from_user()`).
            pub fn from_slice(b: &[u8]) -> Result<Self, Errno> {
                prefix::<{ <$t>::SIZE }>(b).map(|a| Self::from_bytes(&a))
            }
        }
    };
}

/// `struct vhost_vring_state {unsigned int index; unsigned int num;}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VringState {
    /// Virtqueue index (for `SET_GROUP_ASID`: the group index).
    pub index: u32,
    /// The value: queue size, base, enable flag, group, ASID, timeout...
    pub num: u32,
}

impl VringState {
    /// `sizeof(struct vhost_vring_state)`.
    pub const SIZE: usize = 8;

    /// Decodes `{index @0, num @4}`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            index: rd_u32(b, 0),
            num: rd_u32(b, 4),
        }
    }

    /// Encodes `{index @0, num @4}`.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.index.to_ne_bytes());
        wr(&mut b, 4, &self.num.to_ne_bytes());
        b
    }
}
from_slice!(VringState);

/// `struct vhost_vring_file {unsigned int index; int fd;}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VringFile {
    /// Virtqueue index.
    pub index: u32,
    /// An eventfd, or [`VHOST_FILE_UNBIND`] (-1) to unbind.
    pub fd: i32,
}

/// `VHOST_FILE_UNBIND`: the fd value that unbinds an eventfd.
pub const VHOST_FILE_UNBIND: i32 = -1;

impl VringFile {
    /// `sizeof(struct vhost_vring_file)`.
    pub const SIZE: usize = 8;

    /// Decodes `{index @0, fd @4}`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            index: rd_u32(b, 0),
            fd: i32::from_ne_bytes(rd_u32(b, 4).to_ne_bytes()),
        }
    }

    /// Encodes `{index @0, fd @4}`.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.index.to_ne_bytes());
        wr(&mut b, 4, &self.fd.to_ne_bytes());
        b
    }
}
from_slice!(VringFile);

/// `struct vhost_vring_addr`. Note the C field order: desc, **used**,
/// **avail**, log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VringAddr {
    /// Virtqueue index (+0).
    pub index: u32,
    /// Option flags (+4); only `1 << VHOST_VRING_F_LOG` is defined.
    pub flags: u32,
    /// Descriptor table address (+8); no alignment is checked.
    pub desc_user_addr: u64,
    /// Used ring (device area) address (+16); must be 4-byte aligned.
    pub used_user_addr: u64,
    /// Available ring (driver area) address (+24); must be 2-byte aligned.
    pub avail_user_addr: u64,
    /// Dirty log address for the used ring (+32); must be 4-byte aligned
    /// even when logging is off.
    pub log_guest_addr: u64,
}

impl VringAddr {
    /// `sizeof(struct vhost_vring_addr)`.
    pub const SIZE: usize = 40;

    /// Decodes the C layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            index: rd_u32(b, 0),
            flags: rd_u32(b, 4),
            desc_user_addr: rd_u64(b, 8),
            used_user_addr: rd_u64(b, 16),
            avail_user_addr: rd_u64(b, 24),
            log_guest_addr: rd_u64(b, 32),
        }
    }

    /// Encodes the C layout.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.index.to_ne_bytes());
        wr(&mut b, 4, &self.flags.to_ne_bytes());
        wr(&mut b, 8, &self.desc_user_addr.to_ne_bytes());
        wr(&mut b, 16, &self.used_user_addr.to_ne_bytes());
        wr(&mut b, 24, &self.avail_user_addr.to_ne_bytes());
        wr(&mut b, 32, &self.log_guest_addr.to_ne_bytes());
        b
    }
}
from_slice!(VringAddr);

/// `struct vhost_iotlb_msg` (32 bytes: 26 of data, 6 of tail padding).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IotlbMsg {
    /// First IOVA (+0).
    pub iova: u64,
    /// Length in bytes (+8).
    pub size: u64,
    /// Userspace address backing `iova` (+16).
    pub uaddr: u64,
    /// `VHOST_ACCESS_*` (+24); the kernel does not validate it.
    pub perm: u8,
    /// The C `type` field, `VHOST_IOTLB_*` (+25).
    pub kind: u8,
}

impl IotlbMsg {
    /// `sizeof(struct vhost_iotlb_msg)`.
    pub const SIZE: usize = 32;

    /// Decodes the C layout; the 6 padding bytes are ignored.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            iova: rd_u64(b, 0),
            size: rd_u64(b, 8),
            uaddr: rd_u64(b, 16),
            perm: b.get(24).copied().unwrap_or(0),
            kind: b.get(25).copied().unwrap_or(0),
        }
    }

    /// Encodes the C layout with zero padding.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.iova.to_ne_bytes());
        wr(&mut b, 8, &self.size.to_ne_bytes());
        wr(&mut b, 16, &self.uaddr.to_ne_bytes());
        wr(&mut b, 24, &[self.perm, self.kind]);
        b
    }
}
from_slice!(IotlbMsg);

/// `struct vhost_vdpa_config` without its flexible `buf[]`: the header of
/// `VHOST_VDPA_GET_CONFIG` / `SET_CONFIG`, followed in user memory by `len`
/// payload bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VdpaConfigHeader {
    /// Offset into the device config space (+0).
    pub off: u32,
    /// Payload length (+4).
    pub len: u32,
}

impl VdpaConfigHeader {
    /// `offsetof(struct vhost_vdpa_config, buf)`.
    pub const SIZE: usize = 8;

    /// Decodes `{off @0, len @4}`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            off: rd_u32(b, 0),
            len: rd_u32(b, 4),
        }
    }

    /// Encodes `{off @0, len @4}`.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.off.to_ne_bytes());
        wr(&mut b, 4, &self.len.to_ne_bytes());
        b
    }
}
from_slice!(VdpaConfigHeader);

/// `struct vhost_vdpa_iova_range {u64 first; u64 last;}`, both inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IovaRange {
    /// First mappable IOVA (+0).
    pub first: u64,
    /// Last mappable IOVA, inclusive (+8).
    pub last: u64,
}

impl IovaRange {
    /// `sizeof(struct vhost_vdpa_iova_range)`.
    pub const SIZE: usize = 16;

    /// `[0, ~0ULL]`, what `vhost_vdpa_set_iova_range()` falls back to.
    pub const FULL: IovaRange = IovaRange {
        first: 0,
        last: u64::MAX,
    };

    /// Decodes `{first @0, last @8}`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            first: rd_u64(b, 0),
            last: rd_u64(b, 8),
        }
    }

    /// Encodes `{first @0, last @8}`.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.first.to_ne_bytes());
        wr(&mut b, 8, &self.last.to_ne_bytes());
        b
    }
}

impl Default for IovaRange {
    fn default() -> Self {
        Self::FULL
    }
}
from_slice!(IovaRange);

/// `struct vhost_memory` without its flexible `regions[]`: the header of
/// `VHOST_SET_MEM_TABLE`, followed by `nregions` [`MemoryRegion`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryHeader {
    /// Number of regions that follow (+0).
    pub nregions: u32,
    /// Must be 0 (+4).
    pub padding: u32,
}

impl MemoryHeader {
    /// `offsetof(struct vhost_memory, regions)`.
    pub const SIZE: usize = 8;

    /// Decodes `{nregions @0, padding @4}`.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            nregions: rd_u32(b, 0),
            padding: rd_u32(b, 4),
        }
    }

    /// Encodes `{nregions @0, padding @4}`.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.nregions.to_ne_bytes());
        wr(&mut b, 4, &self.padding.to_ne_bytes());
        b
    }
}
from_slice!(MemoryHeader);

/// `struct vhost_memory_region`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemoryRegion {
    /// Guest-physical start (+0).
    pub guest_phys_addr: u64,
    /// Length in bytes (+8).
    pub memory_size: u64,
    /// Userspace address (+16).
    pub userspace_addr: u64,
    /// No flags are defined (+24).
    pub flags_padding: u64,
}

impl MemoryRegion {
    /// `sizeof(struct vhost_memory_region)`.
    pub const SIZE: usize = 32;

    /// Decodes the C layout.
    pub fn from_bytes(b: &[u8; Self::SIZE]) -> Self {
        Self {
            guest_phys_addr: rd_u64(b, 0),
            memory_size: rd_u64(b, 8),
            userspace_addr: rd_u64(b, 16),
            flags_padding: rd_u64(b, 24),
        }
    }

    /// Encodes the C layout.
    pub fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0; Self::SIZE];
        wr(&mut b, 0, &self.guest_phys_addr.to_ne_bytes());
        wr(&mut b, 8, &self.memory_size.to_ne_bytes());
        wr(&mut b, 16, &self.userspace_addr.to_ne_bytes());
        wr(&mut b, 24, &self.flags_padding.to_ne_bytes());
        b
    }
}
from_slice!(MemoryRegion);
