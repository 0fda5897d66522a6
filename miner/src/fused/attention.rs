//! Causal multi-head self-attention as one op, straight from the packed
//! `[b, t, 3·d]` output of the qkv projection to the `[b, t, d]` input of the
//! output projection: no head split or merge copies and no masked half
//! computed at all. Scores and the probabilities' gradients are taken against
//! transposed keys and values, which vectorises over positions. The
//! hand-written training step (`fused::gpt`) keeps the probabilities for the
//! backward pass; the candle op recomputes them.
//!
//! Per head, with `s_ij = q_i·k_j / √dh` for `j ≤ i` and `p = softmax(s)`:
//! forward `y_i = Σ_j p_ij v_j`; backward `dv_j += p_ij dy_i`,
//! `dp_ij = dy_i·v_j`, `ds_ij = p_ij (dp_ij − Σ_j p_ij dp_ij)`,
//! `dq_i += ds_ij k_j / √dh`, `dk_j += ds_ij q_i / √dh`.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

use super::{axpy, dot, slice};

pub(super) struct CausalAttention {
    pub heads: usize,
}

/// `(qkv, grad)` → the gradient of `qkv`.
struct CausalAttentionGrad {
    heads: usize,
}

/// Batch, time, width and head width of a `[b, t, 3·d]` input.
fn dims(l: &Layout, heads: usize) -> Result<(usize, usize, usize, usize)> {
    let &[b, t, w3] = l.dims() else {
        bail!("attention takes [batch, time, 3·width], not {:?}", l.dims())
    };
    if heads == 0 || w3 % 3 != 0 || (w3 / 3) % heads != 0 || t == 0 {
        bail!(
            "attention: {:?} does not split into {heads} heads",
            l.dims()
        );
    }
    Ok((b, t, w3 / 3, w3 / 3 / heads))
}

/// One head's geometry within a batch element's `[t, 3·d]` rows.
#[derive(Clone, Copy)]
struct Head {
    row: usize,
    dh: usize,
    q: usize,
    k: usize,
    v: usize,
    scale: f32,
}

impl Head {
    fn new(d: usize, dh: usize, h: usize) -> Head {
        Head {
            row: 3 * d,
            dh,
            q: h * dh,
            k: d + h * dh,
            v: 2 * d + h * dh,
            scale: 1.0 / (dh as f32).sqrt(),
        }
    }

    fn at<'a>(&self, x: &'a [f32], i: usize, offset: usize) -> &'a [f32] {
        &x[i * self.row + offset..][..self.dh]
    }
}

/// One head's keys (or values, by `offset`) transposed to `[dh, t]`, so a row
/// of scores is `dh` contiguous multiply-adds over positions rather than a
/// dot product (and its horizontal sum) per position.
fn transposed(x: &[f32], head: &Head, offset: usize, t: usize, out: &mut [f32]) {
    for j in 0..t {
        for (c, &v) in head.at(x, j, offset).iter().enumerate() {
            out[c * t + j] = v;
        }
    }
}

/// Row `i`'s probabilities over positions `0..=i` (`p.len()`) from its query
/// `q` and the transposed keys `kt`.
fn probs_row(q: &[f32], kt: &[f32], t: usize, scale: f32, p: &mut [f32]) {
    p.fill(0.0);
    let n = p.len();
    for (c, &qc) in q.iter().enumerate() {
        axpy(p, qc, &kt[c * t..][..n]);
    }
    let mut max = f32::NEG_INFINITY;
    for s in p.iter_mut() {
        *s *= scale;
        max = max.max(*s);
    }
    let mut sum = 0f32;
    for s in p.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    let inv = 1.0 / sum;
    p.iter_mut().for_each(|s| *s *= inv);
}

/// Attention over rows of `3·d` (`t` per batch element) to rows of `d`, and
/// the probabilities (`[b, heads, t, t]`, the lower triangle) the backward
/// pass reads.
pub(super) fn forward(x: &[f32], t: usize, d: usize, heads: usize) -> (Vec<f32>, Vec<f32>) {
    let dh = d / heads;
    let b = x.len() / (t * 3 * d);
    let mut out = vec![0f32; b * t * d];
    let mut probs = vec![0f32; b * heads * t * t];
    out.par_chunks_mut(t * d)
        .zip(probs.par_chunks_mut(heads * t * t))
        .zip(x.par_chunks(t * 3 * d))
        .for_each(|((out, probs), x)| {
            let mut kt = vec![0f32; dh * t];
            for h in 0..heads {
                let head = Head::new(d, dh, h);
                transposed(x, &head, head.k, t, &mut kt);
                for i in 0..t {
                    let p = &mut probs[(h * t + i) * t..][..=i];
                    probs_row(head.at(x, i, head.q), &kt, t, head.scale, p);
                    let y = &mut out[i * d + h * dh..][..dh];
                    for (j, &pj) in p.iter().enumerate() {
                        axpy(y, pj, head.at(x, j, head.v));
                    }
                }
            }
        });
    (out, probs)
}

/// The gradient of attention's input `x` from its output's gradient `g` and
/// the forward pass's probabilities.
pub(super) fn backward(
    x: &[f32],
    probs: &[f32],
    g: &[f32],
    t: usize,
    d: usize,
    heads: usize,
) -> Vec<f32> {
    let dh = d / heads;
    let mut dx = vec![0f32; x.len()];
    dx.par_chunks_mut(t * 3 * d)
        .zip(x.par_chunks(t * 3 * d).zip(g.par_chunks(t * d)))
        .zip(probs.par_chunks(heads * t * t))
        .for_each(|((dx, (x, g)), probs)| {
            let (mut vt, mut dp, mut dq) = (vec![0f32; dh * t], vec![0f32; t], vec![0f32; dh]);
            for h in 0..heads {
                let head = Head::new(d, dh, h);
                transposed(x, &head, head.v, t, &mut vt);
                for i in 0..t {
                    let p = &probs[(h * t + i) * t..][..=i];
                    let dp = &mut dp[..=i];
                    let gy = &g[i * d + h * dh..][..dh];
                    dp.fill(0.0);
                    for (c, &gc) in gy.iter().enumerate() {
                        axpy(dp, gc, &vt[c * t..][..=i]);
                    }
                    let centre = dot(p, dp);
                    let q = head.at(x, i, head.q);
                    dq.fill(0.0);
                    for (j, (&pj, &dpj)) in p.iter().zip(dp.iter()).enumerate() {
                        let ds = pj * (dpj - centre) * head.scale;
                        axpy(&mut dx[j * head.row + head.v..][..dh], pj, gy);
                        axpy(&mut dx[j * head.row + head.k..][..dh], ds, q);
                        axpy(&mut dq, ds, head.at(x, j, head.k));
                    }
                    axpy(&mut dx[i * head.row + head.q..][..dh], 1.0, &dq);
                }
            }
        });
    dx
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (b, t, d, _) = dims(l, self.heads)?;
        let (out, _) = forward(x, t, d, self.heads);
        Ok((CpuStorage::F32(out), Shape::from((b, t, d))))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &CausalAttentionGrad { heads: self.heads },
        )?))
    }
}

impl CustomOp2 for CausalAttentionGrad {
    fn name(&self) -> &'static str {
        "fused-causal-attention-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let (b, t, d, _) = dims(l1, self.heads)?;
        if l2.dims() != [b, t, d] {
            bail!(
                "attention gradient {:?} for input {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        // Training on the CPU keeps the probabilities (`fused::gpt`); this
        // op, the reference for tests, recomputes them.
        let (_, probs) = forward(x, t, d, self.heads);
        let dx = backward(x, &probs, g, t, d, self.heads);
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
