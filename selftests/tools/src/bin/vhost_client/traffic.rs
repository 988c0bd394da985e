// SPDX-License-Identifier: GPL-2.0
//! `traffic`: loops frames through the device (TX back to RX) and checks every byte.

use crate::ring::Vq;
use crate::setup::{fmt_mac, Session, NET_HDR_LEN, RX_FRAME_ROOM};
use crate::sys::{errno_name, poll_readable, step, Region};
use vhost_uapi::{
    VHOST_GET_VRING_BASE, VHOST_SET_VRING_BASE, VHOST_VDPA_RESUME, VHOST_VDPA_SET_STATUS,
    VHOST_VDPA_SUSPEND,
};

/// Source MAC of every frame.
pub(crate) const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// IEEE 802 local experimental ethertype.
pub(crate) const ETHERTYPE: u16 = 0x88b5;
/// Marks our frames, right after the Ethernet header.
const MAGIC: &[u8; 4] = b"vhcl";
/// Ethernet header, magic and sequence number: the shortest frame we can identify.
pub(crate) const MIN_FRAME: usize = 14 + 4 + 4;
/// How long one wait for a call notification may take.
pub(crate) const WAIT_MS: i32 = 5000;

/// Options of the `traffic` subcommand.
#[derive(Clone, Copy)]
pub(crate) struct Opts {
    /// Frames to loop.
    pub(crate) frames: u32,
    /// Smallest Ethernet frame (header included, no FCS).
    pub(crate) min: usize,
    /// Largest Ethernet frame.
    pub(crate) max: usize,
    /// Frames in flight at most.
    pub(crate) batch: u32,
    /// Suspend the device every this many frames sent (0: never).
    pub(crate) suspend_every: u32,
    /// Kick both rings after each RESUME (a device should not need it).
    pub(crate) kick_after_resume: bool,
    /// Enable the rings after DRIVER_OK.
    pub(crate) late_enable: bool,
    /// Reset and restart the device on the same IOTLB map this many times, looping all the
    /// frames again after each.
    pub(crate) restarts: u32,
}

/// How long a suspended device is watched for activity.
const SUSPENDED_WATCH_MS: i32 = 100;

/// Length of frame `seq`: every length of `[min, max]` in turn if there are enough frames,
/// otherwise lengths spread evenly from `min` to `max` (both included).
fn frame_len(o: &Opts, seq: u32) -> usize {
    let range = o.max - o.min + 1;
    let n = o.frames as usize;
    if n >= range || n < 2 {
        o.min + seq as usize % range
    } else {
        o.min + (seq as usize * (range - 1)) / (n - 1)
    }
}

/// Frame `seq`: to the device MAC, from [`SRC_MAC`], ethertype [`ETHERTYPE`], then the magic,
/// the sequence number and a pattern that depends on both.
fn frame(o: &Opts, mac: &[u8; 6], seq: u32) -> Vec<u8> {
    let len = frame_len(o, seq);
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(mac);
    f.extend_from_slice(&SRC_MAC);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(MAGIC);
    f.extend_from_slice(&seq.to_le_bytes());
    let mut x = seq.wrapping_mul(0x9e37_79b9) ^ 0x5bd1_e995;
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push((x >> 11) as u8);
    }
    f
}

/// Counters printed at the end.
#[derive(Default)]
struct Stats {
    kicks_tx: u32,
    kicks_rx: u32,
    wakeups: u32,
    call_rx: u64,
    call_tx: u64,
    tx_used: u32,
    rx_used: u32,
    hdr_num_buffers_1: u32,
    suspends: u32,
    /// Frames posted while the device was suspended.
    posted_suspended: u32,
}

struct Flow<'a> {
    o: &'a Opts,
    s: Session,
    /// TX descriptors not in flight.
    tx_free: Vec<u16>,
    /// Which TX descriptor carries which sequence number.
    tx_seq: Vec<Option<u32>>,
    /// RX descriptors currently given to the device.
    rx_posted: Vec<bool>,
    /// Frames received, by sequence number.
    received: Vec<bool>,
    sent: u32,
    got: u32,
    st: Stats,
    /// `sent` at the last suspension.
    suspended_at: u32,
}

