// SPDX-License-Identifier: GPL-2.0
//! The TX-to-RX loopback.

use super::config::NetConfig;
use super::filter::{FrameHead, RxFilter};
use super::virtqueue::{DescChain, Error, GuestMemory, Reader, Spans, SplitQueue, Writer};
use super::{ETH_HLEN, NET_HDR_LEN, NET_HDR_NUM_BUFFERS_OFFSET};

/// Counters of one direction. All additions wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Frames sent (TX) or delivered (RX).
    pub packets: u64,
    /// Ethernet bytes of those frames; the virtio-net header is not counted.
    pub bytes: u64,
    /// Frames dropped: TX while the link is down; RX when the filter
    /// refuses a frame, the receive buffer is too small, or there is none.
    pub drops: u64,
    /// Frames the driver got wrong: malformed TX frames, RX buffers too
    /// small for a frame that fits the MTU.
    pub errors: u64,
}

/// Counters of the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetStats {
    /// Receive side.
    pub rx: QueueStats,
    /// Transmit side.
    pub tx: QueueStats,
}

/// Which of the two queues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueId {
    /// The receive queue (index 0).
    Rx,
    /// The transmit queue (index 1).
    Tx,
}

/// A queue that failed and is now broken; the device should set
/// `DEVICE_NEEDS_RESET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFault {
    /// The queue that failed.
    pub queue: QueueId,
    /// What went wrong.
    pub error: Error,
}

/// What one [`process`] run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Outcome {
    /// TX chains completed (including dropped and malformed frames); if
    /// non-zero, ask the TX queue whether to interrupt.
    pub tx_completed: u32,
    /// RX chains completed; if non-zero, ask the RX queue whether to
    /// interrupt.
    pub rx_completed: u32,
    /// The budget ran out while TX still had frames: schedule another run.
    pub more_pending: bool,
    /// A frame found no RX buffer and was dropped (counted in the RX
    /// drops), as a NIC drops on overrun.
    pub rx_starved: bool,
    /// A queue broke; processing stopped.
    pub error: Option<QueueFault>,
}

impl NetStats {
    /// Adds `other`'s counters to these (wrapping), to sum queues.
    pub fn add(&mut self, other: &NetStats) {
        for (a, b) in [(&mut self.rx, &other.rx), (&mut self.tx, &other.tx)] {
            a.packets = a.packets.wrapping_add(b.packets);
            a.bytes = a.bytes.wrapping_add(b.bytes);
            a.drops = a.drops.wrapping_add(b.drops);
            a.errors = a.errors.wrapping_add(b.errors);
        }
    }
}

impl QueueStats {
    fn count(&mut self, len: u64) {
        self.packets = self.packets.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(len);
    }

    fn drop_one(&mut self) {
        self.drops = self.drops.wrapping_add(1);
    }

    fn error(&mut self) {
        self.errors = self.errors.wrapping_add(1);
    }
}

// Whether the loop goes on after a frame.
enum Flow {
    Next,
    Stop,
}

// Why copying a frame did not finish.
enum CopyError {
    // A chain held fewer bytes than it did when measured: the driver changed
    // it under us. Not provably malformed, so the frame is only lost.
    Short,
    Fault(QueueId, Error),
}

/// Completions written to a used ring before its index is published; the
/// rest of a pass is published when it ends. The driver sees progress in
/// steps this size while the device keeps going, as with vhost-net's batch.
pub const PUBLISH_BATCH: u16 = 32;

struct Queues<'a, M: GuestMemory + ?Sized> {
    cfg: &'a NetConfig,
    filter: &'a RxFilter,
    rx: &'a mut SplitQueue,
    tx: &'a mut SplitQueue,
    mem: &'a M,
    stats: &'a mut NetStats,
    out: Outcome,
    // Completions written but not yet published, RX and TX.
    unpublished: [u16; 2],
    // The buffers of the frame in flight, gathered: filled anew for every
    // frame, kept for the pass so that no frame builds its own.
    tx_spans: Spans<SHORT_CHAIN>,
    rx_spans: Spans<SHORT_CHAIN>,
}

