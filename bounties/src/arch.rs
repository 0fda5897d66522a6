//! Architecture specs shared by the miner (candle) and the evaluator (own kernels).
//!
//! A spec fixes every tensor's name, dtype and shape, so a file the miner
//! writes is exactly a file the evaluator reads. Specs travel in a model
//! file's `Architecture` metadata tag as a short string:
//!
//! - `mlp:IN,H1,...,OUT`: dense layers `layers.{i}.weight` `[out, in]` and
//!   `layers.{i}.bias` `[out]`, ReLU between layers, none after the last.
//! - `gpt:vocab=V,context=T,layers=L,width=D,heads=H`: token and position
//!   embeddings, `L` pre-norm blocks of causal self-attention and an MLP
//!   (`4·D` hidden, GELU with the tanh approximation), a final layer norm
//!   (eps `1e-5`) and an untied LM head without bias. The attention's
//!   `qkv` output holds the query in columns `0..D`, the key in `D..2D` and the
//!   value in `2D..3D`; head `h` uses columns `h·D/H..(h+1)·D/H` of each, and
//!   scores are scaled by `1/√(D/H)`.
//!
//! Weights are stored `[out, in]` (as candle's and PyTorch's `Linear`).
//!
//! Dimensions come from untrusted files, so every count is checked.

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::tensorfile::{self, TensorInfo};

/// The metadata tag of a model file that names its architecture.
pub const ARCHITECTURE_TAG: &str = "Architecture";

/// The largest single dimension a spec may name.
pub const DIM_MAX: u32 = 1 << 20;
/// The most layers a spec may name.
pub const LAYERS_MAX: u32 = 256;
/// The epsilon of every layer norm in the `gpt` family.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// An architecture family.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    BorshSerialize,
    BorshDeserialize,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    /// A multi-layer perceptron.
    Mlp,
    /// A decoder-only transformer.
    Gpt,
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Mlp => "mlp",
            Family::Gpt => "gpt",
        })
    }
}

/// A tensor's element type. Only `F32` is used for weights today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// 32-bit IEEE float.
    F32,
}

impl Dtype {
    /// The name safetensors uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Dtype::F32 => "F32",
        }
    }
}

/// One tensor an architecture requires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorSpec {
    /// The tensor's name in the file.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<u64>,
}

impl TensorSpec {
    fn f32(name: String, shape: &[u32]) -> TensorSpec {
        TensorSpec {
            name,
            dtype: Dtype::F32,
            shape: shape.iter().map(|&d| u64::from(d)).collect(),
        }
    }

    /// The number of elements.
    pub fn elements(&self) -> u64 {
        self.shape.iter().product()
    }
}

/// A multi-layer perceptron: `widths[0]` inputs, `widths.last()` outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    /// Input width, hidden widths, output width.
    pub widths: Vec<u32>,
    /// Inputs are standardised first, `(x − input.mean) / input.std` per
    /// feature, with the two `[IN]` tensors stored in the file (written
    /// `mlp:IN,…,OUT+standardize`).
    pub standardize: bool,
}

/// The suffix of a standardised mlp's architecture string.
pub const STANDARDIZE_SUFFIX: &str = "+standardize";
/// A standardised mlp's per-feature means and standard deviations.
pub const INPUT_MEAN: &str = "input.mean";
/// See [`INPUT_MEAN`].
pub const INPUT_STD: &str = "input.std";

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
        self.width * 4
    }
}

/// An architecture: a family with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// See [`MlpSpec`].
    Mlp(MlpSpec),
    /// See [`GptSpec`].
    Gpt(GptSpec),
}

/// Why an architecture string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    /// The string does not parse.
    #[error(
        "architecture {got:?} is not of the form `mlp:IN,H,...,OUT` (optionally `+standardize`) or `gpt:vocab=V,context=T,layers=L,width=D,heads=H`"
    )]
    Syntax {
        /// The string.
        got: String,
    },
    /// A dimension is zero or too large.
    #[error("architecture dimension {name} = {value} is out of range 1..={DIM_MAX}")]
    Dimension {
        /// Which dimension.
        name: &'static str,
        /// Its value.
        value: u64,
    },
    /// Heads do not divide the width.
    #[error("gpt width {width} is not a multiple of heads {heads}")]
    Heads {
        /// Width.
        width: u32,
        /// Heads.
        heads: u32,
    },
    /// The parameter count overflows.
    #[error("architecture has too many parameters to count")]
    TooLarge,
}

