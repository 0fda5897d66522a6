//! Scoring a model on a dataset: per-example scores and the fixed-point score.
//!
//! The rounding rule (the only place a float becomes an integer):
//! 1. each example's value is computed in f32 by the kernels (for a sequence,
//!    the mean of its tokens' losses, summed in order in f64);
//! 2. it becomes fixed point as `round_half_even(value as f64 · 10⁶)`;
//! 3. the score is the integer mean of the per-example integers, rounded half
//!    to even: `Σ / n` with the remainder compared against `n / 2`.
//!
//! Accuracy per example is 10⁶ (right, argmax with ties to the lower class)
//! or 0; cross-entropy is `−log_softmax(logits)[target]` in nats; MSE is
//! `(prediction − target)²` of the single output.

use bounties::Score;
use bounties::arch::{Architecture, BertSpec, GptSpec, MlpSpec};
use bounties::spec::{Metric, Task};
use bounties::tensorfile::Dtype;
use datasets::Dataset;

use crate::kernels;
use crate::model::Model;

/// Why a model cannot be scored on a dataset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoreError {
    /// The model and dataset do not fit together.
    #[error("model and dataset do not fit: {0}")]
    Mismatch(String),
}

/// Per-example scores and the score.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scored {
    /// Each example's score, fixed point.
    pub per_example: Vec<i64>,
    /// The score, fixed point.
    pub score: Score,
}

/// `round_half_even(v · 10⁶)`, saturating.
pub fn to_fixed(v: f64) -> i64 {
    let scaled = (v * Score::SCALE as f64).round_ties_even();
    if scaled.is_nan() {
        i64::MAX
    } else {
        scaled as i64
    }
}

