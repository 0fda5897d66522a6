//! Seeded randomness: ChaCha20 from a tagged seed, unbiased index draws, shuffles.
//!
//! Our own draws over the raw ChaCha20 stream (rejection sampling, Fisher-Yates)
//! rather than a library's samplers, whose algorithms may change between
//! versions: the same seed must give the same bootstrap and the same dataset
//! split on every machine, forever.

use rand_chacha::ChaCha20Rng;
use rand_core::{RngCore, SeedableRng};

use crate::encoding::tagged_hash;

/// A ChaCha20 generator seeded with SHA-256 of `domain` and `parts`.
pub fn rng(domain: &[u8], parts: &[&[u8]]) -> ChaCha20Rng {
    ChaCha20Rng::from_seed(tagged_hash(domain, parts).0)
}

/// A uniform index in `0..n` (`n > 0`), by rejection sampling: draws at or
/// above the largest multiple of `n` that fits are redrawn, so no index is favoured.
pub fn index(rng: &mut ChaCha20Rng, n: u64) -> u64 {
    assert!(n > 0, "index of an empty range");
    let limit = (u64::MAX / n) * n;
    loop {
        let x = rng.next_u64();
        if x < limit {
            return x % n;
        }
    }
}

/// Shuffle in place (Fisher-Yates, from the back).
pub fn shuffle<T>(rng: &mut ChaCha20Rng, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = index(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_shuffle_pinned() {
        let mut a: Vec<u32> = (0..10).collect();
        shuffle(&mut rng(b"test", &[b"seed"]), &mut a);
        let mut b: Vec<u32> = (0..10).collect();
        shuffle(&mut rng(b"test", &[b"seed"]), &mut b);
        assert_eq!(a, b);
        expect_test::expect!["[7, 1, 9, 0, 3, 2, 6, 4, 5, 8]"].assert_eq(&format!("{a:?}"));
    }

    #[test]
    fn indices_cover_the_range() {
        let mut r = rng(b"test", &[]);
        let mut seen = [0u32; 7];
        for _ in 0..7_000 {
            seen[index(&mut r, 7) as usize] += 1;
        }
        assert!(seen.iter().all(|&c| (800..1200).contains(&c)), "{seen:?}");
    }
}
