// SPDX-License-Identifier: GPL-2.0
//! vhost_client: a userspace driver for the vhost-vdpa uAPI, for the VM selftests.
//!
//! It talks to `/dev/vhost-vdpa-N` (upstream vhost_vdpa over vdpa_sim_net) and to
//! `/dev/vhost-mdev-N` alike, through nothing but the uAPI of Linux 6.12 as encoded in the
//! `vhost_uapi` crate.
//!
//! ```text
//! vhost_client traffic   --dev PATH [--frames N] [--min BYTES] [--max BYTES] [--batch K]
//!                        [--suspend-every F] [--kick-after-resume 0|1]
//!                        [--late-enable 0|1] [--restarts R]
//! vhost_client dirty-log --dev PATH [--frames N] [--seed S]
//! vhost_client migrate   --dev PATH --dev2 PATH [--frames N] [--seed S]
//! vhost_client errno     --dev PATH
//! vhost_client ctrl      --dev PATH
//! vhost_client hold      --dev PATH --mb M [--fragment 0|1] [--halves 0|1]
//! vhost_client malicious --dev PATH --case loop|unmapped|huge-len|avail-jump
//! vhost_client bench     --dev PATH [--size BYTES] [--seconds S] [--batch K] [--pairs N]
//!                        [--log 0|1]
//! vhost_client map-bench --dev PATH [--maps N] [--pages P] [--rounds R] [--batched 0|1]
//!                        [--fragment 0|1]
//! vhost_client memlock-race --dev PATH --dev2 PATH [--rounds R]
//! vhost_client memlock-remap --dev PATH --dev2 PATH [--rounds R]
//! vhost_client memlock-exec --dev PATH
//! vhost_client map-fail  --dev PATH --knob SYSFS-FILE
//! vhost_client fuzz      --dev PATH [--seed S] [--ops N] [--threads T] [--seconds S]
//!                        [--park FILE]
//! vhost_client regfuzz   --regs DEBUGFS-FILE --sysfs DIR [--seed S] [--seconds S]
//! vhost_client blk       --dev PATH [--serial S] [--report 0|1]
//! vhost_client blk-read  --dev PATH --bytes N --out FILE
//! ```
//!
//! - `traffic` brings the device up like DPDK/QEMU (owner, backend features, status, features,
//!   one IOTLB map at an IOVA that is not the virtual address, RX and TX split rings, eventfd
//!   kicks and calls, DRIVER_OK), loops N frames TX to RX and checks every byte of every frame,
//!   then resets and unmaps. With `--suspend-every F` it also suspends the device every F
//!   frames sent, in the middle of the burst: each ring's `GET_VRING_BASE` must equal its used
//!   index, nothing may move or signal while suspended (more frames are posted and kicked),
//!   `SET_VRING_BASE` and `SET_VRING_ADDR` are accepted, and after RESUME every frame still
//!   comes back exactly once, with no kick after RESUME unless `--kick-after-resume 1` (which
//!   upstream's vdpa_sim needs: a kick whose work item runs after SUSPEND is lost there).
//!   `--late-enable 1` enables the rings only after DRIVER_OK;
//!   `--restarts R` resets the device R times after the run and loops all frames again each
//!   time on fresh rings and the same IOTLB map (which IOTLB_PERSIST keeps).
//! - `dirty-log` acts as a migrating VMM: it turns the device's dirty log on and off and
//!   replaces it while traffic runs, and checks that the pages marked are exactly the pages
//!   the device wrote (see `migrate.rs`). `migrate` migrates the client from the device at
//!   `--dev` to the one at `--dev2` with the log, as QEMU 7.2 does without shadow
//!   virtqueues, and checks every frame before, during and after (see `migrate.rs`).
//! - `errno` runs the bad-input catalogue: `ok <case> <got>` or
//!   `FAIL <case> got <X> expected <Y>` per case, `info <name> <value>` for values that differ
//!   between backends, and a summary line.
//! - `ctrl` moves the control queue to address space 1 and sends every control command the
//!   device offers, well-formed and malformed: `ok <case> <got>` or `FAIL ...` per case.
//! - `fuzz` runs N seeded random operations per thread on the node from T threads (see
//!   `fuzz.rs`); a seed replays each thread's sequence.
//! - `regfuzz` fuzzes a device's debugfs register file and its sysfs attributes (see
//!   `regfuzz.rs`).
//! - `memlock-race` maps two devices from two threads at once under a memlock limit that
//!   holds one map: exactly one may pass in every round. `memlock-remap` maps and
//!   invalidates 64 MiB on two devices in turn under a limit that holds one map: every map
//!   must pass, and every pin go with the devices open. `memlock-exec` maps under a limit,
//!   execs itself keeping the descriptor, and checks the limit and the pins in the new image
//!   (see `memlock.rs`). `map-fail` makes UPDATEs fail part of the way through (unpinnable
//!   pages, a full device table through its `dma_entries_max` test knob) and checks that
//!   nothing stays pinned or mapped (see `map_fail.rs`).
//! - `hold` maps M MiB, prints `mapped ...` and the `VmPin:` line, and sleeps until killed;
//!   `--fragment 1` scatters the pages physically (a run per page), `--halves 1` maps the
//!   upper half before the lower (see `hold.rs`).
//! - `malicious` posts one crafted TX request on a running device, waits up to 3 s, prints the
//!   status, resets and closes.
//! - `bench` times the bring-up (`open-to-driver-ok`), then loops frames of one size for S
//!   seconds, posting K per kick, and prints frames/s. `--pairs N` brings the device up with
//!   N queue pairs (MQ, control queue, `MQ_VQ_PAIRS_SET`) and drives each from a thread of its
//!   own; frames/s are summed, and printed per pair too. `--log 1` runs with the dirty log
//!   on, as during a migration. `map-bench` times IOTLB UPDATEs and
//!   INVALIDATEs (see `bench.rs`); `--fragment 1` scatters the pages physically.
//! - `blk` drives a block device: well-formed and malformed requests, each judged against
//!   what virtio 1.2 asks of the device (`--report 1` prints the answers instead); `blk-read`
//!   copies the first N bytes of the disk into a file (see `blk.rs`).
//!
//! Exit status: 0 on success, 1 on failure (message on stderr), 2 on bad usage.
#![warn(clippy::undocumented_unsafe_blocks)]

