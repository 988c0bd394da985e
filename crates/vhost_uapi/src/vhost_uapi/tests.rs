// SPDX-License-Identifier: GPL-2.0
//! Unit tests against the numbers and errno of the kernel 6.12 reference
//! (`vhost-vdpa-uapi.md`, sections 2.1, 3 and 6).

use std::vec;
use std::vec::Vec;

use super::errno::*;
use super::*;

// ---------------------------------------------------------------- ioctls

/// Section 2.1 table, copied by hand (gcc against `<linux/vhost.h>`).
const TABLE: [(Ioctl, u32); 45] = [
    (Ioctl::GetFeatures, 0x8008AF00),
    (Ioctl::SetFeatures, 0x4008AF00),
    (Ioctl::SetOwner, 0x0000AF01),
    (Ioctl::ResetOwner, 0x0000AF02),
    (Ioctl::SetMemTable, 0x4008AF03),
    (Ioctl::SetLogBase, 0x4008AF04),
    (Ioctl::SetLogFd, 0x4004AF07),
    (Ioctl::NewWorker, 0x8004AF08),
    (Ioctl::FreeWorker, 0x4004AF09),
    (Ioctl::SetVringNum, 0x4008AF10),
    (Ioctl::SetVringAddr, 0x4028AF11),
    (Ioctl::SetVringBase, 0x4008AF12),
    (Ioctl::GetVringBase, 0xC008AF12),
    (Ioctl::SetVringEndian, 0x4008AF13),
    (Ioctl::GetVringEndian, 0x4008AF14),
    (Ioctl::AttachVringWorker, 0x4008AF15),
    (Ioctl::GetVringWorker, 0xC008AF16),
    (Ioctl::SetVringKick, 0x4008AF20),
    (Ioctl::SetVringCall, 0x4008AF21),
    (Ioctl::SetVringErr, 0x4008AF22),
    (Ioctl::SetVringBusyloopTimeout, 0x4008AF23),
    (Ioctl::GetVringBusyloopTimeout, 0x4008AF24),
    (Ioctl::SetBackendFeatures, 0x4008AF25),
    (Ioctl::GetBackendFeatures, 0x8008AF26),
    (Ioctl::VdpaGetDeviceId, 0x8004AF70),
    (Ioctl::VdpaGetStatus, 0x8001AF71),
    (Ioctl::VdpaSetStatus, 0x4001AF72),
    (Ioctl::VdpaGetConfig, 0x8008AF73),
    (Ioctl::VdpaSetConfig, 0x4008AF74),
    (Ioctl::VdpaSetVringEnable, 0x4008AF75),
    (Ioctl::VdpaGetVringNum, 0x8002AF76),
    (Ioctl::VdpaSetConfigCall, 0x4004AF77),
    (Ioctl::VdpaGetIovaRange, 0x8010AF78),
    (Ioctl::VdpaGetConfigSize, 0x8004AF79),
    (Ioctl::VdpaGetAsNum, 0x8004AF7A),
    (Ioctl::VdpaGetVringGroup, 0xC008AF7B),
    (Ioctl::VdpaSetGroupAsid, 0x4008AF7C),
    (Ioctl::VdpaSuspend, 0x0000AF7D),
    (Ioctl::VdpaResume, 0x0000AF7E),
    (Ioctl::VdpaGetVringDescGroup, 0xC008AF7F),
    (Ioctl::VdpaGetVqsCount, 0x8004AF80),
    (Ioctl::VdpaGetGroupNum, 0x8004AF81),
    (Ioctl::VdpaGetVringSize, 0xC008AF82),
    (Ioctl::SetForkFromOwner, 0x4001AF84),
    (Ioctl::GetForkFromOwner, 0x8001AF85),
];

#[test]
fn ioctl_constants_match_reference_table() {
    let named: [(u32, u32); 45] = [
        (VHOST_GET_FEATURES, 0x8008AF00),
        (VHOST_SET_FEATURES, 0x4008AF00),
        (VHOST_SET_OWNER, 0x0000AF01),
        (VHOST_RESET_OWNER, 0x0000AF02),
        (VHOST_SET_MEM_TABLE, 0x4008AF03),
        (VHOST_SET_LOG_BASE, 0x4008AF04),
        (VHOST_SET_LOG_FD, 0x4004AF07),
        (VHOST_NEW_WORKER, 0x8004AF08),
        (VHOST_FREE_WORKER, 0x4004AF09),
        (VHOST_SET_VRING_NUM, 0x4008AF10),
        (VHOST_SET_VRING_ADDR, 0x4028AF11),
        (VHOST_SET_VRING_BASE, 0x4008AF12),
        (VHOST_GET_VRING_BASE, 0xC008AF12),
        (VHOST_SET_VRING_ENDIAN, 0x4008AF13),
        (VHOST_GET_VRING_ENDIAN, 0x4008AF14),
        (VHOST_ATTACH_VRING_WORKER, 0x4008AF15),
        (VHOST_GET_VRING_WORKER, 0xC008AF16),
        (VHOST_SET_VRING_KICK, 0x4008AF20),
        (VHOST_SET_VRING_CALL, 0x4008AF21),
        (VHOST_SET_VRING_ERR, 0x4008AF22),
        (VHOST_SET_VRING_BUSYLOOP_TIMEOUT, 0x4008AF23),
        (VHOST_GET_VRING_BUSYLOOP_TIMEOUT, 0x4008AF24),
        (VHOST_SET_BACKEND_FEATURES, 0x4008AF25),
        (VHOST_GET_BACKEND_FEATURES, 0x8008AF26),
        (VHOST_VDPA_GET_DEVICE_ID, 0x8004AF70),
        (VHOST_VDPA_GET_STATUS, 0x8001AF71),
        (VHOST_VDPA_SET_STATUS, 0x4001AF72),
        (VHOST_VDPA_GET_CONFIG, 0x8008AF73),
        (VHOST_VDPA_SET_CONFIG, 0x4008AF74),
        (VHOST_VDPA_SET_VRING_ENABLE, 0x4008AF75),
        (VHOST_VDPA_GET_VRING_NUM, 0x8002AF76),
        (VHOST_VDPA_SET_CONFIG_CALL, 0x4004AF77),
        (VHOST_VDPA_GET_IOVA_RANGE, 0x8010AF78),
        (VHOST_VDPA_GET_CONFIG_SIZE, 0x8004AF79),
        (VHOST_VDPA_GET_AS_NUM, 0x8004AF7A),
        (VHOST_VDPA_GET_VRING_GROUP, 0xC008AF7B),
        (VHOST_VDPA_SET_GROUP_ASID, 0x4008AF7C),
        (VHOST_VDPA_SUSPEND, 0x0000AF7D),
        (VHOST_VDPA_RESUME, 0x0000AF7E),
        (VHOST_VDPA_GET_VRING_DESC_GROUP, 0xC008AF7F),
        (VHOST_VDPA_GET_VQS_COUNT, 0x8004AF80),
        (VHOST_VDPA_GET_GROUP_NUM, 0x8004AF81),
        (VHOST_VDPA_GET_VRING_SIZE, 0xC008AF82),
        (VHOST_SET_FORK_FROM_OWNER, 0x4001AF84),
        (VHOST_GET_FORK_FROM_OWNER, 0x8001AF85),
    ];
    for (i, (got, want)) in named.iter().enumerate() {
        assert_eq!(*got, *want, "constant #{i}: {got:#010x} != {want:#010x}");
    }
}

#[test]
fn ioctl_enum_matches_table_and_round_trips() {
    assert_eq!(Ioctl::ALL.len(), TABLE.len());
    for (i, (ioctl, num)) in TABLE.iter().enumerate() {
        assert_eq!(Ioctl::ALL[i], *ioctl, "ALL order at #{i}");
        assert_eq!(ioctl.cmd(), *num, "{}", ioctl.name());
        assert_eq!(Ioctl::from_cmd(*num), Some(*ioctl), "{}", ioctl.name());
        assert!(ioctl.name().starts_with("VHOST_"));
    }
    // Numbers are pairwise distinct, so from_cmd is unambiguous.
    for (i, a) in Ioctl::ALL.iter().enumerate() {
        for b in &Ioctl::ALL[i + 1..] {
            assert_ne!(a.cmd(), b.cmd(), "{} vs {}", a.name(), b.name());
        }
    }
}

