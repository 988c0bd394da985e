// SPDX-License-Identifier: GPL-2.0
//! pktloop: sends Ethernet frames on an interface with AF_PACKET and checks what comes back.
//!
//! ```text
//! pktloop IFNAME DST_MAC MIN_LEN MAX_LEN [STEP] [--expect none] [--vlan VID]
//! pktloop IFNAME DST_MAC --stream SECONDS [--max-len N]
//! ```
//!
//! For every frame length from MIN_LEN to MAX_LEN (bytes of Ethernet frame, header included,
//! no FCS) it sends one frame to DST_MAC with a fresh random payload and waits for it to come
//! back on the same interface. Each frame must come back exactly once and bit-exact. With
//! `--expect none`, no frame may come back (the device must drop them). With `--vlan VID`
//! each frame carries an 802.1Q tag with that VLAN id (4 bytes more than its length); the
//! kernel hands a tagged frame back without its tag, which is how it is compared. Prints one
//! summary line and exits non-zero on any mismatch, loss, duplicate or timeout.
//!
//! `--stream SECONDS` keeps up to 8 frames in flight for that long instead, each of a length
//! (60 to 1514 bytes, or to N with `--max-len N`) and content derived from its sequence
//! number, and checks every frame that comes back against what was sent: a frame altered or
//! duplicated fails the run, a frame that has not come back after a second is counted lost
//! (one that comes back later, late), and the longest time without any frame coming back is
//! reported: what a guest sees of its network while it is live-migrated. It prints a line
//! every 5 s and a summary at the end.

use std::io::{Error, ErrorKind};
use std::time::{Duration, Instant};
use vmdev_selftest_tools::rng::Rng;

/// IEEE 802 local experimental ethertype: nothing else in the VM uses it.
const ETHERTYPE: u16 = 0x88b5;
const MAGIC: &[u8; 4] = b"vmdv";
const HDR: usize = 14;

struct Socket {
    fd: i32,
    ifindex: i32,
}

