//! Models read from untrusted safetensors files, checked against the shared
//! architecture specs, and their deterministic forward passes: what every
//! family shares (the checks, dense layers, row splitting) here, each
//! family's network in its own module ([`mlp`], [`gpt`], [`bert`]).
//!
//! Input convention shared with the miner: U8 inputs are divided by the
//! dataset's `Input-Max` (an f32 division); F32 inputs are used as they are.

use bounties::Hash32;
pub use bounties::arch::ARCHITECTURE_TAG;
use bounties::arch::{
    ArchError, Architecture, Family, INPUT_STD, TensorMismatch, TensorSpec, check_tensor_specs,
};
use bounties::message::Unscorable;
use bounties::tensorfile::{
    Dtype, TensorFile, TensorFileError, TensorHeader, TensorInfo, header_len,
};

use crate::kernels::{Packed, matmul};

mod adapter;
mod bert;
mod gpt;
mod mlp;

pub use adapter::{AdapterError, AdapterLimits};

/// What a bounty allows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// The family the bounty asks for.
    pub family: Option<Family>,
    /// The most parameters allowed.
    pub max_parameters: Option<u64>,
}

/// Why a model file was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    /// The container is malformed.
    #[error(transparent)]
    File(#[from] TensorFileError),
    /// No `Architecture` tag.
    #[error("the file's metadata has no {ARCHITECTURE_TAG} tag")]
    NoArchitecture,
    /// The tag does not parse.
    #[error(transparent)]
    Architecture(#[from] ArchError),
    /// Another family than the bounty's.
    #[error("the model is a {got:?}, the bounty asks for a {expected:?}")]
    WrongFamily {
        /// The bounty's family.
        expected: Family,
        /// The file's.
        got: Family,
    },
    /// Too many parameters.
    #[error("the model has {count} parameters, the bounty allows {max}")]
    TooManyParameters {
        /// The model's count.
        count: u64,
        /// The limit.
        max: u64,
    },
    /// A tensor the architecture needs is missing.
    #[error("tensor {0:?} is missing for this architecture")]
    MissingTensor(String),
    /// A tensor the architecture does not have.
    #[error("tensor {0:?} is not part of this architecture")]
    UnexpectedTensor(String),
    /// A tensor's dtype is not F32.
    #[error("tensor {name:?} is {got}, the architecture needs F32")]
    WrongDtype {
        /// The tensor.
        name: String,
        /// Its dtype.
        got: Dtype,
    },
    /// A tensor's shape does not match the architecture.
    #[error("tensor {name:?} has shape {got:?}, the architecture needs {expected:?}")]
    WrongShape {
        /// The tensor.
        name: String,
        /// What the architecture needs.
        expected: Vec<u64>,
        /// What the file has.
        got: Vec<u64>,
    },
    /// A weight is NaN or infinite.
    #[error("tensor {name:?} has a NaN or infinite value at index {index}")]
    NonFinite {
        /// The tensor.
        name: String,
        /// Where.
        index: usize,
    },
    /// A standard deviation of a standardised mlp is not positive.
    #[error("tensor {INPUT_STD:?} has a value that is not positive at index {index}")]
    NonPositiveStd {
        /// Where.
        index: usize,
    },
    /// An adapter that does not fit the base or the bounty.
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// The file could not be read.
    #[error("reading the model: {0}")]
    Io(String),
}

impl ModelError {
    /// What a receipt says about a file refused for this reason: outside the
    /// bounty's limits, or not a model at all. `None` for a local read error,
    /// which says nothing about the file.
    pub fn unscorable(&self) -> Option<Unscorable> {
        match self {
            ModelError::WrongFamily { .. }
            | ModelError::TooManyParameters { .. }
            // An adapter where only whole models are taken, or one trained
            // on another base, is a file outside this bounty's limits.
            | ModelError::Adapter(
                AdapterError::RankOverLimit { .. }
                | AdapterError::TooManyTrainable { .. }
                | AdapterError::NeedsBase
                | AdapterError::OtherBase { .. }
                | AdapterError::OtherArchitecture { .. },
            ) => Some(Unscorable::OverLimits),
            ModelError::Io(_) => None,
            _ => Some(Unscorable::Malformed),
        }
    }
}

/// A model file opened and its header (at most
/// [`bounties::tensorfile::HEADER_BYTES_MAX`]) read and parsed.
pub struct HeaderRead {
    /// The parsed header.
    pub header: TensorHeader,
    prefix: Vec<u8>,
    file: std::fs::File,
    len: u64,
    path: std::path::PathBuf,
}

impl std::fmt::Debug for HeaderRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderRead")
            .field("path", &self.path)
            .finish()
    }
}

