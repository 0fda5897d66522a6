//! Element-wise fused ops: GELU (tanh form) and a linear layer's bias add.

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor, bail};

use super::{add_assign, last_dim, row_sums, rows1, rows2, slice};

const GELU_K: f32 = 0.797_884_6; // sqrt(2/pi)
const GELU_C: f32 = 0.044_715;

/// tanh as a rational function (the one Eigen uses for f32: within a few
/// ulp on the clamped range, where tanh is ±1 in f32 beyond it). glibc's
/// `tanhf` goes through `expm1f` one value at a time; this vectorises, and
/// was a sixth of a GPT training step.
fn tanh(x: f32) -> f32 {
    let x = x.clamp(-7.905_311, 7.905_311);
    let x2 = x * x;
    let p = x2 * -2.760_768_5e-16 + 2.000_188e-13;
    let p = x2 * p - 8.604_672e-11;
    let p = x2 * p + 5.122_297e-8;
    let p = x2 * p + 1.485_722_4e-5;
    let p = x2 * p + 6.372_619_3e-4;
    let p = x * (x2 * p + 4.893_524_6e-3);
    let q = x2 * 1.198_258_4e-6 + 1.185_347e-4;
    let q = x2 * q + 2.268_434_6e-3;
    let q = x2 * q + 4.893_525e-3;
    p / q
}

/// GELU (tanh form) of every element.
pub(super) fn gelu(x: &[f32]) -> Vec<f32> {
    rows1(x, x.len().clamp(1, 4096), |a, o| {
        for (o, &v) in o.iter_mut().zip(a) {
            *o = 0.5 * v * (1.0 + tanh(GELU_K * (v + GELU_C * v * v * v)));
        }
    })
}

/// The gradient through GELU at `x` of the upstream gradient `g`.
pub(super) fn gelu_grad(x: &[f32], g: &[f32]) -> Vec<f32> {
    rows2(x, g, x.len().clamp(1, 4096), |a, b, o| {
        for ((o, &v), &gv) in o.iter_mut().zip(a).zip(b) {
            let t = tanh(GELU_K * (v + GELU_C * v * v * v));
            let du = GELU_K * (1.0 + 3.0 * GELU_C * v * v);
            *o = gv * (0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * du);
        }
    })
}

/// Sums of the columns of rows of `n` (a bias's gradient).
pub(super) fn column_sums(g: &[f32], n: usize) -> Vec<f32> {
    row_sums(g, g, n, n, |a, _, s| add_assign(s, a))
}

pub(super) struct Gelu;
struct GeluGrad;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "fused-gelu-tanh"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        Ok((CpuStorage::F32(gelu(slice(s, l)?)), l.shape().clone()))
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
        Ok((CpuStorage::F32(gelu_grad(x, g)), l1.shape().clone()))
    }
}

pub(super) struct BiasAdd;
struct ColumnSums;

impl CustomOp2 for BiasAdd {
    fn name(&self) -> &'static str {
        "fused-bias-add"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (x, b) = (slice(s1, l1)?, slice(s2, l2)?);
        let n = last_dim(l1)?;
        if l2.dims() != [n] {
            bail!("bias {:?} does not fit rows of {n}", l2.dims());
        }
        let y = rows1(x, n, |a, o| {
            o.copy_from_slice(a);
            add_assign(o, b);
        });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
    fn bwd(
        &self,
        _x: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let db = grad.apply_op1_no_bwd(&ColumnSums)?;
        Ok((Some(grad), Some(db)))
    }
}

impl CustomOp1 for ColumnSums {
    fn name(&self) -> &'static str {
        "fused-column-sums"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let n = last_dim(l)?;
        Ok((
            CpuStorage::F32(column_sums(slice(s, l)?, n)),
            Shape::from(n),
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rational_tanh_is_within_a_few_ulp_of_libm() {
        let mut worst = 0f32;
        for i in -200_000..=200_000 {
            let x = i as f32 * 1e-4;
            let (a, b) = (super::tanh(x), x.tanh());
            worst = worst.max((a - b).abs() / b.abs().max(f32::MIN_POSITIVE));
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(super::tanh(40.0), 1.0);
        assert_eq!(super::tanh(-40.0), -1.0);
    }
}
