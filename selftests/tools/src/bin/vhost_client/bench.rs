// SPDX-License-Identifier: GPL-2.0
//! `bench` and `map-bench`: throughput of the datapath and of the IOTLB, for `make bench`.
//!
//! Unlike `traffic`, `bench` checks no payload: every TX descriptor carries the same frame,
//! written once, and an RX completion only has to have the right length. What is measured is
//! how many frames per second come back, with frames posted `batch` at a time and one kick per
//! batch unless the device has turned kicks off (`VRING_USED_F_NO_NOTIFY`), the way DPDK's
//! virtio_user bursts.

use std::time::{Duration, Instant};

use vhost_uapi::BACKEND_IOTLB_BATCH;

use crate::mq::MqSession;
use crate::ring::{Vq, VRING_DESC_F_WRITE};
use crate::setup::{choose_iova, iotlb_ok, open_owned, Session, NET_HDR_LEN, RX_FRAME_ROOM};
use crate::sys::{
    batch, errno_name, invalidate, page_size, poll_readable, step, update, EventFd, Region,
};
use crate::traffic::{ETHERTYPE, MIN_FRAME, SRC_MAC, WAIT_MS};

/// Options of the `bench` subcommand.
#[derive(Clone, Copy)]
pub(crate) struct Opts {
    /// Ethernet frame length (header included, no FCS).
    pub(crate) size: usize,
    /// How long to measure, after a warm-up of a tenth of it.
    pub(crate) seconds: f64,
    /// Frames posted per TX kick.
    pub(crate) batch: u16,
    /// Queue pairs to drive, one thread each.
    pub(crate) pairs: u16,
    /// Bring the device up with MQ even for one pair (the baseline of the multiqueue rows).
    pub(crate) mq: bool,
    /// Run with the dirty log on, as during a migration (one pair only).
    pub(crate) log: bool,
}

/// Throughput run: `open-to-driver-ok`, then frames per second looped TX to RX. With
/// `--pairs N` the device is brought up with N queue pairs (MQ) and each pair is driven by a
/// thread of its own; the frames/s are the sum over the pairs.
pub(crate) fn run(path: &str, o: &Opts) -> Result<(), String> {
    if !(MIN_FRAME..=RX_FRAME_ROOM).contains(&o.size) {
        return Err(format!("--size must be in {MIN_FRAME}..={RX_FRAME_ROOM}"));
    }
    if !(o.seconds > 0.0 && o.seconds <= 3600.0) || o.batch == 0 {
        return Err("--seconds must be in (0, 3600] and --batch at least 1".to_string());
    }
    if o.pairs == 0 {
        return Err("--pairs must be at least 1".to_string());
    }
    if o.log && (o.pairs > 1 || o.mq) {
        return Err("--log runs one pair, without --pairs".to_string());
    }
    let t_open = Instant::now();
    if o.pairs == 1 && !o.mq {
        let mut s = Session::start(path)?;
        let open_to_ok = t_open.elapsed();
        // Kept until the device is closed: it marks the log while the frames run.
        let _log = match o.log {
            true => Some(crate::migrate::start_logging(&s)?),
            false => None,
        };
        let lane = Lane {
            mem: &s.mem,
            base: 0,
            mac: s.mac,
            rx: &mut s.rx,
            tx: &mut s.tx,
            kick: &s.kick,
            call: &s.call,
        };
        let r = pump(lane, o)?;
        report(o, open_to_ok, &[r]);
        return s.teardown();
    }
    let mut s = MqSession::start(path, o.pairs)?;
    let open_to_ok = t_open.elapsed();
    let (mem, mac) = (&s.mem, s.mac);
    let results: Vec<Result<Pumped, String>> = std::thread::scope(|scope| {
        let threads: Vec<_> = s
            .pairs
            .iter_mut()
            .map(|p| {
                let lane = Lane {
                    mem,
                    base: p.base,
                    mac,
                    rx: &mut p.rx,
                    tx: &mut p.tx,
                    kick: &p.kick,
                    call: &p.call,
                };
                scope.spawn(move || pump(lane, o))
            })
            .collect();
        threads
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("a pair's thread panicked".to_string()))
            })
            .collect()
    });
    let results = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    report(o, open_to_ok, &results);
    s.teardown()
}

