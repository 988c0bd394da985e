// SPDX-License-Identifier: GPL-2.0
//! Device configuration and the receive filter.

use super::{
    CONFIG_SIZE, ETH_ALEN, MAX_MTU, MAX_PAIRS, MIN_MTU, VIRTIO_NET_S_ANNOUNCE, VIRTIO_NET_S_LINK_UP,
};

/// Why a [`NetConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The MTU is outside [`MIN_MTU`]`..=`[`MAX_MTU`].
    MtuOutOfRange,
    /// The MAC address has the group bit set; a device needs a unicast one.
    MulticastMac,
    /// The MAC address is all zeroes.
    ZeroMac,
    /// The number of queue pairs is outside `1..=`[`MAX_PAIRS`].
    PairsOutOfRange,
}

/// Configuration of the simulated network device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetConfig {
    /// The device's own (unicast) MAC address.
    pub mac: [u8; ETH_ALEN],
    /// Largest Ethernet payload accepted, excluding the Ethernet header.
    pub mtu: u16,
    /// Whether the link is up; frames sent while it is down are dropped.
    pub link_up: bool,
    /// The device asks the driver to announce itself (`VIRTIO_NET_S_ANNOUNCE`), as after a
    /// migration; the driver's `VIRTIO_NET_CTRL_ANNOUNCE_ACK` clears it.
    pub announce: bool,
    /// Queue pairs the device has (`max_virtqueue_pairs`), 1 to [`MAX_PAIRS`].
    pub max_pairs: u16,
}

impl NetConfig {
    /// Checks that the MTU is in range and the MAC is a usable unicast
    /// address.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(ConfigError::MtuOutOfRange);
        }
        if self.mac[0] & 1 != 0 {
            return Err(ConfigError::MulticastMac);
        }
        if self.mac == [0; ETH_ALEN] {
            return Err(ConfigError::ZeroMac);
        }
        if !(1..=MAX_PAIRS).contains(&self.max_pairs) {
            return Err(ConfigError::PairsOutOfRange);
        }
        Ok(())
    }

    /// `struct virtio_net_config` (virtio 1.2, 5.1.4), little-endian: `mac`, `status`,
    /// `max_virtqueue_pairs` and `mtu`, then `speed`, `duplex` and the RSS fields,
    /// which stay 0 because their features are not offered. All 24 bytes exist because
    /// vhost-vdpa users read the whole structure whatever the features (QEMU reads up to 24
    /// bytes and fails on a shorter space).
    pub fn to_config_bytes(self) -> [u8; CONFIG_SIZE] {
        let status = (if self.link_up {
            VIRTIO_NET_S_LINK_UP
        } else {
            0
        }) | (if self.announce {
            VIRTIO_NET_S_ANNOUNCE
        } else {
            0
        });
        let mut b = [0u8; CONFIG_SIZE];
        let fields: [(usize, &[u8]); 4] = [
            (0, &self.mac),
            (6, &status.to_le_bytes()),
            (8, &self.max_pairs.to_le_bytes()),
            (10, &self.mtu.to_le_bytes()),
        ];
        for (off, v) in fields {
            if let Some(dst) = b.get_mut(off..off + v.len()) {
                dst.copy_from_slice(v);
            }
        }
        b
    }

    /// Applies a driver's write of `data` at `offset` of the config space. Only the bytes
    /// that fall inside `mac` change anything: management software sets the MAC this way
    /// (QEMU does at realize, as vdpa_sim allows); every other field is read-only (virtio
    /// 1.2, 5.1.4). A write that would leave the MAC multicast or all zero is ignored, as the
    /// sysfs `mac` attribute and `MAC_ADDR_SET` refuse those (a driver that writes the MAC
    /// byte by byte writes byte 0, which holds the multicast bit, first). Returns whether
    /// the MAC changed.
    pub fn write_config(&mut self, offset: usize, data: &[u8]) -> bool {
        let mut mac = self.mac;
        for (i, &byte) in data.iter().enumerate() {
            if let Some(m) = offset.checked_add(i).and_then(|o| mac.get_mut(o)) {
                *m = byte;
            }
        }
        if mac[0] & 1 != 0 || mac == [0; ETH_ALEN] {
            return false;
        }
        let changed = mac != self.mac;
        self.mac = mac;
        changed
    }
}
