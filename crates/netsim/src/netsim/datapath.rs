//! The TX-to-RX loopback.

use super::config::NetConfig;
use super::virtqueue::{DescChain, Error, GuestMemory, Reader, SplitQueue, Writer};
use super::{ETH_ALEN, ETH_HLEN, NET_HDR_LEN, NET_HDR_NUM_BUFFERS_OFFSET};

/// Counters of one direction. All additions wrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    /// Frames sent (TX) or delivered (RX).
    pub packets: u64,
    /// Ethernet bytes of those frames; the virtio-net header is not counted.
    pub bytes: u64,
    /// Frames dropped: TX while the link is down; RX when the filter
    /// refuses a frame or the receive buffer is too small.
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
    /// A frame is waiting for RX buffers. It stays on the TX queue; run
    /// again when the driver kicks RX.
    pub rx_starved: bool,
    /// A queue broke; processing stopped.
    pub error: Option<QueueFault>,
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
    rx: &'a mut SplitQueue,
    tx: &'a mut SplitQueue,
    mem: &'a M,
    stats: &'a mut NetStats,
    out: Outcome,
    // Completions written but not yet published, RX and TX.
    unpublished: [u16; 2],
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
/// buffer the frame stays on the TX queue and `rx_starved` is set.
///
/// Malformed rings or chains, and buffers outside driver memory, break the
/// queue they belong to; `error` names it and processing stops.
///
/// The frame is copied buffer to buffer with [`GuestMemory::copy`]: no
/// allocation and no bounce buffer of frame size, whatever the layout.
pub fn process<M: GuestMemory + ?Sized>(
    cfg: &NetConfig,
    rx: &mut SplitQueue,
    tx: &mut SplitQueue,
    mem: &M,
    budget: u32,
    stats: &mut NetStats,
) -> Outcome {
    let mut q = Queues {
        cfg,
        rx,
        tx,
        mem,
        stats,
        out: Outcome::default(),
        unpublished: [0, 0],
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
        let tx_head = chain.head();
        let readable = match chain.lengths(self.mem) {
            Ok(l) => u64::from(l.readable),
            Err(e) => {
                self.fault(QueueId::Tx, e);
                return Flow::Stop;
            }
        };
        let min = (NET_HDR_LEN + ETH_HLEN) as u64;
        let max = (NET_HDR_LEN + ETH_HLEN) as u64 + u64::from(self.cfg.mtu);
        if readable < min || readable > max {
            self.stats.tx.error();
            return self.complete(QueueId::Tx, tx_head, 0);
        }
        let frame_len = readable - NET_HDR_LEN as u64;

        let mut reader = Reader::new(chain);
        let mut dst = [0u8; ETH_ALEN];
        let peeked = match reader.skip(self.mem, NET_HDR_LEN as u64) {
            Ok(n) if n == NET_HDR_LEN as u64 => reader.clone().read_exact(self.mem, &mut dst),
            Ok(_) => Err(Error::BufferTooShort),
            Err(e) => Err(e),
        };
        match peeked {
            Ok(()) => {}
            Err(Error::BufferTooShort) => {
                self.stats.tx.error();
                return self.complete(QueueId::Tx, tx_head, 0);
            }
            Err(e) => {
                self.fault(QueueId::Tx, e);
                return Flow::Stop;
            }
        }

        if !self.cfg.link_up {
            self.stats.tx.drop_one();
            return self.complete(QueueId::Tx, tx_head, 0);
        }
        if !self.cfg.accepts(&dst) {
            // Sent fine; only nobody on this link wants it.
            self.stats.tx.count(frame_len);
            self.stats.rx.drop_one();
            return self.complete(QueueId::Tx, tx_head, 0);
        }

        let mut rx_chain = match self.rx.pop(self.mem) {
            Ok(Some(c)) => c,
            Ok(None) => {
                self.tx.undo_pop();
                self.out.rx_starved = true;
                return Flow::Stop;
            }
            Err(e) => {
                self.fault(QueueId::Rx, e);
                return Flow::Stop;
            }
        };
        let rx_head = rx_chain.head();
        let room = match rx_chain.lengths(self.mem) {
            Ok(l) => u64::from(l.writable),
            Err(e) => {
                self.fault(QueueId::Rx, e);
                return Flow::Stop;
            }
        };
        // frame_len <= MTU + ETH_HLEN, so this fits easily in u32.
        let used_len = NET_HDR_LEN as u64 + frame_len;
        if room < used_len {
            // Keep the buffer for a smaller frame instead of returning it
            // empty.
            self.rx.undo_pop();
            self.stats.tx.count(frame_len);
            self.stats.rx.drop_one();
            self.stats.rx.error();
            return self.complete(QueueId::Tx, tx_head, 0);
        }

        let mut writer = Writer::new(rx_chain);
        let copied = match write_header(self.mem, &mut writer) {
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
                self.stats.tx.error();
                return self.complete(QueueId::Tx, tx_head, 0);
            }
            Err(CopyError::Fault(id, e)) => {
                self.fault(id, e);
                return Flow::Stop;
            }
        }

        let used_len = u32::try_from(used_len).unwrap_or(u32::MAX);
        if let Flow::Stop = self.complete(QueueId::Rx, rx_head, used_len) {
            return Flow::Stop;
        }
        self.stats.tx.count(frame_len);
        self.stats.rx.count(frame_len);
        self.complete(QueueId::Tx, tx_head, 0)
    }
}

fn write_header<M: GuestMemory + ?Sized>(mem: &M, w: &mut Writer) -> Result<(), Error> {
    // No offloads were negotiated, so every field but num_buffers is zero;
    // num_buffers must be 1 without MRG_RXBUF under VERSION_1.
    let mut hdr = [0u8; NET_HDR_LEN];
    if let Some(nb) = hdr.get_mut(NET_HDR_NUM_BUFFERS_OFFSET..) {
        nb.copy_from_slice(&1u16.to_le_bytes());
    }
    w.write_all(mem, &hdr)
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