impl Socket {
    fn open(ifname: &str) -> std::io::Result<Self> {
        let name =
            std::ffi::CString::new(ifname).map_err(|_| Error::from(ErrorKind::InvalidInput))?;
        // SAFETY: a NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(Error::last_os_error());
        }
        // Protocol 0: the socket receives nothing until `bind` names the protocol and the
        // interface (packet(7)). Created with the protocol, it would queue matching frames
        // from every interface until the bind, and another pktloop's first frame, from
        // another instance with the same MAC, would come back "altered" (seen with the
        // lifecycle stress running 8 instances at a time).
        // SAFETY: socket() takes no pointers; the descriptor it returns is owned by `Socket`,
        // which closes it.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        if fd < 0 {
            return Err(Error::last_os_error());
        }
        let s = Socket { fd, ifindex };
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = ETHERTYPE.to_be();
        sll.sll_ifindex = ifindex;
        // SAFETY: `sll` is a valid sockaddr_ll of the size given.
        let r = unsafe {
            libc::bind(
                fd,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(Error::last_os_error());
        }
        Ok(s)
    }

    fn send(&self, frame: &[u8]) -> std::io::Result<()> {
        let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_ifindex = self.ifindex;
        sll.sll_halen = 6;
        sll.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: `frame` and `sll` are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                self.fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                &sll as *const _ as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if n < 0 {
            return Err(Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(Error::new(ErrorKind::WriteZero, "short send"));
        }
        Ok(())
    }

    /// Receives one incoming (not our own outgoing copy) frame, or None on timeout.
    fn recv(&self, buf: &mut [u8], timeout: Duration) -> std::io::Result<Option<usize>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            let mut pfd = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let r = unsafe { libc::poll(&mut pfd, 1, left.as_millis().max(1) as i32) };
            if r < 0 {
                return Err(Error::last_os_error());
            }
            if r == 0 {
                continue;
            }
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buf` and `sll` are valid for the lengths given. MSG_TRUNC reports the
            // real length of a frame longer than `buf`.
            let n = unsafe {
                libc::recvfrom(
                    self.fd,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_TRUNC,
                    &mut sll as *mut _ as *mut libc::sockaddr,
                    &mut len,
                )
            };
            if n < 0 {
                return Err(Error::last_os_error());
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(n as usize));
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // SAFETY: our fd.
        unsafe { libc::close(self.fd) };
    }
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

fn read_mac(ifname: &str) -> std::io::Result<[u8; 6]> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{ifname}/address"))?;
    parse_mac(s.trim()).ok_or_else(|| Error::new(ErrorKind::InvalidData, "bad MAC in sysfs"))
}

/// The 802.1Q tag of VLAN `vid`.
fn vlan_tag(vid: u16) -> [u8; 4] {
    let [a, b] = 0x8100u16.to_be_bytes();
    let [c, d] = (vid & 0x0fff).to_be_bytes();
    [a, b, c, d]
}

fn build(dst: &[u8; 6], src: &[u8; 6], seq: u32, len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(dst);
    f.extend_from_slice(src);
    f.extend_from_slice(&ETHERTYPE.to_be_bytes());
    f.extend_from_slice(MAGIC);
    f.extend_from_slice(&seq.to_be_bytes());
    while f.len() < len {
        f.push(rng.next() as u8);
    }
    f.truncate(len);
    f
}

fn seq_of(frame: &[u8]) -> Option<u32> {
    if frame.len() < HDR + 8 || &frame[HDR..HDR + 4] != MAGIC {
        return None;
    }
    Some(u32::from_be_bytes(frame[HDR + 4..HDR + 8].try_into().ok()?))
}

/// The frame of sequence number `seq` in a stream of frames of 60 to `max_len` bytes: its
/// length and bytes follow from `seq`, so the receiver needs no copy of what was sent.
fn stream_frame(dst: &[u8; 6], src: &[u8; 6], seq: u32, max_len: usize) -> Vec<u8> {
    let len = 60 + (seq as usize * 7919) % (max_len - 59);
    let mut rng = Rng::new(u64::from(seq).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    build(dst, src, seq, len, &mut rng)
}

/// What a stream has counted.
#[derive(Default)]
struct StreamCounts {
    /// Frames sent so far (their sequence numbers are `1..=sent`).
    sent: u32,
    back: u64,
    lost: u64,
    late: u64,
    dup: u64,
    altered: u64,
    longest_gap: Duration,
}

impl StreamCounts {
    fn line(&self, t: Duration) -> String {
        format!(
            "pktloop: stream {:.0} s: sent {}, came back {} bit-exact, lost {}, late {}, duplicated {}, altered {}, longest gap {} ms",
            t.as_secs_f64(),
            self.sent,
            self.back,
            self.lost,
            self.late,
            self.dup,
            self.altered,
            self.longest_gap.as_millis()
        )
    }
}

/// A stream of frames in flight (see the module documentation).
struct Stream {
    dst: [u8; 6],
    src: [u8; 6],
    max_len: usize,
    /// Sent and not yet back, with when they were sent.
    in_flight: std::collections::BTreeMap<u32, Instant>,
    /// Counted lost, in case they come back late.
    lost: std::collections::BTreeSet<u32>,
    last_back: Instant,
    c: StreamCounts,
}

impl Stream {
    /// A frame came back: checks it against the one of its sequence number.
    fn back(&mut self, got: &[u8]) {
        let Some(seq) = seq_of(got) else { return };
        let now = Instant::now();
        let want = stream_frame(&self.dst, &self.src, seq, self.max_len);
        if got != want.as_slice() {
            self.c.altered += 1;
            eprintln!(
                "pktloop: frame {seq} came back altered ({} bytes, sent {})",
                got.len(),
                want.len()
            );
        } else if self.in_flight.remove(&seq).is_some() {
            self.c.back += 1;
        } else if self.lost.remove(&seq) {
            self.c.lost -= 1;
            self.c.late += 1;
            self.c.back += 1;
        } else {
            self.c.dup += 1;
            eprintln!("pktloop: frame {seq} came back twice");
        }
        self.c.longest_gap = self.c.longest_gap.max(now - self.last_back);
        self.last_back = now;
    }

    /// Counts as lost what has been in flight for longer than `after`.
    fn expire(&mut self, after: Duration) {
        let now = Instant::now();
        let old: Vec<u32> = self
            .in_flight
            .iter()
            .filter(|(_, &t)| now - t > after)
            .map(|(&s, _)| s)
            .collect();
        for s in old {
            self.in_flight.remove(&s);
            self.lost.insert(s);
            self.c.lost += 1;
        }
    }
}

/// `--stream SECONDS`: see the module documentation.
fn stream(ifname: &str, dst: [u8; 6], seconds: u64, max_len: usize) -> Result<String, String> {
    const WINDOW: usize = 8;
    let lost_after = Duration::from_secs(1);
    let src = read_mac(ifname).map_err(|e| format!("{ifname}: {e}"))?;
    let sock = Socket::open(ifname).map_err(|e| format!("socket on {ifname}: {e}"))?;
    let mut rx = vec![0u8; 65536 + 64];
    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut st = Stream {
        dst,
        src,
        max_len,
        in_flight: Default::default(),
        lost: Default::default(),
        last_back: start,
        c: StreamCounts::default(),
    };
    let mut report_at = start + Duration::from_secs(5);
    let mut receive = |sock: &Socket, st: &mut Stream| -> Result<(), String> {
        let got = sock
            .recv(&mut rx, Duration::from_millis(20))
            .map_err(|e| format!("recv: {e}"))?;
        if let Some(n) = got {
            st.back(&rx[..n.min(rx.len())]);
        }
        Ok(())
    };
    while Instant::now() < end {
        while st.in_flight.len() < WINDOW {
            let seq = st.c.sent + 1;
            // A send that fails (no carrier for a moment) is retried on the next round.
            if sock.send(&stream_frame(&dst, &src, seq, max_len)).is_err() {
                break;
            }
            st.in_flight.insert(seq, Instant::now());
            st.c.sent = seq;
        }
        receive(&sock, &mut st)?;
        st.expire(lost_after);
        if Instant::now() >= report_at {
            println!("{}", st.c.line(start.elapsed()));
            report_at += Duration::from_secs(5);
        }
    }
    // What is still in flight gets a last second.
    let until = Instant::now() + lost_after;
    while !st.in_flight.is_empty() && Instant::now() < until {
        receive(&sock, &mut st)?;
    }
    st.c.lost += st.in_flight.len() as u64;
    let summary = st.c.line(start.elapsed());
    if st.c.altered > 0 || st.c.dup > 0 || st.c.back == 0 {
        return Err(summary);
    }
    Ok(summary)
}

fn run() -> Result<String, String> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(w) = args.windows(2).find(|w| w[0] == "--stream") {
        let secs: u64 = w[1].parse().map_err(|_| "bad --stream SECONDS")?;
        let (ifname, mac) = (
            args.get(1).ok_or("no IFNAME")?,
            args.get(2).ok_or("no DST_MAC")?,
        );
        let dst = parse_mac(mac).ok_or("bad DST_MAC")?;
        let max_len = match args.windows(2).find(|w| w[0] == "--max-len") {
            Some(w) => w[1]
                .parse()
                .ok()
                .filter(|n| (60..=65535).contains(n))
                .ok_or("bad --max-len N (60 to 65535)")?,
            None => 1514,
        };
        return stream(ifname, dst, secs, max_len);
    }
    let usage = "usage: pktloop IFNAME DST_MAC MIN_LEN MAX_LEN [STEP] [--expect none] [--vlan VID]\n       pktloop IFNAME DST_MAC --stream SECONDS [--max-len N]";
    if args.len() < 5 {
        return Err(usage.into());
    }
    let ifname = &args[1];
    let dst = parse_mac(&args[2]).ok_or("bad DST_MAC")?;
    let min: usize = args[3].parse().map_err(|_| "bad MIN_LEN")?;
    let max: usize = args[4].parse().map_err(|_| "bad MAX_LEN")?;
    let step: usize = args
        .get(5)
        .filter(|a| !a.starts_with("--"))
        .map_or(Ok(1), |s| s.parse())
        .map_err(|_| "bad STEP")?;
    let expect_none = args
        .windows(2)
        .any(|w| w[0] == "--expect" && w[1] == "none");
    let vlan: Option<u16> = match args.windows(2).find(|w| w[0] == "--vlan") {
        Some(w) => Some(w[1].parse().ok().filter(|&v| v < 4096).ok_or("bad VID")?),
        None => None,
    };
    if min < HDR + 8 || max < min || step == 0 {
        return Err(format!(
            "lengths must satisfy {} <= MIN_LEN <= MAX_LEN, STEP > 0",
            HDR + 8
        ));
    }
    let src = read_mac(ifname).map_err(|e| format!("{ifname}: {e}"))?;
    let sock = Socket::open(ifname).map_err(|e| format!("socket on {ifname}: {e}"))?;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng::new(seed);
    let mut rx = vec![0u8; 65536 + 64];
    let wait = Duration::from_millis(if expect_none { 300 } else { 5000 });
    let (mut sent, mut ok) = (0u32, 0u32);
    let mut seq = 0u32;
    let mut len = min;
    while len <= max {
        seq += 1;
        let frame = build(&dst, &src, seq, len, &mut rng);
        let wire = match vlan {
            Some(vid) => [&frame[..12], &vlan_tag(vid)[..], &frame[12..]].concat(),
            None => frame.clone(),
        };
        sock.send(&wire)
            .map_err(|e| format!("send {} bytes: {e}", wire.len()))?;
        sent += 1;
        // Wait for this frame; anything else that arrives is a stray or a duplicate.
        loop {
            match sock.recv(&mut rx, wait).map_err(|e| format!("recv: {e}"))? {
                None if expect_none => break,
                None => {
                    return Err(format!(
                        "frame of {len} bytes (seq {seq}) did not come back"
                    ))
                }
                Some(n) => {
                    let got = &rx[..n.min(rx.len())];
                    match seq_of(got) {
                        Some(s) if s == seq => {
                            if expect_none {
                                return Err(format!(
                                    "frame of {len} bytes to {} came back",
                                    args[2]
                                ));
                            }
                            if n != frame.len() || got != frame.as_slice() {
                                let at = got.iter().zip(&frame).position(|(a, b)| a != b);
                                return Err(format!(
                                    "frame of {len} bytes came back altered: length {n}, first difference at {at:?}"
                                ));
                            }
                            ok += 1;
                            break;
                        }
                        Some(s) if s < seq => {
                            return Err(format!("duplicate or late frame seq {s} (now at {seq})"))
                        }
                        _ => continue,
                    }
                }
            }
        }
        len += step;
    }
    // Nothing may come back twice: drain for a moment.
    if let Some(n) = sock
        .recv(&mut rx, Duration::from_millis(200))
        .map_err(|e| format!("recv: {e}"))?
    {
        if let Some(s) = seq_of(&rx[..n.min(rx.len())]) {
            return Err(format!("frame seq {s} came back more than once"));
        }
    }
    Ok(if expect_none {
        format!(
            "pktloop: {sent} frames of {min}..{max} bytes to {} sent, none came back",
            args[2]
        )
    } else {
        format!("pktloop: {ok}/{sent} frames of {min}..{max} bytes came back bit-exact, once each")
    })
}

fn main() {
    match run() {
        Ok(s) => println!("{s}"),
        Err(e) => {
            eprintln!("pktloop: FAIL: {e}");
            std::process::exit(1);
        }
    }
}
