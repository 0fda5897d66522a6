//! Fused CPU ops with their own backward passes, for training's hot spots.
//!
//! Built from primitive candle ops, a GELU, a layer norm or one attention
//! head takes a chain of 5–15 tensor ops forward and more backward, each a
//! pass over memory and an allocation, and a bias or gain broadcast over rows
//! comes back as a reduction over non-last dimensions, candle's slowest path.
//! These do each in one or two passes per direction, with the backward as
//! further custom ops (so it allocates once per gradient). Same formulas as
//! the primitive versions and the evaluator (GELU's tanh form, biased
//! variance, causal softmax attention); the tests hold values and gradients
//! to the primitive ops. On other devices the callers use the primitive ops.
//!
//! Reductions over rows sum fixed blocks of rows in order, so results do not
//! depend on the number of threads.

mod adamw;
mod attention;
mod gpt;
mod matmul;
mod norm;
mod pointwise;

use candle_core::{CpuStorage, Layout, Result, Tensor, bail};
use rayon::prelude::*;

pub use adamw::{AdamWStep, adamw_update};
pub use gpt::gpt_loss_and_grads;

/// Rows shorter than this in all are done on one thread.
const PAR_MIN: usize = 16 * 1024;

/// Rows per block of a reduction over rows (fixed, for determinism).
const ROW_BLOCK: usize = 64;

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

/// Sums over rows of `n`: `acc(x_row, y_row, sums)` adds one row's terms into
/// `sums` (`width` wide). Blocks of [`ROW_BLOCK`] rows are summed on any
/// thread, then the block sums in order.
fn row_sums(
    x: &[f32],
    y: &[f32],
    n: usize,
    width: usize,
    acc: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> Vec<f32> {
    let block = |(a, b): (&[f32], &[f32])| {
        let mut s = vec![0f32; width];
        for (ra, rb) in a.chunks(n).zip(b.chunks(n)) {
            acc(ra, rb, &mut s);
        }
        s
    };
    let partial: Vec<Vec<f32>> = if x.len() >= PAR_MIN {
        x.par_chunks(n * ROW_BLOCK)
            .zip(y.par_chunks(n * ROW_BLOCK))
            .map(block)
            .collect()
    } else {
        x.chunks(n * ROW_BLOCK)
            .zip(y.chunks(n * ROW_BLOCK))
            .map(block)
            .collect()
    };
    let mut total = vec![0f32; width];
    for p in partial {
        add_assign(&mut total, &p);
    }
    total
}

/// `y += x`.
fn add_assign(y: &mut [f32], x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += x);
}

/// `y += a·x`.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// A dot product in eight lanes, so it vectorises (a single running sum
/// would pin the order of additions and keep it scalar).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (xa, xb) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(xa).zip(xb) {
            *s += x * y;
        }
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// GELU (tanh form), fused on the CPU.
pub fn gelu(x: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(pointwise::Gelu)
}

/// `x + bias` over the rows of `x` (`[.., n]` and `[n]`), fused on the CPU:
/// the bias gradient is one pass of column sums.
pub fn bias_add(x: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.contiguous()?
        .apply_op2(&bias.contiguous()?, pointwise::BiasAdd)
}

/// Layer norm over the last dimension with gain `w` and bias `b`, fused on
/// the CPU.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<Tensor> {
    x.contiguous()?
        .apply_op3(&w.contiguous()?, &b.contiguous()?, norm::LayerNorm(eps))
}

/// Causal multi-head self-attention on `qkv` (`[b, t, 3·d]`: queries, keys,
/// values, each `heads` heads wide) to `[b, t, d]`, fused on the CPU.
pub fn causal_attention(qkv: &Tensor, heads: usize) -> Result<Tensor> {
    qkv.contiguous()?
        .apply_op1(attention::CausalAttention { heads })
}

#[cfg(test)]
mod tests {
    use candle_core::{D, Device, Var};

    use super::*;

    pub(super) fn input(shape: &[usize], seed: u32) -> Var {
        let n: usize = shape.iter().product();
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

    fn close(what: &str, a: &Tensor, b: &Tensor, tol: f32) {
        assert_eq!(a.dims(), b.dims(), "{what}: shapes");
        let (a, b) = (
            a.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            b.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        );
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}, element {i}: {x} vs {y}"
            );
        }
    }

    /// Values of `fused(vars)` and `reference(vars)`, and the gradients of
    /// `sum(op(vars) * w)` (a non-uniform upstream gradient) for every var.
    fn check(
        what: &str,
        vars: &[Var],
        fused: impl Fn(&[Tensor]) -> Result<Tensor>,
        reference: impl Fn(&[Tensor]) -> Result<Tensor>,
    ) {
        let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let (yf, yr) = (fused(&ts).unwrap(), reference(&ts).unwrap());
        close(what, &yf, &yr, 1e-5);
        let w = input(yr.dims(), 99).as_tensor().detach();
        let gf = (yf * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let gr = (yr * &w).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, t) in ts.iter().enumerate() {
            let (a, b) = (gf.get(t), gr.get(t));
            let b = b.unwrap_or_else(|| panic!("{what}: the reference has no gradient {i}"));
            let a = a.unwrap_or_else(|| panic!("{what}: no gradient for input {i}"));
            close(&format!("{what}, gradient {i}"), a, b, 1e-4);
        }
    }

    #[test]
    fn gelu_matches_the_primitive_op() {
        check(
            "gelu",
            &[input(&[3, 5, 37], 7)],
            |x| gelu(&x[0]),
            |x| x[0].gelu(),
        );
    }

    #[test]
    fn bias_add_matches_a_broadcast_add() {
        check(
            "bias add",
            &[input(&[3, 70, 37], 7), input(&[37], 8)],
            |x| bias_add(&x[0], &x[1]),
            |x| x[0].broadcast_add(&x[1]),
        );
    }

    #[test]
    fn layer_norm_matches_the_primitive_ops() {
        check(
            "layer norm",
            &[input(&[3, 70, 37], 7), input(&[37], 8), input(&[37], 9)],
            |x| layer_norm(&x[0], &x[1], &x[2], 1e-5),
            |x| {
                let mean = x[0].mean_keepdim(D::Minus1)?;
                let c = x[0].broadcast_sub(&mean)?;
                let var = c.sqr()?.mean_keepdim(D::Minus1)?;
                c.broadcast_div(&(var + 1e-5)?.sqrt()?)?
                    .broadcast_mul(&x[1])?
                    .broadcast_add(&x[2])
            },
        );
    }

    #[test]
    fn causal_attention_matches_the_primitive_ops() {
        let (b, t, heads, dh) = (3, 11, 4, 12);
        let d = heads * dh;
        check(
            "attention",
            &[input(&[b, t, 3 * d], 7)],
            |x| causal_attention(&x[0], heads),
            |x| crate::model::attention(&x[0], heads),
        );
    }

    #[test]
    fn row_sums_do_not_depend_on_the_thread_count() {
        let x = input(&[300, 129], 3).as_tensor().flatten_all().unwrap();
        let x = x.to_vec1::<f32>().unwrap();
        let sums = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| row_sums(&x, &x, 129, 129, |a, _, s| add_assign(s, a)))
        };
        let one = sums(1);
        assert_eq!(one, sums(3));
        let direct: Vec<f32> = (0..129)
            .map(|c| (0..300).map(|r| x[r * 129 + c]).sum())
            .collect();
        for (a, b) in one.iter().zip(&direct) {
            assert!((a - b).abs() <= 1e-3 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }

    #[test]
    fn dot_matches_a_plain_sum() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5 - 3.0).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.25).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-3);
    }
}
