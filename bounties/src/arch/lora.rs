//! LoRA adapters on a `bert` base: `lora:rank=R,alpha=A,targets=T1+T2…`.
//!
//! An adapter file holds, in the Hugging Face PEFT layout, for every block
//! `i` and target `t` (the attention's `query`, `key`, `value`)
//! `base_model.model.encoder.layer.{i}.attention.self.{t}.lora_A.weight`
//! `[R, D]` and `….lora_B.weight` `[D, R]`, plus the whole head
//! (`base_model.model.classifier.*`, and `base_model.model.pooler.dense.*`
//! for `pool=cls`). It names its base by weights hash (`Base-Weights-Hash`);
//! the merged model's weight is `W + (A/R)·(B·A)` (docs/determinism.md fixes
//! the order). An adapter's identity binds its base: [`adapter_weights_hash`]
//! covers the adapter's tensors and the base's weights hash.

use std::fmt;

use super::{ArchError, BertSpec, TensorMismatch, TensorSpec, check_tensor_specs, dim, number};
use crate::ids::Hash32;
use crate::tensorfile::TensorInfo;
use crate::weights::{TensorRef, WeightsHashError, weights_hash};

/// The metadata tag of an adapter file naming its adapter spec.
pub const ADAPTER_TAG: &str = "Adapter";
/// The metadata tag of an adapter file naming its base's weights hash.
pub const BASE_WEIGHTS_TAG: &str = "Base-Weights-Hash";
/// The prefix PEFT puts before a wrapped model's tensor names.
pub const PEFT_PREFIX: &str = "base_model.model.";
/// The largest rank an adapter may have.
pub const RANK_MAX: u32 = 1024;

/// A projection LoRA adapts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// `attention.self.query`.
    Query,
    /// `attention.self.key`.
    Key,
    /// `attention.self.value`.
    Value,
}

impl Target {
    /// Every target, in their one order.
    pub const ALL: [Target; 3] = [Target::Query, Target::Key, Target::Value];

    /// The module's name (PEFT's `target_modules` entry).
    pub fn name(self) -> &'static str {
        match self {
            Target::Query => "query",
            Target::Key => "key",
            Target::Value => "value",
        }
    }

    /// The target named `s`.
    pub fn from_name(s: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == s)
    }

    /// The base tensor it adapts in block `layer` (without `.weight`).
    pub fn module(self, layer: u32) -> String {
        format!("encoder.layer.{layer}.attention.self.{}", self.name())
    }
}

/// A LoRA adapter's shape: rank, alpha and targets (sorted, each once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoraSpec {
    /// The rank `R` of every `A` and `B`.
    pub rank: u32,
    /// PEFT's `lora_alpha`: the update is scaled by `alpha / rank`.
    pub alpha: u32,
    /// The adapted projections.
    pub targets: Vec<Target>,
}

impl LoraSpec {
    /// The scale of the update, `f32(alpha) / f32(rank)`.
    pub fn scale(&self) -> f32 {
        self.alpha as f32 / self.rank as f32
    }

    /// The `A` and `B` tensors of `target` in block `layer`, named as in the file.
    pub fn pair(&self, layer: u32, target: Target) -> (String, String) {
        let m = target.module(layer);
        (
            format!("{PEFT_PREFIX}{m}.lora_A.weight"),
            format!("{PEFT_PREFIX}{m}.lora_B.weight"),
        )
    }

    /// Every tensor an adapter of `base` holds, in any order.
    pub fn tensors(&self, base: &BertSpec) -> Vec<TensorSpec> {
        let (r, d) = (self.rank, base.width);
        let mut out = Vec::new();
        for layer in 0..base.layers {
            for &t in &self.targets {
                let (a, b) = self.pair(layer, t);
                out.push(TensorSpec::f32(a, &[r, d]));
                out.push(TensorSpec::f32(b, &[d, r]));
            }
        }
        for t in base.head_tensors() {
            out.push(TensorSpec {
                name: format!("{PEFT_PREFIX}{}", t.name),
                ..t
            });
        }
        out
    }

    /// The parameters an adapter of `base` trains.
    pub fn trainable_parameters(&self, base: &BertSpec) -> u64 {
        self.tensors(base).iter().map(TensorSpec::elements).sum()
    }

    /// Check that a file's `tensors` (in name order) are exactly this
    /// adapter's on `base`: a tensor for a module it does not target is refused.
    pub fn check_tensors(
        &self,
        base: &BertSpec,
        tensors: &[TensorInfo],
    ) -> Result<(), TensorMismatch> {
        let mut specs = self.tensors(base);
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        check_tensor_specs(&specs, tensors)
    }

    /// The spec an `Adapter` tag names (`lora:…`), checked against `base`.
    pub fn from_tag(tag: &str, base: &BertSpec) -> Result<LoraSpec, ArchError> {
        let rest = tag.strip_prefix("lora:").ok_or_else(|| ArchError::Syntax {
            got: tag.chars().take(100).collect(),
        })?;
        LoraSpec::parse(rest, base)
    }

