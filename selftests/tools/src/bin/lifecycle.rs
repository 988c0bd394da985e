// SPDX-License-Identifier: GPL-2.0
//! lifecycle: create, bind, use and remove simulated devices in a loop, both personalities,
//! with the removals, unbinds and module unloads landing in the middle of things.
//!
//! ```text
//! lifecycle --cycles N [--seed S] [--jobs J] [--modules DIR] [--tools DIR]
//! ```
//!
//! `--jobs J` runs J cycles at a time, each on its own instance (most of a cycle is waiting
//! on the device, a driver or a child, so this is what makes 10,000 cycles fit in an
//! evening). The module unloads and the pin counts need the system to themselves: they wait
//! for the other jobs to finish their cycles, and hold the next ones back.
//!
//! Each cycle creates an instance (autoprobe off, as the selftests do), runs one scenario
//! drawn from the seeded generator, and removes the instance:
//!
//! - `kernel`: virtio_mdev binds; the interface comes up and loops frames (`pktloop`);
//! - `kernel-irqs`: the same with interrupts raised during probe (test knobs
//!   `irq_at_driver_ok` and `late_irqs`);
//! - `kernel-remove`: the instance is removed while frames are in flight;
//! - `vhost`: vhost_mdev binds; `vhost_client traffic` loops frames through the node;
//! - `vhost-remove`: the instance is removed while the client's frames, kicks and calls are
//!   in flight;
//! - `vhost-update`: the instance is removed, or unbound, while an IOTLB update of 64 MiB of
//!   scattered pages is in progress (`vhost_client hold --fragment 1`);
//! - `switch`: virtio_mdev binds, is unbound, and vhost_mdev binds and loops frames;
//! - `race`: `driver_override` is rewritten while another thread binds and unbinds both
//!   drivers; afterwards the device is bound to at most one driver, and works if it is.
//!
//! With `--modules DIR` (the directory of the .ko files), every 25th cycle also unloads
//! modules in the middle: `rmmod vhost_mdev` while a client holds a node (must be refused,
//! the file holds the module), then again after it closed (must succeed) with the instance
//! still bound; `rmmod virtio_mdev` while frames are in flight on its interface (must
//! succeed and take the interface away). Each module is loaded again before the next cycle.
//!
//! Every child process runs under a deadline (a hang is a failure, not a stuck test). Every
//! 20 cycles and at the end the system's page pins must be back at their starting count.
//! Each cycle draws from its own generator, derived from the seed and its number, so a seed
//! replays the same scenarios and timings whatever the number of jobs.
//! Prints one line per failure and a summary; exits 1 if anything failed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use vmdev_selftest_tools::rng::Rng;

const SIM_TYPE: &str = "/sys/class/mdev_bus/vmdev_sim/mdev_supported_types/vmdev_sim-net";
const VMDEV_BUS: &str = "/sys/bus/vmdev";
const MAC: &str = "02:c0:00:00:00:5e";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Scenario {
    Kernel,
    KernelIrqs,
    KernelRemove,
    Vhost,
    VhostRemove,
    VhostUpdate,
    Switch,
    Race,
    Modules,
}

impl Scenario {
    const DRAWN: [Scenario; 8] = [
        Scenario::Kernel,
        Scenario::KernelIrqs,
        Scenario::KernelRemove,
        Scenario::Vhost,
        Scenario::VhostRemove,
        Scenario::VhostUpdate,
        Scenario::Switch,
        Scenario::Race,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Kernel => "kernel",
            Scenario::KernelIrqs => "kernel-irqs",
            Scenario::KernelRemove => "kernel-remove",
            Scenario::Vhost => "vhost",
            Scenario::VhostRemove => "vhost-remove",
            Scenario::VhostUpdate => "vhost-update",
            Scenario::Switch => "switch",
            Scenario::Race => "race",
            Scenario::Modules => "modules",
        }
    }
}

type Res = Result<(), String>;

