// SPDX-License-Identifier: GPL-2.0
//! xorshift64*: a small, fast, seeded generator. The tools need reproducibility (a printed
//! seed replays a fuzzer's operations or a stress run's scenarios), not statistical quality.

/// The generator; its state is never 0 (xorshift's fixed point).
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, mixed so that nearby seeds (0, 1, 2...) give unrelated
    /// sequences.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next number.
    // Not `Iterator::next`: the sequence never ends, and callers want a number, not an
    // Option.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n`; 0 for `n` = 0.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A value that is often at an edge: 0, all ones, a power of two or one below it, a
    /// small number.
    pub fn edgy(&mut self) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => u64::MAX,
            2 => 1u64 << self.below(64),
            3 => (1u64 << self.below(64)).wrapping_sub(1),
            4 => self.below(4096),
            _ => self.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn a_seed_replays_and_zero_is_no_fixed_point() {
        let take = |seed| {
            let mut r = Rng::new(seed);
            [r.next(), r.next(), r.next()]
        };
        assert_eq!(take(42), take(42));
        assert_ne!(take(0), [0; 3]);
        assert_ne!(take(1), take(2));
        let mut r = Rng::new(7);
        assert_eq!(r.below(0), 0);
        assert!((0..1000).all(|_| r.below(10) < 10));
    }
}
