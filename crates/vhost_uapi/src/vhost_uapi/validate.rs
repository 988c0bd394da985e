// SPDX-License-Identifier: GPL-2.0
//! Argument checks of the vhost-vdpa ioctls, each returning the errno that
//! userspace sees from kernel 6.12.

use super::errno::{Errno, E2BIG, EBUSY, EFAULT, EINVAL, EIO, ENOBUFS, EOPNOTSUPP};
use super::features::VHOST_F_LOG_ALL;
use super::types::{MemoryHeader, VringAddr};

/// `VHOST_VRING_F_LOG`: bit number of the only defined `vhost_vring_addr`
/// flag (log used-ring writes).
pub const VHOST_VRING_F_LOG: u32 = 0;

/// Default of vhost's `max_mem_regions` module parameter: the most regions
/// `VHOST_SET_MEM_TABLE` accepts.
pub const VHOST_MAX_MEM_REGIONS: u32 = 64;

/// `VHOST_PAGE_SIZE`: the alignment the header asks of memory regions.
pub const VHOST_PAGE_SIZE: u64 = 0x1000;

/// `VHOST_FORK_OWNER_KTHREAD`: value of `SET_FORK_FROM_OWNER`.
pub const VHOST_FORK_OWNER_KTHREAD: u8 = 0;
/// `VHOST_FORK_OWNER_TASK`: value of `SET_FORK_FROM_OWNER` (the default).
pub const VHOST_FORK_OWNER_TASK: u8 = 1;

/// `VRING_AVAIL_ALIGN_SIZE`: the available ring must be 2-byte aligned.
const AVAIL_ALIGN: u64 = 2;
/// `VRING_USED_ALIGN_SIZE`: the used ring and log address must be 4-byte
/// aligned.
const USED_ALIGN: u64 = 4;

/// Checks a `GET_CONFIG` / `SET_CONFIG` header against the config size
/// `size`, as `vhost_vdpa_config_validate()`:
///
/// - `len == 0` or `off > size`: EINVAL;
/// - `len > size - off`: E2BIG inside the kernel, but both
///   `vhost_vdpa_get_config()` and `vhost_vdpa_set_config()` turn any
///   validation error into EINVAL, so this returns EINVAL too.
///
/// The subtraction comes after `off <= size` is known, so `off + len` is
/// never formed and cannot overflow (e.g. `len = 0xFFFFFFFF`).
pub fn check_config_access(off: u32, len: u32, size: u32) -> Result<(), Errno> {
    if len == 0 || off > size {
        return Err(EINVAL);
    }
    match size.checked_sub(off) {
        Some(room) if len <= room => Ok(()),
        _ => Err(EINVAL),
    }
}

/// Checks a `SET_VRING_NUM` size against the parent's `get_vq_num_max()`,
/// as `vhost_vdpa_vring_ioctl()`: EINVAL if `num == 0`, `num > 0xffff`,
/// `num > max` or `num` is not a power of two (even for packed rings).
///
/// The kernel's `vq->private_data` EBUSY check cannot fire for vhost-vdpa,
/// which never sets a backend.
pub fn check_vring_num(num: u32, max: u16) -> Result<u16, Errno> {
    let n = u16::try_from(num).map_err(|_| EINVAL)?;
    if n == 0 || n > max || !n.is_power_of_two() {
        return Err(EINVAL);
    }
    Ok(n)
}

/// Checks a `SET_VRING_ADDR` argument, in the order of
/// `vhost_vring_set_addr()`:
///
/// 1. a flag other than `1 << VHOST_VRING_F_LOG`: EOPNOTSUPP;
/// 2. desc, used or avail address not representable as `unsigned long`:
///    EFAULT (only possible where `usize` is 32 bits);
/// 3. `avail & 1`, `used & 3` or `log_guest_addr & 3`: EINVAL, whether or
///    not the LOG flag is set. The desc address is not checked.
///
/// The vdpa-level checks that follow (EINVAL while `DRIVER_OK` and not
/// suspended, EINVAL if `set_vq_address` fails) depend on device state and
/// are the caller's; note the kernel has already stored the addresses on the
/// vhost side when it returns that DRIVER_OK EINVAL.
pub fn check_vring_addr(a: &VringAddr) -> Result<(), Errno> {
    if a.flags & !(1 << VHOST_VRING_F_LOG) != 0 {
        return Err(EOPNOTSUPP);
    }
    for addr in [a.desc_user_addr, a.used_user_addr, a.avail_user_addr] {
        if usize::try_from(addr).is_err() {
            return Err(EFAULT);
        }
    }
    if a.avail_user_addr & (AVAIL_ALIGN - 1) != 0
        || a.used_user_addr & (USED_ALIGN - 1) != 0
        || a.log_guest_addr & (USED_ALIGN - 1) != 0
    {
        return Err(EINVAL);
    }
    Ok(())
}

