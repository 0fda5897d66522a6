//! Architecture specs shared by the miner (candle) and the evaluator (own kernels).
//!
//! A spec fixes every tensor's name, dtype and shape, so a file the miner
//! writes is exactly a file the evaluator reads. Specs travel in a model
//! file's `Architecture` metadata tag as a short string, `FAMILY:…`. Each
//! family is one module behind the [`Spec`] trait (its string, its tensors,
//! the tasks it does): [`mlp`], [`gpt`] and [`bert`]; [`Architecture`] is the closed
//! set of them, and everything generic (parsing the family name, sorting and
//! counting tensors, checking a file's tensors) lives here.
//!
//! Weights are stored `[out, in]` (as candle's and PyTorch's `Linear`).
//!
//! Dimensions come from untrusted files, so every count is checked.

pub mod bert;
pub mod gpt;
pub mod lora;
pub mod mlp;

use std::fmt;
use std::str::FromStr;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::spec::Task;
use crate::tensorfile::{self, TensorInfo};

pub use bert::{BERT_LAYER_NORM_EPS, BertSpec, Pooling};
pub use gpt::{GptSpec, LAYER_NORM_EPS};
pub use mlp::{INPUT_MEAN, INPUT_STD, MlpSpec, STANDARDIZE_SUFFIX};

/// The metadata tag of a model file that names its architecture.
pub const ARCHITECTURE_TAG: &str = "Architecture";
/// The metadata tag of a model that reads texts: the SHA-256 (hex) of its
/// `tokenizer.json` (a text dataset's `Tokenizer` must be the same).
pub const TOKENIZER_TAG: &str = "Tokenizer";

/// The largest single dimension a spec may name.
pub const DIM_MAX: u32 = 1 << 20;
/// The most layers a spec may name.
pub const LAYERS_MAX: u32 = 256;

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
    /// A transformer encoder with a classification head.
    Bert,
}

impl Family {
    /// The tasks a bounty for this family may judge.
    pub fn tasks(self) -> &'static [Task] {
        match self {
            Family::Mlp => MlpSpec::TASKS,
            Family::Gpt => GptSpec::TASKS,
            Family::Bert => BertSpec::TASKS,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Mlp => "mlp",
            Family::Gpt => "gpt",
            Family::Bert => "bert",
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
    pub(crate) fn f32(name: String, shape: &[u32]) -> TensorSpec {
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

/// One architecture family: the string after `FAMILY:` in its tag, the
/// tensors it needs, and the tasks it does. A new family is a module that
/// implements this, and a variant of [`Architecture`] and [`Family`].
pub trait Spec: Sized + fmt::Display {
    /// The family.
    const FAMILY: Family;
    /// The tasks a bounty for this family may judge.
    const TASKS: &'static [Task];
    /// Parse what follows `FAMILY:`; `syntax` is the error for a malformed string.
    fn parse(rest: &str, syntax: &dyn Fn() -> ArchError) -> Result<Self, ArchError>;
    /// Every tensor it needs, in any order.
    fn tensors(&self) -> Vec<TensorSpec>;
}

/// An architecture: a family with its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Architecture {
    /// See [`MlpSpec`].
    Mlp(MlpSpec),
    /// See [`GptSpec`].
    Gpt(GptSpec),
    /// See [`BertSpec`].
    Bert(BertSpec),
}

/// Why an architecture string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    /// The string does not parse.
    #[error(
        "architecture {got:?} is not of the form `mlp:IN,H,...,OUT` (optionally `+standardize`) , `gpt:vocab=V,context=T,layers=L,width=D,heads=H` or `bert:vocab=V,positions=P,types=T,layers=L,width=D,heads=H,ffn=F,classes=C,pool=mean|cls`"
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
    #[error("width {width} is not a multiple of heads {heads}")]
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

/// Digits only, no sign, no leading zero: one spelling per architecture, so
/// the tag in a file is exactly what `Display` writes.
pub(crate) fn number(t: &str, syntax: &dyn Fn() -> ArchError) -> Result<u64, ArchError> {
    let canonical =
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'));
    if !canonical {
        return Err(syntax());
    }
    t.parse::<u64>().map_err(|_| syntax())
}

pub(crate) fn dim(name: &'static str, value: u64, max: u32) -> Result<u32, ArchError> {
    if value == 0 || value > u64::from(max) {
        return Err(ArchError::Dimension { name, value });
    }
    Ok(value as u32)
}

impl Architecture {
    /// The family.
    pub fn family(&self) -> Family {
        match self {
            Architecture::Mlp(_) => MlpSpec::FAMILY,
            Architecture::Gpt(_) => GptSpec::FAMILY,
            Architecture::Bert(_) => BertSpec::FAMILY,
        }
    }

    /// Every tensor, sorted by name (the order of the weights hash).
    pub fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = match self {
            Architecture::Mlp(m) => m.tensors(),
            Architecture::Gpt(g) => g.tensors(),
            Architecture::Bert(b) => b.tensors(),
        };
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Whether a bounty for `task` can judge this architecture.
    pub fn fits(&self, task: Task) -> bool {
        self.family().tasks().contains(&task)
    }

    /// The number of parameters.
    pub fn parameter_count(&self) -> u64 {
        // Dimensions are capped at parse time (DIM_MAX, LAYERS_MAX), so the
        // sum fits u64: at most 2^40 elements per tensor and 4k tensors.
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
        check_tensor_specs(&self.tensors(), tensors)
    }
}

/// Check that `tensors` (a file's, in name order) are exactly `specs` (in
/// name order): every name, F32, every shape, and nothing else.
pub fn check_tensor_specs(
    specs: &[TensorSpec],
    tensors: &[TensorInfo],
) -> Result<(), TensorMismatch> {
    for spec in specs {
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

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Architecture::Mlp(m) => m.fmt(f),
            Architecture::Gpt(g) => g.fmt(f),
            Architecture::Bert(b) => b.fmt(f),
        }
    }
}

impl FromStr for Architecture {
    type Err = ArchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ArchError::Syntax {
            got: s.chars().take(120).collect(),
        };
        let (family, rest) = s.split_once(':').ok_or_else(syntax)?;
        match family {
            "mlp" => MlpSpec::parse(rest, &syntax).map(Architecture::Mlp),
            "gpt" => GptSpec::parse(rest, &syntax).map(Architecture::Gpt),
            "bert" => BertSpec::parse(rest, &syntax).map(Architecture::Bert),
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
    fn families_say_which_tasks_they_do() {
        let mlp: Architecture = "mlp:4,2".parse().unwrap();
        let gpt: Architecture = "gpt:vocab=5,context=4,layers=1,width=8,heads=2"
            .parse()
            .unwrap();
        assert!(mlp.fits(Task::Classification) && mlp.fits(Task::Regression));
        assert!(!mlp.fits(Task::LanguageModel));
        assert!(gpt.fits(Task::LanguageModel) && !gpt.fits(Task::Classification));
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
