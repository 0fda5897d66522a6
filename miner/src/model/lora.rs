//! LoRA adapters in candle: `A` (`[R, D]`, uniform in `±1/√D`, seeded) and
//! `B` (`[D, R]`, zeros) on a bert's chosen attention projections, the
//! update `s·(x·Aᵀ)·Bᵀ` beside the frozen `x·Wᵀ` (`s = alpha/rank`), the
//! head trained whole; written as an adapter file in the PEFT layout.

use std::collections::BTreeMap;

use bounties::Hash32;
use bounties::arch::lora::{ADAPTER_TAG, BASE_WEIGHTS_TAG, LoraSpec, PEFT_PREFIX};
use bounties::arch::{ARCHITECTURE_TAG, Architecture};
use bounties::seeded;
use candle_core::{DType, Device, Tensor, Var};
use rand_core::RngCore;

use super::{ModelError, Params, write_vars};

impl Params {
    /// Add LoRA adapters to a bert and freeze everything but them and the
    /// head. `seed` draws every `A`.
    pub fn add_lora(&mut self, lora: LoraSpec, seed: &str) -> Result<(), ModelError> {
        self.add_lora_with_dropout(lora, seed, 0.0)
    }

    /// [`Params::add_lora`] with dropout `p` (in `[0, 1)`) on each adapted
    /// projection's input while training, as PEFT's `lora_dropout`: zeroed
    /// with probability `p`, the rest scaled by `1/(1−p)`; each step's masks
    /// are drawn from `seed`, the step and the projection, so a run (and a
    /// resumed one) is reproducible.
    pub fn add_lora_with_dropout(
        &mut self,
        lora: LoraSpec,
        seed: &str,
        p: f32,
    ) -> Result<(), ModelError> {
        if !(0.0..1.0).contains(&p) {
            return Err(ModelError::File(format!(
                "LoRA dropout must be in [0, 1), not {p}"
            )));
        }
        self.lora_dropout = (p > 0.0).then(|| Dropout {
            p,
            seed: seed.to_owned(),
        });
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
        let dropped;
        let x = match (&self.lora_dropout, self.train_step.get()) {
            (Some(d), Some(step)) => {
                dropped = (x * d.mask(x, step, prefix)?)?;
                &dropped
            }
            _ => x,
        };
        let delta = x.matmul(&a.as_tensor().t()?)?.matmul(&b.as_tensor().t()?)?;
        Ok(Some((delta * f64::from(lora.scale()))?))
    }

    /// The LoRA adapters added, if any.
    pub fn lora(&self) -> Option<&LoraSpec> {
        self.lora.as_ref()
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
                "lora_dropout": self.lora_dropout.as_ref().map_or(0.0, |d| d.p),
                "target_modules": targets,
                "modules_to_save": modules,
                "bias": "none",
                "fan_in_fan_out": false,
                "inference_mode": true,
            })
            .to_string(),
        );
        // The adapters (already under their PEFT names) and the head, prefixed.
        let vars = self.vars.iter().filter_map(|(name, var)| {
            if name.starts_with(PEFT_PREFIX) {
                Some((name.clone(), var))
            } else {
                head.contains(name)
                    .then(|| (format!("{PEFT_PREFIX}{name}"), var))
            }
        });
        write_vars(&meta, vars)
    }
}

/// LoRA dropout's rate and the seed of its masks.
#[derive(Clone, Debug)]
pub(super) struct Dropout {
    p: f32,
    seed: String,
}

impl Dropout {
    /// The mask for `x` (the input of projection `prefix`) at `step`: each
    /// element `0` with probability `p`, else `1/(1−p)`.
    fn mask(&self, x: &Tensor, step: u64, prefix: &str) -> candle_core::Result<Tensor> {
        let mut rng = seeded::rng(
            b"model-bounties/miner-lora-dropout/v1",
            &[self.seed.as_bytes(), &step.to_le_bytes(), prefix.as_bytes()],
        );
        // u32 draws below p·2³² are dropped.
        let cut = (f64::from(self.p) * 4_294_967_296.0) as u64;
        let keep = 1.0 / (1.0 - self.p);
        let values: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if u64::from(rng.next_u32()) < cut {
                    0.0
                } else {
                    keep
                }
            })
            .collect();
        Tensor::from_vec(values, x.shape(), x.device())
    }
}
