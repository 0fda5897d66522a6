//! A whole GPT training step by hand on the CPU: the forward pass keeps each
//! layer's activations, the backward pass walks them in reverse, and no
//! gradient tape is built.
//!
//! candle's tape allocates a zeroed gradient for every edge of the graph and
//! adds into it, copies transposed operands, and runs residual adds on the
//! calling thread; here every weight gradient is one product (`gᵀ·x`, straight
//! into `[out, in]`), biases fold into their products, and the residual
//! stream's gradient is summed in place. Same formulas as `model` (pre-norm
//! blocks, causal attention, GELU tanh, untied head, mean cross-entropy); a
//! test holds the loss and every gradient to candle's autograd of the model.

use std::collections::BTreeMap;

use bounties::arch::{GptSpec, LAYER_NORM_EPS};
use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, bail};
use rayon::prelude::*;

use super::matmul::{Mat, matmul};
use super::{add_assign, attention, norm, pointwise};
use crate::model::Params;

/// One block's forward values that its backward pass reads.
struct Block {
    /// The residual stream coming in.
    x: Vec<f32>,
    h1: Vec<f32>,
    qkv: Vec<f32>,
    /// Attention's probabilities and output.
    probs: Vec<f32>,
    att: Vec<f32>,
    /// The residual stream after attention.
    x_mid: Vec<f32>,
    h2: Vec<f32>,
    /// The MLP's pre-activation and activation.
    f: Vec<f32>,
    act: Vec<f32>,
}

/// Rows of `x` (`inputs` wide) times `Wᵀ` (`w` is `[outputs, inputs]`) plus
/// the bias, written to `out`, or added to it when `accumulate` (`out` then
/// holds the residual stream).
fn linear(
    out: &mut [f32],
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    inputs: usize,
    accumulate: bool,
) {
    let outputs = w.len() / inputs;
    if let Some(b) = b {
        for row in out.chunks_mut(outputs) {
            if accumulate {
                add_assign(row, b);
            } else {
                row.copy_from_slice(b);
            }
        }
    }
    let rows = x.len() / inputs;
    matmul(
        out,
        Mat::new(x, rows, inputs),
        Mat::new(w, outputs, inputs).t(),
        accumulate || b.is_some(),
    );
}

/// The weight's gradient `gᵀ·x` (`[outputs, inputs]`) from the output's
/// gradient `g` and the layer's input `x`.
fn weight_grad(g: &[f32], x: &[f32], outputs: usize, inputs: usize) -> Vec<f32> {
    let rows = g.len() / outputs;
    let mut dw = vec![0f32; outputs * inputs];
    matmul(
        &mut dw,
        Mat::new(g, rows, outputs).t(),
        Mat::new(x, rows, inputs),
        false,
    );
    dw
}

/// `g·W`: the input's gradient of a linear layer (`w` is `[outputs, inputs]`).
fn input_grad(g: &[f32], w: &[f32], inputs: usize) -> Vec<f32> {
    let outputs = w.len() / inputs;
    let rows = g.len() / outputs;
    let mut dx = vec![0f32; rows * inputs];
    matmul(
        &mut dx,
        Mat::new(g, rows, outputs),
        Mat::new(w, outputs, inputs),
        false,
    );
    dx
}

/// Mean cross-entropy of the rows of `logits` against `targets`; leaves the
/// gradient of that mean in `logits`. Row losses are summed in order.
fn cross_entropy(logits: &mut [f32], targets: &[u32], vocab: usize) -> f32 {
    let scale = 1.0 / targets.len() as f32;
    let losses: Vec<f32> = logits
        .par_chunks_mut(vocab)
        .zip(targets.par_iter())
        .map(|(row, &y)| {
            let y = y as usize;
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
            // The target's shifted logit is read before exponentiating: its
            // exp may underflow to 0, and ln(0) would make the loss infinite.
            let target = row[y] - max;
            let mut sum = 0f32;
            for v in row.iter_mut() {
                *v = (*v - max).exp();
                sum += *v;
            }
            let loss = sum.ln() - target;
            let inv = scale / sum;
            row.iter_mut().for_each(|v| *v *= inv);
            row[y] -= scale;
            loss
        })
        .collect();
    losses.iter().sum::<f32>() * scale
}

/// The biased linear layer `prefix`'s weight and bias gradients into
/// `grads`, from the output's gradient `g` and the layer's input `x`; returns
/// the input's gradient.
fn linear_grads<'w>(
    grads: &mut BTreeMap<String, Vec<f32>>,
    weights: impl Fn(&str) -> &'w [f32],
    prefix: &str,
    x: &[f32],
    g: &[f32],
    inputs: usize,
) -> Vec<f32> {
    let w = weights(&format!("{prefix}.weight"));
    let outputs = w.len() / inputs;
    grads.insert(
        format!("{prefix}.weight"),
        weight_grad(g, x, outputs, inputs),
    );
    grads.insert(format!("{prefix}.bias"), pointwise::column_sums(g, outputs));
    input_grad(g, w, inputs)
}

