//! The `bert` family in candle: embeddings, post-norm encoder blocks of
//! bidirectional attention over each sequence's own tokens (a key mask hides
//! the padding of a batch), erf GELU, mean or `[CLS]` pooling, and the head.
//! Every op has a backward pass (layer norm: the fused CPU op or primitive
//! ops; softmax: primitive ops), so every tensor trains.

use bounties::arch::{Architecture, BERT_LAYER_NORM_EPS, BertSpec, Pooling};
use candle_core::{DType, Tensor};
use datasets::Dataset;

use super::{Family, ModelError, Params, softmax};

/// The token id of a position past its sequence's end in a batch: such
/// positions are masked out of attention and pooling.
pub const NO_TOKEN: u32 = u32::MAX;

impl Params {
    /// Logits `[b, classes]` for token ids `[b, t]` (`NO_TOKEN` after each
    /// sequence's end; every sequence at least one token).
    pub(super) fn forward_bert(&self, s: &BertSpec, ids: &Tensor) -> candle_core::Result<Tensor> {
        self.linear(&self.pooled(s, ids)?, "classifier", true)
    }

    /// A bert's sentence vectors `[b, width]` (what its head reads) for
    /// token ids `[b, t]` as [`Params::forward`] takes them.
    pub fn bert_pooled(&self, ids: &Tensor) -> Result<Tensor, ModelError> {
        match &self.arch {
            Architecture::Bert(s) => Ok(self.pooled(s, ids)?),
            other => Err(ModelError::File(format!(
                "bert_pooled needs a bert, this is {other}"
            ))),
        }
    }

    fn pooled(&self, s: &BertSpec, ids: &Tensor) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let (d, heads) = (s.width as usize, s.heads as usize);
        let present = ids.ne(NO_TOKEN)?;
        let mask = present.to_dtype(DType::F32)?;
        let ids = present.where_cond(ids, &ids.zeros_like()?)?;
        let word = self
            .get("embeddings.word_embeddings.weight")
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, d))?;
        let token_type = self
            .get("embeddings.token_type_embeddings.weight")
            .narrow(0, 0, 1)?;
        let position = self
            .get("embeddings.position_embeddings.weight")
            .narrow(0, 0, t)?;
        let x = word.broadcast_add(&token_type)?.broadcast_add(&position)?;
        let mut x = self.norm_eps(&x, "embeddings.LayerNorm", BERT_LAYER_NORM_EPS)?;
        // 0 for a real key, −∞ for padding: `[b, 1, 1, t]` over the scores.
        let key_bias = ((mask.clone() - 1.0)? * 1e30)?.reshape((b, 1, 1, t))?;
        for i in 0..s.layers {
            let p = format!("encoder.layer.{i}");
            let heads_of = |name: &str| -> candle_core::Result<Tensor> {
                self.linear(&x, &format!("{p}.attention.self.{name}"), true)?
                    .reshape((b, t, heads, d / heads))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let (q, k, v) = (heads_of("query")?, heads_of("key")?, heads_of("value")?);
            let scores = (q.matmul(&k.t()?)? / ((d / heads) as f64).sqrt())?;
            let att = softmax(&scores.broadcast_add(&key_bias)?)?
                .matmul(&v)?
                .transpose(1, 2)?
                .reshape((b, t, d))?;
            let a = (self.linear(&att, &format!("{p}.attention.output.dense"), true)? + &x)?;
            x = self.norm_eps(
                &a,
                &format!("{p}.attention.output.LayerNorm"),
                BERT_LAYER_NORM_EPS,
            )?;
            let h = self
                .linear(&x, &format!("{p}.intermediate.dense"), true)?
                .gelu_erf()?;
            let o = (self.linear(&h, &format!("{p}.output.dense"), true)? + &x)?;
            x = self.norm_eps(&o, &format!("{p}.output.LayerNorm"), BERT_LAYER_NORM_EPS)?;
        }
        match s.pool {
            Pooling::Mean => {
                let counts = mask.sum_keepdim(1)?;
                x.broadcast_mul(&mask.unsqueeze(2)?)?
                    .sum(1)?
                    .broadcast_div(&counts)
            }
            Pooling::Cls => self
                .linear(&x.narrow(1, 0, 1)?.squeeze(1)?, "pooler.dense", true)?
                .tanh(),
        }
    }
}

impl Family for BertSpec {
    fn forward(&self, params: &Params, x: &Tensor) -> candle_core::Result<Tensor> {
        params.forward_bert(self, x)
    }

    fn misfit(&self, arch: &Architecture, data: &Dataset) -> Option<String> {
        let b = self;
        let Some(sequences) = data.sequences() else {
            return Some(format!(
                "{arch} reads texts; the dataset holds features (pack texts with `bounty dataset pack --texts`)"
            ));
        };
        let classes = data.classes().unwrap_or(0);
        if u64::from(b.classes) != classes {
            return Some(format!(
                "{arch} has {} classes; the dataset needs {classes}",
                b.classes
            ));
        }
        let width = data.inputs.shape[1];
        if width > u64::from(b.positions) {
            return Some(format!(
                "the dataset's sequences of {width} exceed {arch}'s {} positions",
                b.positions
            ));
        }
        if let Some(id) = sequences.iter().flatten().find(|&&id| id >= b.vocab) {
            return Some(format!(
                "token id {id} is outside the model's vocabulary of {}",
                b.vocab
            ));
        }
        None
    }
}
