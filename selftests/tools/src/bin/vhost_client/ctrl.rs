// SPDX-License-Identifier: GPL-2.0
//! `ctrl`: control-queue commands through the vhost uAPI, with the control queue in an
//! address space of its own.
//!
//! The control queue (vq 2: MQ is not negotiated) is moved to address space 1 with
//! `SET_GROUP_ASID`, as QEMU 8 does when it shadows it. Its ring and buffers live in memory mapped only in address
//! space 1; address space 0 maps other memory, all zero, at the same IOVAs. A device that
//! read the control queue through address space 0 would find an empty ring and never answer.
//!
//! Every command the device offers is sent, well-formed and malformed, and its ack checked:
//! MAC_ADDR_SET (and the config space's MAC after it), a short MAC, an unknown class, and,
//! when negotiated, CTRL_RX modes, MAC tables (one claiming more entries than it carries),
//! VLAN add/del, ANNOUNCE_ACK; plus a chain without a writable byte, which cannot be
//! answered.

use std::time::Instant;

use vhost_uapi::{
    BACKEND_IOTLB_ASID, BACKEND_IOTLB_MSG_V2, VHOST_GET_BACKEND_FEATURES, VHOST_GET_FEATURES,
    VHOST_SET_BACKEND_FEATURES, VHOST_SET_OWNER, VHOST_SET_VRING_BASE, VHOST_SET_VRING_CALL,
    VHOST_SET_VRING_KICK, VHOST_SET_VRING_NUM, VHOST_VDPA_GET_AS_NUM, VHOST_VDPA_GET_GROUP_NUM,
    VHOST_VDPA_GET_VQS_COUNT, VHOST_VDPA_GET_VRING_GROUP, VHOST_VDPA_SET_GROUP_ASID,
    VHOST_VDPA_SET_STATUS, VHOST_VDPA_SET_VRING_ENABLE, VIRTIO_F_ACCESS_PLATFORM,
    VIRTIO_F_VERSION_1,
};

use crate::ring::{Vq, VRING_DESC_F_NEXT, VRING_DESC_F_WRITE};
use crate::setup::{choose_iova, fmt_mac, iotlb_ok_in, negotiate, set_driver_ok, VIRTIO_NET_F_MAC};
use crate::sys::{errno_name, poll_readable, raise_memlock, step, update, Dev, EventFd, Region};

const F_CTRL_VQ: u32 = 17;
const F_CTRL_RX: u32 = 18;
const F_CTRL_VLAN: u32 = 19;
const F_CTRL_RX_EXTRA: u32 = 20;
const F_GUEST_ANNOUNCE: u32 = 21;
const F_CTRL_MAC_ADDR: u32 = 23;

const CLASS_RX: u8 = 0;
const CLASS_MAC: u8 = 1;
const CLASS_VLAN: u8 = 2;
const CLASS_ANNOUNCE: u8 = 3;
const CLASS_MQ: u8 = 4;
const RX_PROMISC: u8 = 0;
const RX_ALLMULTI: u8 = 1;
const RX_NOBCAST: u8 = 5;
const MAC_TABLE_SET: u8 = 0;
const MAC_ADDR_SET: u8 = 1;
const VLAN_ADD: u8 = 0;
const VLAN_DEL: u8 = 1;
const ANNOUNCE_ACK: u8 = 0;
const MQ_VQ_PAIRS_SET: u8 = 0;

const OK: u8 = 0;
const ERR: u8 = 1;
/// What the ack byte holds before the device answers.
const UNANSWERED: u8 = 0xaa;

/// Size of each memory region: the control queue's and address space 0's.
const MEM_LEN: usize = 1 << 20;
/// Region offsets of the command's header, data and ack.
const HDR_OFF: usize = 0x1_0000;
const DATA_OFF: usize = 0x1_1000;
const ACK_OFF: usize = 0x1_2000;
/// Entries of the control queue's ring.
const RING: u16 = 64;
/// How long one command may take.
const WAIT_MS: i32 = 3000;

struct Cvq {
    dev: Dev,
    mem: Region,
    q: Vq,
    kick: EventFd,
    call: EventFd,
    failed: u32,
    cases: u32,
}

/// How a command's chain is laid out.
#[derive(Clone, Copy, PartialEq)]
enum Chain {
    /// Header, data (if any), ack: the normal layout.
    Normal,
    /// Header and data only: nothing the device may write.
    NoAck,
}

