// SPDX-License-Identifier: GPL-2.0
//! The control virtqueue (virtio 1.2, 5.1.6.5): commands a driver sends the device.
//!
//! A command is one chain: a device-readable `class` and `command` byte, the command's data,
//! then a device-writable `ack` byte the device sets to [`OK`] or [`ERR`]. Every command the
//! device understands is executed all or nothing: its data is read and checked first, and
//! only a well-formed command changes the device. Unknown classes and commands, commands of
//! a feature that was not negotiated, and malformed ones (short, with data left over, with a
//! table claiming more entries than the chain holds, or with no readable header) answer
//! [`ERR`] and change nothing. A chain with no writable byte cannot be answered: it is
//! completed with length 0 and changes nothing either.
//!
//! Data is read piece by piece from driver memory, never in one buffer of a size the driver
//! chooses, and a table's entries beyond what the device keeps are skipped in one step, so a
//! command costs the device at most two walks of its (bounded) chain: a MAC table command is
//! checked whole first (counts against the bytes there), then read into the filter.

use super::filter::{MacTable, RxFilter, F_CTRL_RX, F_CTRL_VLAN, MAC_TABLE_ENTRIES, VLAN_IDS};
use super::virtqueue::{DescChain, Error, GuestMemory, Reader, Writer};
use super::ETH_ALEN;

/// `VIRTIO_NET_F_CTRL_VQ`: the device has a control queue.
pub const F_CTRL_VQ: u64 = 1 << 17;
/// `VIRTIO_NET_F_CTRL_RX_EXTRA`: `ALLUNI`, `NOMULTI`, `NOUNI` and `NOBCAST`.
pub const F_CTRL_RX_EXTRA: u64 = 1 << 20;
/// `VIRTIO_NET_F_GUEST_ANNOUNCE`: the device asks the driver to announce itself.
pub const F_GUEST_ANNOUNCE: u64 = 1 << 21;
/// `VIRTIO_NET_F_MQ`: several queue pairs.
pub const F_MQ: u64 = 1 << 22;
/// `VIRTIO_NET_F_CTRL_MAC_ADDR`: the driver sets the device's MAC through the control queue.
pub const F_CTRL_MAC_ADDR: u64 = 1 << 23;

/// The command succeeded.
pub const OK: u8 = 0;
/// The command failed, or was not understood.
pub const ERR: u8 = 1;

/// Command classes and their commands.
pub mod class {
    /// `VIRTIO_NET_CTRL_RX`: rx mode flags, each command taking one byte (0 or not).
    pub const RX: u8 = 0;
    /// `VIRTIO_NET_CTRL_RX_PROMISC`.
    pub const RX_PROMISC: u8 = 0;
    /// `VIRTIO_NET_CTRL_RX_ALLMULTI`.
    pub const RX_ALLMULTI: u8 = 1;
    /// `VIRTIO_NET_CTRL_RX_ALLUNI`.
    pub const RX_ALLUNI: u8 = 2;
    /// `VIRTIO_NET_CTRL_RX_NOMULTI`.
    pub const RX_NOMULTI: u8 = 3;
    /// `VIRTIO_NET_CTRL_RX_NOUNI`.
    pub const RX_NOUNI: u8 = 4;
    /// `VIRTIO_NET_CTRL_RX_NOBCAST`.
    pub const RX_NOBCAST: u8 = 5;
    /// `VIRTIO_NET_CTRL_MAC`.
    pub const MAC: u8 = 1;
    /// `VIRTIO_NET_CTRL_MAC_TABLE_SET`: a unicast then a multicast table, each a le32 count
    /// and that many addresses.
    pub const MAC_TABLE_SET: u8 = 0;
    /// `VIRTIO_NET_CTRL_MAC_ADDR_SET`: the device's own address.
    pub const MAC_ADDR_SET: u8 = 1;
    /// `VIRTIO_NET_CTRL_VLAN`: a le16 VLAN id.
    pub const VLAN: u8 = 2;
    /// `VIRTIO_NET_CTRL_VLAN_ADD`.
    pub const VLAN_ADD: u8 = 0;
    /// `VIRTIO_NET_CTRL_VLAN_DEL`.
    pub const VLAN_DEL: u8 = 1;
    /// `VIRTIO_NET_CTRL_ANNOUNCE`.
    pub const ANNOUNCE: u8 = 3;
    /// `VIRTIO_NET_CTRL_ANNOUNCE_ACK`: no data.
    pub const ANNOUNCE_ACK: u8 = 0;
    /// `VIRTIO_NET_CTRL_MQ`.
    pub const MQ: u8 = 4;
    /// `VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET`: a le16 number of queue pairs.
    pub const MQ_VQ_PAIRS_SET: u8 = 0;
}

