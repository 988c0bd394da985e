// SPDX-License-Identifier: GPL-2.0
//! What vhost_mdev reads from userspace before it touches a device: the framing of an IOTLB
//! `write()`, the generic ioctl path (`preflight`), and the range checks of updates and
//! config accesses, on arbitrary bytes and numbers. Each is checked against the kernel's rule
//! written out in 64-bit or 128-bit arithmetic here, and an accepted message must encode back
//! to one that parses the same.
#![no_main]

use libfuzzer_sys::arbitrary::{Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use vhost_uapi::errno::{EINVAL, ENOBUFS};
use vhost_uapi::{
    check_config_access, check_update_range, encode_msg_v1, encode_msg_v2, parse_iotlb_write,
    preflight, route, Dispatch, IovaRange, Owner, Route, VHOST_IOTLB_UPDATE, VHOST_MSG_SIZE,
    VHOST_SET_LOG_BASE,
};

fn iotlb_write(u: &mut Unstructured<'_>) -> Result<()> {
    let acked: bool = u.arbitrary()?;
    let buf = u.bytes(u.len())?;
    let r = parse_iotlb_write(buf, acked);
    let kind = buf
        .get(..4)
        .map(|k| i32::from_ne_bytes([k[0], k[1], k[2], k[3]]));
    let size = buf
        .get(16..24)
        .map(|s| u64::from_ne_bytes(s.try_into().unwrap_or_default()));
    let body_kind = buf.get(33).copied();
    // vhost_chr_write_iter(): a type of 1 or 2 and 40 bytes in all, and no empty UPDATE.
    let want_ok = buf.len() >= 40
        && matches!(kind, Some(1 | 2))
        && !(body_kind == Some(VHOST_IOTLB_UPDATE) && size == Some(0));
    match r {
        Err(e) => {
            assert_eq!(e, EINVAL);
            assert!(!want_ok, "refused a well-framed message");
        }
        Ok(p) => {
            assert!(want_ok, "accepted a malformed message");
            assert_eq!(p.consumed_reply, VHOST_MSG_SIZE);
            if kind != Some(2) || !acked {
                assert_eq!(p.asid, 0);
            }
            let again = if kind == Some(1) {
                encode_msg_v1(&p.msg)
            } else {
                encode_msg_v2(p.asid, &p.msg)
            };
            assert_eq!(parse_iotlb_write(&again, acked), Ok(p));
        }
    }
    Ok(())
}

fn ioctl(u: &mut Unstructured<'_>) -> Result<()> {
    while !u.is_empty() {
        let cmd = match u.int_in_range(0u8..=3)? {
            // vhost's ioctl type 0xAF, any direction, size and number.
            0..=2 => {
                (u32::from(u.arbitrary::<u16>()?) << 16 & 0xc0ff_0000)
                    | 0xaf00
                    | u32::from(u.arbitrary::<u8>()?)
            }
            _ => u.arbitrary()?,
        };
        let owner = *u.choose(&[Owner::None, Owner::Caller, Owner::Other])?;
        let nvqs = u.int_in_range(0u32..=64)?;
        let logs: bool = u.arbitrary()?;
        let index: Option<u32> = u.arbitrary()?;
        let mut asked = None;
        let r = preflight(cmd, owner, nvqs, logs, |len| {
            asked = Some(len);
            index
        });
        let vring = matches!(route(cmd), Route::Vring(_));
        if let Some(len) = asked {
            // The index is read only on the vring path, only by its owner, and only as much
            // as the kernel copies.
            assert!(vring, "cmd {cmd:#x} read an index");
            assert_eq!(owner, Owner::Caller);
            assert!(len == 4 || len == 8, "read {len} bytes");
        }
        match r {
            Ok(Dispatch::Vring { index: i, .. }) => {
                assert_eq!(Some(i), index);
                assert!(i < nvqs);
            }
            Err(e) if e == ENOBUFS => assert!(index.is_some_and(|i| i >= nvqs)),
            // Only a logging device's owner gets to set a log.
            Ok(Dispatch::SetLogBase) => {
                assert!(logs && owner == Owner::Caller && cmd == VHOST_SET_LOG_BASE)
            }
            _ => {}
        }
    }
    Ok(())
}

fn ranges(u: &mut Unstructured<'_>) -> Result<()> {
    while !u.is_empty() {
        let (iova, size): (u64, u64) = (u.arbitrary()?, u.arbitrary()?);
        let range = IovaRange {
            first: u.arbitrary()?,
            last: u.arbitrary()?,
        };
        let end = u128::from(iova) + u128::from(size);
        let want = (iova >= range.first && size > 0 && end - 1 <= u128::from(range.last))
            .then(|| (end - 1) as u64);
        assert_eq!(
            check_update_range(iova, size, range).ok(),
            want,
            "update {iova:#x}+{size:#x}"
        );
        let (off, len, cfg): (u32, u32, u32) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
        let fits = len > 0 && u64::from(off) + u64::from(len) <= u64::from(cfg);
        assert_eq!(
            check_config_access(off, len, cfg).is_ok(),
            fits,
            "config {off}+{len} of {cfg}"
        );
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let _ = match u.int_in_range(0u8..=2) {
        Ok(0) => iotlb_write(&mut u),
        Ok(1) => ioctl(&mut u),
        _ => ranges(&mut u),
    };
});
