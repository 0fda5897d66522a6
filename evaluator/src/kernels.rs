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

#[inline(always)]
fn layer_norm_with<F: Fma>(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32, out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "layer norm: out is not x's shape");
    for (row, o) in x.chunks(d).zip(out.chunks_mut(d)) {
        let mut sum = 0f32;
        for v in row {
            sum += *v;
        }
        let mean = sum / d as f32;
        let mut var = 0f32;
        for v in row {
            let c = *v - mean;
            var = F::fma(c, c, var);
        }
        let inv = 1.0 / (var / d as f32 + eps).sqrt();
        for ((o, v), (g, b)) in o.iter_mut().zip(row).zip(g.iter().zip(b)) {
            *o = F::fma((*v - mean) * inv, *g, *b);
        }
    }
}

/// Softmax of one row in place: subtract the max, `exp`, sum in order, divide.
pub fn softmax(row: &mut [f32]) {
    softmax_row(row);
}

/// [`softmax`], inlined into each vector unit's compilation of its caller:
/// the `exp`s vectorise, the sum stays one chain in order.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
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

/// Rows of `table` (`[rows, d]`) at `ids`.
pub fn embedding(table: &[f32], d: usize, ids: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(ids.len() * d);
    for &i in ids {
        out.extend_from_slice(&table[i * d..(i + 1) * d]);
    }
    out
}

per_vector_unit! {
    /// Causal self-attention for one sequence of `t` positions.
    /// `qkv` is `[t, 3·d]`: query in columns `0..d`, key in `d..2d`, value in
    /// `2d..3d`; head `h` uses columns `h·dh..(h+1)·dh` of each. Returns `[t, d]`.
    pub fn causal_attention(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> = causal_attention_with;
}

/// Each score is the chain `fma(q[c], k[c], acc)` over `c` in order, then
/// `× scale`; each output `fma(p[j], v[j][c], acc)` over `j` in order. Keys
/// are transposed per head so that a row's scores are computed side by side
/// (one vector lane per key), not one dot product at a time.
#[inline(always)]
fn causal_attention_with<F: Fma>(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let mut out = vec![0f32; t * d];
    let mut scores = vec![0f32; t];
    let mut keys = vec![0f32; dh * t];
    for h in 0..heads {
        let off = h * dh;
        for (j, row) in qkv.chunks_exact(3 * d).enumerate().take(t) {
            for (c, &kv) in row[d + off..d + off + dh].iter().enumerate() {
                keys[c * t + j] = kv;
            }
        }
        for i in 0..t {
            let q = &qkv[i * 3 * d + off..i * 3 * d + off + dh];
            let s = &mut scores[..=i];
            s.fill(0.0);
            for (c, &qc) in q.iter().enumerate() {
                for (sv, &kv) in s.iter_mut().zip(&keys[c * t..c * t + i + 1]) {
                    *sv = F::fma(qc, kv, *sv);
                }
            }
            for sv in s.iter_mut() {
                *sv *= scale;
            }
            softmax_row(s);
            let o = &mut out[i * d + off..i * d + off + dh];
            for (j, p) in s.iter().enumerate() {
                let v = &qkv[j * 3 * d + 2 * d + off..j * 3 * d + 2 * d + off + dh];
                for (oc, &vc) in o.iter_mut().zip(v) {
                    *oc = F::fma(*p, vc, *oc);
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
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
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

    fn bits(y: &[f32]) -> Vec<u32> {
        y.iter().map(|v| v.to_bits()).collect()
    }

    /// Attention as the contract states it: one dot product per pair, the
    /// scalar `exp`, the software FMA.
    fn attention_reference(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
        let dh = d / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let mut out = vec![0f32; t * d];
        for h in 0..heads {
            let off = h * dh;
            for i in 0..t {
                let q = &qkv[i * 3 * d + off..][..dh];
                let mut s: Vec<f32> = (0..=i)
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
        let (t, d) = (37, 64);
        let qkv = data(t * 3 * d, 11);
        let x = data(t * d, 12);
        let (g, b) = (data(d, 13), data(d, 14));
        let reference = attention_reference(&qkv, t, d, 4);
        assert_eq!(bits(&causal_attention(&qkv, t, d, 4)), bits(&reference));
        assert_eq!(
            bits(&causal_attention_with::<Software>(&qkv, t, d, 4)),
            bits(&reference)
        );
        let (mut ours, mut portable) = (vec![0f32; t * d], vec![0f32; t * d]);
        layer_norm(&x, &g, &b, d, 1e-5, &mut ours);
        layer_norm_with::<Software>(&x, &g, &b, d, 1e-5, &mut portable);
        assert_eq!(bits(&ours), bits(&portable));
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
    }

    #[test]
    fn vectorised_exp_and_tanh_equal_the_scalar_forms() {
        // Every 4099th bit pattern (about a million, every exponent and
        // sign, NaNs and infinities included), on the widest vector unit
        // here. `examples/contract_ulps.rs` checks all 2³² in release.
        let xs: Vec<f32> = (0..=u32::MAX).step_by(4099).map(f32::from_bits).collect();
        let (mut e, mut t) = (xs.clone(), xs.clone());
        exp_in_place(&mut e);
        tanh_in_place(&mut t);
        for ((x, e), t) in xs.iter().zip(&e).zip(&t) {
            assert_eq!(e.to_bits(), math::exp(*x).to_bits(), "exp({x:e})");
            assert_eq!(t.to_bits(), math::tanh(*x).to_bits(), "tanh({x:e})");
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
