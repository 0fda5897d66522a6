//! LoRA adapters: an adapter file checked against the base the caller names
//! (a bounty's, fetched by hash; never a base named inside the adapter),
//! merged into the base's weights in the contract's order, and loaded as a
//! model whose identity is the adapter's (its tensors and the base's hash).
//!
//! Merge, per adapted weight `W` (`[D, D]`) with `A` (`[R, D]`) and `B`
//! (`[D, R]`): `d = fma(B[o, k], A[k, i], d)` for `k = 0 … R−1` from `+0.0`,
//! then `W'[o, i] = fma(s, d, W[o, i])` with `s = f32(alpha) / f32(rank)`;
//! the head's tensors replace the base's.

use std::collections::BTreeMap;

use bounties::Hash32;
use bounties::arch::lora::{ADAPTER_TAG, BASE_WEIGHTS_TAG, LoraSpec, PEFT_PREFIX};
use bounties::arch::{ARCHITECTURE_TAG, Architecture, BertSpec, TensorSpec};
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};

use super::{Limits, Model, ModelError, check_specs, checked_file};
use crate::math;

/// Why an adapter was refused (besides the errors of any model file).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    /// The file has no `Adapter` tag, or its spec does not parse.
    #[error("the adapter's {ADAPTER_TAG} tag is missing or malformed: {0}")]
    Spec(String),
    /// The adapter was trained on another base.
    #[error("the adapter is for base {named}, the bounty's base is {base}")]
    OtherBase {
        /// What the adapter names (or `none`).
        named: String,
        /// The base given.
        base: Hash32,
    },
    /// The adapter's architecture is not the base's.
    #[error("the adapter's architecture {adapter} is not the base's {base}")]
    OtherArchitecture {
        /// The adapter's tag.
        adapter: String,
        /// The base's.
        base: String,
    },
    /// An adapter file read as a whole model.
    #[error(
        "this is a LoRA adapter: it is scored on its bounty's base (evaluator score --base BASE)"
    )]
    NeedsBase,
    /// The base is not a bert.
    #[error("LoRA adapters apply to a bert base; the base is {0}")]
    NotBert(String),
    /// A rank over the bounty's limit.
    #[error("the adapter's rank {rank} is over the bounty's limit {max}")]
    RankOverLimit {
        /// The adapter's rank.
        rank: u32,
        /// The limit.
        max: u32,
    },
    /// More trainable parameters than the bounty allows.
    #[error("the adapter trains {count} parameters, the bounty allows {max}")]
    TooManyTrainable {
        /// The adapter's count.
        count: u64,
        /// The limit.
        max: u64,
    },
}

/// What a bounty allows of an adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct AdapterLimits {
    /// The largest rank.
    pub max_rank: Option<u32>,
    /// The most trainable parameters (adapter tensors and head).
    pub max_trainable: Option<u64>,
}

impl From<bounties::spec::AdapterLimits> for AdapterLimits {
    fn from(l: bounties::spec::AdapterLimits) -> Self {
        AdapterLimits {
            max_rank: Some(l.max_rank),
            max_trainable: Some(l.max_trainable_parameters),
        }
    }
}

