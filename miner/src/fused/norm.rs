//! Layer norm with its gain and bias in one op: one pass forward, one pass
//! for the input's gradient and one block-summed pass for the gain's and
//! bias's.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor, bail};

use super::{last_dim, row_sums, rows2, slice};

/// Mean and 1/σ of a row (biased variance, as layer norm).
fn moments(a: &[f32], eps: f32) -> (f32, f32) {
    let n = a.len() as f32;
    let mean = a.iter().sum::<f32>() / n;
    let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

/// Layer norm of the rows of `x` (each as long as `w` and `b`).
pub(super) fn forward(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
    rows2(x, x, w.len(), |a, _, o| {
        let (mean, inv) = moments(a, eps);
        for (((o, &v), &w), &b) in o.iter_mut().zip(a).zip(w).zip(b) {
            *o = (v - mean) * inv * w + b;
        }
    })
}

/// The gradient of the input `x` from the output's gradient `g`, gain `w`.
pub(super) fn grad_input(x: &[f32], g: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    rows2(x, g, n, |a, g, o| {
        let (mean, inv) = moments(a, eps);
        // With ĝ = g·w the gradient through (x − mean)·inv is
        // (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))·inv.
        let (mut mg, mut mgx) = (0f32, 0f32);
        for ((&v, &gv), &wv) in a.iter().zip(g).zip(w) {
            let gh = gv * wv;
            mg += gh;
            mgx += gh * (v - mean) * inv;
        }
        let (mg, mgx) = (mg / n as f32, mgx / n as f32);
        for (((o, &v), &gv), &wv) in o.iter_mut().zip(a).zip(g).zip(w) {
            *o = (gv * wv - mg - (v - mean) * inv * mgx) * inv;
        }
    })
}

/// The gain's and the bias's gradients, `[2, n]`, from input `x` and the
/// output's gradient `g` (rows of `n`).
pub(super) fn grad_params(x: &[f32], g: &[f32], n: usize, eps: f32) -> Vec<f32> {
    row_sums(x, g, n, 2 * n, |a, g, s| {
        let (mean, inv) = moments(a, eps);
        let (dw, db) = s.split_at_mut(n);
        for (((dw, db), &v), &gv) in dw.iter_mut().zip(db).zip(a).zip(g) {
            *dw += gv * (v - mean) * inv;
            *db += gv;
        }
    })
}

fn check_params(n: usize, l: &Layout) -> Result<()> {
    if l.dims() != [n] {
        bail!(
            "layer norm parameter {:?} does not fit rows of {n}",
            l.dims()
        );
    }
    Ok(())
}

pub(super) struct LayerNorm(pub f32);
/// The input's gradient: `(x, grad, gain)`.
struct LayerNormGradInput(f32);
/// The gain's and bias's gradients, stacked `[2, n]`: `(x, grad)`.
struct LayerNormGradParams(f32);

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "fused-layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let n = last_dim(l1)?;
        check_params(n, l2)?;
        check_params(n, l3)?;
        Ok((
            CpuStorage::F32(forward(x, w, b, self.0)),
            l1.shape().clone(),
        ))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let dx = x.apply_op3_no_bwd(&grad, w, &LayerNormGradInput(self.0))?;
        let params = x.apply_op2_no_bwd(&grad, &LayerNormGradParams(self.0))?;
        Ok((Some(dx), Some(params.get(0)?), Some(params.get(1)?)))
    }
}

impl CustomOp3 for LayerNormGradInput {
    fn name(&self) -> &'static str {
        "fused-layer-norm-grad-input"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g, w) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let n = last_dim(l1)?;
        check_params(n, l3)?;
        Ok((
            CpuStorage::F32(grad_input(x, g, w, self.0)),
            l1.shape().clone(),
        ))
    }
}

impl CustomOp2 for LayerNormGradParams {
    fn name(&self) -> &'static str {
        "fused-layer-norm-grad-params"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let n = last_dim(l1)?;
        Ok((
            CpuStorage::F32(grad_params(x, g, n, self.0)),
            Shape::from((2, n)),
        ))
    }
}
