//! LoRA adapters in candle: `A` (`[R, D]`, uniform in `±1/√D`, seeded) and
//! `B` (`[D, R]`, zeros) on a bert's chosen attention projections, the
//! update `s·(x·Aᵀ)·Bᵀ` beside the frozen `x·Wᵀ` (`s = alpha/rank`), the
//! head trained whole; written as an adapter file in the PEFT layout.

use std::collections::BTreeMap;

use bounties::Hash32;
use bounties::arch::lora::{ADAPTER_TAG, BASE_WEIGHTS_TAG, LoraSpec, PEFT_PREFIX};
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::seeded;
use bounties::tensorfile::{self, Dtype, TensorData};
use candle_core::{DType, Device, Tensor, Var};
use rand_core::RngCore;

use super::{ModelError, Params};

impl Params {
    /// Add LoRA adapters to a bert and freeze everything but them and the
    /// head. `seed` draws every `A`.
    pub fn add_lora(&mut self, lora: LoraSpec, seed: &str) -> Result<(), ModelError> {
        let Architecture::Bert(spec) = &self.arch else {
            return Err(ModelError::File(format!(
                "LoRA adapters are for the bert family; {} is not one",
                self.arch
            )));
        };
        let device = self
            .vars
            .values()
            .next()
            .map_or(Device::Cpu, |v| v.device().clone());
        let mut rng = seeded::rng(b"model-bounties/miner-lora/v1", &[seed.as_bytes()]);
        let (r, d) = (lora.rank as usize, spec.width as usize);
        let bound = 1.0 / (d as f32).sqrt();
        for layer in 0..spec.layers {
            for &target in &lora.targets {
                let (a, b) = lora.pair(layer, target);
                let values: Vec<f32> = (0..r * d)
                    .map(|_| {
                        ((rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * bound
                    })
                    .collect();
                let a_var = Var::from_tensor(&Tensor::from_vec(values, (r, d), &device)?)?;
                let b_var = Var::from_tensor(&Tensor::zeros((d, r), DType::F32, &device)?)?;
                self.vars.insert(a, a_var);
                self.vars.insert(b, b_var);
            }
        }
        self.lora = Some(lora);
        self.head_only = true;
        Ok(())
    }

    /// The LoRA update of the projection `prefix` for 2-D inputs `x`, if it
    /// is adapted.
    pub(super) fn lora_delta(
        &self,
        x: &Tensor,
        prefix: &str,
    ) -> candle_core::Result<Option<Tensor>> {
        let Some(lora) = &self.lora else {
            return Ok(None);
        };
        let (a, b) = (
            format!("{PEFT_PREFIX}{prefix}.lora_A.weight"),
            format!("{PEFT_PREFIX}{prefix}.lora_B.weight"),
        );
        let (Some(a), Some(b)) = (self.vars.get(&a), self.vars.get(&b)) else {
            return Ok(None);
        };
        let delta = x.matmul(&a.as_tensor().t()?)?.matmul(&b.as_tensor().t()?)?;
        Ok(Some((delta * f64::from(lora.scale()))?))
    }

    /// The adapter file: every `A` and `B` and the head under their PEFT
    /// names; the base's architecture, the adapter spec, the base's weights
    /// hash and PEFT's `adapter_config` in the metadata (plus `metadata`).
    pub fn to_adapter_file(
        &self,
        metadata: &BTreeMap<String, String>,
        base: Hash32,
    ) -> Result<Vec<u8>, ModelError> {
        let (Some(lora), Architecture::Bert(spec)) = (&self.lora, &self.arch) else {
            return Err(ModelError::File("no LoRA adapters to write".into()));
        };
        let mut meta = metadata.clone();
        meta.insert(ARCHITECTURE_TAG.into(), self.arch.to_string());
        meta.insert(ADAPTER_TAG.into(), lora.to_string());
        meta.insert(BASE_WEIGHTS_TAG.into(), base.to_hex());
        let head: Vec<String> = spec.head_tensors().into_iter().map(|t| t.name).collect();
        let modules: Vec<&str> = head
            .iter()
            .filter_map(|n| n.split('.').next())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let targets: Vec<&str> = lora.targets.iter().map(|t| t.name()).collect();
        meta.insert(
            "adapter_config".into(),
            serde_json::json!({
                "peft_type": "LORA",
                "r": lora.rank,
                "lora_alpha": lora.alpha,
                "lora_dropout": 0.0,
                "target_modules": targets,
                "modules_to_save": modules,
                "bias": "none",
                "fan_in_fan_out": false,
                "inference_mode": true,
            })
            .to_string(),
        );
        let mut buffers = Vec::new();
        for (name, var) in &self.vars {
            let file_name = if name.starts_with(PEFT_PREFIX) {
                name.clone()
            } else if head.contains(name) {
                format!("{PEFT_PREFIX}{name}")
            } else {
                continue;
            };
            let t = var
                .as_tensor()
                .to_device(&Device::Cpu)?
                .to_dtype(DType::F32)?;
            let bytes: Vec<u8> = t
                .flatten_all()?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let shape: Vec<u64> = t.dims().iter().map(|&d| d as u64).collect();
            buffers.push((file_name, shape, bytes));
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
        tensorfile::write(&meta, &tensors).map_err(|e| ModelError::File(e.to_string()))
    }
}
