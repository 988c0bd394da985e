// SPDX-License-Identifier: GPL-2.0
//! Loopback tests against a minimal driver model.
//!
//! The virtqueue crate's mock is `cfg(test)` there and so invisible here;
//! this is a deliberately small copy of what these tests need.

use std::vec;
use std::vec::Vec;

use super::virtqueue::{
    GuestMemory, MemError, SplitQueue, VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_INDIRECT,
    VRING_DESC_F_NEXT, VRING_DESC_F_WRITE, VRING_USED_F_NO_NOTIFY,
};
use super::*;
use virtqueue::mock::XorShift;

const BASE: u64 = 0x10_0000;
const MEM_LEN: usize = 0x20_0000;
const QSIZE: u16 = 256;
const RX_RING: u64 = BASE;
const TX_RING: u64 = BASE + 0x4000;
// Buffers are bump-allocated from here.
const HEAP: u64 = BASE + 0x8000;

const MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const OTHER: [u8; 6] = [0x52, 0x54, 0x00, 0x65, 0x43, 0x21];

/// Driver memory for the tests: the virtqueue crate's mock over `[BASE, BASE + MEM_LEN)`.
type Mem = virtqueue::mock::MockMemory;

fn new_mem() -> Mem {
    Mem::new(BASE, MEM_LEN)
}

struct Ring {
    desc: u64,
    avail: u64,
    used: u64,
    next_desc: u16,
    seen_used: u16,
}

impl Ring {
    fn new(at: u64) -> Self {
        let n = u64::from(QSIZE);
        let avail = at + 16 * n;
        Ring {
            desc: at,
            avail,
            used: (avail + 6 + 2 * n).next_multiple_of(4),
            next_desc: 0,
            seen_used: 0,
        }
    }

    fn queue(&self) -> SplitQueue {
        SplitQueue::new(QSIZE, self.desc, self.avail, self.used, false).unwrap()
    }

    fn write_desc(mem: &Mem, table: u64, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = table + 16 * u64::from(i);
        mem.write(at, &addr.to_le_bytes()).unwrap();
        mem.write_u32(at + 8, len).unwrap();
        mem.write_u16(at + 12, flags).unwrap();
        mem.write_u16(at + 14, next).unwrap();
    }

    /// Makes a chain of `(addr, len)` buffers available, all readable or all
    /// writable; returns its head.
    fn add_chain(&mut self, mem: &Mem, bufs: &[(u64, u32)], writable: bool) -> u16 {
        let head = self.next_desc;
        let n = bufs.len() as u16;
        for (k, &(addr, len)) in bufs.iter().enumerate() {
            let i = (head + k as u16) % QSIZE;
            let mut flags = if writable { VRING_DESC_F_WRITE } else { 0 };
            if (k as u16) + 1 < n {
                flags |= VRING_DESC_F_NEXT;
            }
            Self::write_desc(mem, self.desc, i, addr, len, flags, (i + 1) % QSIZE);
        }
        self.next_desc = (head + n) % QSIZE;
        self.publish(mem, head);
        head
    }

    fn publish(&self, mem: &Mem, head: u16) {
        let idx = mem.read_u16(self.avail + 2).unwrap();
        let slot = u64::from(idx % QSIZE);
        mem.write_u16(self.avail + 4 + 2 * slot, head).unwrap();
        mem.write_u16(self.avail + 2, idx.wrapping_add(1)).unwrap();
    }

    fn used_idx(&self, mem: &Mem) -> u16 {
        mem.read_u16(self.used + 2).unwrap()
    }

    /// Used entries the device added since the last call, as `(id, len)`.
    fn take_used(&mut self, mem: &Mem) -> Vec<(u16, u32)> {
        let mut v = Vec::new();
        let idx = self.used_idx(mem);
        while self.seen_used != idx {
            let at = self.used + 4 + 8 * u64::from(self.seen_used % QSIZE);
            let id = mem.read_u32(at).unwrap();
            v.push((id as u16, mem.read_u32(at + 4).unwrap()));
            self.seen_used = self.seen_used.wrapping_add(1);
        }
        v
    }
}

/// Whole test bench: memory, both rings, device state and a buffer heap.
struct Bench {
    mem: Mem,
    rxr: Ring,
    txr: Ring,
    rx: SplitQueue,
    tx: SplitQueue,
    cfg: NetConfig,
    filter: RxFilter,
    stats: NetStats,
    heap: u64,
}

impl Bench {
    fn new(mtu: u16) -> Self {
        let rxr = Ring::new(RX_RING);
        let txr = Ring::new(TX_RING);
        let (rx, tx) = (rxr.queue(), txr.queue());
        Bench {
            mem: new_mem(),
            rxr,
            txr,
            rx,
            tx,
            cfg: NetConfig {
                mac: MAC,
                mtu,
                link_up: true,
                announce: false,
                max_pairs: 1,
            },
            filter: RxFilter::new(),
            stats: NetStats::default(),
            heap: HEAP,
        }
    }

    fn alloc(&mut self, len: u64) -> u64 {
        let at = self.heap;
        self.heap += len.next_multiple_of(64);
        assert!(self.heap <= BASE + MEM_LEN as u64, "test heap exhausted");
        at
    }

