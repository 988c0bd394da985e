// SPDX-License-Identifier: GPL-2.0
//! Where `vhost_vdpa_unlocked_ioctl()` sends each command, and the generic
//! checks (owner, vring index) it applies on the way.
//!
//! The kernel's order, which [`preflight`] reproduces:
//!
//! 1. `VHOST_SET_BACKEND_FEATURES` first, without `d->mutex` or an owner
//!    check ([`Route::BackendFeatures`]).
//! 2. vdpa's own `switch`, no owner check: the device-level ioctls
//!    ([`Route::Device`]), and `SET_LOG_BASE` / `SET_LOG_FD`, which return
//!    `-ENOIOCTLCMD` there, i.e. ENOTTY for everyone ([`Route::Log`]).
//!    vhost_mdev keeps that for a device that does not log, and for
//!    `SET_LOG_FD` always; a logging device takes `SET_LOG_BASE` from its
//!    owner, as vhost's own `vhost_dev_ioctl()` does (EPERM for others).
//! 3. `vhost_dev_ioctl()`: `SET_OWNER` (EBUSY if any owner exists),
//!    `SET_FORK_FROM_OWNER` (EBUSY once an owner exists) and
//!    `GET_FORK_FROM_OWNER`; for everything else the caller must be the
//!    owner (EPERM), then `SET_MEM_TABLE` is handled.
//! 4. `vhost_vdpa_vring_ioctl()` for all remaining commands, known or not:
//!    read the first u32 of the argument as a vq index (EFAULT; for
//!    `SET_VRING_NUM` the whole 8-byte struct is copied first), `idx >=
//!    nvqs` is ENOBUFS, then the vring ioctls of vdpa and of
//!    `vhost_vring_ioctl()`. Whatever is still unknown (including
//!    `RESET_OWNER`, the worker ioctls and, without
//!    `CONFIG_VHOST_CROSS_ENDIAN_LEGACY`, the `VRING_ENDIAN` pair) returns
//!    `-ENOIOCTLCMD`, which the VFS turns into ENOTTY.

use super::errno::{Errno, EBUSY, EFAULT, ENOTTY, EPERM};
use super::ioctl::Ioctl;
use super::types::VringState;
use super::validate::check_vring_index;

/// Device-level ioctls handled directly in `vhost_vdpa_unlocked_ioctl()`'s
/// `switch`, without an owner check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceCmd {
    /// `VHOST_GET_FEATURES`.
    GetFeatures,
    /// `VHOST_SET_FEATURES`.
    SetFeatures,
    /// `VHOST_GET_BACKEND_FEATURES`.
    GetBackendFeatures,
    /// `VHOST_VDPA_GET_DEVICE_ID`.
    GetDeviceId,
    /// `VHOST_VDPA_GET_STATUS`.
    GetStatus,
    /// `VHOST_VDPA_SET_STATUS`.
    SetStatus,
    /// `VHOST_VDPA_GET_CONFIG`.
    GetConfig,
    /// `VHOST_VDPA_SET_CONFIG`.
    SetConfig,
    /// `VHOST_VDPA_GET_VRING_NUM`.
    GetVringNum,
    /// `VHOST_VDPA_SET_CONFIG_CALL`.
    SetConfigCall,
    /// `VHOST_VDPA_GET_IOVA_RANGE`.
    GetIovaRange,
    /// `VHOST_VDPA_GET_CONFIG_SIZE`.
    GetConfigSize,
    /// `VHOST_VDPA_GET_AS_NUM`.
    GetAsNum,
    /// `VHOST_VDPA_GET_VQS_COUNT`.
    GetVqsCount,
    /// `VHOST_VDPA_GET_GROUP_NUM`.
    GetGroupNum,
    /// `VHOST_VDPA_SUSPEND`.
    Suspend,
    /// `VHOST_VDPA_RESUME`.
    Resume,
}