/// One queue pair's rings and buffers, in the pair's slice of the region from `base` on.
struct Lane<'a> {
    mem: &'a Region,
    base: usize,
    mac: [u8; 6],
    rx: &'a mut Vq,
    tx: &'a mut Vq,
    kick: &'a [EventFd; 2],
    call: &'a [EventFd; 2],
}

/// What one pair measured.
struct Pumped {
    /// Frames back in the window.
    frames: u64,
    /// The window.
    seconds: f64,
    kicks: u64,
    suppressed: u64,
    waits: u64,
    ring: u16,
}

/// Prints the results: frames/s summed over the pairs.
fn report(o: &Opts, open_to_ok: Duration, r: &[Pumped]) {
    let fps: f64 = r.iter().map(|p| p.frames as f64 / p.seconds).sum();
    let frames: u64 = r.iter().map(|p| p.frames).sum();
    let el = r.iter().map(|p| p.seconds).fold(0.0, f64::max);
    println!("bench: open-to-driver-ok {:.6} s", open_to_ok.as_secs_f64());
    println!(
        "bench: size {} batch {} pairs {} frames {frames} seconds {el:.3} fps {fps:.0} gbps {:.4}",
        o.size,
        o.batch,
        r.len(),
        fps * o.size as f64 * 8.0 / 1e9
    );
    if r.len() > 1 {
        let per: Vec<String> = r
            .iter()
            .map(|p| format!("{:.0}", p.frames as f64 / p.seconds))
            .collect();
        println!("bench: fps per pair {}", per.join(" "));
    }
    let sum = |f: fn(&Pumped) -> u64| r.iter().map(f).sum::<u64>();
    println!(
        "bench: kicks {}, kicks the device turned down {}, call waits {}, ring {}",
        sum(|p| p.kicks),
        sum(|p| p.suppressed),
        sum(|p| p.waits),
        r.first().map_or(0, |p| p.ring)
    );
}

