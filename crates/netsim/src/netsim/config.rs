//! Device configuration and the receive filter.

use super::{CONFIG_SIZE, ETH_ALEN, MAX_MTU, MIN_MTU, VIRTIO_NET_S_LINK_UP};

/// Why a [`NetConfig`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// The MTU is outside [`MIN_MTU`]`..=`[`MAX_MTU`].
    MtuOutOfRange,
    /// The MAC address has the group bit set; a device needs a unicast one.
    MulticastMac,
    /// The MAC address is all zeroes.
    ZeroMac,
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
        Ok(())
    }

    /// The leading part of `struct virtio_net_config`, little-endian:
    /// `mac`, `status`, `max_virtqueue_pairs` (always 1) and `mtu`.
    pub fn to_config_bytes(&self) -> [u8; CONFIG_SIZE] {
        let [m0, m1, m2, m3, m4, m5] = self.mac;
        let status = if self.link_up {
            VIRTIO_NET_S_LINK_UP
        } else {
            0
        };
        let [s0, s1] = status.to_le_bytes();
        let [p0, p1] = 1u16.to_le_bytes();
        let [t0, t1] = self.mtu.to_le_bytes();
        [m0, m1, m2, m3, m4, m5, s0, s1, p0, p1, t0, t1]
    }

    /// The receive filter: whether a frame for `dst` is delivered. The
    /// device's own address, broadcast and any multicast address pass
    /// (there is no multicast filter table without `CTRL_VQ`).
    pub fn accepts(&self, dst: &[u8; ETH_ALEN]) -> bool {
        // Broadcast has the group bit set, so it is covered by the test.
        *dst == self.mac || dst[0] & 1 != 0
    }
}
