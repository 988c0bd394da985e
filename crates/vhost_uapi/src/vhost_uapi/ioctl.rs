// SPDX-License-Identifier: GPL-2.0
//! ioctl numbers of `<linux/vhost.h>` (6.12 plus the fork-owner backport).
//!
//! The encoding is the asm-generic one used by x86-64: 8 bits of number,
//! 8 bits of type, 14 bits of argument size and 2 bits of direction.

use super::types::{IovaRange, VdpaConfigHeader, VringAddr, VringFile, VringState};

/// `_IOC_NONE`: the ioctl has no argument.
pub const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: userspace writes the argument (the kernel reads it).
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: userspace reads the argument (the kernel writes it).
pub const IOC_READ: u32 = 2;

const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_DIRBITS: u32 = 2;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;
const IOC_NRMASK: u32 = (1 << IOC_NRBITS) - 1;
const IOC_TYPEMASK: u32 = (1 << IOC_TYPEBITS) - 1;
const IOC_SIZEMASK: u32 = (1 << IOC_SIZEBITS) - 1;
const IOC_DIRMASK: u32 = (1 << IOC_DIRBITS) - 1;

/// `_IOC(dir, type, nr, size)`. Each field is masked to its width, so no
/// input can overflow (the C macro would instead corrupt neighbouring fields,
/// which only matters for nonsense arguments).
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    // The mask is applied in usize before narrowing, so the cast is lossless.
    let size = (size & IOC_SIZEMASK as usize) as u32;
    ((dir & IOC_DIRMASK) << IOC_DIRSHIFT)
        | ((ty & IOC_TYPEMASK) << IOC_TYPESHIFT)
        | ((nr & IOC_NRMASK) << IOC_NRSHIFT)
        | (size << IOC_SIZESHIFT)
}

/// `_IO(type, nr)`: no argument.
pub const fn io(ty: u32, nr: u32) -> u32 {
    ioc(IOC_NONE, ty, nr, 0)
}

/// `_IOR(type, nr, T)` with `size = sizeof(T)`: the kernel writes the argument.
pub const fn ior(ty: u32, nr: u32, size: usize) -> u32 {
    ioc(IOC_READ, ty, nr, size)
}

/// `_IOW(type, nr, T)` with `size = sizeof(T)`: the kernel reads the argument.
pub const fn iow(ty: u32, nr: u32, size: usize) -> u32 {
    ioc(IOC_WRITE, ty, nr, size)
}

/// `_IOWR(type, nr, T)` with `size = sizeof(T)`: both directions.
pub const fn iowr(ty: u32, nr: u32, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size)
}

/// `_IOC_DIR(cmd)`.
pub const fn ioc_dir(cmd: u32) -> u32 {
    (cmd >> IOC_DIRSHIFT) & IOC_DIRMASK
}

/// `_IOC_TYPE(cmd)`.
pub const fn ioc_type(cmd: u32) -> u32 {
    (cmd >> IOC_TYPESHIFT) & IOC_TYPEMASK
}

/// `_IOC_NR(cmd)`.
pub const fn ioc_nr(cmd: u32) -> u32 {
    (cmd >> IOC_NRSHIFT) & IOC_NRMASK
}

/// `_IOC_SIZE(cmd)`. Not usable as a copy length for `GET_CONFIG` /
/// `SET_CONFIG`, whose encoded size covers only the 8-byte header.
pub const fn ioc_size(cmd: u32) -> u32 {
    (cmd >> IOC_SIZESHIFT) & IOC_SIZEMASK
}

/// The ioctl type of every vhost command.
pub const VHOST_VIRTIO: u32 = 0xAF;

const U8: usize = 1;
const U16: usize = 2;
const U32: usize = 4;
const U64: usize = 8;
// `struct vhost_memory` without its flexible array: {nregions, padding}.
const VHOST_MEMORY: usize = 8;
// `struct vhost_worker_state {unsigned int worker_id}`.
const WORKER_STATE: usize = 4;
// `struct vhost_vring_worker {unsigned int index, worker_id}`.
const VRING_WORKER: usize = 8;

