//! Seeded random-weight model files for any architecture: fixtures for tests,
//! benches and the cross-CPU determinism check (before any miner has trained one).

use std::collections::BTreeMap;

use bounties::arch::{Architecture, INPUT_STD};
use bounties::seeded;
use bounties::tensorfile::{self, Dtype, TensorData};
use rand_core::RngCore;

use crate::model::ARCHITECTURE_TAG;

/// A model file for `arch` with weights drawn uniformly in `±1/√fan_in`
/// (layer-norm gains 1, biases small, a standardised mlp's deviations in
/// 0.5..1.5) from ChaCha20 seeded with `seed`.
pub fn model_file(arch: &Architecture, seed: &str) -> Vec<u8> {
    let mut rng = seeded::rng(b"model-bounties/synthetic-model/v1", &[seed.as_bytes()]);
    let specs = arch.tensors();
    let values: Vec<Vec<u8>> = specs
        .iter()
        .map(|spec| {
            let n = spec.elements() as usize;
            let fan_in = spec.shape.last().copied().unwrap_or(1).max(1) as f32;
            let is_gain = (spec.name.contains("ln") || spec.name.contains("LayerNorm"))
                && spec.name.ends_with(".weight");
            let is_std = spec.name == INPUT_STD;
            (0..n)
                .flat_map(|_| {
                    let u = (rng.next_u32() >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0;
                    let v = if is_gain {
                        1.0 + 0.1 * u
                    } else if is_std {
                        0.5 + u.abs()
                    } else if spec.shape.len() == 1 {
                        0.1 * u
                    } else {
                        u / fan_in.sqrt()
                    };
                    v.to_le_bytes()
                })
                .collect()
        })
        .collect();
    let tensors: Vec<TensorData<'_>> = specs
        .iter()
        .zip(&values)
        .map(|(s, v)| TensorData {
            name: &s.name,
            dtype: Dtype::F32,
            shape: s.shape.clone(),
            data: v,
        })
        .collect();
    let meta = BTreeMap::from([(ARCHITECTURE_TAG.to_owned(), arch.to_string())]);
    tensorfile::write(&meta, &tensors).expect("spec tensors are well formed")
}