/// Checks a split-ring `SET_VRING_BASE` value, as `vhost_vring_ioctl()`:
/// `num > 0xffff` is EINVAL; otherwise the new `last_avail_idx`.
///
/// The vdpa-level EINVAL while `DRIVER_OK` and not suspended is the
/// caller's. (Packed rings take any value: low 16 bits avail, high 16 used.)
pub fn check_vring_base(num: u32) -> Result<u16, Errno> {
    u16::try_from(num).map_err(|_| EINVAL)
}

/// What a valid `SET_STATUS` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Status 0: a full device reset (`_compat_vdpa_reset()`); a parent
    /// reset error is returned as is.
    Reset,
    /// Any other value, handed to the parent unchecked for ordering:
    /// DRIVER_OK without FEATURES_OK, FAILED or NEEDS_RESET are accepted.
    Set(u8),
}

/// Checks a `SET_STATUS` transition from `old` to `new`, as
/// `vhost_vdpa_set_status()`: clearing any bit without going to 0
/// (`new != 0 && (old & !new) != 0`) is EINVAL.
pub fn check_status(old: u8, new: u8) -> Result<StatusChange, Errno> {
    if new == 0 {
        return Ok(StatusChange::Reset);
    }
    if old & !new != 0 {
        return Err(EINVAL);
    }
    Ok(StatusChange::Set(new))
}

/// Checks a `SET_MEM_TABLE` header, as `vhost_set_memory()`: `padding != 0`
/// is EOPNOTSUPP, then `nregions > 64` is E2BIG. The regions are then read
/// (EFAULT) and stored but never used by vhost-vdpa.
pub fn check_mem_table_header(h: &MemoryHeader) -> Result<(), Errno> {
    if h.padding != 0 {
        return Err(EOPNOTSUPP);
    }
    if h.nregions > VHOST_MAX_MEM_REGIONS {
        return Err(E2BIG);
    }
    Ok(())
}

/// Checks the vq index of a vring-path ioctl, as `vhost_vdpa_vring_ioctl()`
/// and `vhost_get_vq_from_user()`: `idx >= nvqs` is ENOBUFS. This applies to
/// `SET_GROUP_ASID` too, whose index is a group.
pub fn check_vring_index(idx: u32, nvqs: u32) -> Result<u32, Errno> {
    if idx >= nvqs {
        return Err(ENOBUFS);
    }
    Ok(idx)
}

/// Checks a `SET_GROUP_ASID` argument after [`check_vring_index`], as
/// `vhost_vdpa_vring_ioctl()`: `group >= ngroups` or `asid >= nas` is
/// EINVAL. A parent without `set_group_asid` then gives EOPNOTSUPP (the
/// caller's check, made after this one).
pub fn check_group_asid(group: u32, asid: u32, ngroups: u32, nas: u32) -> Result<(), Errno> {
    if group >= ngroups || asid >= nas {
        return Err(EINVAL);
    }
    Ok(())
}

/// Checks the group a parent returned for `GET_VRING_GROUP` /
/// `GET_VRING_DESC_GROUP`, as `vhost_vdpa_vring_ioctl()`: a group
/// `>= ngroups` is EIO.
pub fn check_vq_group(group: u32, ngroups: u32) -> Result<u32, Errno> {
    if group >= ngroups {
        return Err(EIO);
    }
    Ok(group)
}

/// Checks a `SET_FORK_FROM_OWNER` value, as `vhost_dev_ioctl()`: only
/// [`VHOST_FORK_OWNER_KTHREAD`] (false) and [`VHOST_FORK_OWNER_TASK`]
/// (true) are valid, others EINVAL. (EBUSY once an owner is set is decided
/// by [`super::preflight`].)
pub fn check_fork_owner_value(v: u8) -> Result<bool, Errno> {
    match v {
        VHOST_FORK_OWNER_KTHREAD => Ok(false),
        VHOST_FORK_OWNER_TASK => Ok(true),
        _ => Err(EINVAL),
    }
}

/// Whether `SET_VRING_ADDR` and `SET_VRING_BASE` may change a ring, as
/// `vhost_vdpa_vring_ioctl()` decides after storing the value in its own copy:
/// EINVAL while the device runs (`DRIVER_OK`) unless it is suspended.
pub fn check_vring_change(driver_ok: bool, suspended: bool) -> Result<(), Errno> {
    if driver_ok && !suspended {
        return Err(EINVAL);
    }
    Ok(())
}