#[test]
fn ioctl_from_cmd_needs_exact_number() {
    assert_eq!(Ioctl::from_cmd(0), None);
    assert_eq!(Ioctl::from_cmd(0xFFFF_FFFF), None);
    assert_eq!(Ioctl::from_cmd(io(VHOST_VIRTIO, 0x50)), None);
    // Right type and nr, wrong size or direction: unknown to the switch.
    assert_eq!(Ioctl::from_cmd(iow(VHOST_VIRTIO, 0x10, 16)), None);
    assert_eq!(Ioctl::from_cmd(ior(VHOST_VIRTIO, 0x10, 8)), None);
    // Right nr and size, another ioctl type.
    assert_eq!(Ioctl::from_cmd(iow(0xAE, 0x10, 8)), None);
}

#[test]
fn ioc_encoding_and_decoding() {
    assert_eq!(ioc(IOC_READ | IOC_WRITE, 0xAF, 0x12, 8), 0xC008AF12);
    assert_eq!(io(0xAF, 0x01), 0x0000AF01);
    assert_eq!(ior(0xAF, 0x78, 16), 0x8010AF78);
    assert_eq!(iow(0xAF, 0x11, 40), 0x4028AF11);
    assert_eq!(iowr(0xAF, 0x7B, 8), 0xC008AF7B);
    let c = VHOST_SET_VRING_ADDR;
    assert_eq!(ioc_dir(c), IOC_WRITE);
    assert_eq!(ioc_type(c), VHOST_VIRTIO);
    assert_eq!(ioc_nr(c), 0x11);
    assert_eq!(ioc_size(c), 40);
    assert_eq!(ioc_dir(VHOST_GET_VRING_BASE), IOC_READ | IOC_WRITE);
    assert_eq!(ioc_dir(VHOST_VDPA_SUSPEND), IOC_NONE);
    // The GET_CONFIG size is only the header.
    assert_eq!(ioc_size(VHOST_VDPA_GET_CONFIG), 8);
    // Oversized fields are masked instead of overflowing into neighbours.
    assert_eq!(ioc(7, 0x1AF, 0x1FF, 0x4008), ioc(3, 0xAF, 0xFF, 8));
    assert_eq!(ioc(0, 0, 0, usize::MAX), 0x3FFF << 16);
}

// --------------------------------------------------------------- structs

/// Reads a native-endian u32/u64 at `off` of a test buffer.
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_ne_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_ne_bytes(b[off..off + 8].try_into().unwrap())
}

#[test]
fn struct_sizes_match_c() {
    assert_eq!(VringState::SIZE, 8);
    assert_eq!(VringFile::SIZE, 8);
    assert_eq!(VringAddr::SIZE, 40);
    assert_eq!(IotlbMsg::SIZE, 32);
    assert_eq!(VdpaConfigHeader::SIZE, 8);
    assert_eq!(IovaRange::SIZE, 16);
    assert_eq!(MemoryHeader::SIZE, 8);
    assert_eq!(MemoryRegion::SIZE, 32);
    assert_eq!(VHOST_MSG_SIZE, 72);
    assert_eq!(VHOST_MSG_IOTLB_OFFSET, 8);
    assert_eq!(VHOST_MSG_MIN_WRITE, 40);
}

#[test]
fn vring_state_and_file_layout() {
    let s = VringState {
        index: 0x1122_3344,
        num: 0x5566_7788,
    };
    let b = s.to_bytes();
    assert_eq!(u32_at(&b, 0), 0x1122_3344);
    assert_eq!(u32_at(&b, 4), 0x5566_7788);
    assert_eq!(VringState::from_bytes(&b), s);

    let f = VringFile { index: 3, fd: -1 };
    let b = f.to_bytes();
    assert_eq!(u32_at(&b, 0), 3);
    assert_eq!(&b[4..8], &(-1i32).to_ne_bytes());
    assert_eq!(VringFile::from_bytes(&b), f);
    assert_eq!(VHOST_FILE_UNBIND, -1);
}

#[test]
fn vring_addr_layout_is_desc_used_avail_log() {
    let a = VringAddr {
        index: 7,
        flags: 1,
        desc_user_addr: 0x1000_0000_0000_0001,
        used_user_addr: 0x2000_0000_0000_0002,
        avail_user_addr: 0x3000_0000_0000_0003,
        log_guest_addr: 0x4000_0000_0000_0004,
    };
    let b = a.to_bytes();
    assert_eq!(u32_at(&b, 0), 7);
    assert_eq!(u32_at(&b, 4), 1);
    assert_eq!(u64_at(&b, 8), 0x1000_0000_0000_0001);
    assert_eq!(u64_at(&b, 16), 0x2000_0000_0000_0002, "used at +16");
    assert_eq!(u64_at(&b, 24), 0x3000_0000_0000_0003, "avail at +24");
    assert_eq!(u64_at(&b, 32), 0x4000_0000_0000_0004);
    assert_eq!(VringAddr::from_bytes(&b), a);
}

#[test]
fn iotlb_msg_layout_perm_24_type_25() {
    let m = IotlbMsg {
        iova: 0x0102_0304_0506_0708,
        size: 0x1112_1314_1516_1718,
        uaddr: 0x2122_2324_2526_2728,
        perm: VHOST_ACCESS_RW,
        kind: VHOST_IOTLB_UPDATE,
    };
    let b = m.to_bytes();
    assert_eq!(u64_at(&b, 0), m.iova);
    assert_eq!(u64_at(&b, 8), m.size);
    assert_eq!(u64_at(&b, 16), m.uaddr);
    assert_eq!(b[24], 3);
    assert_eq!(b[25], 2);
    assert_eq!(&b[26..], &[0; 6], "tail padding is zero");
    assert_eq!(IotlbMsg::from_bytes(&b), m);
    // Padding is ignored when decoding.
    let mut p = b;
    p[26..].copy_from_slice(&[0xAA; 6]);
    assert_eq!(IotlbMsg::from_bytes(&p), m);
}

#[test]
fn small_headers_layout() {
    let c = VdpaConfigHeader { off: 8, len: 2 };
    let b = c.to_bytes();
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4)), (8, 2));
    assert_eq!(VdpaConfigHeader::from_bytes(&b), c);

    let r = IovaRange {
        first: 0x1000,
        last: 0x7fff_ffff_ffff,
    };
    let b = r.to_bytes();
    assert_eq!((u64_at(&b, 0), u64_at(&b, 8)), (0x1000, 0x7fff_ffff_ffff));
    assert_eq!(IovaRange::from_bytes(&b), r);
    assert_eq!(IovaRange::default(), IovaRange::FULL);
    assert_eq!(IovaRange::FULL.last, u64::MAX);

    let h = MemoryHeader {
        nregions: 65,
        padding: 9,
    };
    let b = h.to_bytes();
    assert_eq!((u32_at(&b, 0), u32_at(&b, 4)), (65, 9));
    assert_eq!(MemoryHeader::from_bytes(&b), h);

    let m = MemoryRegion {
        guest_phys_addr: 1,
        memory_size: 2,
        userspace_addr: 3,
        flags_padding: 4,
    };
    let b = m.to_bytes();
    assert_eq!(
        (u64_at(&b, 0), u64_at(&b, 8), u64_at(&b, 16), u64_at(&b, 24)),
        (1, 2, 3, 4)
    );
    assert_eq!(MemoryRegion::from_bytes(&b), m);
}

#[test]
fn from_slice_short_is_efault_long_is_prefix() {
    let s = VringState { index: 1, num: 2 };
    let mut long = s.to_bytes().to_vec();
    long.extend_from_slice(&[0xFF; 5]);
    assert_eq!(VringState::from_slice(&long), Ok(s));
    assert_eq!(VringState::from_slice(&long[..7]), Err(EFAULT));
    assert_eq!(VringAddr::from_slice(&[0; 39]), Err(EFAULT));
    assert_eq!(IotlbMsg::from_slice(&[]), Err(EFAULT));
    assert!(MemoryRegion::from_slice(&[0; 32]).is_ok());
    assert!(IovaRange::from_slice(&[0; 16]).is_ok());
    assert!(VringFile::from_slice(&[0; 8]).is_ok());
    assert!(MemoryHeader::from_slice(&[0; 8]).is_ok());
    assert!(VdpaConfigHeader::from_slice(&[0; 8]).is_ok());
}

