// SPDX-License-Identifier: GPL-2.0
//! `hold`: owns the device with a large map and sleeps until killed, so a test can SIGKILL the
//! process and check that the backend releases the pinned pages.

use std::io::Write;

use vhost_uapi::IotlbMsg;

use crate::setup::{choose_iova, iotlb_ok, open_owned};
use crate::sys::{errno_name, raise_memlock, step, update, vm_pin_line, Region};

/// Runs the subcommand; returns only on failure.
pub(crate) fn run(path: &str, mb: u64) -> Result<(), String> {
    if mb == 0 {
        return Err("--mb must be at least 1".to_string());
    }
    let len = usize::try_from(mb << 20).map_err(|_| "--mb too large".to_string())?;
    raise_memlock().map_err(|e| format!("setrlimit(RLIMIT_MEMLOCK): {}", errno_name(e)))?;
    let (dev, _, _) = open_owned(path)?;
    let range = step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
    let mem =
        Region::new(len).map_err(|e| format!("memfd region of {mb} MiB: {}", errno_name(e)))?;
    mem.touch();
    let iova = choose_iova(range, len as u64, mem.va())
        .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    let msg: IotlbMsg = update(iova, len as u64, mem.va());
    iotlb_ok(&dev, "UPDATE", &msg)?;
    println!("mapped {mb} MiB at iova {iova:#x}");
    println!("{}", vm_pin_line());
    std::io::stdout()
        .flush()
        .map_err(|e| format!("stdout: {e}"))?;
    loop {
        // SAFETY: pause() only waits for a signal.
        unsafe { libc::pause() };
    }
}