#[path = "vhost_client/bench.rs"]
mod bench;
#[path = "vhost_client/blk.rs"]
mod blk;
#[path = "vhost_client/ctrl.rs"]
mod ctrl;
#[path = "vhost_client/errno_cases.rs"]
mod errno_cases;
#[path = "vhost_client/fuzz.rs"]
mod fuzz;
#[path = "vhost_client/hold.rs"]
mod hold;
#[path = "vhost_client/malicious.rs"]
mod malicious;
#[path = "vhost_client/map_fail.rs"]
mod map_fail;
#[path = "vhost_client/memlock.rs"]
mod memlock;
#[path = "vhost_client/migrate.rs"]
mod migrate;
#[path = "vhost_client/mq.rs"]
mod mq;
#[path = "vhost_client/regfuzz.rs"]
mod regfuzz;
#[path = "vhost_client/ring.rs"]
mod ring;
#[path = "vhost_client/setup.rs"]
mod setup;
#[path = "vhost_client/sys.rs"]
mod sys;
#[path = "vhost_client/traffic.rs"]
mod traffic;

use std::collections::HashMap;
use std::process::ExitCode;

const USAGE: &str = "usage:
  vhost_client traffic   --dev PATH [--frames N] [--min BYTES] [--max BYTES] [--batch K]
                         [--suspend-every F] [--kick-after-resume 0|1]
                         [--late-enable 0|1] [--restarts R]
  vhost_client dirty-log --dev PATH [--frames N] [--seed S]
  vhost_client migrate   --dev PATH --dev2 PATH [--frames N] [--seed S]
  vhost_client errno     --dev PATH
  vhost_client ctrl      --dev PATH
  vhost_client hold      --dev PATH --mb M [--fragment 0|1] [--halves 0|1]
  vhost_client malicious --dev PATH --case loop|unmapped|huge-len|avail-jump
  vhost_client bench     --dev PATH [--size BYTES] [--seconds S] [--batch K] [--pairs N]
                         [--log 0|1]
  vhost_client map-bench --dev PATH [--maps N] [--pages P] [--rounds R] [--batched 0|1]
                         [--fragment 0|1]
  vhost_client memlock-race --dev PATH --dev2 PATH [--rounds R]
  vhost_client memlock-remap --dev PATH --dev2 PATH [--rounds R]
  vhost_client memlock-exec --dev PATH
  vhost_client map-fail  --dev PATH --knob SYSFS-FILE
  vhost_client fuzz      --dev PATH [--seed S] [--ops N] [--threads T] [--seconds S]
                         [--park FILE]
  vhost_client regfuzz   --regs DEBUGFS-FILE --sysfs DIR [--seed S] [--seconds S]
  vhost_client blk       --dev PATH [--serial S] [--report 0|1]
  vhost_client blk-read  --dev PATH --bytes N --out FILE";