fn write(path: impl AsRef<Path>, v: &str) -> Res {
    let p = path.as_ref();
    fs::write(p, v).map_err(|e| format!("write {v:?} to {}: {e}", p.display()))
}

/// Polls `f` every 10 ms for up to `secs` seconds.
fn wait_for(secs: f64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The only entry of `dir` whose name starts with `prefix`.
fn entry(dir: impl AsRef<Path>, prefix: &str) -> Option<String> {
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with(prefix))
}

/// Pages pinned system-wide and not yet released.
fn pins() -> i64 {
    let s = fs::read_to_string("/proc/vmstat").unwrap_or_default();
    let get = |k: &str| {
        s.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse::<i64>().ok())
            .unwrap_or(0)
    };
    get("nr_foll_pin_acquired ") - get("nr_foll_pin_released ")
}

/// The pin count to measure from: the lowest seen over 100 ms, since other activity in the
/// VM holds pins for moments and a base taken during one would offset every comparison.
fn base_pins() -> i64 {
    (0..20).fold(pins(), |low, _| {
        std::thread::sleep(Duration::from_millis(5));
        low.min(pins())
    })
}

/// Waits for `child` for up to `secs`; kills it if it is still running then. Returns whether
/// it succeeded.
fn finish(child: &mut Child, secs: f64, what: &str) -> Result<bool, String> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => return Ok(st.success()),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{what} hung (killed after {secs} s)"));
            }
        }
    }
}

/// Whether process `pid` has pages pinned (`VmPin` above zero): a map of it is under way.
fn pinning(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let l = s.lines().find(|l| l.starts_with("VmPin:"))?;
            l.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .is_some_and(|kb| kb > 0)
}

/// Whether process `pid` has an open file whose link reads `want` (a path, or `socket:`
/// for any socket).
fn has_open(pid: u32, want: &str) -> bool {
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|f| {
        fs::read_link(f.path()).is_ok_and(|l| {
            let l = l.to_string_lossy();
            if want == "socket:" {
                l.starts_with(want)
            } else {
                l == want
            }
        })
    })
}

/// Waits until `child` holds what `want` names (see [`has_open`]) or has ended. A removal
/// must not land before that: a node's path and an interface's name go to the next device
/// that takes them, and with several jobs that device is another job's, which a late open
/// would take over.
fn started(child: &mut Child, want: &str, what: &str) -> Res {
    let pid = child.id();
    let mut ended = false;
    let held = wait_for(30.0, || {
        ended = matches!(child.try_wait(), Ok(Some(_)));
        has_open(pid, want) || ended
    });
    if held {
        return Ok(());
    }
    let _ = child.kill();
    let _ = child.wait();
    Err(format!("{what} did not open {want} in 30 s"))
}

/// The tools and module directories.
struct Env {
    tools: PathBuf,
    modules: Option<PathBuf>,
}

impl Env {
    fn spawn(&self, name: &str, args: &[&str]) -> Result<Child, String> {
        Command::new(self.tools.join(name))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{name}: {e}"))
    }

    /// Runs a tool to completion (within `secs`); its error output is the failure.
    fn run(&self, name: &str, args: &[&str], secs: f64) -> Res {
        let mut child = self.spawn(name, args)?;
        if finish(&mut child, secs, name)? {
            return Ok(());
        }
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        Err(format!("{name} {args:?} failed: {}", err.trim()))
    }
}

/// One instance: its mdev UUID and its vmdev device name.
struct Instance {
    uuid: String,
    vmdev: String,
}

