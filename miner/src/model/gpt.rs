//! The `gpt` family in candle: pre-norm blocks of causal attention and a
//! GELU MLP; fused CPU ops where they exist, primitive ops elsewhere.

use bounties::arch::{Architecture, GptSpec, LAYER_NORM_EPS};
use candle_core::{Device, Tensor};
use datasets::Dataset;

use super::{Family, Params, softmax};

impl Params {
    fn layer_norm(&self, x: &Tensor, prefix: &str) -> candle_core::Result<Tensor> {
        self.norm_eps(x, prefix, LAYER_NORM_EPS)
    }

    pub(super) fn forward_gpt(&self, g: &GptSpec, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let (d, heads) = (g.width as usize, g.heads as usize);
        let tok = self
            .get("tok_emb.weight")
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, d))?;
        let pos = self.get("pos_emb.weight").narrow(0, 0, t)?;
        let mut x = tok.broadcast_add(&pos)?;
        for i in 0..g.layers {
            let p = format!("blocks.{i}");
            let h = self.layer_norm(&x, &format!("{p}.ln1"))?;
            let qkv = self.linear(&h, &format!("{p}.attn.qkv"), true)?;
            let y = if qkv.device().is_cpu() {
                crate::fused::causal_attention(&qkv, heads)?
            } else {
                attention(&qkv, heads)?
            };
            x = (x + self.linear(&y, &format!("{p}.attn.proj"), true)?)?;
            let h = self.layer_norm(&x, &format!("{p}.ln2"))?;
            let f = self.linear(&h, &format!("{p}.mlp.fc"), true)?;
            let f = if f.device().is_cpu() {
                crate::fused::gelu(&f)?
            } else {
                f.gelu()?
            };
            x = (x + self.linear(&f, &format!("{p}.mlp.proj"), true)?)?;
        }
        let x = self.layer_norm(&x, "ln_f")?;
        self.linear(&x, "head", false)
    }
}

/// Causal multi-head self-attention from primitive ops: `[b, t, 3·d]`
/// queries, keys and values to `[b, t, d]`.
pub(crate) fn attention(qkv: &Tensor, heads: usize) -> candle_core::Result<Tensor> {
    let (b, t, d3) = qkv.dims3()?;
    let mask = causal_mask(t, qkv.device())?;
    let (d, dh) = (d3 / 3, d3 / 3 / heads);
    let split = |k: usize| -> candle_core::Result<Tensor> {
        qkv.narrow(2, k * d, d)?
            .reshape((b, t, heads, dh))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (split(0)?, split(1)?, split(2)?);
    let att = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?.broadcast_add(&mask)?;
    softmax(&att)?
        .matmul(&v)?
        .transpose(1, 2)?
        .reshape((b, t, d))
}

/// `[t, t]` with 0 on and below the diagonal and −∞ above it.
fn causal_mask(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..t * t)
        .map(|i| {
            if i % t > i / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_vec(values, (t, t), device)
}

impl Family for GptSpec {
    fn forward(&self, params: &Params, x: &Tensor) -> candle_core::Result<Tensor> {
        params.forward_gpt(self, x)
    }

    fn misfit(&self, arch: &Architecture, data: &Dataset) -> Option<String> {
        let g = self;
        let vocab = data.vocabulary().map_or(0, |v| v.len()) as u32;
        if g.vocab != vocab {
            return Some(format!(
                "{arch} has a vocabulary of {}; the dataset's is {vocab}",
                g.vocab
            ));
        }
        let t = data.inputs.shape[1];
        if t > u64::from(g.context) {
            return Some(format!(
                "the dataset's sequences of {t} exceed {arch}'s context"
            ));
        }
        None
    }
}