// ------------------------------------------------------- constants

#[test]
fn feature_and_status_constants() {
    let bits = [
        (VHOST_BACKEND_F_IOTLB_MSG_V2, BACKEND_IOTLB_MSG_V2, 1),
        (VHOST_BACKEND_F_IOTLB_BATCH, BACKEND_IOTLB_BATCH, 2),
        (VHOST_BACKEND_F_IOTLB_ASID, BACKEND_IOTLB_ASID, 3),
        (VHOST_BACKEND_F_SUSPEND, BACKEND_SUSPEND, 4),
        (VHOST_BACKEND_F_RESUME, BACKEND_RESUME, 5),
        (
            VHOST_BACKEND_F_ENABLE_AFTER_DRIVER_OK,
            BACKEND_ENABLE_AFTER_DRIVER_OK,
            6,
        ),
        (VHOST_BACKEND_F_DESC_ASID, BACKEND_DESC_ASID, 7),
        (VHOST_BACKEND_F_IOTLB_PERSIST, BACKEND_IOTLB_PERSIST, 8),
    ];
    for (bit, mask, want) in bits {
        assert_eq!(bit, want);
        assert_eq!(mask, 1u64 << want);
    }
    assert_eq!(VHOST_VDPA_BACKEND_FEATURES, 0xE);
    assert_eq!(BACKEND_KNOWN, 0x1FE);
    assert_eq!(
        [VHOST_IOTLB_MISS, VHOST_IOTLB_UPDATE, VHOST_IOTLB_INVALIDATE],
        [1, 2, 3]
    );
    assert_eq!(
        [
            VHOST_IOTLB_ACCESS_FAIL,
            VHOST_IOTLB_BATCH_BEGIN,
            VHOST_IOTLB_BATCH_END
        ],
        [4, 5, 6]
    );
    assert_eq!((VHOST_IOTLB_MSG, VHOST_IOTLB_MSG_V2), (1, 2));
    assert_eq!(
        (VHOST_ACCESS_RO, VHOST_ACCESS_WO, VHOST_ACCESS_RW),
        (1, 2, 3)
    );
    assert_eq!(VHOST_VRING_F_LOG, 0);
    assert_eq!(VHOST_MAX_MEM_REGIONS, 64);
    assert_eq!(VHOST_DEFAULT_MAX_IOTLB_ENTRIES, 2048);
    assert_eq!(
        [
            VIRTIO_CONFIG_S_ACKNOWLEDGE,
            VIRTIO_CONFIG_S_DRIVER,
            VIRTIO_CONFIG_S_DRIVER_OK,
            VIRTIO_CONFIG_S_FEATURES_OK,
            VIRTIO_CONFIG_S_NEEDS_RESET,
            VIRTIO_CONFIG_S_FAILED,
        ],
        [1, 2, 4, 8, 0x40, 0x80]
    );
    assert_eq!((VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM), (32, 33));
}

#[test]
fn errno_values() {
    let all = [
        (EPERM, 1),
        (ENOENT, 2),
        (EIO, 5),
        (E2BIG, 7),
        (EBADF, 9),
        (ENOMEM, 12),
        (EFAULT, 14),
        (EBUSY, 16),
        (EEXIST, 17),
        (ENODEV, 19),
        (EINVAL, 22),
        (ENOTTY, 25),
        (ENOSPC, 28),
        (EOPNOTSUPP, 95),
        (ENOBUFS, 105),
        (ENOTSUPP, 524),
    ];
    for (got, want) in all {
        assert_eq!(got, want);
    }
}

// ---------------------------------------------------------- IOTLB write

fn update(iova: u64, size: u64) -> IotlbMsg {
    IotlbMsg {
        iova,
        size,
        uaddr: 0x7f00_0000_0000,
        perm: VHOST_ACCESS_RW,
        kind: VHOST_IOTLB_UPDATE,
    }
}

#[test]
fn encode_v2_and_v1_layout() {
    let m = update(0x1000, 0x2000);
    let b = encode_msg_v2(5, &m);
    assert_eq!(u32_at(&b, 0), 2);
    assert_eq!(u32_at(&b, 4), 5);
    assert_eq!(&b[8..40], &m.to_bytes());
    assert_eq!(b[8 + 24], VHOST_ACCESS_RW, "perm at +24 of the body");
    assert_eq!(b[8 + 25], VHOST_IOTLB_UPDATE, "type at +25 of the body");
    assert!(b[40..].iter().all(|&x| x == 0));

    let b = encode_msg_v1(&m);
    assert_eq!(u32_at(&b, 0), 1);
    assert_eq!(u32_at(&b, 4), 0, "hole is zero");
    assert_eq!(&b[8..40], &m.to_bytes());
    assert!(b[40..].iter().all(|&x| x == 0));
}

#[test]
fn write_shorter_than_type_is_einval() {
    for n in 0..=3 {
        let buf = vec![2u8; n];
        assert_eq!(parse_iotlb_write(&buf, false), Err(EINVAL), "{n} bytes");
        assert_eq!(parse_iotlb_write(&buf, true), Err(EINVAL), "{n} bytes");
    }
}

#[test]
fn write_bad_outer_type_is_einval() {
    let m = update(0, 0x1000);
    for t in [0u32, 3, 0xFF, 0x8000_0000, u32::MAX] {
        let mut b = encode_msg_v2(0, &m);
        b[..4].copy_from_slice(&t.to_ne_bytes());
        assert_eq!(parse_iotlb_write(&b, false), Err(EINVAL), "type {t}");
        assert_eq!(parse_iotlb_write(&b, true), Err(EINVAL), "type {t}");
    }
}

#[test]
fn write_needs_40_bytes_returns_72() {
    let m = update(0x1000, 0x1000);
    for (b, acked) in [
        (encode_msg_v2(0, &m), false),
        (encode_msg_v2(0, &m), true),
        (encode_msg_v1(&m), false),
        (encode_msg_v1(&m), true),
    ] {
        for n in 4..40 {
            assert_eq!(parse_iotlb_write(&b[..n], acked), Err(EINVAL), "{n}");
        }
        let p = parse_iotlb_write(&b[..40], acked).unwrap();
        assert_eq!(p.msg, m);
        assert_eq!(p.consumed_reply, 72);
        let p = parse_iotlb_write(&b, acked).unwrap();
        assert_eq!(p.consumed_reply, 72);
    }
}

#[test]
fn write_of_two_messages_processes_first_only() {
    let first = update(0x1000, 0x1000);
    let second = update(0x9000, 0x1000);
    let mut buf: Vec<u8> = encode_msg_v2(0, &first).to_vec();
    buf.extend_from_slice(&encode_msg_v2(0, &second));
    assert_eq!(buf.len(), 144);
    let p = parse_iotlb_write(&buf, false).unwrap();
    assert_eq!(p.msg, first);
    assert_eq!(p.consumed_reply, 72);
}

#[test]
fn write_asid_only_when_acked() {
    let m = update(0x1000, 0x1000);
    let b = encode_msg_v2(5, &m);
    assert_eq!(parse_iotlb_write(&b, false).unwrap().asid, 0, "ignored");
    assert_eq!(parse_iotlb_write(&b, true).unwrap().asid, 5, "honoured");
    // V1 never carries an asid, even with the hole filled in.
    let mut v1 = encode_msg_v1(&m);
    v1[4..8].copy_from_slice(&7u32.to_ne_bytes());
    assert_eq!(parse_iotlb_write(&v1, true).unwrap().asid, 0);
    // Acked V2 with only the type and part of the asid.
    assert_eq!(parse_iotlb_write(&b[..6], true), Err(EINVAL));
}