/// `VHOST_GET_FEATURES`: read the device's offered virtio features (`u64`).
pub const VHOST_GET_FEATURES: u32 = ior(VHOST_VIRTIO, 0x00, U64);
/// `VHOST_SET_FEATURES`: write the driver's virtio features (`u64`).
pub const VHOST_SET_FEATURES: u32 = iow(VHOST_VIRTIO, 0x00, U64);
/// `VHOST_SET_OWNER`: make the caller's `mm` the owner.
pub const VHOST_SET_OWNER: u32 = io(VHOST_VIRTIO, 0x01);
/// `VHOST_RESET_OWNER`: not implemented by vhost-vdpa (vring path, EFAULT
/// with a NULL argument).
pub const VHOST_RESET_OWNER: u32 = io(VHOST_VIRTIO, 0x02);
/// `VHOST_SET_MEM_TABLE`: `struct vhost_memory` plus regions; unused by vDPA.
pub const VHOST_SET_MEM_TABLE: u32 = iow(VHOST_VIRTIO, 0x03, VHOST_MEMORY);
/// `VHOST_SET_LOG_BASE`: always ENOTTY on vhost-vdpa.
pub const VHOST_SET_LOG_BASE: u32 = iow(VHOST_VIRTIO, 0x04, U64);
/// `VHOST_SET_LOG_FD`: always ENOTTY on vhost-vdpa.
pub const VHOST_SET_LOG_FD: u32 = iow(VHOST_VIRTIO, 0x07, U32);
/// `VHOST_NEW_WORKER`: not dispatched by vhost-vdpa (vring path).
pub const VHOST_NEW_WORKER: u32 = ior(VHOST_VIRTIO, 0x08, WORKER_STATE);
/// `VHOST_FREE_WORKER`: not dispatched by vhost-vdpa (vring path).
pub const VHOST_FREE_WORKER: u32 = iow(VHOST_VIRTIO, 0x09, WORKER_STATE);
/// `VHOST_SET_VRING_NUM`: [`VringState`] `{index, num}`.
pub const VHOST_SET_VRING_NUM: u32 = iow(VHOST_VIRTIO, 0x10, VringState::SIZE);
/// `VHOST_SET_VRING_ADDR`: [`VringAddr`].
pub const VHOST_SET_VRING_ADDR: u32 = iow(VHOST_VIRTIO, 0x11, VringAddr::SIZE);
/// `VHOST_SET_VRING_BASE`: [`VringState`] `{index, num = last_avail_idx}`.
pub const VHOST_SET_VRING_BASE: u32 = iow(VHOST_VIRTIO, 0x12, VringState::SIZE);
/// `VHOST_GET_VRING_BASE`: [`VringState`], index in, num out.
pub const VHOST_GET_VRING_BASE: u32 = iowr(VHOST_VIRTIO, 0x12, VringState::SIZE);
/// `VHOST_SET_VRING_ENDIAN`: ENOTTY without `CONFIG_VHOST_CROSS_ENDIAN_LEGACY`.
pub const VHOST_SET_VRING_ENDIAN: u32 = iow(VHOST_VIRTIO, 0x13, VringState::SIZE);
/// `VHOST_GET_VRING_ENDIAN`: encoded `_IOW` in the header, like SET.
pub const VHOST_GET_VRING_ENDIAN: u32 = iow(VHOST_VIRTIO, 0x14, VringState::SIZE);
/// `VHOST_ATTACH_VRING_WORKER`: not dispatched by vhost-vdpa (vring path).
pub const VHOST_ATTACH_VRING_WORKER: u32 = iow(VHOST_VIRTIO, 0x15, VRING_WORKER);
/// `VHOST_GET_VRING_WORKER`: not dispatched by vhost-vdpa (vring path).
pub const VHOST_GET_VRING_WORKER: u32 = iowr(VHOST_VIRTIO, 0x16, VRING_WORKER);
/// `VHOST_SET_VRING_KICK`: [`VringFile`] `{index, fd}`.
pub const VHOST_SET_VRING_KICK: u32 = iow(VHOST_VIRTIO, 0x20, VringFile::SIZE);
/// `VHOST_SET_VRING_CALL`: [`VringFile`] `{index, fd}`.
pub const VHOST_SET_VRING_CALL: u32 = iow(VHOST_VIRTIO, 0x21, VringFile::SIZE);
/// `VHOST_SET_VRING_ERR`: [`VringFile`] `{index, fd}`; stored, never signalled.
pub const VHOST_SET_VRING_ERR: u32 = iow(VHOST_VIRTIO, 0x22, VringFile::SIZE);
/// `VHOST_SET_VRING_BUSYLOOP_TIMEOUT`: [`VringState`]; stored, no effect.
pub const VHOST_SET_VRING_BUSYLOOP_TIMEOUT: u32 = iow(VHOST_VIRTIO, 0x23, VringState::SIZE);
/// `VHOST_GET_VRING_BUSYLOOP_TIMEOUT`: encoded `_IOW` in the header, like SET.
pub const VHOST_GET_VRING_BUSYLOOP_TIMEOUT: u32 = iow(VHOST_VIRTIO, 0x24, VringState::SIZE);
/// `VHOST_SET_BACKEND_FEATURES`: `u64` mask of `1 << VHOST_BACKEND_F_*`.
pub const VHOST_SET_BACKEND_FEATURES: u32 = iow(VHOST_VIRTIO, 0x25, U64);
/// `VHOST_GET_BACKEND_FEATURES`: `u64` mask of `1 << VHOST_BACKEND_F_*`.
pub const VHOST_GET_BACKEND_FEATURES: u32 = ior(VHOST_VIRTIO, 0x26, U64);
/// `VHOST_VDPA_GET_DEVICE_ID`: `u32` virtio device id (1 = net).
pub const VHOST_VDPA_GET_DEVICE_ID: u32 = ior(VHOST_VIRTIO, 0x70, U32);
/// `VHOST_VDPA_GET_STATUS`: `u8` device status.
pub const VHOST_VDPA_GET_STATUS: u32 = ior(VHOST_VIRTIO, 0x71, U8);
/// `VHOST_VDPA_SET_STATUS`: `u8` device status.
pub const VHOST_VDPA_SET_STATUS: u32 = iow(VHOST_VIRTIO, 0x72, U8);
/// `VHOST_VDPA_GET_CONFIG`: [`VdpaConfigHeader`] followed by `len` bytes.
pub const VHOST_VDPA_GET_CONFIG: u32 = ior(VHOST_VIRTIO, 0x73, VdpaConfigHeader::SIZE);
/// `VHOST_VDPA_SET_CONFIG`: [`VdpaConfigHeader`] followed by `len` bytes.
pub const VHOST_VDPA_SET_CONFIG: u32 = iow(VHOST_VIRTIO, 0x74, VdpaConfigHeader::SIZE);
/// `VHOST_VDPA_SET_VRING_ENABLE`: [`VringState`], `num != 0` means ready.
pub const VHOST_VDPA_SET_VRING_ENABLE: u32 = iow(VHOST_VIRTIO, 0x75, VringState::SIZE);
/// `VHOST_VDPA_GET_VRING_NUM`: `u16` device-wide maximum queue size.
pub const VHOST_VDPA_GET_VRING_NUM: u32 = ior(VHOST_VIRTIO, 0x76, U16);
/// `VHOST_VDPA_SET_CONFIG_CALL`: `int` eventfd, -1 unbinds.
pub const VHOST_VDPA_SET_CONFIG_CALL: u32 = iow(VHOST_VIRTIO, 0x77, U32);
/// `VHOST_VDPA_GET_IOVA_RANGE`: [`IovaRange`] (inclusive).
pub const VHOST_VDPA_GET_IOVA_RANGE: u32 = ior(VHOST_VIRTIO, 0x78, IovaRange::SIZE);
/// `VHOST_VDPA_GET_CONFIG_SIZE`: `u32`.
pub const VHOST_VDPA_GET_CONFIG_SIZE: u32 = ior(VHOST_VIRTIO, 0x79, U32);
/// `VHOST_VDPA_GET_AS_NUM`: `unsigned int` number of address spaces.
pub const VHOST_VDPA_GET_AS_NUM: u32 = ior(VHOST_VIRTIO, 0x7A, U32);
/// `VHOST_VDPA_GET_VRING_GROUP`: [`VringState`], vq index in, group out.
pub const VHOST_VDPA_GET_VRING_GROUP: u32 = iowr(VHOST_VIRTIO, 0x7B, VringState::SIZE);
/// `VHOST_VDPA_SET_GROUP_ASID`: [`VringState`] `{index = group, num = asid}`.
pub const VHOST_VDPA_SET_GROUP_ASID: u32 = iow(VHOST_VIRTIO, 0x7C, VringState::SIZE);
/// `VHOST_VDPA_SUSPEND`: no argument.
pub const VHOST_VDPA_SUSPEND: u32 = io(VHOST_VIRTIO, 0x7D);
/// `VHOST_VDPA_RESUME`: no argument.
pub const VHOST_VDPA_RESUME: u32 = io(VHOST_VIRTIO, 0x7E);
/// `VHOST_VDPA_GET_VRING_DESC_GROUP`: [`VringState`], vq index in, group out.
pub const VHOST_VDPA_GET_VRING_DESC_GROUP: u32 = iowr(VHOST_VIRTIO, 0x7F, VringState::SIZE);
/// `VHOST_VDPA_GET_VQS_COUNT`: `u32` number of virtqueues.
pub const VHOST_VDPA_GET_VQS_COUNT: u32 = ior(VHOST_VIRTIO, 0x80, U32);
/// `VHOST_VDPA_GET_GROUP_NUM`: `u32` number of virtqueue groups.
pub const VHOST_VDPA_GET_GROUP_NUM: u32 = ior(VHOST_VIRTIO, 0x81, U32);
/// `VHOST_VDPA_GET_VRING_SIZE`: [`VringState`], vq index in, size out.
pub const VHOST_VDPA_GET_VRING_SIZE: u32 = iowr(VHOST_VIRTIO, 0x82, VringState::SIZE);
/// `VHOST_SET_FORK_FROM_OWNER`: `u8`, only before an owner is set
/// (`CONFIG_VHOST_ENABLE_FORK_OWNER_CONTROL`).
pub const VHOST_SET_FORK_FROM_OWNER: u32 = iow(VHOST_VIRTIO, 0x84, U8);
/// `VHOST_GET_FORK_FROM_OWNER`: `u8`.
pub const VHOST_GET_FORK_FROM_OWNER: u32 = ior(VHOST_VIRTIO, 0x85, U8);