/// `num / den` (`den > 0`) rounded half to even, saturating to i64.
pub fn div_half_even(num: i128, den: i128) -> i64 {
    let (q, r) = (num.div_euclid(den), num.rem_euclid(den));
    let q = match (2 * r).cmp(&den) {
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal if q % 2 != 0 => q + 1,
        _ => q,
    };
    q.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// The integer mean, rounded half to even.
pub fn mean_fixed(values: &[i64]) -> Score {
    if values.is_empty() {
        return Score(0);
    }
    let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
    Score(div_half_even(sum, values.len() as i128))
}

/// The default metric of a task.
pub fn default_metric(task: Task) -> Metric {
    match task {
        Task::Classification => Metric::Accuracy,
        Task::LanguageModel => Metric::CrossEntropy,
        Task::Regression => Metric::Mse,
    }
}

/// Rows scored per forward pass (bounds memory; results do not depend on it).
const MLP_ROWS: usize = 4096;
const GPT_SEQUENCES: usize = 32;
/// Texts per forward pass of a bert (each runs at its own length).
const BERT_SEQUENCES: usize = 256;

/// Score `model` on `dataset` with `metric`.
pub fn score(
    model: &Model,
    dataset: &Dataset,
    metric: Metric,
    threads: usize,
) -> Result<Scored, ScoreError> {
    let task = dataset.task();
    if !model.arch.fits(task) {
        let family = model.arch.family();
        return Err(ScoreError::Mismatch(format!(
            "a {family:?} model cannot do {task:?}"
        )));
    }
    let per_example = match &model.arch {
        Architecture::Mlp(spec) => score_mlp(model, spec, dataset, task, metric, threads)?,
        Architecture::Gpt(spec) => score_gpt(model, spec, dataset, metric, threads)?,
        Architecture::Bert(spec) => score_bert(model, spec, dataset, metric, threads)?,
    };
    let score = mean_fixed(&per_example);
    Ok(Scored { per_example, score })
}

/// Per-example scores of an mlp on a classification or regression dataset.
fn score_mlp(
    model: &Model,
    spec: &MlpSpec,
    dataset: &Dataset,
    task: Task,
    metric: Metric,
    threads: usize,
) -> Result<Vec<i64>, ScoreError> {
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
        let logits = model.forward_mlp(
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

/// Per-example scores of a gpt on a language-model dataset: each sequence's
/// mean token loss (or accuracy).
fn score_gpt(
    model: &Model,
    spec: &GptSpec,
    dataset: &Dataset,
    metric: Metric,
    threads: usize,
) -> Result<Vec<i64>, ScoreError> {
    let vocab = dataset.vocabulary().map_or(0, |v| v.len());
    if spec.vocab as usize != vocab {
        return Err(ScoreError::Mismatch(format!(
            "the model's vocabulary is {}, the dataset's {vocab}",
            spec.vocab
        )));
    }
    let t = dataset.inputs.shape[1] as usize;
    if t > spec.context as usize {
        return Err(ScoreError::Mismatch(format!(
            "sequences of {t} exceed the model's context {}",
            spec.context
        )));
    }
    if metric == Metric::Mse {
        return Err(ScoreError::Mismatch(
            "MSE does not fit a language model".into(),
        ));
    }
    let n = dataset.examples() as usize;
    let (ids, targets) = (
        dataset.inputs.token_ids().expect("validated token ids"),
        dataset.targets.token_ids().expect("validated token ids"),
    );
    let v = spec.vocab as usize;
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(GPT_SEQUENCES) {
        let seqs = GPT_SEQUENCES.min(n - start);
        let logits = model.forward_gpt(&ids[start * t..(start + seqs) * t], t, threads);
        for s in 0..seqs {
            let mut loss = 0f64;
            let mut right = 0i64;
            for p in 0..t {
                let row = &logits[(s * t + p) * v..(s * t + p + 1) * v];
                let target = targets[(start + s) * t + p] as usize;
                match metric {
                    Metric::Accuracy => right += i64::from(kernels::argmax(row) == target),
                    _ => loss += f64::from(-kernels::log_softmax(row)[target]),
                }
            }
            out.push(match metric {
                Metric::Accuracy => div_half_even(i128::from(right * Score::SCALE), t as i128),
                _ => to_fixed(loss / t as f64),
            });
        }
    }
    Ok(out)
}

/// Per-example scores of a bert on a dataset of texts.
fn score_bert(
    model: &Model,
    spec: &BertSpec,
    dataset: &Dataset,
    metric: Metric,
    threads: usize,
) -> Result<Vec<i64>, ScoreError> {
    let sequences = dataset.sequences().ok_or_else(|| {
        ScoreError::Mismatch("a bert reads texts, the dataset holds features".into())
    })?;
    let classes = dataset.classes().unwrap_or(0);
    if u64::from(spec.classes) != classes {
        return Err(ScoreError::Mismatch(format!(
            "the model has {} classes, the dataset {classes}",
            spec.classes
        )));
    }
    if metric == Metric::Mse {
        return Err(ScoreError::Mismatch(
            "MSE does not fit classification".into(),
        ));
    }
    let all: Vec<&[u32]> = sequences.iter().map(Vec::as_slice).collect();
    model
        .check_bert_input(&all)
        .map_err(|e| ScoreError::Mismatch(e.to_string()))?;
    let c = spec.classes as usize;
    let mut out = Vec::with_capacity(sequences.len());
    for (chunk, texts) in all.chunks(BERT_SEQUENCES).enumerate() {
        let logits = model
            .forward_bert(texts, threads)
            .map_err(|e| ScoreError::Mismatch(e.to_string()))?;
        for (r, row) in logits.chunks(c).enumerate() {
            out.push(example_score(
                metric,
                row,
                dataset,
                chunk * BERT_SEQUENCES + r,
            ));
        }
    }
    Ok(out)
}

fn example_score(metric: Metric, logits: &[f32], dataset: &Dataset, i: usize) -> i64 {
    match dataset.targets.dtype {
        Dtype::I64 => {
            let label = i64::from_le_bytes(
                dataset.targets.data[i * 8..i * 8 + 8]
                    .try_into()
                    .expect("8"),
            ) as usize;
            match metric {
                Metric::Accuracy => i64::from(kernels::argmax(logits) == label) * Score::SCALE,
                _ => to_fixed(f64::from(-kernels::log_softmax(logits)[label])),
            }
        }
        _ => {
            let target = f32::from_le_bytes(
                dataset.targets.data[i * 4..i * 4 + 4]
                    .try_into()
                    .expect("4"),
            );
            let e = logits[0] - target;
            to_fixed(f64::from(e * e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_to_even() {
        assert_eq!(mean_fixed(&[1, 2]), Score(2)); // 1.5 -> 2
        assert_eq!(mean_fixed(&[2, 3]), Score(2)); // 2.5 -> 2
        assert_eq!(mean_fixed(&[-1, -2]), Score(-2)); // -1.5 -> -2
        assert_eq!(mean_fixed(&[1, 1, 2]), Score(1)); // 1.33 -> 1
        assert_eq!(mean_fixed(&[i64::MAX, i64::MAX]), Score(i64::MAX));
        assert_eq!(to_fixed(0.000_000_5), 0);
        assert_eq!(to_fixed(0.000_001_5), 2);
        assert_eq!(to_fixed(1.25), 1_250_000);
    }
}
