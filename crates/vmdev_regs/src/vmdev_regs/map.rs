// SPDX-License-Identifier: GPL-2.0
//! The register map: offsets, directions, and the access check.
//!
//! The layout is the one Jason Wang proposed for virtio-mdev in 2019 (virtio-mmio v2 without
//! the interrupt status registers, plus `QUEUE_ALIGN`), extended with the registers a vhost
//! backend needs. `Documentation/register-map.rst` is the prose form of this table; a host test
//! keeps the two in step.
//!
//! Every register is 32 bits wide and 32-bit aligned. Device configuration space starts at
//! [`CONFIG_BASE`] and is accessed with widths of 1, 2, 4 or 8 bytes, bounded by the device's
//! `CONFIG_SIZE`.

/// The value of `MAGIC_VALUE`: "virt" in little-endian ASCII.
pub const MAGIC: u32 = 0x7472_6976;
/// The revision of this register map that `VERSION` reports.
pub const VERSION: u32 = 1;
/// Where device configuration space starts in the window.
pub const CONFIG_BASE: u32 = 0x100;
/// The largest device configuration space the window can address.
pub const CONFIG_MAX: u32 = 0x1000 - CONFIG_BASE;

/// Which way an access goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The driver reads the register.
    Read,
    /// The driver writes the register.
    Write,
}

/// Which accesses a register accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read-only: writes are refused.
    Ro,
    /// Write-only: reads are refused.
    Wo,
    /// Read and write.
    Rw,
}

