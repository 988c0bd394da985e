// SPDX-License-Identifier: GPL-2.0
//! IOTLB messages written to the device fd: framing, encoding and the
//! per-message checks of `vhost_vdpa_process_iotlb_msg()`.

use super::errno::{Errno, EFAULT, EINVAL};
use super::types::{prefix, IotlbMsg, IovaRange};

/// `VHOST_ACCESS_RO`: the device may read.
pub const VHOST_ACCESS_RO: u8 = 1;
/// `VHOST_ACCESS_WO`: the device may write.
pub const VHOST_ACCESS_WO: u8 = 2;
/// `VHOST_ACCESS_RW`: the device may read and write.
pub const VHOST_ACCESS_RW: u8 = 3;

/// Inner message type: IOTLB miss (device to userspace; never sent by
/// vhost-vdpa, rejected when written).
pub const VHOST_IOTLB_MISS: u8 = 1;
/// Inner message type: add a mapping.
pub const VHOST_IOTLB_UPDATE: u8 = 2;
/// Inner message type: remove mappings.
pub const VHOST_IOTLB_INVALIDATE: u8 = 3;
/// Inner message type: access failure report (rejected when written).
pub const VHOST_IOTLB_ACCESS_FAIL: u8 = 4;
/// Inner message type: start a batch.
pub const VHOST_IOTLB_BATCH_BEGIN: u8 = 5;
/// Inner message type: end a batch.
pub const VHOST_IOTLB_BATCH_END: u8 = 6;

/// Outer message type: `struct vhost_msg` (V1).
pub const VHOST_IOTLB_MSG: u32 = 1;
/// Outer message type: `struct vhost_msg_v2`.
pub const VHOST_IOTLB_MSG_V2: u32 = 2;

/// `sizeof(struct vhost_msg)` == `sizeof(struct vhost_msg_v2)`: what a
/// successful `write()` returns, whatever the caller wrote.
pub const VHOST_MSG_SIZE: usize = 72;
/// Offset of the `iotlb` member in both message versions.
pub const VHOST_MSG_IOTLB_OFFSET: usize = 8;
/// The shortest write `vhost_chr_write_iter()` accepts: the 8-byte header
/// plus the 32-byte `vhost_iotlb_msg`.
pub const VHOST_MSG_MIN_WRITE: usize = VHOST_MSG_IOTLB_OFFSET + IotlbMsg::SIZE;

/// Default of vhost's `max_iotlb_entries` module parameter: entries per
/// address space; one more UPDATE gives ENOSPC internally (EFAULT on write).
pub const VHOST_DEFAULT_MAX_IOTLB_ENTRIES: usize = 2048;

/// Encodes a `struct vhost_msg_v2 {u32 type = 2; u32 asid; iotlb; padding}`.
pub fn encode_msg_v2(asid: u32, msg: &IotlbMsg) -> [u8; VHOST_MSG_SIZE] {
    encode(VHOST_IOTLB_MSG_V2, asid, msg)
}

/// Encodes a `struct vhost_msg {int type = 1; hole; iotlb; padding}`. The
/// 4-byte hole after `type` is written as zero.
pub fn encode_msg_v1(msg: &IotlbMsg) -> [u8; VHOST_MSG_SIZE] {
    encode(VHOST_IOTLB_MSG, 0, msg)
}

fn encode(kind: u32, asid: u32, msg: &IotlbMsg) -> [u8; VHOST_MSG_SIZE] {
    let mut b = [0; VHOST_MSG_SIZE];
    let parts: [(usize, &[u8]); 3] = [
        (0, &kind.to_ne_bytes()),
        (4, &asid.to_ne_bytes()),
        (VHOST_MSG_IOTLB_OFFSET, &msg.to_bytes()),
    ];
    for (off, src) in parts {
        let dst = off
            .checked_add(src.len())
            .and_then(|end| b.get_mut(off..end));
        if let Some(dst) = dst {
            for (d, s) in dst.iter_mut().zip(src) {
                *d = *s;
            }
        }
    }
    b
}

/// One IOTLB message as framed by `vhost_chr_write_iter()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedMsg {
    /// The address space: the V2 `asid` field if IOTLB_ASID is acked,
    /// otherwise 0.
    pub asid: u32,
    /// The message body.
    pub msg: IotlbMsg,
    /// What `write()` returns once the handler succeeds: always
    /// [`VHOST_MSG_SIZE`] (72), even for a 40-byte write, and even when more
    /// than one message was written (only the first is processed).
    pub consumed_reply: usize,
}