impl Flow<'_> {
    fn progress(&self) -> String {
        format!(
            "sent {}, TX completed {}, received {} of {}",
            self.sent, self.st.tx_used, self.got, self.o.frames
        )
    }

    /// Posts frames while fewer than `batch` are outstanding; kicks TX once if any were.
    fn send(&mut self) -> Result<(), String> {
        self.send_up_to(self.o.batch)
    }

    /// Posts frames while fewer than `limit` are outstanding; kicks TX once if any were.
    fn send_up_to(&mut self, limit: u32) -> Result<(), String> {
        let mut posted = 0;
        while self.sent < self.o.frames && self.sent - self.got < limit {
            let Some(id) = self.tx_free.pop() else { break };
            let seq = self.sent;
            let f = frame(self.o, &self.s.mac, seq);
            let off = Session::tx_buf(id);
            self.s.mem.write_bytes(off, &[0u8; NET_HDR_LEN]);
            self.s.mem.write_bytes(off + NET_HDR_LEN, &f);
            let iova = self.s.tx.iova(off);
            self.s
                .tx
                .write_desc(&self.s.mem, id, iova, (NET_HDR_LEN + f.len()) as u32, 0, 0);
            self.s.tx.publish(&self.s.mem, id);
            self.tx_seq[usize::from(id)] = Some(seq);
            self.sent += 1;
            posted += 1;
        }
        if posted > 0 {
            self.s.kick(1)?;
            self.st.kicks_tx += 1;
        }
        Ok(())
    }

    /// Consumes TX completions; returns how many.
    fn reap_tx(&mut self) -> Result<u32, String> {
        let mut n = 0;
        while let Some((id, _len)) = self.s.tx.pop_used(&self.s.mem) {
            let slot = usize::try_from(id)
                .ok()
                .and_then(|i| self.tx_seq.get_mut(i))
                .ok_or_else(|| format!("TX used entry with id {id}, outside the ring"))?;
            if slot.take().is_none() {
                return Err(format!(
                    "TX used entry for descriptor {id}, which is not in flight"
                ));
            }
            self.tx_free.push(id as u16);
            self.st.tx_used += 1;
            n += 1;
        }
        Ok(n)
    }

    /// Consumes RX completions, checks each frame and reposts the buffer; returns how many.
    fn reap_rx(&mut self) -> Result<u32, String> {
        let mut n = 0;
        let mut repost = Vec::new();
        while let Some((id, len)) = self.s.rx.pop_used(&self.s.mem) {
            let idx = usize::try_from(id)
                .ok()
                .filter(|&i| self.rx_posted.get(i) == Some(&true))
                .ok_or_else(|| format!("RX used entry with id {id}, not a posted buffer"))?;
            self.rx_posted[idx] = false;
            self.check_rx(idx as u16, len)?;
            self.st.rx_used += 1;
            repost.push(idx as u16);
            n += 1;
        }
        for id in repost {
            self.s.post_rx(id);
            self.rx_posted[usize::from(id)] = true;
        }
        if n > 0 {
            self.s.kick(0)?;
            self.st.kicks_rx += 1;
        }
        Ok(n)
    }

    fn check_rx(&mut self, id: u16, len: u32) -> Result<(), String> {
        let len = len as usize;
        if !(NET_HDR_LEN + MIN_FRAME..=NET_HDR_LEN + RX_FRAME_ROOM).contains(&len) {
            return Err(format!("RX buffer {id} came back with length {len}"));
        }
        let off = Session::rx_buf(id);
        let got = self.s.mem.read_bytes(off, len);
        let (hdr, f) = got.split_at(NET_HDR_LEN);
        if f[14..18] != MAGIC[..] {
            return Err(format!(
                "RX buffer {id}: a frame that is not ours: {:02x?}",
                &f[..18]
            ));
        }
        let seq = u32::from_le_bytes([f[18], f[19], f[20], f[21]]);
        if seq >= self.sent {
            return Err(format!("RX frame with sequence {seq}, never sent"));
        }
        if std::mem::replace(&mut self.received[seq as usize], true) {
            return Err(format!("frame {seq} came back twice"));
        }
        // The header we sent is all zero. A device that fills in `num_buffers = 1` (as the
        // spec asks when MRG_RXBUF is not negotiated) is fine too; vdpa_sim copies verbatim.
        if hdr[..10].iter().any(|&b| b != 0) || !matches!(hdr[10..], [0, 0] | [1, 0]) {
            return Err(format!(
                "frame {seq}: virtio-net header {hdr:02x?}, sent all zero"
            ));
        }
        if hdr[10] == 1 {
            self.st.hdr_num_buffers_1 += 1;
        }
        let want = frame(self.o, &self.s.mac, seq);
        if f.len() != want.len() {
            return Err(format!(
                "frame {seq}: came back as {} bytes (used len {len}), sent {} (+{NET_HDR_LEN} header)",
                f.len(),
                want.len()
            ));
        }
        if let Some(i) = f.iter().zip(&want).position(|(a, b)| a != b) {
            return Err(format!(
                "frame {seq} of {} bytes differs at byte {i}: got {:#04x}, sent {:#04x}",
                want.len(),
                f[i],
                want[i]
            ));
        }
        self.got += 1;
        Ok(())
    }

    /// Starts a run on fresh rings: every RX descriptor posted, nothing sent yet.
    fn begin(&mut self) -> Result<(), String> {
        let size = self.s.rx.size;
        self.tx_free = (0..size).rev().collect();
        self.tx_seq = vec![None; usize::from(size)];
        self.rx_posted = vec![true; usize::from(size)];
        self.received = vec![false; self.o.frames as usize];
        self.sent = 0;
        self.got = 0;
        self.suspended_at = 0;
        self.st.tx_used = 0;
        self.st.rx_used = 0;
        for id in 0..size {
            self.s.post_rx(id);
        }
        self.s.kick(0)?;
        self.st.kicks_rx += 1;
        Ok(())
    }

    /// Loops every frame of a run and checks that nothing more comes back.
    fn pump(&mut self) -> Result<(), String> {
        let o = self.o;
        loop {
            self.send()?;
            if o.suspend_every > 0 && self.sent - self.suspended_at >= o.suspend_every {
                self.suspended_at = self.sent;
                self.suspend_round()?;
            }
            let n = self.reap_tx()? + self.reap_rx()?;
            sane(&self.s.rx, &self.s.mem)?;
            sane(&self.s.tx, &self.s.mem)?;
            if self.got == o.frames && self.st.tx_used == o.frames {
                break;
            }
            if n == 0 {
                self.wait()?;
            }
        }
        // Nothing more may come back: a late duplicate would show up as an extra RX entry.
        poll_readable(&[self.s.call[0].raw()], 200)
            .map_err(|e| format!("poll: {}", errno_name(e)))?;
        let extra = self.s.rx.pending(&self.s.mem);
        if extra != 0 {
            return Err(format!(
                "{extra} RX entries came back after all {} frames",
                o.frames
            ));
        }
        Ok(())
    }

    /// One suspension in the middle of the burst (see `--suspend-every`).
    fn suspend_round(&mut self) -> Result<(), String> {
        step(
            "VHOST_VDPA_SUSPEND",
            self.s.dev.ioctl_none(VHOST_VDPA_SUSPEND),
        )?;
        self.st.suspends += 1;
        // Everything the device took is used by now, so its next index is the used index.
        for q in [&self.s.rx, &self.s.tx] {
            let base = step(
                &format!("GET_VRING_BASE({}) while suspended", q.index),
                self.s.dev.get_state(VHOST_GET_VRING_BASE, q.index),
            )?;
            let used = q.used_idx(&self.s.mem);
            if base != u32::from(used) {
                return Err(format!(
                    "suspended: vq {} GET_VRING_BASE is {base}, its used index {used} ({})",
                    q.index,
                    self.progress()
                ));
            }
        }
        for c in &self.s.call {
            c.drain()
                .map_err(|e| format!("read call eventfd: {}", errno_name(e)))?;
        }
        let used = (
            self.s.rx.used_idx(&self.s.mem),
            self.s.tx.used_idx(&self.s.mem),
        );
        // More frames than the batch, so that there is something to hold back.
        let before = self.sent;
        self.send_up_to((self.o.batch + 8).min(u32::from(self.s.rx.size)))?;
        self.st.posted_suspended += self.sent - before;
        let fds = [self.s.call[0].raw(), self.s.call[1].raw()];
        let woke = poll_readable(&fds, SUSPENDED_WATCH_MS)
            .map_err(|e| format!("poll: {}", errno_name(e)))?;
        let now = (
            self.s.rx.used_idx(&self.s.mem),
            self.s.tx.used_idx(&self.s.mem),
        );
        if now != used || woke.iter().any(|&r| r) {
            return Err(format!(
                "suspended device moved: used indexes (rx, tx) {used:?} -> {now:?}, calls {woke:?}"
            ));
        }
        // Accepted while suspended (vhost-vdpa refuses both on a running device): the same
        // base and addresses again, so the device must go on exactly where it stopped.
        let tx_base = u32::from(self.s.tx.used_idx(&self.s.mem));
        let dev = &self.s.dev;
        step(
            "SET_VRING_BASE(1) while suspended",
            dev.set_state(VHOST_SET_VRING_BASE, 1, tx_base),
        )?;
        step(
            "SET_VRING_ADDR(0) while suspended",
            dev.set_addr(&self.s.rx.addr()),
        )?;
        step("VHOST_VDPA_RESUME", dev.ioctl_none(VHOST_VDPA_RESUME))?;
        if self.o.kick_after_resume {
            self.s.kick(0)?;
            self.s.kick(1)?;
        }
        Ok(())
    }

    /// Waits for a call notification (up to [`WAIT_MS`]) and drains both call eventfds.
    fn wait(&mut self) -> Result<(), String> {
        let fds = [self.s.call[0].raw(), self.s.call[1].raw()];
        let ready = poll_readable(&fds, WAIT_MS).map_err(|e| format!("poll: {}", errno_name(e)))?;
        if !ready.iter().any(|&r| r) {
            // The rings were checked right before waiting, so entries that are there now
            // arrived without a call notification.
            let (rx, tx) = (
                self.s.rx.pending(&self.s.mem),
                self.s.tx.pending(&self.s.mem),
            );
            if rx != 0 || tx != 0 {
                return Err(format!(
                    "missing interrupt: {rx} RX and {tx} TX used entries arrived without a call notification within {} s ({})",
                    WAIT_MS / 1000,
                    self.progress()
                ));
            }
            return Err(format!(
                "no call notification and no progress within {} s ({})",
                WAIT_MS / 1000,
                self.progress()
            ));
        }
        self.st.wakeups += 1;
        self.st.call_rx += self.s.call[0]
            .drain()
            .map_err(|e| format!("read call eventfd: {}", errno_name(e)))?;
        self.st.call_tx += self.s.call[1]
            .drain()
            .map_err(|e| format!("read call eventfd: {}", errno_name(e)))?;
        Ok(())
    }
}

