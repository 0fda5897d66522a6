//! The dataset file: a safetensors file with an `inputs` and a `targets` tensor.
//!
//! Layout by task (`n` examples):
//!
//! | task | `inputs` | `targets` |
//! | --- | --- | --- |
//! | classification | `[n, features]` U8 (with `Input-Max`) or F32 | `[n]` I64 class index `< Classes` |
//! | classification of texts | `[n, Sequence-Length]` U16 token ids of the `Tokenizer`, each row a sequence then `Pad-Id` to the end | `[n]` I64 class index `< Classes` |
//! | regression | `[n, features]` U8 or F32 | `[n]` F32 |
//! | language-model | `[n, Context]` token ids `< len(Vocabulary)`: U8 for up to 256 symbols, U16 (little-endian) above | `[n, Context]`, the same dtype, the inputs shifted by one |
//!
//! `__metadata__` (written in key order, so the same data gives the same
//! bytes): `Name`, `Task`, `License`, `Source`, and as the task needs
//! `Classes`, `Input-Max`, `Vocabulary` (the characters in token order),
//! `Context`, `Split`, `Tokenizer` (the SHA-256 of the `tokenizer.json` the
//! texts were tokenised with), `Pad-Id`, `Sequence-Length`. A dataset's id is its tensor hash, computed by the same
//! code as a model's weights hash, so metadata edits do not change it.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use bounties::Hash32;
use bounties::spec::Task;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use bounties::weights::{TensorRef, weights_hash};

use crate::error::DatasetError;

/// The inputs tensor's name.
pub const INPUTS: &str = "inputs";
/// The targets tensor's name.
pub const TARGETS: &str = "targets";

/// Metadata keys.
pub mod key {
    /// The dataset's name.
    pub const NAME: &str = "Name";
    /// `classification`, `language-model` or `regression`.
    pub const TASK: &str = "Task";
    /// The licence of the data.
    pub const LICENSE: &str = "License";
    /// Where the data came from.
    pub const SOURCE: &str = "Source";
    /// Number of classes (classification).
    pub const CLASSES: &str = "Classes";
    /// The largest input value of U8 inputs: models scale inputs by 1 / this.
    pub const INPUT_MAX: &str = "Input-Max";
    /// The vocabulary, its characters in token-id order (language model).
    pub const VOCABULARY: &str = "Vocabulary";
    /// Sequence length (language model).
    pub const CONTEXT: &str = "Context";
    /// Which part of a split this is, and its seed.
    pub const SPLIT: &str = "Split";
    /// The SHA-256 (hex) of the tokenizer file of token-id inputs (texts);
    /// a model's tag of the same name must match it.
    pub const TOKENIZER: &str = bounties::arch::TOKENIZER_TAG;
    /// The id that pads token-id rows (texts) after their sequence.
    pub const PAD_ID: &str = "Pad-Id";
    /// The width of token-id rows (texts): the longest sequence, padding included.
    pub const SEQUENCE_LENGTH: &str = "Sequence-Length";
}

/// A tensor owned in memory: raw little-endian bytes with a dtype and shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// Element type.
    pub dtype: Dtype,
    /// Shape; the first dimension is the example.
    pub shape: Vec<u64>,
    /// Raw bytes.
    pub data: Vec<u8>,
}

/// The most symbols a language-model vocabulary may have (U16 token ids).
pub const VOCABULARY_MAX: usize = 1 << 16;

impl Tensor {
    /// A tensor from `u8` values.
    pub fn u8(shape: Vec<u64>, values: Vec<u8>) -> Tensor {
        Tensor {
            dtype: Dtype::U8,
            shape,
            data: values,
        }
    }

    /// Token ids: U8 when every id fits (a vocabulary of at most 256), else
    /// U16, so a dataset has one encoding.
    pub fn tokens(shape: Vec<u64>, values: &[u16], vocabulary: usize) -> Tensor {
        if vocabulary <= 256 {
            Tensor::u8(shape, values.iter().map(|&v| v as u8).collect())
        } else {
            Tensor {
                dtype: Dtype::U16,
                shape,
                data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            }
        }
    }