/// Commands that take the vring path (`vhost_vdpa_vring_ioctl()`), after
/// the owner check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VringCmd {
    /// `VHOST_SET_VRING_NUM` (vdpa).
    SetNum,
    /// `VHOST_SET_VRING_ADDR` (generic, then vdpa).
    SetAddr,
    /// `VHOST_SET_VRING_BASE` (generic, then vdpa).
    SetBase,
    /// `VHOST_GET_VRING_BASE` (vdpa `get_vq_state`, then generic).
    GetBase,
    /// `VHOST_SET_VRING_KICK` (generic).
    SetKick,
    /// `VHOST_SET_VRING_CALL` (generic, then vdpa `set_vq_cb`).
    SetCall,
    /// `VHOST_SET_VRING_ERR` (generic; stored, unused).
    SetErr,
    /// `VHOST_SET_VRING_BUSYLOOP_TIMEOUT` (generic; stored, unused).
    SetBusyloopTimeout,
    /// `VHOST_GET_VRING_BUSYLOOP_TIMEOUT` (generic).
    GetBusyloopTimeout,
    /// `VHOST_VDPA_SET_VRING_ENABLE` (vdpa; no status check). After the
    /// index check the whole 8-byte struct is copied (EFAULT).
    SetEnable,
    /// `VHOST_VDPA_GET_VRING_GROUP` (vdpa).
    GetGroup,
    /// `VHOST_VDPA_GET_VRING_DESC_GROUP` (vdpa).
    GetDescGroup,
    /// `VHOST_VDPA_SET_GROUP_ASID` (vdpa; the index is a group, checked
    /// `< nvqs` first). After the index check the whole 8-byte struct is
    /// copied (EFAULT), then [`super::check_group_asid`].
    SetGroupAsid,
    /// `VHOST_VDPA_GET_VRING_SIZE` (vdpa).
    GetSize,
    /// `VHOST_SET_VRING_ENDIAN` / `GET_VRING_ENDIAN`: ENOTTY after the index
    /// checks (`CONFIG_VHOST_CROSS_ENDIAN_LEGACY` is off).
    Endian,
    /// Anything else, known or not (`RESET_OWNER`, worker ioctls, garbage):
    /// ENOTTY after the index checks.
    Unhandled,
}

impl VringCmd {
    /// How many bytes the kernel copies from the argument before the index
    /// check: `SET_VRING_NUM` copies the whole `vhost_vring_state`, every
    /// other command reads only the first `u32` (`get_user()`). A shorter
    /// readable area is EFAULT.
    pub fn index_read_len(self) -> usize {
        match self {
            VringCmd::SetNum => VringState::SIZE,
            _ => 4,
        }
    }

    /// Whether the command does anything after the index checks; if not,
    /// the result is ENOTTY.
    pub fn is_handled(self) -> bool {
        !matches!(self, VringCmd::Endian | VringCmd::Unhandled)
    }
}

/// The dirty-log ioctls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogCmd {
    /// `VHOST_SET_LOG_BASE`: the bitmap's user address.
    Base,
    /// `VHOST_SET_LOG_FD`: an eventfd vhost signals after it logged a used ring (for
    /// vhost-user's shared log). No vhost-vdpa VMM sets it, and a device that logs on its own
    /// has no point at which vhost_mdev could signal it, so it stays ENOTTY.
    Fd,
}

/// The branch of `vhost_vdpa_unlocked_ioctl()` a command number takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// Step 1: `VHOST_SET_BACKEND_FEATURES`, without `d->mutex` and without
    /// an owner check; see [`super::check_backend_features`].
    BackendFeatures,
    /// Step 2: handled under `d->mutex` without an owner check.
    Device(DeviceCmd),
    /// Step 2: `SET_LOG_BASE` / `SET_LOG_FD`: ENOTTY on vhost-vdpa, for
    /// owner and non-owner alike; see [`preflight`] for a logging device.
    Log(LogCmd),
    /// Step 3: `VHOST_SET_OWNER`: EBUSY if there is any owner, including
    /// the caller itself.
    SetOwner,
    /// Step 3: `VHOST_SET_FORK_FROM_OWNER`: EBUSY once there is an owner,
    /// then read the `u8` (EFAULT), see [`super::check_fork_owner_value`].
    SetForkFromOwner,
    /// Step 3: `VHOST_GET_FORK_FROM_OWNER`: no owner check.
    GetForkFromOwner,
    /// Step 3, owner only (EPERM): `VHOST_SET_MEM_TABLE`, validated
    /// ([`super::check_mem_table_header`]) and stored but unused.
    SetMemTable,
    /// Step 4, owner only (EPERM): the vring path.
    Vring(VringCmd),
}

impl Route {
    /// Whether `vhost_dev_check_owner()` runs first (EPERM if the caller's
    /// `mm` is not the owner's, including when there is no owner).
    pub fn needs_owner(self) -> bool {
        matches!(self, Route::SetMemTable | Route::Vring(_))
    }