impl Instance {
    fn create(r: &mut Rng) -> Result<Self, String> {
        let (a, b) = (r.next(), r.next());
        let uuid = format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        );
        write(format!("{VMDEV_BUS}/drivers_autoprobe"), "0")?;
        let made = write(format!("{SIM_TYPE}/create"), &uuid);
        write(format!("{VMDEV_BUS}/drivers_autoprobe"), "1")?;
        made?;
        let vmdev = entry(format!("/sys/bus/mdev/devices/{uuid}"), "vmdev")
            .ok_or_else(|| format!("no vmdev device under {uuid}"))?;
        Ok(Self { uuid, vmdev })
    }

    fn dir(&self) -> String {
        format!("{VMDEV_BUS}/devices/{}", self.vmdev)
    }

    fn bind(&self, driver: &str) -> Res {
        write(format!("{}/driver_override", self.dir()), driver)?;
        write(format!("{VMDEV_BUS}/drivers/{driver}/bind"), &self.vmdev)
    }

    fn unbind(&self) -> Res {
        write(format!("{}/driver/unbind", self.dir()), &self.vmdev)
    }

    /// The bound driver's name, if any.
    fn driver(&self) -> Option<String> {
        let l = fs::read_link(format!("{}/driver", self.dir())).ok()?;
        Some(l.file_name()?.to_string_lossy().into_owned())
    }

    /// The interface virtio_net made, once it exists.
    fn netdev(&self, secs: f64) -> Result<String, String> {
        let mut name = None;
        wait_for(secs, || {
            name = entry(self.dir(), "virtio")
                .and_then(|v| entry(format!("{}/{v}/net", self.dir()), ""));
            name.is_some()
        });
        name.ok_or_else(|| format!("no interface for {}", self.vmdev))
    }

    /// The vhost node, once it exists.
    fn node(&self, secs: f64) -> Result<String, String> {
        let mut node = None;
        wait_for(secs, || {
            node = entry(format!("{}/vhost-mdev", self.dir()), "vhost-mdev")
                .map(|n| format!("/dev/{n}"))
                .filter(|p| Path::new(p).exists());
            node.is_some()
        });
        node.ok_or_else(|| format!("no vhost node for {}", self.vmdev))
    }

    fn remove(&self) -> Res {
        write(format!("/sys/bus/mdev/devices/{}/remove", self.uuid), "1")?;
        if Path::new(&format!("/sys/bus/mdev/devices/{}", self.uuid)).exists() {
            return Err(format!("{} still present after remove", self.uuid));
        }
        Ok(())
    }
}

/// Runs `prog` with `args` to completion; an error names the command.
fn command(prog: &str, args: &[&str]) -> Res {
    let st = Command::new(prog)
        .args(args)
        .status()
        .map_err(|e| format!("{prog}: {e}"))?;
    if st.success() {
        Ok(())
    } else {
        Err(format!("{prog} {} failed", args.join(" ")))
    }
}

fn link_up(nd: &str) -> Res {
    command("ip", &["link", "set", "dev", nd, "up"])
}

/// Binds virtio_mdev and loops a few frames through the interface.
fn kernel_traffic(env: &Env, i: &Instance) -> Res {
    write(format!("{}/mac", i.dir()), MAC)?;
    i.bind("virtio_mdev")?;
    let nd = i.netdev(20.0)?;
    link_up(&nd)?;
    // The link comes up asynchronously; pktloop waits for each frame.
    env.run("pktloop", &[&nd, MAC, "60", "1514", "727"], 30.0)
}

fn vhost_traffic(env: &Env, i: &Instance) -> Res {
    i.bind("vhost_mdev")?;
    let node = i.node(10.0)?;
    env.run(
        "vhost_client",
        &["traffic", "--dev", &node, "--frames", "32"],
        60.0,
    )
}

