// SPDX-License-Identifier: GPL-2.0
//! `dirty-log`: the client as a migrating VMM, checking the device's dirty log page by page.
//!
//! The device must mark, in the bitmap given with `VHOST_SET_LOG_BASE`, exactly the pages it
//! wrote while logging was on: the RX buffers that came back used (the bytes the used length
//! says) and the used rings (at each ring's `log_guest_addr`), nothing it only read (TX
//! buffers, descriptor tables, available rings), and nothing at all while logging is off.
//! The client knows what the device wrote, so it compares sets, not counts. The log is
//! turned on and off the way QEMU 7.2 does it (`vhost_dev_set_log()`), with the device
//! running, and replaced while it runs, as QEMU does when the log grows.

use std::collections::{BTreeMap, BTreeSet};

use vhost_uapi::{
    VringAddr, VHOST_F_LOG_ALL, VHOST_SET_FEATURES, VHOST_SET_LOG_BASE, VHOST_SET_LOG_FD,
    VHOST_VRING_F_LOG,
};
use vmdev_selftest_tools::rng::Rng;

use crate::ring::Vq;
use crate::setup::{Session, MEM_LEN, NET_HDR_LEN, RX_FRAME_ROOM};
use crate::sys::{errno_name, poll_readable, step, Region};

/// A page per bit, 64 bits a word: vhost's format, written out here rather than taken from
/// `crates/dirty_log`, so that the client checks the device against the format and not
/// against the device's own arithmetic.
const LOG_PAGE: u64 = 4096;
const LOG_CHUNK: u64 = LOG_PAGE * 64;
const LOG_ALL: u64 = 1 << VHOST_F_LOG_ALL;
/// Ethertype of the frames (IEEE local experimental).
const ETHERTYPE: [u8; 2] = [0x88, 0xb5];
/// Frames in flight at once.
const BURST: u16 = 32;

fn page(addr: u64) -> u64 {
    addr / LOG_PAGE
}

/// Frames looped through a running [`Session`], each checked bit-exact and once.
pub(crate) struct Looper {
    pub(crate) s: Session,
    rng: Rng,
    next_seq: u32,
}

/// What one run of frames made the device write.
#[derive(Default)]
pub(crate) struct Wrote {
    /// `(IOVA, length)` of every RX buffer that came back used.
    pub(crate) rx: Vec<(u64, u64)>,
    /// Used-ring slots the device filled, per ring (vq index), as `(first, count)`.
    pub(crate) used: BTreeMap<u32, (u16, u16)>,
}

impl Looper {
    /// Posts every RX buffer of `s` and kicks.
    pub(crate) fn new(mut s: Session, seed: u64) -> Result<Looper, String> {
        for id in 0..s.rx.size {
            s.post_rx(id);
        }
        s.kick(0)?;
        Ok(Looper {
            s,
            rng: Rng::new(seed),
            next_seq: 0,
        })
    }