/// Every vhost ioctl that the 6.12 headers define and that can reach a
/// vhost-vdpa fd, one variant each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ioctl {
    /// [`VHOST_GET_FEATURES`].
    GetFeatures,
    /// [`VHOST_SET_FEATURES`].
    SetFeatures,
    /// [`VHOST_SET_OWNER`].
    SetOwner,
    /// [`VHOST_RESET_OWNER`].
    ResetOwner,
    /// [`VHOST_SET_MEM_TABLE`].
    SetMemTable,
    /// [`VHOST_SET_LOG_BASE`].
    SetLogBase,
    /// [`VHOST_SET_LOG_FD`].
    SetLogFd,
    /// [`VHOST_NEW_WORKER`].
    NewWorker,
    /// [`VHOST_FREE_WORKER`].
    FreeWorker,
    /// [`VHOST_SET_VRING_NUM`].
    SetVringNum,
    /// [`VHOST_SET_VRING_ADDR`].
    SetVringAddr,
    /// [`VHOST_SET_VRING_BASE`].
    SetVringBase,
    /// [`VHOST_GET_VRING_BASE`].
    GetVringBase,
    /// [`VHOST_SET_VRING_ENDIAN`].
    SetVringEndian,
    /// [`VHOST_GET_VRING_ENDIAN`].
    GetVringEndian,
    /// [`VHOST_ATTACH_VRING_WORKER`].
    AttachVringWorker,
    /// [`VHOST_GET_VRING_WORKER`].
    GetVringWorker,
    /// [`VHOST_SET_VRING_KICK`].
    SetVringKick,
    /// [`VHOST_SET_VRING_CALL`].
    SetVringCall,
    /// [`VHOST_SET_VRING_ERR`].
    SetVringErr,
    /// [`VHOST_SET_VRING_BUSYLOOP_TIMEOUT`].
    SetVringBusyloopTimeout,
    /// [`VHOST_GET_VRING_BUSYLOOP_TIMEOUT`].
    GetVringBusyloopTimeout,
    /// [`VHOST_SET_BACKEND_FEATURES`].
    SetBackendFeatures,
    /// [`VHOST_GET_BACKEND_FEATURES`].
    GetBackendFeatures,
    /// [`VHOST_VDPA_GET_DEVICE_ID`].
    VdpaGetDeviceId,
    /// [`VHOST_VDPA_GET_STATUS`].
    VdpaGetStatus,
    /// [`VHOST_VDPA_SET_STATUS`].
    VdpaSetStatus,
    /// [`VHOST_VDPA_GET_CONFIG`].
    VdpaGetConfig,
    /// [`VHOST_VDPA_SET_CONFIG`].
    VdpaSetConfig,
    /// [`VHOST_VDPA_SET_VRING_ENABLE`].
    VdpaSetVringEnable,
    /// [`VHOST_VDPA_GET_VRING_NUM`].
    VdpaGetVringNum,
    /// [`VHOST_VDPA_SET_CONFIG_CALL`].
    VdpaSetConfigCall,
    /// [`VHOST_VDPA_GET_IOVA_RANGE`].
    VdpaGetIovaRange,
    /// [`VHOST_VDPA_GET_CONFIG_SIZE`].
    VdpaGetConfigSize,
    /// [`VHOST_VDPA_GET_AS_NUM`].
    VdpaGetAsNum,
    /// [`VHOST_VDPA_GET_VRING_GROUP`].
    VdpaGetVringGroup,
    /// [`VHOST_VDPA_SET_GROUP_ASID`].
    VdpaSetGroupAsid,
    /// [`VHOST_VDPA_SUSPEND`].
    VdpaSuspend,
    /// [`VHOST_VDPA_RESUME`].
    VdpaResume,
    /// [`VHOST_VDPA_GET_VRING_DESC_GROUP`].
    VdpaGetVringDescGroup,
    /// [`VHOST_VDPA_GET_VQS_COUNT`].
    VdpaGetVqsCount,
    /// [`VHOST_VDPA_GET_GROUP_NUM`].
    VdpaGetGroupNum,
    /// [`VHOST_VDPA_GET_VRING_SIZE`].
    VdpaGetVringSize,
    /// [`VHOST_SET_FORK_FROM_OWNER`].
    SetForkFromOwner,
    /// [`VHOST_GET_FORK_FROM_OWNER`].
    GetForkFromOwner,
}