/// Moves up to `budget` frames from the TX queue to the RX queue.
///
/// Every TX chain taken is completed with length 0: delivered, dropped by
/// the receive filter or a down link, or refused as malformed (shorter than
/// header plus Ethernet header, or longer than the MTU allows). A delivered
/// frame gets a header that is all zero except `num_buffers` = 1, and the
/// RX chain is completed with the header and frame length.
///
/// An RX buffer too small for a frame is left on the RX queue for the next
/// frame (drop and error counted on RX); the TX frame is still completed, so
/// the driver cannot stall the loop with small buffers. Without any RX
/// buffer the frame is dropped (RX drop counted, TX completed) and
/// `rx_starved` is set: TX never waits for RX.
///
/// Malformed rings or chains, and buffers outside driver memory, break the
/// queue they belong to; `error` names it and processing stops.
///
/// The frame is copied buffer to buffer with [`GuestMemory::copy`]: no
/// allocation and no bounce buffer of frame size, whatever the layout.
pub fn process<M: GuestMemory + ?Sized>(
    cfg: &NetConfig,
    filter: &RxFilter,
    rx: &mut SplitQueue,
    tx: &mut SplitQueue,
    mem: &M,
    budget: u32,
    stats: &mut NetStats,
) -> Outcome {
    let mut q = Queues {
        cfg,
        filter,
        rx,
        tx,
        mem,
        stats,
        out: Outcome::default(),
        unpublished: [0, 0],
        tx_spans: Spans::new(),
        rx_spans: Spans::new(),
    };
    q.run(budget);
    q.publish(QueueId::Rx);
    q.publish(QueueId::Tx);
    q.out
}

