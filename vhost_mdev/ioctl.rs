// SPDX-License-Identifier: GPL-2.0
//! The vhost-vdpa ioctls and IOTLB messages, mapped onto one device.
//!
//! `crates/vhost_uapi` decides what a call means and whether its arguments are acceptable
//! (numbers, layouts, checks, errno, routing; host-tested against vhost-vdpa's behaviour);
//! this file reads the arguments from userspace, applies the result to the device state
//! (`device.rs`) and the IOTLB (`pinned_iotlb.rs`), and writes the answers back.

use super::device::{errno_of, Doorbell, Inner, VhostDev};
use super::kglue::eventfd::{EventCtx, KickWatch};
use super::kglue::mm::OwnerMm;
use super::pinned_iotlb::AddressSpace;
use super::vhost_uapi::{
    self, errno, DeviceCmd, Dispatch, IotlbKind, Owner, VdpaConfigHeader, VringAddr,
    VringAddrChange, VringCmd, VringFile, VringState,
};
use super::vmdev_regs::map::Register;
use kernel::error::code::{EEXIST, EINVAL, ENOTTY, EPERM};
use kernel::prelude::*;
use kernel::uaccess::UserSlice;

fn user_read<const N: usize>(arg: usize, buf: &mut [u8; N]) -> Result {
    UserSlice::new(arg, N).reader().read_slice(buf)
}

fn user_write(arg: usize, data: &[u8]) -> Result {
    UserSlice::new(arg, data.len()).writer().write_slice(data)
}

fn put_u32(arg: usize, v: u32) -> Result {
    user_write(arg, &v.to_ne_bytes())
}

