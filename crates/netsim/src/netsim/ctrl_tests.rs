// SPDX-License-Identifier: GPL-2.0
//! Tests of the receive filter and of control-queue commands against a minimal driver model.

use std::vec::Vec;

use super::ctrl::{
    self, class, CtrlDone, CtrlTarget, ERR, F_CTRL_MAC_ADDR, F_CTRL_RX_EXTRA, F_GUEST_ANNOUNCE,
    F_MQ, OK,
};
use super::filter::{FrameHead, RxFilter, F_CTRL_RX, F_CTRL_VLAN, MAC_TABLE_ENTRIES};
use super::virtqueue::mock::MockMemory;
use super::virtqueue::{Error, GuestMemory, SplitQueue, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};

const OWN: [u8; 6] = [0x02, 0, 0, 0, 0, 1];
const OTHER: [u8; 6] = [0x02, 0, 0, 0, 0, 2];
const BCAST: [u8; 6] = [0xff; 6];
const MCAST: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
const MCAST2: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];

fn head(dst: [u8; 6]) -> FrameHead {
    FrameHead { dst, vlan: None }
}

fn tagged(dst: [u8; 6], vid: u16) -> FrameHead {
    FrameHead {
        dst,
        vlan: Some(vid),
    }
}

#[test]
fn ctrl_rx_starts_promiscuous_as_qemu() {
    let mut f = RxFilter::new();
    f.reset(F_CTRL_RX);
    assert!(f.rx_ctrl());
    for d in [OWN, OTHER, BCAST, MCAST] {
        assert!(f.accepts(&OWN, &head(d)));
    }
}

#[test]
fn rx_mode_and_tables() {
    let mut f = RxFilter::new();
    f.reset(F_CTRL_RX);
    f.mode.promisc = false;
    assert!(f.accepts(&OWN, &head(OWN)));
    assert!(!f.accepts(&OWN, &head(OTHER)));
    assert!(f.accepts(&OWN, &head(BCAST)));
    assert!(
        !f.accepts(&OWN, &head(MCAST)),
        "multicast needs the table or allmulti"
    );
    f.multi.push(MCAST);
    assert!(f.accepts(&OWN, &head(MCAST)));
    assert!(!f.accepts(&OWN, &head(MCAST2)));
    f.mode.allmulti = true;
    assert!(f.accepts(&OWN, &head(MCAST2)));
    f.mode.nomulti = true;
    assert!(
        !f.accepts(&OWN, &head(MCAST)),
        "nomulti wins over allmulti and the table"
    );
    assert!(
        f.accepts(&OWN, &head(BCAST)),
        "broadcast is not multicast to nomulti"
    );
    f.mode.nobcast = true;
    assert!(!f.accepts(&OWN, &head(BCAST)));
    f.uni.push(OTHER);
    assert!(f.accepts(&OWN, &head(OTHER)));
    f.mode.nouni = true;
    assert!(!f.accepts(&OWN, &head(OTHER)));
    assert!(
        !f.accepts(&OWN, &head(OWN)),
        "nouni drops the own address too"
    );
    f.mode.promisc = true;
    assert!(f.accepts(&OWN, &head(OWN)), "promisc wins over everything");
}

#[test]
fn alluni_and_table_overflow() {
    let mut f = RxFilter::new();
    f.reset(F_CTRL_RX);
    f.mode.promisc = false;
    let third = [0x02, 0, 0, 0, 0, 3];
    assert!(!f.accepts(&OWN, &head(third)));
    f.mode.alluni = true;
    assert!(f.accepts(&OWN, &head(third)));
    f.mode.alluni = false;
    for i in 0..=MAC_TABLE_ENTRIES {
        f.uni.push([0x02, 1, 0, 0, 0, i as u8]);
    }
    assert!(f.uni.overflow);
    assert_eq!(f.uni.entries().len(), MAC_TABLE_ENTRIES);
    assert!(
        f.accepts(&OWN, &head(third)),
        "an overflowed table passes every unicast"
    );
    assert!(!f.accepts(&OWN, &head(MCAST)), "but not multicast");
}