/// `--name value` pairs, each allowed once and only from `allowed`.
fn parse_opts(args: &[String], allowed: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut m = HashMap::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .filter(|n| allowed.contains(n))
            .ok_or_else(|| format!("unknown argument '{a}'"))?;
        let v = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        if m.insert(name.to_string(), v.clone()).is_some() {
            return Err(format!("--{name} given twice"));
        }
    }
    Ok(m)
}

fn num<T: std::str::FromStr>(
    m: &HashMap<String, String>,
    name: &str,
    default: Option<T>,
) -> Result<T, String> {
    match m.get(name) {
        Some(v) => v
            .parse()
            .map_err(|_| format!("--{name}: '{v}' is not a valid number")),
        None => default.ok_or_else(|| format!("--{name} is required")),
    }
}

enum Failure {
    Usage(String),
    Run(String),
}

fn run(args: &[String]) -> Result<(), Failure> {
    let usage = Failure::Usage;
    let (cmd, rest) = args
        .split_first()
        .ok_or_else(|| usage("missing subcommand".to_string()))?;
    let allowed: &[&str] = match cmd.as_str() {
        "traffic" => &[
            "dev",
            "frames",
            "min",
            "max",
            "batch",
            "suspend-every",
            "kick-after-resume",
            "late-enable",
            "restarts",
        ],
        "errno" | "ctrl" => &["dev"],
        "dirty-log" => &["dev", "frames", "seed"],
        "migrate" => &["dev", "dev2", "frames", "seed"],
        "hold" => &["dev", "mb", "fragment", "halves"],
        "memlock-race" | "memlock-remap" => &["dev", "dev2", "rounds"],
        "memlock-exec" => &["dev", "inherited", "base"],
        "map-fail" => &["dev", "knob"],
        "fuzz" => &["dev", "seed", "ops", "threads", "seconds", "park"],
        "regfuzz" => &["regs", "sysfs", "seed", "seconds"],
        "malicious" => &["dev", "case"],
        "bench" => &["dev", "size", "seconds", "batch", "pairs", "log"],
        "map-bench" => &["dev", "maps", "pages", "rounds", "batched", "fragment"],
        "blk" => &["dev", "serial", "report"],
        "blk-read" => &["dev", "bytes", "out"],
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => return Err(usage(format!("unknown subcommand '{other}'"))),
    };
    let m = parse_opts(rest, allowed).map_err(usage)?;
    if cmd == "regfuzz" {
        let path = |k: &str| {
            m.get(k)
                .cloned()
                .ok_or_else(|| usage(format!("--{k} is required")))
        };
        let o = regfuzz::Opts {
            regs: path("regs")?,
            sysfs: path("sysfs")?,
            seed: num(&m, "seed", Some(1u64)).map_err(usage)?,
            seconds: num(&m, "seconds", Some(30.0f64)).map_err(usage)?,
        };
        return regfuzz::run(&o).map_err(Failure::Run);
    }
    let dev = m
        .get("dev")
        .cloned()
        .ok_or_else(|| usage("--dev is required".to_string()))?;
    match cmd.as_str() {
        "traffic" => {
            let o = traffic::Opts {
                frames: num(&m, "frames", Some(200)).map_err(usage)?,
                min: num(&m, "min", Some(60)).map_err(usage)?,
                max: num(&m, "max", Some(1514)).map_err(usage)?,
                batch: num(&m, "batch", Some(16)).map_err(usage)?,
                suspend_every: num(&m, "suspend-every", Some(0)).map_err(usage)?,
                kick_after_resume: match num(&m, "kick-after-resume", Some(0u8)).map_err(usage)? {
                    0 => false,
                    1 => true,
                    _ => return Err(usage("--kick-after-resume must be 0 or 1".to_string())),
                },
                late_enable: match num(&m, "late-enable", Some(0u8)).map_err(usage)? {
                    0 => false,
                    1 => true,
                    _ => return Err(usage("--late-enable must be 0 or 1".to_string())),
                },
                restarts: num(&m, "restarts", Some(0)).map_err(usage)?,
            };
            traffic::run(&dev, &o).map_err(Failure::Run)
        }
        "errno" => match errno_cases::run(&dev) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Run("some cases failed".to_string())),
            Err(e) => Err(Failure::Run(e)),
        },
        "ctrl" => ctrl::run(&dev).map_err(Failure::Run),
        "migrate" => migrate::run_migrate(
            &dev,
            m.get("dev2")
                .ok_or_else(|| usage("--dev2 is required".to_string()))?,
            num(&m, "frames", Some(300)).map_err(usage)?,
            num(&m, "seed", Some(1)).map_err(usage)?,
        )
        .map_err(Failure::Run),
        "dirty-log" => migrate::run_dirty_log(
            &dev,
            num(&m, "frames", Some(200)).map_err(usage)?,
            num(&m, "seed", Some(1)).map_err(usage)?,
        )
        .map_err(Failure::Run),
        "bench" => {
            let o = bench::Opts {
                size: num(&m, "size", Some(64)).map_err(usage)?,
                seconds: num(&m, "seconds", Some(5.0)).map_err(usage)?,
                batch: num(&m, "batch", Some(32)).map_err(usage)?,
                pairs: num(&m, "pairs", Some(1)).map_err(usage)?,
                mq: m.contains_key("pairs"),
                log: match num(&m, "log", Some(0u8)).map_err(usage)? {
                    0 => false,
                    1 => true,
                    _ => return Err(usage("--log must be 0 or 1".to_string())),
                },
            };
            bench::run(&dev, &o).map_err(Failure::Run)
        }
        "map-bench" => {
            let batched: u8 = num(&m, "batched", Some(0)).map_err(usage)?;
            if batched > 1 {
                return Err(usage("--batched must be 0 or 1".to_string()));
            }
            let o = bench::MapOpts {
                maps: num(&m, "maps", Some(64)).map_err(usage)?,
                pages: num(&m, "pages", Some(16)).map_err(usage)?,
                rounds: num(&m, "rounds", Some(20)).map_err(usage)?,
                batched: batched == 1,
                fragment: num(&m, "fragment", Some(0u8)).map_err(usage)? == 1,
            };
            bench::run_maps(&dev, &o).map_err(Failure::Run)
        }
        "hold" => {
            let flag = |k: &str| match num(&m, k, Some(0u8)).map_err(usage)? {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(usage(format!("--{k} must be 0 or 1"))),
            };
            let o = hold::Opts {
                mb: num(&m, "mb", None::<u64>).map_err(usage)?,
                fragment: flag("fragment")?,
                halves: flag("halves")?,
            };
            hold::run(&dev, &o).map_err(Failure::Run)
        }
        "fuzz" => {
            let o = fuzz::Opts {
                seed: num(&m, "seed", Some(1u64)).map_err(usage)?,
                ops: num(&m, "ops", Some(100_000u64)).map_err(usage)?,
                threads: num(&m, "threads", Some(4u32)).map_err(usage)?,
                seconds: num(&m, "seconds", Some(60.0f64)).map_err(usage)?,
            };
            fuzz::run(&dev, &o, m.get("park").map(String::as_str)).map_err(Failure::Run)
        }
        "map-fail" => {
            let knob = m
                .get("knob")
                .ok_or_else(|| usage("--knob is required".to_string()))?;
            map_fail::run(&dev, knob).map_err(Failure::Run)
        }
        "blk" => {
            let o = blk::Opts {
                serial: m.get("serial").cloned(),
                report: num(&m, "report", Some(0u8)).map_err(usage)? == 1,
            };
            blk::run(&dev, &o).map_err(Failure::Run)
        }
        "blk-read" => {
            let bytes = num(&m, "bytes", None::<u64>).map_err(usage)?;
            let out = m
                .get("out")
                .ok_or_else(|| usage("--out is required".to_string()))?;
            blk::read_to_file(&dev, bytes, out).map_err(Failure::Run)
        }
        "memlock-exec" => match m.get("inherited") {
            None => memlock::run_exec(&dev).map_err(Failure::Run),
            Some(_) => {
                let fd = num(&m, "inherited", None::<i32>).map_err(usage)?;
                let base = num(&m, "base", None::<u64>).map_err(usage)?;
                memlock::run_exec_child(&dev, fd, base).map_err(Failure::Run)
            }
        },
        "memlock-race" | "memlock-remap" => {
            let dev2 = m
                .get("dev2")
                .ok_or_else(|| usage("--dev2 is required".to_string()))?;
            let race = cmd == "memlock-race";
            let rounds = num(&m, "rounds", Some(if race { 50u32 } else { 20 })).map_err(usage)?;
            let run = if race {
                memlock::run
            } else {
                memlock::run_remap
            };
            run(&dev, dev2, rounds).map_err(Failure::Run)
        }
        _ => {
            let name = m
                .get("case")
                .ok_or_else(|| usage("--case is required".to_string()))?;
            let case = malicious::Case::parse(name)
                .ok_or_else(|| usage(format!("unknown case '{name}'")))?;
            malicious::run(&dev, case).map_err(Failure::Run)
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sub = args.first().cloned().unwrap_or_default();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("vhost_client: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
        Err(Failure::Run(msg)) => {
            eprintln!("vhost_client {sub}: {msg}");
            ExitCode::FAILURE
        }
    }
}
