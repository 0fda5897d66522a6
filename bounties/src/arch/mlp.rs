//! The `mlp` family: `mlp:IN,H1,...,OUT`, dense layers `layers.{i}.weight`
//! `[out, in]` and `layers.{i}.bias` `[out]`, ReLU between layers, none after
//! the last; with `+standardize`, per-feature `input.mean` and `input.std`
//! applied to the inputs first. It does classification and regression.

use std::fmt;

use super::{ArchError, DIM_MAX, Family, LAYERS_MAX, Spec, TensorSpec, dim, number};
use crate::spec::Task;

/// The suffix of a standardised mlp's architecture string.
pub const STANDARDIZE_SUFFIX: &str = "+standardize";
/// A standardised mlp's per-feature means.
pub const INPUT_MEAN: &str = "input.mean";
/// A standardised mlp's per-feature standard deviations (all positive).
pub const INPUT_STD: &str = "input.std";

/// A multi-layer perceptron: `widths[0]` inputs, `widths.last()` outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MlpSpec {
    /// Input width, hidden widths, output width.
    pub widths: Vec<u32>,
    /// Inputs are standardised first, `(x − input.mean) / input.std` per
    /// feature, with the two `[IN]` tensors stored in the file (written
    /// `mlp:IN,…,OUT+standardize`).
    pub standardize: bool,
}

impl Spec for MlpSpec {
    const FAMILY: Family = Family::Mlp;
    const TASKS: &'static [Task] = &[Task::Classification, Task::Regression];

    fn parse(rest: &str, syntax: &dyn Fn() -> ArchError) -> Result<MlpSpec, ArchError> {
        let (rest, standardize) = match rest.strip_suffix(STANDARDIZE_SUFFIX) {
            Some(widths) => (widths, true),
            None => (rest, false),
        };
        let widths = rest
            .split(',')
            .map(|t| number(t, syntax).and_then(|v| dim("width", v, DIM_MAX)))
            .collect::<Result<Vec<u32>, _>>()?;
        if widths.len() < 2 || widths.len() > LAYERS_MAX as usize + 1 {
            return Err(syntax());
        }
        Ok(MlpSpec {
            widths,
            standardize,
        })
    }

    fn tensors(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        if self.standardize {
            out.push(TensorSpec::f32(INPUT_MEAN.into(), &[self.widths[0]]));
            out.push(TensorSpec::f32(INPUT_STD.into(), &[self.widths[0]]));
        }
        for (i, pair) in self.widths.windows(2).enumerate() {
            let (fan_in, fan_out) = (pair[0], pair[1]);
            out.push(TensorSpec::f32(
                format!("layers.{i}.weight"),
                &[fan_out, fan_in],
            ));
            out.push(TensorSpec::f32(format!("layers.{i}.bias"), &[fan_out]));
        }
        out
    }
}

impl fmt::Display for MlpSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<String> = self.widths.iter().map(u32::to_string).collect();
        let suffix = if self.standardize {
            STANDARDIZE_SUFFIX
        } else {
            ""
        };
        write!(f, "mlp:{}{suffix}", widths.join(","))
    }
}

#[cfg(test)]
mod tests {
    use crate::arch::Architecture;

    #[test]
    fn parameter_counts_match_hand_counts() {
        let mlp: Architecture = "mlp:64,128,10".parse().unwrap();
        assert_eq!(mlp.parameter_count(), 64 * 128 + 128 + 128 * 10 + 10);
        let standardized: Architecture = "mlp:64,128,10+standardize".parse().unwrap();
        assert_eq!(
            standardized.parameter_count(),
            mlp.parameter_count() + 2 * 64
        );
    }
}