    /// Whether the kernel takes `d->mutex`: everything except
    /// `SET_BACKEND_FEATURES`.
    pub fn takes_dev_mutex(self) -> bool {
        !matches!(self, Route::BackendFeatures)
    }
}

impl Ioctl {
    /// Where `vhost_vdpa_unlocked_ioctl()` sends this command.
    pub fn route(self) -> Route {
        match self {
            Ioctl::SetBackendFeatures => Route::BackendFeatures,
            Ioctl::GetFeatures => Route::Device(DeviceCmd::GetFeatures),
            Ioctl::SetFeatures => Route::Device(DeviceCmd::SetFeatures),
            Ioctl::GetBackendFeatures => Route::Device(DeviceCmd::GetBackendFeatures),
            Ioctl::VdpaGetDeviceId => Route::Device(DeviceCmd::GetDeviceId),
            Ioctl::VdpaGetStatus => Route::Device(DeviceCmd::GetStatus),
            Ioctl::VdpaSetStatus => Route::Device(DeviceCmd::SetStatus),
            Ioctl::VdpaGetConfig => Route::Device(DeviceCmd::GetConfig),
            Ioctl::VdpaSetConfig => Route::Device(DeviceCmd::SetConfig),
            Ioctl::VdpaGetVringNum => Route::Device(DeviceCmd::GetVringNum),
            Ioctl::VdpaSetConfigCall => Route::Device(DeviceCmd::SetConfigCall),
            Ioctl::VdpaGetIovaRange => Route::Device(DeviceCmd::GetIovaRange),
            Ioctl::VdpaGetConfigSize => Route::Device(DeviceCmd::GetConfigSize),
            Ioctl::VdpaGetAsNum => Route::Device(DeviceCmd::GetAsNum),
            Ioctl::VdpaGetVqsCount => Route::Device(DeviceCmd::GetVqsCount),
            Ioctl::VdpaGetGroupNum => Route::Device(DeviceCmd::GetGroupNum),
            Ioctl::VdpaSuspend => Route::Device(DeviceCmd::Suspend),
            Ioctl::VdpaResume => Route::Device(DeviceCmd::Resume),
            Ioctl::SetLogBase => Route::Log(LogCmd::Base),
            Ioctl::SetLogFd => Route::Log(LogCmd::Fd),
            Ioctl::SetOwner => Route::SetOwner,
            Ioctl::SetForkFromOwner => Route::SetForkFromOwner,
            Ioctl::GetForkFromOwner => Route::GetForkFromOwner,
            Ioctl::SetMemTable => Route::SetMemTable,
            Ioctl::SetVringNum => Route::Vring(VringCmd::SetNum),
            Ioctl::SetVringAddr => Route::Vring(VringCmd::SetAddr),
            Ioctl::SetVringBase => Route::Vring(VringCmd::SetBase),
            Ioctl::GetVringBase => Route::Vring(VringCmd::GetBase),
            Ioctl::SetVringKick => Route::Vring(VringCmd::SetKick),
            Ioctl::SetVringCall => Route::Vring(VringCmd::SetCall),
            Ioctl::SetVringErr => Route::Vring(VringCmd::SetErr),
            Ioctl::SetVringBusyloopTimeout => Route::Vring(VringCmd::SetBusyloopTimeout),
            Ioctl::GetVringBusyloopTimeout => Route::Vring(VringCmd::GetBusyloopTimeout),
            Ioctl::VdpaSetVringEnable => Route::Vring(VringCmd::SetEnable),
            Ioctl::VdpaGetVringGroup => Route::Vring(VringCmd::GetGroup),
            Ioctl::VdpaGetVringDescGroup => Route::Vring(VringCmd::GetDescGroup),
            Ioctl::VdpaSetGroupAsid => Route::Vring(VringCmd::SetGroupAsid),
            Ioctl::VdpaGetVringSize => Route::Vring(VringCmd::GetSize),
            Ioctl::SetVringEndian | Ioctl::GetVringEndian => Route::Vring(VringCmd::Endian),
            // Not dispatched by vhost-vdpa: they fall through to the vring
            // path and end as -ENOIOCTLCMD.
            Ioctl::ResetOwner
            | Ioctl::NewWorker
            | Ioctl::FreeWorker
            | Ioctl::AttachVringWorker
            | Ioctl::GetVringWorker => Route::Vring(VringCmd::Unhandled),
        }
    }
}