fn get_u64(arg: usize) -> Result<u64> {
    let mut b = [0u8; 8];
    user_read(arg, &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

fn get_state(arg: usize) -> Result<VringState> {
    let mut b = [0u8; VringState::SIZE];
    user_read(arg, &mut b)?;
    Ok(VringState::from_bytes(&b))
}

/// The eventfd an fd argument names, or none for `VHOST_FILE_UNBIND`.
fn eventfd_arg(fd: i32) -> Result<Option<EventCtx>> {
    if fd == vhost_uapi::VHOST_FILE_UNBIND {
        Ok(None)
    } else {
        EventCtx::get(fd).map(Some)
    }
}

fn get_file_fd(arg: usize) -> Result<i32> {
    let mut b = [0u8; VringFile::SIZE];
    user_read(arg, &mut b)?;
    Ok(VringFile::from_bytes(&b).fd)
}

impl VhostDev {
    /// One ioctl (`vhost_vdpa_unlocked_ioctl()`).
    pub(crate) fn ioctl(&self, cmd: u32, arg: usize) -> Result {
        let mut inner = self.inner.lock();
        inner.win()?;
        let owner = inner.owner_of_caller();
        let logs = inner.logs();
        let dispatch = vhost_uapi::preflight(cmd, owner, inner.nvqs, logs, |len| {
            let mut b = [0u8; 8];
            let buf = b.get_mut(..len)?;
            UserSlice::new(arg, len).reader().read_slice(buf).ok()?;
            Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        })
        .map_err(errno_of)?;
        match dispatch {
            Dispatch::BackendFeatures => {
                let f = get_u64(arg)?;
                vhost_uapi::check_backend_features(f, inner.caps).map_err(errno_of)?;
                inner.backend_features = f;
                Ok(())
            }
            Dispatch::Device(d) => self.device_ioctl(&mut inner, d, arg),
            Dispatch::SetOwner => {
                inner.owner = Some(OwnerMm::of_current()?);
                Ok(())
            }
            Dispatch::SetForkFromOwner => {
                let mut b = [0u8; 1];
                user_read(arg, &mut b)?;
                inner.fork_from_owner =
                    vhost_uapi::check_fork_owner_value(b[0]).map_err(errno_of)?;
                Ok(())
            }
            Dispatch::GetForkFromOwner => user_write(arg, &[u8::from(inner.fork_from_owner)]),
            Dispatch::SetMemTable => set_mem_table(arg),
            Dispatch::SetLogBase => inner.set_log_base(get_u64(arg)?),
            Dispatch::Vring { cmd, index } => self.vring_ioctl(&mut inner, cmd, index, arg),
        }
    }

    fn device_ioctl(&self, inner: &mut Inner, d: DeviceCmd, arg: usize) -> Result {
        match d {
            DeviceCmd::GetFeatures => user_write(arg, &inner.device_features.to_ne_bytes()),
            DeviceCmd::SetFeatures => inner.set_features(get_u64(arg)?),
            DeviceCmd::GetBackendFeatures => user_write(
                arg,
                &vhost_uapi::offered_backend_features(inner.caps).to_ne_bytes(),
            ),
            DeviceCmd::GetDeviceId => put_u32(arg, inner.device_id),
            DeviceCmd::GetStatus => user_write(arg, &[inner.win()?.status()]),
            DeviceCmd::SetStatus => {
                let mut b = [0u8; 1];
                user_read(arg, &mut b)?;
                inner.set_status(b[0])
            }
            DeviceCmd::GetConfig | DeviceCmd::SetConfig => {
                config_access(inner, arg, d == DeviceCmd::GetConfig)
            }
            DeviceCmd::GetVringNum => user_write(arg, &inner.vq_num_max.to_ne_bytes()),
            DeviceCmd::SetConfigCall => {
                let mut b = [0u8; 4];
                user_read(arg, &mut b)?;
                self.set_config_call(eventfd_arg(i32::from_ne_bytes(b))?);
                Ok(())
            }
            DeviceCmd::GetIovaRange => user_write(arg, &vhost_uapi::IovaRange::FULL.to_bytes()),
            DeviceCmd::GetConfigSize => put_u32(arg, inner.config_size),
            DeviceCmd::GetAsNum => put_u32(arg, inner.nas),
            DeviceCmd::GetGroupNum => put_u32(arg, inner.ngroups),
            DeviceCmd::GetVqsCount => put_u32(arg, inner.nvqs),
            DeviceCmd::Suspend => inner.suspend(true),
            DeviceCmd::Resume => inner.suspend(false),
        }
    }

    fn vring_ioctl(&self, inner: &mut Inner, cmd: VringCmd, index: u32, arg: usize) -> Result {
        let i = index as usize;
        let no_ring = || errno_of(errno::ENOBUFS);
        match cmd {
            VringCmd::SetNum => {
                let s = get_state(arg)?;
                let num = vhost_uapi::check_vring_num(s.num, inner.vq_num_max).map_err(errno_of)?;
                inner.vrings.get_mut(i).ok_or_else(no_ring)?.num = num;
                Ok(())
            }
            VringCmd::SetAddr => {
                let mut b = [0u8; VringAddr::SIZE];
                user_read(arg, &mut b)?;
                let a = VringAddr::from_bytes(&b);
                vhost_uapi::check_vring_addr(&a).map_err(errno_of)?;
                let (driver_ok, suspended, logs) =
                    (inner.driver_ok(), inner.suspended, inner.logs());
                // The addresses the device runs the ring with (the shadow may hold others
                // that were refused: vhost-vdpa stores before it checks).
                let old = inner.running_addr(index)?;
                let v = inner.vrings.get_mut(i).ok_or_else(no_ring)?;
                v.desc = a.desc_user_addr;
                v.avail = a.avail_user_addr;
                v.used = a.used_user_addr;
                let log_flag = u64::from((a.flags >> vhost_uapi::VHOST_VRING_F_LOG) & 1);
                v.used_log = a.log_guest_addr | log_flag;
                // vhost-vdpa updates its copy, then refuses a running device that is not
                // suspended; a suspended one takes the new addresses when it resumes. A
                // logging device also takes, while it runs, a change of the log fields alone.
                let change =
                    vhost_uapi::check_vring_addr_change(driver_ok, suspended, logs, &old, &a)
                        .map_err(errno_of)?;
                match change {
                    VringAddrChange::LogOnly => inner.set_used_log(index),
                    VringAddrChange::Full if driver_ok => inner.reload_vring(index),
                    VringAddrChange::Full => Ok(()),
                }
            }
            VringCmd::SetBase => {
                let s = get_state(arg)?;
                let base = vhost_uapi::check_vring_base(s.num).map_err(errno_of)?;
                vhost_uapi::check_vring_change(inner.driver_ok(), inner.suspended)
                    .map_err(errno_of)?;
                inner.set_vring_base(index, base)
            }
            VringCmd::GetBase => {
                let num = u32::from(inner.vring_base(index)?);
                user_write(arg, &VringState { index, num }.to_bytes())
            }
            VringCmd::SetKick => {
                let fd = get_file_fd(arg)?;
                let window = inner.win()?.clone();
                let slot = inner.kicks.get_mut(i).ok_or_else(no_ring)?;
                *slot = None;
                if fd != vhost_uapi::VHOST_FILE_UNBIND {
                    *slot = Some(KickWatch::start(fd, Doorbell { window, index })?);
                }
                Ok(())
            }
            VringCmd::SetCall => {
                let ctx = eventfd_arg(get_file_fd(arg)?)?;
                self.set_call(i, ctx);
                Ok(())
            }
            VringCmd::SetErr => {
                let ctx = eventfd_arg(get_file_fd(arg)?)?;
                // Stored and never signalled, as in vhost-vdpa.
                *inner.errs.get_mut(i).ok_or_else(no_ring)? = ctx;
                Ok(())
            }
            VringCmd::SetBusyloopTimeout => {
                let s = get_state(arg)?;
                inner
                    .vrings
                    .get_mut(i)
                    .ok_or_else(no_ring)?
                    .busyloop_timeout = s.num;
                Ok(())
            }
            VringCmd::GetBusyloopTimeout => {
                let num = inner.vrings.get(i).ok_or_else(no_ring)?.busyloop_timeout;
                user_write(arg, &VringState { index, num }.to_bytes())
            }
            VringCmd::SetEnable => {
                let s = get_state(arg)?;
                inner.enable_vring(index, s.num != 0)
            }
            VringCmd::GetGroup => {
                let win = inner.win()?;
                win.select_queue(index)?;
                let group = win.read(Register::QUEUE_GROUP);
                let num = vhost_uapi::check_vq_group(group, inner.ngroups).map_err(errno_of)?;
                user_write(arg, &VringState { index, num }.to_bytes())
            }
            VringCmd::SetGroupAsid => {
                let s = get_state(arg)?;
                vhost_uapi::check_group_asid(s.index, s.num, inner.ngroups, inner.nas)
                    .map_err(errno_of)?;
                let win = inner.win()?;
                win.write(Register::GROUP_SEL, s.index)?;
                win.write(Register::GROUP_ASID, s.num)
            }
            VringCmd::GetDescGroup | VringCmd::GetSize => Err(errno_of(errno::EOPNOTSUPP)),
            VringCmd::Endian | VringCmd::Unhandled => Err(ENOTTY),
        }
    }

    /// One IOTLB message (`vhost_chr_write_iter()` + `vhost_vdpa_process_iotlb_msg()`).
    pub(crate) fn iotlb_write(&self, buf: usize, count: usize) -> Result<usize> {
        let mut inner = self.inner.lock();
        inner.win()?;
        let mut b = [0u8; vhost_uapi::VHOST_MSG_SIZE];
        let n = count.min(b.len());
        let msg_bytes = b.get_mut(..n).ok_or(EINVAL)?;
        UserSlice::new(buf, n).reader().read_slice(msg_bytes)?;
        let asid_acked = inner.backend_features & vhost_uapi::BACKEND_IOTLB_ASID != 0;
        let parsed = vhost_uapi::parse_iotlb_write(msg_bytes, asid_acked).map_err(errno_of)?;
        iotlb_msg(&mut inner, parsed.asid, &parsed.msg)
            .map_err(|e| errno_of(vhost_uapi::write_errno(-e.to_errno())))?;
        Ok(parsed.consumed_reply)
    }
}

/// `VHOST_SET_MEM_TABLE`: accepted and unused by vhost-vdpa; validated the same way.
fn set_mem_table(arg: usize) -> Result {
    let mut h = [0u8; vhost_uapi::MemoryHeader::SIZE];
    user_read(arg, &mut h)?;
    let h = vhost_uapi::MemoryHeader::from_bytes(&h);
    vhost_uapi::check_mem_table_header(&h).map_err(errno_of)?;
    let mut r = [0u8; vhost_uapi::MemoryRegion::SIZE];
    for i in 0..h.nregions as usize {
        let at = arg
            .wrapping_add(vhost_uapi::MemoryHeader::SIZE)
            .wrapping_add(i.wrapping_mul(r.len()));
        user_read(at, &mut r)?;
    }
    Ok(())
}

/// `VHOST_VDPA_GET_CONFIG` / `SET_CONFIG`, through an 8-byte bounce buffer.
fn config_access(inner: &Inner, arg: usize, get: bool) -> Result {
    let win = inner.win()?;
    let mut h = [0u8; VdpaConfigHeader::SIZE];
    user_read(arg, &mut h)?;
    let h = VdpaConfigHeader::from_bytes(&h);
    vhost_uapi::check_config_access(h.off, h.len, inner.config_size).map_err(errno_of)?;
    let base = arg.wrapping_add(VdpaConfigHeader::SIZE);
    let mut done = 0u32;
    while done < h.len {
        let n = (h.len - done).min(8) as usize;
        let mut b = [0u8; 8];
        let buf = &mut b[..n];
        let at = base.wrapping_add(done as usize);
        let off = h.off + done;
        if get {
            win.config_read(off, buf)?;
            user_write(at, buf)?;
        } else {
            UserSlice::new(at, n).reader().read_slice(buf)?;
            win.config_write(off, buf)?;
        }
        done += n as u32;
    }
    Ok(())
}

fn iotlb_msg(inner: &mut Inner, asid: u32, msg: &vhost_uapi::IotlbMsg) -> Result {
    if inner.owner_of_caller() != Owner::Caller {
        return Err(EPERM);
    }
    let kind = vhost_uapi::check_iotlb_kind(msg.kind).map_err(errno_of)?;
    let Inner {
        win,
        owner,
        iotlb,
        dma_entries,
        nas,
        batch,
        releaser,
        ..
    } = inner;
    let win = win.as_ref().ok_or(EINVAL)?;
    let exists = iotlb.get(asid as usize).is_some_and(Option::is_some);
    let route = vhost_uapi::route_iotlb_msg(kind, asid, *nas, exists, batch);
    if route.create_as {
        let slot = iotlb.get_mut(asid as usize).ok_or(EINVAL)?;
        let mm = owner.as_ref().ok_or(EPERM)?.clone();
        *slot = Some(AddressSpace::new(mm, *dma_entries, asid as u16)?);
    }
    route.outcome.map_err(errno_of)?;
    let asp = iotlb
        .get_mut(asid as usize)
        .and_then(Option::as_mut)
        .ok_or(EINVAL)?;
    match kind {
        IotlbKind::Update => {
            let last =
                vhost_uapi::check_update_range(msg.iova, msg.size, vhost_uapi::IovaRange::FULL)
                    .map_err(errno_of)?;
            if asp.overlaps(msg.iova, last) {
                return Err(EEXIST);
            }
            asp.map(win, msg.iova, msg.size, msg.uaddr, msg.perm, releaser)
        }
        IotlbKind::Invalidate => {
            asp.invalidate(win, msg.iova, msg.size, releaser);
            Ok(())
        }
        // Every update reaches the device's table at once (vhost-vdpa's dma_map parents
        // behave the same), so a batch only ties the messages to one address space.
        IotlbKind::BatchBegin | IotlbKind::BatchEnd => Ok(()),
    }
}
