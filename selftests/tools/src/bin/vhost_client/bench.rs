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

use crate::setup::{choose_iova, iotlb_ok, open_owned, Session, NET_HDR_LEN, RX_FRAME_ROOM};
use crate::sys::{batch, errno_name, invalidate, page_size, poll_readable, update, Region};
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
}

/// Throughput run: `open-to-driver-ok`, then frames per second looped TX to RX.
pub(crate) fn run(path: &str, o: &Opts) -> Result<(), String> {
    if !(MIN_FRAME..=RX_FRAME_ROOM).contains(&o.size) {
        return Err(format!("--size must be in {MIN_FRAME}..={RX_FRAME_ROOM}"));
    }
    if !(o.seconds > 0.0 && o.seconds <= 3600.0) || o.batch == 0 {
        return Err("--seconds must be in (0, 3600] and --batch at least 1".to_string());
    }
    let t_open = Instant::now();
    let mut s = Session::start(path)?;
    let open_to_ok = t_open.elapsed();

    let size = s.rx.size;
    let used_len = (NET_HDR_LEN + o.size) as u32;
    // Every TX buffer holds the same frame: to the device MAC, so filtering devices accept it.
    let mut frame = vec![0u8; NET_HDR_LEN + o.size];
    frame[NET_HDR_LEN..NET_HDR_LEN + 6].copy_from_slice(&s.mac);
    frame[NET_HDR_LEN + 6..NET_HDR_LEN + 12].copy_from_slice(&SRC_MAC);
    frame[NET_HDR_LEN + 12..NET_HDR_LEN + 14].copy_from_slice(&ETHERTYPE.to_be_bytes());
    for id in 0..size {
        let off = Session::tx_buf(id);
        s.mem.write_bytes(off, &frame);
        let iova = s.tx.iova(off);
        s.tx.write_desc(&s.mem, id, iova, used_len, 0, 0);
    }
    for id in 0..size {
        s.post_rx(id);
    }
    s.kick(0)?;

    let mut tx_free: Vec<u16> = (0..size).rev().collect();
    let batch = usize::from(o.batch.min(size));
    let warmup = Duration::from_secs_f64(o.seconds / 10.0);
    let measure = Duration::from_secs_f64(o.seconds);
    let start = Instant::now();
    let mut window: Option<(Instant, u64)> = None;
    let mut received: u64 = 0;
    let mut kicks: u64 = 0;
    let mut suppressed: u64 = 0;
    let mut waits: u64 = 0;
    loop {
        let now = Instant::now();
        match window {
            None if now - start >= warmup => window = Some((now, received)),
            Some((t0, _)) if now - t0 >= measure => break,
            _ => {}
        }
        // Post TX in bursts of `batch`, one kick each.
        while tx_free.len() >= batch {
            for _ in 0..batch {
                let id = tx_free.pop().expect("checked above");
                s.tx.publish_deferred(&s.mem, id);
            }
            s.tx.flush_avail(&s.mem);
            if s.tx.kick_wanted(&s.mem) {
                s.kick(1)?;
                kicks += 1;
            } else {
                suppressed += 1;
            }
        }
        let mut progress = 0u32;
        while let Some((id, _)) = s.tx.pop_used(&s.mem) {
            let id = ring_id(id, size, "TX")?;
            tx_free.push(id);
            progress += 1;
        }
        let mut rx_back = 0u32;
        while let Some((id, len)) = s.rx.pop_used(&s.mem) {
            let id = ring_id(id, size, "RX")?;
            if len != used_len {
                return Err(format!(
                    "RX buffer {id} came back with length {len}, sent {used_len}"
                ));
            }
            s.rx.publish_deferred(&s.mem, id);
            rx_back += 1;
        }
        if rx_back > 0 {
            s.rx.flush_avail(&s.mem);
            if s.rx.kick_wanted(&s.mem) {
                s.kick(0)?;
                kicks += 1;
            } else {
                suppressed += 1;
            }
            received += u64::from(rx_back);
            progress += rx_back;
        }
        if progress == 0 {
            let fds = [s.call[0].raw(), s.call[1].raw()];
            let ready =
                poll_readable(&fds, WAIT_MS).map_err(|e| format!("poll: {}", errno_name(e)))?;
            if !ready.iter().any(|&r| r) && s.rx.pending(&s.mem) == 0 && s.tx.pending(&s.mem) == 0 {
                return Err(format!(
                    "no progress and no call notification within {} s ({received} frames back)",
                    WAIT_MS / 1000
                ));
            }
            for c in &s.call {
                c.drain()
                    .map_err(|e| format!("read call eventfd: {}", errno_name(e)))?;
            }
            waits += 1;
        }
    }
    let (t0, r0) = window.expect("the loop leaves only after the window opened");
    let el = t0.elapsed().as_secs_f64();
    let frames = received - r0;
    let fps = frames as f64 / el;
    println!("bench: open-to-driver-ok {:.6} s", open_to_ok.as_secs_f64());
    println!(
        "bench: size {} batch {batch} frames {frames} seconds {el:.3} fps {fps:.0} gbps {:.4}",
        o.size,
        fps * o.size as f64 * 8.0 / 1e9
    );
    println!(
        "bench: kicks {kicks}, kicks the device turned down {suppressed}, call waits {waits}, ring {size}"
    );
    s.teardown()
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
    mem.touch();
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
        "map-bench: maps {} pages {} rounds {} batched {}",
        o.maps,
        o.pages,
        o.rounds,
        u8::from(o.batched)
    );
    println!(
        "map-bench: map maps/s {:.0} pages/s {:.0} unmap maps/s {:.0} pages/s {:.0}",
        per(t_map),
        per(t_map) * f64::from(o.pages),
        per(t_unmap),
        per(t_unmap) * f64::from(o.pages)
    );
    drop(dev);
    Ok(())
}