    /// Token ids of a U8 or U16 tensor, widened; `None` for other dtypes.
    pub fn token_ids(&self) -> Option<Vec<u32>> {
        match self.dtype {
            Dtype::U8 => Some(self.data.iter().map(|&v| u32::from(v)).collect()),
            Dtype::U16 => Some(
                self.data
                    .chunks_exact(2)
                    .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// A tensor from `f32` values.
    pub fn f32(shape: Vec<u64>, values: &[f32]) -> Tensor {
        Tensor {
            dtype: Dtype::F32,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A tensor from `i64` values.
    pub fn i64(shape: Vec<u64>, values: &[i64]) -> Tensor {
        Tensor {
            dtype: Dtype::I64,
            shape,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// Number of rows (examples).
    pub fn rows(&self) -> u64 {
        self.shape.first().copied().unwrap_or(0)
    }

    fn row_bytes(&self) -> usize {
        self.shape.iter().skip(1).product::<u64>() as usize * self.dtype.size()
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Tensor {
        let rb = self.row_bytes();
        let mut data = Vec::with_capacity(indices.len() * rb);
        for &i in indices {
            data.extend_from_slice(&self.data[i * rb..(i + 1) * rb]);
        }
        let mut shape = self.shape.clone();
        shape[0] = indices.len() as u64;
        Tensor {
            dtype: self.dtype,
            shape,
            data,
        }
    }

    /// The values as `i64` (for I64 tensors).
    pub fn as_i64(&self) -> Option<Vec<i64>> {
        (self.dtype == Dtype::I64).then(|| {
            self.data
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                .collect()
        })
    }

    /// The values as `f32` (for F32 tensors).
    pub fn as_f32(&self) -> Option<Vec<f32>> {
        (self.dtype == Dtype::F32).then(|| {
            self.data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                .collect()
        })
    }
}

/// A dataset: inputs, targets and metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// `__metadata__`.
    pub meta: BTreeMap<String, String>,
    /// The inputs.
    pub inputs: Tensor,
    /// The targets.
    pub targets: Tensor,
}

/// What `inspect` shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The dataset id (tensor hash).
    pub id: Hash32,
    /// Metadata.
    pub meta: BTreeMap<String, String>,
    /// Number of examples.
    pub examples: u64,
    /// Inputs dtype and shape.
    pub inputs: (Dtype, Vec<u64>),
    /// Targets dtype and shape.
    pub targets: (Dtype, Vec<u64>),
    /// Examples per class (classification).
    pub class_counts: Option<Vec<u64>>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let get = |k: &str| self.meta.get(k).map_or("-", String::as_str);
        writeln!(f, "name      {}", get(key::NAME))?;
        writeln!(f, "id        {}", self.id)?;
        writeln!(f, "task      {}", get(key::TASK))?;
        writeln!(f, "examples  {}", self.examples)?;
        writeln!(f, "inputs    {} {:?}", self.inputs.0, self.inputs.1)?;
        writeln!(f, "targets   {} {:?}", self.targets.0, self.targets.1)?;
        if let Some(counts) = &self.class_counts {
            let counts: Vec<String> = counts.iter().map(u64::to_string).collect();
            writeln!(f, "classes   {} ({})", counts.len(), counts.join("/"))?;
        }
        if let Some(v) = self.meta.get(key::VOCABULARY) {
            writeln!(
                f,
                "vocab     {} symbols, context {}",
                v.chars().count(),
                get(key::CONTEXT)
            )?;
        }
        if let Some(tokenizer) = self.meta.get(key::TOKENIZER) {
            writeln!(
                f,
                "texts     tokenizer {}, sequence length {}, pad {}",
                tokenizer.get(..8).unwrap_or(tokenizer),
                get(key::SEQUENCE_LENGTH),
                get(key::PAD_ID)
            )?;
        }
        if let Some(split) = self.meta.get(key::SPLIT) {
            writeln!(f, "split     {split}")?;
        }
        writeln!(f, "license   {}", get(key::LICENSE))?;
        write!(f, "source    {}", get(key::SOURCE))
    }
}

/// The task named in metadata.
pub fn parse_task(s: &str) -> Option<Task> {
    Some(match s {
        "classification" => Task::Classification,
        "language-model" => Task::LanguageModel,
        "regression" => Task::Regression,
        _ => return None,
    })
}

/// The metadata spelling of a task.
pub fn task_name(task: Task) -> &'static str {
    match task {
        Task::Classification => "classification",
        Task::LanguageModel => "language-model",
        Task::Regression => "regression",
    }
}

impl Dataset {
    /// A metadata value.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.meta.get(k).map(String::as_str)
    }

    /// The task.
    pub fn task(&self) -> Task {
        self.get(key::TASK)
            .and_then(parse_task)
            .expect("validated datasets name their task")
    }

    /// Number of examples.
    pub fn examples(&self) -> u64 {
        self.inputs.rows()
    }

    /// Number of classes (classification).
    pub fn classes(&self) -> Option<u64> {
        self.get(key::CLASSES).and_then(|c| c.parse().ok())
    }

    /// The vocabulary's characters in token order (language model).
    pub fn vocabulary(&self) -> Option<Vec<char>> {
        self.get(key::VOCABULARY).map(|v| v.chars().collect())
    }

    /// Texts' token sequences (classification of texts): each row without
    /// its padding, the `Pad-Id`s after its last other token; `None` for
    /// feature inputs.
    pub fn sequences(&self) -> Option<Vec<Vec<u32>>> {
        if self.inputs.dtype != Dtype::U16 {
            return None;
        }
        let pad: u32 = self.get(key::PAD_ID)?.parse().ok()?;
        let width = self.inputs.shape.get(1).copied()? as usize;
        let ids = self.inputs.token_ids()?;
        Some(
            ids.chunks(width.max(1))
                .map(|row| {
                    let len = row.iter().rposition(|&v| v != pad).map_or(0, |i| i + 1);
                    row[..len].to_vec()
                })
                .collect(),
        )
    }

    /// The dataset id: the tensor hash (metadata ignored).
    pub fn id(&self) -> Hash32 {
        let t = |name, t: &Tensor| (name, t.dtype.as_str(), t.shape.clone());
        let (a, b) = (t(INPUTS, &self.inputs), t(TARGETS, &self.targets));
        weights_hash([
            TensorRef {
                name: a.0,
                dtype: a.1,
                shape: &a.2,
                data: &self.inputs.data,
            },
            TensorRef {
                name: b.0,
                dtype: b.1,
                shape: &b.2,
                data: &self.targets.data,
            },
        ])
        .expect("two distinct names")
    }

    /// The inputs as f32, the convention every model shares: U8 inputs are
    /// divided by `Input-Max` (one f32 division each), F32 inputs are as they are.
    pub fn inputs_f32(&self) -> Vec<f32> {
        match self.inputs.dtype {
            Dtype::U8 => {
                let max: f32 = self
                    .get(key::INPUT_MAX)
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(255.0);
                self.inputs
                    .data
                    .iter()
                    .map(|&v| f32::from(v) / max)
                    .collect()
            }
            _ => self
                .inputs
                .as_f32()
                .expect("validated inputs are U8 or F32"),
        }
    }

    /// Examples per class (classification).
    pub fn class_counts(&self) -> Option<Vec<u64>> {
        let classes = self.classes()?;
        let mut counts = vec![0u64; classes as usize];
        for t in self.targets.as_i64()? {
            counts[t as usize] += 1;
        }
        Some(counts)
    }

    /// What `inspect` shows.
    pub fn summary(&self) -> Summary {
        Summary {
            id: self.id(),
            meta: self.meta.clone(),
            examples: self.examples(),
            inputs: (self.inputs.dtype, self.inputs.shape.clone()),
            targets: (self.targets.dtype, self.targets.shape.clone()),
            class_counts: (self.task() == Task::Classification)
                .then(|| self.class_counts())
                .flatten(),
        }
    }

    /// The examples at `rows`, in that order, with `Split` set to `split`.
    pub fn select(&self, rows: &[usize], split: &str) -> Dataset {
        let mut meta = self.meta.clone();
        meta.insert(key::SPLIT.into(), split.into());
        Dataset {
            meta,
            inputs: self.inputs.select(rows),
            targets: self.targets.select(rows),
        }
    }

    /// The canonical file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let tensors = [
            TensorData {
                name: INPUTS,
                dtype: self.inputs.dtype,
                shape: self.inputs.shape.clone(),
                data: &self.inputs.data,
            },
            TensorData {
                name: TARGETS,
                dtype: self.targets.dtype,
                shape: self.targets.shape.clone(),
                data: &self.targets.data,
            },
        ];
        tensorfile::write(&self.meta, &tensors).expect("a validated dataset writes")
    }

    /// Read and check a dataset file's bytes; `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<Dataset, DatasetError> {
        let file = TensorFile::parse(bytes).map_err(|source| DatasetError::TensorFile {
            origin: origin.to_owned(),
            source,
        })?;
        let names: Vec<&str> = file.tensors.iter().map(|t| t.name.as_str()).collect();
        if names != [INPUTS, TARGETS] {
            return Err(DatasetError::invalid(
                origin,
                format!("expected tensors [inputs, targets], found {names:?}"),
            ));
        }
        let take = |name| {
            let info = file.tensor(name).expect("checked above");
            Tensor {
                dtype: info.dtype,
                shape: info.shape.clone(),
                data: file.data(info).to_vec(),
            }
        };
        let dataset = Dataset {
            meta: file.metadata.clone(),
            inputs: take(INPUTS),
            targets: take(TARGETS),
        };
        dataset
            .check()
            .map_err(|detail| DatasetError::invalid(origin, detail))?;
        Ok(dataset)
    }

