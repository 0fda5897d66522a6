//! The scalar arithmetic of the contract (docs/determinism.md): a correctly
//! rounded f32 fused multiply-add on every CPU, and `exp`, `ln`, `tanh` as
//! fully specified algorithms in f64 (IEEE 754 `+ − × ÷` only, each
//! correctly rounded everywhere, never fused), rounded once to f32 at the end.
//!
//! Anyone can reimplement these bit for bit from the document; the
//! constants below are the document's, as IEEE 754 bit patterns.

/// `a·b + c` with one rounding, on CPUs with and without an FMA unit.
///
/// Without one it is computed exactly: the f64 product of two f32 is exact,
/// the f64 sum is corrected to "round to odd" with its exact error (TwoSum),
/// and rounding that to f32 is then the correctly rounded result (f64 has
/// more than 24 + 2 bits). `kernels` uses the CPU's instruction where it has one.
#[inline]
pub fn fma(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    if !s.is_finite() {
        return s as f32; // an infinity or NaN: no rounding to correct
    }
    // TwoSum (Knuth): s + e == p + c exactly.
    let pb = s - c;
    let e = (c - (s - pb)) + (p - pb);
    let bits = s.to_bits();
    let odd = if e != 0.0 && bits & 1 == 0 {
        // Away from s toward the exact value: one f64 ulp up or down in magnitude.
        if (e > 0.0) == (s > 0.0) {
            f64::from_bits(bits + 1)
        } else {
            f64::from_bits(bits - 1)
        }
    } else {
        s
    };
    odd as f32
}

const LOG2E: f64 = f64::from_bits(0x3ff7_1547_652b_82fe);
const LN2: f64 = f64::from_bits(0x3fe6_2e42_fefa_39ef);

/// `2^r − 1 ≈ Σ_{k=1..10} c_k r^k` with `c_k = ln2^k / k!` rounded to f64,
/// for `|r| ≤ 1/2`. Horner from `c_10` down to `c_1`, then `× r`.
const EXP2_C: [f64; 10] = [
    f64::from_bits(0x3fe6_2e42_fefa_39ef), // c1
    f64::from_bits(0x3fce_bfbd_ff82_c58f), // c2
    f64::from_bits(0x3fac_6b08_d704_a0c0), // c3
    f64::from_bits(0x3f83_b2ab_6fba_4e77), // c4
    f64::from_bits(0x3f55_d87f_e78a_6731), // c5
    f64::from_bits(0x3f24_3091_2f86_c787), // c6
    f64::from_bits(0x3eef_fcbf_c588_b0c7), // c7
    f64::from_bits(0x3eb6_2c02_23a5_c824), // c8
    f64::from_bits(0x3e7b_5253_d395_e7c4), // c9
    f64::from_bits(0x3e3e_4cf5_158b_8eca), // c10
];

/// `2^r − 1` for `|r| ≤ 1/2` (no cancellation near 0).
#[inline]
fn exp2m1_reduced(r: f64) -> f64 {
    let mut p = EXP2_C[9];
    for &c in EXP2_C[..9].iter().rev() {
        p = p * r + c;
    }
    p * r
}