#[test]
fn vlan_filter() {
    let mut f = RxFilter::new();
    f.reset(F_CTRL_VLAN);
    assert!(f.vlan_ctrl());
    assert!(
        f.accepts(&OWN, &head(OWN)),
        "untagged frames are not filtered"
    );
    assert!(!f.accepts(&OWN, &tagged(OWN, 5)));
    f.set_vlan(5, true);
    assert!(f.accepts(&OWN, &tagged(OWN, 5)));
    assert!(!f.accepts(&OWN, &tagged(OWN, 6)));
    f.set_vlan(4095, true);
    assert!(f.vlan(4095) && !f.vlan(4094));
    f.set_vlan(5, false);
    assert!(!f.accepts(&OWN, &tagged(OWN, 5)));
    // With CTRL_RX too, promiscuous mode passes any VLAN, as in QEMU.
    f.reset(F_CTRL_RX | F_CTRL_VLAN);
    assert!(f.accepts(&OWN, &tagged(OTHER, 9)));
    f.mode.promisc = false;
    assert!(!f.accepts(&OWN, &tagged(OWN, 9)));
}

#[test]
fn frame_head_parsing() {
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&OWN);
    b[12..14].copy_from_slice(&0x8100u16.to_be_bytes());
    b[14..16].copy_from_slice(&0xa123u16.to_be_bytes());
    assert_eq!(
        FrameHead::parse(&b),
        Some(tagged(OWN, 0x123)),
        "priority bits masked"
    );
    assert_eq!(
        FrameHead::parse(&b[..14]),
        Some(head(OWN)),
        "too short for a tag"
    );
    b[12] = 0x08;
    b[13] = 0x00;
    assert_eq!(FrameHead::parse(&b), Some(head(OWN)));
    assert_eq!(FrameHead::parse(&b[..5]), None);
}

// ---- commands through a control queue ------------------------------------

const BASE: u64 = 0x10_0000;
const QSIZE: u16 = 64;

/// A control queue in mock memory and the device state commands act on.
struct Cvq {
    mem: MockMemory,
    q: SplitQueue,
    next_desc: u16,
    heap: u64,
    features: u64,
    filter: RxFilter,
    mac: [u8; 6],
    announce: bool,
    pairs: u16,
}

const DESC: u64 = BASE;
const AVAIL: u64 = BASE + 16 * QSIZE as u64;
const USED: u64 = BASE + 0x1000;

impl Cvq {
    fn new(features: u64) -> Self {
        Self::with_event_idx(features, false)
    }

    fn with_event_idx(features: u64, event_idx: bool) -> Self {
        let mut filter = RxFilter::new();
        filter.reset(features);
        Cvq {
            mem: MockMemory::new(BASE, 0x10_0000),
            q: SplitQueue::new(QSIZE, DESC, AVAIL, USED, event_idx).unwrap(),
            next_desc: 0,
            heap: BASE + 0x2000,
            features,
            filter,
            mac: OWN,
            announce: false,
            pairs: 1,
        }
    }

    fn put(&mut self, bytes: &[u8]) -> u64 {
        let at = self.heap;
        self.mem.set_bytes(at, bytes);
        self.heap += (bytes.len() as u64 + 1).next_multiple_of(16);
        at
    }

