//! Deterministic kernels following the arithmetic contract of
//! docs/determinism.md: every output element has one fixed order of
//! correctly rounded operations, whatever the CPU, SIMD width or thread count.
//!
//! - a dot product is one chain in natural `k` order from `+0.0`,
//!   `acc = fma(a[k], b[k], acc)`, then the bias added once; a fused
//!   multiply-add rounds once, so the CPU's FMA instruction (AVX2, AVX-512)
//!   and the exact software one ([`math::fma`], for CPUs without) agree;
//! - SIMD and threads only decide which output elements are computed together
//!   (columns in a register tile, rows per thread), never the order within one;
//! - `exp`, `ln`, `tanh` are the contract's algorithms ([`crate::math`]);
//!   `sqrt` and division are correctly rounded by IEEE 754 on every CPU.

use crate::math;

/// `y[m, n] = x[m, k] · w[k, n] (+ bias[n])`, `w` stored input-major (`[k, n]`).
/// Rows are split across `threads`; the result does not depend on it.
pub fn matmul(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
    threads: usize,
) -> Vec<f32> {
    assert_eq!(x.len(), m * k, "matmul: x is not [m, k]");
    assert_eq!(w.len(), k * n, "matmul: w is not [k, n]");
    let mut y = vec![0f32; m * n];
    let threads = threads.clamp(1, m.max(1));
    if threads == 1 || m * k * n < 1 << 16 {
        matmul_rows(x, w, bias, k, n, &mut y);
        return y;
    }
    // Row blocks in multiples of every micro-kernel height (4, 6, 8).
    let rows_per = m.div_ceil(threads).next_multiple_of(24);
    std::thread::scope(|s| {
        for (xs, ys) in x.chunks(rows_per * k).zip(y.chunks_mut(rows_per * n)) {
            s.spawn(move || matmul_rows(xs, w, bias, k, n, ys));
        }
    });
    y
}

/// k-block: a 16-column panel of `w` (`KC × 16` floats, 16 KB) stays in L1.
const KC: usize = 256;
/// row block: `MC × KC` floats of `x` (128 KB) stay in L2 across column tiles.
const MC: usize = 128;

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

/// One row block, on the widest vector unit this CPU has. Every path is the
/// same source compiled for another width, and every one fuses each
/// multiply-add with one rounding, so all give the bits of the scalar
/// reference (`every_simd_path_this_cpu_has_gives_the_scalar_bits` checks
/// the paths this machine has; `.ci/determinism.sh` runs the others under qemu).
fn matmul_rows(x: &[f32], w: &[f32], bias: Option<&[f32]>, k: usize, n: usize, y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        let fma = std::arch::is_x86_feature_detected!("fma");
        if fma && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F and FMA, checked on the line above.
            #[allow(unsafe_code)]
            return unsafe { matmul_rows_avx512(x, w, bias, k, n, y) };
        }
        if fma && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 and FMA, checked on the line above.
            #[allow(unsafe_code)]
            return unsafe { matmul_rows_avx2(x, w, bias, k, n, y) };
        }
    }
    matmul_rows_portable(x, w, bias, k, n, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn matmul_rows_avx512(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    k: usize,
    n: usize,
    y: &mut [f32],
) {
    // 8×32 accumulators: 16 of the 32 zmm registers.
    matmul_rows_tiled::<8, 32, Hardware>(x, w, bias, k, n, y);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn matmul_rows_avx2(x: &[f32], w: &[f32], bias: Option<&[f32]>, k: usize, n: usize, y: &mut [f32]) {
    // 6×16 accumulators: 12 of the 16 ymm registers.
    matmul_rows_tiled::<6, 16, Hardware>(x, w, bias, k, n, y);
}

/// SSE2 (every x86-64) and other architectures: 4×16 accumulators, the
/// software FMA (the same bits; slow where there is no FMA unit).
fn matmul_rows_portable(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    k: usize,
    n: usize,
    y: &mut [f32],
) {
    matmul_rows_tiled::<4, 16, Software>(x, w, bias, k, n, y);
}

/// Cache-blocked tiles over one row block. Blocking over `k` keeps each
/// element's order: a tile continues from the exact f32 partial sum it
/// stored for the previous k-block, so the sequence of additions is the
/// single chain `fma(x₁, w₁, fma(x₀, w₀, +0.0))…`.
/// The tile shape (`R` rows × `C` columns) only groups elements; it never
/// changes an element's order.
#[inline(always)]
fn matmul_rows_tiled<const R: usize, const C: usize, F: Fma>(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    k: usize,
    n: usize,
    y: &mut [f32],
) {
    let m = x.len() / k.max(1);
    y.fill(0.0);
    // A k-block × C-column panel of `w`, packed contiguously: read at `n`'s
    // stride, a power-of-two `n` would map every row of the panel onto the
    // same cache sets.
    let mut panel = vec![0f32; KC * C];
    for k0 in (0..k).step_by(KC) {
        let kc = KC.min(k - k0);
        for i0 in (0..m).step_by(MC) {
            let mc = MC.min(m - i0);
            let mut j = 0;
            while j < n {
                let cols = C.min(n - j);
                if cols == C {
                    for (kk, row) in panel.chunks_exact_mut(C).take(kc).enumerate() {
                        row.copy_from_slice(&w[(k0 + kk) * n + j..(k0 + kk) * n + j + C]);
                    }
                }
                let mut i = i0;
                while i < i0 + mc {
                    let rows = R.min(i0 + mc - i);
                    if rows == R && cols == C {
                        tile_full::<R, C, F>(x, &panel, k, n, i, j, k0, kc, y);
                    } else {
                        tile_edge::<F>(x, w, k, n, i, j, k0, kc, rows, cols, y);
                    }
                    i += R;
                }
                j += C;
            }
        }
    }
    if let Some(b) = bias {
        for row in y.chunks_mut(n) {
            for (v, bb) in row.iter_mut().zip(b) {
                *v += *bb;
            }
        }
    }
}

/// A full `R`×`C` tile over `k0..k0+kc`, reading the packed panel (`[kc, C]`):
/// the accumulators start from the partial sums in `y` and stay in
/// registers; each lane is one output element.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_full<const R: usize, const C: usize, F: Fma>(
    x: &[f32],
    panel: &[f32],
    k: usize,
    n: usize,
    i: usize,
    j: usize,
    k0: usize,
    kc: usize,
    y: &mut [f32],
) {
    let mut acc = [[0f32; C]; R];
    for (r, a) in acc.iter_mut().enumerate() {
        a.copy_from_slice(&y[(i + r) * n + j..(i + r) * n + j + C]);
    }
    for kk in 0..kc {
        let wrow: &[f32; C] = panel[kk * C..kk * C + C].try_into().expect("C columns");
        for (r, a) in acc.iter_mut().enumerate() {
            let xv = x[(i + r) * k + k0 + kk];
            for c in 0..C {
                a[c] = F::fma(xv, wrow[c], a[c]);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        y[(i + r) * n + j..(i + r) * n + j + C].copy_from_slice(a);
    }
}

/// A partial tile at the bottom or right edge; the same order per element.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_edge<F: Fma>(
    x: &[f32],
    w: &[f32],
    k: usize,
    n: usize,
    i: usize,
    j: usize,
    k0: usize,
    kc: usize,
    rows: usize,
    cols: usize,
    y: &mut [f32],
) {
    for r in i..i + rows {
        for c in j..j + cols {
            let mut acc = y[r * n + c];
            for kk in k0..k0 + kc {
                acc = F::fma(x[r * k + kk], w[kk * n + c], acc);
            }
            y[r * n + c] = acc;
        }
    }
}

/// The reference: one output element at a time, the same order. Tests hold
/// the tiled, threaded kernel to it bit for bit.
pub fn matmul_reference(
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    m: usize,
    k: usize,
    n: usize,
) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0f32;
            for kk in 0..k {
                acc = math::fma(x[i * k + kk], w[kk * n + j], acc);
            }
            y[i * n + j] = acc + bias.map_or(0.0, |b| b[j]);
        }
    }
    y
}

