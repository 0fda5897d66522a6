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

/// GELU, tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`,
/// as `(0.5·u)·(1 + tanh(c·fma(0.044715, (u·u)·u, u)))`.
pub fn gelu(x: &mut [f32]) {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    for v in x {
        let u = *v;
        let inner = math::fma(0.044_715, u * u * u, u);
        *v = (0.5 * u) * (1.0 + math::tanh(SQRT_2_OVER_PI * inner));
    }
}

/// Layer norm over rows of width `d`: `(x − mean) / √(var + eps) · g + b`:
/// the mean a sum in order divided by `d`, the variance a chain of
/// `fma(c, c, acc)` in order divided by `d`, each output `fma((x − mean)·inv, g, b)`.
pub fn layer_norm(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA, checked on the line above.
        #[allow(unsafe_code)]
        return unsafe { layer_norm_fma(x, g, b, d, eps) };
    }
    layer_norm_with::<Software>(x, g, b, d, eps)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn layer_norm_fma(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32) -> Vec<f32> {
    layer_norm_with::<Hardware>(x, g, b, d, eps)
}

#[inline(always)]
fn layer_norm_with<F: Fma>(x: &[f32], g: &[f32], b: &[f32], d: usize, eps: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
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
        for i in 0..d {
            o[i] = F::fma((row[i] - mean) * inv, g[i], b[i]);
        }
    }
    out
}

/// Softmax of one row in place: subtract the max, `exp`, sum in order, divide.
pub fn softmax(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let mut sum = 0f32;
    for v in row.iter_mut() {
        *v = math::exp(*v - max);
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

/// Causal self-attention for one sequence of `t` positions.
/// `qkv` is `[t, 3·d]`: query in columns `0..d`, key in `d..2d`, value in
/// `2d..3d`; head `h` uses columns `h·dh..(h+1)·dh` of each. Returns `[t, d]`.
pub fn causal_attention(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has FMA, checked on the line above.
        #[allow(unsafe_code)]
        return unsafe { causal_attention_fma(qkv, t, d, heads) };
    }
    causal_attention_with::<Software>(qkv, t, d, heads)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "fma")]
fn causal_attention_fma(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    causal_attention_with::<Hardware>(qkv, t, d, heads)
}

#[inline(always)]
fn causal_attention_with<F: Fma>(qkv: &[f32], t: usize, d: usize, heads: usize) -> Vec<f32> {
    let dh = d / heads;
    let scale = 1.0 / (dh as f32).sqrt();
    let mut out = vec![0f32; t * d];
    let mut scores = vec![0f32; t];
    for h in 0..heads {
        let off = h * dh;
        for i in 0..t {
            let q = &qkv[i * 3 * d + off..i * 3 * d + off + dh];
            for (j, s) in scores.iter_mut().enumerate().take(i + 1) {
                let kv = &qkv[j * 3 * d + d + off..j * 3 * d + d + off + dh];
                let mut dot = 0f32;
                for c in 0..dh {
                    dot = F::fma(q[c], kv[c], dot);
                }
                *s = dot * scale;
            }
            softmax(&mut scores[..=i]);
            let o = &mut out[i * d + off..i * d + off + dh];
            for (j, p) in scores.iter().enumerate().take(i + 1) {
                let v = &qkv[j * 3 * d + 2 * d + off..j * 3 * d + 2 * d + off + dh];
                for c in 0..dh {
                    o[c] = F::fma(*p, v[c], o[c]);
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

    #[test]
    fn hardware_and_software_fma_give_the_same_norms_and_attention() {
        let (t, d) = (9, 16);
        let qkv = data(t * 3 * d, 11);
        let x = data(t * d, 12);
        let (g, b) = (data(d, 13), data(d, 14));
        let bits = |y: &[f32]| y.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        assert_eq!(
            bits(&causal_attention(&qkv, t, d, 4)),
            bits(&causal_attention_with::<Software>(&qkv, t, d, 4))
        );
        assert_eq!(
            bits(&layer_norm(&x, &g, &b, d, 1e-5)),
            bits(&layer_norm_with::<Software>(&x, &g, &b, d, 1e-5))
        );
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
