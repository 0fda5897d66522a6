//! Deterministic row kernels following the arithmetic contract of
//! docs/determinism.md: every output element has one fixed order of
//! correctly rounded operations, whatever the CPU, SIMD width or thread count.
//!
//! - the matrix product lives in [`crate::matmul`] (re-exported here);
//! - a fused multiply-add rounds once, so the CPU's FMA instruction and the
//!   exact software one ([`math::fma`], for CPUs without) agree;
//! - `exp`, `ln`, `tanh` are the contract's algorithms ([`crate::math`]);
//!   `sqrt` and division are correctly rounded by IEEE 754 on every CPU.

use crate::math;
pub use crate::matmul::{Packed, matmul, matmul_reference};

/// How a kernel fuses a multiply-add: the CPU's instruction or the exact
/// software one. Both round once, so they give the same bits.
trait Fma {
    fn fma(a: f32, b: f32, c: f32) -> f32;
}

/// The CPU's FMA instruction: only inside functions compiled with `fma`
/// (elsewhere `mul_add` would be a library call).
struct Hardware;

impl Fma for Hardware {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// [`math::fma`], for CPUs without an FMA unit (slow, the same bits).
struct Software;

impl Fma for Software {
    #[inline(always)]
    fn fma(a: f32, b: f32, c: f32) -> f32 {
        math::fma(a, b, c)
    }
}

/// ReLU in place.
pub fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Compile a kernel generic over [`Fma`] once per vector unit and call the
/// widest this CPU has: AVX-512 and AVX2 with the CPU's FMA, anything else
/// with the software one. Every compilation is the same source and the same
/// operations in the same order per element; only how many elements share
/// one instruction differs, so all give the same bits.
macro_rules! per_vector_unit {
    ($(#[$doc:meta])* pub fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $generic:ident;) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,fma")]
                fn avx512($($arg: $ty),*) $(-> $ret)? {
                    $generic::<Hardware>($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $generic::<Hardware>($($arg),*)
                }
                match crate::matmul::Isa::detect() {
                    // SAFETY: `detect` found AVX-512F and FMA on this CPU.
                    #[allow(unsafe_code)]
                    crate::matmul::Isa::Avx512 => return unsafe { avx512($($arg),*) },
                    // SAFETY: `detect` found AVX2 and FMA on this CPU.
                    #[allow(unsafe_code)]
                    crate::matmul::Isa::Avx2 => return unsafe { avx2($($arg),*) },
                    crate::matmul::Isa::Portable => {}
                }
            }
            $generic::<Software>($($arg),*)
        }
    };
}

per_vector_unit! {
    /// `eˣ` of every value in place ([`math::exp`]'s bits, vectorised).
    pub fn exp_in_place(x: &mut [f32]) = exp_with;
}

#[inline(always)]
fn exp_with<F: Fma>(x: &mut [f32]) {
    for v in x {
        *v = math::exp_lane(*v);
    }
}

per_vector_unit! {
    /// `tanh` of every value in place ([`math::tanh`]'s bits, vectorised).
    pub fn tanh_in_place(x: &mut [f32]) = tanh_with;
}

#[inline(always)]
fn tanh_with<F: Fma>(x: &mut [f32]) {
    for v in x {
        *v = math::tanh_lane(*v);
    }
}

per_vector_unit! {
    /// `erf` of every value in place ([`math::erf`]'s bits, vectorised).
    pub fn erf_in_place(x: &mut [f32]) = erf_with;
}

#[inline(always)]
fn erf_with<F: Fma>(x: &mut [f32]) {
    for v in x {
        *v = math::erf_lane(*v);
    }
}

per_vector_unit! {
    /// GELU, erf form (the BERT family's), in place: `(0.5·u)·(1 + erf(u·R))`
    /// with `R = 1/√2` as f32.
    pub fn gelu_erf(x: &mut [f32]) = gelu_erf_with;
}

#[inline(always)]
fn gelu_erf_with<F: Fma>(x: &mut [f32]) {
    const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
    for v in x {
        let u = *v;
        *v = (0.5 * u) * (1.0 + math::erf_lane(u * FRAC_1_SQRT_2));
    }
}

per_vector_unit! {
    /// GELU, tanh approximation, in place: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`,
    /// as `(0.5·u)·(1 + tanh(c·fma(0.044715, (u·u)·u, u)))`.
    pub fn gelu(x: &mut [f32]) = gelu_with;
}

#[inline(always)]
fn gelu_with<F: Fma>(x: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in x {
        let u = *v;
        let inner = F::fma(0.044_715, u * u * u, u);
        *v = (0.5 * u) * (1.0 + math::tanh_lane(SQRT_2_OVER_PI * inner));
    }
}

per_vector_unit! {
    /// Layer norm over rows of width `d`, into `out`: `(x − mean) / √(var + eps) · g + b`:
    /// the mean a sum in order divided by `d`, the variance a chain of
    /// `fma(c, c, acc)` in order divided by `d`, each output `fma((x − mean)·inv, g, b)`.
    pub fn layer_norm(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32, out: &mut [f32]) = layer_norm_with;
}

/// Rows a layer norm or attention computes side by side: one vector lane
/// (or one register) per row, each row still its own chain in order.
const LANES: usize = 16;

/// Rows go through the sums and the variance chain sixteen at a time, one
/// row per lane (a row's chain is sequential by the contract, so a single
/// row would wait on each addition's latency).
#[inline(always)]
fn layer_norm_with<F: Fma>(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "layer norm: out is not x's shape");
    assert!(
        g.len() == d && b.len() == d,
        "layer norm: gain or bias is not [d]"
    );
    if d == 0 {
        return;
    }
    // Column-major copies of a block of rows; lanes past the block's last
    // row hold stale values, computed and dropped.
    let mut cols = vec![0f32; d * LANES];
    for (xs, os) in x.chunks(d * LANES).zip(out.chunks_mut(d * LANES)) {
        for (l, row) in xs.chunks_exact(d).enumerate() {
            for (c, v) in row.iter().enumerate() {
                cols[c * LANES + l] = *v;
            }
        }
        let mut sum = [0f32; LANES];
        for col in cols.chunks_exact(LANES) {
            for l in 0..LANES {
                sum[l] += col[l];
            }
        }
        let mut mean = [0f32; LANES];
        for l in 0..LANES {
            mean[l] = sum[l] / d as f32;
        }
        let mut var = [0f32; LANES];
        for col in cols.chunks_exact(LANES) {
            for l in 0..LANES {
                let c = col[l] - mean[l];
                var[l] = F::fma(c, c, var[l]);
            }
        }
        for (l, (row, o)) in xs.chunks_exact(d).zip(os.chunks_exact_mut(d)).enumerate() {
            let inv = 1.0 / (var[l] / d as f32 + eps).sqrt();
            for ((o, v), (g, b)) in o.iter_mut().zip(row).zip(g.iter().zip(b)) {
                *o = F::fma((*v - mean[l]) * inv, *g, *b);
            }
        }
    }
}