#[test]
fn write_update_size_zero_is_einval_other_kinds_pass_framing() {
    let b = encode_msg_v2(0, &update(0x1000, 0));
    assert_eq!(parse_iotlb_write(&b, false), Err(EINVAL));
    // INVALIDATE {0, 0} is legal framing (it means "remove all").
    let inv = IotlbMsg {
        kind: VHOST_IOTLB_INVALIDATE,
        ..IotlbMsg::default()
    };
    assert!(parse_iotlb_write(&encode_msg_v2(0, &inv), false).is_ok());
    // Unknown inner types pass framing; the handler rejects them.
    for kind in [0u8, 1, 4, 7, 255] {
        let m = IotlbMsg {
            kind,
            ..IotlbMsg::default()
        };
        let p = parse_iotlb_write(&encode_msg_v2(0, &m), false).unwrap();
        assert_eq!(check_iotlb_kind(p.msg.kind), Err(EINVAL));
        assert_eq!(write_errno(EINVAL), EFAULT);
    }
}

#[test]
fn handler_errors_become_efault() {
    for e in [EPERM, EINVAL, EEXIST, ENOSPC, ENOMEM, EIO, EOPNOTSUPP] {
        assert_eq!(write_errno(e), EFAULT);
    }
}

#[test]
fn iotlb_kind_classification() {
    for k in 0..=255u8 {
        let want = match k {
            2 => Ok(IotlbKind::Update),
            3 => Ok(IotlbKind::Invalidate),
            5 => Ok(IotlbKind::BatchBegin),
            6 => Ok(IotlbKind::BatchEnd),
            _ => Err(EINVAL),
        };
        assert_eq!(check_iotlb_kind(k), want, "kind {k}");
    }
    assert!(IotlbKind::Update.allocates_as());
    assert!(IotlbKind::BatchBegin.allocates_as());
    assert!(!IotlbKind::Invalidate.allocates_as());
    assert!(!IotlbKind::BatchEnd.allocates_as());
}

#[test]
fn update_range_checks() {
    let full = IovaRange::FULL;
    assert_eq!(check_update_range(0x1000, 0x1000, full), Ok(0x1fff));
    assert_eq!(check_update_range(0x1000, 0, full), Err(EINVAL));
    // Section 6.8 #39: iova = ~0 - 10, size = 100 wraps.
    assert_eq!(check_update_range(!0 - 10, 100, full), Err(EINVAL));
    // Ends exactly at 2^64 - 1: allowed (iova == U64_MAX - size + 1).
    assert_eq!(check_update_range(!0 - 99, 100, full), Ok(u64::MAX));
    assert_eq!(check_update_range(!0 - 98, 100, full), Err(EINVAL));
    assert_eq!(check_update_range(0, u64::MAX, full), Ok(u64::MAX - 1));
    assert_eq!(check_update_range(1, u64::MAX, full), Ok(u64::MAX));
    assert_eq!(check_update_range(2, u64::MAX, full), Err(EINVAL));
    assert_eq!(check_update_range(u64::MAX, 1, full), Ok(u64::MAX));

    let r = IovaRange {
        first: 0x1000,
        last: 0xffff,
    };
    assert_eq!(check_update_range(0xfff, 1, r), Err(EINVAL), "below first");
    assert_eq!(check_update_range(0x1000, 0xf000, r), Ok(0xffff));
    assert_eq!(
        check_update_range(0x1000, 0xf001, r),
        Err(EINVAL),
        "past last"
    );
    assert_eq!(check_update_range(0xffff, 1, r), Ok(0xffff));
}

#[test]
fn invalidate_bounds_and_overlap() {
    assert_eq!(invalidate_bounds(0, 0), (0, u64::MAX), "{{0, 0}} is all");
    assert_eq!(invalidate_bounds(0, u64::MAX), (0, u64::MAX - 1));
    assert_eq!(invalidate_bounds(0x1000, 0x1000), (0x1000, 0x1fff));
    // {0, SIZE_MAX} spares only a map of the single byte 2^64 - 1.
    let (f, l) = invalidate_bounds(0, u64::MAX);
    assert!(!iotlb_overlaps(u64::MAX, u64::MAX, f, l));
    assert!(iotlb_overlaps(u64::MAX - 1, u64::MAX, f, l));
    // A sub-range hits the whole containing map; disjoint ones are missed.
    assert!(iotlb_overlaps(0x1000, 0x4fff, 0x2000, 0x2fff));
    assert!(!iotlb_overlaps(0x1000, 0x1fff, 0x2000, 0x2fff));
    assert!(iotlb_overlaps(0x1000, 0x1fff, 0x1fff, 0x2fff), "touching");
    // size 0 at iova > 0 only hits maps straddling iova - 1 / iova.
    let (f, l) = invalidate_bounds(0x2000, 0);
    assert_eq!((f, l), (0x2000, 0x1fff));
    assert!(iotlb_overlaps(0x1000, 0x2fff, f, l));
    assert!(!iotlb_overlaps(0x1000, 0x1fff, f, l));
    assert!(!iotlb_overlaps(0x2000, 0x2fff, f, l));
}

// ---------------------------------------------------- ioctl argument checks

#[test]
fn config_access_rules() {
    let size = 24;
    assert_eq!(check_config_access(0, 24, size), Ok(()));
    assert_eq!(check_config_access(8, 2, size), Ok(()));
    assert_eq!(check_config_access(23, 1, size), Ok(()));
    assert_eq!(check_config_access(0, 0, size), Err(EINVAL), "len 0");
    assert_eq!(check_config_access(25, 1, size), Err(EINVAL), "off > size");
    assert_eq!(check_config_access(24, 1, size), Err(EINVAL), "off == size");
    assert_eq!(
        check_config_access(20, 5, size),
        Err(EINVAL),
        "E2BIG -> EINVAL"
    );
    assert_eq!(check_config_access(0, 25, size), Err(EINVAL));
    assert_eq!(check_config_access(0, u32::MAX, size), Err(EINVAL));
    assert_eq!(check_config_access(1, u32::MAX, size), Err(EINVAL));
    assert_eq!(
        check_config_access(u32::MAX, u32::MAX, u32::MAX),
        Err(EINVAL)
    );
    assert_eq!(check_config_access(u32::MAX, 1, u32::MAX), Err(EINVAL));
    assert_eq!(check_config_access(u32::MAX - 1, 1, u32::MAX), Ok(()));
    assert_eq!(check_config_access(0, u32::MAX, u32::MAX), Ok(()));
}

#[test]
fn vring_num_rules() {
    for (num, want) in [
        (0, Err(EINVAL)),
        (1, Ok(1)),
        (2, Ok(2)),
        (3, Err(EINVAL)),
        (255, Err(EINVAL)),
        (256, Ok(256)),
        (512, Err(EINVAL)),
        (0x1_0000, Err(EINVAL)),
        (0x1_0100, Err(EINVAL)),
        (u32::MAX, Err(EINVAL)),
    ] {
        assert_eq!(check_vring_num(num, 256), want, "num {num}");
    }
    assert_eq!(check_vring_num(0x8000, 0xffff), Ok(0x8000));
    assert_eq!(check_vring_num(0x8000, 0x7fff), Err(EINVAL));
    assert_eq!(check_vring_num(1, 0), Err(EINVAL));
}

fn good_addr() -> VringAddr {
    VringAddr {
        index: 0,
        flags: 0,
        desc_user_addr: 0x1001, // desc alignment is not checked
        used_user_addr: 0x3000,
        avail_user_addr: 0x2002,
        log_guest_addr: 0,
    }
}