/// Where `vhost_vdpa_unlocked_ioctl()` sends `cmd`. Unknown numbers take the
/// vring path like any unhandled command.
pub fn route(cmd: u32) -> Route {
    Ioctl::from_cmd(cmd).map_or(Route::Vring(VringCmd::Unhandled), Ioctl::route)
}

/// Who owns the device, relative to the caller (`vhost_dev_has_owner()` and
/// `vhost_dev_check_owner()`, which compare `mm`s).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// No `SET_OWNER` yet (or it was undone).
    None,
    /// The caller's `mm` is the owner.
    Caller,
    /// Another `mm` owns the device (another process, or a forked child
    /// calling into its parent's device).
    Other,
}

/// What remains for the handler after [`preflight`] succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatch {
    /// Read the `u64` (EFAULT), [`super::check_backend_features`], store.
    BackendFeatures,
    /// Run the device-level command.
    Device(DeviceCmd),
    /// There is no owner: make the caller the owner.
    SetOwner,
    /// There is no owner: read and store the fork-owner `u8`.
    SetForkFromOwner,
    /// Write the fork-owner `u8`.
    GetForkFromOwner,
    /// The caller is the owner: read and validate the memory table.
    SetMemTable,
    /// The device logs and the caller is the owner: read the `u64` (EFAULT), check it
    /// ([`super::check_log_base`]) and log there.
    SetLogBase,
    /// The caller is the owner and `index < nvqs`: run the vring command,
    /// which is one of the handled ones ([`VringCmd::is_handled`]).
    Vring {
        /// The command.
        cmd: VringCmd,
        /// The validated index (for `SetGroupAsid`, a group number that is
        /// `< nvqs` but not yet checked against `ngroups`).
        index: u32,
    },
}

/// Applies the generic part of `vhost_vdpa_unlocked_ioctl()` to `cmd`, in
/// the kernel's order (see the module docs), and returns either the errno
/// userspace sees or what the handler has left to do.
///
/// `read_index(len)` is called only on the vring path, after the owner
/// check; it must read `len` bytes at the ioctl argument and return their
/// first native-endian `u32`, or `None` if they are not readable (EFAULT).
/// `nvqs` is the device's number of virtqueues; `logs`, whether it offers
/// `VHOST_F_LOG_ALL` (vhost-vdpa's devices never do).
pub fn preflight<F>(
    cmd: u32,
    owner: Owner,
    nvqs: u32,
    logs: bool,
    read_index: F,
) -> Result<Dispatch, Errno>
where
    F: FnOnce(usize) -> Option<u32>,
{
    match route(cmd) {
        Route::BackendFeatures => Ok(Dispatch::BackendFeatures),
        Route::Device(d) => Ok(Dispatch::Device(d)),
        Route::Log(LogCmd::Base) if logs => {
            check_owner(owner)?;
            Ok(Dispatch::SetLogBase)
        }
        Route::Log(_) => Err(ENOTTY),
        // vhost_dev_set_owner(): -EBUSY if vhost_dev_has_owner().
        Route::SetOwner => match owner {
            Owner::None => Ok(Dispatch::SetOwner),
            Owner::Caller | Owner::Other => Err(EBUSY),
        },
        // vhost_dev_ioctl(): "Only allow modification before owner is set".
        Route::SetForkFromOwner => match owner {
            Owner::None => Ok(Dispatch::SetForkFromOwner),
            Owner::Caller | Owner::Other => Err(EBUSY),
        },
        Route::GetForkFromOwner => Ok(Dispatch::GetForkFromOwner),
        Route::SetMemTable => {
            check_owner(owner)?;
            Ok(Dispatch::SetMemTable)
        }
        Route::Vring(v) => {
            check_owner(owner)?;
            let idx = read_index(v.index_read_len()).ok_or(EFAULT)?;
            let index = check_vring_index(idx, nvqs)?;
            if !v.is_handled() {
                return Err(ENOTTY);
            }
            Ok(Dispatch::Vring { cmd: v, index })
        }
    }
}

/// `vhost_dev_check_owner()`: EPERM unless the caller is the owner. It
/// also guards IOTLB `write()`s, where the EPERM becomes EFAULT
/// ([`super::write_errno`]).
pub fn check_owner(owner: Owner) -> Result<(), Errno> {
    match owner {
        Owner::Caller => Ok(()),
        Owner::None | Owner::Other => Err(EPERM),
    }
}