/// Softmax of one row in place: subtract the max, `exp`, sum in order,
/// divide. Inlined into each vector unit's compilation of its caller: the
/// `exp`s vectorise, the sum stays one chain in order.
#[inline(always)]
pub fn softmax(row: &mut [f32]) {
    // The largest value does not depend on the order it is looked for in
    // (`max` ignores NaN, and ±0 give the same differences), so lanes may.
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for l in 0..LANES {
            lanes[l] = lanes[l].max(chunk[l]);
        }
    }
    let max = chunks
        .remainder()
        .iter()
        .chain(&lanes)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in row.iter_mut() {
        *v = math::exp_lane(*v - max);
    }
    let mut sum = 0f32;
    for v in row.iter() {
        sum += *v;
    }
    for v in row.iter_mut() {
        *v /= sum;
    }
}

/// Log-softmax of one row: `x − max − ln Σ exp(x − max)`.
pub fn log_softmax(row: &[f32]) -> Vec<f32> {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    for v in row {
        sum += math::exp(*v - max);
    }
    let log_sum = math::ln(sum);
    row.iter().map(|v| *v - max - log_sum).collect()
}

/// The index of the largest value; ties go to the lower index.
pub fn argmax(row: &[f32]) -> usize {
    let mut best = 0;
    for (i, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = i;
        }
    }
    best
}