    fn frame(&mut self, seq: u32) -> Vec<u8> {
        let len = 60 + self.rng.below(1455) as usize;
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&self.s.mac);
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        f.extend_from_slice(&ETHERTYPE);
        f.extend_from_slice(&seq.to_le_bytes());
        while f.len() < len {
            f.push(self.rng.below(256) as u8);
        }
        f
    }

    /// Loops `n` frames, a burst at a time; every frame must come back bit-exact, once.
    pub(crate) fn run(&mut self, n: u32) -> Result<Wrote, String> {
        let mut wrote = Wrote::default();
        let used0 = (
            self.s.rx.used_total(&self.s.mem),
            self.s.tx.used_total(&self.s.mem),
        );
        let mut left = n;
        while left > 0 {
            let burst = left.min(u32::from(BURST.min(self.s.tx.size))) as u16;
            let mut sent = self.send_burst(burst)?;
            self.collect(&mut sent, burst, &mut wrote)?;
            left -= u32::from(burst);
        }
        let used1 = (
            self.s.rx.used_total(&self.s.mem),
            self.s.tx.used_total(&self.s.mem),
        );
        wrote
            .used
            .insert(0, (used0.0, used1.0.wrapping_sub(used0.0)));
        wrote
            .used
            .insert(1, (used0.1, used1.1.wrapping_sub(used0.1)));
        Ok(wrote)
    }

    /// Posts `burst` frames on TX descriptors `0..burst` and kicks; the frames by sequence.
    pub(crate) fn send_burst(&mut self, burst: u16) -> Result<BTreeMap<u32, Vec<u8>>, String> {
        self.send_burst_at(0, burst, true)
    }

    /// Posts `n` frames on TX descriptors `first..first + n`, and kicks if `kick`.
    fn send_burst_at(
        &mut self,
        first: u16,
        n: u16,
        kick: bool,
    ) -> Result<BTreeMap<u32, Vec<u8>>, String> {
        let mut sent = BTreeMap::new();
        for id in first..first + n {
            let seq = self.next_seq;
            self.next_seq += 1;
            let f = self.frame(seq);
            let off = Session::tx_buf(id);
            self.s.mem.write_bytes(off, &[0u8; NET_HDR_LEN]);
            self.s.mem.write_bytes(off + NET_HDR_LEN, &f);
            let iova = self.s.tx.iova(off);
            let len = (NET_HDR_LEN + f.len()) as u32;
            self.s.tx.write_desc(&self.s.mem, id, iova, len, 0, 0);
            self.s.tx.publish_deferred(&self.s.mem, id);
            sent.insert(seq, f);
        }
        self.s.tx.flush_avail(&self.s.mem);
        if kick {
            self.s.kick(1)?;
        }
        Ok(sent)
    }

    /// Waits for the `burst` frames of `sent` to come back and for their TX buffers.
    pub(crate) fn collect(
        &mut self,
        sent: &mut BTreeMap<u32, Vec<u8>>,
        burst: u16,
        wrote: &mut Wrote,
    ) -> Result<(), String> {
        let mut tx_done = 0;
        let mut idle_ms = 0;
        while !sent.is_empty() || tx_done < burst {
            let mut moved = false;
            while let Some((id, len)) = self.s.rx.pop_used(&self.s.mem) {
                moved = true;
                let id = u16::try_from(id)
                    .ok()
                    .filter(|&i| i < self.s.rx.size)
                    .ok_or_else(|| format!("RX used entry with id {id}"))?;
                let off = Session::rx_buf(id);
                let len = len as usize;
                if !(NET_HDR_LEN + 14..=NET_HDR_LEN + RX_FRAME_ROOM).contains(&len) {
                    return Err(format!("RX buffer {id} came back with length {len}"));
                }
                let got = self.s.mem.read_bytes(off + NET_HDR_LEN, len - NET_HDR_LEN);
                let seq = u32::from_le_bytes([got[14], got[15], got[16], got[17]]);
                let want = sent
                    .remove(&seq)
                    .ok_or_else(|| format!("frame {seq} came back but is not in flight"))?;
                if got != want {
                    return Err(format!(
                        "frame {seq}: {} bytes came back, {} sent, not the same",
                        got.len(),
                        want.len()
                    ));
                }
                wrote.rx.push((self.s.rx.iova(off), len as u64));
                self.s.post_rx(id);
            }
            while self.s.tx.pop_used(&self.s.mem).is_some() {
                moved = true;
                tx_done += 1;
            }
            if moved {
                self.s.kick(0)?;
                idle_ms = 0;
                continue;
            }
            if idle_ms >= 5000 {
                return Err(format!(
                    "{} frames of a burst of {burst} did not come back within 5 s ({tx_done} sent)",
                    sent.len()
                ));
            }
            let fds = [self.s.call[0].raw(), self.s.call[1].raw()];
            poll_readable(&fds, 50).map_err(|e| format!("poll: {}", errno_name(e)))?;
            for c in &self.s.call {
                let _ = c.drain();
            }
            idle_ms += 50;
        }
        Ok(())
    }
}

/// A log bitmap in client memory covering the session's IOVAs.
pub(crate) struct Log {
    pub(crate) mem: Region,
}

impl Log {
    pub(crate) fn for_session(s: &Session) -> Result<Log, String> {
        let last = s.iova + MEM_LEN as u64 - 1;
        let bytes = (last / LOG_CHUNK + 1) * 8;
        let len = bytes.next_multiple_of(LOG_PAGE) as usize;
        let mem = Region::new(len).map_err(|e| format!("log region: {}", errno_name(e)))?;
        mem.touch();
        Ok(Log { mem })
    }