impl<M: GuestMemory + ?Sized> Queues<'_, M> {
    fn run(&mut self, budget: u32) {
        let mut handled: u32 = 0;
        while handled < budget {
            let chain = match self.tx.pop(self.mem) {
                Ok(Some(c)) => c,
                Ok(None) => return,
                Err(e) => {
                    self.fault(QueueId::Tx, e);
                    return;
                }
            };
            if let Flow::Stop = self.forward(chain) {
                return;
            }
            handled += 1;
        }
        match self.tx.pending(self.mem) {
            Ok(n) => self.out.more_pending = n > 0,
            Err(e) => self.fault(QueueId::Tx, e),
        }
    }

    // Publishes the used entries of `id` written so far. A broken queue
    // publishes nothing more: the driver must reset it anyway.
    fn publish(&mut self, id: QueueId) {
        let slot = id as usize;
        if self.unpublished[slot] == 0 {
            return;
        }
        self.unpublished[slot] = 0;
        let mem = self.mem;
        let q = self.queue(id);
        if !q.is_broken() {
            if let Err(e) = q.publish_used(mem) {
                self.fault(id, e);
            }
        }
    }

    fn queue(&mut self, id: QueueId) -> &mut SplitQueue {
        match id {
            QueueId::Rx => self.rx,
            QueueId::Tx => self.tx,
        }
    }

    // Breaks queue `id` and gives back any chain popped from the other one,
    // so nothing the driver offered is silently lost before the reset.
    fn fault(&mut self, id: QueueId, error: Error) {
        self.queue(id).mark_broken();
        let other = match id {
            QueueId::Rx => QueueId::Tx,
            QueueId::Tx => QueueId::Rx,
        };
        self.queue(other).undo_pop();
        self.out.error = Some(QueueFault { queue: id, error });
    }

    fn complete(&mut self, id: QueueId, head: u16, len: u32) -> Flow {
        let mem = self.mem;
        match self.queue(id).add_used_deferred(mem, head, len) {
            Ok(()) => {
                match id {
                    QueueId::Rx => self.out.rx_completed += 1,
                    QueueId::Tx => self.out.tx_completed += 1,
                }
                let n = &mut self.unpublished[id as usize];
                *n += 1;
                if *n >= PUBLISH_BATCH {
                    self.publish(id);
                    if self.out.error.is_some() {
                        return Flow::Stop;
                    }
                }
                Flow::Next
            }
            Err(e) => {
                self.fault(id, e);
                Flow::Stop
            }
        }
    }

    fn forward(&mut self, mut chain: DescChain) -> Flow {
        match chain.gather(self.mem, false, &mut self.tx_spans) {
            Ok(true) => self.forward_short(chain),
            Ok(false) => self.forward_streamed(chain),
            Err(e) => {
                self.fault(QueueId::Tx, e);
                Flow::Stop
            }
        }
    }

    // A TX chain of at most SHORT_CHAIN buffers, gathered into `tx_spans`: the frame is
    // read and copied through the spans without walking a descriptor again.
    fn forward_short(&mut self, chain: DescChain) -> Flow {
        let tx_head = chain.head();
        let Some(frame_len) = self.frame_len(u64::from(self.tx_spans.bytes())) else {
            return self.tx_error(tx_head);
        };
        let mut head = [0u8; FRAME_HEAD];
        let head = &mut head[..frame_head_len(frame_len)];
        // The length check above leaves room for an Ethernet header: only memory can fail.
        let peeked = self.tx_spans.read_at(self.mem, NET_HDR_LEN as u64, head);
        let mut rx_chain = match self.admit(tx_head, peeked.map(|()| &*head), frame_len) {
            Ok(c) => c,
            Err(flow) => return flow,
        };
        match rx_chain.gather(self.mem, true, &mut self.rx_spans) {
            Ok(true) => {}
            Ok(false) => {
                // A long RX chain: the streamed path takes both chains from the start.
                self.rx.undo_pop();
                return self.forward_streamed(chain);
            }
            Err(e) => {
                self.fault(QueueId::Rx, e);
                return Flow::Stop;
            }
        }
        let used_len = NET_HDR_LEN as u64 + frame_len;
        if u64::from(self.rx_spans.bytes()) < used_len {
            return self.rx_too_small(tx_head, frame_len);
        }
        if let Err(e) = self.rx_spans.write_at(self.mem, 0, &NET_HDR) {
            self.fault(QueueId::Rx, e);
            return Flow::Stop;
        }
        let (rx, tx, off) = (&self.rx_spans, &self.tx_spans, NET_HDR_LEN as u64);
        if let Err((id, e)) = copy_spans(self.mem, rx, off, tx, off, frame_len) {
            self.fault(id, e);
            return Flow::Stop;
        }
        self.delivered(tx_head, rx_chain.head(), used_len, frame_len)
    }

    // Any TX chain, walked as a byte stream: chains longer than SHORT_CHAIN buffers, and TX
    // frames whose RX chain is.
    fn forward_streamed(&mut self, mut chain: DescChain) -> Flow {
        let tx_head = chain.head();
        let readable = match chain.lengths(self.mem) {
            Ok(l) => u64::from(l.readable),
            Err(e) => {
                self.fault(QueueId::Tx, e);
                return Flow::Stop;
            }
        };
        let Some(frame_len) = self.frame_len(readable) else {
            return self.tx_error(tx_head);
        };

        let mut reader = Reader::new(chain);
        let mut head = [0u8; FRAME_HEAD];
        let head = &mut head[..frame_head_len(frame_len)];
        let peeked = match reader.skip(self.mem, NET_HDR_LEN as u64) {
            Ok(n) if n == NET_HDR_LEN as u64 => reader.clone().read_exact(self.mem, head),
            Ok(_) => Err(Error::BufferTooShort),
            Err(e) => Err(e),
        };
        let mut rx_chain = match self.admit(tx_head, peeked.map(|()| &*head), frame_len) {
            Ok(c) => c,
            Err(flow) => return flow,
        };
        let rx_head = rx_chain.head();
        let room = match rx_chain.lengths(self.mem) {
            Ok(l) => u64::from(l.writable),
            Err(e) => {
                self.fault(QueueId::Rx, e);
                return Flow::Stop;
            }
        };
        let used_len = NET_HDR_LEN as u64 + frame_len;
        if room < used_len {
            return self.rx_too_small(tx_head, frame_len);
        }

        let mut writer = Writer::new(rx_chain);
        let copied = match writer.write_all(self.mem, &NET_HDR) {
            Ok(()) => copy_frame(self.mem, &mut reader, &mut writer, frame_len),
            Err(Error::BufferTooShort) => Err(CopyError::Short),
            Err(e) => Err(CopyError::Fault(QueueId::Rx, e)),
        };
        match copied {
            Ok(()) => {}
            Err(CopyError::Short) => {
                // Whatever landed in the RX buffer is garbage the driver
                // never sees: the buffer goes back unused.
                self.rx.undo_pop();
                return self.tx_error(tx_head);
            }
            Err(CopyError::Fault(id, e)) => {
                self.fault(id, e);
                return Flow::Stop;
            }
        }
        self.delivered(tx_head, rx_head, used_len, frame_len)
    }

    // The frame length of a TX chain with `readable` bytes, if it holds a
    // header, an Ethernet header and at most an MTU of payload (and room for an
    // 802.1Q tag, which `admit` checks is there).
    #[inline]
    fn frame_len(&self, readable: u64) -> Option<u64> {
        let min = (NET_HDR_LEN + ETH_HLEN) as u64;
        let max = min + VLAN_HLEN + u64::from(self.cfg.mtu);
        (min..=max)
            .contains(&readable)
            .then(|| readable - NET_HDR_LEN as u64)
    }

    // A malformed TX frame: counted and completed, the queue goes on.
    fn tx_error(&mut self, tx_head: u16) -> Flow {
        self.stats.tx.error();
        self.complete(QueueId::Tx, tx_head, 0)
    }

    // Takes a frame whose first bytes were read (`head`) to an RX chain, or
    // says how the loop goes on without one: the frame is malformed, the link
    // is down or the filter drops it (completed here), no RX buffer is there
    // (starved: the TX chain goes back), or a queue broke.
    #[inline]
    fn admit(
        &mut self,
        tx_head: u16,
        head: Result<&[u8], Error>,
        frame_len: u64,
    ) -> Result<DescChain, Flow> {
        let head = match head.map(FrameHead::parse) {
            // An MTU of payload behind the Ethernet header and, if it has one, the tag.
            Ok(Some(h)) if frame_len <= max_frame(self.cfg.mtu, h.vlan.is_some()) => h,
            Ok(_) => return Err(self.tx_error(tx_head)),
            Err(Error::BufferTooShort) => return Err(self.tx_error(tx_head)),
            Err(e) => {
                self.fault(QueueId::Tx, e);
                return Err(Flow::Stop);
            }
        };
        if !self.cfg.link_up {
            self.stats.tx.drop_one();
            return Err(self.complete(QueueId::Tx, tx_head, 0));
        }
        if !self.filter.accepts(&self.cfg.mac, &head) {
            // Sent fine; only nobody on this link wants it.
            self.stats.tx.count(frame_len);
            self.stats.rx.drop_one();
            return Err(self.complete(QueueId::Tx, tx_head, 0));
        }
        match self.rx.pop(self.mem) {
            Ok(Some(c)) => Ok(c),
            Ok(None) => {
                // No buffer to receive into: dropped, as a NIC drops on overrun. Holding the
                // frame would stall TX for good under a driver that only transmits (DPDK's
                // txonly, pktgen).
                self.stats.tx.count(frame_len);
                self.stats.rx.drop_one();
                self.out.rx_starved = true;
                Err(self.complete(QueueId::Tx, tx_head, 0))
            }
            Err(e) => {
                self.fault(QueueId::Rx, e);
                Err(Flow::Stop)
            }
        }
    }

    // An RX buffer too small for the frame: the buffer stays for a smaller
    // frame instead of returning empty, and the TX frame is completed.
    fn rx_too_small(&mut self, tx_head: u16, frame_len: u64) -> Flow {
        self.rx.undo_pop();
        self.stats.tx.count(frame_len);
        self.stats.rx.drop_one();
        self.stats.rx.error();
        self.complete(QueueId::Tx, tx_head, 0)
    }

    // Completes a delivered frame on both queues.
    #[inline]
    fn delivered(&mut self, tx_head: u16, rx_head: u16, used_len: u64, frame_len: u64) -> Flow {
        // used_len <= header + Ethernet header + MTU, far below u32::MAX.
        let used_len = u32::try_from(used_len).unwrap_or(u32::MAX);
        if let Flow::Stop = self.complete(QueueId::Rx, rx_head, used_len) {
            return Flow::Stop;
        }
        self.stats.tx.count(frame_len);
        self.stats.rx.count(frame_len);
        self.complete(QueueId::Tx, tx_head, 0)
    }
}