impl Ioctl {
    /// Every variant, in ioctl-number order of the header.
    pub const ALL: [Ioctl; 45] = [
        Ioctl::GetFeatures,
        Ioctl::SetFeatures,
        Ioctl::SetOwner,
        Ioctl::ResetOwner,
        Ioctl::SetMemTable,
        Ioctl::SetLogBase,
        Ioctl::SetLogFd,
        Ioctl::NewWorker,
        Ioctl::FreeWorker,
        Ioctl::SetVringNum,
        Ioctl::SetVringAddr,
        Ioctl::SetVringBase,
        Ioctl::GetVringBase,
        Ioctl::SetVringEndian,
        Ioctl::GetVringEndian,
        Ioctl::AttachVringWorker,
        Ioctl::GetVringWorker,
        Ioctl::SetVringKick,
        Ioctl::SetVringCall,
        Ioctl::SetVringErr,
        Ioctl::SetVringBusyloopTimeout,
        Ioctl::GetVringBusyloopTimeout,
        Ioctl::SetBackendFeatures,
        Ioctl::GetBackendFeatures,
        Ioctl::VdpaGetDeviceId,
        Ioctl::VdpaGetStatus,
        Ioctl::VdpaSetStatus,
        Ioctl::VdpaGetConfig,
        Ioctl::VdpaSetConfig,
        Ioctl::VdpaSetVringEnable,
        Ioctl::VdpaGetVringNum,
        Ioctl::VdpaSetConfigCall,
        Ioctl::VdpaGetIovaRange,
        Ioctl::VdpaGetConfigSize,
        Ioctl::VdpaGetAsNum,
        Ioctl::VdpaGetVringGroup,
        Ioctl::VdpaSetGroupAsid,
        Ioctl::VdpaSuspend,
        Ioctl::VdpaResume,
        Ioctl::VdpaGetVringDescGroup,
        Ioctl::VdpaGetVqsCount,
        Ioctl::VdpaGetGroupNum,
        Ioctl::VdpaGetVringSize,
        Ioctl::SetForkFromOwner,
        Ioctl::GetForkFromOwner,
    ];

