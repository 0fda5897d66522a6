//! The `gpt` family: `gpt:vocab=V,context=T,layers=L,width=D,heads=H`, token
//! and position embeddings, `L` pre-norm blocks of causal self-attention and
//! an MLP (`4·D` hidden, GELU with the tanh approximation), a final layer
//! norm (eps `1e-5`) and an untied LM head without bias. The attention's
//! `qkv` output holds the query in columns `0..D`, the key in `D..2D` and the
//! value in `2D..3D`; head `h` uses columns `h·D/H..(h+1)·D/H` of each, and
//! scores are scaled by `1/√(D/H)`. It does language modelling.

use std::fmt;

use super::{ArchError, DIM_MAX, Family, LAYERS_MAX, Spec, TensorSpec, dim, number};
use crate::spec::Task;

/// The epsilon of every layer norm in the `gpt` family.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// A decoder-only transformer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptSpec {
    /// Vocabulary size.
    pub vocab: u32,
    /// Context length (positions).
    pub context: u32,
    /// Number of blocks.
    pub layers: u32,
    /// Model width.
    pub width: u32,
    /// Attention heads; must divide `width`.
    pub heads: u32,
}

impl GptSpec {
    /// The MLP's hidden width.
    pub fn mlp_width(&self) -> u32 {
        4 * self.width
    }
}

impl Spec for GptSpec {
    const FAMILY: Family = Family::Gpt;
    const TASKS: &'static [Task] = &[Task::LanguageModel];

    fn parse(rest: &str, syntax: &dyn Fn() -> ArchError) -> Result<GptSpec, ArchError> {
        let keys = ["vocab", "context", "layers", "width", "heads"];
        let parts: Vec<&str> = rest.split(',').collect();
        if parts.len() != keys.len() {
            return Err(syntax());
        }
        let mut values = [0u32; 5];
        for ((part, key), value) in parts.iter().zip(keys).zip(values.iter_mut()) {
            let (k, v) = part.split_once('=').ok_or_else(syntax)?;
            if k != key {
                return Err(syntax());
            }
            let max = if key == "layers" { LAYERS_MAX } else { DIM_MAX };
            *value = dim(key, number(v, syntax)?, max)?;
        }
        let [vocab, context, layers, width, heads] = values;
        if width % heads != 0 {
            return Err(ArchError::Heads { width, heads });
        }
        Ok(GptSpec {
            vocab,
            context,
            layers,
            width,
            heads,
        })
    }

    fn tensors(&self) -> Vec<TensorSpec> {
        let (d, h) = (self.width, self.mlp_width());
        let mut out = vec![
            TensorSpec::f32("tok_emb.weight".into(), &[self.vocab, d]),
            TensorSpec::f32("pos_emb.weight".into(), &[self.context, d]),
        ];
        for i in 0..self.layers {
            let p = format!("blocks.{i}");
            out.push(TensorSpec::f32(format!("{p}.ln1.weight"), &[d]));
            out.push(TensorSpec::f32(format!("{p}.ln1.bias"), &[d]));
            out.push(TensorSpec::f32(format!("{p}.attn.qkv.weight"), &[3 * d, d]));
            out.push(TensorSpec::f32(format!("{p}.attn.qkv.bias"), &[3 * d]));
            out.push(TensorSpec::f32(format!("{p}.attn.proj.weight"), &[d, d]));
            out.push(TensorSpec::f32(format!("{p}.attn.proj.bias"), &[d]));
            out.push(TensorSpec::f32(format!("{p}.ln2.weight"), &[d]));
            out.push(TensorSpec::f32(format!("{p}.ln2.bias"), &[d]));
            out.push(TensorSpec::f32(format!("{p}.mlp.fc.weight"), &[h, d]));
            out.push(TensorSpec::f32(format!("{p}.mlp.fc.bias"), &[h]));
            out.push(TensorSpec::f32(format!("{p}.mlp.proj.weight"), &[d, h]));
            out.push(TensorSpec::f32(format!("{p}.mlp.proj.bias"), &[d]));
        }
        out.push(TensorSpec::f32("ln_f.weight".into(), &[d]));
        out.push(TensorSpec::f32("ln_f.bias".into(), &[d]));
        out.push(TensorSpec::f32("head.weight".into(), &[self.vocab, d]));
        out
    }
}

impl fmt::Display for GptSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gpt:vocab={},context={},layers={},width={},heads={}",
            self.vocab, self.context, self.layers, self.width, self.heads
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::Architecture;

    #[test]
    fn parameter_counts_match_hand_counts() {
        let gpt: Architecture = "gpt:vocab=65,context=64,layers=2,width=64,heads=4"
            .parse()
            .unwrap();
        let (v, t, d) = (65u64, 64u64, 64u64);
        let block = 2 * d
            + (3 * d * d + 3 * d)
            + (d * d + d)
            + 2 * d
            + (4 * d * d + 4 * d)
            + (4 * d * d + d);
        assert_eq!(
            gpt.parameter_count(),
            v * d + t * d + 2 * block + 2 * d + v * d
        );
        assert_eq!(gpt.tensors().len(), 2 + 2 * 12 + 3);
    }
}