    /// The spec of `lora:…` (the part after `lora:`), checked against `base`.
    pub fn parse(s: &str, base: &BertSpec) -> Result<LoraSpec, ArchError> {
        let syntax = || ArchError::Syntax {
            got: format!("lora:{}", s.chars().take(100).collect::<String>()),
        };
        let parts: Vec<&str> = s.split(',').collect();
        let [rank, alpha, targets] = parts.as_slice() else {
            return Err(syntax());
        };
        let value = |part: &str, key: &str| -> Result<u64, ArchError> {
            let (k, v) = part.split_once('=').ok_or_else(syntax)?;
            if k != key {
                return Err(syntax());
            }
            number(v, &syntax)
        };
        let rank = dim("rank", value(rank, "rank")?, RANK_MAX.min(base.width))?;
        let alpha = dim("alpha", value(alpha, "alpha")?, u32::MAX >> 1)?;
        let names = targets.strip_prefix("targets=").ok_or_else(syntax)?;
        let targets: Vec<Target> = names
            .split('+')
            .map(|n| Target::from_name(n).ok_or_else(syntax))
            .collect::<Result<_, _>>()?;
        // One spelling: the targets in their order, each once.
        if targets.is_empty() || targets.windows(2).any(|w| w[0] >= w[1]) {
            return Err(syntax());
        }
        Ok(LoraSpec {
            rank,
            alpha,
            targets,
        })
    }
}

impl fmt::Display for LoraSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<&str> = self.targets.iter().map(|t| t.name()).collect();
        write!(
            f,
            "lora:rank={},alpha={},targets={}",
            self.rank,
            self.alpha,
            targets.join("+")
        )
    }
}

/// An adapter's identity: the weights hash of its tensors together with one
/// more, `Base-Weights-Hash` (U8 `[32]`, the base's hash), so that the same
/// adapter on another base is another model.
pub fn adapter_weights_hash<'a>(
    tensors: impl IntoIterator<Item = TensorRef<'a>>,
    base: &'a Hash32,
) -> Result<Hash32, WeightsHashError> {
    const SHAPE: [u64; 1] = [32];
    let base = TensorRef {
        name: BASE_WEIGHTS_TAG,
        dtype: "U8",
        shape: &SHAPE,
        data: base.as_bytes(),
    };
    weights_hash(tensors.into_iter().chain([base]))
}

/// A model file's identity: its weights hash, or for an adapter file (one
/// with an `Adapter` tag) [`adapter_weights_hash`] over its tensors and the
/// base its `Base-Weights-Hash` names. `None` for an adapter without a
/// well-formed base hash. (Who checks an adapter must check that base too.)
pub fn model_identity(file: &crate::tensorfile::TensorFile<'_>) -> Option<Hash32> {
    if !file.metadata.contains_key(ADAPTER_TAG) {
        return Some(file.weights_hash());
    }
    let base: Hash32 = file.metadata.get(BASE_WEIGHTS_TAG)?.parse().ok()?;
    let refs = file.tensors.iter().map(|t| TensorRef {
        name: &t.name,
        dtype: t.dtype.as_str(),
        shape: &t.shape,
        data: file.data(t),
    });
    adapter_weights_hash(refs, &base).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Architecture;

    fn minilm() -> BertSpec {
        let arch: Architecture = "bert:vocab=30522,positions=512,types=2,layers=6,width=384,heads=12,ffn=1536,classes=2,pool=mean"
            .parse()
            .unwrap();
        let Architecture::Bert(b) = arch else {
            panic!("a bert")
        };
        b
    }

    #[test]
    fn lora_specs_round_trip_and_count_their_parameters() {
        let base = minilm();
        let s = "rank=8,alpha=16,targets=query+value";
        let lora = LoraSpec::parse(s, &base).unwrap();
        assert_eq!(lora.to_string(), format!("lora:{s}"));
        assert_eq!(lora.scale(), 2.0);
        // 6 blocks × 2 targets × (8·384 + 384·8), plus the 2 × 384 + 2 head.
        assert_eq!(lora.trainable_parameters(&base), 6 * 2 * 2 * 8 * 384 + 770);
        let names: Vec<String> = lora.tensors(&base).into_iter().map(|t| t.name).collect();
        assert!(names.contains(
            &"base_model.model.encoder.layer.0.attention.self.query.lora_A.weight".to_owned()
        ));
        assert!(names.contains(&"base_model.model.classifier.weight".to_owned()));
        for bad in [
            "rank=0,alpha=16,targets=query",
            "rank=385,alpha=16,targets=query",
            "rank=8,alpha=16,targets=value+query",
            "rank=8,alpha=16,targets=query+query",
            "rank=8,alpha=16,targets=dense",
            "rank=8,alpha=16,targets=",
            "alpha=16,rank=8,targets=query",
            "rank=8,alpha=16",
        ] {
            assert!(LoraSpec::parse(bad, &base).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn an_adapters_hash_binds_its_base() {
        let data = [1u8, 2, 3, 4];
        let t = || TensorRef {
            name: "x",
            dtype: "F32",
            shape: &[1],
            data: &data,
        };
        let (a, b) = (Hash32([1; 32]), Hash32([2; 32]));
        let on_a = adapter_weights_hash([t()], &a).unwrap();
        assert_ne!(on_a, adapter_weights_hash([t()], &b).unwrap());
        assert_ne!(on_a, weights_hash([t()]).unwrap());
    }
}