fn dim(name: &'static str, value: u64, max: u32) -> Result<u32, ArchError> {
    if value == 0 || value > u64::from(max) {
        return Err(ArchError::Dimension { name, value });
    }
    Ok(value as u32)
}

impl Architecture {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            Architecture::Mlp(_) => Family::Mlp,
            Architecture::Gpt(_) => Family::Gpt,
        }
    }

    /// Every tensor, sorted by name (the order of the weights hash).
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        match self {
            Architecture::Mlp(m) => {
                if m.standardize {
                    out.push(TensorSpec::f32(INPUT_MEAN.into(), &[m.widths[0]]));
                    out.push(TensorSpec::f32(INPUT_STD.into(), &[m.widths[0]]));
                }
                for (i, pair) in m.widths.windows(2).enumerate() {
                    let (fan_in, fan_out) = (pair[0], pair[1]);
                    out.push(TensorSpec::f32(
                        format!("layers.{i}.weight"),
                        &[fan_out, fan_in],
                    ));
                    out.push(TensorSpec::f32(format!("layers.{i}.bias"), &[fan_out]));
                }
            }
            Architecture::Gpt(g) => {
                let (d, h) = (g.width, g.mlp_width());
                out.push(TensorSpec::f32("tok_emb.weight".into(), &[g.vocab, d]));
                out.push(TensorSpec::f32("pos_emb.weight".into(), &[g.context, d]));
                for i in 0..g.layers {
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
                out.push(TensorSpec::f32("head.weight".into(), &[g.vocab, d]));
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// The number of parameters.
    pub fn parameter_count(&self) -> u64 {
        // Dimensions are capped at parse time (DIM_MAX, LAYERS_MAX), so the
        // sum fits u64: at most 12·2^40 elements per tensor and 3k tensors.
        self.tensors().iter().map(TensorSpec::elements).sum()
    }
}

/// How a file's tensors differ from what its architecture needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TensorMismatch {
    /// A tensor the architecture needs is missing.
    #[error("tensor {0:?} is missing for this architecture")]
    Missing(String),
    /// A tensor the architecture does not have.
    #[error("tensor {0:?} is not part of this architecture")]
    Unexpected(String),
    /// A tensor is not F32.
    #[error("tensor {name:?} is {got}, the architecture needs F32")]
    WrongDtype {
        /// The tensor.
        name: String,
        /// Its dtype.
        got: tensorfile::Dtype,
    },
    /// A tensor's shape differs.
    #[error("tensor {name:?} has shape {got:?}, the architecture needs {expected:?}")]
    WrongShape {
        /// The tensor.
        name: String,
        /// What the architecture needs.
        expected: Vec<u64>,
        /// What the file has.
        got: Vec<u64>,
    },
}

impl Architecture {
    /// Check that `tensors` (a file's, in name order) are exactly this
    /// architecture's: every name, F32, every shape, and nothing else.
    pub fn check_tensors(&self, tensors: &[TensorInfo]) -> Result<(), TensorMismatch> {
        let specs = self.tensors();
        for spec in &specs {
            let info = tensors
                .binary_search_by(|t| t.name.as_str().cmp(&spec.name))
                .map(|i| &tensors[i])
                .map_err(|_| TensorMismatch::Missing(spec.name.clone()))?;
            if info.dtype != tensorfile::Dtype::F32 {
                return Err(TensorMismatch::WrongDtype {
                    name: spec.name.clone(),
                    got: info.dtype,
                });
            }
            if info.shape != spec.shape {
                return Err(TensorMismatch::WrongShape {
                    name: spec.name.clone(),
                    expected: spec.shape.clone(),
                    got: info.shape.clone(),
                });
            }
        }
        match tensors
            .iter()
            .find(|t| specs.binary_search_by(|s| s.name.cmp(&t.name)).is_err())
        {
            Some(extra) => Err(TensorMismatch::Unexpected(extra.name.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Architecture::Mlp(m) => {
                let widths: Vec<String> = m.widths.iter().map(u32::to_string).collect();
                let suffix = if m.standardize {
                    STANDARDIZE_SUFFIX
                } else {
                    ""
                };
                write!(f, "mlp:{}{suffix}", widths.join(","))
            }
            Architecture::Gpt(g) => write!(
                f,
                "gpt:vocab={},context={},layers={},width={},heads={}",
                g.vocab, g.context, g.layers, g.width, g.heads
            ),
        }
    }
}

impl FromStr for Architecture {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ArchError::Syntax {
            got: s.chars().take(120).collect(),
        };
        // Digits only, no sign, no leading zero: one spelling per architecture,
        // so the tag in a file is exactly what `Display` writes.
        let number = |t: &str| {
            let canonical = !t.is_empty()
                && t.bytes().all(|b| b.is_ascii_digit())
                && (t == "0" || !t.starts_with('0'));
            if !canonical {
                return Err(syntax());
            }
            t.parse::<u64>().map_err(|_| syntax())
        };
        let (family, rest) = s.split_once(':').ok_or_else(syntax)?;
        match family {
            "mlp" => {
                let (rest, standardize) = match rest.strip_suffix(STANDARDIZE_SUFFIX) {
                    Some(widths) => (widths, true),
                    None => (rest, false),
                };
                let widths = rest
                    .split(',')
                    .map(|t| number(t).and_then(|v| dim("width", v, DIM_MAX)))
                    .collect::<Result<Vec<u32>, _>>()?;
                if widths.len() < 2 || widths.len() > LAYERS_MAX as usize + 1 {
                    return Err(syntax());
                }
                Ok(Architecture::Mlp(MlpSpec {
                    widths,
                    standardize,
                }))
            }
            "gpt" => {
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
                    *value = dim(key, number(v)?, max)?;
                }
                let [vocab, context, layers, width, heads] = values;
                if width % heads != 0 {
                    return Err(ArchError::Heads { width, heads });
                }
                // 4·width and 3·width must stay within u32 and DIM_MAX·4.
                Ok(Architecture::Gpt(GptSpec {
                    vocab,
                    context,
                    layers,
                    width,
                    heads,
                }))
            }
            _ => Err(syntax()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_their_strings() {
        for s in [
            "mlp:64,128,10",
            "mlp:784,10",
            "mlp:30,64,2+standardize",
            "gpt:vocab=65,context=64,layers=2,width=64,heads=4",
        ] {
            let arch: Architecture = s.parse().unwrap();
            assert_eq!(arch.to_string(), s);
        }
    }

    #[test]
    fn parameter_counts_match_hand_counts() {
        let mlp: Architecture = "mlp:64,128,10".parse().unwrap();
        assert_eq!(mlp.parameter_count(), 64 * 128 + 128 + 128 * 10 + 10);
        let standardized: Architecture = "mlp:64,128,10+standardize".parse().unwrap();
        assert_eq!(
            standardized.parameter_count(),
            mlp.parameter_count() + 2 * 64
        );
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

    #[test]
    fn malformed_specs_are_refused() {
        for s in [
            "",
            "mlp:",
            "mlp:10",
            "mlp:0,10",
            "mlp:10,x",
            "rnn:1,2",
            "gpt:vocab=65,context=64,layers=2,width=64",
            "gpt:vocab=65,context=64,layers=2,width=63,heads=4",
            "gpt:context=64,vocab=65,layers=2,width=64,heads=4",
            "gpt:vocab=65,context=64,layers=100000,width=64,heads=4",
            "mlp:99999999999,10",
            "mlp:+64,+10",
            "mlp:064,10",
            "mlp: 64,10",
            "mlp:64,10,",
            "gpt:vocab=+65,context=64,layers=2,width=64,heads=4",
            "mlp:64,10+standardize+standardize",
            "mlp:64,10+Standardize",
            "mlp:64,10 +standardize",
            "mlp:+standardize",
        ] {
            assert!(s.parse::<Architecture>().is_err(), "{s:?} accepted");
        }
    }

    #[test]
    fn tensors_are_sorted_by_name() {
        let gpt: Architecture = "gpt:vocab=5,context=4,layers=12,width=8,heads=2"
            .parse()
            .unwrap();
        let names: Vec<String> = gpt.tensors().into_iter().map(|t| t.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
    }
}