/// Bytes of a frame the receive filter looks at: destination, source, ethertype and the tag
/// control of an 802.1Q tag.
const FRAME_HEAD: usize = 16;

/// Length of an 802.1Q tag.
const VLAN_HLEN: u64 = 4;

/// The longest frame an MTU of `mtu` allows, with or without a VLAN tag.
#[inline]
fn max_frame(mtu: u16, tagged: bool) -> u64 {
    ETH_HLEN as u64 + u64::from(mtu) + if tagged { VLAN_HLEN } else { 0 }
}

/// How much of a frame of `frame_len` bytes (at least an Ethernet header) is its head.
#[inline]
fn frame_head_len(frame_len: u64) -> usize {
    usize::try_from(frame_len).map_or(FRAME_HEAD, |l| l.min(FRAME_HEAD))
}

/// Buffers per side of a chain that the datapath gathers into an iovec; a
/// frame from Linux's virtio_net or DPDK's virtio_user has one or two.
/// Longer chains are walked as byte streams.
pub const SHORT_CHAIN: usize = 4;

// The header of every delivered frame. No offloads were negotiated, so
// every field but num_buffers is zero; num_buffers must be 1 without
// MRG_RXBUF under VERSION_1.
const NET_HDR: [u8; NET_HDR_LEN] = {
    let mut h = [0u8; NET_HDR_LEN];
    h[NET_HDR_NUM_BUFFERS_OFFSET] = 1;
    h
};

