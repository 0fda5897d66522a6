//! candle implementations of the shared `mlp`, `gpt` and `bert` architectures.
//!
//! Parameters live in a name-ordered map of `Var`s with exactly the tensor
//! names, dtypes and shapes of `bounties::arch`, so a trained model is a file
//! the evaluator reads. Two candle traps are avoided on purpose:
//! - `VarMap` iterates a HashMap and initialises from an unseeded RNG; here
//!   initialisation is ChaCha20 from a seed and everything iterates in name order;
//! - `candle_nn::ops::{softmax_last_dim, layer_norm}` and `nn::LayerNorm` have
//!   no backward pass; layer norm and softmax are built from primitive ops
//!   that do (the max subtracted for stability is detached, which leaves the
//!   gradient unchanged since softmax is invariant to it).
//!
//! Each family's forward pass is its own module ([`mlp`], [`gpt`], [`bert`]).
//!
//! On the CPU, `crate::fused` ops with their own backward passes stand in for
//! the primitive chains (bias add, layer norm, attention, GELU); the primitive
//! versions run on other devices and are what the fused ops are tested against.

use std::collections::BTreeMap;

use bounties::arch::lora::{LoraSpec, PEFT_PREFIX};
use bounties::arch::{ARCHITECTURE_TAG, Architecture, INPUT_MEAN, INPUT_STD};
use bounties::seeded;
use bounties::tensorfile::{self, Dtype, TensorData, TensorFile};
use candle_core::{D, DType, Device, Tensor, Var};

mod bert;
mod gpt;
mod lora;
mod mlp;

pub use bert::NO_TOKEN;

#[cfg(test)]
pub(crate) use gpt::attention;
use rand_core::RngCore;

/// Why a model could not be built or read.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// candle failed.
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// The file is not a model of a known architecture.
    #[error("{0}")]
    File(String),
}

/// A model's parameters, by name.
#[derive(Clone, Debug)]
pub struct Params {
    /// The architecture.
    pub arch: Architecture,
    vars: BTreeMap<String, Var>,
    /// Only the head (and LoRA's tensors, when there are) trains on a frozen
    /// pretrained encoder: the other tensors enter the forward pass
    /// detached, so backward stops at what trains.
    head_only: bool,
    /// LoRA adapters on a bert's attention projections (their `A` and `B`
    /// are in `vars` under their PEFT names).
    lora: Option<LoraSpec>,
    /// LoRA dropout on the adapted projections' inputs, while training.
    lora_dropout: Option<lora::Dropout>,
    /// The optimizer step being trained (dropout's masks are drawn for it);
    /// `None` outside a training step, so evaluation sees whole inputs.
    train_step: std::cell::Cell<Option<u64>>,
}

/// One family in the miner, each in its own module: its candle forward
/// pass (with a backward pass for every op, so [`crate::train::step`]
/// trains it) and what it asks of a dataset to train on.
pub trait Family {
    /// The outputs for inputs `x`, as [`Params::forward`] documents them.
    fn forward(&self, params: &Params, x: &Tensor) -> candle_core::Result<Tensor>;
    /// Why `data` (of a task the family does) cannot train `arch`, if it cannot.
    fn misfit(&self, arch: &Architecture, data: &datasets::Dataset) -> Option<String>;
}

/// The family of `arch`, to ask.
pub fn family(arch: &Architecture) -> &dyn Family {
    match arch {
        Architecture::Mlp(m) => m,
        Architecture::Gpt(g) => g,
        Architecture::Bert(b) => b,
    }
}

/// Which tensors training changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trainable {
    /// Every tensor (a full fine-tune, or training from scratch).
    All,
    /// A bert's head (`classifier`, and `pooler` for `pool=cls`) only.
    Head,
}

