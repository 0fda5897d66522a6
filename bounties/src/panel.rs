//! Drawing evaluators: weighted by bond, without replacement, from a seed of log data.
//!
//! Who scores a submission is decided by the ledger, not by who asks first:
//! an evaluator holding a fraction `f` of the eligible bond fills a seat with
//! probability about `f`, so two colluders fill both seats of a quorum-2
//! panel with probability about `f²`. The draw is our own over the raw
//! ChaCha20 stream (see [`crate::seeded`]) so it never changes with a library.

use rand_chacha::ChaCha20Rng;
use rand_core::RngCore;

use crate::ids::AccountId;

/// A uniform `u128` in `0..n` (`n > 0`) by rejection sampling.
fn below(rng: &mut ChaCha20Rng, n: u128) -> u128 {
    let limit = (u128::MAX / n) * n;
    loop {
        let x = (u128::from(rng.next_u64()) << 64) | u128::from(rng.next_u64());
        if x < limit {
            return x % n;
        }
    }
}

/// Draw up to `seats` distinct accounts from `candidates` (account, weight),
/// which must be sorted by account with positive weights. Each seat draws a
/// point in `0..Σ weights` of those not yet drawn and takes the account whose
/// cumulative range (in account order) holds it. Fewer candidates than seats:
/// all of them, in draw order.
pub fn draw(
    rng: &mut ChaCha20Rng,
    candidates: &[(AccountId, u128)],
    seats: usize,
) -> Vec<AccountId> {
    let mut left: Vec<(AccountId, u128)> =
        candidates.iter().copied().filter(|(_, w)| *w > 0).collect();
    let mut drawn = Vec::with_capacity(seats.min(left.len()));
    while drawn.len() < seats && !left.is_empty() {
        // Bonds are u128 token amounts; their sum saturates rather than wraps,
        // which only biases a draw when the supply itself is near u128::MAX.
        let total = left.iter().fold(0u128, |s, (_, w)| s.saturating_add(*w));
        let mut point = below(rng, total);
        let mut at = left.len() - 1;
        for (i, (_, w)) in left.iter().enumerate() {
            if point < *w {
                at = i;
                break;
            }
            point -= w;
        }
        drawn.push(left.remove(at).0);
    }
    drawn
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seeded::rng;

    fn acct(i: u8) -> AccountId {
        AccountId([i; 32])
    }

    #[test]
    fn draws_are_distinct_pinned_and_follow_the_seed() {
        let c: Vec<(AccountId, u128)> = (1..=5).map(|i| (acct(i), 100)).collect();
        let a = draw(&mut rng(b"t", &[b"1"]), &c, 3);
        assert_eq!(a, draw(&mut rng(b"t", &[b"1"]), &c, 3));
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 3);
        let firsts: Vec<u8> = a.iter().map(|x| x.0[0]).collect();
        expect_test::expect!["[5, 4, 3]"].assert_eq(&format!("{firsts:?}"));
        assert_eq!(draw(&mut rng(b"t", &[]), &c, 9).len(), 5);
        assert!(draw(&mut rng(b"t", &[]), &[], 2).is_empty());
    }

    #[test]
    fn seats_follow_the_bond() {
        // One account with 90% of the bond takes the first seat about 90% of the time.
        let c = [(acct(1), 900u128), (acct(2), 50), (acct(3), 50)];
        let mut r = rng(b"t", &[b"weights"]);
        let first = (0..10_000)
            .filter(|_| draw(&mut r, &c, 1)[0] == acct(1))
            .count();
        assert!((8_800..9_200).contains(&first), "{first}");
    }
}