/// What control commands act on.
pub struct CtrlTarget<'a> {
    /// The negotiated features.
    pub features: u64,
    /// The receive filter.
    pub filter: &'a mut RxFilter,
    /// The device's own MAC address.
    pub mac: &'a mut [u8; ETH_ALEN],
    /// `VIRTIO_NET_S_ANNOUNCE` in the status: the device asked the driver to announce itself.
    pub announce: &'a mut bool,
    /// The queue pairs in use.
    pub pairs: &'a mut u16,
    /// The most queue pairs the device has.
    pub max_pairs: u16,
}

/// What one command did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtrlDone {
    /// Head of the chain, for the used ring.
    pub head: u16,
    /// Bytes written (the ack), for the used ring.
    pub used_len: u32,
    /// The ack written, if the chain had room for one.
    pub ack: Option<u8>,
    /// The config space changed (MAC, status): bump the generation.
    pub config_changed: bool,
    /// The number of queue pairs in use changed.
    pub pairs_changed: bool,
}

/// A command that parsed, ready to apply.
enum Command {
    Rx(u8, bool),
    /// Both tables checked: a reader at the unicast count, and the two counts.
    MacTables(Reader, u64, u64),
    MacAddr([u8; ETH_ALEN]),
    Vlan(u16, bool),
    AnnounceAck,
    Pairs(u16),
}

/// Why a command is answered [`ERR`].
enum Refused {
    /// Not understood, not negotiated, or malformed.
    Err,
    /// Driver memory failed: the queue breaks.
    Fault(Error),
}

impl From<Error> for Refused {
    fn from(e: Error) -> Self {
        match e {
            // The chain holds fewer bytes than the command needs.
            Error::BufferTooShort => Refused::Err,
            e => Refused::Fault(e),
        }
    }
}

/// Reads exactly `N` bytes of data.
fn read<M: GuestMemory + ?Sized, const N: usize>(
    mem: &M,
    r: &mut Reader,
    left: &mut u64,
) -> Result<[u8; N], Refused> {
    if *left < N as u64 {
        return Err(Refused::Err);
    }
    let mut b = [0u8; N];
    r.read_exact(mem, &mut b)?;
    *left -= N as u64;
    Ok(b)
}

/// Checks one MAC table (a le32 count, then that many addresses) and moves past it; returns
/// the count.
fn check_table<M: GuestMemory + ?Sized>(
    mem: &M,
    r: &mut Reader,
    left: &mut u64,
) -> Result<u64, Refused> {
    let n = u64::from(u32::from_le_bytes(read::<M, 4>(mem, r, left)?));
    let bytes = n.saturating_mul(ETH_ALEN as u64);
    if bytes > *left || r.skip(mem, bytes)? != bytes {
        return Err(Refused::Err);
    }
    *left -= bytes;
    Ok(n)
}

/// Reads a checked table of `n` addresses, after its count, into `t`: the addresses beyond
/// what `t` keeps are skipped and turn its overflow on.
fn read_table<M: GuestMemory + ?Sized>(
    mem: &M,
    r: &mut Reader,
    n: u64,
    t: &mut MacTable,
) -> Result<(), Error> {
    *t = MacTable::new();
    r.skip(mem, 4)?;
    let kept = n.min(MAC_TABLE_ENTRIES as u64);
    for _ in 0..kept {
        let mut mac = [0u8; ETH_ALEN];
        r.read_exact(mem, &mut mac)?;
        t.push(mac);
    }
    if n > kept {
        r.skip(mem, (n - kept) * ETH_ALEN as u64)?;
        t.overflow = true;
    }
    Ok(())
}