impl Cvq {
    /// Sends one command and waits for it; returns the ack byte and the used length.
    fn send(&mut self, class: u8, cmd: u8, data: &[u8], chain: Chain) -> Result<(u8, u32), String> {
        let iova = |off: usize| self.q.iova(off);
        self.mem.write_bytes(HDR_OFF, &[class, cmd]);
        self.mem.write_bytes(DATA_OFF, data);
        self.mem.w8(ACK_OFF, UNANSWERED);
        let mut ids = vec![(iova(HDR_OFF), 2u32, 0u16)];
        if !data.is_empty() {
            ids.push((iova(DATA_OFF), data.len() as u32, 0));
        }
        if chain == Chain::Normal {
            ids.push((iova(ACK_OFF), 1, VRING_DESC_F_WRITE));
        }
        let n = ids.len();
        for (i, (addr, len, flags)) in ids.into_iter().enumerate() {
            let next = if i + 1 < n { VRING_DESC_F_NEXT } else { 0 };
            self.q
                .write_desc(&self.mem, i as u16, addr, len, flags | next, i as u16 + 1);
        }
        self.q.publish(&self.mem, 0);
        step("kick eventfd write", self.kick.signal())?;
        let start = Instant::now();
        loop {
            if let Some((id, len)) = self.q.pop_used(&self.mem) {
                if id != 0 {
                    return Err(format!("used entry for descriptor {id}, sent 0"));
                }
                return Ok((self.mem.r8(ACK_OFF), len));
            }
            let left = WAIT_MS - start.elapsed().as_millis() as i32;
            if left <= 0 {
                return Err(format!(
                    "class {class} command {cmd}: no answer within {} s (was the control queue read through the wrong address space?)",
                    WAIT_MS / 1000
                ));
            }
            poll_readable(&[self.call.raw()], left)
                .map_err(|e| format!("poll: {}", errno_name(e)))?;
            let _ = self.call.drain();
        }
    }

    /// One case: the command's ack must be `want`.
    fn case(
        &mut self,
        name: &str,
        class: u8,
        cmd: u8,
        data: &[u8],
        want: u8,
    ) -> Result<(), String> {
        let (ack, len) = self.send(class, cmd, data, Chain::Normal)?;
        self.check(
            name,
            ack == want && len == 1,
            format!("ack {ack} len {len}"),
            format!("ack {want} len 1"),
        );
        Ok(())
    }

    fn check(&mut self, name: &str, good: bool, got: String, want: String) {
        self.cases += 1;
        if good {
            println!("ok {name} {got}");
        } else {
            self.failed += 1;
            println!("FAIL {name} got {got} expected {want}");
        }
    }

    fn mac(&self) -> Result<[u8; 6], String> {
        let c = step("VHOST_VDPA_GET_CONFIG{0,6}", self.dev.get_config(0, 6))?;
        let mut m = [0u8; 6];
        m.copy_from_slice(&c[..6]);
        Ok(m)
    }
}

/// A MAC table: `n` entries claimed, `have` carried.
fn table(n: u32, have: &[[u8; 6]]) -> Vec<u8> {
    let mut v = n.to_le_bytes().to_vec();
    for m in have {
        v.extend_from_slice(m);
    }
    v
}