fn scenario(env: &Env, s: Scenario, i: &Instance, r: &mut Rng) -> Res {
    match s {
        Scenario::Kernel => kernel_traffic(env, i),
        Scenario::KernelIrqs => {
            write(format!("{}/test/irq_at_driver_ok", i.dir()), "1")?;
            write(
                format!("{}/test/late_irqs", i.dir()),
                &(1 + r.below(50)).to_string(),
            )?;
            kernel_traffic(env, i)
        }
        Scenario::KernelRemove => {
            write(format!("{}/mac", i.dir()), MAC)?;
            i.bind("virtio_mdev")?;
            let nd = i.netdev(20.0)?;
            link_up(&nd)?;
            let mut child = env.spawn("pktloop", &[&nd, MAC, "60", "1514", "1"])?;
            started(&mut child, "socket:", "pktloop")?;
            std::thread::sleep(Duration::from_millis(r.below(300)));
            i.remove()?;
            // Whatever pktloop says (it loses its interface), it must end.
            finish(&mut child, 30.0, "pktloop under removal").map(|_| ())
        }
        Scenario::Vhost => vhost_traffic(env, i),
        Scenario::VhostRemove => {
            i.bind("vhost_mdev")?;
            let node = i.node(10.0)?;
            let args = ["traffic", "--dev", &node, "--frames", "100000"];
            let mut child = env.spawn("vhost_client", &args)?;
            started(&mut child, &node, "vhost_client traffic")?;
            std::thread::sleep(Duration::from_millis(50 + r.below(400)));
            i.remove()?;
            finish(&mut child, 30.0, "vhost_client traffic under removal").map(|_| ())
        }
        Scenario::VhostUpdate => {
            i.bind("vhost_mdev")?;
            let node = i.node(10.0)?;
            let args = ["hold", "--dev", &node, "--mb", "64", "--fragment", "1"];
            let mut child = env.spawn("vhost_client", &args)?;
            // Once the map is charged (VmPin), it is pinning and recording runs: land at a
            // random point in it.
            if !wait_for(30.0, || pinning(child.id())) {
                let _ = child.kill();
                let _ = child.wait();
                return Err("vhost_client hold did not start its map".to_string());
            }
            std::thread::sleep(Duration::from_millis(r.below(500)));
            if r.below(2) == 0 {
                i.unbind()?;
            } else {
                i.remove()?;
            }
            // `hold` sleeps once mapped, or fails; either way it must die promptly.
            let _ = child.kill();
            finish(&mut child, 10.0, "vhost_client hold under removal").map(|_| ())
        }
        Scenario::Switch => {
            write(format!("{}/mac", i.dir()), MAC)?;
            i.bind("virtio_mdev")?;
            i.netdev(20.0)?;
            i.unbind()?;
            vhost_traffic(env, i)
        }
        Scenario::Race => race(env, i),
        Scenario::Modules => modules(env, i, r),
    }
}

/// `driver_override` against `bind` and `unbind`, from two threads.
fn race(env: &Env, i: &Instance) -> Res {
    let dir = i.dir();
    let end = Instant::now() + Duration::from_millis(300);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut n = 0u32;
            while Instant::now() < end {
                let v = ["vhost_mdev", "virtio_mdev", "\n"][(n % 3) as usize];
                let _ = fs::write(format!("{dir}/driver_override"), v);
                n += 1;
            }
        });
        s.spawn(|| {
            let mut n = 0u32;
            while Instant::now() < end {
                let drv = ["vhost_mdev", "virtio_mdev"][(n % 2) as usize];
                let _ = fs::write(format!("{VMDEV_BUS}/drivers/{drv}/bind"), &i.vmdev);
                if n % 3 == 2 {
                    let _ = fs::write(format!("{dir}/driver/unbind"), &i.vmdev);
                }
                n += 1;
            }
        });
    });
    // Whatever won, the device is in one consistent state, and usable in it.
    match i.driver().as_deref() {
        None => Ok(()),
        Some("virtio_mdev") => i.netdev(20.0).map(|_| ()),
        Some("vhost_mdev") => {
            let node = i.node(10.0)?;
            env.run(
                "vhost_client",
                &["traffic", "--dev", &node, "--frames", "8"],
                60.0,
            )
        }
        Some(d) => Err(format!("bound to unexpected driver {d}")),
    }
}

fn insmod(dir: &Path, m: &str) -> Res {
    let ko = dir.join(format!("{m}.ko"));
    command("insmod", &[&ko.to_string_lossy()])
}

