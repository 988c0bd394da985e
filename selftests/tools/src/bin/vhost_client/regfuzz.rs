// SPDX-License-Identifier: GPL-2.0
//! `regfuzz`: a seeded fuzzer of a device's register window (the transport's debugfs
//! register file) and of its sysfs attributes, one thread each.
//!
//! The register thread writes `r`, `w` and `c` commands (debug.rs's language) with offsets
//! and values drawn towards the edges, and malformed commands. It never sets `DRIVER_OK`:
//! the register file is a driver's view, and a device started with random ring addresses
//! and translation off would write random physical memory, which is what root can do with
//! `/dev/mem` too, not a bug to find. Everything else goes, DMA commands included (they only
//! change the device's table). A device with a driver refuses writes (EBUSY); reads still go.
//!
//! The sysfs thread writes random, edge and well-formed values to every writable attribute
//! under the device directory, except `uevent`, `power/` and the test knobs.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::fuzz::Rng;

/// `STATUS` (register-map.rst); its `DRIVER_OK` bit (virtio 1.2, 2.1).
const STATUS: u32 = 0x060;
const DRIVER_OK: u32 = 4;

/// Options of the `regfuzz` subcommand.
pub(crate) struct Opts {
    pub(crate) regs: String,
    pub(crate) sysfs: String,
    pub(crate) seed: u64,
    pub(crate) seconds: f64,
}

/// The writable attributes under `dir` (two levels), minus those the fuzzer leaves alone.
fn attributes(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() || matches!(name.as_str(), "uevent" | "power" | "test" | "remove") {
                continue;
            }
            if ft.is_dir() {
                if depth < 1 {
                    stack.push((e.path(), depth + 1));
                }
            } else if e
                .metadata()
                .is_ok_and(|m| m.permissions().mode() & 0o200 != 0)
            {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

fn reg_thread(path: &str, r: &mut Rng, until: Instant) -> Result<(u64, u64), String> {
    let mut f: File = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("open {path}: {e}"))?;
    let (mut ops, mut refused) = (0u64, 0u64);
    let mut buf = [0u8; 256];
    while Instant::now() < until {
        ops += 1;
        let off = match r.below(4) {
            0 => r.next() as u32,
            1 => (r.below(0x1100) as u32) & !3,
            _ => (r.below(0x100) as u32) & !3,
        };
        let mut val = r.edgy() as u32;
        if off == STATUS {
            val &= !DRIVER_OK;
        }
        let cmd = match r.below(10) {
            0..=3 => format!("r {off:#x}"),
            4..=7 => format!("w {off:#x} {val:#x}"),
            8 => format!("c {} {}", r.below(0x1000), r.below(64)),
            _ => {
                let junk: Vec<u8> = (0..r.below(24)).map(|_| r.next() as u8).collect();
                String::from_utf8_lossy(&junk).into_owned()
            }
        };
        if f.write(cmd.as_bytes()).is_err() {
            refused += 1;
        }
        if r.chance(30) {
            let _ = f.read(&mut buf);
        }
    }
    Ok((ops, refused))
}

fn sysfs_thread(attrs: &[PathBuf], r: &mut Rng, until: Instant) -> (u64, u64) {
    let (mut ops, mut refused) = (0u64, 0u64);
    if attrs.is_empty() {
        return (0, 0);
    }
    while Instant::now() < until {
        ops += 1;
        let a = &attrs[r.below(attrs.len() as u64) as usize];
        let v: Vec<u8> = match r.below(6) {
            0 => (0..r.below(40)).map(|_| r.next() as u8).collect(),
            1 => format!("{}\n", r.edgy()).into_bytes(),
            2 => format!("{}\n", r.below(10)).into_bytes(),
            3 => format!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\n",
                r.next() as u8,
                r.next() as u8,
                r.next() as u8,
                r.next() as u8,
                r.next() as u8,
                r.next() as u8
            )
            .into_bytes(),
            4 => ["up\n", "down\n", "1\n", "0\n", "vhost_mdev\n", "\n"][r.below(6) as usize]
                .as_bytes()
                .to_vec(),
            _ => vec![b'9'; 1 + r.below(5000) as usize],
        };
        match OpenOptions::new().write(true).open(a) {
            Ok(mut f) => {
                if f.write(&v).is_err() {
                    refused += 1;
                }
            }
            Err(_) => refused += 1,
        }
    }
    (ops, refused)
}

/// Runs the subcommand.
pub(crate) fn run(o: &Opts) -> Result<(), String> {
    let attrs = attributes(Path::new(&o.sysfs));
    println!(
        "regfuzz: seed {} seconds {} registers {} attributes {}",
        o.seed,
        o.seconds,
        o.regs,
        attrs.len()
    );
    let until = Instant::now() + Duration::from_secs_f64(o.seconds);
    let (regs, sysfs) = std::thread::scope(|s| {
        let t = s.spawn(|| reg_thread(&o.regs, &mut Rng::new(o.seed), until));
        let sysfs = sysfs_thread(&attrs, &mut Rng::new(o.seed.wrapping_add(1)), until);
        (
            t.join()
                .unwrap_or_else(|_| Err("register thread panicked".to_string())),
            sysfs,
        )
    });
    let (rops, rref) = regs?;
    println!(
        "regfuzz: {rops} register commands ({rref} refused), {} attribute writes ({} refused)",
        sysfs.0, sysfs.1
    );
    Ok(())
}