/// Runs the subcommand.
pub(crate) fn run(path: &str) -> Result<(), String> {
    let dev = Dev::open(path).map_err(|e| format!("open {path} failed: {}", errno_name(e)))?;
    step("VHOST_SET_OWNER", dev.ioctl_none(VHOST_SET_OWNER))?;
    let offered = step(
        "VHOST_GET_BACKEND_FEATURES",
        dev.get_u64(VHOST_GET_BACKEND_FEATURES),
    )?;
    if offered & BACKEND_IOTLB_ASID == 0 {
        return Err(format!("backend features {offered:#x} lack IOTLB_ASID"));
    }
    step(
        "VHOST_SET_BACKEND_FEATURES",
        dev.set_u64(
            VHOST_SET_BACKEND_FEATURES,
            offered & (BACKEND_IOTLB_MSG_V2 | BACKEND_IOTLB_ASID),
        ),
    )?;
    let nvqs = step("GET_VQS_COUNT", dev.get_u32(VHOST_VDPA_GET_VQS_COUNT))?;
    let ngroups = step("GET_GROUP_NUM", dev.get_u32(VHOST_VDPA_GET_GROUP_NUM))?;
    let nas = step("GET_AS_NUM", dev.get_u32(VHOST_VDPA_GET_AS_NUM))?;
    if nvqs < 3 || ngroups < 2 || nas < 2 {
        return Err(format!(
            "{nvqs} vqs, {ngroups} groups, {nas} address spaces: need a control queue in a group of its own"
        ));
    }
    let features = step("VHOST_GET_FEATURES", dev.get_u64(VHOST_GET_FEATURES))?;
    let has = |b: u32| features & (1u64 << b) != 0;
    if !has(F_CTRL_VQ) || !has(F_CTRL_MAC_ADDR) {
        return Err(format!(
            "features {features:#x} lack CTRL_VQ or CTRL_MAC_ADDR"
        ));
    }
    let mut want = (1u64 << VIRTIO_F_VERSION_1)
        | (1u64 << VIRTIO_F_ACCESS_PLATFORM)
        | (1 << VIRTIO_NET_F_MAC)
        | (1 << F_CTRL_VQ)
        | (1 << F_CTRL_MAC_ADDR);
    for b in [F_CTRL_RX, F_CTRL_RX_EXTRA, F_CTRL_VLAN, F_GUEST_ANNOUNCE] {
        if has(b) {
            want |= 1 << b;
        }
    }
    let fok = negotiate(&dev, want)?;
    // Without MQ the control queue is vq 2 (virtio 1.2, 5.1.2), whatever the device's queue
    // count; its group is asked after FEATURES_OK, which decides where it is.
    let cvq = 2;
    let cvq_group = step(
        "GET_VRING_GROUP(cvq)",
        dev.get_state(VHOST_VDPA_GET_VRING_GROUP, cvq),
    )?;
    for i in 0..cvq {
        let g = step(
            "GET_VRING_GROUP",
            dev.get_state(VHOST_VDPA_GET_VRING_GROUP, i),
        )?;
        if g == cvq_group {
            return Err(format!("vq {i} shares group {g} with the control queue"));
        }
    }
    step(
        "SET_GROUP_ASID(cvq group, 1)",
        dev.set_state(VHOST_VDPA_SET_GROUP_ASID, cvq_group, 1),
    )?;

    // Two regions at the same IOVA: the control queue's in address space 1, zeros in 0.
    if let Err(e) = raise_memlock() {
        eprintln!(
            "vhost_client: warning: setrlimit(RLIMIT_MEMLOCK): {}",
            errno_name(e)
        );
    }
    let mem = Region::new(MEM_LEN).map_err(|e| format!("region: {}", errno_name(e)))?;
    let zeros = Region::new(MEM_LEN).map_err(|e| format!("region: {}", errno_name(e)))?;
    mem.touch();
    zeros.touch();
    let range = step("GET_IOVA_RANGE", dev.iova_range())?;
    let iova = choose_iova(range, MEM_LEN as u64, mem.va()).ok_or("no usable IOVA")?;
    iotlb_ok_in(
        &dev,
        1,
        "UPDATE asid 1",
        &update(iova, MEM_LEN as u64, mem.va()),
    )?;
    iotlb_ok_in(
        &dev,
        0,
        "UPDATE asid 0",
        &update(iova, MEM_LEN as u64, zeros.va()),
    )?;

    let q = Vq::new(&mem, cvq, RING, 0, iova);
    let kick = EventFd::new().map_err(|e| format!("eventfd: {}", errno_name(e)))?;
    let call = EventFd::new().map_err(|e| format!("eventfd: {}", errno_name(e)))?;
    step(
        "SET_VRING_NUM",
        dev.set_state(VHOST_SET_VRING_NUM, cvq, u32::from(RING)),
    )?;
    step(
        "SET_VRING_BASE",
        dev.set_state(VHOST_SET_VRING_BASE, cvq, 0),
    )?;
    step("SET_VRING_ADDR", dev.set_addr(&q.addr()))?;
    step(
        "SET_VRING_KICK",
        dev.set_file(VHOST_SET_VRING_KICK, cvq, kick.raw()),
    )?;
    step(
        "SET_VRING_CALL",
        dev.set_file(VHOST_SET_VRING_CALL, cvq, call.raw()),
    )?;
    step(
        "SET_VRING_ENABLE",
        dev.set_state(VHOST_VDPA_SET_VRING_ENABLE, cvq, 1),
    )?;
    set_driver_ok(&dev, fok)?;
    println!(
        "ctrl: control queue {cvq} in group {cvq_group} of {ngroups}, address space 1 of {nas}; features {want:#x}"
    );

    let mut c = Cvq {
        dev,
        mem,
        q,
        kick,
        call,
        failed: 0,
        cases: 0,
    };
    let old = c.mac()?;
    let new = [0x02, 0x5a, 0x11, 0x22, 0x33, 0x44];
    c.case("mac-addr-set", CLASS_MAC, MAC_ADDR_SET, &new, OK)?;
    let now = c.mac()?;
    c.check("mac-in-config", now == new, fmt_mac(&now), fmt_mac(&new));
    c.case(
        "mac-addr-set-short",
        CLASS_MAC,
        MAC_ADDR_SET,
        &[2, 0, 0, 0, 1],
        ERR,
    )?;
    c.case("unknown-class", 0x7f, 0, &[0], ERR)?;
    let now = c.mac()?;
    c.check(
        "mac-kept-after-errors",
        now == new,
        fmt_mac(&now),
        fmt_mac(&new),
    );
    if has(F_CTRL_RX) {
        c.case(
            "mac-addr-set-multicast",
            CLASS_MAC,
            MAC_ADDR_SET,
            &[1, 0, 0x5e, 0, 0, 1],
            ERR,
        )?;
        c.case("rx-promisc-on", CLASS_RX, RX_PROMISC, &[1], OK)?;
        c.case("rx-promisc-two-bytes", CLASS_RX, RX_PROMISC, &[1, 0], ERR)?;
        c.case("rx-allmulti-off", CLASS_RX, RX_ALLMULTI, &[0], OK)?;
        let uni = [0x02, 0, 0, 0, 0, 9];
        let multi = [0x01, 0, 0x5e, 0, 0, 9];
        let mut t = table(1, &[uni]);
        t.extend(table(1, &[multi]));
        c.case("mac-table-set", CLASS_MAC, MAC_TABLE_SET, &t, OK)?;
        let mut t = table(3, &[uni]);
        t.extend(table(0, &[]));
        c.case(
            "mac-table-set-overclaimed",
            CLASS_MAC,
            MAC_TABLE_SET,
            &t,
            ERR,
        )?;
        c.case(
            "mac-table-set-no-multicast-table",
            CLASS_MAC,
            MAC_TABLE_SET,
            &table(0, &[]),
            ERR,
        )?;
    }
    if has(F_CTRL_RX_EXTRA) {
        c.case("rx-nobcast-on", CLASS_RX, RX_NOBCAST, &[1], OK)?;
    }
    if has(F_CTRL_VLAN) {
        c.case("vlan-add-5", CLASS_VLAN, VLAN_ADD, &5u16.to_le_bytes(), OK)?;
        c.case(
            "vlan-add-4096",
            CLASS_VLAN,
            VLAN_ADD,
            &4096u16.to_le_bytes(),
            ERR,
        )?;
        c.case("vlan-del-5", CLASS_VLAN, VLAN_DEL, &5u16.to_le_bytes(), OK)?;
    }
    if has(F_GUEST_ANNOUNCE) {
        c.case("announce-ack", CLASS_ANNOUNCE, ANNOUNCE_ACK, &[], OK)?;
    }
    // MQ is not negotiated here: its command is refused.
    c.case(
        "mq-not-negotiated",
        CLASS_MQ,
        MQ_VQ_PAIRS_SET,
        &1u16.to_le_bytes(),
        ERR,
    )?;
    let (ack, len) = c.send(CLASS_MAC, MAC_ADDR_SET, &old, Chain::NoAck)?;
    c.check(
        "no-writable-ack",
        ack == UNANSWERED && len == 0,
        format!("ack {ack:#x} len {len}"),
        format!("ack {UNANSWERED:#x} len 0"),
    );
    c.case("mac-addr-restore", CLASS_MAC, MAC_ADDR_SET, &old, OK)?;

    step("SET_STATUS(0)", c.dev.set_u8(VHOST_VDPA_SET_STATUS, 0))?;
    println!("ctrl: {} cases, {} failed", c.cases, c.failed);
    if c.failed > 0 {
        return Err(format!("{} of {} cases failed", c.failed, c.cases));
    }
    Ok(())
}