/// Transpose `[rows, cols]` to `[cols, rows]` (weights are stored `[out, in]` in files).
pub fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; a.len()];
    for r in 0..rows {
        for c in 0..cols {
            t[c * rows + r] = a[r * cols + c];
        }
    }
    t
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
    fn tiled_threaded_matmul_equals_the_reference_bit_for_bit() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (3, 5, 7),
            (4, 16, 16),
            (33, 70, 45),
            (130, 64, 200),
            (64, 300, 17),
        ] {
            let (x, w, b) = (data(m * k, 1), data(k * n, 2), data(n, 3));
            let reference = matmul_reference(&x, &w, Some(&b), m, k, n);
            for threads in [1, 2, 3, 8] {
                let y = matmul(&x, &w, Some(&b), m, k, n, threads);
                let same = y
                    .iter()
                    .zip(&reference)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{m}x{k}x{n} with {threads} threads differs from the reference"
                );
            }
        }
    }

    #[test]
    fn every_simd_path_this_cpu_has_gives_the_scalar_bits() {
        let (m, k, n) = (37, 300, 70);
        let (x, w, b) = (data(m * k, 7), data(k * n, 8), data(n, 9));
        let reference = matmul_reference(&x, &w, Some(&b), m, k, n);
        let bits = |y: &[f32]| y.iter().map(|v| v.to_bits()).collect::<Vec<u32>>();
        let mut y = vec![0f32; m * n];
        matmul_rows_portable(&x, &w, Some(&b), k, n, &mut y);
        assert_eq!(bits(&y), bits(&reference), "portable (SSE2) path");
        #[cfg(target_arch = "x86_64")]
        {
            let fma = std::arch::is_x86_feature_detected!("fma");
            if fma && std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 and FMA are present, checked just above.
                #[allow(unsafe_code)]
                unsafe {
                    matmul_rows_avx2(&x, &w, Some(&b), k, n, &mut y)
                };
                assert_eq!(bits(&y), bits(&reference), "AVX2 path");
            }
            if fma && std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F and FMA are present, checked just above.
                #[allow(unsafe_code)]
                unsafe {
                    matmul_rows_avx512(&x, &w, Some(&b), k, n, &mut y)
                };
                assert_eq!(bits(&y), bits(&reference), "AVX-512 path");
            }
        }
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