fn rmmod(m: &str) -> bool {
    Command::new("rmmod")
        .arg(m)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Module unloads in the middle (see the module doc).
fn modules(env: &Env, i: &Instance, r: &mut Rng) -> Res {
    let Some(dir) = env.modules.as_deref() else {
        return vhost_traffic(env, i);
    };
    // vhost_mdev, while a client holds a map through a node: refused.
    i.bind("vhost_mdev")?;
    let node = i.node(10.0)?;
    let mut child = env.spawn("vhost_client", &["hold", "--dev", &node, "--mb", "16"])?;
    // The node is open once the map is charged.
    if !wait_for(30.0, || pinning(child.id())) {
        let _ = child.kill();
        let _ = child.wait();
        return Err("vhost_client hold did not start its map".to_string());
    }
    std::thread::sleep(Duration::from_millis(r.below(300)));
    let unloaded = rmmod("vhost_mdev");
    let _ = child.kill();
    finish(&mut child, 10.0, "vhost_client hold")?;
    if unloaded {
        insmod(dir, "vhost_mdev")?;
        return Err("rmmod vhost_mdev succeeded while a node was open".to_string());
    }
    // Closed now: the unload goes through with the instance bound, and unbinds it.
    if !wait_for(10.0, || rmmod("vhost_mdev")) {
        return Err("rmmod vhost_mdev refused after the node closed".to_string());
    }
    insmod(dir, "vhost_mdev")?;
    // The reload binds the instance again (its driver_override names vhost_mdev).
    i.node(10.0)?;
    i.unbind()?;
    // virtio_mdev, while frames are in flight on its interface.
    write(format!("{}/mac", i.dir()), MAC)?;
    i.bind("virtio_mdev")?;
    let nd = i.netdev(20.0)?;
    link_up(&nd)?;
    let mut child = env.spawn("pktloop", &[&nd, MAC, "60", "1514", "1"])?;
    std::thread::sleep(Duration::from_millis(r.below(300)));
    let unloaded = wait_for(10.0, || rmmod("virtio_mdev"));
    // Looked at before the reload, which binds the instance again (its driver_override names
    // virtio_mdev) and so brings an interface back, likely under the same name.
    let lingering = unloaded && Path::new(&format!("/sys/class/net/{nd}")).exists();
    let ended = finish(&mut child, 30.0, "pktloop under rmmod virtio_mdev");
    insmod(dir, "virtio_mdev")?;
    ended?;
    if !unloaded {
        return Err("rmmod virtio_mdev refused".to_string());
    }
    if lingering {
        return Err(format!("{nd} still present after rmmod virtio_mdev"));
    }
    Ok(())
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Result<Option<T>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(p) => args
            .get(p + 1)
            .and_then(|v| v.parse().ok())
            .map(Some)
            .ok_or_else(|| format!("bad value for {name}")),
    }
}

/// What the jobs share: the next cycle to run, and what they found.
struct Run {
    cycles: u64,
    seed: u64,
    p0: i64,
    next: AtomicU64,
    /// Cycles hold it shared; module unloads and pin counts need the system to themselves.
    quiet: RwLock<()>,
    /// drivers_autoprobe is global: one creation at a time.
    creating: Mutex<()>,
    tally: Mutex<(BTreeMap<Scenario, u64>, u64)>,
}

impl Run {
    /// Cycle `c`'s own generator: a seed replays every cycle's scenario and timings, whatever
    /// the interleaving of the jobs.
    fn rng(&self, c: u64) -> Rng {
        let mut r = Rng::new(self.seed ^ c.wrapping_mul(0xd1b5_4a32_d192_ed03));
        r.next();
        r
    }