    /// Queues a TX frame with a (garbage) header, split into buffers of the
    /// given sizes, which must add up to 12 + frame length.
    fn send_split(&mut self, frame: &[u8], sizes: &[usize]) -> u16 {
        let mut wire = vec![0xeeu8; NET_HDR_LEN];
        wire.extend_from_slice(frame);
        assert_eq!(sizes.iter().sum::<usize>(), wire.len());
        let mut bufs = Vec::new();
        let mut off = 0;
        for &s in sizes {
            let at = self.alloc(s as u64 + 7) + 3;
            self.mem.write(at, &wire[off..off + s]).unwrap();
            bufs.push((at, s as u32));
            off += s;
        }
        self.txr.add_chain(&self.mem, &bufs, false)
    }

    fn send(&mut self, frame: &[u8]) -> u16 {
        self.send_split(frame, &[NET_HDR_LEN + frame.len()])
    }

    /// Queues an RX chain of the given buffer sizes, filled with 0xaa.
    fn post_rx(&mut self, sizes: &[u32]) -> (u16, Vec<(u64, u32)>) {
        let mut bufs = Vec::new();
        for &s in sizes {
            let at = self.alloc(u64::from(s));
            self.mem.write(at, &vec![0xaa; s as usize]).unwrap();
            bufs.push((at, s));
        }
        (self.rxr.add_chain(&self.mem, &bufs, true), bufs)
    }

    fn run(&mut self, budget: u32) -> Outcome {
        process(
            &self.cfg,
            &self.filter,
            &mut self.rx,
            &mut self.tx,
            &self.mem,
            budget,
            &mut self.stats,
        )
    }

    /// Gathers `len` bytes written into an RX chain.
    fn gather(&self, bufs: &[(u64, u32)], len: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for &(at, s) in bufs {
            let take = (len - v.len()).min(s as usize);
            v.extend_from_slice(&self.mem.bytes(at, take));
        }
        assert_eq!(v.len(), len, "RX chain shorter than used length");
        v
    }
}

fn frame(dst: [u8; 6], len: usize, rng: &mut XorShift) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&MAC);
    while f.len() < len {
        f.push(rng.next_u64() as u8);
    }
    f.truncate(len);
    f
}

fn expected_header() -> [u8; NET_HDR_LEN] {
    let mut h = [0u8; NET_HDR_LEN];
    h[NET_HDR_NUM_BUFFERS_OFFSET] = 1;
    h
}