#[test]
fn vring_addr_rules() {
    assert_eq!(check_vring_addr(&good_addr()), Ok(()));
    let log = VringAddr {
        flags: 1,
        ..good_addr()
    };
    assert_eq!(check_vring_addr(&log), Ok(()));
    for flags in [2, 3, 0x8000_0000] {
        let a = VringAddr {
            flags,
            ..good_addr()
        };
        assert_eq!(check_vring_addr(&a), Err(EOPNOTSUPP), "flags {flags}");
    }
    let odd_avail = VringAddr {
        avail_user_addr: 0x2001,
        ..good_addr()
    };
    assert_eq!(check_vring_addr(&odd_avail), Err(EINVAL));
    for used in [0x3001, 0x3002, 0x3003] {
        let a = VringAddr {
            used_user_addr: used,
            ..good_addr()
        };
        assert_eq!(check_vring_addr(&a), Err(EINVAL), "used {used:#x}");
    }
    // The log address is checked even with the LOG flag clear.
    let bad_log = VringAddr {
        log_guest_addr: 2,
        ..good_addr()
    };
    assert_eq!(check_vring_addr(&bad_log), Err(EINVAL));
    // The flags check comes first.
    let both = VringAddr {
        flags: 2,
        ..odd_avail
    };
    assert_eq!(check_vring_addr(&both), Err(EOPNOTSUPP));
    // On a 64-bit build any address fits in unsigned long.
    let high = VringAddr {
        desc_user_addr: u64::MAX,
        used_user_addr: u64::MAX - 3,
        avail_user_addr: u64::MAX - 1,
        ..good_addr()
    };
    if usize::BITS == 64 {
        assert_eq!(check_vring_addr(&high), Ok(()));
    } else {
        assert_eq!(check_vring_addr(&high), Err(EFAULT));
    }
}

#[test]
fn vring_base_rules() {
    assert_eq!(check_vring_base(0), Ok(0));
    assert_eq!(check_vring_base(0xffff), Ok(0xffff));
    assert_eq!(check_vring_base(0x1_0000), Err(EINVAL));
    assert_eq!(check_vring_base(u32::MAX), Err(EINVAL));
}

#[test]
fn status_rules() {
    assert_eq!(check_status(0x0F, 0x07), Err(EINVAL), "clears FEATURES_OK");
    assert_eq!(check_status(0x0F, 0), Ok(StatusChange::Reset));
    assert_eq!(check_status(0, 0), Ok(StatusChange::Reset));
    assert_eq!(check_status(0x03, 0x0B), Ok(StatusChange::Set(0x0B)));
    assert_eq!(check_status(0x0B, 0x0F), Ok(StatusChange::Set(0x0F)));
    assert_eq!(check_status(0x0F, 0x0F), Ok(StatusChange::Set(0x0F)));
    // No ordering checks: DRIVER_OK without FEATURES_OK, FAILED, NEEDS_RESET.
    assert_eq!(check_status(0x03, 0x07), Ok(StatusChange::Set(0x07)));
    assert_eq!(check_status(0, 0x80), Ok(StatusChange::Set(0x80)));
    assert_eq!(check_status(0x0F, 0x4F), Ok(StatusChange::Set(0x4F)));
    assert_eq!(check_status(0x80, 0x01), Err(EINVAL));
}

#[test]
fn mem_table_header_rules() {
    let ok = MemoryHeader {
        nregions: 64,
        padding: 0,
    };
    assert_eq!(check_mem_table_header(&ok), Ok(()));
    let many = MemoryHeader {
        nregions: 65,
        padding: 0,
    };
    assert_eq!(check_mem_table_header(&many), Err(E2BIG));
    let pad = MemoryHeader {
        nregions: 65,
        padding: 1,
    };
    assert_eq!(
        check_mem_table_header(&pad),
        Err(EOPNOTSUPP),
        "padding first"
    );
    let zero = MemoryHeader::default();
    assert_eq!(check_mem_table_header(&zero), Ok(()));
}

#[test]
fn group_index_and_fork_rules() {
    assert_eq!(check_vring_index(2, 3), Ok(2));
    assert_eq!(check_vring_index(3, 3), Err(ENOBUFS));
    assert_eq!(check_vring_index(u32::MAX, 3), Err(ENOBUFS));
    assert_eq!(check_vring_index(0, 0), Err(ENOBUFS));
    // SET_GROUP_ASID on vdpa_sim_net: 3 vqs, 2 groups, 2 address spaces.
    assert_eq!(check_group_asid(1, 1, 2, 2), Ok(()));
    assert_eq!(
        check_group_asid(2, 0, 2, 2),
        Err(EINVAL),
        "group >= ngroups"
    );
    assert_eq!(check_group_asid(0, 2, 2, 2), Err(EINVAL), "asid >= nas");
    assert_eq!(check_vq_group(0, 1), Ok(0));
    assert_eq!(check_vq_group(1, 1), Err(EIO));
    assert_eq!(check_fork_owner_value(0), Ok(false));
    assert_eq!(check_fork_owner_value(1), Ok(true));
    assert_eq!(check_fork_owner_value(2), Err(EINVAL));
}

// ------------------------------------------------------- backend features

const NONE: BackendCaps = BackendCaps {
    suspend: false,
    resume: false,
    desc_group: false,
    persist: false,
    enable_after_driver_ok: false,
};
const SIM: BackendCaps = BackendCaps {
    suspend: true,
    resume: true,
    desc_group: false,
    persist: true,
    enable_after_driver_ok: true,
};
const ALL_CAPS: BackendCaps = BackendCaps {
    suspend: true,
    resume: true,
    desc_group: true,
    persist: true,
    enable_after_driver_ok: true,
};

#[test]
fn offered_backend_features_values() {
    assert_eq!(offered_backend_features(NONE), 0xE);
    assert_eq!(offered_backend_features(SIM), 0x17E, "vdpa_sim_net");
    assert_eq!(offered_backend_features(ALL_CAPS), 0x1FE);
    let only_eado = BackendCaps {
        enable_after_driver_ok: true,
        ..NONE
    };
    assert_eq!(offered_backend_features(only_eado), 0x4E);
}

#[test]
fn backend_features_unknown_bits_eopnotsupp() {
    assert_eq!(check_backend_features(0, NONE), Ok(()));
    assert_eq!(
        check_backend_features(1, ALL_CAPS),
        Err(EOPNOTSUPP),
        "bit 0"
    );
    for bit in 9..64 {
        assert_eq!(
            check_backend_features(1 << bit, ALL_CAPS),
            Err(EOPNOTSUPP),
            "bit {bit}"
        );
    }
    // What QEMU 7.2 and DPDK 22.11 ack.
    assert_eq!(check_backend_features(0x6, NONE), Ok(()));
    assert_eq!(check_backend_features(0xE, NONE), Ok(()));
    // Everything offered is acceptable back.
    for caps in [NONE, SIM, ALL_CAPS] {
        assert_eq!(
            check_backend_features(offered_backend_features(caps), caps),
            Ok(())
        );
    }
}

#[test]
fn backend_features_conditional_bits() {
    assert_eq!(
        check_backend_features(BACKEND_SUSPEND, NONE),
        Err(EOPNOTSUPP)
    );
    assert_eq!(check_backend_features(BACKEND_SUSPEND, SIM), Ok(()));
    assert_eq!(
        check_backend_features(BACKEND_RESUME, NONE),
        Err(EOPNOTSUPP)
    );
    assert_eq!(check_backend_features(BACKEND_RESUME, SIM), Ok(()));
    assert_eq!(
        check_backend_features(BACKEND_IOTLB_PERSIST, NONE),
        Err(EOPNOTSUPP)
    );
    assert_eq!(check_backend_features(BACKEND_IOTLB_PERSIST, SIM), Ok(()));
    // ENABLE_AFTER_DRIVER_OK is accepted even if not offered.
    assert_eq!(
        check_backend_features(BACKEND_ENABLE_AFTER_DRIVER_OK, NONE),
        Ok(())
    );
    // DESC_ASID: without IOTLB_ASID EINVAL, before the desc-group check.
    assert_eq!(
        check_backend_features(BACKEND_DESC_ASID, ALL_CAPS),
        Err(EINVAL)
    );
    assert_eq!(check_backend_features(BACKEND_DESC_ASID, NONE), Err(EINVAL));
    let with_asid = BACKEND_DESC_ASID | BACKEND_IOTLB_ASID;
    assert_eq!(check_backend_features(with_asid, NONE), Err(EOPNOTSUPP));
    assert_eq!(check_backend_features(with_asid, ALL_CAPS), Ok(()));
    // SUSPEND is checked before DESC_ASID.
    assert_eq!(
        check_backend_features(BACKEND_SUSPEND | BACKEND_DESC_ASID, NONE),
        Err(EOPNOTSUPP)
    );
    // Unknown bits are checked before everything.
    assert_eq!(
        check_backend_features(BACKEND_DESC_ASID | 1 << 9, NONE),
        Err(EOPNOTSUPP)
    );
}