    /// Queues a chain of `(bytes, writable)` buffers; returns the ack's address if there is
    /// one writable buffer.
    fn chain(&mut self, bufs: &[(&[u8], bool)]) -> Option<u64> {
        let head = self.next_desc;
        let mut ack = None;
        for (k, &(bytes, writable)) in bufs.iter().enumerate() {
            let i = head + k as u16;
            let at = self.put(bytes);
            if writable {
                ack.get_or_insert(at);
            }
            let mut flags = if writable { VRING_DESC_F_WRITE } else { 0 };
            if k + 1 < bufs.len() {
                flags |= VRING_DESC_F_NEXT;
            }
            let d = DESC + 16 * u64::from(i);
            self.mem.write(d, &at.to_le_bytes()).unwrap();
            self.mem
                .write(d + 8, &(bytes.len() as u32).to_le_bytes())
                .unwrap();
            self.mem.write(d + 12, &flags.to_le_bytes()).unwrap();
            self.mem.write(d + 14, &(i + 1).to_le_bytes()).unwrap();
        }
        self.next_desc = head + bufs.len() as u16;
        let idx = self.mem.load_u16_acquire(AVAIL + 2).unwrap();
        self.mem
            .write(AVAIL + 4 + 2 * u64::from(idx % QSIZE), &head.to_le_bytes())
            .unwrap();
        self.mem
            .write(AVAIL + 2, &idx.wrapping_add(1).to_le_bytes())
            .unwrap();
        ack
    }

    fn exec(&mut self) -> Result<CtrlDone, Error> {
        let chain = self.q.pop(&self.mem).unwrap().expect("a chain");
        let mut t = CtrlTarget {
            features: self.features,
            filter: &mut self.filter,
            mac: &mut self.mac,
            announce: &mut self.announce,
            pairs: &mut self.pairs,
            max_pairs: 4,
        };
        ctrl::execute(&self.mem, chain, &mut t)
    }

    /// Sends a well-formed command (header and data in separate buffers, as Linux does)
    /// and returns the ack the device wrote.
    fn cmd(&mut self, cls: u8, cmd: u8, data: &[u8]) -> u8 {
        let ack = self
            .chain(&[(&[cls, cmd], false), (data, false), (&[0xee], true)])
            .unwrap();
        let done = self.exec().unwrap();
        assert_eq!(done.used_len, 1);
        let a = self.mem.bytes(ack, 1)[0];
        assert_eq!(done.ack, Some(a));
        a
    }

    /// The device state commands can change.
    fn state(&self) -> (RxFilter, [u8; 6], bool, u16) {
        (self.filter.clone(), self.mac, self.announce, self.pairs)
    }
}

fn table(macs: &[[u8; 6]]) -> Vec<u8> {
    let mut v = (macs.len() as u32).to_le_bytes().to_vec();
    for m in macs {
        v.extend_from_slice(m);
    }
    v
}

const ALL: u64 = ctrl::F_CTRL_VQ
    | F_CTRL_RX
    | F_CTRL_RX_EXTRA
    | F_CTRL_VLAN
    | F_CTRL_MAC_ADDR
    | F_GUEST_ANNOUNCE
    | F_MQ;

#[test]
fn rx_commands_set_the_mode() {
    let mut c = Cvq::new(ALL);
    for (cmd, get) in [
        (
            class::RX_PROMISC,
            (|f: &RxFilter| f.mode.promisc) as fn(&RxFilter) -> bool,
        ),
        (class::RX_ALLMULTI, |f| f.mode.allmulti),
        (class::RX_ALLUNI, |f| f.mode.alluni),
        (class::RX_NOMULTI, |f| f.mode.nomulti),
        (class::RX_NOUNI, |f| f.mode.nouni),
        (class::RX_NOBCAST, |f| f.mode.nobcast),
    ] {
        assert_eq!(c.cmd(class::RX, cmd, &[1]), OK);
        assert!(get(&c.filter), "command {cmd} on");
        assert_eq!(c.cmd(class::RX, cmd, &[0]), OK);
        assert!(!get(&c.filter), "command {cmd} off");
    }
}

#[test]
fn rx_extra_commands_need_their_feature() {
    let mut c = Cvq::new(ctrl::F_CTRL_VQ | F_CTRL_RX);
    assert_eq!(c.cmd(class::RX, class::RX_PROMISC, &[0]), OK);
    let before = c.state();
    for cmd in class::RX_ALLUNI..=class::RX_NOBCAST {
        assert_eq!(c.cmd(class::RX, cmd, &[1]), ERR);
    }
    assert_eq!(c.state(), before);
    let mut c = Cvq::new(ctrl::F_CTRL_VQ);
    assert_eq!(c.cmd(class::RX, class::RX_PROMISC, &[0]), ERR, "no CTRL_RX");
}