impl Params {
    /// Fresh parameters for `arch`, seeded: weights uniform in `±1/√fan_in`,
    /// biases zero, layer-norm gains one, embeddings `±0.02·√3` (std 0.02).
    pub fn init(arch: &Architecture, seed: &str, device: &Device) -> Result<Params, ModelError> {
        let mut rng = seeded::rng(b"model-bounties/miner-init/v1", &[seed.as_bytes()]);
        let mut vars = BTreeMap::new();
        for spec in arch.tensors() {
            let n = spec.elements() as usize;
            let shape: Vec<usize> = spec.shape.iter().map(|&d| d as usize).collect();
            let name = spec.name.as_str();
            // A standardised mlp starts as the identity (see `standardize_from`).
            let values: Vec<f32> = if name == INPUT_MEAN {
                vec![0.0; n]
            } else if name == INPUT_STD {
                vec![1.0; n]
            } else if name.ends_with(".bias") {
                vec![0.0; n]
            } else if name.contains("ln") || name.ends_with("LayerNorm.weight") {
                vec![1.0; n]
            } else {
                let bound = if name.contains("_emb") {
                    0.02 * 3f32.sqrt()
                } else {
                    1.0 / (shape[1] as f32).sqrt()
                };
                (0..n)
                    .map(|_| {
                        ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * bound
                    })
                    .collect()
            };
            vars.insert(
                spec.name.clone(),
                Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?,
            );
        }
        Ok(Params {
            arch: arch.clone(),
            vars,
            head_only: false,
            lora: None,
            lora_dropout: None,
            train_step: Default::default(),
        })
    }