/// What `VHOST_VDPA_SUSPEND` or `VHOST_VDPA_RESUME` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuspendAction {
    /// Succeed without touching the device: it is not running (no `DRIVER_OK`).
    Nothing,
    /// Ask the device.
    Device,
}

/// Decides a `VHOST_VDPA_SUSPEND` (or `RESUME`) as `vhost_vdpa_suspend()`
/// (`vhost_vdpa_resume()`): a device without `DRIVER_OK` succeeds at once,
/// whatever it can do; otherwise EOPNOTSUPP unless the parent `can` do it.
/// Neither needs the backend feature negotiated.
pub fn check_suspend(driver_ok: bool, can: bool) -> Result<SuspendAction, Errno> {
    match (driver_ok, can) {
        (false, _) => Ok(SuspendAction::Nothing),
        (true, false) => Err(EOPNOTSUPP),
        (true, true) => Ok(SuspendAction::Device),
    }
}

/// What an accepted `VHOST_SET_FEATURES` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeaturesChange {
    /// Before `FEATURES_OK`: the features to negotiate (the handler keeps what the device
    /// offers, as vdpa_sim does).
    Negotiate,
    /// After `FEATURES_OK`, a change of `VHOST_F_LOG_ALL` alone: turn the device's logging
    /// on (true) or off, the rest of the negotiation untouched.
    Log(bool),
}

/// Decides a `VHOST_SET_FEATURES` of `new`, given the status (`features_ok`), what the
/// device offers (`offered`, `VHOST_F_LOG_ALL` included if it logs) and the features
/// accepted so far (`current`, a subset of `offered`).
///
/// vhost-vdpa refuses any `SET_FEATURES` once `FEATURES_OK` is set (EBUSY), and so does
/// this, with one exception a logging device needs: QEMU turns logging on and off during a
/// migration by sending the running device its features with `VHOST_F_LOG_ALL` set or clear
/// (`vhost_dev_set_log()`; QEMU 7.2 aborts the migration, and the process, if that fails).
/// So once `FEATURES_OK` is set, a `new` whose offered bits differ from `current` in
/// `VHOST_F_LOG_ALL` at most is [`FeaturesChange::Log`]; anything else is EBUSY.
pub fn check_set_features(
    features_ok: bool,
    offered: u64,
    current: u64,
    new: u64,
) -> Result<FeaturesChange, Errno> {
    if !features_ok {
        return Ok(FeaturesChange::Negotiate);
    }
    let log = 1u64 << VHOST_F_LOG_ALL;
    let want = new & offered;
    if offered & log == 0 || (want ^ current) & !log != 0 {
        return Err(EBUSY);
    }
    Ok(FeaturesChange::Log(want & log != 0))
}

/// What an accepted `VHOST_SET_VRING_ADDR` changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VringAddrChange {
    /// The device is not running (or is suspended): every address, as vhost-vdpa.
    Full,
    /// The device runs and the ring addresses are the ones it uses: only the used-ring log
    /// (`VHOST_VRING_F_LOG`, `log_guest_addr`) changes, which QEMU does when logging starts
    /// and stops (`vhost_dev_set_log()`).
    LogOnly,
}

/// Decides a `VHOST_SET_VRING_ADDR` of `new` (already through [`check_vring_addr`]) for a
/// ring now at `old`. vhost-vdpa refuses it while the device runs (EINVAL, see
/// [`check_vring_change`]); a device that logs accepts it while running when only the log
/// fields differ.
pub fn check_vring_addr_change(
    driver_ok: bool,
    suspended: bool,
    logs: bool,
    old: &VringAddr,
    new: &VringAddr,
) -> Result<VringAddrChange, Errno> {
    if check_vring_change(driver_ok, suspended).is_ok() {
        return Ok(VringAddrChange::Full);
    }
    let same_ring = old.desc_user_addr == new.desc_user_addr
        && old.avail_user_addr == new.avail_user_addr
        && old.used_user_addr == new.used_user_addr;
    if logs && same_ring {
        Ok(VringAddrChange::LogOnly)
    } else {
        Err(EINVAL)
    }
}

/// Checks the argument of `VHOST_SET_LOG_BASE`: the user address of the log's first byte.
///
/// vhost accepts any address and sets bits byte by byte; a device here sets whole 64-bit
/// words atomically (QEMU reads and clears them that way), so the log must be 8-byte
/// aligned (QEMU's is: it comes from `g_malloc0()`): EINVAL otherwise. An address that
/// does not fit the caller's pointers is EFAULT, as in `vhost_dev_ioctl()`.
pub fn check_log_base(uaddr: u64) -> Result<usize, Errno> {
    let p = usize::try_from(uaddr).map_err(|_| EFAULT)?;
    if uaddr & 7 != 0 {
        return Err(EINVAL);
    }
    Ok(p)
}