    /// The command number.
    pub const fn cmd(self) -> u32 {
        match self {
            Ioctl::GetFeatures => VHOST_GET_FEATURES,
            Ioctl::SetFeatures => VHOST_SET_FEATURES,
            Ioctl::SetOwner => VHOST_SET_OWNER,
            Ioctl::ResetOwner => VHOST_RESET_OWNER,
            Ioctl::SetMemTable => VHOST_SET_MEM_TABLE,
            Ioctl::SetLogBase => VHOST_SET_LOG_BASE,
            Ioctl::SetLogFd => VHOST_SET_LOG_FD,
            Ioctl::NewWorker => VHOST_NEW_WORKER,
            Ioctl::FreeWorker => VHOST_FREE_WORKER,
            Ioctl::SetVringNum => VHOST_SET_VRING_NUM,
            Ioctl::SetVringAddr => VHOST_SET_VRING_ADDR,
            Ioctl::SetVringBase => VHOST_SET_VRING_BASE,
            Ioctl::GetVringBase => VHOST_GET_VRING_BASE,
            Ioctl::SetVringEndian => VHOST_SET_VRING_ENDIAN,
            Ioctl::GetVringEndian => VHOST_GET_VRING_ENDIAN,
            Ioctl::AttachVringWorker => VHOST_ATTACH_VRING_WORKER,
            Ioctl::GetVringWorker => VHOST_GET_VRING_WORKER,
            Ioctl::SetVringKick => VHOST_SET_VRING_KICK,
            Ioctl::SetVringCall => VHOST_SET_VRING_CALL,
            Ioctl::SetVringErr => VHOST_SET_VRING_ERR,
            Ioctl::SetVringBusyloopTimeout => VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
            Ioctl::GetVringBusyloopTimeout => VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
            Ioctl::SetBackendFeatures => VHOST_SET_BACKEND_FEATURES,
            Ioctl::GetBackendFeatures => VHOST_GET_BACKEND_FEATURES,
            Ioctl::VdpaGetDeviceId => VHOST_VDPA_GET_DEVICE_ID,
            Ioctl::VdpaGetStatus => VHOST_VDPA_GET_STATUS,
            Ioctl::VdpaSetStatus => VHOST_VDPA_SET_STATUS,
            Ioctl::VdpaGetConfig => VHOST_VDPA_GET_CONFIG,
            Ioctl::VdpaSetConfig => VHOST_VDPA_SET_CONFIG,
            Ioctl::VdpaSetVringEnable => VHOST_VDPA_SET_VRING_ENABLE,
            Ioctl::VdpaGetVringNum => VHOST_VDPA_GET_VRING_NUM,
            Ioctl::VdpaSetConfigCall => VHOST_VDPA_SET_CONFIG_CALL,
            Ioctl::VdpaGetIovaRange => VHOST_VDPA_GET_IOVA_RANGE,
            Ioctl::VdpaGetConfigSize => VHOST_VDPA_GET_CONFIG_SIZE,
            Ioctl::VdpaGetAsNum => VHOST_VDPA_GET_AS_NUM,
            Ioctl::VdpaGetVringGroup => VHOST_VDPA_GET_VRING_GROUP,
            Ioctl::VdpaSetGroupAsid => VHOST_VDPA_SET_GROUP_ASID,
            Ioctl::VdpaSuspend => VHOST_VDPA_SUSPEND,
            Ioctl::VdpaResume => VHOST_VDPA_RESUME,
            Ioctl::VdpaGetVringDescGroup => VHOST_VDPA_GET_VRING_DESC_GROUP,
            Ioctl::VdpaGetVqsCount => VHOST_VDPA_GET_VQS_COUNT,
            Ioctl::VdpaGetGroupNum => VHOST_VDPA_GET_GROUP_NUM,
            Ioctl::VdpaGetVringSize => VHOST_VDPA_GET_VRING_SIZE,
            Ioctl::SetForkFromOwner => VHOST_SET_FORK_FROM_OWNER,
            Ioctl::GetForkFromOwner => VHOST_GET_FORK_FROM_OWNER,
        }
    }

