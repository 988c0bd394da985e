// SPDX-License-Identifier: GPL-2.0
//! What the selftest tools share.

pub mod rng;