/// Frames one IOTLB `write()` exactly as `vhost_chr_write_iter()`:
///
/// 1. fewer than 4 bytes for the native-endian `int type`: EINVAL;
/// 2. `type == 1` (V1): skip the 4-byte hole, asid 0;
///    `type == 2` (V2): if `asid_acked` (IOTLB_ASID acked on vq 0) read the
///    4-byte asid (fewer bytes: EINVAL), else skip it and use asid 0 (the
///    field is ignored); any other type: EINVAL;
/// 3. fewer than 32 bytes of `vhost_iotlb_msg` after that, i.e. a write
///    shorter than 40 bytes in all: EINVAL (the skip is clamped by
///    `iov_iter_advance()`, so it cannot fail on its own);
/// 4. `UPDATE` with `size == 0`: EINVAL, returned without calling the
///    handler.
///
/// Bytes past the first 40 are ignored. On success the caller runs the
/// handler (`vhost_vdpa_process_iotlb_msg()`), maps any handler error
/// through [`write_errno`], and returns `consumed_reply`.
pub fn parse_iotlb_write(buf: &[u8], asid_acked: bool) -> Result<ParsedMsg, Errno> {
    let kind = prefix::<4>(buf)
        .map(i32::from_ne_bytes)
        .map_err(|_| EINVAL)?;
    let asid = match kind {
        1 => 0,
        2 if asid_acked => buf
            .get(4..)
            .and_then(|rest| prefix::<4>(rest).ok())
            .map(u32::from_ne_bytes)
            .ok_or(EINVAL)?,
        2 => 0,
        _ => return Err(EINVAL),
    };
    let msg = buf
        .get(VHOST_MSG_IOTLB_OFFSET..)
        .and_then(|rest| IotlbMsg::from_slice(rest).ok())
        .ok_or(EINVAL)?;
    if msg.kind == VHOST_IOTLB_UPDATE && msg.size == 0 {
        return Err(EINVAL);
    }
    Ok(ParsedMsg {
        asid,
        msg,
        consumed_reply: VHOST_MSG_SIZE,
    })
}

/// The errno `write()` returns when the IOTLB message handler fails with
/// `handler_err`: always EFAULT, because `vhost_chr_write_iter()` replaces
/// every handler error with `-EFAULT`. This covers the non-owner EPERM, the
/// EINVAL of the range, asid, batch and type checks, EEXIST for overlaps,
/// ENOSPC, ENOMEM and parent failures alike. Only the framing errors of
/// [`parse_iotlb_write`] reach userspace as EINVAL.
pub fn write_errno(handler_err: Errno) -> Errno {
    // The argument only documents what is being discarded.
    let _ = handler_err;
    EFAULT
}

/// The inner message types `vhost_vdpa_process_iotlb_msg()` handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IotlbKind {
    /// `VHOST_IOTLB_UPDATE` (2).
    Update,
    /// `VHOST_IOTLB_INVALIDATE` (3).
    Invalidate,
    /// `VHOST_IOTLB_BATCH_BEGIN` (5).
    BatchBegin,
    /// `VHOST_IOTLB_BATCH_END` (6).
    BatchEnd,
}

impl IotlbKind {
    /// UPDATE and BATCH_BEGIN allocate the address space on demand
    /// (`vhost_vdpa_find_alloc_as()`, EINVAL if `asid >= nas`); INVALIDATE
    /// and BATCH_END need it to exist already (`asid_to_iotlb()`, else
    /// EINVAL).
    pub fn allocates_as(self) -> bool {
        matches!(self, IotlbKind::Update | IotlbKind::BatchBegin)
    }
}

/// What vhost-vdpa remembers between IOTLB messages: the address space of
/// the batch a BATCH_BEGIN opened, until BATCH_END (`v->in_batch`,
/// `v->batch_asid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IotlbBatch {
    open: Option<u32>,
}

impl IotlbBatch {
    /// The address space of the open batch, if one is open.
    pub fn open(&self) -> Option<u32> {
        self.open
    }
}

/// How [`route_iotlb_msg`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IotlbRoute {
    /// Create address space `asid` now (UPDATE or BATCH_BEGIN on one that
    /// does not exist yet): vhost-vdpa allocates it even when the message is
    /// then refused.
    pub create_as: bool,
    /// Whether the message goes on to its handler.
    pub outcome: Result<(), Errno>,
}

