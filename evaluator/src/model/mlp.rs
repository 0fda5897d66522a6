//! The `mlp` family's network: optional input standardisation, dense layers
//! with ReLU between them.

use bounties::arch::{INPUT_MEAN, INPUT_STD, MlpSpec};

use bounties::spec::{Metric, Task};
use datasets::Dataset;

use super::{Dense, ModelError, Network, Weights};
use crate::kernels;
use crate::score::{ScoreError, example_score};

/// A checked mlp.
#[derive(Clone, Debug)]
pub(super) struct Mlp {
    spec: MlpSpec,
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
            spec: spec.clone(),
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

/// Rows scored per forward pass (bounds memory; results do not depend on it).
const MLP_ROWS: usize = 4096;

/// Per-example scores on a classification or regression dataset of features.
impl Network for Mlp {
    fn score(
        &self,
        dataset: &Dataset,
        metric: Metric,
        threads: usize,
    ) -> Result<Vec<i64>, ScoreError> {
        let (spec, task) = (&self.spec, dataset.task());
        let (features, outputs) = (
            spec.widths[0] as usize,
            *spec.widths.last().expect("2+") as usize,
        );
        if dataset.sequences().is_some() {
            return Err(ScoreError::Mismatch(
                "an mlp reads features, the dataset holds texts".into(),
            ));
        }
        let width = dataset.inputs.shape[1] as usize;
        if features != width {
            return Err(ScoreError::Mismatch(format!(
                "the model takes {features} inputs, the dataset has {width} features"
            )));
        }
        let expected = if task == Task::Regression {
            1
        } else {
            dataset.classes().unwrap_or(0) as usize
        };
        if outputs != expected {
            return Err(ScoreError::Mismatch(format!(
                "the model has {outputs} outputs, the dataset needs {expected}"
            )));
        }
        if task == Task::Regression && metric != Metric::Mse
            || task == Task::Classification && metric == Metric::Mse
        {
            return Err(ScoreError::Mismatch(format!(
                "metric {metric:?} does not fit task {task:?}"
            )));
        }
        let inputs = dataset.inputs_f32();
        let n = dataset.examples() as usize;
        let mut out = Vec::with_capacity(n);
        for start in (0..n).step_by(MLP_ROWS) {
            let rows = MLP_ROWS.min(n - start);
            let logits = self.forward(
                &inputs[start * width..(start + rows) * width],
                rows,
                threads,
            );
            for (r, row) in logits.chunks(outputs).enumerate() {
                out.push(example_score(metric, row, dataset, start + r));
            }
        }
        Ok(out)
    }
}
