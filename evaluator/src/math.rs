//! The scalar arithmetic of the contract (docs/determinism.md): a correctly
//! rounded f32 fused multiply-add on every CPU, and `exp`, `ln`, `tanh`, `erf` as
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

/// `erf` near zero: `c_n = (2/√π)·(−1)ⁿ/(n!·(2n+1))`, `n = 0..12`, rounded to
/// f64 (`scripts/erf_coefficients.py` derives every table of `erf`).
const ERF_SERIES: [f64; 12] = [
    f64::from_bits(0x3ff20dd750429b6d),
    f64::from_bits(0xbfd812746b0379e7),
    f64::from_bits(0x3fbce2f21a042be2),
    f64::from_bits(0xbf9b82ce31288b51),
    f64::from_bits(0x3f7565bcd0e6a53f),
    f64::from_bits(0xbf4c02db40040b86),
    f64::from_bits(0x3f1f9a326f9b89b7),
    f64::from_bits(0xbeef4d25c3e0c2eb),
    f64::from_bits(0x3ebb9e6c9dc651a3),
    f64::from_bits(0xbe85f742ec43e71a),
    f64::from_bits(0x3e4fcc5720624c1c),
    f64::from_bits(0xbe151d7181c5d36d),
];

/// `erf` on `[i/2, i/2 + ½)`, `i = 1..=7`, as its Taylor polynomial of
/// degree 16 around `x₀ = i/2 + ¼`: `a_k = erf⁽ᵏ⁾(x₀)/k!` rounded to f64.
const ERF_AT: [[f64; 17]; 7] = [
    [
        f64::from_bits(0x3fe6c1c9759d0e5f),
        f64::from_bits(0x3fe492e42d78d2c5),
        f64::from_bits(0xbfdedc5644353c27),
        f64::from_bits(0x3f9b6e8591f66e5b),
        f64::from_bits(0x3fc349b5eaa14598),
        f64::from_bits(0xbfab42a1890ce411),
        f64::from_bits(0xbf9b8477966b3381),
        f64::from_bits(0x3f92e0afb0bb961e),
        f64::from_bits(0x3f62db332f9e64d4),
        f64::from_bits(0xbf704105cd6d527e),
        f64::from_bits(0x3f286234ec3372d9),
        f64::from_bits(0x3f44725abcb993b6),
        f64::from_bits(0xbf1bd5eea735c608),
        f64::from_bits(0xbf13db33dbe2237e),
        f64::from_bits(0x3ef7313fb66f36f6),
        f64::from_bits(0x3ede0eaec4d06fb6),
        f64::from_bits(0xbecb482f6f2cbfb6),
    ],
    [
        f64::from_bits(0x3fed8865d98abe01),
        f64::from_bits(0x3fce4652fadcb6b2),
        f64::from_bits(0xbfd2ebf3dcc9f22f),
        f64::from_bits(0x3fc571d01c5c56be),
        f64::from_bits(0xbf793a9a7bb7ed94),
        f64::from_bits(0xbfa8281ce0b34fa4),
        f64::from_bits(0x3f95d0003af70568),
        f64::from_bits(0x3f6db43c97264485),
        f64::from_bits(0xbf775672cebadac5),
        f64::from_bits(0x3f4cc22555d6cd4e),
        f64::from_bits(0x3f4a0074f860d925),
        f64::from_bits(0xbf353b177f074426),
        f64::from_bits(0xbf0ba66102895704),
        f64::from_bits(0x3f0d4520093cdd9e),
        f64::from_bits(0xbec94a53c645ccdb),
        f64::from_bits(0xbedae23c1a269f29),
        f64::from_bits(0x3eb6b412b613178b),
    ],
    [
        f64::from_bits(0x3fef92d077f8d56d),
        f64::from_bits(0x3fab055303221015),
        f64::from_bits(0xbfb7a4a8a2bdce13),
        f64::from_bits(0x3fb7148c3d57c312),
        f64::from_bits(0xbfa8a0da54306154),
        f64::from_bits(0x3f7b22257dd01249),
        f64::from_bits(0x3f825b378c92a6c0),
        f64::from_bits(0xbf78d10fb6b8006f),
        f64::from_bits(0x3f47ec1d1d8d3387),
        f64::from_bits(0x3f4d4cf0ad2e6ca3),
        f64::from_bits(0xbf3d041eea2258ae),
        f64::from_bits(0xbed6d70cffe71229),
        f64::from_bits(0x3f12007a6d7935c6),
        f64::from_bits(0xbef294d49e1a631d),
        f64::from_bits(0xbed3668d56f09b00),
        f64::from_bits(0x3ecb75406fd5ffd6),
        f64::from_bits(0xbe87ac9620b78991),
    ],
    [
        f64::from_bits(0x3feff404760319b4),
        f64::from_bits(0x3f7d4143a9dfe965),
        f64::from_bits(0xbf9074b60f8df349),
        f64::from_bits(0x3f963ef61e824425),
        f64::from_bits(0xbf938a98327890e6),
        f64::from_bits(0x3f85d3b17bbe0f22),
        f64::from_bits(0xbf67cae0d45b1a6a),
        f64::from_bits(0xbf45f8313b6fdd59),
        f64::from_bits(0x3f50602e33b9ef4a),
        f64::from_bits(0xbf38352cd05696b8),
        f64::from_bits(0xbee80c1330a27b22),
        f64::from_bits(0x3f111321ce0dc8f3),
        f64::from_bits(0xbef7ca5429a38511),
        f64::from_bits(0xbeb65937983af9a4),
        f64::from_bits(0x3eccb0718bc6dc96),
        f64::from_bits(0xbeace4a65fe7584c),
        f64::from_bits(0xbe850c6594c2253a),
    ],
    [
        f64::from_bits(0x3fefff2cfb0453d9),
        f64::from_bits(0x3f43360ccd23db3a),
        f64::from_bits(0xbf5a6a519a114d70),
        f64::from_bits(0x3f669cf466ccdf62),
        f64::from_bits(0xbf6ab0c273ac263e),
        f64::from_bits(0x3f66935960664d74),
        f64::from_bits(0xbf5b2755bfd73556),
        f64::from_bits(0x3f452b6263f0c0e7),
        f64::from_bits(0xbf17557726380065),
        f64::from_bits(0xbf12abb3cb37d67f),
        f64::from_bits(0x3f0cd592454e7d28),
        f64::from_bits(0xbef09d09f8254931),
        f64::from_bits(0xbeb1f87c15445595),
        f64::from_bits(0x3ec68b7ad440ba03),
        f64::from_bits(0xbeaeb027532f1e9d),
        f64::from_bits(0x3e26553f2333fb0b),
        f64::from_bits(0x3e7c66fe8aad4da0),
    ],
    [
        f64::from_bits(0x3feffff6f9f67e55),
        f64::from_bits(0x3efe9b5e8d00ce77),
        f64::from_bits(0xbf18de3cd290a7c0),
        f64::from_bits(0x3f29aa489e3cad21),
        f64::from_bits(0xbf32c7d5ef053eb0),
        f64::from_bits(0x3f3490a4d230eab9),
        f64::from_bits(0xbf3145464ea2872b),
        f64::from_bits(0x3f2647f721c135eb),
        f64::from_bits(0xbf1567479c97cce7),
        f64::from_bits(0x3efb2c3201a66dd9),
        f64::from_bits(0xbec38933c0f0c9fa),
        f64::from_bits(0xbec8070948011d1b),
        f64::from_bits(0x3ebff3236f426a50),
        f64::from_bits(0xbea26552b63b3912),
        f64::from_bits(0x3e2d56060892daf5),
        f64::from_bits(0x3e71d2c62f6d64e1),
        f64::from_bits(0xbe5d640778ed81c9),
    ],
    [
        f64::from_bits(0x3fefffffc2f171e3),
        f64::from_bits(0x3ead9371e2ff7c35),
        f64::from_bits(0xbecbba3ac4cf8472),
        f64::from_bits(0x3ee0b6a7b0f1b586),
        f64::from_bits(0xbeed06f586093ea7),
        f64::from_bits(0x3ef3436bc9fc46f6),
        f64::from_bits(0xbef4357b5546e9f3),
        f64::from_bits(0x3ef110de49c0acd0),
        f64::from_bits(0xbee7566beee1bb2f),
        f64::from_bits(0x3ed99f5c54c5ea75),
        f64::from_bits(0xbec5d6903bb02d10),
        f64::from_bits(0x3eaa0431133a7b2d),
        f64::from_bits(0xbe7833324e429526),
        f64::from_bits(0xbe6ec7d23a1cdfff),
        f64::from_bits(0x3e66df3b136b9415),
        f64::from_bits(0xbe4e8012ea5d94a8),
        f64::from_bits(0x3e1cfcbfb76f6f4d),
    ],
];