/// Checks that `q` never has more used entries pending than it has entries.
fn sane(q: &Vq, mem: &Region) -> Result<(), String> {
    let p = q.pending(mem);
    if p > q.size {
        return Err(format!(
            "vq {}: used index ran {p} entries ahead, ring has {}",
            q.index, q.size
        ));
    }
    Ok(())
}

/// Runs the subcommand.
pub(crate) fn run(path: &str, o: &Opts) -> Result<(), String> {
    if o.min < MIN_FRAME || o.min > o.max || o.max > RX_FRAME_ROOM {
        return Err(format!(
            "frame sizes must satisfy {MIN_FRAME} <= min <= max <= {RX_FRAME_ROOM}"
        ));
    }
    if o.frames == 0 || o.batch == 0 {
        return Err("--frames and --batch must be at least 1".to_string());
    }
    let s = Session::start_with(path, o.late_enable)?;
    println!(
        "traffic: device mac {}, features {:#x} -> {:#x}, backend {:#x} -> {:#x}",
        fmt_mac(&s.mac),
        s.info.features,
        s.info.driver_features,
        s.info.backend_offered,
        s.info.backend_acked,
    );
    println!(
        "traffic: vqs {}, vring_num {} (rings of {}), config {} bytes, iova range {:#x}..={:#x}, map at iova {:#x}",
        s.info.nvqs,
        s.info.vring_num_max,
        s.rx.size,
        s.info.config_size,
        s.info.iova_range.first,
        s.info.iova_range.last,
        s.iova
    );
    let size = s.rx.size;
    let batch = o.batch.min(u32::from(size));
    let eff = Opts { batch, ..*o };
    let mut f = Flow {
        o: &eff,
        tx_free: Vec::new(),
        tx_seq: Vec::new(),
        rx_posted: Vec::new(),
        received: Vec::new(),
        sent: 0,
        got: 0,
        st: Stats::default(),
        suspended_at: 0,
        s,
    };
    f.begin()?;
    f.pump()?;
    for round in 1..=o.restarts {
        // The same IOTLB map, new rings: the device must still reach the memory.
        f.s.restart().map_err(|e| format!("restart {round}: {e}"))?;
        f.begin()?;
        f.pump()
            .map_err(|e| format!("after restart {round}: {e}"))?;
    }
    let runs = 1 + o.restarts;
    println!(
        "traffic: {}/{} frames of {}..{} bytes came back bit-exact{}",
        f.got,
        o.frames,
        o.min,
        o.max,
        if o.restarts > 0 {
            format!(", in each of {runs} runs (reset and restarted on the same IOTLB map)")
        } else {
            String::new()
        }
    );
    println!(
        "traffic: kicks tx {} rx {}, call wakeups {} (rx {} tx {}), used tx {} rx {}, headers with num_buffers=1: {}",
        f.st.kicks_tx,
        f.st.kicks_rx,
        f.st.wakeups,
        f.st.call_rx,
        f.st.call_tx,
        f.st.tx_used,
        f.st.rx_used,
        f.st.hdr_num_buffers_1
    );
    if o.suspend_every > 0 {
        println!(
            "traffic: suspended {} times mid-burst: bases matched the used indexes, {} frames posted while suspended stayed put until resume",
            f.st.suspends, f.st.posted_suspended
        );
    }
    // Where the TX ring stood, asked after a reset as QEMU 7.2 asks for its last rings.
    step("SET_STATUS(0)", f.s.dev.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
    let base = step(
        "GET_VRING_BASE(1)",
        f.s.dev.get_state(VHOST_GET_VRING_BASE, 1),
    )?;
    println!(
        "traffic: tx ring base read after the reset: {base} ({} frames sent)",
        f.sent
    );
    f.s.teardown()?;
    println!("traffic: teardown ok (reset, status 0, map invalidated, closed)");
    Ok(())
}
