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
    // Each family's module scores its own network (`model::Network`).
    let per_example = model.network().score(dataset, metric, threads)?;
    let score = mean_fixed(&per_example);
    Ok(Scored { per_example, score })
}

/// Example `i`'s score from its logits (a class label's accuracy or
/// cross-entropy, or a regression target's squared error).
pub(crate) fn example_score(metric: Metric, logits: &[f32], dataset: &Dataset, i: usize) -> i64 {
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