per_vector_unit! {
    /// Causal self-attention for one sequence of `t` positions (position `i`
    /// attends to `0..=i`).
    /// `qkv` is `[t, 3·d]`: query in columns `0..d`, key in `d..2d`, value in
    /// `2d..3d`; head `h` uses columns `h·dh..(h+1)·dh` of each. Returns `[t, d]`.
    pub fn causal_attention(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> = causal_attention_with;
}

per_vector_unit! {
    /// Bidirectional self-attention for one sequence of `t` positions (every
    /// position attends to all `t`), the encoder's; `qkv` as for
    /// [`causal_attention`].
    pub fn attention(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> = bidirectional_attention_with;
}

#[inline(always)]
fn causal_attention_with<F: Fma>(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    attention_with::<F>(qkv, t, d, heads, true)
}

#[inline(always)]
fn bidirectional_attention_with<F: Fma>(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    attention_with::<F>(qkv, t, d, heads, false)
}

/// Query rows attention computes together: four independent chains per
/// vector of keys or values, so no chain waits on another's latency.
const QUERY_ROWS: usize = 4;

/// Each score is the chain `fma(q[c], k[c], acc)` over `c` in order, then
/// `× scale`; each output `fma(p[j], v[j][c], acc)` over `j` in order, from
/// `+0.0`. Per head, keys are transposed (`[c][j]`) and values copied
/// (`[j][c]`), both zero-padded to whole vectors, so that four query rows'
/// scores are computed 16 keys at a time and their outputs 16 columns at a
/// time, in registers. Lanes past a row's last key or past the head's width
/// are computed and dropped; they never enter a kept element's chain.
/// Causal, row `i` attends to keys `0..=i`; otherwise to all `t`.
#[inline(always)]
fn attention_with<F: Fma>(qkv: &[f32], t: usize, d: usize, heads: usize, causal: bool) -> Vec<f32> {
    assert_eq!(qkv.len(), t * 3 * d, "attention: qkv is not [t, 3d]");
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let (tp, dp) = (t.next_multiple_of(LANES), dh.next_multiple_of(LANES));
    let mut out = vec![0f32; t * d];
    let mut keys = vec![0f32; dh * tp];
    let mut values = vec![0f32; t * dp];
    let mut scores = vec![0f32; QUERY_ROWS * tp];
    let no_query = vec![0f32; dh];
    for h in 0..heads {
        let off = h * dh;
        for (j, row) in qkv.chunks_exact(3 * d).enumerate() {
            for (c, &kv) in row[d + off..d + off + dh].iter().enumerate() {
                keys[c * tp + j] = kv;
            }
            values[j * dp..j * dp + dh].copy_from_slice(&row[2 * d + off..2 * d + off + dh]);
        }
        for i0 in (0..t).step_by(QUERY_ROWS) {
            let rows = QUERY_ROWS.min(t - i0);
            let last = i0 + rows - 1;
            let mut q = [&no_query[..]; QUERY_ROWS];
            for (r, q) in q.iter_mut().enumerate().take(rows) {
                *q = &qkv[(i0 + r) * 3 * d + off..(i0 + r) * 3 * d + off + dh];
            }
            // The keys any row of the group attends to, and each row's.
            let keys_of = |i: usize| if causal { i + 1 } else { t };
            for j0 in (0..keys_of(last)).step_by(LANES) {
                let mut a = [[0f32; LANES]; QUERY_ROWS];
                for c in 0..dh {
                    let kv: &[f32; LANES] = keys[c * tp + j0..c * tp + j0 + LANES]
                        .try_into()
                        .expect("padded keys");
                    for r in 0..QUERY_ROWS {
                        let qc = q[r][c];
                        for l in 0..LANES {
                            a[r][l] = F::fma(qc, kv[l], a[r][l]);
                        }
                    }
                }
                for (r, a) in a.iter().enumerate() {
                    scores[r * tp + j0..r * tp + j0 + LANES].copy_from_slice(a);
                }
            }
            for r in 0..rows {
                let s = &mut scores[r * tp..r * tp + keys_of(i0 + r)];
                for v in s.iter_mut() {
                    *v *= scale;
                }
                softmax(s);
            }
            for c0 in (0..dh).step_by(LANES) {
                let mut a = [[0f32; LANES]; QUERY_ROWS];
                // Keys every row of the group attends to, then (causal) the
                // last few that only the later rows do (row i0 + r: keys 0..=i0 + r).
                for j in 0..keys_of(i0) {
                    let v: &[f32; LANES] = values[j * dp + c0..j * dp + c0 + LANES]
                        .try_into()
                        .expect("padded values");
                    for r in 0..QUERY_ROWS {
                        let p = scores[r * tp + j];
                        for l in 0..LANES {
                            a[r][l] = F::fma(p, v[l], a[r][l]);
                        }
                    }
                }
                for j in keys_of(i0)..keys_of(last) {
                    let v: &[f32; LANES] = values[j * dp + c0..j * dp + c0 + LANES]
                        .try_into()
                        .expect("padded values");
                    // Constant row indices (a loop from `j − i0` would put
                    // the accumulators in memory for the main loop too).
                    for r in 0..QUERY_ROWS {
                        if j <= i0 + r {
                            let p = scores[r * tp + j];
                            for l in 0..LANES {
                                a[r][l] = F::fma(p, v[l], a[r][l]);
                            }
                        }
                    }
                }
                let n = LANES.min(dh - c0);
                for (r, acc) in a.iter().enumerate().take(rows) {
                    // A copy of constant length, so the accumulators stay in
                    // registers (a slice of `n` of them would put them in memory).
                    let lanes: [f32; LANES] = *acc;
                    let o = (i0 + r) * d + off + c0;
                    out[o..o + n].copy_from_slice(&lanes[..n]);
                }
            }
        }
    }
    out
}

/// `a += b`, elementwise.
pub fn add_in_place(a: &mut [f32], b: &[f32]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x += *y;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Test inputs for every kernel's tests (`matmul`'s too).
    pub(crate) fn data(n: usize, seed: u32) -> Vec<f32> {
        // A cheap deterministic generator: values in about -1..1 with varied exponents.
        let mut s = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 2.0
            })
            .collect()
    }

    #[test]
    fn softmax_and_log_softmax_agree() {
        let mut row = vec![1.0f32, 2.0, 3.0, -1.0];
        let logs = log_softmax(&row);
        softmax(&mut row);
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        for (p, l) in row.iter().zip(&logs) {
            assert!((p.ln() - l).abs() < 1e-6);
        }
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }

    pub(crate) fn bits(y: &[f32]) -> Vec<u32> {
        y.iter().map(|v| v.to_bits()).collect()
    }

    /// Attention as the contract states it: one dot product per pair, the
    /// scalar `exp`, the software FMA.
    fn attention_reference(
        qkv: &[f32],
        t: usize,
        d: usize,
        heads: usize,
        causal: bool,
    ) -> Vec<f32> {
        let dh = d / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let mut out = vec![0f32; t * d];
        for h in 0..heads {
            let off = h * dh;
            for i in 0..t {
                let q = &qkv[i * 3 * d + off..][..dh];
                let mut s: Vec<f32> = (0..if causal { i + 1 } else { t })
                    .map(|j| {
                        let k = &qkv[j * 3 * d + d + off..][..dh];
                        let dot = q
                            .iter()
                            .zip(k)
                            .fold(0.0, |acc, (a, b)| math::fma(*a, *b, acc));
                        dot * scale
                    })
                    .collect();
                let max = s.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0f32;
                for v in &mut s {
                    *v = math::exp(*v - max);
                    sum += *v;
                }
                for (j, p) in s.iter().enumerate() {
                    let v = &qkv[j * 3 * d + 2 * d + off..][..dh];
                    for c in 0..dh {
                        out[i * d + off + c] = math::fma(p / sum, v[c], out[i * d + off + c]);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn every_vector_unit_gives_the_reference_norms_gelu_and_attention() {
        // Heads of 16 (whole vectors), 10 and 48 columns; positions not a
        // multiple of the query rows or of a vector.
        for (t, d, heads) in [(37, 64, 4), (9, 40, 4), (70, 96, 2), (1, 8, 1)] {
            let qkv = data(t * 3 * d, 11);
            let reference = attention_reference(&qkv, t, d, heads, true);
            let what = format!("attention t={t} d={d} heads={heads}");
            assert_eq!(
                bits(&causal_attention(&qkv, t, d, heads)),
                bits(&reference),
                "{what}"
            );
            assert_eq!(
                bits(&causal_attention_with::<Software>(&qkv, t, d, heads)),
                bits(&reference),
                "{what}, portable"
            );
            let reference = attention_reference(&qkv, t, d, heads, false);
            assert_eq!(
                bits(&attention(&qkv, t, d, heads)),
                bits(&reference),
                "bidirectional {what}"
            );
            assert_eq!(
                bits(&bidirectional_attention_with::<Software>(&qkv, t, d, heads)),
                bits(&reference),
                "bidirectional {what}, portable"
            );
            let x = data(t * d, 12);
            let (g, b) = (data(d, 13), data(d, 14));
            let (mut ours, mut portable) = (vec![0f32; t * d], vec![0f32; t * d]);
            layer_norm(&x, &g, &b, d, 1e-5, &mut ours);
            layer_norm_with::<Software>(&x, &g, &b, d, 1e-5, &mut portable);
            assert_eq!(bits(&ours), bits(&portable), "layer norm t={t} d={d}");
            for (row, o) in x.chunks(d).zip(ours.chunks(d)) {
                let mean = row.iter().fold(0f32, |s, v| s + v) / d as f32;
                let var = row
                    .iter()
                    .fold(0f32, |s, v| math::fma(v - mean, v - mean, s));
                let inv = 1.0 / (var / d as f32 + 1e-5).sqrt();
                for (i, v) in row.iter().enumerate() {
                    let want = math::fma((v - mean) * inv, g[i], b[i]);
                    assert_eq!(o[i].to_bits(), want.to_bits(), "layer norm t={t} d={d}");
                }
            }
        }
        let wide: Vec<f32> = data(4099, 15).iter().map(|v| v * 12.0).collect();
        let (mut ours, mut portable) = (wide.clone(), wide.clone());
        gelu(&mut ours);
        gelu_with::<Software>(&mut portable);
        assert_eq!(bits(&ours), bits(&portable));
        for (u, y) in wide.iter().zip(&ours) {
            let inner = math::fma(0.044_715, u * u * u, *u);
            let want = (0.5 * u) * (1.0 + math::tanh(0.797_884_6 * inner));
            assert_eq!(y.to_bits(), want.to_bits(), "gelu({u})");
        }
        let mut exact = wide.clone();
        gelu_erf(&mut exact);
        for (u, y) in wide.iter().zip(&exact) {
            let want = (0.5 * u) * (1.0 + math::erf(u * f32::from_bits(0x3f35_04f3)));
            assert_eq!(y.to_bits(), want.to_bits(), "gelu_erf({u})");
        }
    }

    #[test]
    fn vectorised_exp_tanh_and_erf_equal_the_scalar_forms() {
        // Every 4099th bit pattern (about a million, every exponent and
        // sign, NaNs and infinities included), on the widest vector unit
        // here. `examples/contract_ulps.rs` checks all 2³² in release.
        let xs: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
        let (mut e, mut t, mut r) = (xs.clone(), xs.clone(), xs.clone());
        exp_in_place(&mut e);
        tanh_in_place(&mut t);
        erf_in_place(&mut r);
        for (((x, e), t), r) in xs.iter().zip(&e).zip(&t).zip(&r) {
            assert_eq!(e.to_bits(), math::exp(*x).to_bits(), "exp({x:e})");
            assert_eq!(t.to_bits(), math::tanh(*x).to_bits(), "tanh({x:e})");
            assert_eq!(r.to_bits(), math::erf(*x).to_bits(), "erf({x:e})");
        }
    }

    #[test]
    fn attention_is_causal() {
        // Changing a later position must not change earlier outputs.
        let (t, d) = (5, 8);
        let a = data(t * 3 * d, 4);
        let mut b = a.clone();
        for v in &mut b[4 * 3 * d..] {
            *v += 1.0;
        }
        let (oa, ob) = (causal_attention(&a, t, d, 2), causal_attention(&b, t, d, 2));
        assert_eq!(oa[..4 * d], ob[..4 * d]);
        assert_ne!(oa[4 * d..], ob[4 * d..]);
    }
}