macro_rules! registers {
    ($( $(#[$doc:meta])* $name:ident = $off:literal, $acc:ident; )*) => {
        /// A register of the window, below [`CONFIG_BASE`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[repr(u32)]
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        pub enum Register {
            $( $(#[$doc])* $name = $off, )*
        }

        impl Register {
            /// Every register, in offset order.
            pub const ALL: &'static [Register] = &[$(Register::$name,)*];

            /// The register at `offset`, if there is one.
            pub const fn at(offset: u32) -> Option<Register> {
                match offset {
                    $( $off => Some(Register::$name), )*
                    _ => None,
                }
            }

            /// The register's name as the specification spells it.
            pub const fn name(self) -> &'static str {
                match self {
                    $( Register::$name => stringify!($name), )*
                }
            }

            /// Which accesses the register accepts.
            pub const fn access(self) -> Access {
                match self {
                    $( Register::$name => Access::$acc, )*
                }
            }
        }
    };
}

registers! {
    /// "virt" (0x74726976); probe refuses a device that reads anything else.
    MAGIC_VALUE = 0x000, Ro;
    /// Revision of this register map (1).
    VERSION = 0x004, Ro;
    /// virtio device id (1 = net). 0 means no device.
    DEVICE_ID = 0x008, Ro;
    /// virtio subsystem vendor id.
    VENDOR_ID = 0x00c, Ro;
    /// 32 bits of the device features, word chosen by `DEVICE_FEATURES_SEL`.
    DEVICE_FEATURES = 0x010, Ro;
    /// Selects word 0 (bits 0-31) or 1 (bits 32-63) of the device features.
    DEVICE_FEATURES_SEL = 0x014, Rw;
    /// Extension: device address of the dirty log's first word in the log address space,
    /// low 32 bits; takes effect at the next `LOG_CTRL` write.
    LOG_BASE_LOW = 0x018, Rw;
    /// Extension: log base, high 32 bits.
    LOG_BASE_HIGH = 0x01c, Rw;
    /// 32 bits of the driver features, word chosen by `DRIVER_FEATURES_SEL`.
    DRIVER_FEATURES = 0x020, Rw;
    /// Selects word 0 or 1 of the driver features.
    DRIVER_FEATURES_SEL = 0x024, Rw;
    /// Extension: size of the dirty log in bytes (whole 64-bit words), low 32 bits; takes
    /// effect at the next `LOG_CTRL` write.
    LOG_SIZE_LOW = 0x028, Rw;
    /// Extension: log size, high 32 bits.
    LOG_SIZE_HIGH = 0x02c, Rw;
    /// Selects the queue that the `QUEUE_*` registers act on.
    QUEUE_SEL = 0x030, Rw;
    /// Largest size the selected queue supports; 0 if the queue does not exist.
    QUEUE_NUM_MAX = 0x034, Ro;
    /// Size of the selected queue: a power of two no larger than `QUEUE_NUM_MAX`.
    QUEUE_NUM = 0x038, Rw;
    /// 1 when the selected queue is enabled; writing 1 enables it, 0 disables it.
    QUEUE_READY = 0x044, Rw;
    /// Alignment of the used ring the device expects (legacy mmio, kept for vring layout).
    QUEUE_ALIGN = 0x048, Ro;
    /// Writing a queue index tells the device that queue has new buffers.
    QUEUE_NOTIFY = 0x050, Wo;
    /// Extension: dirty logging (`log::*` bits). A write applies `LOG_BASE` and `LOG_SIZE`
    /// with it: when it returns the device marks through the new log only.
    LOG_CTRL = 0x054, Rw;
    /// Extension: `log::STATUS_*` bits, sticky until the next `LOG_CTRL` write or reset.
    LOG_STATUS = 0x058, Ro;
    /// Device status; writing 0 resets the device.
    STATUS = 0x060, Rw;
    /// Extension: number of virtqueue groups (at least 1).
    NUM_GROUPS = 0x064, Ro;
    /// Extension: number of DMA address spaces (at least 1).
    NUM_AS = 0x068, Ro;
    /// Extension: the virtqueue group of the selected queue.
    QUEUE_GROUP = 0x06c, Ro;
    /// Extension: selects the group `GROUP_ASID` acts on.
    GROUP_SEL = 0x070, Rw;
    /// Extension: the address space the queues of the selected group use; 0 after reset.
    GROUP_ASID = 0x074, Rw;
    /// Extension: the address space the next DMA commands act on.
    DMA_ASID = 0x078, Rw;
    /// Descriptor table address of the selected queue, low 32 bits.
    QUEUE_DESC_LOW = 0x080, Rw;
    /// Descriptor table address, high 32 bits.
    QUEUE_DESC_HIGH = 0x084, Rw;
    /// Driver (available) ring address, low 32 bits.
    QUEUE_AVAIL_LOW = 0x090, Rw;
    /// Driver (available) ring address, high 32 bits.
    QUEUE_AVAIL_HIGH = 0x094, Rw;
    /// Device (used) ring address, low 32 bits.
    QUEUE_USED_LOW = 0x0a0, Rw;
    /// Device (used) ring address, high 32 bits.
    QUEUE_USED_HIGH = 0x0a4, Rw;
    /// Extension: where the device logs the selected queue's used-ring writes (vhost's
    /// `log_guest_addr`), low 32 bits, with bit 0 (`log::QUEUE_LOG_USED`) enabling it.
    /// Writable while the queue is ready: a write of this half applies both halves.
    QUEUE_USED_LOG_LOW = 0x0a8, Rw;
    /// Extension: the used-ring log address, high 32 bits.
    QUEUE_USED_LOG_HIGH = 0x0ac, Rw;
    /// Extension: the selected split queue's next available index (bits 15:0). Writable only
    /// while the queue is not ready; restores a queue's position (vhost `SET_VRING_BASE`).
    QUEUE_AVAIL_STATE = 0x0b0, Rw;
    /// Extension: the selected split queue's next used index (bits 15:0), as the device last
    /// recorded it. Enabling a queue starts it from `QUEUE_AVAIL_STATE` for both indexes.
    QUEUE_USED_STATE = 0x0b4, Ro;
    /// Extension: what the device can do beyond this map's baseline (`caps::*` bits).
    DEVICE_CAPS = 0x0b8, Ro;
    /// Extension: 1 while the device is suspended. Writing 1 suspends a running device
    /// (needs `caps::SUSPEND` and `DRIVER_OK`), 0 resumes it.
    SUSPEND = 0x0bc, Rw;
    /// Extension: number of queues the device has.
    NUM_QUEUES = 0x0c4, Ro;
    /// Extension: size in bytes of the device configuration space at `CONFIG_BASE`.
    CONFIG_SIZE = 0x0c8, Ro;
    /// Extension: first device address (IOVA) of the DMA mapping command, low 32 bits.
    DMA_IOVA_LOW = 0x0d0, Rw;
    /// Extension: first IOVA, high 32 bits.
    DMA_IOVA_HIGH = 0x0d4, Rw;
    /// Extension: size in bytes of the DMA mapping command, low 32 bits.
    DMA_SIZE_LOW = 0x0d8, Rw;
    /// Extension: size, high 32 bits.
    DMA_SIZE_HIGH = 0x0dc, Rw;
    /// Extension: physical address the first IOVA maps to, low 32 bits.
    DMA_ADDR_LOW = 0x0e0, Rw;
    /// Extension: physical address, high 32 bits.
    DMA_ADDR_HIGH = 0x0e4, Rw;
    /// Extension: access the mapping allows: bit 0 device reads, bit 1 device writes.
    DMA_PERM = 0x0e8, Rw;
    /// Extension: writing runs a DMA translation command; reading gives its result.
    DMA_CMD = 0x0ec, Rw;
    /// Extension: how many mappings the device's translation table holds; 0 if the device
    /// has no translation and always uses DMA addresses.
    DMA_MAX_ENTRIES = 0x0f0, Ro;
    /// Changes whenever the device changes its configuration space.
    CONFIG_GENERATION = 0x0fc, Ro;
}

/// Why the transport refused an access. Nothing reaches the device in that case; reads
/// that are refused return [`REFUSED_READ`] to callers that cannot report an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// No register at this offset (reserved gap, or past the window).
    Unknown,
    /// The offset is not a multiple of the access width.
    Misaligned,
    /// Registers take 4-byte accesses; config space takes 1, 2, 4 or 8.
    BadWidth,
    /// A write to a read-only register.
    ReadOnly,
    /// A read of a write-only register.
    WriteOnly,
    /// A config access past the device's `CONFIG_SIZE`.
    OutOfRange,
}

impl AccessError {
    /// The errno the kernel reports for this error (negated by the caller).
    pub const fn errno(self) -> i32 {
        match self {
            AccessError::OutOfRange => 34, // ERANGE
            _ => 22,                       // EINVAL
        }
    }
}

/// What a refused register read yields where an error cannot be returned (as PCI does).
pub const REFUSED_READ: u32 = 0xffff_ffff;

/// Checks a register access of `width` bytes at `offset` in direction `dir`.
pub fn check_reg_access(offset: u32, width: u32, dir: Dir) -> Result<Register, AccessError> {
    if width != 4 {
        return Err(AccessError::BadWidth);
    }
    if offset & 3 != 0 {
        return Err(AccessError::Misaligned);
    }
    let reg = Register::at(offset).ok_or(AccessError::Unknown)?;
    match (reg.access(), dir) {
        (Access::Ro, Dir::Write) => Err(AccessError::ReadOnly),
        (Access::Wo, Dir::Read) => Err(AccessError::WriteOnly),
        _ => Ok(reg),
    }
}

/// Checks a config-space access of `len` bytes at `offset` (relative to [`CONFIG_BASE`])
/// against a config space of `size` bytes.
pub fn check_config_access(offset: u32, len: u32, size: u32) -> Result<(), AccessError> {
    if !matches!(len, 1 | 2 | 4 | 8) {
        return Err(AccessError::BadWidth);
    }
    match offset.checked_add(len) {
        Some(end) if end <= size && end <= CONFIG_MAX => Ok(()),
        _ => Err(AccessError::OutOfRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_register_is_aligned_unique_and_below_config() {
        let mut last = None;
        for &r in Register::ALL {
            let off = r as u32;
            assert_eq!(off % 4, 0, "{}", r.name());
            assert!(off < CONFIG_BASE, "{}", r.name());
            if let Some(prev) = last {
                assert!(off > prev, "{} out of order", r.name());
            }
            last = Some(off);
            assert_eq!(Register::at(off), Some(r));
        }
    }

    #[test]
    fn rfc_offsets_are_kept() {
        // The 2019 RFC layout (include/uapi/linux/virtio_mdev.h) must not move.
        let rfc = [
            (Register::MAGIC_VALUE, 0x000),
            (Register::VERSION, 0x004),
            (Register::DEVICE_ID, 0x008),
            (Register::VENDOR_ID, 0x00c),
            (Register::DEVICE_FEATURES, 0x010),
            (Register::DEVICE_FEATURES_SEL, 0x014),
            (Register::DRIVER_FEATURES, 0x020),
            (Register::DRIVER_FEATURES_SEL, 0x024),
            (Register::QUEUE_SEL, 0x030),
            (Register::QUEUE_NUM_MAX, 0x034),
            (Register::QUEUE_NUM, 0x038),
            (Register::QUEUE_READY, 0x044),
            (Register::QUEUE_ALIGN, 0x048),
            (Register::QUEUE_NOTIFY, 0x050),
            (Register::STATUS, 0x060),
            (Register::QUEUE_DESC_LOW, 0x080),
            (Register::QUEUE_DESC_HIGH, 0x084),
            (Register::QUEUE_AVAIL_LOW, 0x090),
            (Register::QUEUE_AVAIL_HIGH, 0x094),
            (Register::QUEUE_USED_LOW, 0x0a0),
            (Register::QUEUE_USED_HIGH, 0x0a4),
            (Register::CONFIG_GENERATION, 0x0fc),
        ];
        for (r, off) in rfc {
            assert_eq!(r as u32, off, "{}", r.name());
        }
    }

    #[test]
    fn every_offset_in_the_window_gets_a_defined_answer() {
        for off in 0..CONFIG_BASE {
            for width in [0, 1, 2, 3, 4, 8, 16] {
                for dir in [Dir::Read, Dir::Write] {
                    let r = check_reg_access(off, width, dir);
                    if width != 4 {
                        assert_eq!(r, Err(AccessError::BadWidth));
                    } else if off % 4 != 0 {
                        assert_eq!(r, Err(AccessError::Misaligned));
                    } else if let Some(reg) = Register::at(off) {
                        match (reg.access(), dir) {
                            (Access::Ro, Dir::Write) => assert_eq!(r, Err(AccessError::ReadOnly)),
                            (Access::Wo, Dir::Read) => assert_eq!(r, Err(AccessError::WriteOnly)),
                            _ => assert_eq!(r, Ok(reg)),
                        }
                    } else {
                        assert_eq!(r, Err(AccessError::Unknown));
                    }
                }
            }
        }
        assert_eq!(
            check_reg_access(0x100, 4, Dir::Read),
            Err(AccessError::Unknown)
        );
        assert_eq!(
            check_reg_access(u32::MAX - 3, 4, Dir::Read),
            Err(AccessError::Unknown)
        );
    }

    #[test]
    fn documentation_table_matches_the_code() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../Documentation/register-map.rst"
        );
        let doc = std::fs::read_to_string(path).expect("Documentation/register-map.rst");
        let rows: std::vec::Vec<(u32, &str, &str)> = doc
            .lines()
            .filter(|l| l.starts_with("0x"))
            .map(|l| {
                let mut f = l.split_whitespace();
                let off =
                    u32::from_str_radix(f.next().unwrap().trim_start_matches("0x"), 16).unwrap();
                (off, f.next().unwrap(), f.next().unwrap())
            })
            .collect();
        assert_eq!(
            rows.len(),
            Register::ALL.len(),
            "register count in the documentation"
        );
        for (&reg, &(off, name, acc)) in Register::ALL.iter().zip(&rows) {
            assert_eq!((reg as u32, reg.name()), (off, name));
            let want = match reg.access() {
                Access::Ro => "RO",
                Access::Wo => "WO",
                Access::Rw => "RW",
            };
            assert_eq!(acc, want, "access of {name}");
        }
    }

    #[test]
    fn specific_refusals() {
        assert_eq!(
            check_reg_access(0x000, 4, Dir::Write),
            Err(AccessError::ReadOnly)
        );
        assert_eq!(
            check_reg_access(0x050, 4, Dir::Read),
            Err(AccessError::WriteOnly)
        );
        assert_eq!(
            check_reg_access(0x03c, 4, Dir::Read),
            Err(AccessError::Unknown)
        );
        assert_eq!(
            check_reg_access(0x062, 4, Dir::Write),
            Err(AccessError::Misaligned)
        );
        assert_eq!(
            check_reg_access(0x060, 2, Dir::Write),
            Err(AccessError::BadWidth)
        );
        assert_eq!(check_reg_access(0x060, 4, Dir::Write), Ok(Register::STATUS));
    }

    #[test]
    fn config_accesses_are_bounded() {
        assert_eq!(check_config_access(0, 8, 12), Ok(()));
        assert_eq!(check_config_access(10, 2, 12), Ok(()));
        assert_eq!(check_config_access(11, 2, 12), Err(AccessError::OutOfRange));
        assert_eq!(check_config_access(12, 1, 12), Err(AccessError::OutOfRange));
        assert_eq!(check_config_access(0, 3, 12), Err(AccessError::BadWidth));
        assert_eq!(check_config_access(0, 0, 12), Err(AccessError::BadWidth));
        assert_eq!(
            check_config_access(u32::MAX, 4, u32::MAX),
            Err(AccessError::OutOfRange)
        );
        assert_eq!(
            check_config_access(CONFIG_MAX - 4, 8, u32::MAX),
            Err(AccessError::OutOfRange)
        );
        assert_eq!(AccessError::OutOfRange.errno(), 34);
        assert_eq!(AccessError::Unknown.errno(), 22);
    }
}