impl HeaderRead {
    /// Open `path` and read its header alone.
    pub fn open(path: &std::path::Path) -> Result<HeaderRead, ModelError> {
        use std::io::Read;
        let io = |e: std::io::Error| ModelError::Io(format!("{}: {e}", path.display()));
        let mut file = std::fs::File::open(path).map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut first8 = [0u8; 8];
        if len < 8 {
            return Err(TensorFileError::TooShort(len as usize).into());
        }
        file.read_exact(&mut first8).map_err(io)?;
        let header_len = header_len(first8, len)?;
        let mut prefix = first8.to_vec();
        prefix.resize(8 + header_len as usize, 0);
        file.read_exact(&mut prefix[8..]).map_err(io)?;
        let header = TensorHeader::parse(&prefix, len)?;
        Ok(HeaderRead {
            header,
            prefix,
            file,
            len,
            path: path.to_owned(),
        })
    }

    /// The whole file's bytes. The header's offsets cover the file exactly,
    /// so its size is what the (checked) header says.
    fn rest(&mut self) -> Result<Vec<u8>, ModelError> {
        use std::io::Read;
        let mut bytes = std::mem::take(&mut self.prefix);
        bytes.reserve_exact((self.len as usize).saturating_sub(bytes.len()));
        self.file
            .read_to_end(&mut bytes)
            .map_err(|e| ModelError::Io(format!("{}: {e}", self.path.display())))?;
        Ok(bytes)
    }
}

/// Check the architecture tag of a file's metadata against the bounty's limits.
fn check_limits(
    metadata: &std::collections::BTreeMap<String, String>,
    limits: Limits,
) -> Result<Architecture, ModelError> {
    if metadata.contains_key(bounties::arch::lora::ADAPTER_TAG) {
        return Err(AdapterError::NeedsBase.into());
    }
    let tag = metadata
        .get(ARCHITECTURE_TAG)
        .ok_or(ModelError::NoArchitecture)?;
    let arch: Architecture = tag.parse()?;
    if let Some(expected) = limits.family
        && expected != arch.family()
    {
        return Err(ModelError::WrongFamily {
            expected,
            got: arch.family(),
        });
    }
    let count = arch.parameter_count();
    if let Some(max) = limits.max_parameters
        && count > max
    {
        return Err(ModelError::TooManyParameters { count, max });
    }
    Ok(arch)
}

/// A model file read and checked (container, tag, limits, every tensor,
/// finite values), not yet loaded.
fn checked_file(
    bytes: &[u8],
    limits: Limits,
) -> Result<(TensorFile<'_>, Architecture), ModelError> {
    let file = TensorFile::parse(bytes)?;
    let arch = check_limits(&file.metadata, limits)?;
    check_specs(&arch.tensors(), &file.tensors)?;
    for t in &file.tensors {
        let values = file.f32_values(t).expect("checked to be F32");
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite {
                name: t.name.clone(),
                index,
            });
        }
    }
    Ok((file, arch))
}

/// Check that a file's tensors (in name order) are exactly `specs` (in name order).
fn check_specs(specs: &[TensorSpec], tensors: &[TensorInfo]) -> Result<(), ModelError> {
    check_tensor_specs(specs, tensors).map_err(|m| match m {
        TensorMismatch::Missing(name) => ModelError::MissingTensor(name),
        TensorMismatch::Unexpected(name) => ModelError::UnexpectedTensor(name),
        TensorMismatch::WrongDtype { name, got } => ModelError::WrongDtype { name, got },
        TensorMismatch::WrongShape {
            name,
            expected,
            got,
        } => ModelError::WrongShape {
            name,
            expected,
            got,
        },
    })
}

/// A dense layer, its weights packed once at load for the matmul kernels.
#[derive(Clone, Debug)]
pub(super) struct Dense {
    w: Packed,
    b: Option<Vec<f32>>,
}

impl Dense {
    pub(super) fn apply(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        matmul(x, &self.w, self.b.as_deref(), rows, threads)
    }
}

/// One family's network as the evaluator runs it: each family's module
/// loads its own from a checked file and scores a dataset of its task, one
/// score per example, refusing a dataset that does not fit.
pub(crate) trait Network {
    /// Per-example scores of `dataset` with `metric`.
    fn score(
        &self,
        dataset: &datasets::Dataset,
        metric: bounties::spec::Metric,
        threads: usize,
    ) -> Result<Vec<i64>, crate::score::ScoreError>;
}

/// A model's network, one variant per family (each family's module loads
/// and runs its own).
#[derive(Clone, Debug)]
enum Net {
    Mlp(mlp::Mlp),
    Gpt(Box<gpt::Gpt>),
    Bert(Box<bert::Bert>),
}