// ---------------------------------------------------------------- routing

const NVQS: u32 = 3;

/// Runs `preflight` with an argument whose first u32 is `first` (None:
/// NULL or unreadable) and records the read length asked for.
fn pre(cmd: u32, owner: Owner, first: Option<u32>) -> (Result<Dispatch, Errno>, Option<usize>) {
    pre_of(false, cmd, owner, first)
}

/// [`pre`] for a device that logs (`logs`) or not.
fn pre_of(
    logs: bool,
    cmd: u32,
    owner: Owner,
    first: Option<u32>,
) -> (Result<Dispatch, Errno>, Option<usize>) {
    let mut asked = None;
    let r = preflight(cmd, owner, NVQS, logs, |len| {
        asked = Some(len);
        first
    });
    (r, asked)
}

const DEVICE_LEVEL: [(u32, DeviceCmd); 17] = [
    (VHOST_GET_FEATURES, DeviceCmd::GetFeatures),
    (VHOST_SET_FEATURES, DeviceCmd::SetFeatures),
    (VHOST_GET_BACKEND_FEATURES, DeviceCmd::GetBackendFeatures),
    (VHOST_VDPA_GET_DEVICE_ID, DeviceCmd::GetDeviceId),
    (VHOST_VDPA_GET_STATUS, DeviceCmd::GetStatus),
    (VHOST_VDPA_SET_STATUS, DeviceCmd::SetStatus),
    (VHOST_VDPA_GET_CONFIG, DeviceCmd::GetConfig),
    (VHOST_VDPA_SET_CONFIG, DeviceCmd::SetConfig),
    (VHOST_VDPA_GET_VRING_NUM, DeviceCmd::GetVringNum),
    (VHOST_VDPA_SET_CONFIG_CALL, DeviceCmd::SetConfigCall),
    (VHOST_VDPA_GET_IOVA_RANGE, DeviceCmd::GetIovaRange),
    (VHOST_VDPA_GET_CONFIG_SIZE, DeviceCmd::GetConfigSize),
    (VHOST_VDPA_GET_AS_NUM, DeviceCmd::GetAsNum),
    (VHOST_VDPA_GET_VQS_COUNT, DeviceCmd::GetVqsCount),
    (VHOST_VDPA_GET_GROUP_NUM, DeviceCmd::GetGroupNum),
    (VHOST_VDPA_SUSPEND, DeviceCmd::Suspend),
    (VHOST_VDPA_RESUME, DeviceCmd::Resume),
];

const VRING_LEVEL: [(u32, VringCmd); 14] = [
    (VHOST_SET_VRING_NUM, VringCmd::SetNum),
    (VHOST_SET_VRING_ADDR, VringCmd::SetAddr),
    (VHOST_SET_VRING_BASE, VringCmd::SetBase),
    (VHOST_GET_VRING_BASE, VringCmd::GetBase),
    (VHOST_SET_VRING_KICK, VringCmd::SetKick),
    (VHOST_SET_VRING_CALL, VringCmd::SetCall),
    (VHOST_SET_VRING_ERR, VringCmd::SetErr),
    (
        VHOST_SET_VRING_BUSYLOOP_TIMEOUT,
        VringCmd::SetBusyloopTimeout,
    ),
    (
        VHOST_GET_VRING_BUSYLOOP_TIMEOUT,
        VringCmd::GetBusyloopTimeout,
    ),
    (VHOST_VDPA_SET_VRING_ENABLE, VringCmd::SetEnable),
    (VHOST_VDPA_GET_VRING_GROUP, VringCmd::GetGroup),
    (VHOST_VDPA_GET_VRING_DESC_GROUP, VringCmd::GetDescGroup),
    (VHOST_VDPA_SET_GROUP_ASID, VringCmd::SetGroupAsid),
    (VHOST_VDPA_GET_VRING_SIZE, VringCmd::GetSize),
];

#[test]
fn route_table() {
    assert_eq!(route(VHOST_SET_BACKEND_FEATURES), Route::BackendFeatures);
    assert!(!Route::BackendFeatures.takes_dev_mutex());
    for (cmd, d) in DEVICE_LEVEL {
        assert_eq!(route(cmd), Route::Device(d), "{cmd:#x}");
        assert!(!route(cmd).needs_owner());
        assert!(route(cmd).takes_dev_mutex());
    }
    assert_eq!(route(VHOST_SET_LOG_BASE), Route::Log(LogCmd::Base));
    assert_eq!(route(VHOST_SET_LOG_FD), Route::Log(LogCmd::Fd));
    assert_eq!(route(VHOST_SET_OWNER), Route::SetOwner);
    assert_eq!(route(VHOST_SET_FORK_FROM_OWNER), Route::SetForkFromOwner);
    assert_eq!(route(VHOST_GET_FORK_FROM_OWNER), Route::GetForkFromOwner);
    assert_eq!(route(VHOST_SET_MEM_TABLE), Route::SetMemTable);
    assert!(Route::SetMemTable.needs_owner());
    for (cmd, v) in VRING_LEVEL {
        assert_eq!(route(cmd), Route::Vring(v), "{cmd:#x}");
        assert!(route(cmd).needs_owner());
        assert!(v.is_handled());
    }
    assert_eq!(
        route(VHOST_SET_VRING_ENDIAN),
        Route::Vring(VringCmd::Endian)
    );
    assert_eq!(
        route(VHOST_GET_VRING_ENDIAN),
        Route::Vring(VringCmd::Endian)
    );
    for cmd in [
        VHOST_RESET_OWNER,
        VHOST_NEW_WORKER,
        VHOST_FREE_WORKER,
        VHOST_ATTACH_VRING_WORKER,
        VHOST_GET_VRING_WORKER,
        0,
        0xdead_beef,
        io(VHOST_VIRTIO, 0x50),
    ] {
        assert_eq!(route(cmd), Route::Vring(VringCmd::Unhandled), "{cmd:#x}");
    }
    // Every known ioctl has been classified above exactly once.
    let classified = 1 + DEVICE_LEVEL.len() + 2 + 3 + 1 + VRING_LEVEL.len() + 2 + 5;
    assert_eq!(classified, Ioctl::ALL.len());
}

#[test]
fn device_level_ioctls_need_no_owner() {
    // Section 6.2 #7, including before SET_OWNER and from another mm.
    for owner in [Owner::None, Owner::Other, Owner::Caller] {
        for (cmd, d) in DEVICE_LEVEL {
            let (r, asked) = pre(cmd, owner, None);
            assert_eq!(r, Ok(Dispatch::Device(d)), "{cmd:#x} {owner:?}");
            assert_eq!(asked, None, "no index read");
        }
        let (r, _) = pre(VHOST_SET_BACKEND_FEATURES, owner, None);
        assert_eq!(r, Ok(Dispatch::BackendFeatures));
        let (r, _) = pre(VHOST_GET_FORK_FROM_OWNER, owner, None);
        assert_eq!(r, Ok(Dispatch::GetForkFromOwner));
    }
}

#[test]
fn vring_ioctls_and_mem_table_need_owner() {
    // Section 6.2 #5 and #8: EPERM before the argument is even read.
    for owner in [Owner::None, Owner::Other] {
        for (cmd, _) in VRING_LEVEL {
            assert_eq!(pre(cmd, owner, Some(0)), (Err(EPERM), None), "{cmd:#x}");
        }
        assert_eq!(pre(VHOST_SET_MEM_TABLE, owner, Some(0)).0, Err(EPERM));
        assert_eq!(pre(0xdead_beef, owner, None).0, Err(EPERM), "unknown");
        assert_eq!(pre(VHOST_RESET_OWNER, owner, None).0, Err(EPERM));
    }
    assert_eq!(
        pre(VHOST_SET_MEM_TABLE, Owner::Caller, None).0,
        Ok(Dispatch::SetMemTable)
    );
    assert_eq!(check_owner(Owner::Caller), Ok(()));
    assert_eq!(check_owner(Owner::None), Err(EPERM));
    assert_eq!(check_owner(Owner::Other), Err(EPERM));
}