/// Parses the data of command `cmd` of class `cls` (`left` readable bytes of it).
fn parse<M: GuestMemory + ?Sized>(
    mem: &M,
    r: &mut Reader,
    mut left: u64,
    cls: u8,
    cmd: u8,
    t: &CtrlTarget<'_>,
) -> Result<Command, Refused> {
    let has = |f: u64| t.features & f != 0;
    let command = match (cls, cmd) {
        (class::RX, class::RX_PROMISC | class::RX_ALLMULTI) if has(F_CTRL_RX) => {
            Command::Rx(cmd, read::<M, 1>(mem, r, &mut left)?[0] != 0)
        }
        (class::RX, class::RX_ALLUNI..=class::RX_NOBCAST) if has(F_CTRL_RX_EXTRA) => {
            Command::Rx(cmd, read::<M, 1>(mem, r, &mut left)?[0] != 0)
        }
        (class::MAC, class::MAC_TABLE_SET) if has(F_CTRL_RX) => {
            // Checked whole before anything changes; read into the filter when applied.
            let start = r.clone();
            let uni = check_table(mem, r, &mut left)?;
            let multi = check_table(mem, r, &mut left)?;
            Command::MacTables(start, uni, multi)
        }
        (class::MAC, class::MAC_ADDR_SET) if has(F_CTRL_MAC_ADDR) => {
            let mac = read::<M, ETH_ALEN>(mem, r, &mut left)?;
            // A device address must be unicast and not zero.
            if mac[0] & 1 != 0 || mac == [0; ETH_ALEN] {
                return Err(Refused::Err);
            }
            Command::MacAddr(mac)
        }
        (class::VLAN, class::VLAN_ADD | class::VLAN_DEL) if has(F_CTRL_VLAN) => {
            let vid = u16::from_le_bytes(read::<M, 2>(mem, r, &mut left)?);
            if usize::from(vid) >= VLAN_IDS {
                return Err(Refused::Err);
            }
            Command::Vlan(vid, cmd == class::VLAN_ADD)
        }
        (class::ANNOUNCE, class::ANNOUNCE_ACK) if has(F_GUEST_ANNOUNCE) => Command::AnnounceAck,
        (class::MQ, class::MQ_VQ_PAIRS_SET) if has(F_MQ) => {
            let n = u16::from_le_bytes(read::<M, 2>(mem, r, &mut left)?);
            if n == 0 || n > t.max_pairs {
                return Err(Refused::Err);
            }
            Command::Pairs(n)
        }
        _ => return Err(Refused::Err),
    };
    // Data left over means the driver meant something else.
    if left != 0 {
        return Err(Refused::Err);
    }
    Ok(command)
}

/// Applies a parsed command; only reading the MAC tables' addresses can fail, on driver
/// memory (which breaks the queue; its reset resets the filter too).
fn apply<M: GuestMemory + ?Sized>(
    mem: &M,
    c: Command,
    t: &mut CtrlTarget<'_>,
    done: &mut CtrlDone,
) -> Result<(), Error> {
    match c {
        Command::Rx(cmd, on) => {
            let m = &mut t.filter.mode;
            match cmd {
                class::RX_PROMISC => m.promisc = on,
                class::RX_ALLMULTI => m.allmulti = on,
                class::RX_ALLUNI => m.alluni = on,
                class::RX_NOMULTI => m.nomulti = on,
                class::RX_NOUNI => m.nouni = on,
                _ => m.nobcast = on,
            }
        }
        Command::MacTables(mut r, uni, multi) => {
            read_table(mem, &mut r, uni, &mut t.filter.uni)?;
            read_table(mem, &mut r, multi, &mut t.filter.multi)?;
        }
        Command::MacAddr(mac) => {
            done.config_changed = *t.mac != mac;
            *t.mac = mac;
        }
        Command::Vlan(vid, on) => t.filter.set_vlan(vid, on),
        Command::AnnounceAck => {
            done.config_changed = *t.announce;
            *t.announce = false;
        }
        Command::Pairs(n) => {
            done.pairs_changed = *t.pairs != n;
            *t.pairs = n;
        }
    }
    Ok(())
}

