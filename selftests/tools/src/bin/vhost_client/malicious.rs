// SPDX-License-Identifier: GPL-2.0
//! `malicious`: a running device gets one crafted, invalid TX request. The device must not
//! hang, crash or touch memory outside the map; a reset must bring it back. The process reports
//! what it saw; the calling test judges the status and the kernel log.

use std::time::{Duration, Instant};

use crate::ring::{VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use crate::setup::{Session, NET_HDR_LEN, RX_FRAME_ROOM};
use crate::sys::{errno_name, poll_readable, step};
use vhost_uapi::VHOST_VDPA_GET_STATUS;

/// The crafted requests.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Case {
    /// A descriptor whose `next` is itself, with NEXT set.
    Loop,
    /// A buffer at an IOVA outside the map.
    Unmapped,
    /// A descriptor of length 0xFFFFFFFF.
    HugeLen,
    /// The available index moved 1000 entries ahead on a smaller ring.
    AvailJump,
    /// A valid frame to the device's own MAC, with every RX buffer starting 8 bytes into the
    /// TX buffer: the device copies a frame onto itself. Not invalid, only hostile; the
    /// device must deliver it without reading or writing outside the two buffers.
    Aliased,
}

impl Case {
    /// Parses the `--case` value.
    pub(crate) fn parse(s: &str) -> Option<Case> {
        Some(match s {
            "loop" => Case::Loop,
            "unmapped" => Case::Unmapped,
            "huge-len" => Case::HugeLen,
            "avail-jump" => Case::AvailJump,
            "aliased" => Case::Aliased,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Case::Loop => "loop",
            Case::Unmapped => "unmapped",
            Case::HugeLen => "huge-len",
            Case::AvailJump => "avail-jump",
            Case::Aliased => "aliased",
        }
    }
}

/// The device status bit of a device that needs a reset (virtio 1.2, 2.1).
const NEEDS_RESET: u8 = 0x40;

/// How long to wait for the device to react.
const WAIT: Duration = Duration::from_secs(3);

/// Runs the subcommand.
pub(crate) fn run(path: &str, case: Case) -> Result<(), String> {
    let mut s = Session::start(path)?;
    println!("malicious: case {}", case.name());
    let off = Session::tx_buf(0);
    let buf = s.tx.iova(off);
    for id in 0..s.rx.size {
        match case {
            Case::Aliased => {
                s.rx.write_desc(
                    &s.mem,
                    id,
                    buf + 8,
                    (NET_HDR_LEN + RX_FRAME_ROOM) as u32,
                    VRING_DESC_F_WRITE,
                    0,
                );
                s.rx.publish(&s.mem, id);
            }
            _ => s.post_rx(id),
        }
    }
    s.kick(0)?;

    // A small, otherwise valid frame in TX buffer 0, to a MAC nobody has: if the device
    // accepted it anyway, it would be dropped, not looped. The aliased case wants it looped.
    let mut frame = vec![0u8; NET_HDR_LEN + 60];
    let dst = match case {
        Case::Aliased => s.mac,
        _ => [0x02, 0xde, 0xad, 0xbe, 0xef, 0x00],
    };
    frame[NET_HDR_LEN..NET_HDR_LEN + 6].copy_from_slice(&dst);
    s.mem.write_bytes(off, &frame);
    let len = frame.len() as u32;
    let unmapped = s.iova + s.mem.len() as u64 + 0x1000_0000;
    match case {
        Case::Loop => {
            s.tx.write_desc(&s.mem, 0, buf, len, VRING_DESC_F_NEXT, 0);
            s.tx.publish(&s.mem, 0);
        }
        Case::Unmapped => {
            s.tx.write_desc(&s.mem, 0, unmapped, len, 0, 0);
            s.tx.publish(&s.mem, 0);
        }
        Case::HugeLen => {
            s.tx.write_desc(&s.mem, 0, buf, u32::MAX, 0, 0);
            s.tx.publish(&s.mem, 0);
        }
        Case::Aliased => {
            s.tx.write_desc(&s.mem, 0, buf, len, 0, 0);
            s.tx.publish(&s.mem, 0);
        }
        Case::AvailJump => {
            s.tx.write_desc(&s.mem, 0, buf, len, 0, 0);
            for slot in 0..s.tx.size {
                s.tx.set_avail_slot(&s.mem, slot, 0);
            }
            s.tx.set_avail_idx(&s.mem, 1000);
        }
    }
    s.kick(1)?;

    let start = Instant::now();
    let (rx0, tx0) = (0u16, 0u16);
    loop {
        let (rx, tx) = (s.rx.used_total(&s.mem), s.tx.used_total(&s.mem));
        if rx != rx0 || tx != tx0 {
            break;
        }
        // A device that found the ring broken says so in its status, and need not call.
        let st = step("VHOST_VDPA_GET_STATUS", s.dev.get_u8(VHOST_VDPA_GET_STATUS))?;
        if st & NEEDS_RESET != 0 {
            break;
        }
        let left = WAIT.saturating_sub(start.elapsed());
        if left.is_zero() {
            break;
        }
        let fds = [s.call[0].raw(), s.call[1].raw()];
        poll_readable(&fds, left.as_millis().clamp(1, 100) as i32)
            .map_err(|e| format!("poll: {}", errno_name(e)))?;
        for c in &s.call {
            let _ = c.drain();
        }
    }
    let (rx, tx) = (s.rx.used_total(&s.mem), s.tx.used_total(&s.mem));
    let any = if rx != rx0 || tx != tx0 { "yes" } else { "no" };
    println!("malicious: used entries appeared: {any} (tx idx {tx}, rx idx {rx})");
    let st = step("VHOST_VDPA_GET_STATUS", s.dev.get_u8(VHOST_VDPA_GET_STATUS))?;
    println!("malicious: status {st:#04x}");
    s.teardown()?;
    println!("malicious: reset and close ok");
    Ok(())
}
