//! The `bert` family: a post-norm transformer encoder with a classification
//! head, in the Hugging Face `BertModel` tensor layout (so pretrained files
//! such as all-MiniLM-L6-v2 import by renaming nothing):
//! `bert:vocab=V,positions=P,types=T,layers=L,width=D,heads=H,ffn=F,classes=C,pool=mean|cls`.
//!
//! Embeddings `(word[id] + type[0]) + position[p]`, then a layer norm; each
//! block `x = LN(x + attn(x)·Wo)`, `x = LN(x + gelu_erf(x·Wi)·Wo2)` with
//! bidirectional attention over the sequence's own tokens (no padding is
//! ever attended to: a sequence runs at its own length); every layer norm's
//! eps is `1e-12`. The sentence vector is the mean of the last block's rows
//! (`pool=mean`, as sentence-transformers) or `tanh(pooler(row 0))`
//! (`pool=cls`, as `BertForSequenceClassification`), and the head
//! `classifier` maps it to `C` logits. It does classification.

use std::fmt;

use super::{ArchError, DIM_MAX, Family, LAYERS_MAX, Spec, TensorSpec, dim, number};
use crate::spec::Task;

/// The epsilon of every layer norm in the `bert` family (BERT's `1e-12`).
pub const BERT_LAYER_NORM_EPS: f32 = 1e-12;

/// How a sequence's rows become one vector for the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// The mean of every token's row, in order.
    Mean,
    /// `tanh(pooler.dense(row of the first token))`.
    Cls,
}

/// A BERT-style encoder with a classification head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BertSpec {
    /// Vocabulary size.
    pub vocab: u32,
    /// Position embeddings: the longest sequence it reads.
    pub positions: u32,
    /// Token-type embeddings (only type 0 is used).
    pub types: u32,
    /// Encoder blocks.
    pub layers: u32,
    /// Model width.
    pub width: u32,
    /// Attention heads; must divide `width`.
    pub heads: u32,
    /// The feed-forward layer's width.
    pub ffn: u32,
    /// Output classes of the head.
    pub classes: u32,
    /// How the sentence vector is formed.
    pub pool: Pooling,
}

/// The keys of the spec string, in their one order.
const KEYS: [&str; 9] = [
    "vocab",
    "positions",
    "types",
    "layers",
    "width",
    "heads",
    "ffn",
    "classes",
    "pool",
];

impl BertSpec {
    /// The tensors of the encoder (embeddings and blocks), without pooler or head.
    pub fn encoder_tensors(&self) -> Vec<TensorSpec> {
        let (d, f) = (self.width, self.ffn);
        let mut out = vec![
            TensorSpec::f32("embeddings.word_embeddings.weight".into(), &[self.vocab, d]),
            TensorSpec::f32(
                "embeddings.position_embeddings.weight".into(),
                &[self.positions, d],
            ),
            TensorSpec::f32(
                "embeddings.token_type_embeddings.weight".into(),
                &[self.types, d],
            ),
            TensorSpec::f32("embeddings.LayerNorm.weight".into(), &[d]),
            TensorSpec::f32("embeddings.LayerNorm.bias".into(), &[d]),
        ];
        for i in 0..self.layers {
            let p = format!("encoder.layer.{i}");
            for m in ["query", "key", "value"] {
                out.push(TensorSpec::f32(
                    format!("{p}.attention.self.{m}.weight"),
                    &[d, d],
                ));
                out.push(TensorSpec::f32(
                    format!("{p}.attention.self.{m}.bias"),
                    &[d],
                ));
            }
            out.push(TensorSpec::f32(
                format!("{p}.attention.output.dense.weight"),
                &[d, d],
            ));
            out.push(TensorSpec::f32(
                format!("{p}.attention.output.dense.bias"),
                &[d],
            ));
            out.push(TensorSpec::f32(
                format!("{p}.attention.output.LayerNorm.weight"),
                &[d],
            ));
            out.push(TensorSpec::f32(
                format!("{p}.attention.output.LayerNorm.bias"),
                &[d],
            ));
            out.push(TensorSpec::f32(
                format!("{p}.intermediate.dense.weight"),
                &[f, d],
            ));
            out.push(TensorSpec::f32(
                format!("{p}.intermediate.dense.bias"),
                &[f],
            ));
            out.push(TensorSpec::f32(format!("{p}.output.dense.weight"), &[d, f]));
            out.push(TensorSpec::f32(format!("{p}.output.dense.bias"), &[d]));
            out.push(TensorSpec::f32(
                format!("{p}.output.LayerNorm.weight"),
                &[d],
            ));
            out.push(TensorSpec::f32(format!("{p}.output.LayerNorm.bias"), &[d]));
        }
        out
    }

