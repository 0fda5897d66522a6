//! AdamW's update in place: three passes over a parameter (first moment,
//! second moment, step) where the tensor form takes a dozen, each with an
//! allocation the size of the parameter.

use candle_core::{CpuStorage, InplaceOp2, InplaceOp3, Layout, Result, Tensor, bail};

fn slice_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> Result<&'a mut [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fused ops take f32 tensors")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&mut v[a..b]),
        None => bail!("fused ops take contiguous tensors"),
    }
}

fn same_len(what: &str, a: usize, b: usize) -> Result<()> {
    if a != b {
        bail!("adamw: {what} has {b} elements for a parameter of {a}");
    }
    Ok(())
}

/// `m ← β·m + (1 − β)·g`, or of `g²` for the second moment.
struct Moment {
    beta: f32,
    square: bool,
}

impl InplaceOp2 for Moment {
    fn name(&self) -> &'static str {
        "fused-adamw-moment"
    }
    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        g: &CpuStorage,
        gl: &Layout,
    ) -> Result<()> {
        let m = slice_mut(dst, dst_l)?;
        let g = super::slice(g, gl)?;
        same_len("the gradient", m.len(), g.len())?;
        let (beta, rest) = (self.beta, 1.0 - self.beta);
        if self.square {
            m.iter_mut()
                .zip(g)
                .for_each(|(m, g)| *m = beta * *m + rest * (g * g));
        } else {
            m.iter_mut()
                .zip(g)
                .for_each(|(m, g)| *m = beta * *m + rest * g);
        }
        Ok(())
    }
}

/// `θ ← θ·(1 − lr·λ) − lr · m̂ / (√v̂ + ε)`.
struct Step {
    lr: f32,
    decay: f32,
    c1: f32,
    c2: f32,
    eps: f32,
}

impl InplaceOp3 for Step {
    fn name(&self) -> &'static str {
        "fused-adamw-step"
    }
    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        m: &CpuStorage,
        ml: &Layout,
        v: &CpuStorage,
        vl: &Layout,
    ) -> Result<()> {
        let theta = slice_mut(dst, dst_l)?;
        let (m, v) = (super::slice(m, ml)?, super::slice(v, vl)?);
        same_len("the first moment", theta.len(), m.len())?;
        same_len("the second moment", theta.len(), v.len())?;
        let keep = 1.0 - self.lr * self.decay;
        for ((t, &m), &v) in theta.iter_mut().zip(m).zip(v) {
            let update = (m / self.c1) / ((v / self.c2).sqrt() + self.eps);
            *t = *t * keep - update * self.lr;
        }
        Ok(())
    }
}

/// AdamW's hyper-parameters for one step.
#[derive(Clone, Copy, Debug)]
pub struct AdamWStep {
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay (0 for parameters that are not decayed).
    pub decay: f64,
    /// First and second moment decay rates.
    pub betas: (f64, f64),
    /// Bias corrections `1 − β₁ᵗ` and `1 − β₂ᵗ`.
    pub corrections: (f64, f64),
    /// Added to `√v̂`.
    pub eps: f64,
}

/// One AdamW update of `theta` and its moments `m` and `v`, in place (CPU).
/// The three must not share storage (candle refuses if they do).
pub fn adamw_update(
    theta: &Tensor,
    m: &Tensor,
    v: &Tensor,
    g: &Tensor,
    s: AdamWStep,
) -> Result<()> {
    let g = g.contiguous()?;
    m.inplace_op2(
        &g,
        &Moment {
            beta: s.betas.0 as f32,
            square: false,
        },
    )?;
    v.inplace_op2(
        &g,
        &Moment {
            beta: s.betas.1 as f32,
            square: true,
        },
    )?;
    theta.inplace_op3(
        m,
        v,
        &Step {
            lr: s.lr as f32,
            decay: s.decay as f32,
            c1: s.corrections.0 as f32,
            c2: s.corrections.1 as f32,
            eps: s.eps as f32,
        },
    )
}
