//! Fused CPU ops with their own backward passes, for the GPT's hot spots.
//!
//! Built from primitive ops, GELU, softmax and layer norm each take a chain of
//! 5–10 tensor ops forward and more backward, every one a pass over memory and
//! an allocation. These compute each in one pass per direction (the backward
//! as a second custom op, so it allocates once). Same formulas as the
//! primitive versions and the evaluator (GELU's tanh form, biased variance);
//! the parity and gradient tests hold them to the primitive ops. On other
//! devices the callers use the primitive ops.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;

/// Rows shorter than this are done on one thread.
const PAR_MIN: usize = 16 * 1024;

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let CpuStorage::F32(v) = s else {
        bail!("fused ops take f32 tensors")
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("fused ops take contiguous tensors"),
    }
}

fn last_dim(l: &Layout) -> Result<usize> {
    match l.dims().last() {
        Some(&d) if d > 0 => Ok(d),
        _ => bail!("fused row ops need a non-empty last dimension"),
    }
}

/// `f` over rows of `n` of `x` (and the same rows of `y`), into a new buffer.
fn rows2(
    x: &[f32],
    y: &[f32],
    n: usize,
    f: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    if x.len() >= PAR_MIN {
        out.par_chunks_mut(n)
            .zip(x.par_chunks(n).zip(y.par_chunks(n)))
            .for_each(|(o, (a, b))| f(a, b, o));
    } else {
        out.chunks_mut(n)
            .zip(x.chunks(n).zip(y.chunks(n)))
            .for_each(|(o, (a, b))| f(a, b, o));
    }
    out
}

fn rows1(x: &[f32], n: usize, f: impl Fn(&[f32], &mut [f32]) + Sync) -> Vec<f32> {
    rows2(x, x, n, |a, _, o| f(a, o))
}

const GELU_K: f32 = 0.797_884_6; // sqrt(2/pi)
const GELU_C: f32 = 0.044_715;

struct Gelu;
struct GeluGrad;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu-tanh"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let y = rows1(x, x.len().clamp(1, 4096), |a, o| {
            for (o, &v) in o.iter_mut().zip(a) {
                *o = 0.5 * v * (1.0 + (GELU_K * (v + GELU_C * v * v * v)).tanh());
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluGrad)?))
    }
}

impl CustomOp2 for GeluGrad {
    fn name(&self) -> &'static str {
        "fused-gelu-tanh-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let dx = rows2(x, g, x.len().clamp(1, 4096), |a, b, o| {
            for ((o, &v), &gv) in o.iter_mut().zip(a).zip(b) {
                let t = (GELU_K * (v + GELU_C * v * v * v)).tanh();
                let du = GELU_K * (1.0 + 3.0 * GELU_C * v * v);
                *o = gv * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct Softmax;
struct SoftmaxGrad;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "fused-softmax-last-dim"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let y = rows1(x, last_dim(l)?, |a, o| {
            let max = a.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for (o, &v) in o.iter_mut().zip(a) {
                *o = (v - max).exp();
                sum += *o;
            }
            let inv = 1.0 / sum;
            o.iter_mut().for_each(|o| *o *= inv);
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(
            res.apply_op2_no_bwd(&grad.contiguous()?, &SoftmaxGrad)?,
        ))
    }
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "fused-softmax-last-dim-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (y, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let dx = rows2(y, g, last_dim(l1)?, |y, g, o| {
            let dot: f32 = y.iter().zip(g).map(|(a, b)| a * b).sum();
            for ((o, &yv), &gv) in o.iter_mut().zip(y).zip(g) {
                *o = yv * (gv - dot);
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

struct Normalize(f32);
struct NormalizeGrad(f32);

/// Mean and 1/σ of a row (biased variance, as layer norm).
fn moments(a: &[f32], eps: f32) -> (f32, f32) {
    let n = a.len() as f32;
    let mean = a.iter().sum::<f32>() / n;
    let var = a.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    (mean, 1.0 / (var + eps).sqrt())
}

impl CustomOp1 for Normalize {
    fn name(&self) -> &'static str {
        "fused-normalize-last-dim"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice(s, l)?;
        let eps = self.0;
        let y = rows1(x, last_dim(l)?, |a, o| {
            let (mean, inv) = moments(a, eps);
            for (o, &v) in o.iter_mut().zip(a) {
                *o = (v - mean) * inv;
            }
        });
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(
            &grad.contiguous()?,
            &NormalizeGrad(self.0),
        )?))
    }
}

impl CustomOp2 for NormalizeGrad {
    fn name(&self) -> &'static str {
        "fused-normalize-last-dim-grad"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, g) = (slice(s1, l1)?, slice(s2, l2)?);
        let eps = self.0;
        let dx = rows2(x, g, last_dim(l1)?, |a, g, o| {
            let n = a.len() as f32;
            let (mean, inv) = moments(a, eps);
            let (mut mg, mut mgx) = (0f32, 0f32);
            for (&v, &gv) in a.iter().zip(g) {
                mg += gv;
                mgx += gv * (v - mean) * inv;
            }
            let (mg, mgx) = (mg / n, mgx / n);
            for ((o, &v), &gv) in o.iter_mut().zip(a).zip(g) {
                *o = (gv - mg - (v - mean) * inv * mgx) * inv;
            }
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// GELU (tanh form), fused on the CPU.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Gelu)
}

/// Softmax over the last dimension, fused on the CPU.
pub fn softmax_last_dim(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

/// `(x - mean) / sqrt(var + eps)` over the last dimension, fused on the CPU.
pub fn normalize_last_dim(x: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Normalize(eps))
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    fn input(shape: (usize, usize, usize), seed: u32) -> Var {
        let n = shape.0 * shape.1 * shape.2;
        let v: Vec<f32> = (0..n as u32)
            .map(|i| {
                ((i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32
                    / (1u32 << 24) as f32)
                    * 6.0
                    - 3.0
            })
            .collect();
        Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) {
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "element {i}: {x} vs {y}"
            );
        }
    }

    /// Value and gradient of `sum(op(x) * w)` (a non-uniform upstream gradient).
    fn check(
        fused: impl Fn(&Tensor) -> Result<Tensor>,
        reference: impl Fn(&Tensor) -> Result<Tensor>,
    ) {
        let x = input((3, 5, 37), 7);
        let w = input((3, 5, 37), 99).as_tensor().detach();
        let (yf, yr) = (
            fused(x.as_tensor()).unwrap(),
            reference(x.as_tensor()).unwrap(),
        );
        close(&yf, &yr, 1e-5);
        let gf = (yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (yr * &w).unwrap().sum_all().unwrap().backward().unwrap();
        close(
            gf.get(x.as_tensor()).unwrap(),
            gr.get(x.as_tensor()).unwrap(),
            1e-4,
        );
    }

    #[test]
    fn fused_ops_match_the_primitive_ops_forward_and_backward() {
        check(gelu, |x| x.gelu());
        check(softmax_last_dim, crate::model::softmax);
        check(
            |x| normalize_last_dim(x, 1e-5),
            |x| {
                let mean = x.mean_keepdim(D::Minus1)?;
                let c = x.broadcast_sub(&mean)?;
                let var = c.sqr()?.mean_keepdim(D::Minus1)?;
                c.broadcast_div(&(var + 1e-5)?.sqrt()?)
            },
        );
    }
}