/// Random split of `total` bytes into `parts` non-empty pieces.
fn split(total: usize, parts: usize, rng: &mut XorShift) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..parts - 1)
        .map(|_| 1 + rng.below(total as u64 - 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut sizes = Vec::new();
    let mut prev = 0;
    for c in cuts.into_iter().chain([total]) {
        sizes.push(c - prev);
        prev = c;
    }
    sizes
}

/// Sends every frame length in `lens` through the loopback in batches and
/// checks each delivered byte, the headers, the used entries and the stats.
fn loopback(mtu: u16, lens: impl Iterator<Item = usize>, rx_piece: u32, rx_pieces: usize) {
    let mut b = Bench::new(mtu);
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let lens: Vec<usize> = lens.collect();
    let mut total_bytes = 0u64;
    for batch in lens.chunks(16) {
        b.heap = HEAP;
        let mut expect = Vec::new();
        for &len in batch {
            let f = frame(MAC, len, &mut rng);
            let parts = 1 + len % 4;
            let sizes = split(NET_HDR_LEN + len, parts, &mut rng);
            let tx_head = b.send_split(&f, &sizes);
            let (rx_head, bufs) = b.post_rx(&vec![rx_piece; rx_pieces]);
            expect.push((tx_head, rx_head, bufs, f));
            total_bytes += len as u64;
        }
        let out = b.run(64);
        assert_eq!(out.error, None);
        assert_eq!(out.tx_completed as usize, batch.len());
        assert_eq!(out.rx_completed as usize, batch.len());
        assert!(!out.more_pending && !out.rx_starved);

        let tx_used = b.txr.take_used(&b.mem);
        let rx_used = b.rxr.take_used(&b.mem);
        for (k, (tx_head, rx_head, bufs, f)) in expect.iter().enumerate() {
            assert_eq!(tx_used[k], (*tx_head, 0));
            assert_eq!(rx_used[k], (*rx_head, (NET_HDR_LEN + f.len()) as u32));
            let got = b.gather(bufs, NET_HDR_LEN + f.len());
            assert_eq!(got[..NET_HDR_LEN], expected_header());
            assert!(
                got[NET_HDR_LEN..] == f[..],
                "frame of {} bytes differs",
                f.len()
            );
            // Nothing written past the used length.
            let room: usize = bufs.iter().map(|&(_, s)| s as usize).sum();
            let all = b.gather(bufs, room);
            assert!(all[NET_HDR_LEN + f.len()..].iter().all(|&x| x == 0xaa));
        }
    }
    let n = lens.len() as u64;
    let q = QueueStats {
        packets: n,
        bytes: total_bytes,
        drops: 0,
        errors: 0,
    };
    assert_eq!(b.stats, NetStats { rx: q, tx: q });
}

// ---- config -------------------------------------------------------------

#[test]
fn config_validation() {
    let ok = NetConfig {
        mac: MAC,
        mtu: 1500,
        link_up: true,
        announce: false,
        max_pairs: 1,
    };
    assert_eq!(ok.validate(), Ok(()));
    for mtu in [MIN_MTU, 9000, MAX_MTU] {
        assert_eq!(NetConfig { mtu, ..ok }.validate(), Ok(()));
    }
    for mtu in [0, MIN_MTU - 1, MAX_MTU + 1, u16::MAX] {
        assert_eq!(
            NetConfig { mtu, ..ok }.validate(),
            Err(ConfigError::MtuOutOfRange)
        );
    }
    let mut mcast = MAC;
    mcast[0] |= 1;
    assert_eq!(
        NetConfig { mac: mcast, ..ok }.validate(),
        Err(ConfigError::MulticastMac)
    );
    assert_eq!(
        NetConfig {
            mac: BROADCAST_MAC,
            ..ok
        }
        .validate(),
        Err(ConfigError::MulticastMac)
    );
    assert_eq!(
        NetConfig { mac: [0; 6], ..ok }.validate(),
        Err(ConfigError::ZeroMac)
    );
    for max_pairs in [0, MAX_PAIRS + 1] {
        assert_eq!(
            NetConfig { max_pairs, ..ok }.validate(),
            Err(ConfigError::PairsOutOfRange)
        );
    }
    assert_eq!(
        NetConfig {
            max_pairs: MAX_PAIRS,
            ..ok
        }
        .validate(),
        Ok(())
    );
}

#[test]
fn config_bytes_layout() {
    let cfg = NetConfig {
        mac: MAC,
        mtu: 0x1234,
        link_up: true,
        announce: false,
        max_pairs: 1,
    };
    let b = cfg.to_config_bytes();
    assert_eq!(b.len(), CONFIG_SIZE);
    assert_eq!(b[CONFIG_MAC_OFFSET..CONFIG_MAC_OFFSET + 6], MAC);
    assert_eq!(b[CONFIG_STATUS_OFFSET..CONFIG_STATUS_OFFSET + 2], [1, 0]);
    assert_eq!(
        b[CONFIG_MAX_VQ_PAIRS_OFFSET..CONFIG_MAX_VQ_PAIRS_OFFSET + 2],
        [1, 0]
    );
    assert_eq!(b[CONFIG_MTU_OFFSET..CONFIG_MTU_OFFSET + 2], [0x34, 0x12]);
    let four = NetConfig {
        max_pairs: 4,
        ..cfg
    }
    .to_config_bytes();
    assert_eq!(
        four[CONFIG_MAX_VQ_PAIRS_OFFSET..CONFIG_MAX_VQ_PAIRS_OFFSET + 2],
        [4, 0]
    );
    let down = NetConfig {
        link_up: false,
        ..cfg
    };
    let announcing = NetConfig {
        announce: true,
        ..cfg
    };
    assert_eq!(
        announcing.to_config_bytes()[CONFIG_STATUS_OFFSET..CONFIG_STATUS_OFFSET + 2],
        [3, 0]
    );
    assert_eq!(
        down.to_config_bytes()[CONFIG_STATUS_OFFSET..CONFIG_STATUS_OFFSET + 2],
        [0, 0]
    );
}

fn untagged(dst: [u8; 6]) -> FrameHead {
    FrameHead { dst, vlan: None }
}

#[test]
fn receive_filter_without_ctrl_rx() {
    let f = RxFilter::new();
    assert!(f.accepts(&MAC, &untagged(MAC)));
    assert!(f.accepts(&MAC, &untagged(BROADCAST_MAC)));
    assert!(f.accepts(&MAC, &untagged([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01])));
    assert!(f.accepts(&MAC, &untagged([0x33, 0x33, 0, 0, 0, 1])));
    assert!(!f.accepts(&MAC, &untagged(OTHER)));
    assert!(!f.accepts(&MAC, &untagged([0; 6])));
    // Without CTRL_VLAN a tag is just payload.
    assert!(f.accepts(
        &MAC,
        &FrameHead {
            dst: MAC,
            vlan: Some(7)
        }
    ));
}

// ---- datapath -----------------------------------------------------------

#[test]
fn loopback_every_length_60_to_1514() {
    // 500-byte RX pieces: every frame above ~490 bytes spans descriptors.
    loopback(1500, 60..=1514, 500, 4);
}

#[test]
fn loopback_jumbo_frames_span_pages() {
    let lens = (4000..=9014).step_by(251).chain([4084, 4096, 8192, 9014]);
    loopback(9000, lens, 4096, 3);
}

#[test]
fn loopback_minimum_frame_is_just_an_ethernet_header() {
    loopback(1500, [14, 15].into_iter(), 4096, 1);
}

/// Chains of one to twice `SHORT_CHAIN` buffers on each side, zero-length
/// descriptors among them: gathered and streamed frames come back the same.
#[test]
fn short_and_long_chains_deliver_the_same_bytes() {
    let mut rng = XorShift(0x5eed);
    let max = 2 * SHORT_CHAIN + 1;
    for tx_parts in 1..=max {
        for rx_parts in 1..=max {
            let mut b = Bench::new(1500);
            let len = 300 + rng.below(900) as usize;
            let f = frame(MAC, len, &mut rng);
            let wire = NET_HDR_LEN + len;
            // Even pieces, the last taking the rest, and an empty one in front.
            let mut sizes = vec![0];
            sizes.extend((0..tx_parts).map(|i| {
                if i + 1 < tx_parts {
                    wire / tx_parts
                } else {
                    wire - (tx_parts - 1) * (wire / tx_parts)
                }
            }));
            let tx_head = b.send_split(&f, &sizes);
            let piece = (wire / rx_parts + 1) as u32;
            let mut rx_sizes = vec![piece; rx_parts];
            rx_sizes.insert(rx_parts / 2, 0);
            let (rx_head, bufs) = b.post_rx(&rx_sizes);
            let out = b.run(4);
            assert_eq!(out.error, None, "{tx_parts} TX and {rx_parts} RX buffers");
            assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
            assert_eq!(b.txr.take_used(&b.mem), [(tx_head, 0)]);
            assert_eq!(b.rxr.take_used(&b.mem), [(rx_head, wire as u32)]);
            let got = b.gather(&bufs, wire);
            assert_eq!(got[..NET_HDR_LEN], expected_header());
            assert!(
                got[NET_HDR_LEN..] == f[..],
                "{tx_parts} TX and {rx_parts} RX buffers: frame differs"
            );
            let room: usize = bufs.iter().map(|&(_, s)| s as usize).sum();
            assert!(b.gather(&bufs, room)[wire..].iter().all(|&x| x == 0xaa));
        }
    }
}

#[test]
fn indirect_tx_chain_is_delivered() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(7);
    let f = frame(MAC, 100, &mut rng);
    let hdr = b.alloc(12);
    let body = b.alloc(100);
    b.mem.write(body, &f).unwrap();
    let table = b.alloc(32);
    Ring::write_desc(&b.mem, table, 0, hdr, 12, VRING_DESC_F_NEXT, 1);
    Ring::write_desc(&b.mem, table, 1, body, 100, 0, 0);
    Ring::write_desc(&b.mem, b.txr.desc, 9, table, 32, VRING_DESC_F_INDIRECT, 0);
    b.txr.publish(&b.mem, 9);
    let (_, bufs) = b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
    assert_eq!(b.txr.take_used(&b.mem), [(9, 0)]);
    assert_eq!(b.gather(&bufs, 112)[12..], f[..]);
}