/// A checked model, ready to run.
#[derive(Clone, Debug)]
pub struct Model {
    /// Its architecture.
    pub arch: Architecture,
    /// Its weights hash.
    pub weights_hash: Hash32,
    net: Net,
}

/// The tensors of a checked file, by name, as f32.
pub(super) struct Weights<'a> {
    file: TensorFile<'a>,
}

impl Weights<'_> {
    pub(super) fn get(&self, name: &str) -> Vec<f32> {
        let info = self.file.tensor(name).expect("checked against the spec");
        self.file.f32_values(info).expect("checked to be F32")
    }

    pub(super) fn dense(&self, prefix: &str, bias: bool) -> Dense {
        let info = self
            .file
            .tensor(&format!("{prefix}.weight"))
            .expect("checked");
        let (fan_out, fan_in) = (info.shape[0] as usize, info.shape[1] as usize);
        Dense {
            w: Packed::from_out_in(&self.get(&format!("{prefix}.weight")), fan_out, fan_in),
            b: bias.then(|| self.get(&format!("{prefix}.bias"))),
        }
    }

    /// Dense layers with the same input stacked into one: their weights'
    /// rows (outputs) one after another, and their biases.
    pub(super) fn stacked(&self, prefixes: &[&str]) -> Dense {
        let (mut w, mut b, mut fan_in) = (Vec::new(), Vec::new(), 0);
        for prefix in prefixes {
            let name = format!("{prefix}.weight");
            fan_in = self.file.tensor(&name).expect("checked").shape[1] as usize;
            w.extend(self.get(&name));
            b.extend(self.get(&format!("{prefix}.bias")));
        }
        Dense {
            w: Packed::from_out_in(&w, b.len(), fan_in),
            b: Some(b),
        }
    }

    pub(super) fn norm(&self, prefix: &str) -> (Vec<f32>, Vec<f32>) {
        (
            self.get(&format!("{prefix}.weight")),
            self.get(&format!("{prefix}.bias")),
        )
    }
}

impl Model {
    /// Read and check a model file from disk in bounded memory: the header
    /// (at most [`bounties::tensorfile::HEADER_BYTES_MAX`]) first, checked
    /// against the limits, and the tensors only if it passes. A file over a
    /// bounty's parameter cap is refused after reading its header alone.
    pub fn from_file(path: &std::path::Path, limits: Limits) -> Result<Model, ModelError> {
        let mut open = HeaderRead::open(path)?;
        check_limits(&open.header.metadata, limits)?;
        Model::from_bytes(&open.rest()?, limits)
    }

    /// Read a LoRA adapter file onto the bounty's base (its bytes, already
    /// read by the caller), in bounded memory: the adapter's header first,
    /// refused when it holds more parameters than the bounty lets an adapter
    /// train (its file's size follows from them), then [`Model::from_adapter`].
    pub fn from_adapter_file(
        base: &[u8],
        adapter: &std::path::Path,
        limits: Limits,
        adapter_limits: AdapterLimits,
    ) -> Result<Model, ModelError> {
        let mut open = HeaderRead::open(adapter)?;
        let count: u64 = open
            .header
            .tensors
            .iter()
            .map(|t| t.shape.iter().product::<u64>())
            .sum();
        if let Some(max) = adapter_limits.max_trainable
            && count > max
        {
            return Err(AdapterError::TooManyTrainable { count, max }.into());
        }
        let adapter = open.rest()?;
        Model::from_adapter(base, &adapter, limits, adapter_limits)
    }

    /// Read and check a model file: container, architecture tag, every
    /// tensor's name, dtype and shape, the bounty's limits, finite weights.
    pub fn from_bytes(bytes: &[u8], limits: Limits) -> Result<Model, ModelError> {
        let (file, arch) = checked_file(bytes, limits)?;
        let weights_hash = file.weights_hash();
        let w = Weights { file };
        let net = match &arch {
            Architecture::Mlp(m) => Net::Mlp(mlp::Mlp::load(m, &w)?),
            Architecture::Gpt(g) => Net::Gpt(Box::new(gpt::Gpt::load(g, &w))),
            Architecture::Bert(b) => Net::Bert(Box::new(bert::Bert::load(b, &w))),
        };
        Ok(Model {
            arch,
            weights_hash,
            net,
        })
    }

    /// Its network, to score with.
    pub(crate) fn network(&self) -> &dyn Network {
        match &self.net {
            Net::Mlp(m) => m,
            Net::Gpt(g) => g.as_ref(),
            Net::Bert(b) => b.as_ref(),
        }
    }

    /// MLP logits (`[rows, outputs]`) for inputs `[rows, features]`.
    pub fn forward_mlp(
        &self,
        x: &[f32],
        rows: usize,
        threads: usize,
    ) -> Result<Vec<f32>, OtherFamily> {
        match &self.net {
            Net::Mlp(mlp) => Ok(mlp.forward(x, rows, threads)),
            _ => Err(self.wrong("forward_mlp", Family::Mlp)),
        }
    }