#[test]
fn mac_table_set_filters_by_the_tables() {
    let mut c = Cvq::new(ALL);
    assert_eq!(c.cmd(class::RX, class::RX_PROMISC, &[0]), OK);
    let mut data = table(&[OTHER]);
    data.extend(table(&[MCAST]));
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), OK);
    assert_eq!(c.filter.uni.entries(), &[OTHER]);
    assert_eq!(c.filter.multi.entries(), &[MCAST]);
    assert!(c.filter.accepts(&OWN, &head(OTHER)));
    assert!(c.filter.accepts(&OWN, &head(MCAST)));
    assert!(!c.filter.accepts(&OWN, &head(MCAST2)));
    // Empty tables replace them.
    let mut data = table(&[]);
    data.extend(table(&[]));
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), OK);
    assert!(!c.filter.accepts(&OWN, &head(OTHER)));
}

#[test]
fn mac_table_past_capacity_overflows_and_is_skipped() {
    let mut c = Cvq::new(ALL);
    let many: Vec<[u8; 6]> = (0..MAC_TABLE_ENTRIES + 10)
        .map(|i| [0x02, 9, 0, 0, (i >> 8) as u8, i as u8])
        .collect();
    let mut data = table(&many);
    data.extend(table(&[MCAST]));
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), OK);
    assert!(c.filter.uni.overflow);
    assert_eq!(c.filter.uni.entries().len(), MAC_TABLE_ENTRIES);
    assert_eq!(
        c.filter.multi.entries(),
        &[MCAST],
        "the second table after the skipped entries"
    );
}

#[test]
fn malformed_mac_tables_change_nothing() {
    let mut c = Cvq::new(ALL);
    let before = c.state();
    // More entries than the buffer holds.
    let mut data = table(&[OTHER]);
    data[0] = 3;
    data.extend(table(&[]));
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), ERR);
    // Only the unicast table.
    assert_eq!(
        c.cmd(class::MAC, class::MAC_TABLE_SET, &table(&[OTHER])),
        ERR
    );
    // A byte left over.
    let mut data = table(&[OTHER]);
    data.extend(table(&[MCAST]));
    data.push(0);
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), ERR);
    // A count of 2^32 - 1.
    let mut data = u32::MAX.to_le_bytes().to_vec();
    data.extend(table(&[]));
    assert_eq!(c.cmd(class::MAC, class::MAC_TABLE_SET, &data), ERR);
    assert_eq!(c.state(), before);
}

#[test]
fn mac_addr_set() {
    let mut c = Cvq::new(ALL);
    let new = [0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee];
    let chain_ack = c
        .chain(&[
            (&[class::MAC, class::MAC_ADDR_SET], false),
            (&new, false),
            (&[9], true),
        ])
        .unwrap();
    let done = c.exec().unwrap();
    assert_eq!((done.ack, done.config_changed), (Some(OK), true));
    assert_eq!(c.mem.bytes(chain_ack, 1)[0], OK);
    assert_eq!(c.mac, new);
    for bad in [[0x03, 0, 0, 0, 0, 1], [0; 6]] {
        assert_eq!(
            c.cmd(class::MAC, class::MAC_ADDR_SET, &bad),
            ERR,
            "{bad:x?}"
        );
    }
    assert_eq!(
        c.cmd(class::MAC, class::MAC_ADDR_SET, &new[..5]),
        ERR,
        "short"
    );
    assert_eq!(c.mac, new);
    let mut c = Cvq::new(ALL & !F_CTRL_MAC_ADDR);
    assert_eq!(
        c.cmd(class::MAC, class::MAC_ADDR_SET, &new),
        ERR,
        "not negotiated"
    );
    assert_eq!(c.mac, OWN);
}