/// The layer norm's gain and bias gradients into `grads`.
fn norm_grads(
    grads: &mut BTreeMap<String, Vec<f32>>,
    prefix: &str,
    x: &[f32],
    g: &[f32],
    d: usize,
) {
    let mut both = norm::grad_params(x, g, d, LAYER_NORM_EPS);
    grads.insert(format!("{prefix}.bias"), both.split_off(d));
    grads.insert(format!("{prefix}.weight"), both);
}

/// The mean cross-entropy of next tokens `targets` (`[b, t]`) after `ids`
/// (`[b, t]`), and the gradient of every parameter, keyed by its `Var`.
pub fn gpt_loss_and_grads(
    params: &Params,
    spec: &GptSpec,
    ids: &Tensor,
    targets: &Tensor,
) -> Result<(f32, GradStore)> {
    let (b, t) = ids.dims2()?;
    let (d, heads, vocab) = (
        spec.width as usize,
        spec.heads as usize,
        spec.vocab as usize,
    );
    if targets.dims() != [b, t] || t == 0 || t > spec.context as usize {
        bail!(
            "a gpt step takes [batch, ≤ {}] ids and targets, not {:?} and {:?}",
            spec.context,
            ids.dims(),
            targets.dims()
        );
    }
    let ids = ids.flatten_all()?.to_vec1::<u32>()?;
    let targets = targets.flatten_all()?.to_vec1::<u32>()?;
    if let Some(bad) = ids.iter().chain(&targets).find(|&&i| i as usize >= vocab) {
        bail!("token {bad} is outside the vocabulary of {vocab}");
    }
    let (names, vars) = (params.names(), params.vars());
    let weights = names
        .iter()
        .zip(&vars)
        .map(|(name, var)| Ok((*name, var.as_tensor().flatten_all()?.to_vec1::<f32>()?)))
        .collect::<Result<BTreeMap<&str, Vec<f32>>>>()?;
    let p = |name: &str| -> &[f32] {
        weights
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} exists by construction"))
    };
    let eps = LAYER_NORM_EPS;
    let n = b * t;

    // Forward, keeping what the backward pass reads.
    let (tok, pos) = (p("tok_emb.weight"), p("pos_emb.weight"));
    let mut x = vec![0f32; n * d];
    for (r, row) in x.chunks_mut(d).enumerate() {
        row.copy_from_slice(&tok[ids[r] as usize * d..][..d]);
        add_assign(row, &pos[(r % t) * d..][..d]);
    }
    let mut blocks = Vec::with_capacity(spec.layers as usize);
    for l in 0..spec.layers {
        let w = |s: &str| p(&format!("blocks.{l}.{s}"));
        // The biased linear layer `layer` of this block.
        let dense = |out: &mut [f32], x: &[f32], layer: &str, inputs: usize, accumulate: bool| {
            let (weight, bias) = (w(&format!("{layer}.weight")), w(&format!("{layer}.bias")));
            linear(out, x, weight, Some(bias), inputs, accumulate);
        };
        let h1 = norm::forward(&x, w("ln1.weight"), w("ln1.bias"), eps);
        let mut qkv = vec![0f32; n * 3 * d];
        dense(&mut qkv, &h1, "attn.qkv", d, false);
        let (att, probs) = attention::forward(&qkv, t, d, heads);
        let mut x_mid = x.clone();
        dense(&mut x_mid, &att, "attn.proj", d, true);
        let h2 = norm::forward(&x_mid, w("ln2.weight"), w("ln2.bias"), eps);
        let mut f = vec![0f32; n * 4 * d];
        dense(&mut f, &h2, "mlp.fc", d, false);
        let act = pointwise::gelu(&f);
        let mut x_next = x_mid.clone();
        dense(&mut x_next, &act, "mlp.proj", 4 * d, true);
        blocks.push(Block {
            x,
            h1,
            qkv,
            probs,
            att,
            x_mid,
            h2,
            f,
            act,
        });
        x = x_next;
    }
    let hf = norm::forward(&x, p("ln_f.weight"), p("ln_f.bias"), eps);
    let mut logits = vec![0f32; n * vocab];
    linear(&mut logits, &hf, p("head.weight"), None, d, false);
    let loss = cross_entropy(&mut logits, &targets, vocab);

    // Backward: `dx` is the residual stream's gradient.
    let mut grads = BTreeMap::new();
    let dlogits = logits;
    grads.insert(
        "head.weight".to_string(),
        weight_grad(&dlogits, &hf, vocab, d),
    );
    let dhf = input_grad(&dlogits, p("head.weight"), d);
    let mut dx = norm::grad_input(&x, &dhf, p("ln_f.weight"), eps);
    norm_grads(&mut grads, "ln_f", &x, &dhf, d);
    for (l, a) in blocks.iter().enumerate().rev() {
        let name = |s: &str| format!("blocks.{l}.{s}");
        let w = |s: &str| p(&name(s));
        let dact = linear_grads(&mut grads, p, &name("mlp.proj"), &a.act, &dx, 4 * d);
        let df = pointwise::gelu_grad(&a.f, &dact);
        let dh2 = linear_grads(&mut grads, p, &name("mlp.fc"), &a.h2, &df, d);
        add_assign(
            &mut dx,
            &norm::grad_input(&a.x_mid, &dh2, w("ln2.weight"), eps),
        );
        norm_grads(&mut grads, &name("ln2"), &a.x_mid, &dh2, d);
        let datt = linear_grads(&mut grads, p, &name("attn.proj"), &a.att, &dx, d);
        let dqkv = attention::backward(&a.qkv, &a.probs, &datt, t, d, heads);
        let dh1 = linear_grads(&mut grads, p, &name("attn.qkv"), &a.h1, &dqkv, d);
        add_assign(&mut dx, &norm::grad_input(&a.x, &dh1, w("ln1.weight"), eps));
        norm_grads(&mut grads, &name("ln1"), &a.x, &dh1, d);
    }
    let mut dtok = vec![0f32; tok.len()];
    let mut dpos = vec![0f32; pos.len()];
    for (r, row) in dx.chunks(d).enumerate() {
        add_assign(&mut dtok[ids[r] as usize * d..][..d], row);
        add_assign(&mut dpos[(r % t) * d..][..d], row);
    }
    grads.insert("tok_emb.weight".to_string(), dtok);
    grads.insert("pos_emb.weight".to_string(), dpos);

    let mut store = GradStore::default();
    for (name, var) in names.iter().zip(&vars) {
        let g = grads
            .remove(*name)
            .unwrap_or_else(|| panic!("the backward pass covers {name}"));
        store.insert(
            var.as_tensor(),
            Tensor::from_vec(g, var.shape(), var.device())?,
        );
    }
    Ok((loss, store))
}