#[test]
fn unicast_to_other_mac_is_dropped() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(1);
    let f = frame(OTHER, 80, &mut rng);
    let tx_head = b.send(&f);
    let (_, bufs) = b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!(out.error, None);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 0));
    assert_eq!(b.txr.take_used(&b.mem), [(tx_head, 0)]);
    assert_eq!(b.rxr.used_idx(&b.mem), 0);
    // The RX buffer is still available and untouched.
    assert_eq!(b.rx.next_avail(), 0);
    assert!(b.gather(&bufs, 2048).iter().all(|&x| x == 0xaa));
    assert_eq!(
        b.stats.rx,
        QueueStats {
            drops: 1,
            ..Default::default()
        }
    );
    assert_eq!(
        b.stats.tx,
        QueueStats {
            packets: 1,
            bytes: 80,
            ..Default::default()
        }
    );
}

#[test]
fn broadcast_and_multicast_are_delivered() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(2);
    let dsts = [BROADCAST_MAC, [0x01, 0x00, 0x5e, 0x7f, 0x00, 0x01], MAC];
    let mut posted = Vec::new();
    for dst in dsts {
        let f = frame(dst, 64, &mut rng);
        b.send(&f);
        posted.push((b.post_rx(&[1536]).1, f));
    }
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (3, 3));
    for (bufs, f) in posted {
        assert_eq!(b.gather(&bufs, 76)[12..], f[..]);
    }
    assert_eq!(b.stats.rx.packets, 3);
    assert_eq!(b.stats.rx.drops, 0);
}

#[test]
fn a_frame_without_an_rx_buffer_is_dropped_and_tx_goes_on() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(3);
    let f1 = frame(MAC, 300, &mut rng);
    let f2 = frame(MAC, 301, &mut rng);
    let f3 = frame(MAC, 302, &mut rng);
    let h1 = b.send(&f1);
    let h2 = b.send(&f2);
    let (_, bufs1) = b.post_rx(&[1536]);
    let out = b.run(8);
    assert_eq!(out.error, None);
    assert!(out.rx_starved);
    assert!(!out.more_pending);
    assert_eq!((out.tx_completed, out.rx_completed), (2, 1));
    assert_eq!(b.txr.take_used(&b.mem), [(h1, 0), (h2, 0)]);
    assert_eq!(b.gather(&bufs1, 312)[12..], f1[..]);
    assert_eq!((b.stats.tx.packets, b.stats.rx.packets), (2, 1));
    assert_eq!((b.stats.rx.drops, b.stats.rx.errors), (1, 0));
    // With buffers again, frames are delivered again.
    let h3 = b.send(&f3);
    let (rx2, bufs2) = b.post_rx(&[100, 100, 200]);
    let out = b.run(8);
    assert!(!out.rx_starved);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
    assert_eq!(b.txr.take_used(&b.mem), [(h3, 0)]);
    assert_eq!(b.rxr.take_used(&b.mem)[1], (rx2, 314));
    assert_eq!(b.gather(&bufs2, 314)[12..], f3[..]);
    assert_eq!(b.stats.rx.bytes, 300 + 302);
}

