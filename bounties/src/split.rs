//! Integer splits that always sum exactly to the amount.
//!
//! The remainder rule: every party first gets `floor(amount · weight / total)`;
//! the units left over (fewer than the number of parties) go one each to the
//! parties with the largest remainders `amount · weight mod total`, ties to
//! the smaller key (account order), then to the earlier party. The products
//! are computed in 256 bits, so no amount or weight can overflow.

/// Why a split could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// All weights are zero (nobody to pay).
    #[error("nobody to split between: all weights are zero")]
    NoWeight,
    /// The weights' sum overflows.
    #[error("split weights overflow")]
    Overflow,
}

/// `(a · b) / c` and `(a · b) mod c`, exact; the quotient must fit `u128`
/// (it does whenever `b <= c`). `c` must be positive.
pub fn mul_div_rem(a: u128, b: u128, c: u128) -> (u128, u128) {
    assert!(c > 0, "mul_div_rem by zero");
    let (hi, lo) = widening_mul(a, b);
    if hi == 0 {
        return (lo / c, lo % c);
    }
    // Shift-subtract long division of the 256-bit product by c.
    let mut quotient: u128 = 0;
    let mut rem: u128 = 0;
    for i in (0..256).rev() {
        let bit = if i >= 128 {
            (hi >> (i - 128)) & 1
        } else {
            (lo >> i) & 1
        };
        let carry = rem >> 127;
        rem = (rem << 1) | bit;
        if carry == 1 || rem >= c {
            // With the carry the true value is 2^128 + rem > c, and the
            // difference fits 128 bits, so wrapping gives it exactly.
            rem = rem.wrapping_sub(c);
            if i < 128 {
                quotient |= 1 << i;
            }
        }
    }
    (quotient, rem)
}

fn widening_mul(a: u128, b: u128) -> (u128, u128) {
    const MASK: u128 = u64::MAX as u128;
    let (a_hi, a_lo) = (a >> 64, a & MASK);
    let (b_hi, b_lo) = (b >> 64, b & MASK);
    let ll = a_lo * b_lo;
    let lh = a_lo * b_hi;
    let hl = a_hi * b_lo;
    let hh = a_hi * b_hi;
    let mid = (ll >> 64) + (lh & MASK) + (hl & MASK);
    let lo = (ll & MASK) | (mid << 64);
    let hi = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (hi, lo)
}

/// `floor(amount · bps / 10 000)`.
pub fn bps_of(amount: u128, bps: u16) -> u128 {
    mul_div_rem(amount, u128::from(bps), 10_000).0
}

/// Split `amount` among `parties` in proportion to their weights, by the
/// remainder rule above. Shares come back in the parties' order and sum to
/// `amount` exactly.
pub fn split<K: Ord + Clone>(
    amount: u128,
    parties: &[(K, u128)],
) -> Result<Vec<(K, u128)>, SplitError> {
    let total = parties
        .iter()
        .try_fold(0u128, |sum, (_, w)| sum.checked_add(*w))
        .ok_or(SplitError::Overflow)?;
    if total == 0 {
        return Err(SplitError::NoWeight);
    }
    let mut shares = Vec::with_capacity(parties.len());
    let mut remainders = Vec::with_capacity(parties.len());
    let mut given: u128 = 0;
    for (i, (key, weight)) in parties.iter().enumerate() {
        let (q, r) = mul_div_rem(amount, *weight, total);
        given += q; // sum of floors <= amount
        shares.push((key.clone(), q));
        remainders.push((r, i));
    }
    let left = amount - given;
    remainders.sort_by(|(ra, ia), (rb, ib)| {
        rb.cmp(ra)
            .then_with(|| parties[*ia].0.cmp(&parties[*ib].0))
            .then(ia.cmp(ib))
    });
    for &(_, i) in remainders.iter().take(left as usize) {
        shares[i].1 += 1;
    }
    Ok(shares)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_sum_exactly_and_break_ties_by_key() {
        let s = split(10, &[("b", 1), ("a", 1), ("c", 1)]).unwrap();
        assert_eq!(s, vec![("b", 3), ("a", 4), ("c", 3)]);
        let s = split(u128::MAX, &[(1, u128::MAX / 2), (2, u128::MAX / 2)]).unwrap();
        assert_eq!(s[0].1 + s[1].1, u128::MAX);
        assert_eq!(split::<u8>(5, &[(1, 0)]), Err(SplitError::NoWeight));
        assert_eq!(
            split(5, &[(1, u128::MAX), (2, 1)]),
            Err(SplitError::Overflow)
        );
    }

    proptest! {
        #[test]
        fn mul_div_matches_narrow_math(a in any::<u64>(), b in any::<u64>(), c in 1..u128::MAX) {
            let (a, b) = (u128::from(a), u128::from(b));
            prop_assert_eq!(mul_div_rem(a, b, c), ((a * b) / c, (a * b) % c));
        }

        #[test]
        fn mul_div_inverts_multiplication(a in any::<u128>(), c in 1..u128::MAX) {
            // (a·c)/c == a and (a·c) mod c == 0, with a 256-bit product.
            prop_assert_eq!(mul_div_rem(a, c, c), (a, 0));
        }

        #[test]
        fn split_sums_exactly(amount in any::<u128>(), weights in proptest::collection::vec(0..u64::MAX as u128, 1..12)) {
            let parties: Vec<(usize, u128)> = weights.iter().copied().enumerate().collect();
            match split(amount, &parties) {
                Ok(shares) => {
                    let sum = shares.iter().try_fold(0u128, |s, (_, v)| s.checked_add(*v));
                    prop_assert_eq!(sum, Some(amount));
                    for ((_, share), (_, w)) in shares.iter().zip(&parties) {
                        if *w == 0 { prop_assert_eq!(*share, 0); }
                    }
                }
                Err(e) => prop_assert_eq!(e, SplitError::NoWeight),
            }
        }
    }
}