    fn cycle(&self, env: &Env, c: u64) -> (Scenario, Res) {
        let mut r = self.rng(c);
        let s = if env.modules.is_some() && c.is_multiple_of(25) {
            Scenario::Modules
        } else {
            Scenario::DRAWN[r.below(Scenario::DRAWN.len() as u64) as usize]
        };
        let res = if s == Scenario::Modules {
            let _alone = self.quiet.write().unwrap_or_else(|e| e.into_inner());
            self.attempt(env, s, &mut r)
        } else {
            let _shared = self.quiet.read().unwrap_or_else(|e| e.into_inner());
            self.attempt(env, s, &mut r)
        };
        if res.is_ok() && c.is_multiple_of(20) {
            return (s, self.pins_back());
        }
        (s, res)
    }

    /// Creates an instance, runs `s` on it and removes it.
    fn attempt(&self, env: &Env, s: Scenario, r: &mut Rng) -> Res {
        let made = {
            let _one = self.creating.lock().unwrap_or_else(|e| e.into_inner());
            Instance::create(r)
        };
        made.and_then(|i| {
            let ran = scenario(env, s, &i, r);
            // Scenarios that removed the instance leave nothing to remove.
            let gone = !Path::new(&format!("/sys/bus/mdev/devices/{}", i.uuid)).exists();
            let removed = if gone { Ok(()) } else { i.remove() };
            ran.and(removed)
        })
    }

    /// With every other job between cycles, the pins must be back at their starting count.
    fn pins_back(&self) -> Res {
        let _g = self.quiet.write().unwrap_or_else(|e| e.into_inner());
        if wait_for(10.0, || pins() == self.p0) {
            Ok(())
        } else {
            Err(format!(
                "pins {} between cycles, {} at the start",
                pins(),
                self.p0
            ))
        }
    }

    fn job(&self, env: &Env) {
        loop {
            let c = self.next.fetch_add(1, Ordering::Relaxed);
            if c > self.cycles {
                return;
            }
            let (s, res) = self.cycle(env, c);
            let mut t = self.tally.lock().unwrap_or_else(|e| e.into_inner());
            *t.0.entry(s).or_default() += 1;
            if let Err(e) = res {
                t.1 += 1;
                println!("cycle {c} ({}): FAIL: {e}", s.name());
            }
        }
    }
}

const USAGE: &str =
    "usage: lifecycle --cycles N [--seed S] [--jobs J] [--modules DIR] [--tools DIR]";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    type Parsed = (u64, u64, u64, Option<String>, Option<String>);
    let parsed = (|| -> Result<Parsed, String> {
        let jobs = arg(&args, "--jobs")?.unwrap_or(1);
        if !(1..=64).contains(&jobs) {
            return Err("--jobs must be 1 to 64".to_string());
        }
        Ok((
            arg(&args, "--cycles")?.ok_or("--cycles is required")?,
            arg(&args, "--seed")?.unwrap_or(1),
            jobs,
            arg(&args, "--modules")?,
            arg(&args, "--tools")?,
        ))
    })();
    let (cycles, seed, jobs, modules, tools) = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("lifecycle: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let tools = tools.map(PathBuf::from).unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    });
    let env = Env {
        tools,
        modules: modules.map(PathBuf::from),
    };
    println!("lifecycle: seed {seed}, {cycles} cycles, {jobs} jobs");
    let run = Run {
        cycles,
        seed,
        p0: base_pins(),
        next: AtomicU64::new(1),
        quiet: RwLock::new(()),
        creating: Mutex::new(()),
        tally: Mutex::new((BTreeMap::new(), 0)),
    };
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| run.job(&env));
        }
    });
    let el = start.elapsed().as_secs_f64();
    let (counts, mut failures) = run.tally.into_inner().unwrap_or_else(|e| e.into_inner());
    if !wait_for(10.0, || pins() == run.p0) {
        failures += 1;
        println!(
            "end: FAIL: pins {} after the last cycle, {} at the start",
            pins(),
            run.p0
        );
    }
    let per: Vec<String> = counts
        .iter()
        .map(|(s, n)| format!("{} {n}", s.name()))
        .collect();
    println!(
        "lifecycle: {cycles} cycles in {el:.0} s ({:.1}/s): {}; failures {failures}",
        cycles as f64 / el,
        per.join(", ")
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
