//! Causal multi-head self-attention as one op, straight from the packed
//! `[b, t, 3·d]` output of the qkv projection to the `[b, t, d]` input of the
//! output projection: no head split or merge copies, no `t × t` score tensors
//! kept between passes (the backward recomputes each row's probabilities),
//! and no masked half computed at all.
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

    /// Row `i`'s probabilities over positions `0..=i` into `p`.
    fn probs(&self, x: &[f32], i: usize, p: &mut [f32]) {
        let q = self.at(x, i, self.q);
        let mut max = f32::NEG_INFINITY;
        for (j, s) in p.iter_mut().enumerate() {
            *s = dot(q, self.at(x, j, self.k)) * self.scale;
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
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-causal-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let (b, t, d, dh) = dims(l, self.heads)?;
        let mut out = vec![0f32; b * t * d];
        out.par_chunks_mut(t * d)
            .zip(x.par_chunks(t * 3 * d))
            .for_each(|(out, x)| {
                let mut p = vec![0f32; t];
                for h in 0..self.heads {
                    let head = Head::new(d, dh, h);
                    for i in 0..t {
                        head.probs(x, i, &mut p[..=i]);
                        let y = &mut out[i * d + h * dh..][..dh];
                        for (j, &pj) in p[..=i].iter().enumerate() {
                            axpy(y, pj, head.at(x, j, head.v));
                        }
                    }
                }
            });
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
        let (b, t, d, dh) = dims(l1, self.heads)?;
        if l2.dims() != [b, t, d] {
            bail!(
                "attention gradient {:?} for input {:?}",
                l2.dims(),
                l1.dims()
            );
        }
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(t * 3 * d)
            .zip(x.par_chunks(t * 3 * d).zip(g.par_chunks(t * d)))
            .for_each(|(dx, (x, g))| {
                let (mut p, mut dp, mut dq) = (vec![0f32; t], vec![0f32; t], vec![0f32; dh]);
                for h in 0..self.heads {
                    let head = Head::new(d, dh, h);
                    for i in 0..t {
                        let (p, dp) = (&mut p[..=i], &mut dp[..=i]);
                        head.probs(x, i, p);
                        let gy = &g[i * d + h * dh..][..dh];
                        let mut centre = 0f32;
                        for (j, (dpj, &pj)) in dp.iter_mut().zip(p.iter()).enumerate() {
                            *dpj = dot(gy, head.at(x, j, head.v));
                            centre += pj * *dpj;
                        }
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
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