#[test]
fn rx_buffer_too_small_drops_without_corruption() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(4);
    let big = frame(MAC, 1000, &mut rng);
    let small = frame(MAC, 88, &mut rng);
    let h_big = b.send(&big);
    // One byte short of header + frame.
    let (rx_head, bufs) = b.post_rx(&[500, 511]);
    let out = b.run(1);
    assert_eq!(out.error, None);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 0));
    assert_eq!(b.txr.take_used(&b.mem), [(h_big, 0)]);
    assert!(b.gather(&bufs, 1011).iter().all(|&x| x == 0xaa));
    assert_eq!(b.rx.next_avail(), 0, "RX buffer kept for the next frame");
    assert_eq!(
        b.stats.rx,
        QueueStats {
            drops: 1,
            errors: 1,
            ..Default::default()
        }
    );

    // The kept buffer takes the next frame that fits.
    b.send(&small);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
    assert_eq!(b.rxr.take_used(&b.mem), [(rx_head, 100)]);
    assert_eq!(b.gather(&bufs, 100)[12..], small[..]);
    assert_eq!(b.stats.rx.packets, 1);
    assert_eq!(b.stats.tx.packets, 2);
}

#[test]
fn short_tx_chain_is_a_tx_error() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(5);
    // 12 + 13 bytes: one short of an Ethernet header.
    let f = frame(MAC, 13, &mut rng);
    let h = b.send_split(&f, &[5, 20]);
    // A chain holding only an empty descriptor.
    let empty = b.alloc(1);
    b.txr.add_chain(&b.mem, &[(empty, 0)], false);
    b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!(out.error, None);
    assert_eq!((out.tx_completed, out.rx_completed), (2, 0));
    assert_eq!(b.txr.take_used(&b.mem)[0], (h, 0));
    assert_eq!(b.stats.tx.errors, 2);
    assert_eq!(b.stats.tx.packets, 0);
    assert_eq!(b.rx.next_avail(), 0);
}

#[test]
fn frame_longer_than_mtu_is_a_tx_error() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(6);
    let f = frame(MAC, 1515, &mut rng);
    b.send_split(&f, &[12, 1000, 515]);
    b.post_rx(&[4096]);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 0));
    assert_eq!(b.stats.tx.errors, 1);
    assert_eq!(b.stats.rx, QueueStats::default());
}

#[test]
fn writable_tx_descriptors_are_not_part_of_the_frame() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(8);
    let f = frame(MAC, 60, &mut rng);
    let at = b.alloc(72);
    b.mem.write(at + 12, &f).unwrap();
    let junk = b.alloc(64);
    let head = b.txr.next_desc;
    Ring::write_desc(
        &b.mem,
        b.txr.desc,
        head,
        at,
        72,
        VRING_DESC_F_NEXT,
        head + 1,
    );
    Ring::write_desc(
        &b.mem,
        b.txr.desc,
        head + 1,
        junk,
        64,
        VRING_DESC_F_WRITE,
        0,
    );
    b.txr.publish(&b.mem, head);
    let (_, bufs) = b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!(out.rx_completed, 1);
    assert_eq!(b.rxr.take_used(&b.mem)[0].1, 72);
    assert_eq!(b.gather(&bufs, 72)[12..], f[..]);
}

#[test]
fn tx_chain_loop_breaks_tx_without_panic() {
    let mut b = Bench::new(1500);
    let buf = b.alloc(64);
    Ring::write_desc(&b.mem, b.txr.desc, 0, buf, 64, VRING_DESC_F_NEXT, 1);
    Ring::write_desc(&b.mem, b.txr.desc, 1, buf, 64, VRING_DESC_F_NEXT, 0);
    b.txr.publish(&b.mem, 0);
    b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!(
        out.error,
        Some(QueueFault {
            queue: QueueId::Tx,
            error: virtqueue::Error::ChainLoop
        })
    );
    assert!(b.tx.is_broken());
    assert!(!b.rx.is_broken());
    assert_eq!((out.tx_completed, out.rx_completed), (0, 0));
    // Later runs report the broken queue instead of touching it.
    let out = b.run(8);
    assert_eq!(
        out.error,
        Some(QueueFault {
            queue: QueueId::Tx,
            error: virtqueue::Error::Broken
        })
    );
    assert_eq!(b.stats, NetStats::default());
}

#[test]
fn malformed_rx_chain_breaks_rx_and_keeps_the_frame() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(9);
    b.send(&frame(MAC, 100, &mut rng));
    let buf = b.alloc(64);
    // Readable after writable.
    Ring::write_desc(
        &b.mem,
        b.rxr.desc,
        0,
        buf,
        4096,
        VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
        1,
    );
    Ring::write_desc(&b.mem, b.rxr.desc, 1, buf, 64, 0, 0);
    b.rxr.publish(&b.mem, 0);
    let out = b.run(8);
    assert_eq!(
        out.error,
        Some(QueueFault {
            queue: QueueId::Rx,
            error: virtqueue::Error::ReadableAfterWritable
        })
    );
    assert!(b.rx.is_broken());
    assert_eq!(b.tx.next_avail(), 0, "TX frame handed back");
    assert_eq!(out.tx_completed, 0);
}

