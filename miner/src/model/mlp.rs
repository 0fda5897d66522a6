//! The `mlp` family in candle: input standardisation and dense layers.

use bounties::arch::{Architecture, INPUT_MEAN, INPUT_STD, MlpSpec};
use bounties::spec::Task;
use candle_core::Tensor;
use datasets::Dataset;

use super::{Family, ModelError, Params};

impl Params {
    /// Set a standardised mlp's `input.mean` and `input.std` from training
    /// inputs (`[rows, features]`): per feature, the mean and the population
    /// standard deviation, summed in f64 in row order; a feature that does
    /// not vary (or too little to divide by) keeps a standard deviation of 1.
    pub fn standardize_from(&self, inputs: &[f32], features: usize) -> Result<(), ModelError> {
        let (Some(mean_var), Some(std_var)) = (self.vars.get(INPUT_MEAN), self.vars.get(INPUT_STD))
        else {
            return Err(ModelError::File(format!(
                "{} does not standardise its inputs",
                self.arch
            )));
        };
        let rows = inputs.len() / features.max(1);
        let mut sum = vec![0f64; features];
        for row in inputs.chunks_exact(features) {
            for (s, v) in sum.iter_mut().zip(row) {
                *s += f64::from(*v);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / rows.max(1) as f64).collect();
        let mut squares = vec![0f64; features];
        for row in inputs.chunks_exact(features) {
            for ((q, v), m) in squares.iter_mut().zip(row).zip(&mean) {
                *q += (f64::from(*v) - m).powi(2);
            }
        }
        let std: Vec<f32> = squares
            .iter()
            .map(|q| {
                let s = (q / rows.max(1) as f64).sqrt() as f32;
                if s.is_finite() && s > 1e-12 { s } else { 1.0 }
            })
            .collect();
        let mean: Vec<f32> = mean.iter().map(|m| *m as f32).collect();
        let device = mean_var.as_tensor().device().clone();
        mean_var.set(&Tensor::from_vec(mean, features, &device)?)?;
        std_var.set(&Tensor::from_vec(std, features, &device)?)?;
        Ok(())
    }

    pub(super) fn forward_mlp(&self, spec: &MlpSpec, x: &Tensor) -> candle_core::Result<Tensor> {
        let layers = spec.widths.len() - 1;
        let mut h = if spec.standardize {
            x.broadcast_sub(&self.get(INPUT_MEAN))?
                .broadcast_div(&self.get(INPUT_STD))?
        } else {
            x.clone()
        };
        for i in 0..layers {
            h = self.linear(&h, &format!("layers.{i}"), true)?;
            if i + 1 < layers {
                h = h.relu()?;
            }
        }
        Ok(h)
    }
}

impl Family for MlpSpec {
    fn forward(&self, params: &Params, x: &Tensor) -> candle_core::Result<Tensor> {
        params.forward_mlp(self, x)
    }

    fn misfit(&self, arch: &Architecture, data: &Dataset) -> Option<String> {
        let m = self;
        let features = data.inputs.shape[1];
        if u64::from(m.widths[0]) != features {
            return Some(format!(
                "{arch} takes {} inputs; the dataset has {features} features",
                m.widths[0]
            ));
        }
        let outputs = u64::from(*m.widths.last().expect("2+"));
        let needed = if data.task() == Task::Regression {
            1
        } else {
            data.classes().unwrap_or(0)
        };
        if outputs != needed {
            return Some(format!(
                "{arch} has {outputs} outputs; the dataset needs {needed}"
            ));
        }
        None
    }
}