#[test]
fn set_owner_twice_is_ebusy() {
    // Section 6.2 #6.
    assert_eq!(
        pre(VHOST_SET_OWNER, Owner::None, None).0,
        Ok(Dispatch::SetOwner)
    );
    assert_eq!(pre(VHOST_SET_OWNER, Owner::Caller, None).0, Err(EBUSY));
    assert_eq!(pre(VHOST_SET_OWNER, Owner::Other, None).0, Err(EBUSY));
    assert_eq!(
        pre(VHOST_SET_FORK_FROM_OWNER, Owner::None, None).0,
        Ok(Dispatch::SetForkFromOwner)
    );
    assert_eq!(
        pre(VHOST_SET_FORK_FROM_OWNER, Owner::Caller, None).0,
        Err(EBUSY)
    );
}

#[test]
fn generic_dispatch_of_unknown_commands() {
    // Section 6.3 #9 with nvqs = 3.
    let unknown = iowr(VHOST_VIRTIO, 0x5A, 8);
    assert_eq!(pre(unknown, Owner::Caller, Some(2)), (Err(ENOTTY), Some(4)));
    assert_eq!(pre(unknown, Owner::Caller, Some(3)).0, Err(ENOBUFS));
    assert_eq!(pre(unknown, Owner::Caller, None).0, Err(EFAULT));
    assert_eq!(pre(unknown, Owner::Other, Some(0)).0, Err(EPERM));
    // The worker ioctls behave the same.
    assert_eq!(pre(VHOST_NEW_WORKER, Owner::Caller, Some(0)).0, Err(ENOTTY));
    assert_eq!(
        pre(VHOST_GET_VRING_WORKER, Owner::Caller, Some(9)).0,
        Err(ENOBUFS)
    );
}

#[test]
fn log_ioctls_are_enotty_unless_the_device_logs() {
    // Section 6.3 #10, owner or not, without touching the argument.
    for owner in [Owner::None, Owner::Caller, Owner::Other] {
        assert_eq!(pre(VHOST_SET_LOG_BASE, owner, None), (Err(ENOTTY), None));
        assert_eq!(pre(VHOST_SET_LOG_FD, owner, None), (Err(ENOTTY), None));
        // A logging device: SET_LOG_BASE for its owner only, as vhost_dev_ioctl();
        // SET_LOG_FD stays unsupported.
        assert_eq!(
            pre_of(true, VHOST_SET_LOG_FD, owner, None),
            (Err(ENOTTY), None)
        );
        let want = match owner {
            Owner::Caller => Ok(Dispatch::SetLogBase),
            Owner::None | Owner::Other => Err(EPERM),
        };
        assert_eq!(pre_of(true, VHOST_SET_LOG_BASE, owner, None), (want, None));
    }
}

#[test]
fn reset_owner_and_endian() {
    // Section 6.3 #11: RESET_OWNER(NULL) is EFAULT.
    assert_eq!(pre(VHOST_RESET_OWNER, Owner::Caller, None).0, Err(EFAULT));
    assert_eq!(
        pre(VHOST_RESET_OWNER, Owner::Caller, Some(0)).0,
        Err(ENOTTY)
    );
    // Section 6.3 #12.
    for cmd in [VHOST_SET_VRING_ENDIAN, VHOST_GET_VRING_ENDIAN] {
        assert_eq!(pre(cmd, Owner::Caller, Some(0)).0, Err(ENOTTY));
        assert_eq!(pre(cmd, Owner::Caller, Some(3)).0, Err(ENOBUFS));
        assert_eq!(pre(cmd, Owner::Caller, None).0, Err(EFAULT));
    }
}

#[test]
fn vring_index_checks() {
    // Section 6.7 #24, including SET_GROUP_ASID whose index is a group.
    for (cmd, v) in VRING_LEVEL {
        let (r, asked) = pre(cmd, Owner::Caller, Some(NVQS));
        assert_eq!(r, Err(ENOBUFS), "{cmd:#x}");
        let want_len = if v == VringCmd::SetNum { 8 } else { 4 };
        assert_eq!(asked, Some(want_len), "{cmd:#x}");
        assert_eq!(pre(cmd, Owner::Caller, None).0, Err(EFAULT), "{cmd:#x}");
        assert_eq!(
            pre(cmd, Owner::Caller, Some(NVQS - 1)).0,
            Ok(Dispatch::Vring { cmd: v, index: 2 }),
            "{cmd:#x}"
        );
        assert_eq!(v.index_read_len(), want_len);
    }
    assert_eq!(
        pre(VHOST_SET_VRING_NUM, Owner::Caller, Some(u32::MAX)).0,
        Err(ENOBUFS)
    );
}

#[test]
fn preflight_never_reads_outside_vring_path() {
    // Sweep every defined number plus some noise; only the vring path may
    // ask for the index, and only after the owner check.
    let mut cmds: Vec<u32> = Ioctl::ALL.iter().map(|i| i.cmd()).collect();
    cmds.extend([0, 1, 0xAF00, 0xFFFF_FFFF, 0x4008_AE00]);
    for cmd in cmds {
        for owner in [Owner::None, Owner::Caller, Owner::Other] {
            let (_, asked) = pre(cmd, owner, Some(0));
            let vring = matches!(route(cmd), Route::Vring(_));
            assert_eq!(
                asked.is_some(),
                vring && owner == Owner::Caller,
                "{cmd:#x} {owner:?}"
            );
        }
    }
}

#[test]
fn rings_change_only_while_stopped_or_suspended() {
    assert_eq!(check_vring_change(false, false), Ok(()));
    assert_eq!(check_vring_change(true, false), Err(EINVAL));
    assert_eq!(check_vring_change(true, true), Ok(()));
    // A suspension that outlived DRIVER_OK (the device was reset) changes nothing.
    assert_eq!(check_vring_change(false, true), Ok(()));
}

#[test]
fn suspend_is_a_no_op_before_driver_ok_and_needs_the_parent_after() {
    assert_eq!(check_suspend(false, false), Ok(SuspendAction::Nothing));
    assert_eq!(check_suspend(false, true), Ok(SuspendAction::Nothing));
    assert_eq!(check_suspend(true, false), Err(EOPNOTSUPP));
    assert_eq!(check_suspend(true, true), Ok(SuspendAction::Device));
}

#[test]
fn iotlb_messages_find_or_create_their_address_space() {
    let mut b = IotlbBatch::default();
    // An UPDATE creates asid 1 of 2; asid 2 does not exist.
    let r = route_iotlb_msg(IotlbKind::Update, 1, 2, false, &mut b);
    assert_eq!(
        r,
        IotlbRoute {
            create_as: true,
            outcome: Ok(())
        }
    );
    let r = route_iotlb_msg(IotlbKind::Update, 2, 2, false, &mut b);
    assert_eq!(
        r,
        IotlbRoute {
            create_as: false,
            outcome: Err(EINVAL)
        }
    );
    // INVALIDATE and BATCH_END never create one.
    for kind in [IotlbKind::Invalidate, IotlbKind::BatchEnd] {
        let r = route_iotlb_msg(kind, 1, 2, false, &mut b);
        assert_eq!(
            r,
            IotlbRoute {
                create_as: false,
                outcome: Err(EINVAL)
            }
        );
        let r = route_iotlb_msg(kind, 1, 2, true, &mut b);
        assert_eq!(r.outcome, Ok(()));
    }
    assert_eq!(b, IotlbBatch::default());
}

#[test]
fn a_batch_belongs_to_one_address_space() {
    let mut b = IotlbBatch::default();
    assert_eq!(
        route_iotlb_msg(IotlbKind::BatchBegin, 1, 2, false, &mut b).outcome,
        Ok(())
    );
    assert_eq!(b.open(), Some(1));
    // Another address space inside the batch is refused, but would still be created.
    let r = route_iotlb_msg(IotlbKind::Update, 0, 2, false, &mut b);
    assert_eq!(
        r,
        IotlbRoute {
            create_as: true,
            outcome: Err(EINVAL)
        }
    );
    assert_eq!(
        route_iotlb_msg(IotlbKind::BatchEnd, 0, 2, true, &mut b).outcome,
        Err(EINVAL)
    );
    assert_eq!(
        route_iotlb_msg(IotlbKind::Update, 1, 2, true, &mut b).outcome,
        Ok(())
    );
    assert_eq!(
        route_iotlb_msg(IotlbKind::BatchEnd, 1, 2, true, &mut b).outcome,
        Ok(())
    );
    assert_eq!(b.open(), None);
    assert_eq!(
        route_iotlb_msg(IotlbKind::Update, 0, 2, true, &mut b).outcome,
        Ok(())
    );
}