// Copies `len` bytes from `src_off` bytes into `src` to `dst_off` bytes into
// `dst`, one `GuestMemory::copy` per piece where the buffers of the two sides
// line up.
fn copy_spans<M: GuestMemory + ?Sized, const N: usize>(
    mem: &M,
    dst: &Spans<N>,
    dst_off: u64,
    src: &Spans<N>,
    src_off: u64,
    len: u64,
) -> Result<(), (QueueId, Error)> {
    let holds = |s: &Spans<N>, off: u64| {
        off.checked_add(len)
            .is_some_and(|e| e <= u64::from(s.bytes()))
    };
    if !holds(src, src_off) {
        return Err((QueueId::Tx, Error::BufferTooShort));
    }
    if !holds(dst, dst_off) {
        return Err((QueueId::Rx, Error::BufferTooShort));
    }
    let mut blamed = QueueId::Rx;
    let mut src_at = src_off;
    dst.for_each_piece(dst_off, len, |_, d, n| {
        src.for_each_piece(src_at, n, |done, s, m| {
            // `done + m <= n`, the bytes the destination piece has from `d`.
            let d = d.wrapping_add(done);
            mem.copy(d, s, m).map_err(|e| {
                blamed = blame(mem, s, m);
                Error::Mem(e)
            })
        })?;
        src_at += n;
        Ok(())
    })
    .map_err(|e| (blamed, e))
}

fn copy_frame<M: GuestMemory + ?Sized>(
    mem: &M,
    r: &mut Reader,
    w: &mut Writer,
    len: u64,
) -> Result<(), CopyError> {
    let mut left = len;
    while left > 0 {
        let (src, n) = match r.next_span(mem, left) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(CopyError::Short),
            Err(e) => return Err(CopyError::Fault(QueueId::Tx, e)),
        };
        let mut off = 0;
        while off < n {
            let (dst, m) = match w.next_span(mem, n - off) {
                Ok(Some(s)) => s,
                Ok(None) => return Err(CopyError::Short),
                Err(e) => return Err(CopyError::Fault(QueueId::Rx, e)),
            };
            // The span lies inside one descriptor, which was checked not to
            // wrap the address space.
            let s = src.wrapping_add(off);
            if let Err(e) = mem.copy(dst, s, m) {
                return Err(CopyError::Fault(blame(mem, s, m), Error::Mem(e)));
            }
            off += m;
        }
        left -= n;
    }
    Ok(())
}

// `copy` does not say which side failed. Probing the ends of the source
// tells whether the driver's TX buffer is reachable; if it is, the RX
// buffer is the bad one.
fn blame<M: GuestMemory + ?Sized>(mem: &M, src: u64, len: u64) -> QueueId {
    let mut b = [0u8; 1];
    let last = src.wrapping_add(len.saturating_sub(1));
    if mem.read(src, &mut b).is_ok() && mem.read(last, &mut b).is_ok() {
        QueueId::Rx
    } else {
        QueueId::Tx
    }
}