    /// GPT logits (`[sequences · t, vocab]`) for token ids `[sequences, t]`.
    pub fn forward_gpt(
        &self,
        ids: &[u32],
        t: usize,
        threads: usize,
    ) -> Result<Vec<f32>, OtherFamily> {
        match &self.net {
            Net::Gpt(g) => Ok(g.forward(ids, t, threads)),
            _ => Err(self.wrong("forward_gpt", Family::Gpt)),
        }
    }

    fn wrong(&self, what: &'static str, needs: Family) -> OtherFamily {
        OtherFamily {
            what,
            needs,
            got: self.arch.family(),
        }
    }

    /// BERT logits (`[sequences, classes]`), each sequence at its own length.
    pub fn forward_bert(
        &self,
        sequences: &[&[u32]],
        threads: usize,
    ) -> Result<Vec<f32>, SequenceError> {
        self.check_bert_input(sequences)?;
        Ok(self.bert("forward_bert")?.forward(sequences, threads))
    }

    /// Check that every sequence fits a BERT: 1 to `positions` ids, each below `vocab`.
    pub fn check_bert_input(&self, sequences: &[&[u32]]) -> Result<(), SequenceError> {
        let bert = self.bert("a bert input")?;
        for (index, ids) in sequences.iter().enumerate() {
            check_sequence(bert.spec(), index, ids)?;
        }
        Ok(())
    }

    /// A BERT's sentence vector (`[width]`) for one sequence: what the head reads.
    pub fn bert_pooled(&self, ids: &[u32]) -> Result<Vec<f32>, SequenceError> {
        let bert = self.bert("bert_pooled")?;
        check_sequence(bert.spec(), 0, ids)?;
        Ok(bert.pooled(ids))
    }

    fn bert(&self, what: &'static str) -> Result<&bert::Bert, SequenceError> {
        match &self.net {
            Net::Bert(b) => Ok(b),
            _ => Err(SequenceError::NotBert(what)),
        }
    }
}

/// A family's forward pass asked of a model of another family.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} needs a {needs:?} model; this one is {got:?}")]
pub struct OtherFamily {
    /// What was asked.
    pub what: &'static str,
    /// The family it needs.
    pub needs: Family,
    /// The model's.
    pub got: Family,
}

/// Why a token sequence cannot go through a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceError {
    /// The model is not of the `bert` family.
    #[error("{0} needs a bert model")]
    NotBert(&'static str),
    /// A sequence is empty or longer than the model's positions.
    #[error("sequence {index} has {len} tokens, the model reads 1..={max}")]
    Length {
        /// Which sequence.
        index: usize,
        /// Its length.
        len: usize,
        /// The model's positions.
        max: u32,
    },
    /// A token id is outside the model's vocabulary.
    #[error("sequence {index} has token id {id}, the model's vocabulary has {vocab}")]
    Token {
        /// Which sequence.
        index: usize,
        /// The id.
        id: u32,
        /// The vocabulary's size.
        vocab: u32,
    },
}

fn check_sequence(
    spec: &bounties::arch::BertSpec,
    index: usize,
    ids: &[u32],
) -> Result<(), SequenceError> {
    if ids.is_empty() || ids.len() > spec.positions as usize {
        return Err(SequenceError::Length {
            index,
            len: ids.len(),
            max: spec.positions,
        });
    }
    match ids.iter().find(|&&id| id >= spec.vocab) {
        Some(&id) => Err(SequenceError::Token {
            index,
            id,
            vocab: spec.vocab,
        }),
        None => Ok(()),
    }
}

/// Run a row kernel over `out` (rows of `out_width`, with the matching rows
/// of `input`, of `in_width`) in one piece per thread. A row kernel's bits do
/// not depend on which rows share a call, so neither do these.
pub(super) fn split_rows(
    input: &[f32],
    out: &mut [f32],
    in_width: usize,
    out_width: usize,
    threads: usize,
    kernel: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    let rows = out.len() / out_width.max(1);
    // A thread earns its start-up only over some ten thousand values.
    let threads = threads.clamp(1, (out.len() / 16_384).max(1));
    let per = rows.div_ceil(threads).max(1);
    if threads == 1 {
        kernel(input, out);
        return;
    }
    let kernel = &kernel;
    std::thread::scope(|s| {
        for (i, o) in out.chunks_mut(per * out_width).enumerate() {
            let start = (i * per * in_width).min(input.len());
            let end = ((i + 1) * per * in_width).min(input.len());
            let input = &input[start..end];
            s.spawn(move || kernel(input, o));
        }
    });
}