// ---------------------------------------------------------------- preflight against a model

/// `vhost_vdpa_unlocked_ioctl()`'s generic part as the kernel's C reads, over the numbers of
/// [`TABLE`] (copied from `<linux/vhost.h>`), not over [`Ioctl`]: the errno or dispatch for
/// `cmd`, and how many argument bytes it reads as the vring index.
fn model_preflight(
    logs: bool,
    cmd: u32,
    owner: Owner,
    first: Option<u32>,
) -> (Result<Dispatch, Errno>, Option<usize>) {
    if cmd == 0x4008AF25 {
        return (Ok(Dispatch::BackendFeatures), None);
    }
    if let Some(&(_, d)) = DEVICE_LEVEL.iter().find(|(c, _)| *c == cmd) {
        return (Ok(Dispatch::Device(d)), None);
    }
    let unowned = owner == Owner::None;
    let r = match cmd {
        0x4008AF04 if logs && owner == Owner::Caller => Ok(Dispatch::SetLogBase),
        0x4008AF04 if logs => Err(EPERM),
        0x4008AF04 | 0x4004AF07 => Err(ENOTTY),
        0x0000AF01 if unowned => Ok(Dispatch::SetOwner),
        0x4001AF84 if unowned => Ok(Dispatch::SetForkFromOwner),
        0x0000AF01 | 0x4001AF84 => Err(EBUSY),
        0x8001AF85 => Ok(Dispatch::GetForkFromOwner),
        _ if owner != Owner::Caller => Err(EPERM),
        0x4008AF03 => Ok(Dispatch::SetMemTable),
        _ => {
            // vhost_vdpa_vring_ioctl(): SET_VRING_NUM copies its whole struct first.
            let len = if cmd == 0x4008AF10 { 8 } else { 4 };
            let r = match first {
                None => Err(EFAULT),
                Some(i) if i >= NVQS => Err(ENOBUFS),
                Some(i) => match VRING_LEVEL.iter().find(|(c, _)| *c == cmd) {
                    Some(&(_, v)) => Ok(Dispatch::Vring { cmd: v, index: i }),
                    None => Err(ENOTTY),
                },
            };
            return (r, Some(len));
        }
    };
    (r, None)
}

#[test]
fn preflight_against_model() {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut outcomes = std::collections::BTreeSet::new();
    for i in 0..200_000 {
        let known = TABLE[(next() % TABLE.len() as u64) as usize].1;
        let cmd = match next() % 4 {
            0 | 1 => known,
            // A near miss: one bit of direction, size, type or number off.
            2 => known ^ (1 << (next() % 32)),
            _ => next() as u32,
        };
        let owner = [Owner::None, Owner::Caller, Owner::Other][(next() % 3) as usize];
        let first = match next() % 5 {
            0 => None,
            1 => Some(next() as u32),
            _ => Some((next() % u64::from(NVQS + 1)) as u32),
        };
        let logs = next() % 2 == 0;
        let want = model_preflight(logs, cmd, owner, first);
        assert_eq!(
            pre_of(logs, cmd, owner, first),
            want,
            "case {i}: cmd {cmd:#x} owner {owner:?} index {first:?}"
        );
        outcomes.insert(std::format!(
            "{:?}",
            want.0.map(|d| core::mem::discriminant(&d))
        ));
    }
    // Every errno and every kind of dispatch came up.
    assert!(outcomes.len() >= 12, "{outcomes:?}");
}

// ---------------------------------------------------------------- dirty logging

const LOG_ALL: u64 = 1 << VHOST_F_LOG_ALL;

#[test]
fn set_features_after_features_ok_may_only_toggle_logging() {
    let offered = (1 << 32) | (1 << 33) | (1 << 5) | LOG_ALL;
    let acked = (1 << 32) | (1 << 33) | (1 << 5);
    // Before FEATURES_OK anything goes to negotiation.
    assert_eq!(
        check_set_features(false, offered, 0, acked),
        Ok(FeaturesChange::Negotiate)
    );
    // QEMU 7.2's vhost_dev_set_log(): the same features with LOG_ALL set, then clear.
    assert_eq!(
        check_set_features(true, offered, acked, acked | LOG_ALL),
        Ok(FeaturesChange::Log(true))
    );
    assert_eq!(
        check_set_features(true, offered, acked | LOG_ALL, acked),
        Ok(FeaturesChange::Log(false))
    );
    // The same features again: logging stays as asked.
    assert_eq!(
        check_set_features(true, offered, acked, acked),
        Ok(FeaturesChange::Log(false))
    );
    // Bits the device does not offer are dropped before comparing, as negotiation does.
    assert_eq!(
        check_set_features(true, offered, acked, acked | (1 << 40)),
        Ok(FeaturesChange::Log(false))
    );
    // Any other change is EBUSY, as on vhost-vdpa.
    assert_eq!(
        check_set_features(true, offered, acked, acked & !(1 << 5)),
        Err(EBUSY)
    );
    assert_eq!(check_set_features(true, offered, acked, 0), Err(EBUSY));
    // A device that does not log: every SET_FEATURES after FEATURES_OK is EBUSY.
    let plain = offered & !LOG_ALL;
    assert_eq!(
        check_set_features(true, plain, acked, acked | LOG_ALL),
        Err(EBUSY)
    );
    assert_eq!(check_set_features(true, plain, acked, acked), Err(EBUSY));
}

fn ring(desc: u64, avail: u64, used: u64, flags: u32, log: u64) -> VringAddr {
    VringAddr {
        index: 0,
        flags,
        desc_user_addr: desc,
        used_user_addr: used,
        avail_user_addr: avail,
        log_guest_addr: log,
    }
}

#[test]
fn a_running_logging_device_takes_log_only_ring_address_changes() {
    let old = ring(0x1000, 0x2000, 0x3000, 0, 0);
    let log_on = ring(0x1000, 0x2000, 0x3000, 1 << VHOST_VRING_F_LOG, 0x3000);
    let moved = ring(0x1000, 0x2000, 0x4000, 1 << VHOST_VRING_F_LOG, 0x3000);
    // Stopped or suspended: anything, as vhost-vdpa.
    assert_eq!(
        check_vring_addr_change(false, false, false, &old, &moved),
        Ok(VringAddrChange::Full)
    );
    assert_eq!(
        check_vring_addr_change(true, true, false, &old, &moved),
        Ok(VringAddrChange::Full)
    );
    // Running: the log fields only, and only on a device that logs.
    assert_eq!(
        check_vring_addr_change(true, false, true, &old, &log_on),
        Ok(VringAddrChange::LogOnly)
    );
    assert_eq!(
        check_vring_addr_change(true, false, true, &log_on, &old),
        Ok(VringAddrChange::LogOnly)
    );
    assert_eq!(
        check_vring_addr_change(true, false, true, &old, &moved),
        Err(EINVAL)
    );
    assert_eq!(
        check_vring_addr_change(true, false, false, &old, &log_on),
        Err(EINVAL)
    );
    for changed in [
        ring(0x1008, 0x2000, 0x3000, 0, 0),
        ring(0x1000, 0x2002, 0x3000, 0, 0),
    ] {
        assert_eq!(
            check_vring_addr_change(true, false, true, &old, &changed),
            Err(EINVAL)
        );
    }
}

#[test]
fn log_base_must_be_a_whole_word() {
    assert_eq!(check_log_base(0x7f00_0000_1000), Ok(0x7f00_0000_1000));
    assert_eq!(check_log_base(0), Ok(0));
    assert_eq!(check_log_base(0x7f00_0000_1004), Err(EINVAL));
    assert_eq!(check_log_base(1), Err(EINVAL));
}