    /// Reads and clears every word with an atomic exchange, as QEMU's log sync does; the
    /// pages that were marked.
    pub(crate) fn take(&self) -> BTreeSet<u64> {
        let mut pages = BTreeSet::new();
        for w in 0..self.mem.len() / 8 {
            let v = self.mem.swap64(w * 8, 0);
            for b in 0..64 {
                if v & (1 << b) != 0 {
                    pages.insert(w as u64 * 64 + b);
                }
            }
        }
        pages
    }
}

/// The ring's `SET_VRING_ADDR` with its used ring logged at `log` (or not logged).
fn addr_with_log(q: &Vq, log: Option<u64>) -> VringAddr {
    let mut a = q.addr();
    if let Some(l) = log {
        a.flags = 1 << VHOST_VRING_F_LOG;
        a.log_guest_addr = l;
    }
    a
}

/// The pages the device wrote in `w`, with ring `i`'s used ring logged at `logs[i]`.
fn pages_written(lp: &Looper, w: &Wrote, logs: [u64; 2]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for &(iova, len) in &w.rx {
        out.extend(page(iova)..=page(iova + len - 1));
    }
    for (q, log) in [&lp.s.rx, &lp.s.tx].into_iter().zip(logs) {
        let at = |off: u64| page(log + off);
        // flags and idx, then every element filled.
        out.insert(at(0));
        out.insert(at(2));
        if let Some(&(first, n)) = w.used.get(&q.index) {
            for k in 0..n {
                let slot = u64::from(first.wrapping_add(k) % q.size);
                out.insert(at(4 + 8 * slot));
                out.insert(at(4 + 8 * slot + 7));
            }
        }
    }
    out
}

fn show(pages: &BTreeSet<u64>) -> String {
    let v: Vec<String> = pages.iter().take(12).map(|p| format!("{p:#x}")).collect();
    format!(
        "{} pages [{}{}]",
        pages.len(),
        v.join(" "),
        if pages.len() > 12 { " …" } else { "" }
    )
}

/// Compares the pages marked with the pages written.
fn expect_exact(what: &str, marked: &BTreeSet<u64>, wrote: &BTreeSet<u64>) -> Result<(), String> {
    if marked == wrote {
        return Ok(());
    }
    let extra: BTreeSet<u64> = marked.difference(wrote).copied().collect();
    let missing: BTreeSet<u64> = wrote.difference(marked).copied().collect();
    Err(format!(
        "{what}: the log is not the set of pages written: marked but not written {}, written but not marked {}",
        show(&extra),
        show(&missing)
    ))
}

/// Turns logging on or off as QEMU 7.2 does while the device runs: the features with or
/// without `VHOST_F_LOG_ALL`, then each ring's address with or without its used-ring log.
fn set_logging(s: &Session, on: Option<[u64; 2]>) -> Result<(), String> {
    let f = s.info.driver_features | if on.is_some() { LOG_ALL } else { 0 };
    step(
        "VHOST_SET_FEATURES (log)",
        s.dev.set_u64(VHOST_SET_FEATURES, f),
    )?;
    for (i, q) in [&s.rx, &s.tx].into_iter().enumerate() {
        let a = addr_with_log(q, on.map(|l| l[i]));
        step(
            &format!("VHOST_SET_VRING_ADDR vq {} (log)", q.index),
            s.dev.set_addr(&a),
        )?;
    }
    Ok(())
}

/// Starts logging on a running session as a migrating QEMU does, into a new log (returned,
/// to be kept as long as the device may mark it), with each used ring logged at its own
/// IOVA.
pub(crate) fn start_logging(s: &Session) -> Result<Log, String> {
    if s.info.features & LOG_ALL == 0 {
        return Err(format!(
            "the device does not offer VHOST_F_LOG_ALL (features {:#x})",
            s.info.features
        ));
    }
    let log = Log::for_session(s)?;
    step(
        "VHOST_SET_LOG_BASE",
        s.dev.set_u64(VHOST_SET_LOG_BASE, log.mem.va()),
    )?;
    let used = [s.rx.iova(s.rx.lay.used), s.tx.iova(s.tx.lay.used)];
    set_logging(s, Some(used))?;
    Ok(log)
}