/// Loops frames through one pair for the warm-up and the window.
fn pump(l: Lane<'_>, o: &Opts) -> Result<Pumped, String> {
    let Lane {
        mem,
        base,
        mac,
        rx,
        tx,
        kick,
        call,
    } = l;
    let size = rx.size;
    let used_len = (NET_HDR_LEN + o.size) as u32;
    // Every TX buffer holds the same frame: to the device MAC, so filtering devices accept it.
    let mut frame = vec![0u8; NET_HDR_LEN + o.size];
    frame[NET_HDR_LEN..NET_HDR_LEN + 6].copy_from_slice(&mac);
    frame[NET_HDR_LEN + 6..NET_HDR_LEN + 12].copy_from_slice(&SRC_MAC);
    frame[NET_HDR_LEN + 12..NET_HDR_LEN + 14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    for id in 0..size {
        let off = base + Session::tx_buf(id);
        mem.write_bytes(off, &frame);
        let iova = tx.iova(off);
        tx.write_desc(mem, id, iova, used_len, 0, 0);
    }
    let post_rx = |rx: &mut Vq, id: u16, publish: fn(&mut Vq, &Region, u16)| {
        let off = base + Session::rx_buf(id);
        let iova = rx.iova(off);
        let len = (NET_HDR_LEN + RX_FRAME_ROOM) as u32;
        rx.write_desc(mem, id, iova, len, VRING_DESC_F_WRITE, 0);
        publish(rx, mem, id);
    };
    for id in 0..size {
        post_rx(rx, id, Vq::publish);
    }
    step("kick eventfd write", kick[0].signal())?;

    let mut tx_free: Vec<u16> = (0..size).rev().collect();
    let batch = usize::from(o.batch.min(size));
    let warmup = Duration::from_secs_f64(o.seconds / 10.0);
    let measure = Duration::from_secs_f64(o.seconds);
    let start = Instant::now();
    let mut window: Option<(Instant, u64)> = None;
    let mut received: u64 = 0;
    let (mut kicks, mut suppressed, mut waits) = (0u64, 0u64, 0u64);
    let end = loop {
        let now = Instant::now();
        match window {
            None if now - start >= warmup => window = Some((now, received)),
            Some((t0, r0)) if now - t0 >= measure => break (t0.elapsed(), received - r0),
            _ => {}
        }
        // Post TX in bursts of `batch`, one kick each.
        while tx_free.len() >= batch {
            for _ in 0..batch {
                let id = tx_free.pop().expect("checked above");
                tx.publish_deferred(mem, id);
            }
            tx.flush_avail(mem);
            if tx.kick_wanted(mem) {
                step("kick eventfd write", kick[1].signal())?;
                kicks += 1;
            } else {
                suppressed += 1;
            }
        }
        let mut progress = 0u32;
        while let Some((id, _)) = tx.pop_used(mem) {
            let id = ring_id(id, size, "TX")?;
            tx_free.push(id);
            progress += 1;
        }
        let mut rx_back = 0u32;
        while let Some((id, len)) = rx.pop_used(mem) {
            let id = ring_id(id, size, "RX")?;
            if len != used_len {
                return Err(format!(
                    "RX buffer {id} of vq {} came back with length {len}, sent {used_len}",
                    rx.index
                ));
            }
            rx.publish_deferred(mem, id);
            rx_back += 1;
        }
        if rx_back > 0 {
            rx.flush_avail(mem);
            if rx.kick_wanted(mem) {
                step("kick eventfd write", kick[0].signal())?;
                kicks += 1;
            } else {
                suppressed += 1;
            }
            received += u64::from(rx_back);
            progress += rx_back;
        }
        if progress == 0 {
            let fds = [call[0].raw(), call[1].raw()];
            let ready =
                poll_readable(&fds, WAIT_MS).map_err(|e| format!("poll: {}", errno_name(e)))?;
            if !ready.iter().any(|&r| r) && rx.pending(mem) == 0 && tx.pending(mem) == 0 {
                return Err(format!(
                    "vq {}/{}: no progress and no call notification within {} s ({received} frames back)",
                    rx.index,
                    tx.index,
                    WAIT_MS / 1000
                ));
            }
            for c in call {
                c.drain()
                    .map_err(|e| format!("read call eventfd: {}", errno_name(e)))?;
            }
            waits += 1;
        }
    };
    Ok(Pumped {
        frames: end.1,
        seconds: end.0.as_secs_f64(),
        kicks,
        suppressed,
        waits,
        ring: size,
    })
}

/// A used entry's id as a descriptor index of a ring of `size`, or an error naming `queue`.
fn ring_id(id: u32, size: u16, queue: &str) -> Result<u16, String> {
    u16::try_from(id)
        .ok()
        .filter(|&i| i < size)
        .ok_or_else(|| format!("{queue} used entry with id {id}, outside the ring"))
}

/// Options of the `map-bench` subcommand.
#[derive(Clone, Copy)]
pub(crate) struct MapOpts {
    /// Maps per round.
    pub(crate) maps: u32,
    /// Pages per map.
    pub(crate) pages: u32,
    /// Rounds (map everything, then unmap everything).
    pub(crate) rounds: u32,
    /// Wrap each round's UPDATEs (and INVALIDATEs) in one BATCH_BEGIN/BATCH_END.
    pub(crate) batched: bool,
    /// Scatter the pages physically (a run per page, as a guest's memory is after a while):
    /// each map then costs a pin and a table entry per page.
    pub(crate) fragment: bool,
}

/// IOTLB throughput: `maps` UPDATEs of `pages` pages each, then as many INVALIDATEs, `rounds`
/// times; prints maps/s and pages/s of both halves.
pub(crate) fn run_maps(path: &str, o: &MapOpts) -> Result<(), String> {
    if o.maps == 0 || o.pages == 0 || o.rounds == 0 {
        return Err("--maps, --pages and --rounds must be at least 1".to_string());
    }
    let pg = page_size();
    let map_len = usize::try_from(u64::from(o.pages) * pg as u64)
        .map_err(|_| "--pages too large".to_string())?;
    let total = map_len
        .checked_mul(o.maps as usize)
        .filter(|&t| t <= 1 << 30)
        .ok_or_else(|| "--maps x --pages must stay within 1 GiB".to_string())?;
    crate::sys::raise_memlock()
        .map_err(|e| format!("setrlimit(RLIMIT_MEMLOCK): {}", errno_name(e)))?;
    let (dev, _, acked) = open_owned(path)?;
    if o.batched && acked & BACKEND_IOTLB_BATCH == 0 {
        return Err("the device does not offer VHOST_BACKEND_F_IOTLB_BATCH".to_string());
    }
    let range = crate::sys::step("VHOST_VDPA_GET_IOVA_RANGE", dev.iova_range())?;
    let mem = Region::new(total).map_err(|e| format!("memfd region: {}", errno_name(e)))?;
    if o.fragment {
        crate::hold::touch_scattered(&mem, total / pg);
    } else {
        mem.touch();
    }
    // One page of IOVA between maps, so that no backend can merge neighbours.
    let stride = (map_len + pg) as u64;
    let span = stride * u64::from(o.maps);
    let base = choose_iova(range, span, mem.va())
        .ok_or_else(|| "no usable IOVA in the device range".to_string())?;
    let (mut t_map, mut t_unmap) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..o.rounds {
        let t = Instant::now();
        if o.batched {
            iotlb_ok(&dev, "BATCH_BEGIN", &batch(true))?;
        }
        for i in 0..u64::from(o.maps) {
            let va = mem.va() + i * map_len as u64;
            iotlb_ok(
                &dev,
                "UPDATE",
                &update(base + i * stride, map_len as u64, va),
            )?;
        }
        if o.batched {
            iotlb_ok(&dev, "BATCH_END", &batch(false))?;
        }
        t_map += t.elapsed();
        let t = Instant::now();
        if o.batched {
            iotlb_ok(&dev, "BATCH_BEGIN", &batch(true))?;
        }
        for i in 0..u64::from(o.maps) {
            iotlb_ok(
                &dev,
                "INVALIDATE",
                &invalidate(base + i * stride, map_len as u64),
            )?;
        }
        if o.batched {
            iotlb_ok(&dev, "BATCH_END", &batch(false))?;
        }
        t_unmap += t.elapsed();
    }
    let n = f64::from(o.maps) * f64::from(o.rounds);
    let per = |d: Duration| n / d.as_secs_f64();
    println!(
        "map-bench: maps {} pages {} rounds {} batched {} fragment {}",
        o.maps,
        o.pages,
        o.rounds,
        u8::from(o.batched),
        u8::from(o.fragment)
    );
    if o.fragment {
        let runs = crate::hold::physical_runs(&mem, 0, total / pg)
            .map_or_else(|| "unknown".to_string(), |n| n.to_string());
        println!("map-bench: physical runs {runs} of {} pages", total / pg);
    }
    println!(
        "map-bench: map maps/s {:.0} pages/s {:.0} unmap maps/s {:.0} pages/s {:.0}",
        per(t_map),
        per(t_map) * f64::from(o.pages),
        per(t_unmap),
        per(t_unmap) * f64::from(o.pages)
    );
    println!(
        "map-bench: per map: map-ms {:.3} unmap-ms {:.3}",
        1000.0 / per(t_map),
        1000.0 / per(t_unmap)
    );
    drop(dev);
    Ok(())
}