#[test]
fn vlan_add_and_del() {
    let mut c = Cvq::new(ALL);
    assert_eq!(
        c.cmd(class::VLAN, class::VLAN_ADD, &100u16.to_le_bytes()),
        OK
    );
    assert!(c.filter.vlan(100));
    assert_eq!(
        c.cmd(class::VLAN, class::VLAN_DEL, &100u16.to_le_bytes()),
        OK
    );
    assert!(!c.filter.vlan(100));
    assert_eq!(
        c.cmd(class::VLAN, class::VLAN_ADD, &4096u16.to_le_bytes()),
        ERR
    );
    assert_eq!(c.cmd(class::VLAN, class::VLAN_ADD, &[1]), ERR, "short");
    assert_eq!(
        c.cmd(class::VLAN, 2, &1u16.to_le_bytes()),
        ERR,
        "unknown command"
    );
    let mut c = Cvq::new(ALL & !F_CTRL_VLAN);
    assert_eq!(
        c.cmd(class::VLAN, class::VLAN_ADD, &1u16.to_le_bytes()),
        ERR
    );
}

#[test]
fn announce_ack_clears_the_status_bit() {
    let mut c = Cvq::new(ALL);
    c.announce = true;
    assert_eq!(c.cmd(class::ANNOUNCE, class::ANNOUNCE_ACK, &[]), OK);
    assert!(!c.announce);
    assert_eq!(
        c.cmd(class::ANNOUNCE, class::ANNOUNCE_ACK, &[0]),
        ERR,
        "data left over"
    );
    let mut c = Cvq::new(ALL & !F_GUEST_ANNOUNCE);
    c.announce = true;
    assert_eq!(c.cmd(class::ANNOUNCE, class::ANNOUNCE_ACK, &[]), ERR);
    assert!(c.announce);
}

#[test]
fn mq_pairs() {
    let mut c = Cvq::new(ALL);
    assert_eq!(
        c.cmd(class::MQ, class::MQ_VQ_PAIRS_SET, &3u16.to_le_bytes()),
        OK
    );
    assert_eq!(c.pairs, 3);
    for bad in [0u16, 5, u16::MAX] {
        assert_eq!(
            c.cmd(class::MQ, class::MQ_VQ_PAIRS_SET, &bad.to_le_bytes()),
            ERR
        );
    }
    assert_eq!(c.pairs, 3);
    let mut c = Cvq::new(ALL & !F_MQ);
    assert_eq!(
        c.cmd(class::MQ, class::MQ_VQ_PAIRS_SET, &1u16.to_le_bytes()),
        ERR
    );
}

#[test]
fn unknown_classes_and_malformed_chains() {
    let mut c = Cvq::new(ALL);
    let before = c.state();
    assert_eq!(c.cmd(5, 0, &[]), ERR, "guest offloads are not offered");
    assert_eq!(c.cmd(200, 0, &[1]), ERR);
    // A header of one byte.
    let ack = c.chain(&[(&[class::RX], false), (&[0xee], true)]).unwrap();
    assert_eq!(c.exec().unwrap().ack, Some(ERR));
    assert_eq!(c.mem.bytes(ack, 1)[0], ERR);
    // Header and data in one buffer, as DPDK sends them: fine.
    c.chain(&[(&[class::RX, class::RX_NOBCAST, 1], false), (&[0xee], true)]);
    assert_eq!(c.exec().unwrap().ack, Some(OK));
    c.filter.mode.nobcast = false;
    // Data in the writable part (wrong direction): the command is short.
    let ack = c
        .chain(&[(&[class::RX, class::RX_PROMISC], false), (&[1, 0xee], true)])
        .unwrap();
    assert_eq!(c.exec().unwrap().ack, Some(ERR));
    assert_eq!(c.mem.bytes(ack, 1)[0], ERR);
    // No writable byte: nothing to answer, nothing done.
    c.chain(&[(&[class::RX, class::RX_PROMISC, 1], false)]);
    let done = c.exec().unwrap();
    assert_eq!((done.ack, done.used_len), (None, 0));
    assert_eq!(c.state(), before);
}