/// `dirty-log`: see the module documentation.
pub(crate) fn run_dirty_log(path: &str, frames: u32, seed: u64) -> Result<(), String> {
    let s = Session::start(path)?;
    if s.info.features & LOG_ALL == 0 {
        return Err(format!(
            "the device does not offer VHOST_F_LOG_ALL (features {:#x})",
            s.info.features
        ));
    }
    let log1 = Log::for_session(&s)?;
    let log2 = Log::for_session(&s)?;
    let mut lp = Looper::new(s, seed)?;
    let dev = &lp.s.dev;

    // What a logging device still refuses.
    let refused = |what: &str, r: Result<(), i32>, want: i32| -> Result<(), String> {
        match r {
            Err(e) if e == want => Ok(()),
            other => Err(format!(
                "{what}: {} where {} was expected",
                crate::sys::outcome(&other),
                errno_name(want)
            )),
        }
    };
    refused(
        "SET_LOG_BASE of an unaligned address",
        dev.set_u64(VHOST_SET_LOG_BASE, log1.mem.va() + 4),
        libc::EINVAL,
    )?;
    refused(
        "SET_LOG_FD",
        dev.set_i32(VHOST_SET_LOG_FD, -1),
        libc::ENOTTY,
    )?;
    // A feature the device offers and the client did not take, added with LOG_ALL.
    let unacked = lp.s.info.features & !lp.s.info.driver_features & !LOG_ALL;
    if unacked != 0 {
        let extra = unacked & unacked.wrapping_neg();
        refused(
            &format!("SET_FEATURES adding feature {extra:#x} with LOG_ALL after FEATURES_OK"),
            dev.set_u64(
                VHOST_SET_FEATURES,
                lp.s.info.driver_features | LOG_ALL | extra,
            ),
            libc::EBUSY,
        )?;
    }
    let mut moved = lp.s.tx.addr();
    moved.used_user_addr += 0x1000;
    refused(
        "SET_VRING_ADDR moving a running ring",
        dev.set_addr(&moved),
        libc::EINVAL,
    )?;

    // 1. No log yet: traffic flows, nothing is marked anywhere.
    lp.run(frames)?;
    let before = log1.take();
    if !before.is_empty() {
        return Err(format!("with no log set, {} marked", show(&before)));
    }

    // 2. Logging on, the RX used ring logged at its own address and the TX one elsewhere
    //    (the log address, not the ring's, is what counts).
    let rx_used = lp.s.rx.iova(lp.s.rx.lay.used);
    let tx_log = lp.s.iova + MEM_LEN as u64 - 0x1_0000 + (lp.s.tx.lay.used as u64 & 0xfff);
    step(
        "VHOST_SET_LOG_BASE",
        lp.s.dev.set_u64(VHOST_SET_LOG_BASE, log1.mem.va()),
    )?;
    set_logging(&lp.s, Some([rx_used, tx_log]))?;
    let w = lp.run(frames)?;
    let want = pages_written(&lp, &w, [rx_used, tx_log]);
    let got = log1.take();
    expect_exact("logging on", &got, &want)?;
    println!(
        "dirty-log: {} frames with logging on: {} of {} pages marked, exactly the pages written ({} RX buffers, 2 used rings)",
        frames,
        got.len(),
        page(MEM_LEN as u64),
        w.rx.len()
    );

    // 3. Logging off: nothing more.
    set_logging(&lp.s, None)?;
    log1.take();
    lp.run(frames)?;
    let after = log1.take();
    if !after.is_empty() {
        return Err(format!("logging off, yet {} marked", show(&after)));
    }

    // 4. On again, then the log replaced while the device runs: only the new one is marked.
    set_logging(&lp.s, Some([rx_used, tx_log]))?;
    step(
        "VHOST_SET_LOG_BASE (replacement)",
        lp.s.dev.set_u64(VHOST_SET_LOG_BASE, log2.mem.va()),
    )?;
    log1.take();
    let w = lp.run(frames)?;
    let old = log1.take();
    if !old.is_empty() {
        return Err(format!("the replaced log still got {}", show(&old)));
    }
    let want = pages_written(&lp, &w, [rx_used, tx_log]);
    expect_exact("after the log was replaced", &log2.take(), &want)?;
    set_logging(&lp.s, None)?;
    println!("dirty-log: logging off marked nothing; a log replaced while running took every mark after the switch, the old one none");
    lp.s.teardown()?;
    println!("dirty-log: ok");
    Ok(())
}

/// How the frames of a client-driven migration fared.
#[derive(Default)]
struct Tally {
    before: u32,
    during: u32,
    /// Frames posted just before the stop.
    in_flight: u32,
    /// Of those, completed by the source before it stopped (their data reached the
    /// destination through the log).
    in_flight_on_source: u32,
    after: u32,
    /// RX-buffer pages copied because the log marked them, over all rounds.
    logged_pages: usize,
    rounds: u32,
}