    /// Parameters from a model file's bytes, checked: the container, the
    /// architecture tag, every tensor against the spec, finite values.
    pub fn from_file(bytes: &[u8], device: &Device) -> Result<Params, ModelError> {
        let file = TensorFile::parse(bytes).map_err(|e| ModelError::File(e.to_string()))?;
        let arch: Architecture = file
            .metadata
            .get(ARCHITECTURE_TAG)
            .ok_or_else(|| ModelError::File(format!("the file has no {ARCHITECTURE_TAG} tag")))?
            .parse()
            .map_err(|e: bounties::arch::ArchError| ModelError::File(e.to_string()))?;
        arch.check_tensors(&file.tensors)
            .map_err(|e| ModelError::File(e.to_string()))?;
        let mut vars = BTreeMap::new();
        for info in &file.tensors {
            let values = file.f32_values(info).expect("checked to be F32");
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::File(format!(
                    "tensor {} has NaN or infinite values",
                    info.name
                )));
            }
            let shape: Vec<usize> = info.shape.iter().map(|&d| d as usize).collect();
            vars.insert(
                info.name.clone(),
                Var::from_tensor(&Tensor::from_vec(values, shape, device)?)?,
            );
        }
        Ok(Params {
            arch,
            vars,
            head_only: false,
            lora: None,
            lora_dropout: None,
            train_step: Default::default(),
        })
    }

    /// Train only what `which` says; `Head` is for the bert family.
    pub fn set_trainable(&mut self, which: Trainable) -> Result<(), ModelError> {
        if which == Trainable::Head && !matches!(self.arch, Architecture::Bert(_)) {
            return Err(ModelError::File(format!(
                "training the head alone is for the bert family; {} is not one",
                self.arch
            )));
        }
        self.head_only = which == Trainable::Head;
        Ok(())
    }

    /// The trainable variables, in name order (the order the optimizer sees):
    /// every tensor but a standardised mlp's input statistics (and, head
    /// only, every tensor but the head's).
    pub fn vars(&self) -> Vec<Var> {
        self.vars
            .iter()
            .filter(|(name, _)| self.trainable(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The trainable variables' names, in the order of [`Params::vars`].
    pub fn names(&self) -> Vec<&str> {
        self.vars
            .keys()
            .map(String::as_str)
            .filter(|name| self.trainable(name))
            .collect()
    }

    /// Whether training changes a tensor: a standardised mlp's input
    /// statistics are set once from the data, not learned; with the head
    /// only, nothing before the head is.
    fn trainable(&self, name: &str) -> bool {
        let head = name.starts_with("classifier.")
            || name.starts_with("pooler.")
            || name.starts_with(PEFT_PREFIX);
        name != INPUT_MEAN && name != INPUT_STD && (!self.head_only || head)
    }

    fn get(&self, name: &str) -> Tensor {
        let t = self
            .vars
            .get(name)
            .unwrap_or_else(|| panic!("parameter {name} exists by construction"))
            .as_tensor();
        if self.trainable(name) {
            t.clone()
        } else {
            t.detach()
        }
    }

    /// The model file: tensors in name order, `metadata` (plus the
    /// Architecture tag) in key order, so the same weights give the same bytes.
    pub fn to_file(&self, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>, ModelError> {
        if self.lora.is_some() {
            return Err(ModelError::File(
                "a model with LoRA adapters is written as an adapter file (to_adapter_file)".into(),
            ));
        }
        let mut meta = metadata.clone();
        meta.insert(ARCHITECTURE_TAG.into(), self.arch.to_string());
        write_vars(&meta, self.vars.iter().map(|(n, v)| (n.clone(), v)))
    }

    /// Enter (`Some(step)`) or leave (`None`) a training step: LoRA dropout
    /// applies inside one only.
    pub fn set_train_step(&self, step: Option<u64>) {
        self.train_step.set(step);
    }

    /// Outputs: `[n, outputs]` for an mlp on `[n, features]` f32 inputs;
    /// `[b, t, vocab]` logits for a gpt on `[b, t]` u32 token ids; `[b, classes]`
    /// for a bert on `[b, t]` u32 token ids ([`NO_TOKEN`] after each sequence).
    pub fn forward(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        Ok(family(&self.arch).forward(self, x)?)
    }

    /// Layer norm over the last dimension with the tensors `{prefix}.weight`
    /// and `{prefix}.bias`: the fused op on the CPU, primitive ops elsewhere.
    fn norm_eps(&self, x: &Tensor, prefix: &str, eps: f32) -> candle_core::Result<Tensor> {
        let (w, b) = (
            self.get(&format!("{prefix}.weight")),
            self.get(&format!("{prefix}.bias")),
        );
        if x.device().is_cpu() {
            return crate::fused::layer_norm(x, &w, &b, eps);
        }
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
        centred
            .broadcast_div(&(var + f64::from(eps))?.sqrt()?)?
            .broadcast_mul(&w)?
            .broadcast_add(&b)
    }

    /// `x·Wᵀ + b` over the last dimension, as one 2-D product (a broadcast
    /// batch product would come back in the backward pass as a reduction
    /// over the batch).
    fn linear(&self, x: &Tensor, prefix: &str, bias: bool) -> candle_core::Result<Tensor> {
        let w = self.get(&format!("{prefix}.weight"));
        let mut dims = x.dims().to_vec();
        let inputs = dims.pop().expect("inputs have a last dimension");
        dims.push(w.dim(0)?);
        let x = x.reshape(((), inputs))?;
        let y = x.matmul(&w.t()?)?;
        let y = match self.lora_delta(&x, prefix)? {
            Some(delta) => (y + delta)?,
            None => y,
        };
        let y = if !bias {
            y
        } else if y.device().is_cpu() {
            crate::fused::bias_add(&y, &self.get(&format!("{prefix}.bias")))?
        } else {
            y.broadcast_add(&self.get(&format!("{prefix}.bias")))?
        };
        y.reshape(dims)
    }
}

/// A safetensors file of `vars` under the given names (F32, on the CPU),
/// `meta` in key order: the same values give the same bytes.
fn write_vars<'a>(
    meta: &BTreeMap<String, String>,
    vars: impl Iterator<Item = (String, &'a Var)>,
) -> Result<Vec<u8>, ModelError> {
    let mut buffers = Vec::new();
    for (name, var) in vars {
        let t = var
            .as_tensor()
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?;
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let shape: Vec<u64> = t.dims().iter().map(|&d| d as u64).collect();
        buffers.push((name, shape, bytes));
    }
    let tensors: Vec<TensorData<'_>> = buffers
        .iter()
        .map(|(n, s, b)| TensorData {
            name: n,
            dtype: Dtype::F32,
            shape: s.clone(),
            data: b,
        })
        .collect();
    tensorfile::write(meta, &tensors).map_err(|e| ModelError::File(e.to_string()))
}

/// Softmax over the last dimension from primitive ops (with a backward pass).
pub fn softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    e.broadcast_div(&e.sum_keepdim(D::Minus1)?)
}

/// Log-softmax over the last dimension from primitive ops.
pub fn log_softmax(x: &Tensor) -> candle_core::Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    shifted.broadcast_sub(&shifted.exp()?.sum_keepdim(D::Minus1)?.log()?)
}