impl Model {
    /// Load `adapter` onto `base` (both files' bytes; `base` is the bounty's,
    /// checked as any model first). The model's `weights_hash` is the
    /// adapter's identity.
    pub fn from_adapter(
        base: &[u8],
        adapter: &[u8],
        limits: Limits,
        adapter_limits: AdapterLimits,
    ) -> Result<Model, ModelError> {
        // The base checked as any model file, but not loaded: only the
        // merged model is.
        let (base_file, base_arch) = checked_file(base, limits)?;
        let base_hash = base_file.weights_hash();
        let Architecture::Bert(spec) = &base_arch else {
            return Err(AdapterError::NotBert(base_arch.to_string()).into());
        };
        let file = TensorFile::parse(adapter)?;
        let named = file.metadata.get(BASE_WEIGHTS_TAG);
        if named.map(String::as_str) != Some(base_hash.to_hex().as_str()) {
            return Err(AdapterError::OtherBase {
                named: named.map_or("none".into(), |n| n.chars().take(64).collect()),
                base: base_hash,
            }
            .into());
        }
        let tag = file.metadata.get(ARCHITECTURE_TAG);
        if tag != Some(&base_arch.to_string()) {
            return Err(AdapterError::OtherArchitecture {
                adapter: tag.map_or("none".into(), |t| t.chars().take(200).collect()),
                base: base_arch.to_string(),
            }
            .into());
        }
        let lora = lora_spec(&file.metadata, spec)?;
        if let Some(max) = adapter_limits.max_rank
            && lora.rank > max
        {
            return Err(AdapterError::RankOverLimit {
                rank: lora.rank,
                max,
            }
            .into());
        }
        let count = lora.trainable_parameters(spec);
        if let Some(max) = adapter_limits.max_trainable
            && count > max
        {
            return Err(AdapterError::TooManyTrainable { count, max }.into());
        }
        let mut specs: Vec<TensorSpec> = lora.tensors(spec);
        specs.sort_by(|a, b| a.name.cmp(&b.name));
        check_specs(&specs, &file.tensors)?;
        let values: BTreeMap<&str, Vec<f32>> = file
            .tensors
            .iter()
            .map(|t| {
                (
                    t.name.as_str(),
                    file.f32_values(t).expect("checked to be F32"),
                )
            })
            .collect();
        for (name, v) in &values {
            if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                return Err(ModelError::NonFinite {
                    name: (*name).to_owned(),
                    index,
                });
            }
        }
        let merged = merge(&base_file, spec, &lora, &values)?;
        let mut model = Model::from_bytes(&merged, limits)?;
        // The tag names the base just checked, so this binds that base.
        model.weights_hash = bounties::arch::lora::model_identity(&file)
            .expect("an adapter whose base tag was checked has an identity");
        Ok(model)
    }
}

fn lora_spec(meta: &BTreeMap<String, String>, spec: &BertSpec) -> Result<LoraSpec, ModelError> {
    let tag = meta
        .get(ADAPTER_TAG)
        .ok_or_else(|| AdapterError::Spec("no tag".into()))?;
    LoraSpec::from_tag(tag, spec).map_err(|e| AdapterError::Spec(e.to_string()).into())
}

/// The base file's tensors with every adapted weight merged and the head
/// replaced, written as a model file of the base's architecture.
fn merge(
    file: &TensorFile<'_>,
    spec: &BertSpec,
    lora: &LoraSpec,
    adapter: &BTreeMap<&str, Vec<f32>>,
) -> Result<Vec<u8>, ModelError> {
    let (d, r) = (spec.width as usize, lora.rank as usize);
    let scale = lora.scale();
    let mut tensors: BTreeMap<String, (Vec<u64>, Vec<f32>)> = file
        .tensors
        .iter()
        .map(|t| {
            let v = file.f32_values(t).expect("a checked model is F32");
            (t.name.clone(), (t.shape.clone(), v))
        })
        .collect();
    for layer in 0..spec.layers {
        for &target in &lora.targets {
            let (a_name, b_name) = lora.pair(layer, target);
            let (a, b) = (&adapter[a_name.as_str()], &adapter[b_name.as_str()]);
            let w = &mut tensors
                .get_mut(&format!("{}.weight", target.module(layer)))
                .expect("a checked bert has every block's projections")
                .1;
            for o in 0..d {
                for i in 0..d {
                    let mut acc = 0f32;
                    for k in 0..r {
                        acc = math::fma(b[o * r + k], a[k * d + i], acc);
                    }
                    w[o * d + i] = math::fma(scale, acc, w[o * d + i]);
                }
            }
        }
    }
    for t in spec.head_tensors() {
        let v = adapter[format!("{PEFT_PREFIX}{}", t.name).as_str()].clone();
        tensors.insert(t.name, (t.shape, v));
    }
    let bytes: Vec<(String, Vec<u64>, Vec<u8>)> = tensors
        .into_iter()
        .map(|(name, (shape, v))| {
            (
                name,
                shape,
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            )
        })
        .collect();
    let data: Vec<TensorData<'_>> = bytes
        .iter()
        .map(|(name, shape, b)| TensorData {
            name,
            dtype: Dtype::F32,
            shape: shape.clone(),
            data: b,
        })
        .collect();
    tensorfile::write(&file.metadata, &data).map_err(ModelError::File)
}
