// SPDX-License-Identifier: GPL-2.0
//! The simulator's virtio-net loopback packet path, device side.
//!
//! Frames the driver transmits on the TX queue come back on its own RX queue,
//! like upstream `vdpa_sim_net`. The negotiated feature set is fixed:
//! `VIRTIO_F_VERSION_1` (so the header is the 12-byte
//! `struct virtio_net_hdr_mrg_rxbuf`), no `MRG_RXBUF`, no offloads, no control
//! queue. All driver data is untrusted; see the `virtqueue` module for how it
//! is accessed.
#![forbid(unsafe_code)]

// The one place that names the sibling module; child modules reach it as
// `super::virtqueue`, which resolves the same in the kernel and in cargo.
use super::virtqueue;

mod config;
pub mod ctrl;
mod datapath;
pub mod filter;
mod pass;

#[cfg(test)]
mod ctrl_tests;
#[cfg(test)]
mod tests;

pub use self::config::{ConfigError, NetConfig};
pub use self::ctrl::{CtrlDone, CtrlTarget};
pub use self::datapath::{
    process, NetStats, Outcome, QueueFault, QueueId, QueueStats, PUBLISH_BATCH, SHORT_CHAIN,
};
pub use self::filter::{FrameHead, MacTable, RxFilter, RxMode};
pub use self::pass::{run_pass, PassEnd};

/// Index of the receive queue.
pub const RX_QUEUE: u16 = 0;
/// Index of the transmit queue.
pub const TX_QUEUE: u16 = 1;
/// Length of the virtio-net header with `VIRTIO_F_VERSION_1`.
pub const NET_HDR_LEN: usize = 12;
/// Offset of `num_buffers` in the virtio-net header.
pub const NET_HDR_NUM_BUFFERS_OFFSET: usize = 10;
/// Length of an Ethernet address.
pub const ETH_ALEN: usize = 6;
/// Length of an Ethernet header (no VLAN tag).
pub const ETH_HLEN: usize = 14;
/// Smallest MTU accepted (the IPv4 minimum).
pub const MIN_MTU: u16 = 68;
/// Largest MTU accepted; leaves room for the Ethernet and virtio-net headers
/// within 64 KiB.
pub const MAX_MTU: u16 = 65000;
/// The broadcast Ethernet address.
pub const BROADCAST_MAC: [u8; ETH_ALEN] = [0xff; ETH_ALEN];

/// Size of the config space exposed: all of `struct virtio_net_config`.
pub const CONFIG_SIZE: usize = 24;
/// Offset of `mac` in the config space.
pub const CONFIG_MAC_OFFSET: usize = 0;
/// Offset of `status` in the config space.
pub const CONFIG_STATUS_OFFSET: usize = 6;
/// The most queue pairs a device may have (`max_virtqueue_pairs`).
pub const MAX_PAIRS: u16 = 8;
/// Offset of `max_virtqueue_pairs` in the config space.
pub const CONFIG_MAX_VQ_PAIRS_OFFSET: usize = 8;
/// Offset of `mtu` in the config space.
pub const CONFIG_MTU_OFFSET: usize = 10;
/// `status` bit: the link is up.
pub const VIRTIO_NET_S_LINK_UP: u16 = 1;
/// `status` bit: the driver should announce itself (`VIRTIO_NET_F_GUEST_ANNOUNCE`).
pub const VIRTIO_NET_S_ANNOUNCE: u16 = 2;
