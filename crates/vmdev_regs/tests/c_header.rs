// SPDX-License-Identifier: GPL-2.0
//! `transport/vmdev.h` (what C vendors and drivers build against) says what the register map
//! (`map.rs`, what the transport checks) says: every register at the same offset under the
//! same name, and the same DMA commands, results and permissions.

use std::collections::BTreeMap;
use vmdev_regs::map::{Register, CONFIG_BASE, MAGIC};
use vmdev_regs::{caps, dma, log};

const HEADER: &str = include_str!("../../../transport/vmdev.h");

/// Every `#define VMDEV_<NAME> <number>` of the header.
fn defines() -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in HEADER.lines() {
        let mut toks = line.split_whitespace();
        if toks.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(value)) = (toks.next(), toks.next()) else {
            continue;
        };
        let Some(name) = name.strip_prefix("VMDEV_") else {
            continue;
        };
        let parsed = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        };
        if let Ok(v) = parsed {
            out.insert(name.to_string(), v);
        }
    }
    out
}

/// The header's register offsets: the block under "Register offsets".
fn header_registers() -> BTreeMap<String, u64> {
    let start = HEADER.find("/* Register offsets").expect("register block");
    let end = start + HEADER[start..].find("\n\n").expect("end of register block");
    let block = &HEADER[start..end];
    defines()
        .into_iter()
        .filter(|(name, _)| {
            block.contains(&format!("VMDEV_{name}\t")) || block.contains(&format!("VMDEV_{name} "))
        })
        .collect()
}

#[test]
fn every_register_of_the_map_is_in_the_header_at_its_offset() {
    let regs = header_registers();
    for &r in Register::ALL {
        let off = regs
            .get(r.name())
            .unwrap_or_else(|| panic!("vmdev.h lacks VMDEV_{}", r.name()));
        assert_eq!(
            *off,
            r as u64,
            "VMDEV_{} is {:#x} in vmdev.h, {:#x} in map.rs",
            r.name(),
            off,
            r as u32
        );
    }
}

#[test]
fn every_register_of_the_header_is_in_the_map() {
    for (name, off) in header_registers() {
        if name == "CONFIG" {
            assert_eq!(
                off,
                u64::from(CONFIG_BASE),
                "VMDEV_CONFIG is not CONFIG_BASE"
            );
            continue;
        }
        let r = Register::at(off as u32)
            .unwrap_or_else(|| panic!("VMDEV_{name} ({off:#x}) is no register of map.rs"));
        assert_eq!(
            r.name(),
            name,
            "{off:#x} is {} in map.rs, VMDEV_{name} in vmdev.h",
            r.name()
        );
    }
}

#[test]
fn constants_agree() {
    let d = defines();
    let want: &[(&str, u64)] = &[
        ("MAGIC", u64::from(MAGIC)),
        ("DMA_CMD_MAP", dma::CMD_MAP.into()),
        ("DMA_CMD_UNMAP", dma::CMD_UNMAP.into()),
        ("DMA_CMD_TRANSLATE_ON", dma::CMD_TRANSLATE_ON.into()),
        ("DMA_CMD_TRANSLATE_OFF", dma::CMD_TRANSLATE_OFF.into()),
        ("DMA_OK", dma::OK.into()),
        ("DMA_ERR_INVAL", dma::ERR_INVAL.into()),
        ("DMA_ERR_EXIST", dma::ERR_EXIST.into()),
        ("DMA_ERR_NOSPC", dma::ERR_NOSPC.into()),
        ("DMA_ERR_NOMEM", dma::ERR_NOMEM.into()),
        ("DMA_ERR_NOTSUPP", dma::ERR_NOTSUPP.into()),
        ("DMA_ERR_OFF", dma::ERR_OFF.into()),
        ("DMA_PERM_READ", dma::PERM_READ.into()),
        ("DMA_PERM_WRITE", dma::PERM_WRITE.into()),
        ("DMA_PAGE_SIZE", dma::PAGE_SIZE),
        ("CAP_SUSPEND", caps::SUSPEND.into()),
        ("CAP_DIRTY_LOG", caps::DIRTY_LOG.into()),
        ("LOG_ALL", log::ALL.into()),
        ("LOG_STATUS_OVERFLOW", log::STATUS_OVERFLOW.into()),
        ("LOG_QUEUE_USED", log::QUEUE_LOG_USED.into()),
        ("LOG_ASID", log::ASID.into()),
    ];
    for &(name, v) in want {
        assert_eq!(d.get(name).copied(), Some(v), "VMDEV_{name}");
    }
    // Every DMA and capability constant of the header is one of those.
    for name in d.keys().filter(|n| {
        (n.starts_with("DMA_") || n.starts_with("CAP_") || n.starts_with("LOG_"))
            && !header_registers().contains_key(*n)
    }) {
        assert!(
            want.iter().any(|(w, _)| w == name),
            "VMDEV_{name} is not checked against map.rs"
        );
    }
}

#[test]
fn the_parser_sees_the_whole_table() {
    // Guards the tests above against a header layout they would silently skip.
    assert_eq!(header_registers().len(), Register::ALL.len() + 1);
}
