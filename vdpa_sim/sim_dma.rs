// SPDX-License-Identifier: GPL-2.0
//! The device core's DMA translation table: what `DMA_CMD` does.
//!
//! A driver that hands the device addresses it does not control (vhost_mdev: user IOVAs)
//! switches translation on, and from then on the device reaches only what the driver mapped.
//! The table logic (sorted disjoint mappings, growth up to the device's limit, whole-mapping
//! removal) is the host-tested `iotlb` crate.

use super::device_memory::{DmaSpace, DmaTable};
use super::iotlb::{self, DmaTarget, Mapping};
use super::vmdev_regs::device::DmaRequest;
use super::vmdev_regs::dma;
use kernel::alloc::{flags::GFP_KERNEL, KVVec};

/// Largest DMA table (`DMA_MAX_ENTRIES`): enough for 1 GiB of guest memory pinned as single
/// 4 KiB pages, which is what a kernel without transparent huge pages hands vhost_mdev. The
/// table starts at [`iotlb::DEFAULT_CAPACITY`] entries and doubles when full, so a guest whose
/// memory arrives in huge-page runs never pays for this (8 MiB at 32 bytes an entry).
pub(crate) const DMA_MAX_ENTRIES: usize = 1 << 18;

/// Filler for unused DMA table slots (the table ignores them).
const NO_DMA_MAPPING: Mapping<DmaTarget> = Mapping {
    first: 0,
    last: 0,
    value: DmaTarget { addr: 0, perm: 0 },
};

/// Runs one `DMA_CMD` on address space `space`; returns the result for `DMA_CMD` reads. Every
/// command but a map may remove translations, so it moves the space to a new epoch, which
/// empties the workers' caches before their next pass. The device state is locked for
/// writing, so no worker pass is using the table.
pub(crate) fn run(space: &mut DmaSpace, req: DmaRequest) -> u32 {
    if req.cmd != dma::CMD_MAP {
        space.epoch = space.epoch.wrapping_add(1);
    }
    let table: &mut Option<DmaTable> = &mut space.table;
    match req.cmd {
        dma::CMD_TRANSLATE_ON => {
            if let Some(t) = table.as_mut() {
                t.clear(|_| {});
                return dma::OK;
            }
            match KVVec::from_elem(NO_DMA_MAPPING, iotlb::DEFAULT_CAPACITY, GFP_KERNEL) {
                Ok(v) => {
                    *table = Some(DmaTable::new(v));
                    dma::OK
                }
                Err(_) => dma::ERR_NOMEM,
            }
        }
        dma::CMD_TRANSLATE_OFF => {
            *table = None;
            dma::OK
        }
        dma::CMD_MAP => {
            let Some(t) = table.as_mut() else {
                return dma::ERR_OFF;
            };
            // The register file allows only the two permission bits, which are the table's.
            let target = DmaTarget {
                addr: req.addr,
                perm: (req.perm & (dma::PERM_READ | dma::PERM_WRITE)) as u8,
            };
            let grown = |n| KVVec::from_elem(NO_DMA_MAPPING, n, GFP_KERNEL).ok();
            match t.insert_growing(req.iova, req.last, target, DMA_MAX_ENTRIES, grown) {
                Ok(()) => dma::OK,
                Err(iotlb::InsertError::Overlap) => dma::ERR_EXIST,
                Err(iotlb::InsertError::Full) => dma::ERR_NOSPC,
                Err(iotlb::InsertError::NoMemory) => dma::ERR_NOMEM,
                Err(iotlb::InsertError::Invalid) => dma::ERR_INVAL,
            }
        }
        dma::CMD_UNMAP => match table.as_mut() {
            Some(t) => {
                t.remove_overlapping(req.iova, req.last, |_| {});
                dma::OK
            }
            None => dma::ERR_OFF,
        },
        _ => dma::ERR_INVAL,
    }
}

/// Runs one `DMA_CMD` on the dirty log's address space (`log::ASID`), which is always
/// translated: its table is made at the first command, and both `CMD_TRANSLATE_ON` and
/// `CMD_TRANSLATE_OFF` empty it (the register map's rule).
pub(crate) fn run_log(space: &mut DmaSpace, req: DmaRequest) -> u32 {
    let on = DmaRequest {
        cmd: dma::CMD_TRANSLATE_ON,
        ..req
    };
    if req.cmd == dma::CMD_TRANSLATE_OFF {
        return run(space, on);
    }
    if space.table.is_none() && req.cmd != dma::CMD_TRANSLATE_ON {
        let r = run(space, on);
        if r != dma::OK {
            return r;
        }
    }
    run(space, req)
}