/// Routes one IOTLB message of `kind` for address space `asid` of `nas`, as
/// `vhost_vdpa_process_iotlb_msg()` after the owner check:
///
/// 1. UPDATE and BATCH_BEGIN find or create the address space (EINVAL if
///    `asid >= nas`); INVALIDATE and BATCH_END need it to exist (`exists`);
/// 2. a message for another address space than the open batch's, or without
///    an address space, is EINVAL;
/// 3. BATCH_BEGIN opens a batch for `asid`, BATCH_END closes any batch.
///
/// UPDATE and INVALIDATE then run on the address space (the caller's part).
pub fn route_iotlb_msg(
    kind: IotlbKind,
    asid: u32,
    nas: u32,
    exists: bool,
    batch: &mut IotlbBatch,
) -> IotlbRoute {
    let create_as = kind.allocates_as() && !exists && asid < nas;
    let have = exists || create_as;
    let outcome = if batch.open.is_some_and(|b| b != asid) || !have {
        Err(EINVAL)
    } else {
        match kind {
            IotlbKind::BatchBegin => batch.open = Some(asid),
            IotlbKind::BatchEnd => batch.open = None,
            IotlbKind::Update | IotlbKind::Invalidate => {}
        }
        Ok(())
    };
    IotlbRoute { create_as, outcome }
}

/// Classifies the inner `type` as the `switch` of
/// `vhost_vdpa_process_iotlb_msg()`: MISS (1), ACCESS_FAIL (4), 0 and >= 7
/// are EINVAL (EFAULT at the `write()` level).
///
/// Note the kernel reaches this switch only after the owner, address-space
/// and batch-asid checks, and allocates the address space for UPDATE and
/// BATCH_BEGIN only; an unknown type on an asid without an address space is
/// rejected by the address-space lookup first. Both are EINVAL, so the order
/// is invisible to userspace.
pub fn check_iotlb_kind(kind: u8) -> Result<IotlbKind, Errno> {
    match kind {
        VHOST_IOTLB_UPDATE => Ok(IotlbKind::Update),
        VHOST_IOTLB_INVALIDATE => Ok(IotlbKind::Invalidate),
        VHOST_IOTLB_BATCH_BEGIN => Ok(IotlbKind::BatchBegin),
        VHOST_IOTLB_BATCH_END => Ok(IotlbKind::BatchEnd),
        _ => Err(EINVAL),
    }
}

/// Range checks of an UPDATE, in the order of
/// `vhost_vdpa_process_iotlb_update()`, each EINVAL (EFAULT at the `write()`
/// level):
///
/// - `iova < range.first`;
/// - `size == 0` (already caught by [`parse_iotlb_write`]);
/// - `iova > U64_MAX - size + 1`: the range wraps past 2^64;
/// - `iova + size - 1 > range.last`.
///
/// Returns the inclusive last IOVA. A map ending exactly at 2^64 - 1 is
/// allowed. Overlap with an existing entry (EEXIST) is the caller's check.
pub fn check_update_range(iova: u64, size: u64, range: IovaRange) -> Result<u64, Errno> {
    if iova < range.first {
        return Err(EINVAL);
    }
    // size >= 1 from here on, so `size - 1` cannot underflow; the kernel's
    // `U64_MAX - size + 1` is `U64_MAX - (size - 1)` without its overflow.
    let size_m1 = size.checked_sub(1).ok_or(EINVAL)?;
    let last = iova.checked_add(size_m1).ok_or(EINVAL)?;
    if last > range.last {
        return Err(EINVAL);
    }
    Ok(last)
}

/// The inclusive `[first, last]` an INVALIDATE removes, computed like
/// `vhost_vdpa_unmap()`: `last = iova + size - 1` in wrapping u64
/// arithmetic, with no range checks. So `{0, 0}` gives `[0, 2^64 - 1]`
/// (everything), `{0, SIZE_MAX}` gives `[0, 2^64 - 2]`, and `{iova > 0, 0}`
/// gives `last = iova - 1 < first`, which matches only entries straddling
/// `iova - 1`/`iova` under [`iotlb_overlaps`].
pub fn invalidate_bounds(iova: u64, size: u64) -> (u64, u64) {
    (iova, iova.wrapping_add(size).wrapping_sub(1))
}

/// Whether the entry `[map_first, map_last]` is hit by a query
/// `[first, last]`, as the interval-tree walk of
/// `vhost_iotlb_itree_first()` / `_next()` decides:
/// `map_first <= last && map_last >= first`. Used both for the UPDATE
/// overlap check (EEXIST) and for INVALIDATE, which removes every hit entry
/// in full (entries are never split).
pub fn iotlb_overlaps(map_first: u64, map_last: u64, first: u64, last: u64) -> bool {
    map_first <= last && map_last >= first
}