    /// The variant whose number is exactly `cmd`, or `None`.
    ///
    /// The match is on the full 32-bit number, direction and size included,
    /// as the kernel's `switch (cmd)` does: a command with the right type and
    /// nr but another size is unknown.
    pub fn from_cmd(cmd: u32) -> Option<Ioctl> {
        Self::ALL.iter().copied().find(|i| i.cmd() == cmd)
    }

    /// The C macro name, for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Ioctl::GetFeatures => "VHOST_GET_FEATURES",
            Ioctl::SetFeatures => "VHOST_SET_FEATURES",
            Ioctl::SetOwner => "VHOST_SET_OWNER",
            Ioctl::ResetOwner => "VHOST_RESET_OWNER",
            Ioctl::SetMemTable => "VHOST_SET_MEM_TABLE",
            Ioctl::SetLogBase => "VHOST_SET_LOG_BASE",
            Ioctl::SetLogFd => "VHOST_SET_LOG_FD",
            Ioctl::NewWorker => "VHOST_NEW_WORKER",
            Ioctl::FreeWorker => "VHOST_FREE_WORKER",
            Ioctl::SetVringNum => "VHOST_SET_VRING_NUM",
            Ioctl::SetVringAddr => "VHOST_SET_VRING_ADDR",
            Ioctl::SetVringBase => "VHOST_SET_VRING_BASE",
            Ioctl::GetVringBase => "VHOST_GET_VRING_BASE",
            Ioctl::SetVringEndian => "VHOST_SET_VRING_ENDIAN",
            Ioctl::GetVringEndian => "VHOST_GET_VRING_ENDIAN",
            Ioctl::AttachVringWorker => "VHOST_ATTACH_VRING_WORKER",
            Ioctl::GetVringWorker => "VHOST_GET_VRING_WORKER",
            Ioctl::SetVringKick => "VHOST_SET_VRING_KICK",
            Ioctl::SetVringCall => "VHOST_SET_VRING_CALL",
            Ioctl::SetVringErr => "VHOST_SET_VRING_ERR",
            Ioctl::SetVringBusyloopTimeout => "VHOST_SET_VRING_BUSYLOOP_TIMEOUT",
            Ioctl::GetVringBusyloopTimeout => "VHOST_GET_VRING_BUSYLOOP_TIMEOUT",
            Ioctl::SetBackendFeatures => "VHOST_SET_BACKEND_FEATURES",
            Ioctl::GetBackendFeatures => "VHOST_GET_BACKEND_FEATURES",
            Ioctl::VdpaGetDeviceId => "VHOST_VDPA_GET_DEVICE_ID",
            Ioctl::VdpaGetStatus => "VHOST_VDPA_GET_STATUS",
            Ioctl::VdpaSetStatus => "VHOST_VDPA_SET_STATUS",
            Ioctl::VdpaGetConfig => "VHOST_VDPA_GET_CONFIG",
            Ioctl::VdpaSetConfig => "VHOST_VDPA_SET_CONFIG",
            Ioctl::VdpaSetVringEnable => "VHOST_VDPA_SET_VRING_ENABLE",
            Ioctl::VdpaGetVringNum => "VHOST_VDPA_GET_VRING_NUM",
            Ioctl::VdpaSetConfigCall => "VHOST_VDPA_SET_CONFIG_CALL",
            Ioctl::VdpaGetIovaRange => "VHOST_VDPA_GET_IOVA_RANGE",
            Ioctl::VdpaGetConfigSize => "VHOST_VDPA_GET_CONFIG_SIZE",
            Ioctl::VdpaGetAsNum => "VHOST_VDPA_GET_AS_NUM",
            Ioctl::VdpaGetVringGroup => "VHOST_VDPA_GET_VRING_GROUP",
            Ioctl::VdpaSetGroupAsid => "VHOST_VDPA_SET_GROUP_ASID",
            Ioctl::VdpaSuspend => "VHOST_VDPA_SUSPEND",
            Ioctl::VdpaResume => "VHOST_VDPA_RESUME",
            Ioctl::VdpaGetVringDescGroup => "VHOST_VDPA_GET_VRING_DESC_GROUP",
            Ioctl::VdpaGetVqsCount => "VHOST_VDPA_GET_VQS_COUNT",
            Ioctl::VdpaGetGroupNum => "VHOST_VDPA_GET_GROUP_NUM",
            Ioctl::VdpaGetVringSize => "VHOST_VDPA_GET_VRING_SIZE",
            Ioctl::SetForkFromOwner => "VHOST_SET_FORK_FROM_OWNER",
            Ioctl::GetForkFromOwner => "VHOST_GET_FORK_FROM_OWNER",
        }
    }
}