#[test]
fn buffers_outside_memory_break_the_owning_queue() {
    let outside = BASE + MEM_LEN as u64 - 40;

    // TX buffer runs off the end of memory.
    let mut b = Bench::new(1500);
    let hdr = b.alloc(12);
    b.mem.write(outside, &MAC).unwrap();
    b.txr.add_chain(&b.mem, &[(hdr, 12), (outside, 100)], false);
    b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!(out.error.map(|f| f.queue), Some(QueueId::Tx));
    assert_eq!(
        out.error.map(|f| f.error),
        Some(virtqueue::Error::Mem(MemError::OutOfRange))
    );
    assert_eq!(b.rx.next_avail(), 0, "RX buffer handed back");

    // RX buffer runs off the end of memory.
    let mut b = Bench::new(1500);
    let mut rng = XorShift(10);
    b.send(&frame(MAC, 100, &mut rng));
    b.rxr.add_chain(&b.mem, &[(outside, 200)], true);
    let out = b.run(8);
    assert_eq!(out.error.map(|f| f.queue), Some(QueueId::Rx));
    assert!(b.rx.is_broken() && !b.tx.is_broken());

    // RX header itself unwritable.
    let mut b = Bench::new(1500);
    b.send(&frame(MAC, 100, &mut rng));
    b.rxr
        .add_chain(&b.mem, &[(BASE + MEM_LEN as u64, 200)], true);
    let out = b.run(8);
    assert_eq!(out.error.map(|f| f.queue), Some(QueueId::Rx));
    assert_eq!(b.tx.next_avail(), 0);
}

#[test]
fn budget_is_respected() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(11);
    for _ in 0..10 {
        b.send(&frame(MAC, 70, &mut rng));
        b.post_rx(&[1536]);
    }
    let out = b.run(0);
    assert_eq!((out.tx_completed, out.rx_completed), (0, 0));
    assert!(out.more_pending);
    let out = b.run(4);
    assert_eq!((out.tx_completed, out.rx_completed), (4, 4));
    assert!(out.more_pending);
    let out = b.run(6);
    assert_eq!((out.tx_completed, out.rx_completed), (6, 6));
    assert!(!out.more_pending, "TX drained exactly at the budget");
    let out = b.run(6);
    assert_eq!(out, Outcome::default());
    assert_eq!(b.stats.tx.packets, 10);
    assert_eq!(b.stats.rx.bytes, 700);
}

#[test]
fn link_down_drops_tx() {
    let mut b = Bench::new(1500);
    b.cfg.link_up = false;
    let mut rng = XorShift(12);
    b.send(&frame(MAC, 70, &mut rng));
    b.post_rx(&[1536]);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 0));
    assert_eq!(
        b.stats.tx,
        QueueStats {
            drops: 1,
            ..Default::default()
        }
    );
    assert_eq!(b.stats.rx, QueueStats::default());
}

#[test]
fn completions_trigger_notifications() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(13);
    b.send(&frame(MAC, 70, &mut rng));
    b.post_rx(&[1536]);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
    assert_eq!(b.rx.needs_notification(&b.mem), Ok(true));
    assert_eq!(b.tx.needs_notification(&b.mem), Ok(true));
}

/// Random frame sizes, splits, destinations and RX buffer sizes; the stats
/// must account for every frame exactly once.
#[test]
fn random_traffic_accounting() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(0xdead_beef);
    let mut want = NetStats::default();
    for _ in 0..1000 {
        b.heap = HEAP;
        let len = rng.below(1600) as usize;
        let dst = match rng.below(4) {
            0 => OTHER,
            1 => BROADCAST_MAC,
            _ => MAC,
        };
        let f = frame(dst, len, &mut rng);
        let sizes = split(NET_HDR_LEN + len, 1 + rng.below(4) as usize, &mut rng);
        b.send_split(&f, &sizes);
        let flen = len as u64;
        let mut delivered = false;
        let mut kept = false;
        if !(ETH_HLEN..=1514).contains(&len) {
            want.tx.errors += 1;
        } else if dst == OTHER {
            want.tx.packets += 1;
            want.tx.bytes += flen;
            want.rx.drops += 1;
        } else {
            let room = 26 + rng.below(1600) as u32;
            b.post_rx(&[room]);
            want.tx.packets += 1;
            want.tx.bytes += flen;
            if u64::from(room) >= 12 + flen {
                want.rx.packets += 1;
                want.rx.bytes += flen;
                delivered = true;
            } else {
                want.rx.drops += 1;
                want.rx.errors += 1;
                kept = true;
            }
        }
        let out = b.run(4);
        assert_eq!(out.error, None);
        assert_eq!(out.tx_completed, 1);
        assert_eq!(out.rx_completed, u32::from(delivered));
        if kept {
            // Use up the kept buffer so every round starts without RX.
            b.send(&frame(MAC, 14, &mut rng));
            let out = b.run(4);
            assert_eq!((out.tx_completed, out.rx_completed), (1, 1));
            want.tx.packets += 1;
            want.tx.bytes += 14;
            want.rx.packets += 1;
            want.rx.bytes += 14;
        }
        assert_eq!(b.rx.pending(&b.mem), Ok(0));
    }
    assert_eq!(b.stats, want);
}

#[test]
fn config_tail_is_zero_and_only_the_mac_is_writable() {
    let mut cfg = NetConfig {
        mac: MAC,
        mtu: 1500,
        link_up: true,
        announce: false,
        max_pairs: 1,
    };
    let b = cfg.to_config_bytes();
    assert_eq!(CONFIG_SIZE, 24);
    assert!(b[12..].iter().all(|&x| x == 0), "speed, duplex, rss: {b:?}");
    let new = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
    assert!(cfg.write_config(0, &new));
    assert_eq!(cfg.mac, new);
    // The same value again changes nothing.
    assert!(!cfg.write_config(0, &new));
    // A write straddling mac and status changes only the mac byte.
    assert!(cfg.write_config(5, &[0x66, 0xff, 0xff]));
    assert_eq!(cfg.mac[5], 0x66);
    assert_eq!(cfg.to_config_bytes()[6..8], [1, 0]);
    // Writes to read-only fields and past the end are ignored.
    assert!(!cfg.write_config(10, &[9, 9]));
    assert_eq!(cfg.mtu, 1500);
    assert!(!cfg.write_config(usize::MAX, &[1, 2, 3]));
    assert!(!cfg.write_config(24, &[1]));
}