/// Executes the command in `chain` on `t` and writes its ack. `Err` means driver memory
/// failed (the caller breaks the queue); a malformed chain walk is such an error too, as on
/// any other queue.
pub fn execute<M: GuestMemory + ?Sized>(
    mem: &M,
    mut chain: DescChain,
    t: &mut CtrlTarget<'_>,
) -> Result<CtrlDone, Error> {
    let lengths = chain.lengths(mem)?;
    let mut done = CtrlDone {
        head: chain.head(),
        ..CtrlDone::default()
    };
    if lengths.writable == 0 {
        return Ok(done);
    }
    let mut writer = Writer::new(chain.clone());
    let mut r = Reader::new(chain);
    let readable = u64::from(lengths.readable);
    let parsed = if readable < 2 {
        Err(Refused::Err)
    } else {
        match read::<M, 2>(mem, &mut r, &mut 2) {
            Ok([cls, cmd]) => parse(mem, &mut r, readable - 2, cls, cmd, t),
            Err(e) => Err(e),
        }
    };
    let ack = match parsed {
        Ok(c) => {
            apply(mem, c, t, &mut done)?;
            OK
        }
        Err(Refused::Err) => ERR,
        Err(Refused::Fault(e)) => return Err(e),
    };
    writer.write_all(mem, &[ack])?;
    done.ack = Some(ack);
    done.used_len = 1;
    Ok(done)
}

/// What one pass over the control queue did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CtrlPass {
    /// Commands completed.
    pub completed: u32,
    /// Of those, commands answered [`ERR`] or not answered at all.
    pub errors: u32,
    /// Interrupt the driver for the control queue.
    pub interrupt: bool,
    /// Commands are left: run again.
    pub run_again: bool,
    /// The queue broke: the device needs a reset.
    pub broken: bool,
    /// A command changed the config space (bump its generation).
    pub config_changed: bool,
    /// A command changed the number of queue pairs in use.
    pub pairs_changed: bool,
}

/// Executes up to `budget` commands waiting on the control queue `q`, completing each as
/// it goes (a driver such as Linux's virtio_net polls for the answer).
pub fn run_ctrl<M: GuestMemory + ?Sized>(
    q: &mut super::virtqueue::SplitQueue,
    mem: &M,
    t: &mut CtrlTarget<'_>,
    budget: u32,
) -> CtrlPass {
    let mut pass = CtrlPass::default();
    if q.is_broken() {
        pass.broken = true;
        return pass;
    }
    while pass.completed < budget {
        let chain = match q.pop(mem) {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(_) => {
                pass.broken = true;
                return pass;
            }
        };
        let done =
            execute(mem, chain, t).and_then(|d| q.add_used(mem, d.head, d.used_len).map(|()| d));
        match done {
            Ok(d) => {
                pass.completed += 1;
                if d.ack != Some(OK) {
                    pass.errors += 1;
                }
                pass.config_changed |= d.config_changed;
                pass.pairs_changed |= d.pairs_changed;
            }
            Err(_) => {
                q.mark_broken();
                pass.broken = true;
                return pass;
            }
        }
    }
    pass.interrupt = pass.completed > 0 && q.needs_notification(mem).unwrap_or(false);
    if pass.completed >= budget {
        pass.run_again = q.pending(mem).is_ok_and(|n| n > 0);
        return pass;
    }
    // Ask for the next kick (with EVENT_IDX: move `avail_event` to where the queue is, or
    // the driver never kicks again), then look once more: a command added before that went
    // out came without a kick.
    pass.run_again = q
        .set_notification(mem, true)
        .and_then(|()| q.pending(mem))
        .is_ok_and(|n| n > 0);
    pass
}