    /// Read a dataset file.
    pub fn read_file(path: &Path) -> Result<Dataset, DatasetError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
            origin: origin.clone(),
            source,
        })?;
        Dataset::from_bytes(&bytes, &origin)
    }

    /// Write the dataset file atomically: a temporary file beside it, then a rename,
    /// so a failure never leaves a partial file under the name.
    pub fn write_file(&self, path: &Path) -> Result<(), DatasetError> {
        let origin = path.display().to_string();
        let io = |source| DatasetError::Io {
            origin: origin.clone(),
            source,
        };
        let tmp = path.with_extension("safetensors.partial");
        std::fs::write(&tmp, self.to_bytes()).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Check the invariants of the format (see the module docs).
    pub fn check(&self) -> Result<(), String> {
        for k in [key::NAME, key::TASK, key::LICENSE, key::SOURCE] {
            if !self.meta.contains_key(k) {
                return Err(format!("metadata lacks {k}"));
            }
        }
        let task = self
            .get(key::TASK)
            .and_then(parse_task)
            .ok_or_else(|| format!("unknown task {:?}", self.get(key::TASK)))?;
        let (i, t) = (&self.inputs, &self.targets);
        if i.rows() != t.rows() {
            return Err(format!("{} inputs but {} targets", i.rows(), t.rows()));
        }
        if i.shape.len() != 2 {
            return Err(format!(
                "inputs must be [examples, features], got {:?}",
                i.shape
            ));
        }
        match task {
            Task::Classification if i.dtype == Dtype::U16 => self.check_sequences()?,
            Task::Classification | Task::Regression => {
                if !matches!(i.dtype, Dtype::U8 | Dtype::F32) {
                    return Err(format!("inputs must be U8 or F32, got {}", i.dtype));
                }
                if i.dtype == Dtype::U8 {
                    let max: u8 = self
                        .get(key::INPUT_MAX)
                        .and_then(|m| m.parse().ok())
                        .filter(|&m| m > 0)
                        .ok_or("U8 inputs need a positive Input-Max")?;
                    if let Some(v) = i.data.iter().find(|&&v| v > max) {
                        return Err(format!("input value {v} exceeds Input-Max {max}"));
                    }
                }
                if i.dtype == Dtype::F32
                    && i.as_f32()
                        .unwrap_or_default()
                        .iter()
                        .any(|v| !v.is_finite())
                {
                    return Err("inputs contain NaN or infinity".into());
                }
                if t.shape.len() != 1 {
                    return Err(format!("targets must be [examples], got {:?}", t.shape));
                }
            }
            Task::LanguageModel => {
                let vocab = self.vocabulary().ok_or("metadata lacks Vocabulary")?;
                if vocab.is_empty() || vocab.len() > VOCABULARY_MAX {
                    return Err(format!(
                        "the vocabulary must have 1 to {VOCABULARY_MAX} symbols"
                    ));
                }
                // One encoding per dataset: U8 ids up to 256 symbols, U16 above.
                let dtype = if vocab.len() <= 256 {
                    Dtype::U8
                } else {
                    Dtype::U16
                };
                if i.dtype != dtype || t.dtype != dtype || i.shape != t.shape {
                    return Err(format!(
                        "a {}-symbol vocabulary needs inputs and targets of {dtype} and one shape",
                        vocab.len()
                    ));
                }
                let context: u64 = self
                    .get(key::CONTEXT)
                    .and_then(|c| c.parse().ok())
                    .ok_or("metadata lacks Context")?;
                if i.shape[1] != context {
                    return Err(format!(
                        "sequences are {} long but Context is {context}",
                        i.shape[1]
                    ));
                }
                let (ids, next) = (
                    i.token_ids().expect("U8 or U16"),
                    t.token_ids().expect("U8 or U16"),
                );
                if let Some(v) = ids
                    .iter()
                    .chain(&next)
                    .find(|&&v| v as usize >= vocab.len())
                {
                    return Err(format!(
                        "token {v} is outside the {}-symbol vocabulary",
                        vocab.len()
                    ));
                }
            }
        }
        match task {
            Task::Classification => {
                let classes = self
                    .classes()
                    .filter(|&c| c > 0)
                    .ok_or("metadata lacks a positive Classes")?;
                let labels = t.as_i64().ok_or("classification targets must be I64")?;
                if let Some(l) = labels.iter().find(|&&l| l < 0 || l as u64 >= classes) {
                    return Err(format!("label {l} is not a class index below {classes}"));
                }
            }
            Task::Regression => {
                let values = t.as_f32().ok_or("regression targets must be F32")?;
                if values.iter().any(|v| !v.is_finite()) {
                    return Err("targets contain NaN or infinity".into());
                }
            }
            Task::LanguageModel => {}
        }
        Ok(())
    }

    /// The checks of token-id inputs (classification of texts).
    fn check_sequences(&self) -> Result<(), String> {
        let tokenizer = self
            .get(key::TOKENIZER)
            .ok_or("token-id inputs need the Tokenizer's SHA-256")?;
        if tokenizer.len() != 64 || !tokenizer.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("Tokenizer {tokenizer:?} is not a SHA-256 in hex"));
        }
        let pad: u16 = self
            .get(key::PAD_ID)
            .and_then(|p| p.parse().ok())
            .ok_or("token-id inputs need a Pad-Id below 65 536")?;
        let width = self.inputs.shape[1];
        let length: u64 = self
            .get(key::SEQUENCE_LENGTH)
            .and_then(|c| c.parse().ok())
            .ok_or("token-id inputs need a Sequence-Length")?;
        if width != length || width == 0 {
            return Err(format!(
                "rows are {width} tokens wide but Sequence-Length is {length}"
            ));
        }
        if self.targets.shape.len() != 1 {
            return Err(format!(
                "targets must be [examples], got {:?}",
                self.targets.shape
            ));
        }
        let sequences = self.sequences().expect("U16 with a Pad-Id");
        if let Some(row) = sequences.iter().position(Vec::is_empty) {
            return Err(format!("row {row} holds only Pad-Id {pad}"));
        }
        Ok(())
    }
}