#[test]
fn a_readable_buffer_after_the_ack_breaks_the_queue() {
    let mut c = Cvq::new(ALL);
    c.chain(&[
        (&[class::RX, class::RX_PROMISC], false),
        (&[0xee], true),
        (&[1], false),
    ]);
    assert_eq!(c.exec(), Err(Error::ReadableAfterWritable));
}

#[test]
fn a_pass_runs_the_commands_in_order_and_completes_each() {
    let mut c = Cvq::new(ALL);
    let a1 = c
        .chain(&[
            (&[class::RX, class::RX_PROMISC], false),
            (&[0], false),
            (&[0xee], true),
        ])
        .unwrap();
    let a2 = c
        .chain(&[
            (&[class::VLAN, class::VLAN_ADD], false),
            (&[0x10, 0x00], false),
            (&[0xee], true),
        ])
        .unwrap();
    let a3 = c.chain(&[(&[9, 9], false), (&[0xee], true)]).unwrap();
    let a4 = c
        .chain(&[
            (&[class::RX, class::RX_PROMISC], false),
            (&[1], false),
            (&[0xee], true),
        ])
        .unwrap();
    let mut t = CtrlTarget {
        features: c.features,
        filter: &mut c.filter,
        mac: &mut c.mac,
        announce: &mut c.announce,
        pairs: &mut c.pairs,
        max_pairs: 4,
    };
    let pass = ctrl::run_ctrl(&mut c.q, &c.mem, &mut t, 3);
    assert_eq!(
        (pass.completed, pass.run_again, pass.broken),
        (3, true, false)
    );
    let acks: Vec<u8> = [a1, a2, a3, a4]
        .iter()
        .map(|&a| c.mem.bytes(a, 1)[0])
        .collect();
    assert_eq!(
        acks,
        [OK, OK, ERR, 0xee],
        "in order, and the fourth waits for the next pass"
    );
    assert!(!c.filter.mode.promisc && c.filter.vlan(0x10));
    let mut t = CtrlTarget {
        features: c.features,
        filter: &mut c.filter,
        mac: &mut c.mac,
        announce: &mut c.announce,
        pairs: &mut c.pairs,
        max_pairs: 4,
    };
    let pass = ctrl::run_ctrl(&mut c.q, &c.mem, &mut t, 3);
    assert_eq!((pass.completed, pass.run_again), (1, false));
    assert_eq!(c.mem.bytes(a4, 1)[0], OK);
    assert!(c.filter.mode.promisc);
    // The used ring holds each chain once, with the ack's length.
    let used_idx = u16::from_le_bytes(c.mem.bytes(USED + 2, 2).try_into().unwrap());
    assert_eq!(used_idx, 4);
    for k in 0..4u64 {
        let len = u32::from_le_bytes(c.mem.bytes(USED + 4 + 8 * k + 4, 4).try_into().unwrap());
        assert_eq!(len, 1);
    }
}

#[test]
fn with_event_idx_a_pass_asks_for_the_next_kick() {
    let mut c = Cvq::with_event_idx(ALL, true);
    for _ in 0..3 {
        c.chain(&[
            (&[class::RX, class::RX_PROMISC], false),
            (&[0], false),
            (&[0xee], true),
        ]);
    }
    let mut t = CtrlTarget {
        features: c.features,
        filter: &mut c.filter,
        mac: &mut c.mac,
        announce: &mut c.announce,
        pairs: &mut c.pairs,
        max_pairs: 4,
    };
    let pass = ctrl::run_ctrl(&mut c.q, &c.mem, &mut t, 64);
    assert_eq!((pass.completed, pass.run_again), (3, false));
    // avail_event sits after the used ring: the driver kicks again once idx passes 3.
    let avail_event = USED + 4 + 8 * u64::from(QSIZE);
    assert_eq!(
        u16::from_le_bytes(c.mem.bytes(avail_event, 2).try_into().unwrap()),
        3
    );
}