    /// The tensors after the encoder: the pooler (for `pool=cls`) and the head.
    pub fn head_tensors(&self) -> Vec<TensorSpec> {
        let d = self.width;
        let mut out = Vec::new();
        if self.pool == Pooling::Cls {
            out.push(TensorSpec::f32("pooler.dense.weight".into(), &[d, d]));
            out.push(TensorSpec::f32("pooler.dense.bias".into(), &[d]));
        }
        out.push(TensorSpec::f32(
            "classifier.weight".into(),
            &[self.classes, d],
        ));
        out.push(TensorSpec::f32("classifier.bias".into(), &[self.classes]));
        out
    }
}

impl Spec for BertSpec {
    const FAMILY: Family = Family::Bert;
    const TASKS: &'static [Task] = &[Task::Classification];

    fn parse(rest: &str, syntax: &dyn Fn() -> ArchError) -> Result<BertSpec, ArchError> {
        let parts: Vec<&str> = rest.split(',').collect();
        if parts.len() != KEYS.len() {
            return Err(syntax());
        }
        let mut values = [0u32; 8];
        let mut pool = None;
        for (part, key) in parts.iter().zip(KEYS) {
            let (k, v) = part.split_once('=').ok_or_else(syntax)?;
            if k != key {
                return Err(syntax());
            }
            if key == "pool" {
                pool = Some(match v {
                    "mean" => Pooling::Mean,
                    "cls" => Pooling::Cls,
                    _ => return Err(syntax()),
                });
                continue;
            }
            let i = KEYS.iter().position(|k| *k == key).expect("a key");
            let max = if key == "layers" { LAYERS_MAX } else { DIM_MAX };
            values[i] = dim(key, number(v, syntax)?, max)?;
        }
        let [vocab, positions, types, layers, width, heads, ffn, classes] = values;
        if width % heads != 0 {
            return Err(ArchError::Heads { width, heads });
        }
        Ok(BertSpec {
            vocab,
            positions,
            types,
            layers,
            width,
            heads,
            ffn,
            classes,
            pool: pool.ok_or_else(syntax)?,
        })
    }

    fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = self.encoder_tensors();
        out.extend(self.head_tensors());
        out
    }
}

impl fmt::Display for BertSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bert:vocab={},positions={},types={},layers={},width={},heads={},ffn={},classes={},pool={}",
            self.vocab,
            self.positions,
            self.types,
            self.layers,
            self.width,
            self.heads,
            self.ffn,
            self.classes,
            match self.pool {
                Pooling::Mean => "mean",
                Pooling::Cls => "cls",
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::Architecture;

    /// all-MiniLM-L6-v2 with a two-class head.
    const MINILM: &str = "bert:vocab=30522,positions=512,types=2,layers=6,width=384,heads=12,ffn=1536,classes=2,pool=mean";

    #[test]
    fn minilm_has_its_published_parameter_count() {
        let arch: Architecture = MINILM.parse().unwrap();
        // 22 565 376 in the encoder, plus the 2 × 384 + 2 head; with the
        // pooler, the model card's 22.7M (22 713 216).
        assert_eq!(arch.parameter_count(), 22_565_376 + 770);
        // 5 embedding tensors, 16 per block, the head's 2.
        assert_eq!(arch.tensors().len(), 5 + 6 * 16 + 2);
        let cls: Architecture = MINILM.replace("pool=mean", "pool=cls").parse().unwrap();
        assert_eq!(cls.parameter_count(), 22_713_216 + 770);
    }

    #[test]
    fn bert_specs_round_trip_and_refuse_variants() {
        let arch: Architecture = MINILM.parse().unwrap();
        assert_eq!(arch.to_string(), MINILM);
        for bad in [
            MINILM.replace("pool=mean", "pool=max"),
            MINILM.replace(",pool=mean", ""),
            MINILM.replace("heads=12", "heads=7"),
            MINILM.replace("classes=2", "classes=0"),
            MINILM.replace("vocab=30522,positions=512", "positions=512,vocab=30522"),
            format!("{MINILM},extra=1"),
        ] {
            assert!(bad.parse::<Architecture>().is_err(), "{bad:?} accepted");
        }
    }
}
