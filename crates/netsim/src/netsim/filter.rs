// SPDX-License-Identifier: GPL-2.0
//! The receive filter: which looped frames the device delivers.
//!
//! Without `VIRTIO_NET_F_CTRL_RX` the filter is fixed: the device's own MAC, broadcast and
//! every multicast address, as upstream's vdpa_sim_net. With it, the driver steers the filter
//! through the control queue (`ctrl.rs`): the rx mode flags (virtio 1.2, 5.1.6.5.1) and the
//! unicast and multicast MAC tables (5.1.6.5.2), with the semantics of QEMU's virtio-net
//! device, the reference the drivers are written against. With `VIRTIO_NET_F_CTRL_VLAN`, a
//! frame tagged with an 802.1Q VLAN id passes only if the driver added that id (5.1.6.5.3);
//! untagged frames are not affected.

use super::ETH_ALEN;

/// MAC addresses each table holds; a driver that sets more turns the table's overflow on,
/// which accepts every address of that kind (as QEMU does).
pub const MAC_TABLE_ENTRIES: usize = 64;
/// VLAN ids (12 bits).
pub const VLAN_IDS: usize = 4096;
/// The ethertype of an 802.1Q tag.
pub const ETH_P_8021Q: u16 = 0x8100;

/// `VIRTIO_NET_F_CTRL_RX`: the driver sets the rx mode and the MAC tables.
pub const F_CTRL_RX: u64 = 1 << 18;
/// `VIRTIO_NET_F_CTRL_VLAN`: the driver sets the VLAN filter.
pub const F_CTRL_VLAN: u64 = 1 << 19;

/// A MAC address table set by `VIRTIO_NET_CTRL_MAC_TABLE_SET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MacTable {
    macs: [[u8; ETH_ALEN]; MAC_TABLE_ENTRIES],
    len: usize,
    /// The driver set more addresses than fit: every address of this kind passes.
    pub overflow: bool,
}

impl Default for MacTable {
    fn default() -> Self {
        Self::new()
    }
}

impl MacTable {
    /// An empty table.
    pub const fn new() -> Self {
        Self {
            macs: [[0; ETH_ALEN]; MAC_TABLE_ENTRIES],
            len: 0,
            overflow: false,
        }
    }

    /// Adds `mac`, or turns the overflow on if the table is full.
    pub fn push(&mut self, mac: [u8; ETH_ALEN]) {
        match self.macs.get_mut(self.len) {
            Some(slot) => {
                *slot = mac;
                self.len += 1;
            }
            None => self.overflow = true,
        }
    }

    /// The addresses held.
    pub fn entries(&self) -> &[[u8; ETH_ALEN]] {
        &self.macs[..self.len]
    }

    /// Whether `mac` passes: it is in the table, or the table overflowed.
    pub fn passes(&self, mac: &[u8; ETH_ALEN]) -> bool {
        self.overflow || self.entries().contains(mac)
    }
}

/// The rx mode flags of `VIRTIO_NET_CTRL_RX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RxMode {
    /// Every frame passes.
    pub promisc: bool,
    /// Every multicast frame passes.
    pub allmulti: bool,
    /// Every unicast frame passes.
    pub alluni: bool,
    /// No multicast frame passes (broadcast is separate).
    pub nomulti: bool,
    /// No unicast frame passes.
    pub nouni: bool,
    /// No broadcast frame passes.
    pub nobcast: bool,
}

/// What the filter looks at in a frame: its destination and, if it has one, the VLAN id of
/// its 802.1Q tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// Destination MAC address.
    pub dst: [u8; ETH_ALEN],
    /// The VLAN id, if the frame carries an 802.1Q tag.
    pub vlan: Option<u16>,
}