#[cfg(test)]
mod tests {
    use bounties::arch::Architecture;
    use candle_core::{D, Device};

    use super::*;

    /// A small seeded GPT (vocabulary 11, context 8, width 16, 2 heads).
    fn small_gpt(layers: u32) -> (Params, GptSpec) {
        let arch: Architecture = format!("gpt:vocab=11,context=8,layers={layers},width=16,heads=2")
            .parse()
            .unwrap();
        let Architecture::Gpt(spec) = &arch else {
            unreachable!()
        };
        let spec = spec.clone();
        (Params::init(&arch, "grads", &Device::Cpu).unwrap(), spec)
    }

    #[test]
    fn loss_and_every_gradient_match_candle_autograd() {
        let (params, spec) = small_gpt(2);
        let spec = &spec;
        let (b, t) = (3, 6);
        let seq = |k: u32| -> Vec<u32> { (0..b * t).map(|i| (i as u32 * 7 + k) % 11).collect() };
        let ids = Tensor::from_vec(seq(1), (b, t), &Device::Cpu).unwrap();
        let targets = Tensor::from_vec(seq(5), (b, t), &Device::Cpu).unwrap();

        let (loss, grads) = gpt_loss_and_grads(&params, spec, &ids, &targets).unwrap();

        let logits = params.forward(&ids).unwrap().reshape((b * t, 11)).unwrap();
        let logp = crate::model::log_softmax(&logits).unwrap();
        let nll = logp
            .gather(
                &targets.flatten_all().unwrap().unsqueeze(1).unwrap(),
                D::Minus1,
            )
            .unwrap()
            .neg()
            .unwrap()
            .mean_all()
            .unwrap();
        let expected = nll.to_scalar::<f32>().unwrap();
        assert!((loss - expected).abs() < 1e-5, "loss {loss} vs {expected}");
        let reference = nll.backward().unwrap();
        for (name, var) in params.names().into_iter().zip(params.vars()) {
            let got = grads.get(var.as_tensor()).unwrap();
            let want = reference.get(var.as_tensor()).unwrap();
            assert_eq!(got.dims(), want.dims(), "{name}");
            let got = got.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(
                scale > 0.0 || name.starts_with("pos_emb"),
                "{name}: no gradient"
            );
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * (1.0 + scale),
                    "{name}[{i}]: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn a_very_unlikely_target_has_a_finite_loss() {
        // exp(-200) underflows in f32; the loss is still the logit gap.
        let mut logits = vec![0.0, 200.0, 0.0, 200.0];
        let loss = cross_entropy(&mut logits, &[0, 1], 2);
        assert!((loss - 100.0).abs() < 1e-3, "{loss}");
        assert_eq!(logits, [-0.5, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn tokens_outside_the_vocabulary_are_an_error() {
        let (params, spec) = small_gpt(1);
        let ids = Tensor::from_vec(vec![1u32, 11], (1, 2), &Device::Cpu).unwrap();
        let err = gpt_loss_and_grads(&params, &spec, &ids, &ids).unwrap_err();
        assert!(err.to_string().contains("outside the vocabulary"), "{err}");
    }
}