/// Copies `pages` (IOVA page numbers) of the session's memory from `src` to `dst`.
fn copy_pages(iova: u64, src: &Region, dst: &Region, pages: impl IntoIterator<Item = u64>) {
    for p in pages {
        let Some(off) = (p * LOG_PAGE).checked_sub(iova) else {
            continue;
        };
        let off = off as usize;
        if off + LOG_PAGE as usize <= src.len() {
            dst.write_bytes(off, &src.read_bytes(off, LOG_PAGE as usize));
        }
    }
}

/// The pages of the RX buffer area, which only the device writes: the destination gets them
/// from the first copy and from the log, never from the stand-in for the vCPUs' dirty log.
fn rx_buffer_pages(s: &Session) -> std::ops::Range<u64> {
    let first = page(s.iova + Session::rx_buf(0) as u64);
    first..first + u64::from(s.rx.size)
}

/// `migrate`: the client migrates itself, and the device state, from the device at `src` to
/// the one at `dst` as QEMU 7.2 migrates a vhost-vdpa guest without shadow virtqueues:
///
/// 1. frames loop on the source;
/// 2. the destination is opened and its memory mapped at the same IOVAs (`-incoming`);
/// 3. logging starts (`SET_LOG_BASE`, `VHOST_F_LOG_ALL`, `VHOST_VRING_F_LOG`), everything is
///    copied once, and then, in rounds, the pages the log marked, while frames keep looping;
/// 4. the stop: the client posts a last burst and, without waiting for it, stops the device
///    as QEMU 7.2 does (`GET_VRING_BASE` of each ring while it runs, then the reset), syncs
///    the log a last time and copies what it marked, and every page outside the RX buffers
///    (the stand-in for the vCPUs' own dirty pages: rings, TX frames);
/// 5. the destination resumes each ring at the base read on the source and the client goes
///    on there: the last burst, then more frames.
///
/// Every frame must come back bit-exact and once. The RX buffers reach the destination only
/// through the first copy and the log, so a device that forgets a page hands the client a
/// stale frame on the destination.
pub(crate) fn run_migrate(src: &str, dst: &str, frames: u32, seed: u64) -> Result<(), String> {
    use crate::setup::{negotiate, open_owned, set_driver_ok, setup_ring_at};
    use vhost_uapi::{VHOST_GET_VRING_BASE, VHOST_VDPA_SET_STATUS};

    let s = Session::start(src)?;
    if s.info.features & LOG_ALL == 0 {
        return Err(format!(
            "the source does not offer VHOST_F_LOG_ALL (features {:#x})",
            s.info.features
        ));
    }
    let log = Log::for_session(&s)?;
    let mut lp = Looper::new(s, seed)?;
    let mut t = Tally::default();
    let third = (frames / 3).max(1);

    // 1.
    lp.run(third)?;
    t.before = third;

    // 2.
    let mem_b =
        Region::new(MEM_LEN).map_err(|e| format!("destination memory: {}", errno_name(e)))?;
    mem_b.touch();
    let (dev_b, _, acked_b) = open_owned(dst)?;
    let batched = acked_b & vhost_uapi::BACKEND_IOTLB_BATCH != 0;
    crate::setup::map(&dev_b, lp.s.iova, MEM_LEN as u64, mem_b.va(), batched)?;

    // 3.
    let rx_used = lp.s.rx.iova(lp.s.rx.lay.used);
    let tx_used = lp.s.tx.iova(lp.s.tx.lay.used);
    step(
        "VHOST_SET_LOG_BASE",
        lp.s.dev.set_u64(VHOST_SET_LOG_BASE, log.mem.va()),
    )?;
    set_logging(&lp.s, Some([rx_used, tx_used]))?;
    let rx_area = rx_buffer_pages(&lp.s);
    // The first copy, a slice at a time with frames looping in between.
    let all: Vec<u64> = (page(lp.s.iova)..page(lp.s.iova) + page(MEM_LEN as u64)).collect();
    let per_round = third / 4 + 1;
    for chunk in all.chunks(all.len() / 4 + 1) {
        copy_pages(lp.s.iova, &lp.s.mem, &mem_b, chunk.iter().copied());
        lp.run(per_round)?;
        t.during += per_round;
    }
    for _ in 0..3 {
        let marked = log.take();
        t.logged_pages += marked.iter().filter(|p| rx_area.contains(p)).count();
        copy_pages(lp.s.iova, &lp.s.mem, &mem_b, marked);
        lp.run(per_round)?;
        t.during += per_round;
        t.rounds += 1;
    }

    // 4. The last burst goes out, and the VMM stops the device under it. Its first half is
    //    kicked and the source completes it, unread: those frames reach the destination only
    //    through the last log sync, which is what makes a missing mark show. Its second half
    //    is posted without a kick (a guest whose kick the stop overtook), so it is still in
    //    the TX ring at the stop and the destination must carry it.
    let burst = BURST.min(lp.s.tx.size);
    let half = burst / 2;
    let mut in_flight = lp.send_burst_at(0, half, true)?;
    let t0 = std::time::Instant::now();
    while lp.s.rx.pending(&lp.s.mem) < half && t0.elapsed().as_secs() < 5 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    in_flight.append(&mut lp.send_burst_at(half, burst - half, false)?);
    t.in_flight = u32::from(burst);
    let mut bases = [0u16; 2];
    for (i, b) in bases.iter_mut().enumerate() {
        *b = step(
            &format!("GET_VRING_BASE({i}) at the stop"),
            lp.s.dev.get_state(VHOST_GET_VRING_BASE, i as u32),
        )? as u16;
    }
    step(
        "SET_STATUS(0) at the stop",
        lp.s.dev.set_u8(VHOST_VDPA_SET_STATUS, 0),
    )?;
    let marked = log.take();
    t.logged_pages += marked.iter().filter(|p| rx_area.contains(p)).count();
    copy_pages(lp.s.iova, &lp.s.mem, &mem_b, marked);
    let guest =
        (page(lp.s.iova)..page(lp.s.iova) + page(MEM_LEN as u64)).filter(|p| !rx_area.contains(p));
    copy_pages(lp.s.iova, &lp.s.mem, &mem_b, guest);
    // The rings stopped where GET_VRING_BASE said: every chain taken is completed.
    let used_at_stop = [lp.s.rx.used_total(&lp.s.mem), lp.s.tx.used_total(&lp.s.mem)];
    if used_at_stop != bases {
        return Err(format!(
            "at the stop the used indexes are {used_at_stop:?} but GET_VRING_BASE said {bases:?}"
        ));
    }
    t.in_flight_on_source = u32::from(lp.s.rx.pending(&lp.s.mem));

    // 5. The destination resumes where the source stopped, with the source's MAC, which
    //    QEMU sets with SET_CONFIG from the migrated config.
    let fok = negotiate(&dev_b, lp.s.info.driver_features)?;
    step(
        "VHOST_VDPA_SET_CONFIG (MAC) on the destination",
        dev_b.set_config(0, 6, &lp.s.mac),
    )?;
    for (q, (kick, call), base) in [
        (&lp.s.rx, (&lp.s.kick[0], &lp.s.call[0]), bases[0]),
        (&lp.s.tx, (&lp.s.kick[1], &lp.s.call[1]), bases[1]),
    ] {
        setup_ring_at(&dev_b, q, kick, call, true, base)?;
    }
    set_driver_ok(&dev_b, fok)?;
    let old_dev = std::mem::replace(&mut lp.s.dev, dev_b);
    let old_mem = std::mem::replace(&mut lp.s.mem, mem_b);
    drop(old_dev);
    drop(old_mem);
    // The last burst: what the source completed comes from the copied rings and buffers,
    // the rest from the destination.
    lp.s.kick(1)?;
    lp.s.kick(0)?;
    let mut wrote = Wrote::default();
    lp.collect(&mut in_flight, burst, &mut wrote).map_err(|e| {
        format!(
            "{e} (on the destination; the rings stopped at {bases:?}, the source completed {} of the last burst unread)",
            t.in_flight_on_source
        )
    })?;
    lp.run(third)?;
    t.after = third;
    lp.s.teardown()?;
    println!(
        "migrate: {} frames before, {} during {} log rounds ({} RX pages copied from the log), {} in flight at the stop ({} completed by the source, {} by the destination), {} after: all came back bit-exact, once",
        t.before,
        t.during,
        t.rounds,
        t.logged_pages,
        t.in_flight,
        t.in_flight_on_source,
        t.in_flight - t.in_flight_on_source,
        t.after
    );
    Ok(())
}