impl FrameHead {
    /// The head of a frame from its first bytes (up to 16: destination, source, ethertype,
    /// tag control). A frame too short for a tag is untagged.
    pub fn parse(start: &[u8]) -> Option<Self> {
        let dst: [u8; ETH_ALEN] = start.get(..ETH_ALEN)?.try_into().ok()?;
        let vlan = match start.get(12..16) {
            Some(&[a, b, c, d]) if u16::from_be_bytes([a, b]) == ETH_P_8021Q => {
                Some(u16::from_be_bytes([c, d]) & 0x0fff)
            }
            _ => None,
        };
        Some(Self { dst, vlan })
    }
}

/// The device's receive filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxFilter {
    /// The rx mode; only with `CTRL_RX`.
    pub mode: RxMode,
    /// Unicast addresses that pass besides the device's own; only with `CTRL_RX`.
    pub uni: MacTable,
    /// Multicast addresses that pass; only with `CTRL_RX`.
    pub multi: MacTable,
    vlans: [u64; VLAN_IDS / 64],
    rx_ctrl: bool,
    vlan_ctrl: bool,
}

impl Default for RxFilter {
    fn default() -> Self {
        Self::new()
    }
}

impl RxFilter {
    /// The fixed filter of a device without `CTRL_RX` and `CTRL_VLAN`.
    pub const fn new() -> Self {
        Self {
            mode: RxMode {
                promisc: false,
                allmulti: false,
                alluni: false,
                nomulti: false,
                nouni: false,
                nobcast: false,
            },
            uni: MacTable::new(),
            multi: MacTable::new(),
            vlans: [0; VLAN_IDS / 64],
            rx_ctrl: false,
            vlan_ctrl: false,
        }
    }

    /// The filter after feature negotiation settled on `features`. With `CTRL_RX` it starts
    /// promiscuous with empty tables, as QEMU's does (a driver sets its mode when it opens
    /// the interface); with `CTRL_VLAN` no VLAN id is added yet.
    pub fn reset(&mut self, features: u64) {
        *self = Self::new();
        self.rx_ctrl = features & F_CTRL_RX != 0;
        self.vlan_ctrl = features & F_CTRL_VLAN != 0;
        self.mode.promisc = self.rx_ctrl;
    }

    /// Whether the driver controls the rx mode and MAC tables (`CTRL_RX` negotiated).
    pub fn rx_ctrl(&self) -> bool {
        self.rx_ctrl
    }

    /// Whether the driver controls the VLAN filter (`CTRL_VLAN` negotiated).
    pub fn vlan_ctrl(&self) -> bool {
        self.vlan_ctrl
    }

    /// Adds (`on`) or removes VLAN id `vid` (below [`VLAN_IDS`]).
    pub fn set_vlan(&mut self, vid: u16, on: bool) {
        let (word, bit) = (usize::from(vid) / 64, u64::from(vid) % 64);
        if let Some(w) = self.vlans.get_mut(word) {
            if on {
                *w |= 1 << bit;
            } else {
                *w &= !(1 << bit);
            }
        }
    }

    /// Whether VLAN id `vid` was added.
    pub fn vlan(&self, vid: u16) -> bool {
        let (word, bit) = (usize::from(vid) / 64, u64::from(vid) % 64);
        self.vlans.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    /// Whether a frame with head `head` reaches a device whose own MAC is `own`.
    pub fn accepts(&self, own: &[u8; ETH_ALEN], head: &FrameHead) -> bool {
        if !self.rx_ctrl {
            // Broadcast has the group bit set, so it is covered by the test.
            return self.vlan_passes(head) && (head.dst == *own || head.dst[0] & 1 != 0);
        }
        let m = &self.mode;
        if m.promisc {
            return true;
        }
        if !self.vlan_passes(head) {
            return false;
        }
        let dst = &head.dst;
        if dst[0] & 1 != 0 {
            if *dst == [0xff; ETH_ALEN] {
                return !m.nobcast;
            }
            return !m.nomulti && (m.allmulti || self.multi.passes(dst));
        }
        !m.nouni && (m.alluni || dst == own || self.uni.passes(dst))
    }

    fn vlan_passes(&self, head: &FrameHead) -> bool {
        match head.vlan {
            Some(vid) if self.vlan_ctrl => self.vlan(vid),
            _ => true,
        }
    }
}