/// `erf x` (for the BERT family's exact GELU): odd, `±1` from `|x| ≥ 4`
/// (where it rounds to 1); below ½ the series `x·Σ c_n x²ⁿ` (Horner in
/// `x²`); else the Taylor polynomial of `x`'s half-unit interval in
/// `t = |x| − x₀` (exact), Horner from `a₁₆`; one rounding to f32.
pub fn erf(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 0.5 {
        let xd = f64::from(x);
        let s = xd * xd;
        let mut p = ERF_SERIES[11];
        for &c in ERF_SERIES[..11].iter().rev() {
            p = p * s + c;
        }
        return (xd * p) as f32;
    }
    let magnitude = if a >= 4.0 {
        1.0
    } else {
        // a ∈ [0.5, 4): interval i = ⌊2a⌋ ∈ 1..=7, centre i/2 + ¼.
        let i = (2.0 * a) as usize;
        let t = f64::from(a) - (i as f64 * 0.5 + 0.25);
        let c = &ERF_AT[i - 1];
        let mut p = c[16];
        for &ck in c[..16].iter().rev() {
            p = p * t + ck;
        }
        p as f32
    };
    magnitude.copysign(x)
}

/// [`erf`] without branches (see [`exp_lane`]): both the series and the
/// interval's polynomial are computed, the interval index clamped to 1..=7
/// so that every lane reads a table row, and the result selected.
#[inline(always)]
pub(crate) fn erf_lane(x: f32) -> f32 {
    let a = x.abs();
    let xd = f64::from(x);
    let s = xd * xd;
    let mut p = ERF_SERIES[11];
    for &c in ERF_SERIES[..11].iter().rev() {
        p = p * s + c;
    }
    let near = (xd * p) as f32;
    let i = ((2.0 * a) as usize).clamp(1, 7);
    let t = f64::from(a) - (i as f64 * 0.5 + 0.25);
    let c = &ERF_AT[i - 1];
    let mut q = c[16];
    for &ck in c[..16].iter().rev() {
        q = q * t + ck;
    }
    let magnitude = if a >= 4.0 { 1.0 } else { q as f32 };
    let r = if a < 0.5 { near } else { magnitude.copysign(x) };
    if x.is_nan() { x } else { r }
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
    fn exp_ln_tanh_and_erf_are_within_one_ulp_of_the_true_value() {
        for x in sample() {
            let (e, l, t) = (exp(x), ln(x), tanh(x));
            let xd = f64::from(x);
            assert!(ulps(erf(x), libm::erf(xd)) <= 1.0, "erf({x:e})");
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
            assert_eq!(erf_lane(x).to_bits(), erf(x).to_bits(), "erf({x:e})");
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
        assert_eq!(erf(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(erf(f32::INFINITY), 1.0);
        assert_eq!(erf(-5.0), -1.0);
        assert!(erf(f32::NAN).is_nan());
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
