//! The `mlp` family's network: optional input standardisation, dense layers
//! with ReLU between them.

use bounties::arch::{INPUT_MEAN, INPUT_STD, MlpSpec};

use super::{Dense, ModelError, Weights};
use crate::kernels;

/// A checked mlp.
#[derive(Clone, Debug)]
pub(super) struct Mlp {
    /// Per-feature (mean, standard deviation), for `+standardize`.
    standardize: Option<(Vec<f32>, Vec<f32>)>,
    layers: Vec<Dense>,
}

impl Mlp {
    /// The network of a checked file; a standard deviation that is not
    /// positive is refused.
    pub(super) fn load(spec: &MlpSpec, w: &Weights<'_>) -> Result<Mlp, ModelError> {
        let standardize = if spec.standardize {
            let std = w.get(INPUT_STD);
            if let Some(index) = std.iter().position(|v| *v <= 0.0) {
                return Err(ModelError::NonPositiveStd { index });
            }
            Some((w.get(INPUT_MEAN), std))
        } else {
            None
        };
        Ok(Mlp {
            standardize,
            layers: (0..spec.widths.len() - 1)
                .map(|i| w.dense(&format!("layers.{i}"), true))
                .collect(),
        })
    }

    /// Logits (`[rows, outputs]`) for inputs `[rows, features]`.
    pub(super) fn forward(&self, x: &[f32], rows: usize, threads: usize) -> Vec<f32> {
        // `+standardize`: `(x − mean) / std` per feature, two f32 roundings.
        let standardized: Option<Vec<f32>> = self.standardize.as_ref().map(|(mean, std)| {
            x.chunks(mean.len())
                .flat_map(|row| {
                    row.iter()
                        .zip(mean.iter().zip(std))
                        .map(|(v, (m, s))| (*v - *m) / *s)
                })
                .collect()
        });
        let x = standardized.as_deref().unwrap_or(x);
        let mut h = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.apply(if i == 0 { x } else { &h }, rows, threads);
            if i + 1 < self.layers.len() {
                kernels::relu(&mut h);
            }
        }
        h
    }
}