#[test]
fn config_write_refuses_a_multicast_or_zero_mac() {
    let mut cfg = NetConfig {
        mac: MAC,
        mtu: 1500,
        link_up: true,
        announce: false,
        max_pairs: 1,
    };
    // What sysfs and MAC_ADDR_SET refuse, the config space refuses too: whole or in part.
    assert!(!cfg.write_config(0, &[0x01, 0, 0x5e, 0, 0, 1]));
    assert!(!cfg.write_config(0, &[0; 6]));
    assert!(!cfg.write_config(0, &[0x03]));
    assert_eq!(cfg.mac, MAC);
    // Byte by byte to a new unicast address, as virtio_net without CTRL_MAC_ADDR writes it.
    let new = [0x06, 0x11, 0x22, 0x33, 0x44, 0x55];
    for (i, b) in new.iter().enumerate() {
        cfg.write_config(i, &[*b]);
    }
    assert_eq!(cfg.mac, new);
}

/// Memory that records every used-index store (`store_u16_release`) as (address, value).
struct Recording<'a> {
    mem: &'a Mem,
    stores: core::cell::RefCell<Vec<(u64, u16)>>,
}

impl GuestMemory for Recording<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), MemError> {
        self.mem.read(addr, buf)
    }
    fn write(&self, addr: u64, buf: &[u8]) -> Result<(), MemError> {
        self.mem.write(addr, buf)
    }
    fn load_u16_acquire(&self, addr: u64) -> Result<u16, MemError> {
        self.mem.load_u16_acquire(addr)
    }
    fn store_u16_release(&self, addr: u64, val: u16) -> Result<(), MemError> {
        self.stores.borrow_mut().push((addr, val));
        self.mem.store_u16_release(addr, val)
    }
    fn fence(&self) {
        self.mem.fence()
    }
}

#[test]
fn used_indices_are_published_in_batches_and_at_the_end_of_a_pass() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(31);
    let n = PUBLISH_BATCH + PUBLISH_BATCH / 2 + 3;
    for _ in 0..n {
        b.send(&frame(MAC, 70, &mut rng));
        b.post_rx(&[1536]);
    }
    let rec = Recording {
        mem: &b.mem,
        stores: Default::default(),
    };
    let out = process(
        &b.cfg,
        &b.filter,
        &mut b.rx,
        &mut b.tx,
        &rec,
        1000,
        &mut b.stats,
    );
    assert_eq!(
        (out.tx_completed, out.rx_completed),
        (u32::from(n), u32::from(n))
    );
    // Each ring's index is stored once per full batch and once for the rest, always
    // growing, ending at n.
    for (ring, idx_addr) in [("RX", b.rxr.used + 2), ("TX", b.txr.used + 2)] {
        let stores: Vec<u16> = rec
            .stores
            .borrow()
            .iter()
            .filter(|&&(a, _)| a == idx_addr)
            .map(|&(_, v)| v)
            .collect();
        assert_eq!(stores, vec![PUBLISH_BATCH, n], "{ring} ring");
    }
    assert_eq!(b.rxr.used_idx(&b.mem), n);
    assert_eq!(b.txr.used_idx(&b.mem), n);
}

// ---- a worker pass: kicks and interrupts ---------------------------------

fn used_flags(b: &Bench, r: &Ring) -> u16 {
    b.mem.read_u16(r.used).unwrap()
}

fn pass(b: &mut Bench, budget: u32) -> PassEnd {
    run_pass(
        &b.cfg,
        &b.filter,
        &mut b.rx,
        &mut b.tx,
        &b.mem,
        budget,
        &mut b.stats,
    )
}

#[test]
fn a_pass_keeps_kicks_off_until_it_has_drained_the_rings() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(3);
    for _ in 0..3 {
        b.send(&frame(MAC, 60, &mut rng));
        b.post_rx(&[2048]);
    }
    let end = pass(&mut b, 2);
    assert!(end.run_again && !end.broken);
    assert!(end.interrupt_tx && end.interrupt_rx);
    assert_eq!(used_flags(&b, &b.txr), VRING_USED_F_NO_NOTIFY);
    assert_eq!(used_flags(&b, &b.rxr), VRING_USED_F_NO_NOTIFY);
    let end = pass(&mut b, 2);
    assert_eq!((end.outcome.tx_completed, end.outcome.rx_completed), (1, 1));
    assert!(!end.run_again && !end.broken);
    assert_eq!((used_flags(&b, &b.txr), used_flags(&b, &b.rxr)), (0, 0));
}