/// `2^n` as an f64, for `−1022 ≤ n ≤ 1023`.
#[inline]
fn pow2(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// Split `z` as `n + r`, `n = round_half_even(z)`, `|r| ≤ 1/2` (exact).
#[inline]
fn reduce(z: f64) -> (i64, f64) {
    let n = z.round_ties_even();
    (n as i64, z - n)
}

/// `eˣ`: `z = x·log2e`, `z = n + r`, `eˣ = 2ⁿ·(1 + (2^r − 1))`, one rounding to f32.
pub fn exp(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    if x > 89.0 {
        return f32::INFINITY; // e^88.73 is past f32::MAX
    }
    if x < -104.0 {
        return 0.0; // under half the smallest subnormal
    }
    let (n, r) = reduce(f64::from(x) * LOG2E);
    ((1.0 + exp2m1_reduced(r)) * pow2(n)) as f32
}

/// `1/(2k+1)` for `k = 1..=7`, rounded to f64.
const ATANH_C: [f64; 7] = [
    f64::from_bits(0x3fd5_5555_5555_5555), // 1/3
    f64::from_bits(0x3fc9_9999_9999_999a), // 1/5
    f64::from_bits(0x3fc2_4924_9249_2492), // 1/7
    f64::from_bits(0x3fbc_71c7_1c71_c71c), // 1/9
    f64::from_bits(0x3fb7_45d1_745d_1746), // 1/11
    f64::from_bits(0x3fb3_b13b_13b1_3b14), // 1/13
    f64::from_bits(0x3fb1_1111_1111_1111), // 1/15
];

/// `ln x`: `x = m·2ᵉ` with `m ∈ [√½, √2)`, `s = (m − 1)/(m + 1)`,
/// `ln m = 2s·(1 + s²/3 + … + s¹⁴/15)`, `ln x = e·ln2 + ln m`, one rounding to f32.
pub fn ln(x: f32) -> f32 {
    if x.is_nan() || x < 0.0 {
        return f32::NAN;
    }
    if x == 0.0 {
        return f32::NEG_INFINITY;
    }
    if x == f32::INFINITY {
        return x;
    }
    // Subnormals: scale by 2²³ (exact) first.
    let (x, mut e) = if x < f32::MIN_POSITIVE {
        (x * 8_388_608.0, -23i64)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    e += i64::from((bits >> 23) & 0xff) - 127;
    let mut mant = bits & 0x007f_ffff;
    // m ≥ √2 (as f32: mantissa field above 0x3504f3) moves to [√½, 1).
    let exponent = if mant > 0x0035_04f3 {
        e += 1;
        126
    } else {
        127
    };
    mant |= exponent << 23;
    let m = f64::from(f32::from_bits(mant));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut q = ATANH_C[6];
    for &c in ATANH_C[..6].iter().rev() {
        q = q * s2 + c;
    }
    let ln_m = 2.0 * s + 2.0 * s * (s2 * q);
    (e as f64 * LN2 + ln_m) as f32
}

/// `tanh x = sign(x)·E/(E + 2)` with `E = e^{2|x|} − 1` computed without
/// cancellation (`2ⁿ·(1 + (2^r − 1)) − 1`, or `2^r − 1` itself when `n = 0`);
/// `±1` from `|x| ≥ 10`, where it rounds to 1.
pub fn tanh(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    let t = if a >= 10.0 {
        1.0
    } else {
        let (n, r) = reduce(2.0 * f64::from(a) * LOG2E);
        let em1 = if n == 0 {
            exp2m1_reduced(r)
        } else {
            (1.0 + exp2m1_reduced(r)) * pow2(n) - 1.0
        };
        (em1 / (em1 + 2.0)) as f32
    };
    t.copysign(x)
}

/// `1.5·2⁵²`: adding and subtracting it rounds an f64 of magnitude below
/// 2⁵¹ to the nearest integer, ties to even (the ulp there is 1), and the
/// sum's low mantissa bits then hold that integer.
const ROUND: f64 = 6_755_399_441_055_744.0;

/// `2ⁿ` from `z + ROUND` (`n` in the low bits): `(n + 1023) << 52`. The
/// constant's own low 12 bits are zero, so they drop out of the shift.
#[inline(always)]
fn pow2_of_rounded(shifted: f64) -> f64 {
    f64::from_bits(shifted.to_bits().wrapping_add(1023) << 52)
}

/// [`exp`] without branches, so that a loop of it vectorises: the same
/// operations on the same values, with the special cases selected at the
/// end. `every_lane_form_equals_its_scalar_form` holds the two equal.
#[inline(always)]
pub(crate) fn exp_lane(x: f32) -> f32 {
    let z = f64::from(x.clamp(-104.0, 89.0)) * LOG2E;
    let shifted = z + ROUND;
    let r = z - (shifted - ROUND);
    let e = ((1.0 + exp2m1_reduced(r)) * pow2_of_rounded(shifted)) as f32;
    let e = if x > 89.0 { f32::INFINITY } else { e };
    let e = if x < -104.0 { 0.0 } else { e };
    if x.is_nan() { x } else { e }
}

/// [`tanh`] without branches (see [`exp_lane`]).
#[inline(always)]
pub(crate) fn tanh_lane(x: f32) -> f32 {
    let a = x.abs();
    let z = 2.0 * f64::from(a.min(10.0)) * LOG2E;
    let shifted = z + ROUND;
    let n = shifted - ROUND;
    let p = exp2m1_reduced(z - n);
    let em1 = if n == 0.0 {
        p
    } else {
        (1.0 + p) * pow2_of_rounded(shifted) - 1.0
    };
    let t = (em1 / (em1 + 2.0)) as f32;
    let t = if a >= 10.0 { 1.0 } else { t }.copysign(x);
    if x.is_nan() { x } else { t }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error of `got` against `want` (computed in f64) in f32 ulps of `want`.
    fn ulps(got: f32, want: f64) -> f64 {
        if got.is_nan() && want.is_nan() {
            return 0.0;
        }
        if f64::from(got) == want {
            return 0.0;
        }
        let w = want as f32;
        if w.is_infinite() || got.is_infinite() {
            return if got == w { 0.0 } else { f64::INFINITY };
        }
        let a = w.abs().max(f32::MIN_POSITIVE * f32::EPSILON);
        let ulp = f64::from(f32::from_bits(a.to_bits() + 1)) - f64::from(a);
        (f64::from(got) - want).abs() / ulp
    }

    /// Inputs with every exponent and a spread of mantissas, both signs, and
    /// the edges (zeros, subnormals, infinities, NaN).
    fn sample() -> Vec<f32> {
        let mut s = 0x9e37_79b9u32;
        let mut out: Vec<f32> = (0..1 << 18)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                f32::from_bits(s)
            })
            .collect();
        out.extend([
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            1e-45,
            -1e-45,
            1.0,
            -1.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            88.72283,
            88.72284,
            -87.33655,
            -103.97208,
            -103.97209,
            std::f32::consts::SQRT_2,
            0.707_106_77,
        ]);
        out
    }

    #[test]
    fn exp_ln_and_tanh_are_within_one_ulp_of_the_true_value() {
        for x in sample() {
            let (e, l, t) = (exp(x), ln(x), tanh(x));
            let xd = f64::from(x);
            assert!(ulps(e, xd.exp()) <= 1.0, "exp({x:e}) = {e:e}");
            assert!(ulps(l, xd.ln()) <= 1.0, "ln({x:e}) = {l:e}");
            assert!(ulps(t, xd.tanh()) <= 1.0, "tanh({x:e}) = {t:e}");
        }
    }

    #[test]
    fn every_lane_form_equals_its_scalar_form() {
        // `examples/contract_ulps.rs --lanes` checks every f32; this samples.
        for x in sample() {
            assert_eq!(exp_lane(x).to_bits(), exp(x).to_bits(), "exp({x:e})");
            assert_eq!(tanh_lane(x).to_bits(), tanh(x).to_bits(), "tanh({x:e})");
        }
    }

    #[test]
    fn special_values_follow_ieee() {
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(f32::INFINITY), f32::INFINITY);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(ln(1.0).to_bits(), 0);
        assert_eq!(ln(0.0), f32::NEG_INFINITY);
        assert_eq!(ln(-0.0), f32::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(1e-30), 1e-30);
    }

    #[test]
    fn the_software_fma_equals_the_hardware_one() {
        let xs = sample();
        let mut checked = 0;
        for w in xs.windows(3) {
            let (a, b, c) = (w[0], w[1], w[2]);
            let want = a.mul_add(b, c);
            let got = fma(a, b, c);
            assert!(
                got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan(),
                "fma({a:e}, {b:e}, {c:e}) = {got:e}, not {want:e}"
            );
            checked += 1;
        }
        // Dot-product-like values: products and sums of similar magnitude.
        let mut s = 0x1234_5678u32;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 - 0.5) * 4.0
        };
        for _ in 0..1_000_000 {
            let (a, b, c) = (next(), next(), next() * 0.01);
            assert_eq!(
                fma(a, b, c).to_bits(),
                a.mul_add(b, c).to_bits(),
                "{a} {b} {c}"
            );
        }
        // Products near each addend, where the rounding is decided by the tail.
        for i in 0..100_000u32 {
            let a = 1.0 + i as f32 * f32::EPSILON;
            let b = 1.0 - (i % 977) as f32 * f32::EPSILON;
            let c = -(a * b);
            assert_eq!(
                fma(a, b, c).to_bits(),
                a.mul_add(b, c).to_bits(),
                "{a} {b} {c}"
            );
            let c = f32::EPSILON * 0.5;
            assert_eq!(
                fma(a, b, c).to_bits(),
                a.mul_add(b, c).to_bits(),
                "{a} {b} {c}"
            );
        }
        assert!(checked > 1000);
    }
}