#[test]
fn a_pass_interrupts_only_where_the_driver_asks() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(4);
    b.mem
        .write(b.rxr.avail, &VRING_AVAIL_F_NO_INTERRUPT.to_le_bytes())
        .unwrap();
    b.send(&frame(MAC, 100, &mut rng));
    b.post_rx(&[2048]);
    let end = pass(&mut b, 8);
    assert_eq!((end.outcome.tx_completed, end.outcome.rx_completed), (1, 1));
    assert!(end.interrupt_tx && !end.interrupt_rx && !end.run_again);
    // Nothing completed, nothing to interrupt for.
    let end = pass(&mut b, 8);
    assert!(!end.interrupt_tx && !end.interrupt_rx && !end.run_again);
}

#[test]
fn a_pass_without_rx_buffers_completes_tx_and_keeps_kicks_on() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(5);
    b.send(&frame(MAC, 100, &mut rng));
    let end = pass(&mut b, 8);
    assert!(end.outcome.rx_starved && !end.run_again && end.interrupt_tx && !end.interrupt_rx);
    assert_eq!(end.outcome.tx_completed, 1);
    assert_eq!(used_flags(&b, &b.rxr), 0, "RX kicks are on");
    assert_eq!(used_flags(&b, &b.txr), 0, "TX kicks are on");
    b.send(&frame(MAC, 100, &mut rng));
    b.post_rx(&[2048]);
    let end = pass(&mut b, 8);
    assert_eq!((end.outcome.tx_completed, end.outcome.rx_completed), (1, 1));
    assert!(end.interrupt_tx && end.interrupt_rx && !end.run_again);
}

#[test]
fn a_broken_queue_ends_the_pass_with_nothing_but_broken() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(6);
    b.send(&frame(MAC, 100, &mut rng));
    b.post_rx(&[2048]);
    // The TX avail index jumps past the ring size.
    b.mem
        .write(b.txr.avail + 2, &1000u16.to_le_bytes())
        .unwrap();
    let end = pass(&mut b, 8);
    assert!(end.broken && b.tx.is_broken());
    assert!(!end.interrupt_tx && !end.interrupt_rx && !end.run_again);
    // And stays so: no interrupt, no rerun, until a reset makes new queues.
    let end = pass(&mut b, 8);
    assert!(end.broken && !end.interrupt_tx && !end.interrupt_rx && !end.run_again);
}

#[test]
fn with_event_idx_a_pass_follows_used_event_and_publishes_avail_event() {
    let mut b = Bench::new(1500);
    let n = u64::from(QSIZE);
    b.tx = SplitQueue::new(QSIZE, b.txr.desc, b.txr.avail, b.txr.used, true).unwrap();
    b.rx = SplitQueue::new(QSIZE, b.rxr.desc, b.rxr.avail, b.rxr.used, true).unwrap();
    let avail_event = |b: &Bench, r: &Ring| b.mem.read_u16(r.used + 4 + 8 * n).unwrap();
    let used_event = |r: &Ring| r.avail + 4 + 2 * n;
    let mut rng = XorShift(7);
    for _ in 0..2 {
        b.send(&frame(MAC, 100, &mut rng));
        b.post_rx(&[2048]);
    }
    let end = pass(&mut b, 8);
    assert!(end.interrupt_tx && end.interrupt_rx && !end.run_again);
    // Kicks are asked for from the next entry on; the flags are left alone.
    assert_eq!((avail_event(&b, &b.txr), avail_event(&b, &b.rxr)), (2, 2));
    assert_eq!((used_flags(&b, &b.txr), used_flags(&b, &b.rxr)), (0, 0));
    // The driver wants a TX interrupt only after entry 10 and an RX one after entry 2.
    b.mem
        .write(used_event(&b.txr), &10u16.to_le_bytes())
        .unwrap();
    b.mem
        .write(used_event(&b.rxr), &2u16.to_le_bytes())
        .unwrap();
    b.send(&frame(MAC, 100, &mut rng));
    b.post_rx(&[2048]);
    let end = pass(&mut b, 8);
    assert_eq!((end.outcome.tx_completed, end.outcome.rx_completed), (1, 1));
    assert!(!end.interrupt_tx && end.interrupt_rx);
}

#[test]
fn a_vlan_tag_may_come_on_top_of_the_mtu() {
    let mut b = Bench::new(1500);
    let mut rng = XorShift(61);
    let tagged = |len: usize, rng: &mut XorShift| {
        let mut f = frame(MAC, len, rng);
        f[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
        f[14..16].copy_from_slice(&5u16.to_be_bytes());
        f
    };
    b.send(&tagged(1518, &mut rng));
    b.send(&tagged(1519, &mut rng));
    b.send(&frame(MAC, 1518, &mut rng));
    let (_, rx1) = b.post_rx(&[2048]);
    b.post_rx(&[2048]);
    let out = b.run(8);
    assert_eq!((out.tx_completed, out.rx_completed), (3, 1));
    assert_eq!(
        b.stats.tx.errors, 2,
        "a tagged frame one byte over, and an untagged one"
    );
    assert_eq!(
        b.gather(&rx1, NET_HDR_LEN + 1518)[NET_HDR_LEN + 12..NET_HDR_LEN + 16],
        [0x81, 0, 0, 5]
    );
}

#[test]
fn stats_of_several_queues_add_up() {
    let mut a = NetStats::default();
    a.rx.packets = 2;
    a.tx.drops = u64::MAX;
    let mut b = NetStats::default();
    b.rx.packets = 3;
    b.tx.drops = 2;
    b.rx.bytes = 7;
    a.add(&b);
    assert_eq!((a.rx.packets, a.rx.bytes, a.tx.drops), (5, 7, 1));
}
